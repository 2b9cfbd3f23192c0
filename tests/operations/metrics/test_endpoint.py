"""/metrics: who may read it, request metrics by view, and gauges read from the recount."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from reviewapp.core.health.models import Heartbeat, ProcessKind
from reviewapp.operations.metrics.recount import metrics_recount
from reviewapp.review.reviews.models import ReviewTask
from tests.operations.metrics.conftest import TOKEN, Scrape
from workflows.models import BreakerState, CircuitBreaker, Item
from workflows.pipeline.breaker import breaker_record_failure

pytestmark = pytest.mark.django_db


def get(path="/metrics", **headers):
    return Client().get(path, **headers)


def test_it_is_off_without_a_token_or_a_network(settings):
    settings.METRICS_TOKEN = ""

    assert get(HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


def test_it_asks_for_the_token_when_none_was_sent():
    response = get()

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert response.json()["detail"]


def test_it_refuses_a_wrong_token():
    assert get(HTTP_AUTHORIZATION="Bearer not-the-token-at-all").status_code == 403
    assert get(HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 403


def test_it_answers_the_scraper_with_the_token_in_prometheus_format():
    response = get(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "reviewapp_metrics_store_up 1.0" in response.content.decode()


def test_it_answers_a_listed_network_without_a_token(settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8"]

    assert get().status_code == 200
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 403
    # What the client says it forwards for is not the peer's address.
    assert (
        Client(REMOTE_ADDR="10.1.2.3").get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1")
    ).status_code == 403


def test_only_reading_is_allowed():
    response = Client().post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 405


def test_it_counts_requests_by_the_route_name_not_the_path(reviewer, scrape):
    before = scrape()
    client = Client()
    client.force_login(reviewer)
    client.get("/queues/")
    client.get("/no/such/page/")
    client.get("/items/424242/")

    after = scrape()

    def grown(**labels):
        name = "reviewapp_http_requests_total"
        return after.value(name, **labels) - before.value(name, **labels)

    assert grown(view="queue-list", method="GET", status="200") == 1
    assert grown(view="unmatched", method="GET", status="404") == 1
    assert grown(view="item-detail", method="GET", status="404") == 1
    assert not any("424242" in line for line in after.text.splitlines())
    assert after.value("reviewapp_http_request_duration_seconds_count", view="queue-list") >= 1


def test_the_scrape_shows_the_recounted_gauges_without_counting_tasks(routed_items, demo):
    routed = routed_items(count=30)
    ReviewTask.objects.filter(item=routed[0]).update(breached_at="2026-01-01T00:00:00Z")
    snapshot = metrics_recount()
    assert snapshot.values

    with CaptureQueriesContext(connection) as queries:
        response = get(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    metrics = Scrape(response.content.decode())

    assert not [q["sql"] for q in queries if "reviews_reviewtask" in q["sql"]]
    assert not [q["sql"] for q in queries if "workflows_item" in q["sql"]]
    version = str(demo.workflow.current_version.number)
    labels = {"workflow": demo.workflow.slug, "version": version, "queue": demo.queue.slug}
    assert metrics.value("reviewapp_review_tasks", **labels, sla_state="breached") == 1
    assert metrics.value("reviewapp_review_tasks", **labels) == len(routed)
    assert (
        metrics.value(
            "reviewapp_items_in_pipeline", workflow=demo.workflow.slug, status="awaiting_review"
        )
        == Item.objects.filter(status="awaiting_review").count()
    )
    assert metrics.value("reviewapp_metrics_recount_timestamp_seconds") == pytest.approx(
        snapshot.taken_at.timestamp()
    )


def test_the_gauges_change_only_when_recounted(routed_items, scrape):
    routed_items(count=10)
    metrics_recount()
    before = scrape().value("reviewapp_review_tasks")
    ReviewTask.objects.filter(pk=ReviewTask.objects.first().pk).update(status="cancelled")

    assert scrape().value("reviewapp_review_tasks") == before
    metrics_recount()
    assert scrape().value("reviewapp_review_tasks") == before - 1


def test_it_shows_breakers_and_heartbeats_as_they_are_now(scrape, settings):
    settings.REVIEWAPP_BREAKER_FAILURES = 2
    breaker_record_failure("http:https://model.example/v1", "timeout", failures=2)
    seen = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    Heartbeat.objects.create(
        name="celery@w1",
        kind=ProcessKind.WORKER,
        hostname="w1",
        pid=1,
        started_at=seen,
        seen_at=seen,
    )

    metrics = scrape()

    endpoint = {"endpoint": "http:https://model.example/v1"}
    assert CircuitBreaker.objects.get().state == BreakerState.OPEN
    assert metrics.value("reviewapp_model_breaker_state", **endpoint, state="open") == 1
    assert metrics.value("reviewapp_model_breaker_state", **endpoint, state="closed") == 0
    assert metrics.value("reviewapp_model_breaker_consecutive_failures", **endpoint) == 2
    assert metrics.value(
        "reviewapp_process_heartbeat_timestamp_seconds", kind="worker", name="celery@w1"
    ) == pytest.approx(seen.timestamp())
