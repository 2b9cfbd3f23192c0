"""One item's trace across gunicorn and a real Celery worker, exported over OTLP/HTTP.

Both processes are set up by the standard OTEL_* variables only, as an operator would, and send
their spans to a collector this test runs on loopback. One item goes in through the API, the
worker runs its batch and opens its review task, a reviewer decides through the API, the worker
resumes the item and delivers its webhook: every span of that life is in the ingest request's
trace, and the decision links to the reviewer's own request.
"""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from reviewapp.celery import app as celery_app
from tests.integration.conftest import _stop, database_url, wait_until, worker_start
from tests.support.otlp_collector import OtlpCollector
from tests.support.redis_server import free_port
from tests.support.tokens import token_for
from tests.workflows.act.test_webhooks import SECRET, Receiver
from workflows.demo.definition import TICKET_TRIAGE
from workflows.models import Item, ItemStatus
from workflows.services import workflow_publish

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BIN = Path(sys.executable).parent
PIPELINE_STEPS = ["pipeline.validate", "pipeline.infer", "pipeline.postprocess", "pipeline.route"]
SERVER = 2  # SPAN_KIND_SERVER in OTLP


def call(method: str, url: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, {"error": error.read().decode(errors="replace")}


@pytest.fixture
def collector():
    with OtlpCollector() as server:
        yield server


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def traced_env(collector, tmp_path):
    """What an operator sets: the collector's endpoint; the rest is for the test's pace."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_REVIEWAPP_SQL_SPANS": "true",  # off by default: the test checks them too
        "REVIEWAPP_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
        "REVIEWAPP_WEBHOOK_SECRETS": "support:TRIAGE_WEBHOOK_SECRET",
        "TRIAGE_WEBHOOK_SECRET": SECRET,
        "REVIEWAPP_VAR_DIR": str(tmp_path / "var"),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def traced_worker(traced_env, media_root, tmp_path, django_db_setup):
    celery_app.control.purge()
    worker = worker_start(
        broker_url=settings.CELERY_BROKER_URL,
        media_root=media_root,
        log_path=tmp_path / "worker.log",
        extra_env=traced_env,
    )
    yield worker
    wait_until(worker.is_idle, timeout=30.0, what=lambda: "the worker never went idle")
    _stop(worker.process)


@pytest.fixture
def traced_web(traced_env, tmp_path):
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = (
        os.environ
        | traced_env
        | {
            "DATABASE_URL": database_url(),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        }
    )
    web = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "reviewapp.wsgi",
            "--config=python:reviewapp.gunicorn_config",
            f"--bind=127.0.0.1:{port}",
            "--workers=1",
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:  # noqa: S310
                return response.status == 200
        except OSError:
            assert web.poll() is None, log.read_text()
            return False

    try:
        wait_until(answers, timeout=60.0, what=log.read_text)
        yield base
    finally:
        web.terminate()  # gunicorn's workers send what they hold as they exit
        web.wait(timeout=30)


def test_one_item_has_one_trace_from_ingest_to_webhook(
    demo, reviewer, receiver, collector, traced_worker, traced_web
):
    routing = {"threshold": 1.0}  # every answer goes to a reviewer
    hook = {"url": f"{receiver.url}/hooks/triage", "secret_env": "TRIAGE_WEBHOOK_SECRET"}
    workflow_publish(
        slug=demo.workflow.slug,
        name=demo.workflow.name,
        team=demo.team,
        definition=TICKET_TRIAGE.definition | {"routing": routing, "webhook": hook},
    )

    status, body = call(
        "POST",
        f"{traced_web}/api/v1/workflows/{demo.workflow.slug}/items",
        demo.api_token,
        {"input": {"subject": "Refund", "body": "I was charged twice for my order"}},
    )
    assert status == 201, body
    item_id = body["id"]
    wait_until(
        lambda: Item.objects.get(pk=item_id).status == ItemStatus.AWAITING_REVIEW,
        # A pool process loads the model on its first batch: seconds on a busy machine.
        timeout=120.0,
        what=lambda: f"item {item_id} is {Item.objects.get(pk=item_id).status}",
    )
    token = token_for(reviewer)
    status, task = call("POST", f"{traced_web}/api/v1/queues/{demo.queue.pk}/claim", token)
    assert status == 200, task
    assert task["item"]["id"] == item_id
    status, body = call(
        "POST",
        f"{traced_web}/api/v1/tasks/{task['id']}/decision",
        token,
        {"claim_token": task["claim_token"], "outcome": "accept"},
    )
    assert status == 201, body
    wait_until(lambda: len(receiver.requests) == 1, timeout=120.0, what=lambda: "no webhook")

    item = Item.objects.get(pk=item_id)
    trace_id = item.trace_context.split("-")[1]

    def by_name() -> dict[str, list]:
        found: dict[str, list] = {}
        for span in collector.received():
            found.setdefault(span.name, []).append(span)
        return found

    wanted = [
        "ingest.items",
        *PIPELINE_STEPS,
        "model.predict",
        "review.tasks_open",
        "review.decide",
        "webhook.deliver",
        "run/workflows.resume_after_review",
        "run/workflows.deliver_webhook",
    ]
    wait_until(
        lambda: all(name in by_name() for name in wanted),
        timeout=60.0,
        what=lambda: f"spans received: {sorted(by_name())}",
    )
    spans = by_name()
    in_trace = [span for span in collector.received() if span.trace_id == trace_id]
    names = {span.name for span in in_trace}

    # The ingest request, served by gunicorn: its server span is the root of the item's trace.
    (ingest_request,) = [
        span for span in in_trace if span.kind == SERVER and span.parent_span_id == ""
    ]
    assert ingest_request.resource["service.name"] == "reviewapp-web"
    assert ingest_request.attributes["http.route"].endswith("items")
    assert "ingest.items" in names
    # The batch in the worker process, its message carried by Celery's headers.
    assert "run/workflows.run_items" in names
    for name in [*PIPELINE_STEPS, "model.predict", "review.tasks_open"]:
        (span,) = spans[name]
        assert span.trace_id == trace_id, name
        assert span.resource["service.name"] == "reviewapp-worker", name
        assert span.links == [], f"{name}: a batch of one request's items needs no link"
    assert item_id in spans["pipeline.validate"][0].attributes["reviewapp.item_ids"]
    # Statements are spans too when asked (psycopg), in both processes.
    processes = {
        span.resource["service.name"]
        for span in in_trace
        if any(key.startswith("db.system") for key in span.attributes)
    }
    assert processes == {"reviewapp-web", "reviewapp-worker"}

    # The decision: in the item's trace, linked to the reviewer's request (its own trace).
    (decide,) = spans["review.decide"]
    assert decide.trace_id == trace_id
    assert decide.resource["service.name"] == "reviewapp-web"
    ((linked_trace, linked_span),) = decide.links
    assert linked_trace != trace_id
    (decision_request,) = [s for s in collector.received() if s.span_id == linked_span]
    assert decision_request.kind == SERVER
    assert decision_request.attributes["http.route"].endswith("decision")
    # ...which resumed the item in the worker, which delivered the webhook: same trace.
    for name in ["run/workflows.resume_after_review", "run/workflows.deliver_webhook"]:
        assert name in names, sorted(names)
    (deliver,) = spans["webhook.deliver"]
    assert deliver.trace_id == trace_id
    assert deliver.resource["service.name"] == "reviewapp-worker"
    assert deliver.attributes["http.response.status_code"] == 200

    # The worker's JSON log lines name the trace beside the correlation id.
    step_lines = [
        json.loads(line)
        for line in traced_worker.log_path.read_text().splitlines()
        if line.startswith("{") and "ran for" in line
    ]
    assert step_lines, traced_worker.log_tail()
    assert {line["trace_id"] for line in step_lines} == {trace_id}
    assert {line["correlation_id"] for line in step_lines} == {item.correlation_id}
