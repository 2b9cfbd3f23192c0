"""Running the pipeline over batches of items, each step exactly once per item, whatever the
broker redelivers.

A pipeline message names a batch of items (up to ``REVIEWAPP_PIPELINE_BATCH``; a single item
is a batch of one). ``items_run`` takes the batch through the steps in order in one
transaction, with the items' rows locked (in id order, so two batches that share items queue
instead of deadlocking): each step runs over every item of the batch that is on it, and what
the steps decided is written at the end with bulk queries (each item's row once, the audit
events of the whole batch with one lock). An item records the step it is on
(``current_step``): a redelivered or duplicate message finds its items on a later step, or
finished, and does nothing for them; a worker killed mid-batch rolls the batch back to where
it was, and the redelivered message runs it again.

A step failure is the item's own: it is recorded (a failed StepRun), retried with backoff or
dead-lettered, while the rest of the batch goes on. Items to retry are sent again in one
message after the longest of their backoffs.
"""

import logging
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Field, Sum
from django.utils import timezone

from reviewapp.core import metrics, tracing
from reviewapp.core.audit.services import AuditEntry, audit_record, audit_record_many
from reviewapp.core.errors import Conflict, InvalidRequest
from reviewapp.core.jobs import job_send
from reviewapp.core.logs import correlation_id
from workflows import seams
from workflows.act.announce import item_settled_announce_on_commit
from workflows.act.webhooks import webhook_enqueue
from workflows.judges.services import judge_scores_record
from workflows.models import (
    Item,
    ItemOutcome,
    ItemStatus,
    Prediction,
    ShadowPrediction,
    StepRun,
    StepRunStatus,
    Workflow,
    WorkflowVersion,
)
from workflows.pipeline.breaker import breaker_record_failure
from workflows.pipeline.order import STEP_FUNCTIONS, STEP_NAMES, next_step
from workflows.pipeline.steps.context import StepContext, StepFailed

logger = logging.getLogger(__name__)

IN_FLIGHT = (ItemStatus.RECEIVED, ItemStatus.RUNNING)
RUN_ITEMS_TASK = "workflows.run_items"


class ItemActionInvalid(InvalidRequest):
    """A dead-letter action with a missing or wrong argument (a discard without a reason)."""


class ItemStateConflict(Conflict):
    """The item is not in a state that allows the action."""


@dataclass(frozen=True)
class StepOutcome:
    next_step: str | None = None
    retry_in: float | None = None


def enqueue_items(item_ids: Sequence[int]) -> None:
    """Send the items to the pipeline, one message per batch. When the broker cannot take one,
    the rest wait in the database with it, for the reconciler."""
    size = settings.REVIEWAPP_PIPELINE_BATCH
    for start in range(0, len(item_ids), size):
        if not job_send(RUN_ITEMS_TASK, list(item_ids[start : start + size])):
            return


def retry_delay(attempt: int) -> float:
    # Exponential backoff with +-25 % jitter, so items that failed together do not retry
    # together (and each retry still waits longer than the one before).
    return min(60.0, 2.0**attempt) * random.uniform(0.75, 1.25)


def items_run(*, item_ids: Sequence[int]) -> dict[int, float]:
    """Take a batch as far through the pipeline as it goes; returns ``{item: retry in s}``.

    Items may be on different steps (the reconciler's batches): each joins at its own step.
    """
    outcomes = _items_run_steps(item_ids, STEP_NAMES)
    return {pk: out.retry_in for pk, out in outcomes.items() if out.retry_in is not None}


def items_run_step(*, item_ids: Sequence[int], step: str) -> dict[int, StepOutcome]:
    """Run only ``step`` over the items of the batch that are on it."""
    return _items_run_steps(item_ids, [step])


def item_run_step(*, item_id: int, step: str) -> StepOutcome:
    """One step of one item: a batch of one."""
    return items_run_step(item_ids=[item_id], step=step).get(item_id, StepOutcome())


