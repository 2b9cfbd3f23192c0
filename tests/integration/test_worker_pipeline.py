"""The pipeline end to end through a real Celery worker process on the real broker.

Items go in through the HTTP API, the worker runs every step, a decision made through the API
resumes the item in the worker, a duplicate message changes nothing, and the reconciler finishes
items whose messages the broker lost.
"""

import contextlib
import os
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from rest_framework.test import APIClient

from reviewapp.celery import app as celery_app
from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from workflows.demo.tickets import generate_tickets
from workflows.models import (
    Item,
    ItemOutcome,
    ItemStatus,
    Prediction,
    StepRun,
    StepRunStatus,
)
from workflows.pipeline.order import STEPS
from workflows.pipeline.tasks import resume_stuck_items, run_items

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

STEP_NAMES = [name for name, _ in STEPS]
SETTLED = (ItemStatus.COMPLETED, ItemStatus.AWAITING_REVIEW)


def ingest(demo, count, *, seed):
    """POST a batch of demo tickets as the integrator does; returns the new item ids."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {demo.api_token}")
    tickets = generate_tickets(count, seed=seed)
    response = client.post(
        f"/api/v1/workflows/{demo.workflow.slug}/items",
        {"items": [{"input": ticket.as_input()} for ticket in tickets]},
        format="json",
        headers={"Idempotency-Key": f"worker-test-{seed}"},
    )
    assert response.status_code == 201, response.content
    return [entry["id"] for entry in response.json()["items"]]


def statuses(item_ids):
    return Counter(Item.objects.filter(pk__in=item_ids).values_list("status", flat=True))


@pytest.fixture
def wait_settled(wait_until):
    """Wait until the worker has taken every item to review or to completion."""

    def wait(item_ids, *, timeout=60.0):
        wait_until(
            lambda: not Item.objects.filter(pk__in=item_ids).exclude(status__in=SETTLED).exists(),
            timeout=timeout,
            what=lambda: f"items are still in flight: {dict(statuses(item_ids))}",
        )

    return wait


def assert_ran_once(item_ids):
    """Every step of every item ran exactly once, successfully, and left its results."""
    runs = Counter(
        StepRun.objects.filter(item__in=item_ids).values_list("item_id", "step", "status")
    )
    expected = Counter(
        {(pk, step, StepRunStatus.SUCCEEDED): 1 for pk in item_ids for step in STEP_NAMES}
    )
    assert runs == expected
    assert Prediction.objects.filter(item__in=item_ids).count() == len(item_ids)
    assert not Item.objects.filter(pk__in=item_ids).exclude(current_step="").exists()


def test_the_worker_runs_every_ingested_item_through_the_pipeline(demo, worker, wait_settled):
    item_ids = ingest(demo, 60, seed=21)

    wait_settled(item_ids)

    assert_ran_once(item_ids)
    in_review = set(
        Item.objects.filter(pk__in=item_ids, status=ItemStatus.AWAITING_REVIEW).values_list(
            "pk", flat=True
        )
    )
    completed = Item.objects.filter(pk__in=item_ids, status=ItemStatus.COMPLETED)
    assert in_review, "the demo tickets must send some items to a reviewer"
    assert completed.exists(), "the demo tickets must let the model decide some items"
    assert set(completed.values_list("outcome", flat=True)) == {ItemOutcome.AUTO_ACCEPTED}
    tasks = ReviewTask.objects.filter(item__in=item_ids)
    assert Counter(tasks.values_list("item_id", flat=True)) == Counter(in_review)
    assert set(tasks.values_list("status", flat=True)) == {TaskStatus.OPEN}
    assert set(tasks.values_list("queue", flat=True)) == {demo.queue.pk}


def test_a_decision_made_through_the_api_resumes_the_item_in_the_worker(
    demo, worker, reviewer, api, wait_settled, wait_until
):
    item_ids = ingest(demo, 30, seed=22)
    wait_settled(item_ids)
    resumed_before = worker.started("workflows.resume_after_review")
    client = api(reviewer)

    claimed = client.post(f"/api/v1/queues/{demo.queue.pk}/claim")
    assert claimed.status_code == 200, claimed.content
    task = claimed.json()
    model_label = task["prediction"]["output"]["label"]
    label = next(
        name for name in demo.workflow.current_version.definition["labels"] if name != model_label
    )
    decided = client.post(
        f"/api/v1/tasks/{task['id']}/decision",
        {
            "claim_token": task["claim_token"],
            "outcome": "correct",
            "output": {"label": label},
            "reason_codes": ["wrong-category"],
        },
        format="json",
    )
    assert decided.status_code == 201, decided.content

    item_id = task["item"]["id"]
    wait_until(
        lambda: Item.objects.get(pk=item_id).status == ItemStatus.COMPLETED,
        timeout=30.0,
        what=lambda: f"item {item_id} is {Item.objects.get(pk=item_id).status}",
    )
    item = Item.objects.get(pk=item_id)
    assert item.outcome == ItemOutcome.CORRECTED
    assert item.final_output == {"label": label}
    assert worker.started("workflows.resume_after_review") == resumed_before + 1
    completed_events = AuditEvent.objects.filter(
        action="item.completed", object_type="workflows.item", object_id=str(item_id)
    )
    assert completed_events.get().actor_id == reviewer.pk


def test_a_duplicate_message_for_a_finished_step_changes_nothing(demo, worker, wait_settled):
    item_ids = ingest(demo, 30, seed=23)
    wait_settled(item_ids)
    finished = Item.objects.filter(pk__in=item_ids, status=ItemStatus.COMPLETED).first()
    in_review = Item.objects.filter(pk__in=item_ids, status=ItemStatus.AWAITING_REVIEW).first()
    assert finished is not None and in_review is not None
    before = {
        "step_runs": StepRun.objects.count(),
        "tasks": ReviewTask.objects.count(),
        "audit": AuditEvent.objects.count(),
        "items": dict(Item.objects.filter(pk__in=item_ids).values_list("pk", "status")),
    }
    taken = worker.started("workflows.run_items")

    duplicates = [[finished.pk], [in_review.pk], item_ids]
    for batch in duplicates:
        run_items.delay(batch)
    worker.wait_for("workflows.run_items", taken + len(duplicates))

    assert StepRun.objects.count() == before["step_runs"]
    assert ReviewTask.objects.count() == before["tasks"]
    assert AuditEvent.objects.count() == before["audit"]
    assert (
        dict(Item.objects.filter(pk__in=item_ids).values_list("pk", "status")) == (before["items"])
    )
    assert_ran_once(item_ids)


def queued() -> int:
    """Messages waiting in the default queue on the (Redis) broker."""
    with celery_app.connection_for_read() as conn:
        return conn.default_channel.client.llen(celery_app.conf.task_default_queue)


def test_the_reconciler_finishes_items_whose_messages_were_lost(
    demo, worker, wait_settled, wait_until
):
    # The broker loses the batch's message, as a Redis restart would: the worker stops taking
    # messages, the items are ingested, and their queued message is purged.
    worker.stop_consuming()
    try:
        item_ids = ingest(demo, 20, seed=24)
        # A fetch the worker had in flight when it stopped hands the message back: wait for it.
        wait_until(lambda: queued() == 1, timeout=10.0, what=lambda: f"{queued()} queued")
        lost = celery_app.control.purge()
    finally:
        worker.resume_consuming()
    assert lost == 1, "one pipeline message for the batch"
    assert statuses(item_ids) == {ItemStatus.RECEIVED: len(item_ids)}
    # Only items that have not moved for the grace period count as lost: these ones have not.
    Item.objects.filter(pk__in=item_ids).update(
        updated_at=timezone.now()
        - timedelta(seconds=settings.REVIEWAPP_RECONCILE_GRACE_SECONDS + 5)
    )

    resume_stuck_items.delay()

    wait_settled(item_ids)
    assert_ran_once(item_ids)
    assert (
        ReviewTask.objects.filter(item__in=item_ids)
        .values("item")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    ) == 0


def _local_tcp_ports(pid: int) -> set[int]:
    """The local ports of ``pid``'s TCP sockets, from /proc (its socket inodes in fd/, their
    ports in net/tcp and net/tcp6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


