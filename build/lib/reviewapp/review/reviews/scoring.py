"""The claim score: the number a queue's open tasks are claimed in, highest first."""

from django.db.models import Case, ExpressionWrapper, F, FloatField, Value, When
from django.db.models.functions import Cast

from reviewapp.review.reviews.models import Queue, ReviewTask

# SLA urgency in three steps the SLA sweep already marks: on time, at risk, breached.
URGENCY_ON_TIME = 0.0
URGENCY_AT_RISK = 0.5
URGENCY_BREACHED = 1.0
# Bounds of a queue's weights: beyond them a weight is a typo, and scores stay finite.
MAX_WEIGHT = 1000.0


def claim_score(
    *,
    queue: Queue,
    priority: int,
    uncertainty: float,
    at_risk: bool,
    breached: bool,
    paused: bool,
) -> float:
    """The number the claim orders a queue's open tasks by, highest first.

    ``score = urgency_weight * urgency + priority_weight * priority
    + uncertainty_weight * uncertainty`` where

    - ``urgency`` is 0 while the task is on time (or its clock is paused), 0.5 once it is at
      risk (past ``warn_at_percent`` of its target) and 1 once it breached;
    - ``priority`` is the task's priority (0-100 from the routing policy, raised by escalation);
    - ``uncertainty`` is 1 - the confidence of the item's prediction (1 without a prediction).

    The weights are per queue (defaults 10, 1, 1: a breach outranks ten priority points, and
    uncertainty breaks ties within one priority). Ties go to the earliest deadline, then the
    oldest task. Urgency moves in steps, not continuously, so the score can be a stored column
    (``ReviewTask.claim_score``) that is rewritten only when an input changes, and the claim
    stays one walk down ``task_claim_order_idx`` however many tasks are open.
    """
    urgency = (
        URGENCY_ON_TIME
        if paused
        else URGENCY_BREACHED
        if breached
        else URGENCY_AT_RISK
        if at_risk
        else URGENCY_ON_TIME
    )
    return (
        queue.urgency_weight * urgency
        + queue.priority_weight * priority
        + queue.uncertainty_weight * uncertainty
    )


def review_task_claim_score(task: ReviewTask, *, queue: Queue | None = None) -> float:
    """The score of ``task`` as it stands now (in ``queue`` when it is moving there)."""
    return claim_score(
        queue=queue or task.queue,
        priority=task.priority,
        uncertainty=task.uncertainty,
        at_risk=task.at_risk_at is not None,
        breached=task.breached_at is not None,
        paused=task.paused_at is not None,
    )


def claim_score_expression(queue: Queue):
    """``claim_score`` as SQL, to re-score a queue's tasks in one UPDATE."""
    urgency = Case(
        When(paused_at__isnull=False, then=Value(URGENCY_ON_TIME)),
        When(breached_at__isnull=False, then=Value(URGENCY_BREACHED)),
        When(at_risk_at__isnull=False, then=Value(URGENCY_AT_RISK)),
        default=Value(URGENCY_ON_TIME),
        output_field=FloatField(),
    )
    return ExpressionWrapper(
        Value(queue.urgency_weight) * urgency
        + Value(queue.priority_weight) * Cast("priority", FloatField())
        + Value(queue.uncertainty_weight) * F("uncertainty"),
        output_field=FloatField(),
    )
