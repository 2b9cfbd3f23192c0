"""Pairwise review: queues that compare, the sweep that opens comparisons, and the decision.

Where pairs come from: a workflow's shadow model (``workflows.Shadow``) answers every item beside
the serving model. Once an item is completed, its shadow answer (when it differs from the
serving answer: identical answers leave nothing to choose) is drawn into each pairwise queue of
the workflow at the queue's ``sample_rate``. The serving model is the champion, the shadow's
model the candidate; the same candidate can then run as a canary, whose promotion may require
its win rate (``reviewapp.learn.training.canary``).

The comparison task is a ``ReviewTask`` of the item in a queue of kind ``pairwise``: claims,
leases, skips, SLA clocks, escalations and the board are the reviews app's own. Opening it on a
completed item keeps it out of the item's own review: the item is never resumed by it.
"""

import hashlib
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from reviewapp.core.audit.services import audit_record
from reviewapp.core.errors import Conflict, InvalidRequest
from reviewapp.review.corrections.services import canonical_hash
from reviewapp.review.pairwise.models import (
    Choice,
    Comparison,
    PairwiseQueue,
    Preferred,
    Side,
)
from reviewapp.review.reviews.claims import ClaimLost, locked_claim
from reviewapp.review.reviews.events import task_audit
from reviewapp.review.reviews.models import Queue, QueueKind, ReviewTask, TaskStatus
from reviewapp.review.reviews.queues import queue_create
from reviewapp.review.reviews.scoring import review_task_claim_score
from reviewapp.review.sla.selectors import sla_clock_for
from workflows.models import ItemStatus, Prediction, ShadowPrediction

OPEN_TASK = "pairwise.open_comparisons"
# Items completed this recently are left for the next sweep: a transaction that completed one a
# moment before the sweep read may not have committed yet, and the sweep never looks back.
SETTLE_DELAY = timedelta(minutes=1)
SWEEP_LIMIT = 1000  # shadow answers read per queue and sweep
REASON_MAX_LENGTH = 2000


class PairwiseInvalid(InvalidRequest):
    detail = "The comparison is not valid."


class PairwiseConflict(Conflict):
    """The queue exists as another kind, or the comparison was decided otherwise."""


@transaction.atomic(durable=True)
def pairwise_queue_create(
    *, team, workflow, slug: str, name: str, sample_rate: float, acting_user=None
) -> Queue:
    """A queue of kind ``pairwise`` for ``workflow`` (or the one that exists, with this rate)."""
    if not 0.0 <= sample_rate <= 1.0:
        raise PairwiseInvalid({"sample_rate": ["Give a share between 0 and 1."]})
    existing = Queue.objects.filter(slug=slug).first()
    if existing is not None and existing.kind != QueueKind.PAIRWISE:
        raise PairwiseConflict(f"The queue {slug} exists and is not a pairwise queue.")
    queue = queue_create(
        team=team, workflow=workflow, slug=slug, name=name, acting_user=acting_user
    )
    if queue.kind != QueueKind.PAIRWISE:
        queue.kind = QueueKind.PAIRWISE
        queue.save(update_fields=["kind"])
    settings_row, _ = PairwiseQueue.objects.get_or_create(queue=queue)
    if settings_row.sample_rate != sample_rate:
        settings_row.sample_rate = sample_rate
        settings_row.save(update_fields=["sample_rate"])
    audit_record(
        action="pairwise.queue_set",
        obj=queue,
        actor=acting_user,
        chain=workflow.audit_chain,
        data={"slug": slug, "sample_rate": sample_rate},
    )
    return queue


def _draws(shadow_prediction_id: int) -> tuple[float, str]:
    """The sample draw in [0, 1) and the candidate's side, fixed per shadow answer.

    Deterministic (a rerun of the sweep draws the same) and stateless; over many answers the
    rate holds and the sides balance. Reviewers never see the shadow answer's id.
    """
    digest = hashlib.sha256(f"pairwise:{shadow_prediction_id}".encode()).digest()
    draw = int.from_bytes(digest[:8], "big") / 2**64
    return draw, Side.A if digest[8] & 1 else Side.B


def comparisons_open(*, now=None) -> int:
    """Beat sweep: draw newly completed items with a shadow answer into each pairwise queue.

    Each queue reads items completed since ``examined_until``, oldest first; one transaction
    per queue moves the mark and opens the drawn comparisons together, so a crash repeats a
    queue's batch (the draws are the same, and each shadow answer is compared at most once).
    """
    now = now or timezone.now()
    opened = 0
    for settings_id in PairwiseQueue.objects.values_list("pk", flat=True):
        with transaction.atomic(durable=True):
            settings_row = (
                PairwiseQueue.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("queue__workflow")
                .filter(pk=settings_id)
                .first()
            )
            if settings_row is None:  # another sweep holds it
                continue
            opened += _open_for(settings_row, until=now - SETTLE_DELAY)
    return opened