@dataclass
class _Batch:
    """What the steps decided for a batch, written at the end of its transaction."""

    now: datetime
    step_runs: list[StepRun] = field(default_factory=list)
    events: dict[str, list[AuditEntry]] = field(default_factory=lambda: defaultdict(list))
    outcomes: dict[int, StepOutcome] = field(default_factory=dict)
    breaker_failures: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    routed: bool = False

    def audit(self, item: Item, action: str, **data) -> None:
        self.events[item.workflow.audit_chain].append(
            AuditEntry(action=action, obj=item, data=data)
        )

    def write_audit(self) -> None:
        # Chains in a fixed order, so two batches never wait for each other's chains crosswise.
        for chain in sorted(self.events):
            audit_record_many(self.events.pop(chain), chain=chain)


def _items_run_steps(item_ids: Sequence[int], steps: Sequence[str]) -> dict[int, StepOutcome]:
    """Run ``steps`` in order over the items of the batch that are on one of them, in one
    transaction: an item that succeeds goes on to the next step at once, one that fails stays
    where it failed. One transaction for all steps writes each item's row once, not once per
    step; a crash rolls the whole batch back to where it was, to be run again."""
    token = correlation_id.set("")
    try:
        return _run_steps_logged(item_ids, steps)
    finally:
        correlation_id.reset(token)


def _run_steps_logged(item_ids: Sequence[int], steps: Sequence[str]) -> dict[int, StepOutcome]:
    with transaction.atomic(durable=True):
        items = _locked_on_steps(item_ids, steps)
        if not items:
            return {}
        batch = _Batch(now=timezone.now())
        # A batch from one ingest request shares its correlation id; a mixed one (the
        # reconciler's) logs without one, and per-item lines set their own.
        shared = {item.correlation_id for item in items}
        correlation_id.set(shared.pop() if len(shared) == 1 else "")
        runs, cost = _spent(items)
        past_first = [item for item in items if item.current_step != STEP_NAMES[0]]
        previous = _previous_outputs(past_first)
        for item in items:
            if item.status == ItemStatus.RECEIVED:
                item.status = ItemStatus.RUNNING
                batch.audit(item, "item.running")
        timings = {}
        for step in steps:
            on_step = [
                item for item in items if item.status in IN_FLIGHT and item.current_step == step
            ]
            if on_step:
                with tracing.items_span(
                    f"pipeline.{step}",
                    (item.trace_context for item in on_step),
                    **{"reviewapp.step": step, "reviewapp.item_ids": [i.pk for i in on_step]},
                ):
                    timings[step] = _run_step(batch, step, on_step, runs, cost, previous)
        _write(batch, items)
    for step, (count, duration_ms) in timings.items():
        logger.info(
            "step %s ran for %d item(s)",
            step,
            count,
            extra={"step": step, "duration_ms": round(duration_ms, 3)},
        )
    return batch.outcomes


