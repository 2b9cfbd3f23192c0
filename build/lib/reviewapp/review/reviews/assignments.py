"""A manager's hand in who reviews what: assign a task, take it back, assign a batch."""

import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from reviewapp.core.accounts.models import ReviewerProfile
from reviewapp.core.errors import Conflict, InvalidRequest
from reviewapp.core.permissions import REVIEW_QUEUE, user_can
from reviewapp.review.reviews.access import require_queue_manager
from reviewapp.review.reviews.claims import review_task_reopen
from reviewapp.review.reviews.eligibility import (
    CLAIM_FIELDS,
    CLAIM_ORDER,
    CapacityReached,
    claimable_by,
    locked_profile,
    missing_skills,
    room_left,
)
from reviewapp.review.reviews.events import task_audit
from reviewapp.review.reviews.models import Queue, ReviewTask, TaskStatus

# A manager's assignment holds for a working day: with the reviewers' short lease the lease sweep
# would hand a bulk assignment back to the queue before the reviewer reaches most of it.
ASSIGNMENT_LEASE = timedelta(hours=8)
MAX_BULK_ASSIGN = 500


class TaskActionInvalid(InvalidRequest):
    """A manager action with a wrong argument (a reviewer who cannot review)."""


class TaskStateConflict(Conflict):
    """The task is no longer in a state the action applies to (decided, cancelled)."""


def _require_reviewer(reviewer, queue: Queue) -> None:
    if reviewer is None or not reviewer.is_active or not user_can(reviewer, REVIEW_QUEUE, queue):
        raise TaskActionInvalid({"reviewer": ["This person cannot review tasks of this queue."]})


def _require_fit(reviewer, queue: Queue, now, *, count: int, except_task=None) -> ReviewerProfile:
    """Refuse an assignment the reviewer lacks the skills or the room for; lock their profile.

    A task the reviewer already holds (``except_task``) does not count against the room.
    """
    profile = locked_profile(reviewer)
    name = reviewer.get_username()
    missing = missing_skills(queue, profile)
    if missing:
        raise TaskActionInvalid(
            {"reviewer": [f"{name} lacks skills this queue needs: {', '.join(missing)}."]}
        )
    room = room_left(queue, reviewer, profile, now)
    if (
        room is not None
        and except_task is not None
        and except_task.status == TaskStatus.CLAIMED
        and except_task.claimed_by_id == reviewer.pk
        and except_task.lease_expires_at is not None
        and except_task.lease_expires_at > now
    ):
        room += 1
    if room is not None and count > room:
        raise CapacityReached(
            f"{name} can take {room} more task{'s' if room != 1 else ''} "
            "before reaching their cap; assign fewer or to someone else."
        )
    return profile


def _assign(task: ReviewTask, reviewer, now) -> None:
    """A fresh claim token: whoever held the task before now gets 409 on their decision."""
    task.status = TaskStatus.CLAIMED
    task.claimed_by = reviewer
    task.claim_token = uuid.uuid4()
    task.claimed_at = now
    task.last_seen_at = now
    task.lease_expires_at = now + ASSIGNMENT_LEASE
    task.save(update_fields=CLAIM_FIELDS)


def _locked_live_task(task: ReviewTask) -> ReviewTask:
    locked = (
        ReviewTask.objects.select_for_update(of=("self",))
        .select_related("queue__workflow", "claimed_by")
        .get(pk=task.pk)
    )
    if locked.status not in (TaskStatus.OPEN, TaskStatus.CLAIMED):
        raise TaskStateConflict(f"The task is {locked.get_status_display().lower()} already.")
    return locked


@transaction.atomic(durable=True)
def review_task_reassign(*, task: ReviewTask, to_reviewer, acting_user) -> ReviewTask:
    """Give an open or claimed task to ``to_reviewer``; the previous claim stops counting."""
    require_queue_manager(acting_user, task.queue)
    task = _locked_live_task(task)
    _require_reviewer(to_reviewer, task.queue)
    now = timezone.now()
    profile = _require_fit(to_reviewer, task.queue, now, count=1, except_task=task)
    fits = claimable_by(to_reviewer, profile, task.queue, honour_skips=False)
    if not fits.filter(pk=task.pk).exists():
        raise TaskActionInvalid(
            {
                "reviewer": [
                    f"{to_reviewer.get_username()} cannot take this task: it is in a language "
                    "they do not review, or they hold or decided another task of the same item."
                ]
            }
        )
    previous_holder = task.claimed_by.get_username() if task.claimed_by else None
    _assign(task, to_reviewer, now)
    task_audit(
        task,
        "task.reassigned",
        acting_user,
        to=to_reviewer.get_username(),
        previous_holder=previous_holder,
    )
    return task


@transaction.atomic(durable=True)
def review_task_unassign(*, task: ReviewTask, acting_user) -> ReviewTask:
    """Take a claimed task back to the queue; the holder's claim token stops counting."""
    require_queue_manager(acting_user, task.queue)
    task = _locked_live_task(task)
    if task.status != TaskStatus.CLAIMED:
        raise TaskStateConflict("The task is not assigned to anyone.")
    previous_holder = task.claimed_by.get_username() if task.claimed_by else None
    review_task_reopen(task=task)
    task_audit(task, "task.unassigned", acting_user, previous_holder=previous_holder)
    return task


@transaction.atomic(durable=True)
def review_tasks_bulk_assign(
    *, queue: Queue, to_reviewer, count: int, acting_user
) -> list[ReviewTask]:
    """Assign the next ``count`` open tasks of the queue, in claim order, to one reviewer.

    ``SKIP LOCKED`` passes over tasks a reviewer is claiming at this moment, so the bulk
    assignment never waits behind (or steals from) a live claim.
    """
    require_queue_manager(acting_user, queue)
    _require_reviewer(to_reviewer, queue)
    if not 1 <= count <= MAX_BULK_ASSIGN:
        raise TaskActionInvalid({"count": [f"Assign between 1 and {MAX_BULK_ASSIGN} tasks."]})
    now = timezone.now()
    profile = _require_fit(to_reviewer, queue, now, count=count)
    tasks = list(
        claimable_by(to_reviewer, profile, queue, honour_skips=False)
        .filter(status=TaskStatus.OPEN)
        .order_by(*CLAIM_ORDER)[:count]
    )
    for task in tasks:
        task.queue = queue
        _assign(task, to_reviewer, now)
        task_audit(
            task,
            "task.reassigned",
            acting_user,
            to=to_reviewer.get_username(),
            previous_holder=None,
            bulk=True,
        )
    return tasks