def _open_for(settings_row: PairwiseQueue, *, until) -> int:
    queue = settings_row.queue
    answers = ShadowPrediction.objects.filter(
        shadow__workflow_id=queue.workflow_id,
        error="",
        item__status=ItemStatus.COMPLETED,
        item__completed_at__lte=until,
        item__gold__isnull=True,  # gold items are reviewer checks, not model traffic
        comparison__isnull=True,
    ).select_related("shadow", "item")
    if settings_row.examined_until is not None:
        answers = answers.filter(item__completed_at__gt=settings_row.examined_until)
    batch = list(answers.order_by("item__completed_at", "id")[:SWEEP_LIMIT])
    if not batch:
        return 0
    serving = {
        p.item_id: p for p in Prediction.objects.filter(item_id__in=[a.item_id for a in batch])
    }
    clock = sla_clock_for(queue_id=queue.pk, opened_at=timezone.now())
    others = dict(
        ReviewTask.objects.filter(item_id__in=[a.item_id for a in batch])
        .values("item_id")
        .annotate(n=Count("id"))
        .values_list("item_id", "n")
    )
    opened = 0
    for answer in batch:
        prediction = serving.get(answer.item_id)
        draw, side = _draws(answer.pk)
        if prediction is None or prediction.output == answer.output:
            continue
        if draw >= settings_row.sample_rate:
            continue
        if prediction.model_version_id == answer.shadow.candidate_id:
            continue  # a canary arm served the shadow's model: nothing to compare
        task = ReviewTask(
            item=answer.item,
            queue=queue,
            due_at=clock.due_at,
            warn_at=clock.warn_at,
            # The item's own reviewer is passed over by the claim (a fresh pair of eyes).
            shares_item=bool(others.get(answer.item_id)),
        )
        task.claim_score = review_task_claim_score(task)
        task.save()
        Comparison.objects.create(
            task=task,
            item=answer.item,
            workflow_id=queue.workflow_id,
            shadow_prediction=answer,
            champion_id=prediction.model_version_id,
            candidate_id=answer.shadow.candidate_id,
            champion_output=prediction.output,
            candidate_output=answer.output,
            candidate_side=side,
            input_hash=canonical_hash(answer.item.input),
        )
        task_audit(task, "task.opened", priority=task.priority, pairwise=True)
        opened += 1
    settings_row.examined_until = batch[-1].item.completed_at
    settings_row.save(update_fields=["examined_until"])
    return opened


def _preferred(comparison: Comparison, choice: str) -> str:
    if choice == Choice.TIE:
        return Preferred.TIE
    return Preferred.CANDIDATE if choice == comparison.candidate_side else Preferred.CHAMPION


@transaction.atomic(durable=True)
def comparison_decide(
    *,
    task: ReviewTask,
    reviewer,
    claim_token,
    choice: str,
    reason: str,
    time_spent_ms: int | None = None,
) -> Comparison:
    """Record which side the reviewer preferred (or a tie) and why; fenced by the claim token.

    The same answer sent again under the same claim (a lost response) finds it saved; another
    answer under that claim is refused.
    """
    try:
        task = locked_claim(task, reviewer, claim_token)
    except ClaimLost:
        replayed = _replayed(task, reviewer, claim_token, choice)
        if replayed is None:
            raise
        return replayed
    if task.queue.kind != QueueKind.PAIRWISE:
        raise PairwiseInvalid({"task": ["This task is not a pairwise comparison."]})
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if choice not in Choice.values:
        errors["choice"] = ["Choose A, B or tie."]
    if not reason:
        errors["reason"] = ["Say why, in a few words."]
    elif len(reason) > REASON_MAX_LENGTH:
        errors["reason"] = [f"Keep the reason under {REASON_MAX_LENGTH} characters."]
    if errors:
        raise PairwiseInvalid(errors)
    comparison = Comparison.objects.get(task=task)
    now = timezone.now()
    comparison.choice = choice
    comparison.preferred = _preferred(comparison, choice)
    comparison.reason = reason
    comparison.reviewer = reviewer
    comparison.time_spent_ms = time_spent_ms
    comparison.decided_at = now
    comparison.save(
        update_fields=["choice", "preferred", "reason", "reviewer", "time_spent_ms", "decided_at"]
    )
    task.status = TaskStatus.DECIDED
    task.decided_at = now
    task.lease_expires_at = None
    task.save(update_fields=["status", "decided_at", "lease_expires_at"])
    # The trail keeps what the reviewer saw (the side) and what it means (the version).
    task_audit(
        task,
        "task.decided",
        reviewer,
        pairwise_choice=choice,
        preferred=comparison.preferred,
        reason=reason,
    )
    return comparison


def _replayed(task: ReviewTask, reviewer, claim_token, choice: str) -> Comparison | None:
    comparison = (
        Comparison.objects.filter(
            task_id=task.pk,
            reviewer_id=reviewer.pk,
            task__status=TaskStatus.DECIDED,
            task__claim_token=str(claim_token or "") or None,
        )
        .select_related("task")
        .first()
        if _is_uuid(claim_token)
        else None
    )
    if comparison is None:
        return None
    if comparison.choice != choice:
        raise PairwiseConflict(
            f"You already decided this comparison ({comparison.get_choice_display()}); "
            "that decision stands."
        )
    return comparison


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
