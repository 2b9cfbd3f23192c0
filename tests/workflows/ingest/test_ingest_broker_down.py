"""Ingest never answers 5xx for items it stored: with the broker down they wait in the database
and the reconciler sends them once it is back."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from reviewapp.core.health.broker import broker_queue_depth
from tests.conftest import work_callbacks
from tests.support.redis_server import RedisServer, celery_app_on_broker
from workflows.models import Item, ItemStatus
from workflows.pipeline.tasks import resume_stuck_items

TICKETS = [
    {"subject": "Refund", "body": "I was charged twice", "customer_tier": "pro"},
    {"subject": "Login", "body": "I cannot sign in", "customer_tier": "free"},
]


def test_items_stored_while_the_broker_is_down_are_answered_201_and_sent_later(
    demo, integrator, api, tmp_path, settings, django_capture_on_commit_callbacks, caplog
):
    settings.REVIEWAPP_RECONCILE_GRACE_SECONDS = 15
    url = f"/api/v1/workflows/{demo.workflow.slug}/items"
    body = {"items": [{"input": ticket} for ticket in TICKETS]}
    with RedisServer(directory=tmp_path / "redis") as redis, celery_app_on_broker(redis.url()):
        redis.stop()
        with time_machine.travel(timezone.now(), tick=False) as clock:
            with django_capture_on_commit_callbacks(execute=True) as sent:
                response = api(integrator).post(
                    url, body, format="json", HTTP_IDEMPOTENCY_KEY="outage-1"
                )
            assert response.status_code == 201, response.content
            assert len(work_callbacks(sent)) == 1, "the pipeline message is sent after commit"
            assert "could not send workflows.run_items" in caplog.text
            items = response.json()["items"]
            assert [item["status"] for item in items] == ["received", "received"]
            # A retry with the same key finds them stored, as they are.
            again = api(integrator).post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="outage-1")
            assert again.status_code == 200
            assert [item["id"] for item in again.json()["items"]] == [i["id"] for i in items]

            redis.start()
            assert broker_queue_depth() == 0, "the message never left"
            clock.shift(timedelta(seconds=16))
            with django_capture_on_commit_callbacks(execute=True):
                assert resume_stuck_items() == {"sent_again": 2, "resumed": 0}
            assert broker_queue_depth() == 1, "one pipeline message for the batch"
    assert set(Item.objects.values_list("status", flat=True)) == {ItemStatus.RECEIVED}