def _run_step(
    batch: _Batch,
    step: str,
    items: list[Item],
    runs: dict[tuple[int, str], int],
    cost: dict[int, float],
    previous: dict[int, dict[str, dict]],
) -> tuple[int, float]:
    ready: list[tuple[Item, int]] = []
    for item in items:
        exhausted = _budget_exhausted(
            item, runs=runs.get((item.pk, ""), 0), cost=cost.get(item.pk, 0.0)
        )
        if exhausted:
            _dead_letter(batch, item, step, exhausted)
        else:
            ready.append((item, runs.get((item.pk, step), 0) + 1))
    contexts = [
        StepContext(
            item_id=item.pk,
            workflow_id=item.workflow_id,
            input=item.input,
            definition=item.workflow_version.definition,
            previous=previous.setdefault(item.pk, {}),
            qa_sample_rate_raised=item.workflow.qa_sample_rate_raised,
        )
        for item, _ in ready
    ]
    started_at = timezone.now()
    clock = time.perf_counter()
    results = STEP_FUNCTIONS[step](contexts) if contexts else []
    # The step's time shared by the batch: what one item cost.
    duration_ms = (time.perf_counter() - clock) * 1000 / max(1, len(contexts))
    finished_at = timezone.now()
    succeeded: list[tuple[Item, dict, StepContext]] = []
    for (item, attempt), context, result in zip(ready, contexts, results, strict=True):
        run = StepRun(
            item=item,
            step=step,
            attempt=attempt,
            started_at=started_at,
            finished_at=finished_at,
            duration_ms=duration_ms,
        )
        batch.step_runs.append(run)
        runs[(item.pk, step)] = attempt
        runs[(item.pk, "")] = runs.get((item.pk, ""), 0) + 1
        if isinstance(result, StepFailed):
            _record_failure(batch, item, run, result)
            cost[item.pk] = cost.get(item.pk, 0.0) + run.cost
            _count_model_cost(item, run)
            continue
        run.status = StepRunStatus.SUCCEEDED
        run.output = result
        if step == "infer":
            run.model_version = result.get("model_version", "")
            run.prompt_version = result.get("prompt_version", "")
            run.cost = result.get("cost") or 0.0
            cost[item.pk] = cost.get(item.pk, 0.0) + run.cost
            metrics.count(
                metrics.series.MODEL_PREDICTIONS, **_labels(item), model=run.model_version
            )
            _count_model_cost(item, run)
        elif step == "judge" and result:
            run.model_version = result.get("judge_version", "")
            run.prompt_version = result.get("prompt_version", "")
            run.cost = result.get("cost") or 0.0
            cost[item.pk] = cost.get(item.pk, 0.0) + run.cost
            _count_model_cost(item, run)
        previous[item.pk][step] = result
        succeeded.append((item, result, context))
    _apply(batch, step, succeeded)
    return len(contexts), duration_ms


def _labels(item: Item) -> dict[str, int]:
    return {"workflow": item.workflow_id, "version": item.workflow_version_id}


def _count_model_cost(item: Item, run: StepRun) -> None:
    # Failed calls that were billed count too: the money is spent either way.
    metrics.count(metrics.series.MODEL_COST, run.cost, **_labels(item), model=run.model_version)


def _locked_on_steps(item_ids: Sequence[int], steps: Sequence[str]) -> list[Item]:
    """The batch's items that are still on one of ``steps``, locked in id order.

    PostgreSQL re-checks the filter after waiting for a row lock, so an item that a concurrent
    duplicate moved on meanwhile drops out here.
    """
    items = list(
        Item.objects.select_for_update(of=("self",))
        .filter(pk__in=item_ids, status__in=IN_FLIGHT, current_step__in=steps)
        .order_by("pk")
    )
    # Items of a batch share a few workflows and versions: load each once, not once per row.
    workflows = Workflow.objects.in_bulk({item.workflow_id for item in items})
    versions = WorkflowVersion.objects.in_bulk({item.workflow_version_id for item in items})
    for item in items:
        item.workflow = workflows[item.workflow_id]
        item.workflow_version = versions[item.workflow_version_id]
    return items


def _spent(items: list[Item]) -> tuple[dict[tuple[int, str], int], dict[int, float]]:
    """Step runs so far per (item, step) and per (item, "") for all steps, and cost so far
    per item (one query)."""
    rows = (
        StepRun.objects.filter(item__in=items)
        .values("item_id", "step")
        .annotate(runs=Count("id"), cost=Sum("cost"))
        .values_list("item_id", "step", "runs", "cost")
    )
    runs: dict[tuple[int, str], int] = {}
    cost: dict[int, float] = defaultdict(float)
    for item_id, step, count, spent in rows:
        runs[(item_id, step)] = count
        runs[(item_id, "")] = runs.get((item_id, ""), 0) + count
        cost[item_id] += spent or 0.0
    return runs, cost


def _previous_outputs(items: list[Item]) -> dict[int, dict[str, dict]]:
    """What the steps that already succeeded returned, for items past the first step."""
    outputs: dict[int, dict[str, dict]] = defaultdict(dict)
    if not items:
        return outputs
    rows = StepRun.objects.filter(item__in=items, status=StepRunStatus.SUCCEEDED).values_list(
        "item_id", "step", "output"
    )
    for item_id, name, output in rows:
        outputs[item_id][name] = output
    return outputs


