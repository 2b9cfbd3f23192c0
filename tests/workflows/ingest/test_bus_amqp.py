"""Items from a RabbitMQ queue (``manage.py consume --source amqp://...``), on the machine's
RabbitMQ: duplicates make one item, poison is dead-lettered without holding up the rest, and a
message is acknowledged only after its item committed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from reviewapp.core.audit.models import AuditEvent
from tests.integration.conftest import database_url
from tests.support.bus import AMQP_URL, Rabbit, unique
from workflows.ingest.bus.amqp import AmqpSource
from workflows.ingest.bus.consumer import BusIngest, bus_consume
from workflows.models import Item

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[3]


def ticket(n: int) -> dict:
    return {"subject": f"Ticket {n}", "body": f"Body of ticket {n}, please help."}


@pytest.fixture
def rabbit():
    broker = Rabbit()
    yield broker
    broker.close()


@pytest.fixture
def queue(rabbit):
    """A queue name of this test's own; the queue and its dead letters are deleted after."""
    name = unique("pytest-items")
    rabbit.queues += [name, f"{name}.dead"]
    yield name
    rabbit.exchanges.append(f"{name}.dead")


def consume(queue, user, *, workflow=None, batch=50):
    source = AmqpSource(AMQP_URL, queue, prefetch=batch)
    try:
        return bus_consume(
            ingest=BusIngest(source=source, submitter=user, workflow=workflow),
            batch=batch,
            wait=0.2,
            exit_when_idle=0.5,
        )
    finally:
        source.close()


@pytest.mark.parametrize("batch", [1, 50])
def test_it_ingests_each_message_once_and_dead_letters_poison(
    demo, integrator, rabbit, queue, batch
):
    AmqpSource(AMQP_URL, queue, prefetch=1).close()  # declares the queue and its dead letters
    rabbit.publish(queue, {"input": ticket(0)})  # neither a key nor an id: stored without a key
    rabbit.publish(queue, {"input": ticket(1)}, message_id="m-1")
    rabbit.publish(queue, {"input": ticket(1)}, message_id="m-1")  # published twice
    rabbit.publish(queue, {"input": ticket(2), "idempotency_key": "k-2"}, message_id="a")
    rabbit.publish(queue, {"input": ticket(2), "idempotency_key": "k-2"}, message_id="b")
    rabbit.publish(queue, b"{not json", message_id="poison-1")
    rabbit.publish(queue, {"input": {"body": "no subject"}}, message_id="poison-2")
    rabbit.publish(queue, {"input": ticket(3), "workflow": "no-such-flow"}, message_id="poison-3")
    rabbit.publish(queue, {"input": ticket(1)}, message_id="poison-4")  # a reused key...
    rabbit.publish(queue, {"input": ticket(4), "idempotency_key": "m-1"})  # ...another input
    rabbit.publish(queue, {"input": ticket(5)}, message_id="m-5")

    totals = consume(queue, integrator, workflow=demo.workflow, batch=batch)

    items = Item.objects.filter(workflow=demo.workflow).order_by("pk")
    assert [item.input["subject"] for item in items] == [
        "Ticket 0",
        "Ticket 1",
        "Ticket 2",
        "Ticket 1",
        "Ticket 5",
    ]
    assert [item.idempotency_key for item in items] == [
        None,
        f"amqp:{queue}:m-1",
        f"amqp:{queue}:k-2",
        f"amqp:{queue}:poison-4",
        f"amqp:{queue}:m-5",
    ]
    assert {item.submitted_by for item in items} == {integrator}
    received = AuditEvent.objects.filter(action="item.received")
    assert {event.actor for event in received} == {integrator}
    assert (totals.created, totals.replayed, totals.dead_lettered) == (5, 2, 4)
    assert rabbit.depth(queue) == 0
    dead = [rabbit.get(f"{queue}.dead") for _ in range(4)]
    bodies = {
        bytes(message.body, "utf-8") if isinstance(message.body, str) else message.body
        for message in dead
    }
    assert b"{not json" in bodies
    assert all(message.headers["x-death"][0]["reason"] == "rejected" for message in dead)
    assert rabbit.depth(f"{queue}.dead") == 0


def test_a_message_for_a_workflow_the_user_may_not_submit_to_is_dead_lettered(
    demo, reviewer, integrator, rabbit, queue
):
    AmqpSource(AMQP_URL, queue, prefetch=1).close()
    rabbit.publish(queue, {"input": ticket(1), "workflow": demo.workflow.slug}, message_id="x")
    rabbit.publish(queue, {"input": ticket(2), "workflow": demo.workflow.slug}, message_id="y")
    rabbit.publish(queue, {"input": ticket(3)}, message_id="z")  # names no workflow

    totals = consume(queue, reviewer)

    assert totals.dead_lettered == 3
    assert not Item.objects.exists()
    assert rabbit.depth(f"{queue}.dead") == 3


