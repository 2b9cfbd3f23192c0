"""Four-eyes review, gold items and the quality settings of a queue.

Two hooks join this app to the review flow (``reviewapp.review.reviews.hooks``, registered by
``QualityConfig.ready``), both running inside the caller's transaction:

- ``review_tasks_opened``: after ``review_tasks_open`` created tasks, opens the second task of a
  four-eyes item and mixes a gold task into the queue at the queue's gold rate;
- ``review_task_decided``: after a decision row exists, scores gold, compares four-eyes answers
  (opening the senior task on a disagreement) and tells the caller whether the item resumes and
  whether the decision is labeled data.
"""

import hashlib

from django.db import transaction
from django.utils import timezone

from reviewapp.core.audit.services import audit_record
from reviewapp.core.errors import Conflict, InvalidRequest
from reviewapp.review.quality.inputs import QualitySettingsInvalid, QueueQualityInput
from reviewapp.review.quality.models import (
    FourEyesReview,
    FourEyesStatus,
    GoldItem,
    GoldTask,
    QueueQuality,
)
from reviewapp.review.reviews.events import task_audit
from reviewapp.review.reviews.hooks import DecisionEffects
from reviewapp.review.reviews.models import Decision, DecisionOutcome, Queue, ReviewTask
from reviewapp.review.reviews.opening import review_task_open
from reviewapp.review.reviews.subjects import LABEL_LENGTH, item_subject, shortened
from workflows.models import Item, ItemStatus, Prediction
from workflows.schemas import schema_errors

FOUR_EYES = "four_eyes"


class GoldItemInvalid(InvalidRequest):
    detail = "The gold item is not valid."


class FourEyesNotIndependent(Conflict):
    """The same person may not give two of the answers of one four-eyes review."""


def _task_copy(task: ReviewTask, *, item: Item, **overrides) -> ReviewTask:
    """A new open task like ``task`` (queue, priority, SLA clock, claim order), for ``item``.

    Copying every column keeps the copy in step with whatever ``review_task_open`` computes.
    """
    skip = {"id", "item", "created_at"}
    columns = {
        field.attname: getattr(task, field.attname)
        for field in ReviewTask._meta.concrete_fields
        if field.name not in skip
    }
    return ReviewTask.objects.create(item=item, **(columns | overrides))


# --- opening ------------------------------------------------------------------------------------


def review_tasks_opened(*, tasks: list[ReviewTask]) -> None:
    """Called by ``review_tasks_open`` with the tasks it opened, in its transaction.

    The queues' quality settings are read once for the whole batch of tasks.
    """
    settings_rows = {
        row.queue_id: row
        for row in QueueQuality.objects.filter(queue_id__in={task.queue_id for task in tasks})
    }
    for task in tasks:
        item = task.item
        if (item.routing or {}).get("action") == FOUR_EYES:
            if FourEyesReview.objects.filter(item=item).exists():
                continue  # the senior task of a disagreement: the pair and its gold draw are done
            second = _task_copy(task, item=item)
            FourEyesReview.objects.create(item=item, first_task=task, second_task=second)
            task_audit(second, "task.opened", priority=second.priority, four_eyes=True)
            task_audit(task, "four_eyes.opened", tasks=[task.pk, second.pk])
        gold_task_mix_in(real_task=task, settings_row=settings_rows.get(task.queue_id))


