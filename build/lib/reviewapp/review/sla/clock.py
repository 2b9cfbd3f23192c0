"""A task's SLA clock: pause it (waiting on someone outside) and resume it, moving every
deadline on by the business time the pause lasted."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from reviewapp.review.reviews.events import task_audit
from reviewapp.review.reviews.models import LIVE_STATUSES, ReviewTask
from reviewapp.review.reviews.scoring import review_task_claim_score
from reviewapp.review.sla.calendar import business_add, business_time_between
from reviewapp.review.sla.errors import SlaConflict, SlaInvalid
from reviewapp.review.sla.selectors import queue_calendar

MAX_REASON_LENGTH = 500


def _locked_task(task: ReviewTask) -> ReviewTask:
    return (
        ReviewTask.objects.select_for_update(of=("self",))
        .select_related("queue__workflow")
        .get(pk=task.pk)
    )


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise SlaInvalid({"reason": ["Say why the clock stops (e.g. waiting for information)."]})
    if len(reason) > MAX_REASON_LENGTH:
        raise SlaInvalid({"reason": [f"Keep the reason under {MAX_REASON_LENGTH} characters."]})
    return reason


@transaction.atomic(durable=True)
def review_task_pause(*, task: ReviewTask, acting_user, reason: str) -> ReviewTask:
    """Stop the task's SLA clock (e.g. waiting for information from the customer)."""
    reason = _clean_reason(reason)
    task = _locked_task(task)
    if task.status not in LIVE_STATUSES:
        raise SlaConflict(f"The task is {task.status}; only open or claimed tasks can pause.")
    if task.due_at is None:
        raise SlaConflict("The task has no SLA clock to pause.")
    if task.paused_at is not None:
        raise SlaConflict("The task's clock is already paused.")
    task.paused_at = timezone.now()
    task.claim_score = review_task_claim_score(task)  # a stopped clock is not urgent
    task.save(update_fields=["paused_at", "claim_score"])
    task_audit(task, "task.sla_paused", acting_user, reason=reason)
    return task


@transaction.atomic(durable=True)
def review_task_resume(*, task: ReviewTask, acting_user, reason: str = "") -> ReviewTask:
    """Restart the clock: every deadline moves on by the business time the pause lasted."""
    task = _locked_task(task)
    if task.paused_at is None:
        raise SlaConflict("The task's clock is not paused.")
    calendar = queue_calendar(task.queue_id)
    now = timezone.now()
    paused_for = max(business_time_between(task.paused_at, now, calendar), timedelta(0))
    fields = ["paused_at"]
    for column in ("due_at", "warn_at", "next_escalation_at"):
        deadline = getattr(task, column)
        if deadline is not None:
            setattr(task, column, business_add(deadline, paused_for, calendar))
            fields.append(column)
    task.paused_at = None
    task.claim_score = review_task_claim_score(task)
    task.save(update_fields=[*fields, "claim_score"])
    task_audit(
        task,
        "task.sla_resumed",
        acting_user,
        reason=(reason or "").strip()[:MAX_REASON_LENGTH],
        paused_business_minutes=round(paused_for / timedelta(minutes=1), 2),
        due_at=task.due_at.isoformat() if task.due_at else None,
    )
    return task
