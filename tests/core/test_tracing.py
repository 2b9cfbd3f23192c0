"""Traces in one process, with OpenTelemetry's in-memory exporter: which trace each span joins.

The same spans across gunicorn and a real worker, exported over OTLP, are checked in
``tests/integration/test_traces.py``.
"""

import json
import logging

import pytest
from django.test import Client
from django.urls import include, path
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from reviewapp.core import tracing
from reviewapp.core.logs import CorrelationFilter, JsonFormatter
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from tests.support.tokens import token_for
from workflows.demo.definition import TICKET_TRIAGE
from workflows.ingest.services import Submission, items_ingest
from workflows.models import ItemStatus
from workflows.pipeline.engine import items_run
from workflows.services import workflow_publish


@pytest.fixture
def spans():
    """Tracing on in this process for the test; yields (exporter, a tracer for the test)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.tracing_install(provider)
    yield exporter, provider.get_tracer("tests")
    tracing.tracing_uninstall()


@pytest.fixture
def request_spans():
    """Tracing on with a server span per request, as a traced web process has it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.tracing_install(provider, request_spans=True)
    yield exporter
    tracing.tracing_uninstall()


def view_that_fails(request, number):
    raise RuntimeError("the view failed")


# The application's pages and one that fails (the tests below point ROOT_URLCONF here).
urlpatterns = [
    path("fails/<int:number>", view_that_fails),
    path("", include("reviewapp.urls")),
]


@pytest.fixture
def all_to_review(demo):
    """Every answer goes to a reviewer."""
    workflow_publish(
        slug=demo.workflow.slug,
        name=demo.workflow.name,
        team=demo.team,
        definition=TICKET_TRIAGE.definition | {"routing": {"threshold": 1.0}},
    )
    demo.workflow.refresh_from_db()
    return demo.workflow


def ingest(workflow, user, subject):
    ((item, _),) = items_ingest(
        workflow=workflow,
        submissions=[Submission(input={"subject": subject, "body": "charged twice"})],
        submitted_by=user,
    )
    return item


def trace_of(span) -> int:
    return span.get_span_context().trace_id


def named(exporter, name):
    return [span for span in exporter.get_finished_spans() if span.name == name]


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True),
    ],
)
def test_tracing_is_off_unless_the_environment_asks_for_it(environ, wanted):
    assert tracing.tracing_wanted(environ) is wanted


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_REVIEWAPP_SQL_SPANS": "true"}, True),
        ({"OTEL_REVIEWAPP_SQL_SPANS": "false"}, False),
        (
            {
                "OTEL_REVIEWAPP_SQL_SPANS": "true",
                "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "celery, psycopg",
            },
            False,
        ),
    ],
)
def test_sql_statements_are_spans_only_when_asked(environ, wanted):
    assert tracing.sql_spans_wanted(environ) is wanted


def test_nothing_is_traced_or_stored_while_tracing_is_off(demo, integrator):
    item = ingest(demo.workflow, integrator, "Refund")
    assert item.trace_context == ""
    with tracing.span("anything") as span:
        assert span is None


def test_a_batch_of_items_from_two_requests_links_to_both_traces(
    demo, integrator, all_to_review, spans
):
    exporter, tracer = spans
    with tracer.start_as_current_span("request a") as request_a:
        first = ingest(all_to_review, integrator, "Refund")
    with tracer.start_as_current_span("request b") as request_b:
        second = ingest(all_to_review, integrator, "Login")
    assert first.trace_context.split("-")[1] == format(trace_of(request_a), "032x")

    # The reconciler's message carries both: the batch is in the message's trace.
    with tracer.start_as_current_span("reconciler message") as message:
        items_run(item_ids=[first.pk, second.pk])

    first.refresh_from_db()
    assert first.status == ItemStatus.AWAITING_REVIEW
    for name in ["pipeline.validate", "pipeline.infer", "pipeline.route", "review.tasks_open"]:
        (span,) = named(exporter, name)
        assert span.context.trace_id == trace_of(message), name
        assert {link.context.trace_id for link in span.links} == {
            trace_of(request_a),
            trace_of(request_b),
        }, name
        assert sorted(span.attributes["reviewapp.item_ids"]) == [first.pk, second.pk]
    (infer,) = named(exporter, "pipeline.infer")
    (model,) = named(exporter, "model.predict")
    assert model.parent.span_id == infer.context.span_id
    assert model.attributes["reviewapp.model"].startswith("ticket-triage")


def test_a_batch_from_one_request_is_in_its_trace_without_links(
    demo, integrator, all_to_review, spans
):
    exporter, tracer = spans
    with tracer.start_as_current_span("request") as request:
        item = ingest(all_to_review, integrator, "Refund")
        items_run(item_ids=[item.pk])  # as the worker does with the request's message
    (validate,) = named(exporter, "pipeline.validate")
    assert validate.context.trace_id == trace_of(request)
    assert validate.links == ()


