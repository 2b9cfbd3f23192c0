"""Undo: a reviewer takes back their last decision while its item has not moved on.

A decision resumes its item in a worker after commit (``workflows.seams``). Until that resume
has committed, nothing outside the review has seen the decision (no webhook, no completed item),
so it can be taken back: the decision and its correction go, and the task is the reviewer's
claim again under a new token.
"""

import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reviewapp.core.errors import Conflict
from reviewapp.review.corrections.models import Correction
from reviewapp.review.reviews.events import task_audit
from reviewapp.review.reviews.models import Decision, ReviewTask, TaskStatus
from workflows.models import Item, ItemStatus


class UndoRefused(Conflict):
    """The decision can no longer be taken back."""


def last_decision_of(reviewer) -> Decision | None:
    """The reviewer's most recent decision: the only one Undo offers."""
    return Decision.objects.filter(reviewer_id=reviewer.pk).order_by("-decided_at", "-id").first()


@transaction.atomic(durable=True)
def review_decision_undo(*, task: ReviewTask, reviewer) -> ReviewTask:
    """``decided -> claimed`` by the same reviewer: their last decision is taken back.

    Refused (409) once the item has resumed, for anyone but the decider, and for any decision
    but their last. Lock order is the decision's (task, then item); the resume task locks the
    item, so either it commits first (and this sees the item completed and refuses) or this
    does (and the resume finds the review open again and does nothing).
    """
    locked = (
        ReviewTask.objects.select_for_update(of=("self",))
        .select_related("queue__workflow")
        .filter(pk=task.pk)
        .first()
    )
    if locked is None:
        raise ReviewTask.DoesNotExist("The task does not exist.")
    task = locked
    decision = Decision.objects.filter(task_id=task.pk).first()
    if task.status != TaskStatus.DECIDED or decision is None:
        raise UndoRefused("This task has no decision to undo.")
    if decision.reviewer_id != reviewer.pk:
        raise UndoRefused("Only the reviewer who decided a task can undo the decision.")
    last = last_decision_of(reviewer)
    if last is None or last.pk != decision.pk:
        raise UndoRefused("Only your last decision can be undone.")
    item = Item.objects.select_for_update(of=("self",)).filter(pk=task.item_id).first()
    if item is None or item.status != ItemStatus.AWAITING_REVIEW:
        raise UndoRefused("The item has moved on with this decision; it can no longer be undone.")
    # A four-eyes item whose other answer is in has been compared (and perhaps sent to a
    # senior): taking one answer back would leave that comparison standing on nothing.
    if (
        task.shares_item
        and ReviewTask.objects.filter(item_id=item.pk, status=TaskStatus.DECIDED)
        .exclude(pk=task.pk)
        .exists()
    ):
        raise UndoRefused("Another reviewer has answered this item too; the decision stands.")
    Correction.objects.filter(decision=decision).delete()
    outcome = decision.outcome
    decision.delete()  # its reason links go with it
    now = timezone.now()
    task.status = TaskStatus.CLAIMED
    task.claimed_by = reviewer
    task.claim_token = uuid.uuid4()  # whatever was sent under the old claim no longer counts
    task.claimed_at = now
    task.last_seen_at = now
    task.lease_expires_at = now + settings.REVIEWAPP_LEASE
    task.decided_at = None
    task.save(
        update_fields=[
            "status",
            "claimed_by",
            "claim_token",
            "claimed_at",
            "last_seen_at",
            "lease_expires_at",
            "decided_at",
        ]
    )
    task_audit(task, "task.decision_undone", reviewer, outcome=outcome)
    return task