def pool_backends(worker) -> set[int]:
    """The PostgreSQL backends (server pids) the worker's pool processes are connected to."""
    ports = set()
    for pid in worker.pool_pids():
        with contextlib.suppress(OSError):
            ports |= _local_tcp_ports(pid)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, client_port FROM pg_stat_activity WHERE datname = current_database()"
        )
        return {pid for pid, port in cursor.fetchall() if port in ports}


def test_the_pool_keeps_its_database_connections_and_replaces_one_the_server_ended(
    demo, worker, wait_settled
):
    # A new connection per task cost more than the resume of a reviewed item: tasks reuse the
    # pool process's connection, as requests reuse a web worker's.
    first = ingest(demo, 20, seed=25)
    wait_settled(first)
    kept = pool_backends(worker)
    assert kept, "the pool processes closed their connections after their tasks"
    assert len(kept) <= len(worker.pool_pids())
    taken = worker.started("workflows.run_items")
    for _ in range(6):
        run_items.delay(first)
    worker.wait_for("workflows.run_items", taken + 6)
    assert kept <= pool_backends(worker)

    # The server ends them (a restart, an idle timeout): the next tasks reconnect and succeed.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [list(kept)]
        )
    second = ingest(demo, 20, seed=26)
    wait_settled(second)
    assert_ran_once(second)
    assert pool_backends(worker).isdisjoint(kept)
