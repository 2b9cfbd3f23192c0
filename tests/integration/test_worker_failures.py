"""Failures of the real infrastructure under a real Celery worker: a pool process killed with
SIGKILL in the middle of an inference call, and the Redis broker restarted during a burst (a
``redis-server`` of the test's own, never the machine's).

Both end the same way: every item reaches completion or review, and every step ran successfully
exactly once. The database, not the broker, is the source of truth.
"""

import os
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import DatabaseError, transaction
from django.db.models import Count
from django.utils import timezone
from rest_framework.test import APIClient

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.reviews.models import ReviewTask
from tests.workflows.pipeline.fake_endpoints import FakeEndpoint, chat_answer
from workflows.demo.definition import TICKET_TRIAGE
from workflows.demo.tickets import generate_tickets
from workflows.models import (
    Item,
    ItemStatus,
    ModelAdapterKind,
    ModelVersion,
    Prediction,
    PromptTemplate,
    StepRun,
    StepRunStatus,
)
from workflows.pipeline.engine import IN_FLIGHT
from workflows.pipeline.order import STEPS
from workflows.pipeline.tasks import resume_stuck_items
from workflows.services import workflow_publish

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

STEP_NAMES = [name for name, _ in STEPS]
SETTLED = (ItemStatus.COMPLETED, ItemStatus.AWAITING_REVIEW)
RUN_ITEMS = "workflows.run_items"
TICKET = {"subject": "Refund", "body": "I was charged twice this month", "customer_tier": "pro"}


def ingest(demo, inputs, *, key):
    """POST a batch as the integrator does; returns the new item ids."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {demo.api_token}")
    response = client.post(
        f"/api/v1/workflows/{demo.workflow.slug}/items",
        {"items": [{"input": item_input} for item_input in inputs]},
        format="json",
        headers={"Idempotency-Key": key},
    )
    assert response.status_code == 201, response.content
    return [entry["id"] for entry in response.json()["items"]]


def statuses(item_ids):
    return dict(Counter(Item.objects.filter(pk__in=item_ids).values_list("status", flat=True)))


def settled(item_ids) -> bool:
    return not Item.objects.filter(pk__in=item_ids).exclude(status__in=SETTLED).exists()


def assert_ran_once(item_ids):
    """Every step of every item ran exactly once, successfully, and left its results once."""
    runs = Counter(
        StepRun.objects.filter(item__in=item_ids).values_list("item_id", "step", "status")
    )
    expected = Counter(
        {(pk, step, StepRunStatus.SUCCEEDED): 1 for pk in item_ids for step in STEP_NAMES}
    )
    assert runs == expected
    assert Prediction.objects.filter(item__in=item_ids).count() == len(item_ids)
    assert not Item.objects.filter(pk__in=item_ids).exclude(current_step="").exists()
    routed = Counter(
        AuditEvent.objects.filter(
            object_type="workflows.item",
            object_id__in=[str(pk) for pk in item_ids],
            action__in=["item.completed", "item.sent_to_review"],
        ).values_list("object_id", flat=True)
    )
    assert routed == Counter({str(pk): 1 for pk in item_ids})
    assert not (
        ReviewTask.objects.filter(item__in=item_ids)
        .values("item")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .exists()
    )


def row_locked(item_id: int) -> bool:
    """Whether another transaction holds the item's row lock (a step is running on it)."""
    try:
        with transaction.atomic():
            Item.objects.select_for_update(nowait=True).filter(pk=item_id).exists()
    except DatabaseError:
        return True
    return False


# --- 1. kill -9 of a pool process in the middle of inference ---------------------------------


@pytest.fixture
def endpoint():
    server = FakeEndpoint()
    yield server
    server.close()


@pytest.fixture
def llm_demo(demo, endpoint):
    """The demo workflow bound to an OpenAI-compatible model served by ``endpoint``."""
    PromptTemplate.objects.create(
        name="triage",
        version=1,
        system="You sort support tickets.",
        user="Subject: {subject}\nBody: {body}\nAnswer as JSON with a 'label'.",
    )
    ModelVersion.objects.create(
        name="llm-triage",
        version="1",
        adapter=ModelAdapterKind.OPENAI,
        labels=[],
        # Longer than any wait below: only the test decides when the call returns.
        config={
            "base_url": f"{endpoint.url}/v1",
            "model": "small-model",
            "timeout_s": 60,
            "prompt": {"name": "triage", "version": 1},
        },
    )
    definition = TICKET_TRIAGE.definition | {"model": {"name": "llm-triage", "version": "1"}}
    workflow_publish(
        slug=demo.workflow.slug, name=demo.workflow.name, team=demo.team, definition=definition
    )
    return demo


