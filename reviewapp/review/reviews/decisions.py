"""A reviewer's decision: accept, correct or reject, fenced by the claim token."""

import uuid

from django.db import transaction
from django.utils import timezone

from reviewapp.core import tracing
from reviewapp.core.errors import InvalidRequest
from reviewapp.core.metrics import count, observe, series
from reviewapp.review.corrections.services import correction_record, reason_codes_for
from reviewapp.review.reviews import hooks
from reviewapp.review.reviews.claims import ClaimLost, locked_claim
from reviewapp.review.reviews.events import task_audit
from reviewapp.review.reviews.models import (
    Decision,
    DecisionOutcome,
    QueueKind,
    ReviewTask,
    TaskStatus,
)
from workflows import seams
from workflows.schemas import schema_errors


class AlreadyDecided(ClaimLost):
    """The reviewer decided this task already, otherwise than they now ask."""


class DecisionInvalid(InvalidRequest):
    """The decision itself is wrong (missing reason, bad output)."""

    detail = "The decision is not valid."


@transaction.atomic(durable=True)
def review_task_decide(
    *,
    task: ReviewTask,
    reviewer,
    claim_token,
    outcome: str,
    output: dict | None = None,
    reason_codes: list[str] | None = None,
    comment: str = "",
    time_spent_ms: int | None = None,
) -> Decision:
    """Record the reviewer's decision, the correction it implies, and resume the item."""
    # One locked read brings everything an accept needs: the item, its prediction and whether
    # the task shows a gold item (LEFT JOINs; only the task row is locked).
    # The model version is named in the Correction every labeled outcome records.
    related = ["item__prediction", "gold__gold_item", "item__prediction__model_version"]
    try:
        task = locked_claim(task, reviewer, claim_token, *related)
    except ClaimLost:
        replayed = _replayed(task, reviewer, claim_token, outcome)
        if replayed is None:
            raise
        return replayed
    if task.queue.kind == QueueKind.PAIRWISE:
        # Its answer is A, B or a tie (reviewapp.review.pairwise), never an accept of one side.
        raise DecisionInvalid(
            {"outcome": ["This task compares two outputs: choose A, B or a tie on its own page."]}
        )
    item = task.item
    # In the item's trace (its ingest request's), linked to the reviewer's request.
    with tracing.item_span(
        "review.decide",
        item.trace_context,
        **{
            "reviewapp.item_id": item.pk,
            "reviewapp.task_id": task.pk,
            "reviewapp.outcome": outcome,
        },
    ):
        return _decide(
            task,
            item,
            reviewer=reviewer,
            outcome=outcome,
            output=output,
            reason_codes=reason_codes,
            comment=comment,
            time_spent_ms=time_spent_ms,
        )


def _decide(
    task: ReviewTask,
    item,
    *,
    reviewer,
    outcome: str,
    output: dict | None,
    reason_codes: list[str] | None,
    comment: str,
    time_spent_ms: int | None,
) -> Decision:
    prediction = item.prediction
    # Reasons explain a change: an accept changes nothing, so reasons ticked while the reviewer
    # had Correct or Reject chosen do not travel with it.
    reason_codes = [] if outcome == DecisionOutcome.ACCEPT else reason_codes or []
    errors: dict[str, list[str]] = {}
    if outcome not in DecisionOutcome.values:
        errors["outcome"] = [f"Choose one of {', '.join(DecisionOutcome.values)}."]
    if outcome == DecisionOutcome.CORRECT:
        if not output:
            errors["output"] = ["A correction needs the corrected output."]
        else:
            # The schema only matters to a correction: accepts and rejects skip reading it.
            definition = item.workflow_version.definition
            for path, messages in schema_errors(definition["output_schema"], output).items():
                errors[f"output.{path}"] = messages
            if output == prediction.output:
                errors["output"] = ["The correction is the same as the model output; accept it."]
    allowed = (
        {code.code: code for code in reason_codes_for(item.workflow_id, outcome)}
        if reason_codes
        else {}
    )
    if outcome in (DecisionOutcome.CORRECT, DecisionOutcome.REJECT) and not reason_codes:
        errors["reason_codes"] = ["Give at least one reason for a correction or a rejection."]
    unknown = [code for code in reason_codes if code not in allowed]
    if unknown:
        errors["reason_codes"] = [f"Unknown reason code(s) for {outcome}: {', '.join(unknown)}."]
    if errors:
        raise DecisionInvalid(errors)

    now = timezone.now()
    final_output = (
        prediction.output
        if outcome == DecisionOutcome.ACCEPT
        else output
        if outcome == DecisionOutcome.CORRECT
        else {}
    )
    decision = Decision.objects.create(
        task=task,
        reviewer=reviewer,
        outcome=outcome,
        output=final_output,
        comment=comment,
        time_spent_ms=time_spent_ms,
        decided_at=now,
    )
    chosen = [allowed[code] for code in dict.fromkeys(reason_codes)]
    if chosen:
        # A new decision has no reasons yet: insert the links, without the read ``set()`` does.
        Decision.reason_codes.through.objects.bulk_create(
            [Decision.reason_codes.through(decision=decision, reasoncode=code) for code in chosen]
        )
    # Gold is scored and never resumes; a four-eyes item resumes once its answer is settled.
    effects = hooks.task_decided(task=task, decision=decision)
    if effects.labeled:
        # All three are labeled data: an acceptance is a human-verified label (the model was
        # right), a correction says what is right, a rejection (empty human output) says the
        # model should not have answered at all, and why. Datasets choose among them.
        correction_record(decision=decision, item=item, prediction=prediction, reason_codes=chosen)
    task.status = TaskStatus.DECIDED
    task.decided_at = now
    task.lease_expires_at = None
    task.save(update_fields=["status", "decided_at", "lease_expires_at"])
    task_audit(
        task,
        "task.decided",
        reviewer,
        outcome=outcome,
        output=final_output,
        reason_codes=sorted(reason_codes),
    )
    if effects.resume:
        seams.item_review_decided(item_id=item.pk)
    labels = {
        "workflow": item.workflow_id,
        "version": item.workflow_version_id,
        "queue": task.queue.slug,
    }
    count(series.REVIEW_DECISIONS, 1, **labels, outcome=outcome)
    held = (now - task.claimed_at).total_seconds() if task.claimed_at is not None else 0.0
    if task.claimed_at is not None:
        observe(series.REVIEW_DECIDE_SECONDS, held, **labels)
    # The same review time as the monitoring page's cost per outcome.
    spent = time_spent_ms / 1000 if time_spent_ms is not None else held
    count(series.REVIEW_HUMAN_COST, spent / 3600 * task.queue.review_hourly_cost, **labels)
    return decision


def _replayed(task: ReviewTask, reviewer, claim_token, outcome: str) -> Decision | None:
    """The decision this reviewer already made under this claim, when the same one is sent again.

    A reviewer whose answer was lost (a timeout, a restart after the commit) sends it again; that
    must find it saved, not "nothing was saved". Another outcome under the same claim is refused.
    """
    try:
        token = uuid.UUID(str(claim_token))
    except ValueError:
        return None
    decision = Decision.objects.filter(
        task_id=task.pk,
        reviewer_id=reviewer.pk,
        task__status=TaskStatus.DECIDED,
        task__claim_token=token,
    ).first()
    if decision is None:
        return None
    if decision.outcome != outcome:
        raise AlreadyDecided(
            f"You already decided this task ({decision.get_outcome_display().lower()}); "
            "that decision stands."
        )
    return decision