def test_a_message_naming_an_unknown_workflow_is_dead_lettered_and_the_rest_ingested(
    demo, integrator, rabbit, queue
):
    AmqpSource(AMQP_URL, queue, prefetch=1).close()
    rabbit.publish(queue, {"input": ticket(1), "workflow": "no-such-flow"}, message_id="x")
    rabbit.publish(queue, {"input": ticket(2), "workflow": demo.workflow.slug}, message_id="y")

    totals = consume(queue, integrator)

    assert (totals.created, totals.dead_lettered) == (1, 1)
    assert Item.objects.get().idempotency_key == f"amqp:{queue}:y"


def test_the_command_refuses_a_user_without_the_right_to_submit(demo, reviewer, queue):
    with pytest.raises(CommandError, match="may not submit items"):
        call_command(
            "consume",
            source=AMQP_URL,
            queue=queue,
            workflow=demo.workflow.slug,
            as_user=reviewer.username,
        )


def test_a_crash_between_commit_and_ack_redelivers_without_a_duplicate(
    demo, integrator, rabbit, queue
):
    AmqpSource(AMQP_URL, queue, prefetch=1).close()
    for n in range(5):
        rabbit.publish(queue, {"input": ticket(n)}, message_id=f"m-{n}")
    source = AmqpSource(AMQP_URL, queue, prefetch=10)
    ingest = BusIngest(source=source, submitter=integrator, workflow=demo.workflow)
    stored = ingest.store(source.fetch(10, timeout=2))
    assert stored.created == 5 and Item.objects.count() == 5  # committed...
    source.close()  # ...and the process is gone before it acknowledged: the broker requeues

    redelivered = AmqpSource(AMQP_URL, queue, prefetch=10)
    messages = redelivered.fetch(10, timeout=2)
    assert len(messages) == 5 and all(message.redelivered for message in messages)
    result = BusIngest(source=redelivered, submitter=integrator, workflow=demo.workflow).handle(
        messages
    )
    redelivered.close()

    assert (result.created, result.replayed) == (0, 5)
    assert Item.objects.count() == 5
    assert rabbit.depth(queue) == 0


def test_a_database_error_acknowledges_nothing_and_the_batch_comes_back(
    demo, integrator, rabbit, queue
):
    AmqpSource(AMQP_URL, queue, prefetch=1).close()
    for n in range(3):
        rabbit.publish(queue, {"input": ticket(n)}, message_id=f"m-{n}")
    source = AmqpSource(AMQP_URL, queue, prefetch=10)
    ingest = BusIngest(source=source, submitter=integrator, workflow=demo.workflow)
    # Another session holds the items table: our insert gives up on its lock timeout.
    with psycopg.connect(database_url(), autocommit=False) as blocker:
        blocker.execute(f"LOCK TABLE {Item._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '300ms'")
        result = ingest.handle(source.fetch(10, timeout=2))
        blocker.rollback()
    assert result.errors and result.created == 0 and len(result.to_retry) == 3

    messages = source.fetch(10, timeout=2)
    assert len(messages) == 3 and all(message.redelivered for message in messages)
    assert ingest.handle(messages).created == 3
    source.close()
    assert Item.objects.count() == 3
    assert rabbit.depth(queue) == 0


def test_a_consumer_killed_at_any_point_leaves_every_message_ingested_once(
    demo, integrator, rabbit, queue, tmp_path
):
    AmqpSource(AMQP_URL, queue, prefetch=1).close()
    count = 400
    for n in range(count):
        rabbit.publish(queue, {"input": ticket(n)}, message_id=f"m-{n}")
    argv = [
        sys.executable, "manage.py", "consume", "--source", AMQP_URL, "--queue", queue,
        "--workflow", demo.workflow.slug, "--as-user", integrator.username, "--batch", "20",
    ]  # fmt: skip
    env = os.environ | {"DATABASE_URL": database_url(), "PYTHONUNBUFFERED": "1"}
    log = (tmp_path / "consume.log").open("w")
    first = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while Item.objects.count() < 60:  # a few batches in: kill it in the middle of the stream
        assert time.monotonic() < deadline, (tmp_path / "consume.log").read_text()
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert Item.objects.count() < count

    second = subprocess.run(
        [*argv, "--exit-when-idle", "1"], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip

    assert second.returncode == 0, second.stderr
    keys = list(Item.objects.values_list("idempotency_key", flat=True))
    assert len(keys) == count
    assert set(keys) == {f"amqp:{queue}:m-{n}" for n in range(count)}
    assert rabbit.depth(queue) == 0