def _apply(batch: _Batch, step: str, succeeded: list[tuple[Item, dict, StepContext]]) -> None:
    """Persist what the step decided for the items it succeeded on."""
    if step == "infer":
        Prediction.objects.bulk_create(
            Prediction(
                item=item,
                model_version_id=output["model_version_id"],
                output=output["output"],
                confidence=output["confidence"],
                probabilities=output["probabilities"],
                latency_ms=output["latency_ms"],
                cost=output["cost"],
                prompt_version=output["prompt_version"],
            )
            for item, output, _ in succeeded
        )
        shadow_answers = [
            ShadowPrediction(
                item=item,
                shadow_id=output["shadow"]["shadow_id"],
                output=output["shadow"].get("output"),
                confidence=output["shadow"].get("confidence"),
                latency_ms=output["shadow"].get("latency_ms"),
                cost=output["shadow"]["cost"],
                error=output["shadow"].get("error", ""),
            )
            for item, output, _ in succeeded
            if "shadow" in output
        ]
        # A redelivered step finds its shadow answer stored already.
        ShadowPrediction.objects.bulk_create(shadow_answers, ignore_conflicts=True)
    if step == "judge":
        judge_scores_record((item, output) for item, output, _ in succeeded if output)
    following = next_step(step)
    for item, _, _ in succeeded:
        item.current_step = following or ""
        item.step_failures = 0
        batch.outcomes[item.pk] = StepOutcome(next_step=following)
    if step != "route":
        return
    batch.routed = True
    routed = []
    for item, output, context in succeeded:
        item.routing = output["reason"]
        if output["action"] == "auto_accept":
            metrics.count(metrics.series.ITEMS_AUTO_ACCEPTED, **_labels(item))
            entry = _complete(
                item,
                outcome=ItemOutcome.AUTO_ACCEPTED,
                output=context.previous["infer"]["output"],
            )
            batch.events[item.workflow.audit_chain].append(entry)
        else:
            routed.append((item, output))
    if routed:
        # The item's own events come before its review task's.
        for item, output in routed:
            item.status = ItemStatus.AWAITING_REVIEW
            metrics.count(
                metrics.series.ITEMS_SENT_TO_REVIEW, **_labels(item), queue=output["queue"]
            )
            batch.audit(item, "item.sent_to_review", queue=output["queue"], routing=item.routing)
        batch.write_audit()
        _send_to_review(routed)


def _write(batch: _Batch, items: list[Item]) -> None:
    StepRun.objects.bulk_create(batch.step_runs)
    for item in items:
        item.updated_at = batch.now
    fields = ["status", "current_step", "step_failures", "dead_letter_reason", "updated_at"]
    if batch.routed:
        fields += ["routing", "outcome", "final_output", "completed_at"]
    _save_rows(items, fields)
    for key, reasons in batch.breaker_failures.items():
        breaker_record_failure(key, reasons[-1], failures=len(reasons))
    batch.write_audit()