def running_batch(worker, item_ids, wait_until):
    """The worker's running pipeline task of the batch, once its pool process is known."""
    found = []

    def look():
        found[:] = [
            task
            for task in worker.active(RUN_ITEMS)
            if list(task["args"]) == [item_ids] and task["worker_pid"]
        ]
        return len(found) == 1

    wait_until(look, timeout=15.0, what=lambda: f"active: {worker.active(RUN_ITEMS)}")
    return found[0]


def test_a_pool_process_killed_mid_inference_is_redelivered_and_the_item_runs_once(
    llm_demo, endpoint, worker, wait_until
):
    """SIGKILL of the pool process that runs ``infer``, while it waits on the model endpoint.

    Proves the broker path, not the reconciler (no beat runs here and nothing is old enough to
    look stuck): with ``acks_late`` + ``reject_on_worker_lost`` the worker's main process sees
    the child die and requeues the very same message (same task id) at once; another pool
    process runs it. The killed attempt's transaction (all steps of its batch) died with its
    connection: no step run, no prediction, the item still received; the retry is attempt 1.
    """
    log_offset = worker.log_path.stat().st_size
    endpoint.default = (200, chat_answer('{"label": "billing"}', logprobs=[-0.01]))
    endpoint.hang = True
    (item_id,) = ingest(llm_demo, [TICKET], key="kill-9-mid-infer")

    wait_until(
        lambda: len(endpoint.requests) == 1,
        timeout=20.0,
        what=lambda: f"the endpoint got {len(endpoint.requests)} requests; {statuses([item_id])}",
    )
    killed = running_batch(worker, [item_id], wait_until)
    victim = killed["worker_pid"]
    assert victim in worker.pool_pids(), "the task must run in a child of the worker process"
    # Inside the step's transaction: the row is locked, nothing of infer is written yet.
    assert row_locked(item_id)

    os.kill(victim, signal.SIGKILL)

    wait_until(
        lambda: len(endpoint.requests) == 2,
        timeout=20.0,
        what=lambda: f"no redelivery: {len(endpoint.requests)} requests, {statuses([item_id])}",
    )
    retried = running_batch(worker, [item_id], wait_until)
    assert retried["id"] == killed["id"], "the same message must come back, not a new one"
    assert retried["worker_pid"] != victim
    assert victim not in worker.pool_pids()
    assert worker.process.poll() is None, "only the pool process died, not the worker"
    # The killed attempt left nothing behind: its transaction rolled back with its connection.
    assert not StepRun.objects.filter(item=item_id).exists()
    assert not Prediction.objects.filter(item=item_id).exists()
    item = Item.objects.get(pk=item_id)
    assert (item.status, item.current_step) == (ItemStatus.RECEIVED, "validate")
    assert row_locked(item_id), "the redelivered attempt holds the row now"

    endpoint.hang = False
    endpoint.stall.set()
    wait_until(
        lambda: settled([item_id]), timeout=30.0, what=lambda: f"item is {statuses([item_id])}"
    )

    assert_ran_once([item_id])
    assert set(StepRun.objects.filter(item=item_id).values_list("attempt", flat=True)) == {1}
    assert len(endpoint.requests) == 2
    assert endpoint.requests[0]["body"] == endpoint.requests[1]["body"]
    log = worker.log_tail(log_offset)
    assert "WorkerLostError" in log and "SIGKILL" in log, log


def test_a_pool_process_killed_mid_inference_of_a_batch_finishes_every_item_once(
    llm_demo, endpoint, worker, wait_until
):
    """The same kill in the middle of a batch: the batch's transaction held every item of it;
    all of them roll back together (the validate runs too), the redelivered message runs the
    whole batch once more, and every item ends exactly once.
    """
    endpoint.default = (200, chat_answer('{"label": "billing"}', logprobs=[-0.01]))
    endpoint.hang = True
    tickets = [TICKET | {"subject": f"Refund {n}"} for n in range(5)]
    item_ids = ingest(llm_demo, tickets, key="kill-9-mid-batch")

    wait_until(
        lambda: len(endpoint.requests) == 1,
        timeout=20.0,
        what=lambda: f"the endpoint got {len(endpoint.requests)} requests; {statuses(item_ids)}",
    )
    killed = running_batch(worker, item_ids, wait_until)
    assert all(row_locked(pk) for pk in item_ids), "one transaction holds the whole batch"

    os.kill(killed["worker_pid"], signal.SIGKILL)

    wait_until(
        lambda: len(endpoint.requests) == 2,
        timeout=20.0,
        what=lambda: f"no redelivery: {len(endpoint.requests)} requests, {statuses(item_ids)}",
    )
    retried = running_batch(worker, item_ids, wait_until)
    assert retried["id"] == killed["id"]
    assert not StepRun.objects.filter(item__in=item_ids).exists()
    assert not Prediction.objects.filter(item__in=item_ids).exists()
    assert statuses(item_ids) == {ItemStatus.RECEIVED: 5}
    assert all(row_locked(pk) for pk in item_ids), "the redelivered attempt holds them now"

    endpoint.hang = False
    endpoint.stall.set()
    wait_until(lambda: settled(item_ids), timeout=30.0, what=lambda: f"{statuses(item_ids)}")

    assert_ran_once(item_ids)
    # One call of the killed attempt, then one per item.
    assert len(endpoint.requests) == 1 + 5
    assert set(StepRun.objects.filter(item__in=item_ids).values_list("attempt", flat=True)) == {1}


