"""review_task_extend: the heartbeat that keeps a live claim for another lease."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings

from reviewapp.core.audit.models import AuditEvent
from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.reviews.assignments import ASSIGNMENT_LEASE, review_task_reassign
from reviewapp.review.reviews.claims import (
    ClaimLost,
    review_task_claim,
    review_task_extend,
    review_tasks_release_expired,
)
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from reviewapp.review.reviews.opening import review_task_open
from workflows.models import Item

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = settings.REVIEWAPP_LEASE


@pytest.fixture
def held(demo, reviewer):
    """Alice's claim, taken at NOW, on the only open task."""
    demo_items_submit(demo, count=1, seed=1)
    review_task_open(item=Item.objects.get(), queue_slug=demo.queue.slug)
    with time_machine.travel(NOW, tick=False):
        return review_task_claim(queue=demo.queue, reviewer=reviewer)


def stored(task):
    return ReviewTask.objects.get(pk=task.pk)


def test_it_pushes_the_lease_to_a_full_lease_from_now(held, reviewer):
    with time_machine.travel(NOW + timedelta(minutes=8), tick=False):
        task = review_task_extend(task=held, reviewer=reviewer, claim_token=held.claim_token)

    assert task.lease_expires_at == NOW + timedelta(minutes=8) + LEASE
    assert stored(held).lease_expires_at == NOW + timedelta(minutes=8) + LEASE
    assert stored(held).claim_token == held.claim_token


def test_it_keeps_a_heartbeating_claim_away_from_the_lease_sweep(held, reviewer):
    with time_machine.travel(NOW + LEASE - timedelta(minutes=1), tick=False):
        review_task_extend(task=held, reviewer=reviewer, claim_token=held.claim_token)

    with time_machine.travel(NOW + LEASE + timedelta(minutes=1), tick=False):
        assert review_tasks_release_expired() == 0

    task = stored(held)
    assert (task.status, task.claimed_by) == (TaskStatus.CLAIMED, reviewer)


def test_it_writes_no_audit_event_per_heartbeat(held, reviewer):
    events_before = AuditEvent.objects.count()

    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        review_task_extend(task=held, reviewer=reviewer, claim_token=held.claim_token)

    assert AuditEvent.objects.count() == events_before


def test_it_refuses_to_revive_a_lease_that_ran_out(held, reviewer):
    late = time_machine.travel(NOW + LEASE + timedelta(seconds=1), tick=False)
    with late, pytest.raises(ClaimLost, match="expired"):
        review_task_extend(task=held, reviewer=reviewer, claim_token=held.claim_token)

    assert stored(held).lease_expires_at == NOW + LEASE


def test_it_refuses_a_colleague(held, second_reviewer):
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False), pytest.raises(ClaimLost):
        review_task_extend(task=held, reviewer=second_reviewer, claim_token=held.claim_token)

    assert stored(held).lease_expires_at == NOW + LEASE


def test_it_refuses_the_token_of_a_claim_that_was_taken_over(held, demo, reviewer, second_reviewer):
    with time_machine.travel(NOW + LEASE + timedelta(minutes=1), tick=False):
        taken = review_task_claim(queue=demo.queue, reviewer=second_reviewer)
        assert taken.pk == held.pk

        with pytest.raises(ClaimLost):
            review_task_extend(task=held, reviewer=reviewer, claim_token=held.claim_token)

    assert stored(held).claimed_by == second_reviewer


def test_it_refuses_a_task_that_was_released(held, reviewer):
    ReviewTask.objects.filter(pk=held.pk).update(status=TaskStatus.OPEN)

    with pytest.raises(ClaimLost):
        review_task_extend(task=held, reviewer=reviewer, claim_token=held.claim_token)


def test_it_never_shortens_a_managers_assignment(held, reviewer, manager):
    with time_machine.travel(NOW, tick=False):
        assigned = review_task_reassign(task=held, to_reviewer=reviewer, acting_user=manager)
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        task = review_task_extend(task=held, reviewer=reviewer, claim_token=assigned.claim_token)

    assert task.lease_expires_at == NOW + ASSIGNMENT_LEASE
    assert stored(held).lease_expires_at == NOW + ASSIGNMENT_LEASE
