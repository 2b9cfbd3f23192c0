"""review_task_claim, the lease and its sweep, and the claim token that fences decisions."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings

from reviewapp.core.audit.models import AuditEvent
from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.reviews.claims import (
    ClaimLost,
    review_task_claim,
    review_tasks_release_expired,
)
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import Decision, ReviewTask, TaskStatus
from reviewapp.review.reviews.opening import review_task_open
from workflows.models import Item

# Both ways: prepared statements on (the default) and off (behind PgBouncer in transaction mode).
pytestmark = pytest.mark.usefixtures("prepared_statements")

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def items(demo):
    """Ingested items without review tasks: each test opens the tasks it needs."""
    demo_items_submit(demo, count=3, seed=1)
    return list(Item.objects.order_by("pk"))


def open_task(item, demo, *, priority=0):
    return review_task_open(item=item, queue_slug=demo.queue.slug, priority=priority)


def test_it_hands_out_the_highest_priority_task_first(items, demo, reviewer):
    with time_machine.travel(NOW, tick=False):
        open_task(items[0], demo, priority=0)
        urgent = open_task(items[1], demo, priority=5)

    task = review_task_claim(queue=demo.queue, reviewer=reviewer)

    assert task.pk == urgent.pk
    assert task.status == TaskStatus.CLAIMED
    assert task.claimed_by == reviewer
    assert task.claim_token is not None


def test_it_hands_out_the_oldest_task_among_equal_priorities(items, demo, reviewer):
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        open_task(items[0], demo)
    with time_machine.travel(NOW, tick=False):
        oldest = open_task(items[1], demo)

    assert review_task_claim(queue=demo.queue, reviewer=reviewer).pk == oldest.pk


def test_it_gives_a_reviewer_back_the_task_they_already_hold(items, demo, reviewer):
    open_task(items[0], demo)
    open_task(items[1], demo)
    first = review_task_claim(queue=demo.queue, reviewer=reviewer)

    again = review_task_claim(queue=demo.queue, reviewer=reviewer)

    assert again.pk == first.pk
    assert again.claim_token == first.claim_token
    assert ReviewTask.objects.filter(status=TaskStatus.CLAIMED).count() == 1


def test_it_never_hands_a_held_task_to_a_colleague(items, demo, reviewer, second_reviewer):
    open_task(items[0], demo)
    open_task(items[1], demo)

    mine = review_task_claim(queue=demo.queue, reviewer=reviewer)
    theirs = review_task_claim(queue=demo.queue, reviewer=second_reviewer)

    assert mine.pk != theirs.pk
    assert theirs.claimed_by == second_reviewer


def test_it_returns_none_when_the_queue_is_empty(items, demo, reviewer):
    assert review_task_claim(queue=demo.queue, reviewer=reviewer) is None


def test_it_audits_the_claim(items, demo, reviewer):
    open_task(items[0], demo)

    task = review_task_claim(queue=demo.queue, reviewer=reviewer)

    event = AuditEvent.objects.get(action="task.claimed", object_id=str(task.pk))
    assert event.actor == reviewer
    assert event.chain == demo.workflow.audit_chain


def test_it_lets_a_colleague_take_over_an_expired_lease(items, demo, reviewer, second_reviewer):
    open_task(items[0], demo)
    with time_machine.travel(NOW, tick=False):
        abandoned = review_task_claim(queue=demo.queue, reviewer=reviewer)
    with time_machine.travel(NOW + settings.REVIEWAPP_LEASE - timedelta(seconds=1), tick=False):
        assert review_task_claim(queue=demo.queue, reviewer=second_reviewer) is None

    with time_machine.travel(NOW + settings.REVIEWAPP_LEASE + timedelta(seconds=1), tick=False):
        taken = review_task_claim(queue=demo.queue, reviewer=second_reviewer)

    assert taken.pk == abandoned.pk
    assert taken.claimed_by == second_reviewer
    assert taken.claim_token != abandoned.claim_token
    event = AuditEvent.objects.filter(action="task.claimed", object_id=str(taken.pk)).latest("seq")
    assert event.data["taken_over_from"] == reviewer.pk


def test_it_refuses_the_late_decision_of_a_reviewer_whose_lease_was_taken(
    items, demo, reviewer, second_reviewer
):
    open_task(items[0], demo)
    with time_machine.travel(NOW, tick=False):
        abandoned = review_task_claim(queue=demo.queue, reviewer=reviewer)
    later = NOW + settings.REVIEWAPP_LEASE + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        review_task_claim(queue=demo.queue, reviewer=second_reviewer)

        with pytest.raises(ClaimLost):
            review_task_decide(
                task=abandoned,
                reviewer=reviewer,
                claim_token=abandoned.claim_token,
                outcome="accept",
            )

    assert not Decision.objects.exists()
    assert ReviewTask.objects.get(pk=abandoned.pk).claimed_by == second_reviewer


def test_it_refuses_a_decision_after_the_lease_ran_out_even_if_nobody_took_it(
    items, demo, reviewer
):
    open_task(items[0], demo)
    with time_machine.travel(NOW, tick=False):
        task = review_task_claim(queue=demo.queue, reviewer=reviewer)

    with (
        time_machine.travel(NOW + settings.REVIEWAPP_LEASE, tick=False),
        pytest.raises(ClaimLost, match="expired"),
    ):
        review_task_decide(
            task=task, reviewer=reviewer, claim_token=task.claim_token, outcome="accept"
        )

    assert not Decision.objects.exists()


def test_it_refuses_a_decision_with_a_wrong_claim_token(items, demo, reviewer):
    open_task(items[0], demo)
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)

    with pytest.raises(ClaimLost):
        review_task_decide(task=task, reviewer=reviewer, claim_token=uuid.uuid4(), outcome="accept")

    assert ReviewTask.objects.get(pk=task.pk).status == TaskStatus.CLAIMED
    assert not Decision.objects.exists()


def test_it_refuses_a_decision_by_someone_who_never_claimed(items, demo, reviewer, second_reviewer):
    open_task(items[0], demo)
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)

    with pytest.raises(ClaimLost):
        review_task_decide(
            task=task, reviewer=second_reviewer, claim_token=task.claim_token, outcome="accept"
        )


def test_the_sweep_reopens_expired_claims_and_audits_them(items, demo, reviewer, second_reviewer):
    open_task(items[0], demo)
    open_task(items[1], demo)
    open_task(items[2], demo)
    with time_machine.travel(NOW, tick=False):
        expired = review_task_claim(queue=demo.queue, reviewer=reviewer)
    with time_machine.travel(NOW + settings.REVIEWAPP_LEASE - timedelta(minutes=1), tick=False):
        live = review_task_claim(queue=demo.queue, reviewer=second_reviewer)

    with time_machine.travel(NOW + settings.REVIEWAPP_LEASE + timedelta(seconds=1), tick=False):
        assert review_tasks_release_expired() == 1
        assert review_tasks_release_expired() == 0

    expired.refresh_from_db()
    live.refresh_from_db()
    assert expired.status == TaskStatus.OPEN
    assert expired.claimed_by is None
    assert expired.claim_token is None
    assert live.status == TaskStatus.CLAIMED
    assert live.claimed_by == second_reviewer
    event = AuditEvent.objects.get(action="task.lease_expired")
    assert event.object_id == str(expired.pk)
    assert event.data["previous_holder"] == reviewer.pk


def test_the_sweep_leaves_live_claims_alone(items, demo, reviewer):
    open_task(items[0], demo)
    with time_machine.travel(NOW, tick=False):
        task = review_task_claim(queue=demo.queue, reviewer=reviewer)

    with time_machine.travel(NOW + settings.REVIEWAPP_LEASE - timedelta(seconds=1), tick=False):
        assert review_tasks_release_expired() == 0

    task.refresh_from_db()
    assert task.status == TaskStatus.CLAIMED
    assert not AuditEvent.objects.filter(action="task.lease_expired").exists()


def test_the_api_answers_409_to_the_late_decision_of_a_lapsed_claim(
    api, routed_items, demo, reviewer, second_reviewer
):
    routed_items(count=10, seed=5)
    claim_url = f"/api/v1/queues/{demo.queue.pk}/claim"
    with time_machine.travel(NOW, tick=False):
        abandoned = api(reviewer).post(claim_url).json()
    # Only the abandoned task is left, so the colleague's claim has to take it over.
    ReviewTask.objects.exclude(pk=abandoned["id"]).update(status=TaskStatus.CANCELLED)

    with time_machine.travel(NOW + settings.REVIEWAPP_LEASE + timedelta(minutes=1), tick=False):
        taken = api(second_reviewer).post(claim_url).json()
        response = api(reviewer).post(
            f"/api/v1/tasks/{abandoned['id']}/decision",
            {"claim_token": abandoned["claim_token"], "outcome": "accept"},
            format="json",
        )

    assert taken["id"] == abandoned["id"]
    assert response.status_code == 409
    assert "claim" in response.json()["detail"]
    assert not Decision.objects.exists()
