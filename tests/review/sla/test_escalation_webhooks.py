"""Escalations POSTed to the queue's webhook: signed, sent by Celery after commit, retried."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from reviewapp.core.audit.models import AuditEvent
from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.reviews.opening import review_task_open
from reviewapp.review.reviews.queues import queue_claim_settings_set
from reviewapp.review.sla.configuration import escalation_step_add, sla_policy_set
from reviewapp.review.sla.models import (
    EscalationAction,
    WebhookNotification,
    WebhookNotificationStatus,
)
from reviewapp.review.sla.sweep import sla_sweep
from reviewapp.review.sla.tasks import deliver_webhook_notification
from tests.workflows.act.test_webhooks import Receiver
from workflows.act.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_verify
from workflows.models import Item

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "esc-secret-for-tests"


@pytest.fixture
def receiver(settings, monkeypatch):
    settings.REVIEWAPP_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    monkeypatch.setenv("ESCALATION_HOOK_SECRET", SECRET)
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def breached(demo, manager, receiver, broker, django_capture_on_commit_callbacks):
    """One task breached and escalated (priority raised) with the queue's webhook set."""
    queue_claim_settings_set(
        queue=demo.queue,
        acting_user=manager,
        changes={
            "notify_webhook_url": f"{receiver.url}/escalations",
            "notify_webhook_secret_env": "ESCALATION_HOOK_SECRET",
        },
    )
    sla_policy_set(queue=demo.queue, target_minutes=60)
    escalation_step_add(
        queue=demo.queue, after_minutes=0, action=EscalationAction.RAISE_PRIORITY, priority_boost=3
    )
    demo_items_submit(demo, count=1, seed=12)
    with time_machine.travel(NOW, tick=False):
        task = review_task_open(item=Item.objects.get(), queue_slug=demo.queue.slug)
    broker()  # the ingest's pipeline message is not this test's business
    with (
        time_machine.travel(NOW + timedelta(minutes=61), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert sla_sweep().escalated == 1
    return task


def test_an_escalation_is_enqueued_after_commit_and_posted_signed(breached, receiver, broker):
    notification = WebhookNotification.objects.get()
    assert ("sla.deliver_webhook_notification", [notification.pk]) in broker()

    with time_machine.travel(NOW + timedelta(minutes=62), tick=False):
        assert deliver_webhook_notification(notification.pk) == WebhookNotificationStatus.DELIVERED
        request = receiver.requests[0]
        headers = request["headers"]
        assert signature_verify(
            SECRET, headers[TIMESTAMP_HEADER], request["body"], headers[SIGNATURE_HEADER]
        )
    payload = json.loads(request["body"])
    assert request["path"] == "/escalations"
    assert payload["event"] == "task.escalated"
    assert (payload["task"], payload["action"], payload["level"]) == (
        breached.pk,
        "raise_priority",
        1,
    )
    assert AuditEvent.objects.filter(action="sla.webhook_delivered").count() == 1
    # A duplicate message does nothing.
    assert deliver_webhook_notification(notification.pk) is None
    assert len(receiver.requests) == 1


def test_a_failed_delivery_is_retried_by_the_sweep_then_given_up(
    breached, receiver, broker, settings
):
    settings.REVIEWAPP_WEBHOOK_MAX_ATTEMPTS = 2
    notification = WebhookNotification.objects.get()
    receiver.script = [(500, {}), (503, {})]
    broker()
    with time_machine.travel(NOW + timedelta(minutes=62), tick=False):
        assert deliver_webhook_notification(notification.pk) == WebhookNotificationStatus.PENDING
        notification.refresh_from_db()
        assert notification.attempts == 1 and "HTTP 500" in notification.last_error
        sla_sweep()
        assert broker() == []  # not due yet: the backoff holds it back

    with time_machine.travel(NOW + timedelta(minutes=90), tick=False):
        sla_sweep()
        assert broker() == [("sla.deliver_webhook_notification", [notification.pk])]
        assert deliver_webhook_notification(notification.pk) == WebhookNotificationStatus.GAVE_UP
    assert len(receiver.requests) == 2
    assert AuditEvent.objects.get(action="sla.webhook_gave_up").data["attempts"] == 2


def test_a_queue_without_a_webhook_sends_none(demo, broker):
    sla_policy_set(queue=demo.queue, target_minutes=60)
    escalation_step_add(
        queue=demo.queue, after_minutes=0, action=EscalationAction.RAISE_PRIORITY, priority_boost=1
    )
    demo_items_submit(demo, count=1, seed=13)
    with time_machine.travel(NOW, tick=False):
        review_task_open(item=Item.objects.get(), queue_slug=demo.queue.slug)
    with time_machine.travel(NOW + timedelta(minutes=61), tick=False):
        assert sla_sweep().escalated == 1
    assert not WebhookNotification.objects.exists()
