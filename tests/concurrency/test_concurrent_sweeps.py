"""Two SLA sweeps over the same breached tasks at once, on PostgreSQL, with real threads.

Each thread has its own database connection, so ``FOR UPDATE SKIP LOCKED``, the compare-and-
swap updates, the unique (task, step) escalation rows and the per-chain audit lock meet
exactly as they would between two beat-triggered workers.
"""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import close_old_connections, connection, transaction

from reviewapp.core.audit.models import AuditEvent
from reviewapp.core.audit.services import audit_verify
from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.reviews.models import ReviewTask
from reviewapp.review.reviews.opening import review_task_open
from reviewapp.review.sla.configuration import escalation_step_add, sla_policy_set
from reviewapp.review.sla.models import Escalation, Notification, NotificationKind
from reviewapp.review.sla.sweep import SweepReport, sla_sweep
from workflows.models import Item

TASKS = 150
SWEEPS = 2
JOIN_TIMEOUT = 120  # seconds for all threads together; a deadlock fails instead of hanging
NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def breached_tasks(demo, manager, broker):
    """150 tasks of a queue with a three-rung ladder, all due an hour before the sweeps run."""
    manager.email = "maria@example.com"
    manager.save()
    sla_policy_set(queue=demo.queue, target_minutes=30)
    escalation_step_add(
        queue=demo.queue, after_minutes=0, action="raise_priority", priority_boost=1
    )
    escalation_step_add(queue=demo.queue, after_minutes=5, action="notify_team_lead")
    escalation_step_add(
        queue=demo.queue, after_minutes=10, action="raise_priority", priority_boost=100
    )
    demo_items_submit(demo, count=TASKS, seed=9)  # enqueues pipeline steps: `broker` clears them
    with time_machine.travel(NOW - timedelta(hours=1), tick=False), transaction.atomic():
        return [
            review_task_open(item=item, queue_slug=demo.queue.slug)
            for item in Item.objects.order_by("pk")
        ]


def test_two_sweeps_fire_every_rung_exactly_once(breached_tasks, manager, mailoutbox):
    start = threading.Barrier(SWEEPS)
    reports: list[SweepReport] = []
    errors: list[BaseException] = []

    def sweep():
        try:
            start.wait(timeout=JOIN_TIMEOUT)
            # Small batches so that the two sweeps interleave many times.
            reports.append(sla_sweep(batch_size=10))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    with time_machine.travel(NOW, tick=False):
        threads = [threading.Thread(target=sweep, daemon=True) for _ in range(SWEEPS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=JOIN_TIMEOUT)
    close_old_connections()

    assert not any(thread.is_alive() for thread in threads), "the sweeps deadlocked or hung"
    assert errors == []
    rungs = 3 * TASKS
    assert Escalation.objects.count() == rungs
    assert sum(report.escalated for report in reports) == rungs
    assert sum(report.breached for report in reports) == TASKS
    assert sum(report.at_risk for report in reports) == TASKS
    assert all(report.escalated > 0 for report in reports), "the sweeps did not overlap"
    assert AuditEvent.objects.filter(action="task.escalated").count() == rungs
    assert AuditEvent.objects.filter(action="task.breached").count() == TASKS
    assert AuditEvent.objects.filter(action="task.at_risk").count() == TASKS
    assert set(ReviewTask.objects.values_list("priority", "escalation_level")) == {(101, 3)}
    told = Notification.objects.filter(recipient=manager)
    assert told.filter(kind=NotificationKind.TASK_ESCALATED).count() == TASKS
    assert told.filter(kind=NotificationKind.TASK_BREACHED).count() == TASKS
    assert len(mailoutbox) == TASKS
    report = audit_verify()
    assert report.broken is None, report.broken