def test_the_decision_is_in_the_items_trace_and_links_the_reviewers_request(
    demo, integrator, reviewer, all_to_review, spans
):
    exporter, tracer = spans
    with tracer.start_as_current_span("ingest request") as ingest_request:
        item = ingest(all_to_review, integrator, "Refund")
    items_run(item_ids=[item.pk])

    with tracer.start_as_current_span("reviewer's request") as reviewer_request:
        task = review_task_claim(queue=demo.queue, reviewer=reviewer)
        assert task.item_id == item.pk
        review_task_decide(
            task=task, reviewer=reviewer, claim_token=task.claim_token, outcome="accept"
        )

    (decide,) = named(exporter, "review.decide")
    assert decide.context.trace_id == trace_of(ingest_request)
    # Under the span the item was stored in (ingest.items, in the ingest request).
    (stored,) = named(exporter, "ingest.items")
    assert stored.parent.span_id == ingest_request.get_span_context().span_id
    assert decide.parent.span_id == stored.context.span_id
    assert [link.context.span_id for link in decide.links] == [
        reviewer_request.get_span_context().span_id
    ]
    assert decide.attributes["reviewapp.item_id"] == item.pk


def test_a_log_line_names_its_trace_beside_the_correlation_id(spans):
    _, tracer = spans
    record = logging.LogRecord("workflows", logging.INFO, __file__, 1, "step done", (), None)
    with tracer.start_as_current_span("batch") as span:
        CorrelationFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")
    assert "correlation_id" in line


CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def test_a_request_is_a_server_span_named_by_its_route_in_the_callers_trace(
    demo, reviewer, request_spans
):
    answer = Client().post(
        f"/api/v1/queues/{demo.queue.pk}/claim",
        HTTP_AUTHORIZATION=f"Token {token_for(reviewer)}",
        HTTP_TRACEPARENT=f"00-{CALLER_TRACE}-{CALLER_SPAN}-01",
    )
    assert answer.status_code == 204  # nothing to review yet

    (span,) = request_spans.get_finished_spans()
    assert span.kind == SpanKind.SERVER
    assert span.name == "POST api/v1/queues/<int:queue_id>/claim"
    assert format(span.context.trace_id, "032x") == CALLER_TRACE
    assert format(span.parent.span_id, "016x") == CALLER_SPAN
    assert dict(span.attributes) == {
        "http.request.method": "POST",
        "url.path": f"/api/v1/queues/{demo.queue.pk}/claim",
        "url.scheme": "http",
        "http.route": "api/v1/queues/<int:queue_id>/claim",
        "http.response.status_code": 204,
    }
    assert span.status.status_code == StatusCode.UNSET


def test_a_request_without_a_caller_starts_a_trace_and_a_4xx_is_no_error(request_spans):
    answer = Client().get("/api/v1/no-such-thing")
    assert answer.status_code == 404

    (span,) = request_spans.get_finished_spans()
    assert span.parent is None
    assert span.name == "GET"  # no route matched: never the path, which may hold ids
    assert "http.route" not in span.attributes
    assert span.attributes["http.response.status_code"] == 404
    assert span.status.status_code == StatusCode.UNSET


def test_probes_and_the_metrics_scrape_are_not_traced(db, request_spans):
    client = Client()
    for probe in ["/healthz", "/readyz", "/metrics"]:
        client.get(probe)
    assert request_spans.get_finished_spans() == ()


def test_a_view_that_fails_marks_its_span_failed_with_the_exception(request_spans, settings):
    settings.ROOT_URLCONF = __name__
    answer = Client(raise_request_exception=False).get("/fails/7")
    assert answer.status_code == 500

    (span,) = request_spans.get_finished_spans()
    assert span.name == "GET fails/<int:number>"
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "RuntimeError"
    assert span.attributes["http.response.status_code"] == 500
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes["exception.message"] == "the view failed"


@pytest.mark.parametrize(
    ("environ", "url", "excluded"),
    [
        ({}, "http://web:8000/healthz", True),
        ({}, "http://web:8000/metrics", True),
        ({}, "http://web:8000/api/v1/queues/", False),
        ({"OTEL_PYTHON_DJANGO_EXCLUDED_URLS": "/static/"}, "http://web/static/app.css", True),
        ({"OTEL_PYTHON_DJANGO_EXCLUDED_URLS": "/static/"}, "http://web/healthz", False),
    ],
)
def test_the_excluded_urls_are_the_probes_unless_the_environment_says_otherwise(
    environ, url, excluded
):
    pattern = tracing.excluded_urls_pattern(environ)
    assert (pattern is not None and pattern.search(url) is not None) is excluded


def test_requests_are_not_traced_while_tracing_is_off(demo, reviewer, spans):
    exporter, _ = spans  # tracing on without server spans, as with the django one disabled
    Client().post(
        f"/api/v1/queues/{demo.queue.pk}/claim", HTTP_AUTHORIZATION=f"Token {token_for(reviewer)}"
    )
    assert exporter.get_finished_spans() == ()
