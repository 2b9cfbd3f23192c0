"""Many reviewers claiming from one queue at once, on PostgreSQL, with real threads.

Each thread has its own database connection, so the row locks (``SELECT ... FOR UPDATE SKIP
LOCKED``) and the per-chain audit lock are exercised exactly as between web processes.
"""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection, transaction

from reviewapp.core.accounts.models import Role
from reviewapp.core.accounts.services import membership_add
from reviewapp.core.audit.models import AuditEvent
from reviewapp.core.audit.services import audit_verify
from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import Decision, ReviewTask, TaskStatus
from reviewapp.review.reviews.opening import review_task_open
from workflows.models import Item, Prediction

REVIEWERS = 24
TASKS = 120
JOIN_TIMEOUT = 60  # seconds for all threads together; a deadlock fails instead of hanging

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def crowd(demo):
    """24 reviewers of the demo team."""
    User = get_user_model()
    reviewers = []
    for number in range(REVIEWERS):
        user = User.objects.create_user(username=f"reviewer-{number:02d}")
        membership_add(team=demo.team, user=user, role=Role.REVIEWER)
        reviewers.append(user)
    return reviewers


@pytest.fixture
def open_tasks(demo, broker):
    """120 open tasks in the demo queue, each on an item with a model prediction."""
    demo_items_submit(demo, count=TASKS, seed=3)  # enqueues pipeline steps: `broker` clears them
    with transaction.atomic():
        tasks = []
        for item in Item.objects.order_by("pk"):
            Prediction.objects.create(
                item=item,
                model_version=demo.model_version,
                output={"label": "billing"},
                confidence=0.5,
                probabilities={"billing": 0.5},
                latency_ms=1.0,
            )
            tasks.append(review_task_open(item=item, queue_slug=demo.queue.slug))
    return tasks


def test_every_task_is_claimed_and_decided_exactly_once(demo, crowd, open_tasks):
    start = threading.Barrier(REVIEWERS)
    claims: list[tuple[int, int]] = []  # (reviewer id, task id), appended by all threads
    errors: list[BaseException] = []

    def review_until_empty(reviewer):
        try:
            start.wait(timeout=JOIN_TIMEOUT)
            while True:
                task = review_task_claim(queue=demo.queue, reviewer=reviewer)
                if task is None:
                    return
                claims.append((reviewer.pk, task.pk))
                review_task_decide(
                    task=task, reviewer=reviewer, claim_token=task.claim_token, outcome="accept"
                )
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=review_until_empty, args=(reviewer,), daemon=True)
        for reviewer in crowd
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    close_old_connections()

    assert not any(thread.is_alive() for thread in threads), "claims deadlocked or hung"
    assert errors == []
    claimed_ids = [task_id for _, task_id in claims]
    assert len(claimed_ids) == TASKS
    assert sorted(claimed_ids) == sorted(task.pk for task in open_tasks), "a task went twice"
    assert len({reviewer_id for reviewer_id, _ in claims}) > 1, "the reviewers did not overlap"

    decided_by = dict(Decision.objects.values_list("task_id", "reviewer_id"))
    assert decided_by == {task_id: reviewer_id for reviewer_id, task_id in claims}
    assert set(ReviewTask.objects.values_list("status", flat=True)) == {TaskStatus.DECIDED}
    assert AuditEvent.objects.filter(action="task.claimed").count() == TASKS
    report = audit_verify()
    assert report.broken is None, report.broken