def _draws(key: str) -> tuple[float, int]:
    """Two numbers fixed per key: a draw in [0, 1) and a pick for choosing among gold items."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64, int.from_bytes(digest[8:16], "big")


def gold_task_mix_in(
    *, real_task: ReviewTask, settings_row: QueueQuality | None
) -> GoldTask | None:
    """Maybe open a gold task next to a real one, at the queue's gold rate.

    Decided when a real task opens, from a hash of its id: deterministic (the same task always
    draws the same), stateless (no counter row that every routing transaction would lock) and,
    over many tasks, at the configured rate. The gold task copies the real task's queue,
    priority and clock, and its item copies the real item's version, routing explanation and
    confidence, so nothing on the reviewer's screen tells it apart.
    """
    if settings_row is None or settings_row.gold_rate <= 0:
        return None
    draw, pick = _draws(f"gold:{real_task.pk}")
    if draw >= settings_row.gold_rate:
        return None
    gold_items = list(GoldItem.objects.filter(queue_id=real_task.queue_id, active=True))
    if not gold_items:
        return None
    gold = gold_items[pick % len(gold_items)]
    real_item = real_task.item
    real_prediction = real_item.prediction
    item = Item.objects.create(
        workflow_id=real_item.workflow_id,
        workflow_version_id=real_item.workflow_version_id,
        status=ItemStatus.AWAITING_REVIEW,
        input=gold.input,
        routing=real_item.routing,
        request_hash=_request_hash(gold.input),
    )
    Prediction.objects.create(
        item=item,
        model_version_id=real_prediction.model_version_id,
        output=gold.proposed_output,
        confidence=real_prediction.confidence,
        probabilities={},
        latency_ms=0.0,
        prompt_version=real_prediction.prompt_version,
    )
    # Listed on the drill-down by its own subject and planted label, like any other task.
    task = _task_copy(
        real_task,
        item=item,
        subject=item_subject(item, real_item.workflow_version.definition),
        predicted_label=shortened(gold.proposed_output.get("label"), LABEL_LENGTH)
        if isinstance(gold.proposed_output, dict)
        else "",
    )
    showing = GoldTask.objects.create(
        gold_item=gold, item=item, task=task, mixed_in_after=real_task
    )
    task_audit(task, "task.opened", priority=task.priority, gold_item=gold.pk)
    return showing


def _request_hash(payload: dict) -> str:
    from workflows.ingest.services import request_hash

    return request_hash(payload)


# --- deciding -----------------------------------------------------------------------------------


def review_task_decided(*, task: ReviewTask, decision: Decision) -> DecisionEffects:
    """Called by ``review_task_decide`` once the decision row exists, in its transaction."""
    try:
        # Read with the locked task (select_related "gold") on the decision's path: no query.
        showing: GoldTask | None = task.gold
    except GoldTask.DoesNotExist:
        showing = None
    if showing is not None:
        _gold_score(showing, task, decision)
        return DecisionEffects(resume=False, labeled=False)
    if (task.item.routing or {}).get("action") != FOUR_EYES:
        return DecisionEffects()
    # The row lock serialises the two reviewers' decisions: whoever comes second waits here
    # and then sees the first answer, so exactly one of them compares the pair.
    review = (
        FourEyesReview.objects.select_for_update(of=("self",))
        .select_related("first_task", "second_task", "senior_task")
        .filter(item_id=task.item_id)
        .first()
    )
    if review is None:
        return DecisionEffects()
    if task.pk == review.senior_task_id:
        return _senior_decided(review, task, decision)
    if task.pk not in (review.first_task_id, review.second_task_id):
        raise Conflict("This task is not part of the item's four-eyes review.")
    return _pair_answered(review, task, decision)


def _decision_of(task: ReviewTask) -> Decision | None:
    return Decision.objects.filter(task_id=task.pk).first()


def _pair_answered(review: FourEyesReview, task: ReviewTask, decision: Decision) -> DecisionEffects:
    other_task = review.second_task if task.pk == review.first_task_id else review.first_task
    other = _decision_of(other_task)
    if other is not None and other.reviewer_id == decision.reviewer_id:
        raise FourEyesNotIndependent(
            "You gave the other answer of this four-eyes review; a second person must decide."
        )
    if other is None:
        return DecisionEffects(resume=False, labeled=False)
    now = timezone.now()
    review.compared_at = now
    if other.outcome == decision.outcome and other.output == decision.output:
        review.status = FourEyesStatus.AGREED
        review.settled_at = now
        review.save(update_fields=["status", "compared_at", "settled_at"])
        task_audit(task, "four_eyes.agreed", decision.reviewer, outcome=decision.outcome)
        return DecisionEffects()
    review.status = FourEyesStatus.DISAGREED
    review.senior_task = _senior_task_open(review, task)
    review.save(update_fields=["status", "compared_at", "senior_task"])
    task_audit(
        task,
        "four_eyes.disagreed",
        decision.reviewer,
        answers={
            str(other.task_id): {"outcome": other.outcome, "output": other.output},
            str(decision.task_id): {"outcome": decision.outcome, "output": decision.output},
        },
        senior_task=review.senior_task.pk,
    )
    return DecisionEffects(resume=False, labeled=False)


def _senior_task_open(review: FourEyesReview, task: ReviewTask) -> ReviewTask:
    settings_row = QueueQuality.objects.filter(queue_id=review.first_task.queue_id).first()
    senior_queue = settings_row.senior_queue if settings_row else None
    queue = senior_queue or review.first_task.queue
    return review_task_open(item=task.item, queue_slug=queue.slug, priority=task.priority)


def _senior_decided(
    review: FourEyesReview, task: ReviewTask, decision: Decision
) -> DecisionEffects:
    pair_reviewers = {
        answer.reviewer_id for answer in map(_decision_of, review.pair) if answer is not None
    }
    if decision.reviewer_id in pair_reviewers:
        raise FourEyesNotIndependent(
            "You gave one of the answers in dispute; another reviewer must settle it."
        )
    review.settled_at = timezone.now()
    review.save(update_fields=["settled_at"])
    task_audit(task, "four_eyes.settled", decision.reviewer, outcome=decision.outcome)
    return DecisionEffects()


def _gold_score(showing: GoldTask, task: ReviewTask, decision: Decision) -> None:
    """Score the answer and close the gold item: no resume, no webhook, no correction."""
    expected = showing.gold_item.expected_output
    showing.correct = decision.outcome != DecisionOutcome.REJECT and decision.output == expected
    showing.scored_at = decision.decided_at
    showing.save(update_fields=["correct", "scored_at"])
    # Completed without an outcome: the reconciler (which looks for decided items still
    # awaiting review) leaves it alone, and outcome-based figures (canary) do not count it.
    Item.objects.filter(pk=showing.item_id).update(
        status=ItemStatus.COMPLETED, completed_at=decision.decided_at, updated_at=timezone.now()
    )
    task_audit(task, "gold.scored", decision.reviewer, correct=showing.correct)


# --- manager settings -----------------------------------------------------------------------------


KEEP = object()  # a setting the caller leaves as it is


@transaction.atomic(durable=True)
def queue_quality_set(
    *, queue: Queue, acting_user, gold_rate: object = KEEP, senior_queue: object = KEEP
) -> QueueQuality:
    """Set a queue's gold rate and senior queue (``None``: none). Only the given ones change.

    The caller has checked the manage permission on ``queue`` and found ``senior_queue``
    among the queues the acting user manages.
    """
    given = {"gold_rate": gold_rate, "senior_queue": senior_queue}
    values, errors = QueueQualityInput.errors_of(
        {name: value for name, value in given.items() if value is not KEEP}, partial=True
    )
    senior = values.get("senior_queue")
    if senior is not None and senior.pk == queue.pk:
        errors["senior_queue"] = ["Choose another queue than this one."]
    elif senior is not None and senior.workflow_id != queue.workflow_id:
        # The senior reviewer decides with the same output schema and reasons.
        errors["senior_queue"] = ["Choose a queue of the same workflow."]
    if errors:
        raise QualitySettingsInvalid(errors)
    row, _ = QueueQuality.objects.select_for_update().get_or_create(queue=queue)
    if "gold_rate" in values:
        row.gold_rate = float(values["gold_rate"])
    if "senior_queue" in values:
        row.senior_queue = senior
    row.updated_by = acting_user
    row.save()
    audit_record(
        action="queue.quality_set",
        obj=queue,
        actor=acting_user,
        chain=queue.workflow.audit_chain,
        data={
            "gold_rate": row.gold_rate,
            "senior_queue": row.senior_queue.slug if row.senior_queue else None,
        },
    )
    return row


@transaction.atomic(durable=True)
def gold_item_add(
    *, queue: Queue, acting_user, input, expected_output, proposed_output=None
) -> GoldItem:
    """A known answer for the queue, checked against its workflow's schemas."""
    version = queue.workflow.current_version
    assert version is not None  # a queue exists only for a published workflow
    definition = version.definition
    errors: dict[str, list[str]] = {}
    checks = [
        ("input", input, definition["input_schema"]),
        ("expected_output", expected_output, definition["output_schema"]),
    ]
    if proposed_output is not None:
        checks.append(("proposed_output", proposed_output, definition["output_schema"]))
    for name, value, schema in checks:
        if not isinstance(value, dict):
            errors[name] = ["Give a JSON object."]
            continue
        for path, messages in schema_errors(schema, value).items():
            errors[f"{name}.{path}"] = messages
    if errors:
        raise GoldItemInvalid(errors)
    gold = GoldItem.objects.create(
        queue=queue,
        input=input,
        expected_output=expected_output,
        proposed_output=expected_output if proposed_output is None else proposed_output,
        created_by=acting_user,
    )
    audit_record(
        action="gold_item.added",
        obj=gold,
        actor=acting_user,
        chain=queue.workflow.audit_chain,
        data={"queue": queue.slug},
    )
    return gold


@transaction.atomic(durable=True)
def gold_item_retire(*, gold: GoldItem, acting_user) -> GoldItem:
    """Stop mixing a gold item in; its past showings keep their scores."""
    gold = GoldItem.objects.select_for_update().select_related("queue__workflow").get(pk=gold.pk)
    if not gold.active:
        raise Conflict("The gold item is retired already.")
    gold.active = False
    gold.save(update_fields=["active"])
    audit_record(
        action="gold_item.retired",
        obj=gold,
        actor=acting_user,
        chain=gold.queue.workflow.audit_chain,
        data={"queue": gold.queue.slug},
    )
    return gold
