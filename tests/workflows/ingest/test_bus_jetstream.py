"""Items from a NATS JetStream stream (``manage.py consume --source nats://...``), on the
machine's NATS: duplicates make one item, poison goes to ``<subject>.dead`` with its reason and
is terminated, and a message is acknowledged only after its item committed."""

import pytest
from django.core.management import call_command

from tests.support.bus import NATS_URL, JetStream, unique
from workflows.ingest.bus.consumer import BusIngest, bus_consume
from workflows.ingest.bus.jetstream import REASON_HEADER, JetStreamSource
from workflows.models import Item

pytestmark = pytest.mark.django_db(transaction=True)

DURABLE = "reviewapp-ingest"


def ticket(n: int) -> dict:
    return {"subject": f"Ticket {n}", "body": f"Body of ticket {n}, please help."}


@pytest.fixture
def jetstream():
    client = JetStream()
    yield client
    client.close()


@pytest.fixture
def stream(jetstream):
    """A stream of this test's own on a subject of its own: ``(stream, subject)``."""
    name = unique("PYTEST_ITEMS").replace("-", "_")
    subject = f"pytest.{name.lower()}"
    jetstream.add_stream(name, [subject])
    jetstream.forget_stream(f"{name}_DEAD")  # the consumer creates it for the dead letters
    return name, subject


def open_source(stream, *, ack_wait=30.0, batch=50):
    name, subject = stream
    return JetStreamSource(
        NATS_URL, name, subject, durable=DURABLE, ack_wait=ack_wait, max_ack_pending=1000
    )


def consume(stream, user, *, workflow=None, batch=50, idle=0.6):
    source = open_source(stream)
    try:
        return bus_consume(
            ingest=BusIngest(source=source, submitter=user, workflow=workflow),
            batch=batch,
            wait=0.3,
            exit_when_idle=idle,
        )
    finally:
        source.close()


@pytest.mark.parametrize("batch", [1, 50])
def test_it_ingests_each_message_once_and_dead_letters_poison(
    demo, integrator, jetstream, stream, batch
):
    name, subject = stream
    jetstream.publish(subject, {"input": ticket(1), "idempotency_key": "k-1"}, msg_id="a")
    jetstream.publish(subject, {"input": ticket(1), "idempotency_key": "k-1"}, msg_id="b")
    jetstream.publish(subject, b"\xff not json", msg_id="poison-1")
    jetstream.publish(subject, {"input": {"subject": 7, "body": "x"}}, msg_id="poison-2")
    jetstream.publish(subject, {"input": ticket(2)}, msg_id="m-2")
    jetstream.publish(subject, {"input": ticket(3)})  # no id at all: the stream sequence

    totals = consume(stream, integrator, workflow=demo.workflow, batch=batch)

    items = Item.objects.order_by("pk")
    assert [item.input["subject"] for item in items] == ["Ticket 1", "Ticket 2", "Ticket 3"]
    assert [item.idempotency_key for item in items] == [
        f"nats:{name}:k-1",
        f"nats:{name}:m-2",
        f"nats:{name}:seq:6",
    ]
    assert (totals.created, totals.replayed, totals.dead_lettered) == (3, 1, 2)
    dead = jetstream.messages(f"{name}_DEAD", f"{subject}.dead")
    assert [message.data for message in dead][:1] == [b"\xff not json"]
    reasons = [message.headers[REASON_HEADER] for message in dead]
    assert reasons[0].startswith("not JSON")
    assert reasons[1] == "schema errors: input.subject: 7 is not of type 'string'"
    assert jetstream.pending(name, DURABLE) == (0, 0)


def test_a_crash_between_commit_and_ack_redelivers_without_a_duplicate(
    demo, integrator, jetstream, stream
):
    name, subject = stream
    for n in range(5):
        jetstream.publish(subject, {"input": ticket(n)}, msg_id=f"m-{n}")
    source = open_source(stream, ack_wait=1.0)
    ingest = BusIngest(source=source, submitter=integrator, workflow=demo.workflow)
    stored = ingest.store(source.fetch(10, timeout=2))
    assert stored.created == 5 and Item.objects.count() == 5  # committed...
    source.close()  # ...and gone before it acknowledged: redelivered after the ack wait

    totals = consume(stream, integrator, workflow=demo.workflow, idle=3.0)

    assert (totals.created, totals.replayed) == (0, 5)
    assert Item.objects.count() == 5
    assert jetstream.pending(name, DURABLE) == (0, 0)


def test_the_command_consumes_a_stream_with_the_workflow_named_in_each_message(
    demo, integrator, jetstream, stream
):
    name, subject = stream
    jetstream.publish(subject, {"input": ticket(1), "workflow": demo.workflow.slug}, msg_id="a")
    jetstream.publish(subject, {"input": ticket(2), "workflow": "nope"}, msg_id="b")

    call_command(
        "consume",
        source=NATS_URL,
        stream=name,
        subject=subject,
        as_user=integrator.username,
        exit_when_idle=0.5,
    )

    assert Item.objects.get().idempotency_key == f"nats:{name}:a"
    (dead,) = jetstream.messages(f"{name}_DEAD", f"{subject}.dead")
    assert dead.headers[REASON_HEADER] == "no workflow 'nope'"
