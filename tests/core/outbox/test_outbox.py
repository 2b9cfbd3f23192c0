"""Decisions, escalations and releases go out as CloudEvents through the transactional outbox,
on the machine's RabbitMQ and NATS JetStream: only committed changes, none lost while the bus
is down, each with the same id however often it is sent."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction

from reviewapp.core.audit.services import AuditEntry, audit_record_many
from reviewapp.core.outbox.models import OutboxEvent
from reviewapp.core.outbox.services import RELAY_TASK, outbox_publisher_close, outbox_relay
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from tests.integration.conftest import database_url
from tests.support.bus import AMQP_URL, NATS_URL, JetStream, Rabbit, unique

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def rabbit():
    broker = Rabbit()
    yield broker
    outbox_publisher_close()
    broker.close()


@pytest.fixture
def routed(routed_items):
    """Items waiting for review, made before any bus is configured (their pipeline events stay
    out of the outbox)."""
    return routed_items(count=20)


@pytest.fixture
def amqp_bus(settings, rabbit):
    """The outbox publishes to an exchange of this test's own; returns a queue bound to it."""
    exchange = unique("pytest-events")
    settings.REVIEWAPP_EVENT_BUS_TOPIC = exchange
    subscriber = rabbit.bind_queue(exchange, "com.reviewapp.#")
    settings.REVIEWAPP_EVENT_BUS_URL = AMQP_URL
    return subscriber


def decide(demo, reviewer):
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    review_task_decide(task=task, reviewer=reviewer, claim_token=task.claim_token, outcome="accept")
    return task


def received(rabbit, queue) -> list[tuple[dict, dict]]:
    """Every message on ``queue`` so far: (CloudEvent, AMQP properties)."""
    messages = []
    while (message := rabbit.get(queue)) is not None:
        messages.append((json.loads(message.body), message.properties))
    return messages


def test_nothing_is_written_to_the_outbox_without_a_bus(demo, routed, reviewer, settings):
    settings.REVIEWAPP_EVENT_BUS_URL = ""

    decide(demo, reviewer)

    assert not OutboxEvent.objects.exists()
    assert outbox_relay() == 0


def test_a_committed_decision_is_published_as_a_cloudevent(
    demo, routed, reviewer, rabbit, amqp_bus, broker
):
    task = decide(demo, reviewer)

    assert (RELAY_TASK, []) in broker()  # the relay is sent once the decision committed
    (row,) = OutboxEvent.objects.all()
    assert row.sent_at is None
    assert outbox_relay() == 1

    ((event, properties),) = received(rabbit, amqp_bus)
    assert event["specversion"] == "1.0"
    assert event["id"] == str(row.event_id)
    assert event["type"] == "com.reviewapp.task.decided"
    assert event["source"] == f"/reviewapp/workflows/{demo.workflow.slug}"
    assert event["subject"] == f"reviewtask/{task.pk}"
    assert event["datacontenttype"] == "application/json"
    assert event["time"].startswith(row.created_at.isoformat()[:19])
    assert event["data"]["item"] == task.item_id
    assert event["data"]["actor"] == reviewer.username
    assert event["data"]["details"]["outcome"] == "accept"
    assert properties["content_type"] == "application/cloudevents+json"
    assert properties["message_id"] == event["id"]
    row.refresh_from_db()
    assert row.sent_at is not None
    assert outbox_relay() == 0  # sent once


def test_a_rolled_back_change_leaves_no_event(demo, routed, reviewer, rabbit, amqp_bus):
    task = routed[0].tasks.get()

    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record_many(
            [AuditEntry(action="task.decided", obj=task, actor=reviewer)],
            chain=demo.workflow.audit_chain,
        )
        assert OutboxEvent.objects.count() == 1  # written in the change's transaction...
        raise RuntimeError("the change fails after its audit event")

    assert not OutboxEvent.objects.exists()  # ...and gone with it
    assert outbox_relay() == 0
    assert received(rabbit, amqp_bus) == []


def test_only_the_configured_actions_are_published(
    demo, routed, reviewer, rabbit, amqp_bus, settings
):
    settings.REVIEWAPP_EVENT_BUS_ACTIONS = frozenset({"task.claimed"})

    decide(demo, reviewer)

    assert list(OutboxEvent.objects.values_list("type", flat=True)) == [
        "com.reviewapp.task.claimed"
    ]


def test_events_wait_while_the_bus_is_down_and_none_is_lost(
    demo, routed, reviewer, rabbit, amqp_bus, settings
):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.REVIEWAPP_EVENT_BUS_URL = f"amqp://guest:guest@127.0.0.1:{closed_port}//"
    decide(demo, reviewer)
    decide(demo, reviewer)

    assert outbox_relay() == 0
    assert [(row.attempts, bool(row.last_error)) for row in OutboxEvent.objects.all()] == [
        (1, True),
        (1, True),
    ]

    settings.REVIEWAPP_EVENT_BUS_URL = AMQP_URL
    call_command("publish_events")

    events = [event for event, _ in received(rabbit, amqp_bus)]
    assert [event["id"] for event in events] == [
        str(row.event_id) for row in OutboxEvent.objects.order_by("id")
    ]
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()


def test_a_committed_decision_is_published_to_nats_jetstream(demo, routed, reviewer, settings):
    client = JetStream()
    try:
        stream = unique("PYTEST_EVENTS").replace("-", "_")
        topic = f"pytest.{stream.lower()}"
        client.add_stream(stream, [f"{topic}.>"])
        settings.REVIEWAPP_EVENT_BUS_URL = NATS_URL
        settings.REVIEWAPP_EVENT_BUS_TOPIC = topic
        task = decide(demo, reviewer)

        assert outbox_relay() == 1
        outbox_publisher_close()

        (message,) = client.messages(stream, f"{topic}.task.decided")
        event = json.loads(message.data)
        row = OutboxEvent.objects.get()
        assert event["id"] == str(row.event_id) == message.headers["Nats-Msg-Id"]
        assert event["type"] == "com.reviewapp.task.decided"
        assert event["subject"] == f"reviewtask/{task.pk}"
        assert message.headers["Content-Type"] == "application/cloudevents+json"
    finally:
        outbox_publisher_close()
        client.close()


def test_two_relays_side_by_side_publish_each_event_once(
    demo, routed, reviewer, rabbit, amqp_bus, settings, tmp_path
):
    task = routed[0].tasks.get()
    with transaction.atomic():
        audit_record_many(
            [AuditEntry(action="task.escalated", obj=task, data={"n": n}) for n in range(300)],
            chain=demo.workflow.audit_chain,
        )
    env = os.environ | {
        "DATABASE_URL": database_url(),
        "REVIEWAPP_EVENT_BUS_URL": AMQP_URL,
        "REVIEWAPP_EVENT_BUS_TOPIC": settings.REVIEWAPP_EVENT_BUS_TOPIC,
    }
    argv = [sys.executable, "manage.py", "publish_events", "--batch", "10"]
    relays = [
        subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [relay.communicate(timeout=120)[0] for relay in relays]

    assert [relay.returncode for relay in relays] == [0, 0], outputs
    events = [event for event, _ in received(rabbit, amqp_bus)]
    assert len(events) == 300
    assert len({event["id"] for event in events}) == 300
    assert sorted(event["data"]["details"]["n"] for event in events) == list(range(300))
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()