# --- 2. a Redis restart during a burst ----------------------------------------------------------


def not_reconnected(worker, log_offset: int) -> str:
    """Why the worker does not answer: a crash of its main process is named (see its log)."""
    with worker.log_path.open("rb") as handle:
        handle.seek(log_offset)
        log = handle.read().decode(errors="replace")
    crashed = [line for line in log.splitlines() if "Unrecoverable error" in line]
    alive = "running" if worker.process.poll() is None else f"exited {worker.process.poll()}"
    if crashed:
        return f"the worker crashed on the connection loss and is {alive}: {crashed[0]}"
    return f"the worker ({alive}) did not reconnect to the broker"


def test_a_redis_restart_during_a_burst_leaves_every_item_finished_once(
    demo, private_redis, private_worker, wait_until, settings
):
    """Redis (nothing on disk) is restarted in the middle of a burst of 100 items.

    The broker is the test's own ``redis-server`` (the worker's and this process's), so the
    restart touches nothing else on the machine.

    Proves the reconciler path: the restart drops every queued (and unacked) message of the
    first 80 items; the API and the worker reconnect by themselves (the 20 items posted right
    after the restart run without help); ``resume_stuck_items`` re-enqueues the steps of the
    items the database still shows in flight, and the engine's row lock and current-step check
    keep any message that did survive from running a step twice.
    """
    worker = private_worker
    # Small batches, so the restart finds some of the burst done and some still in flight.
    settings.REVIEWAPP_PIPELINE_BATCH = 10
    log_offset = worker.log_path.stat().st_size
    tickets = [ticket.as_input() for ticket in generate_tickets(100, seed=31)]
    before = ingest(demo, tickets[:80], key="redis-restart-1")
    wait_until(
        lambda: Item.objects.filter(pk__in=before, status__in=SETTLED).count() >= 10,
        timeout=30.0,
        what=lambda: f"the burst does not move: {statuses(before)}",
    )

    # Stopped without saving: its queued (and unacked) messages are gone.
    private_redis.stop()
    outage_started = time.monotonic()
    in_flight_at_outage = Item.objects.filter(pk__in=before, status__in=IN_FLIGHT).count()
    private_redis.start()
    outage = time.monotonic() - outage_started
    assert outage < 5.0, f"Redis was down for {outage:.1f} s"
    assert in_flight_at_outage > 0, "the restart must hit the burst in the middle"
    after = ingest(demo, tickets[80:], key="redis-restart-2")
    item_ids = before + after

    # The worker reconnects by itself and runs the new items; the queued messages of the
    # earlier items still in flight died with Redis.
    # Celery's consumer sometimes dies on the lost connection ("Unrecoverable error"); the
    # worker then exits (reviewapp.celery.ExitOnUnrecoverableError) and its supervisor, here the
    # test, starts it again. Either way the items must end up finished exactly once.
    wait_until(
        lambda: worker.answers_ping() or worker.process.poll() is not None,
        timeout=30.0,
        what=lambda: not_reconnected(worker, log_offset),
    )
    if worker.process.poll() is not None:
        with worker.log_path.open("rb") as handle:
            handle.seek(log_offset)
            since_outage = handle.read().decode(errors="replace")
        assert "Unrecoverable error" in since_outage, worker.log_tail(log_offset)
        worker.restart()
    wait_until(
        lambda: settled(after) and worker.is_idle(),
        timeout=30.0,
        what=lambda: f"items posted after the restart: {statuses(after)}",
    )
    lost = set(
        Item.objects.filter(pk__in=item_ids, status__in=IN_FLIGHT).values_list("pk", flat=True)
    )
    # The reconciler may already have re-sent them (it skips the grace period for work older
    # than the broker's restart); whatever is still in flight is aged past the grace period.
    if lost:
        Item.objects.filter(pk__in=lost).update(
            updated_at=timezone.now()
            - timedelta(seconds=settings.REVIEWAPP_RECONCILE_GRACE_SECONDS + 5)
        )
        resume_stuck_items.delay()

    wait_until(
        lambda: settled(item_ids),
        timeout=60.0,
        what=lambda: f"items are still in flight: {statuses(item_ids)}",
    )
    assert_ran_once(item_ids)