def _save_rows(items: list[Item], fields: list[str]) -> None:
    """Write ``fields`` of many items in one statement.

    Django's ``bulk_update`` builds a CASE with a branch per row for every field, which for a
    batch of 100 cost more than the step itself; on PostgreSQL one ``UPDATE ... FROM (VALUES
    ...)`` does the same work in a fraction of the time.
    """
    if connection.vendor != "postgresql":
        Item.objects.bulk_update(items, fields)
        return
    columns = [Item._meta.get_field(name) for name in fields]
    assert all(isinstance(column, Field) for column in columns), fields
    quote = connection.ops.quote_name
    names = ["id", *(quote(column.column) for column in columns)]  # type: ignore[union-attr,arg-type]
    assignments = ", ".join(
        f"{name} = v.{name}::{column.db_type(connection)}"  # type: ignore[union-attr]
        for name, column in zip(names[1:], columns, strict=True)
    )
    params: list = []
    for item in items:
        params.append(item.pk)
        params.extend(
            column.get_db_prep_save(getattr(item, column.attname), connection)  # type: ignore[union-attr]
            for column in columns
        )
    row = "(" + ", ".join(["%s"] * len(names)) + ")"
    # Names come from the model, every value is a parameter.
    sql = (
        f"UPDATE {quote(Item._meta.db_table)} AS item SET {assignments} "  # noqa: S608
        f"FROM (VALUES {', '.join([row] * len(items))}) AS v({', '.join(names)}) "
        "WHERE item.id = v.id::bigint"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _record_failure(batch: _Batch, item: Item, run: StepRun, failure: StepFailed) -> None:
    token = correlation_id.set(item.correlation_id)
    try:
        logger.warning(
            "step %s of item %s failed: %s",
            run.step,
            item.pk,
            failure.reason,
            extra={"item_id": item.pk, "step": run.step, "attempt": run.attempt},
        )
    finally:
        correlation_id.reset(token)
    run.status = StepRunStatus.FAILED
    run.error = failure.reason
    run.cost = failure.cost
    # Endpoint failures name their model, so a canary's error rate can be told apart.
    run.model_version = failure.breaker_key
    if failure.breaker_key:
        batch.breaker_failures[failure.breaker_key].append(failure.reason)
    if not failure.counts:
        batch.outcomes[item.pk] = StepOutcome(
            retry_in=float(settings.REVIEWAPP_BREAKER_COOLDOWN_SECONDS)
        )
        return
    item.step_failures += 1
    if failure.permanent or item.step_failures >= settings.REVIEWAPP_STEP_MAX_ATTEMPTS:
        reason = f"{run.step} failed after {item.step_failures} attempt(s): {failure.reason}"
        _dead_letter(batch, item, run.step, reason)
        return
    batch.outcomes[item.pk] = StepOutcome(retry_in=retry_delay(item.step_failures))


def _budget_exhausted(item: Item, *, runs: int, cost: float) -> str:
    """Why the item may not run another step, or "" while it is within its budget.

    The budget stops runaway items (a step that keeps failing differently, a loop of manual
    retries, answers that keep costing) from consuming workers and money forever: total step
    runs, wall time since arrival and, when the workflow sets ``max_cost``, the cost of its
    model calls so far (failed answers included).
    """
    budget = item.workflow_version.definition.get("budget", {})
    max_runs = budget.get("max_step_runs", settings.REVIEWAPP_ITEM_MAX_STEP_RUNS)
    max_seconds = budget.get("max_seconds", settings.REVIEWAPP_ITEM_MAX_SECONDS)
    max_cost = budget.get("max_cost")
    if runs >= max_runs:
        return f"execution budget exhausted: {runs} step runs (limit {max_runs})"
    age = (timezone.now() - item.created_at).total_seconds()
    if age > max_seconds:
        return f"execution budget exhausted: {age:.0f} s since arrival (limit {max_seconds} s)"
    if max_cost is not None and cost > max_cost:
        return f"execution budget exhausted: cost {cost:.6g} spent (limit {max_cost:g})"
    return ""


def _dead_letter(batch: _Batch, item: Item, step: str, reason: str) -> None:
    item.status = ItemStatus.DEAD_LETTERED
    item.dead_letter_reason = reason
    metrics.count(metrics.series.ITEMS_DEAD_LETTERED, **_labels(item), step=step)
    batch.outcomes[item.pk] = StepOutcome()
    batch.audit(item, "item.dead_lettered", step=step, reason=reason)


@transaction.atomic(durable=True)
def item_dead_letter_retry(*, item: Item, acting_user) -> Item:
    """Put a dead-lettered item back on its failed step with a fresh set of attempts."""
    item = _locked_dead_letter(item)
    item.status = ItemStatus.RUNNING
    item.step_failures = 0
    reason, item.dead_letter_reason = item.dead_letter_reason, ""
    item.save(update_fields=["status", "step_failures", "dead_letter_reason", "updated_at"])
    audit_record(
        action="item.retried",
        obj=item,
        actor=acting_user,
        chain=item.workflow.audit_chain,
        data={"step": item.current_step, "was": reason},
    )
    item_id = item.pk
    transaction.on_commit(lambda: enqueue_items([item_id]))
    return item


@transaction.atomic(durable=True)
def item_dead_letter_discard(*, item: Item, acting_user, reason: str) -> Item:
    """Give up on a dead-lettered item for good; it stays, with who discarded it and why."""
    if not reason.strip():
        raise ItemActionInvalid({"reason": ["Say why the item is discarded."]})
    item = _locked_dead_letter(item)
    item.discarded_at = timezone.now()
    item.discard_reason = reason.strip()
    item.save(update_fields=["discarded_at", "discard_reason", "updated_at"])
    audit_record(
        action="item.discarded",
        obj=item,
        actor=acting_user,
        chain=item.workflow.audit_chain,
        data={"reason": item.discard_reason},
    )
    return item


def _locked_dead_letter(item: Item) -> Item:
    locked = Item.objects.select_for_update(of=("self",)).select_related("workflow").get(pk=item.pk)
    if locked.status != ItemStatus.DEAD_LETTERED or locked.discarded_at is not None:
        raise ItemStateConflict("Only dead-lettered items that were not discarded can do this.")
    return locked


def _complete(item: Item, *, outcome: str, output: dict, actor=None) -> AuditEntry:
    """Finish the item; returns its audit entry, for the caller to record with its others."""
    item.status = ItemStatus.COMPLETED
    item.outcome = outcome
    item.final_output = output
    item.completed_at = timezone.now()
    webhook_enqueue(item=item, event="item.completed")
    return AuditEntry(
        action="item.completed",
        obj=item,
        actor=actor,
        data={"outcome": outcome, "output": output},
    )


def _send_to_review(routed: Iterable[tuple[Item, dict]]) -> None:
    """The seam from the machine side to the human side: a review task per routed item.

    ``routed`` pairs each item with its route step's decision (``queue``, ``priority``,
    ``action``); the item is already marked awaiting review and audited.
    """
    routed = list(routed)
    # Opening a task reads the item's prediction (its confidence): one query for all of them.
    predictions = {
        prediction.item_id: prediction
        for prediction in Prediction.objects.filter(item__in=[item for item, _ in routed])
    }
    for item, _ in routed:
        item.prediction = predictions[item.pk]
    seams.reviews_open(
        openings=[(item, decision["queue"], decision["priority"]) for item, decision in routed]
    )


def item_resume_after_review(*, item_id: int) -> bool:
    """Finish an item whose review is settled. Idempotent: a second call does nothing."""
    with transaction.atomic(durable=True):
        item = (
            Item.objects.select_for_update(of=("self",))
            # The webhook reads the version's definition: fetched with the item, not after.
            .select_related("workflow", "workflow_version")
            .filter(pk=item_id, status=ItemStatus.AWAITING_REVIEW)
            .first()
        )
        if item is None:
            return False
        verdict = seams.review_verdict(item_id=item.pk)
        if verdict is None:
            return False
        entry = _complete(
            item, outcome=verdict.outcome, output=verdict.output, actor=verdict.reviewer
        )
        audit_record_many([entry], chain=item.workflow.audit_chain)
        item.save(update_fields=["status", "outcome", "final_output", "completed_at", "updated_at"])
        item_settled_announce_on_commit(item.pk)
        return True


def item_complete_by_policy(*, item: Item, outcome: str, output: dict, reason: str) -> None:
    """Finish an item awaiting review without a reviewer, because a policy says so (an
    approval's deadline passed). Runs in the caller's transaction, which holds the item's row
    locked and has checked that it still awaits review."""
    assert item.status == ItemStatus.AWAITING_REVIEW, item.status
    entry = _complete(item, outcome=outcome, output=output)
    entry = AuditEntry(
        action=entry.action, obj=item, actor=None, data={**entry.data, "by_policy": reason}
    )
    audit_record_many([entry], chain=item.workflow.audit_chain)
    item.save(update_fields=["status", "outcome", "final_output", "completed_at", "updated_at"])
    item_settled_announce_on_commit(item.pk)
