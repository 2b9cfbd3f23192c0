"""review_task_skip: back to the queue with a reason, and not handed to the same reviewer again."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reviewapp.core.audit.models import AuditEvent
from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.reviews.claims import (
    ClaimLost,
    SkipInvalid,
    review_task_claim,
    review_task_skip,
)
from reviewapp.review.reviews.models import ReviewTask, TaskSkip, TaskStatus
from reviewapp.review.reviews.opening import review_task_open
from workflows.models import Item

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def tasks(demo):
    """Two open tasks; the first is handed out first (higher priority)."""
    demo_items_submit(demo, count=2, seed=1)
    first, second = Item.objects.order_by("pk")
    return [
        review_task_open(item=first, queue_slug=demo.queue.slug, priority=5),
        review_task_open(item=second, queue_slug=demo.queue.slug),
    ]


@pytest.fixture
def held(tasks, demo, reviewer):
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    assert task.pk == tasks[0].pk
    return task


def skip(task, reviewer, reason="Outside my expertise", token=None):
    return review_task_skip(
        task=task, reviewer=reviewer, claim_token=token or task.claim_token, reason=reason
    )


def test_it_returns_the_task_to_the_queue(held, reviewer):
    task = skip(held, reviewer)

    stored = ReviewTask.objects.get(pk=held.pk)
    for current in (task, stored):
        assert current.status == TaskStatus.OPEN
        assert (current.claimed_by, current.claim_token, current.lease_expires_at) == (
            None,
            None,
            None,
        )


def test_it_remembers_who_skipped_and_why(held, reviewer):
    with time_machine.travel(NOW, tick=False):
        skip(held, reviewer, reason="  Needs more context ")

    row = TaskSkip.objects.get()
    assert (row.task_id, row.reviewer, row.reason, row.skipped_at) == (
        held.pk,
        reviewer,
        "Needs more context",
        NOW,
    )


def test_it_audits_the_skip_with_its_reason(held, reviewer, demo):
    skip(held, reviewer, reason="Conflict of interest")

    event = AuditEvent.objects.get(action="task.skipped", object_id=str(held.pk))
    assert event.actor == reviewer
    assert event.chain == demo.workflow.audit_chain
    assert event.data["reason"] == "Conflict of interest"


def test_the_next_claim_of_the_same_reviewer_passes_the_skipped_task_over(
    held, tasks, demo, reviewer
):
    skip(held, reviewer)

    following = review_task_claim(queue=demo.queue, reviewer=reviewer)

    assert following.pk == tasks[1].pk


def test_a_reviewer_who_skipped_everything_left_gets_nothing(held, tasks, demo, reviewer):
    skip(held, reviewer)
    skip(review_task_claim(queue=demo.queue, reviewer=reviewer), reviewer)

    assert review_task_claim(queue=demo.queue, reviewer=reviewer) is None
    assert ReviewTask.objects.filter(status=TaskStatus.OPEN).count() == 2


def test_a_colleague_still_gets_the_skipped_task(held, demo, reviewer, second_reviewer):
    skip(held, reviewer)

    assert review_task_claim(queue=demo.queue, reviewer=second_reviewer).pk == held.pk


def test_an_abandoned_claim_on_a_skipped_task_is_not_handed_to_the_skipper(
    held, tasks, demo, reviewer, second_reviewer
):
    skip(held, reviewer)
    with time_machine.travel(NOW, tick=False):
        review_task_claim(queue=demo.queue, reviewer=second_reviewer)  # takes the skipped one
        other = review_task_claim(queue=demo.queue, reviewer=reviewer)
        ReviewTask.objects.filter(pk=other.pk).update(status=TaskStatus.DECIDED)
    # Bob's lease ran out: claimable at once by anyone but the reviewer who skipped it.
    with time_machine.travel(NOW + settings.REVIEWAPP_LEASE + timedelta(minutes=1), tick=False):
        assert review_task_claim(queue=demo.queue, reviewer=reviewer) is None


def test_the_claim_excludes_skips_with_a_not_exists_in_the_same_query(held, demo, reviewer):
    skip(held, reviewer)

    with CaptureQueriesContext(connection) as queries:
        review_task_claim(queue=demo.queue, reviewer=reviewer)

    claim = next(q["sql"] for q in queries.captured_queries if "SKIP LOCKED" in q["sql"])
    assert 'NOT EXISTS (SELECT 1 FROM "reviews_taskskip"' in claim


@pytest.mark.parametrize("reason", ["", "   \n"])
def test_it_refuses_a_skip_without_a_reason(held, reviewer, reason):
    events_before = AuditEvent.objects.count()

    with pytest.raises(SkipInvalid) as refused:
        skip(held, reviewer, reason=reason)

    assert list(refused.value.errors) == ["reason"]
    stored = ReviewTask.objects.get(pk=held.pk)
    assert (stored.status, stored.claim_token) == (TaskStatus.CLAIMED, held.claim_token)
    assert not TaskSkip.objects.exists()
    assert AuditEvent.objects.count() == events_before


def test_it_refuses_a_reason_longer_than_it_stores(held, reviewer):
    with pytest.raises(SkipInvalid) as refused:
        skip(held, reviewer, reason="x" * 501)

    assert list(refused.value.errors) == ["reason"]


def test_it_refuses_a_colleague(held, second_reviewer):
    with pytest.raises(ClaimLost):
        skip(held, second_reviewer, token=held.claim_token)

    assert ReviewTask.objects.get(pk=held.pk).status == TaskStatus.CLAIMED
    assert not TaskSkip.objects.exists()


def test_it_refuses_a_stale_token(held, reviewer):
    with pytest.raises(ClaimLost):
        skip(held, reviewer, token="00000000-0000-0000-0000-000000000000")

    assert not TaskSkip.objects.exists()
