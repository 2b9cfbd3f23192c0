"""Running one pipeline step of one item, exactly once, whatever the broker redelivers.

Every step run holds the item row locked and checks ``item.current_step``: a redelivered or
duplicate message for a step that already ran finds a different current step and does nothing.
The next step is enqueued only after the transaction commits.
"""

import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reviewapp.audit.services import audit_record
from reviewapp.errors import Conflict, InvalidRequest
from reviewapp.logs import correlation_id
from workflows.act.webhooks import webhook_enqueue
from workflows.breaker import breaker_record_failure
from workflows.models import Item, ItemOutcome, ItemStatus, Prediction, StepRun, StepRunStatus
from workflows.pipeline import STEP_FUNCTIONS, next_step
from workflows.steps.context import StepContext, StepFailed

logger = logging.getLogger(__name__)

IN_FLIGHT = (ItemStatus.RECEIVED, ItemStatus.RUNNING)


class ItemActionInvalid(InvalidRequest):
    """A dead-letter action with a missing or wrong argument (a discard without a reason)."""


class ItemStateConflict(Conflict):
    """The item is not in a state that allows the action."""


@dataclass(frozen=True)
class StepOutcome:
    next_step: str | None = None
    retry_in: float | None = None


def enqueue_step(item_id: int, step: str) -> None:
    from workflows.tasks import run_step

    run_step.delay(item_id, step)


def retry_delay(attempt: int) -> float:
    # Exponential backoff with +-25 % jitter, so items that failed together do not retry
    # together (and each retry still waits longer than the one before).
    return min(60.0, 2.0**attempt) * random.uniform(0.75, 1.25)


def item_run_step(*, item_id: int, step: str) -> StepOutcome:
    with transaction.atomic(durable=True):
        item = (
            Item.objects.select_for_update(of=("self",))
            .select_related("workflow", "workflow_version")
            .filter(pk=item_id)
            .first()
        )
        if item is None or item.status not in IN_FLIGHT or item.current_step != step:
            return StepOutcome()  # a duplicate or stale message: the step already ran
        correlation_id.set(item.correlation_id)
        if item.status == ItemStatus.RECEIVED:
            item.status = ItemStatus.RUNNING
            audit_record(action="item.running", obj=item, chain=item.workflow.audit_chain)
        exhausted = _budget_exhausted(item)
        if exhausted:
            _dead_letter(item, step, exhausted)
            return StepOutcome()
        attempt = item.step_runs.filter(step=step).count() + 1
        previous = {
            run.step: run.output for run in item.step_runs.filter(status=StepRunStatus.SUCCEEDED)
        }
        context = StepContext(
            item_id=item.pk,
            workflow_id=item.workflow_id,
            input=item.input,
            definition=item.workflow_version.definition,
            previous=previous,
        )
        started_at = timezone.now()
        clock = time.perf_counter()
        try:
            with transaction.atomic():
                output = STEP_FUNCTIONS[step](context)
                following = _apply(item, step, output)
        except StepFailed as failed:
            return _record_failure(item, step, attempt, started_at, clock, failed)
        except Exception as exc:  # a bug or an outage in a step: recorded, retried, dead-lettered
            logger.exception("step %s of item %s failed", step, item.pk)
            crashed = StepFailed(f"{type(exc).__name__}: {exc}")
            return _record_failure(item, step, attempt, started_at, clock, crashed)
        StepRun.objects.create(
            item=item,
            step=step,
            attempt=attempt,
            status=StepRunStatus.SUCCEEDED,
            started_at=started_at,
            finished_at=timezone.now(),
            duration_ms=(time.perf_counter() - clock) * 1000,
            output=output,
            model_version=output.get("model_version", "") if step == "infer" else "",
            prompt_version=output.get("prompt_version", "") if step == "infer" else "",
        )
        item.current_step = following or ""
        item.step_failures = 0
        item.save(update_fields=["status", "current_step", "step_failures", "updated_at"])
        if following is not None:
            transaction.on_commit(lambda: enqueue_step(item_id, following))
        logger.info(
            "step %s of item %s succeeded",
            step,
            item_id,
            extra={"item_id": item_id, "step": step, "attempt": attempt},
        )
        return StepOutcome(next_step=following)


def _apply(item: Item, step: str, output: dict) -> str | None:
    """Persist what a step decided; returns the step to run next, if any."""
    if step == "infer":
        Prediction.objects.create(
            item=item,
            model_version_id=output["model_version_id"],
            output=output["output"],
            confidence=output["confidence"],
            probabilities=output["probabilities"],
            latency_ms=output["latency_ms"],
            cost=output["cost"],
            prompt_version=output["prompt_version"],
        )
    if step == "route":
        item.routing = output["reason"]
        if output["action"] == "auto_accept":
            _complete(item, outcome=ItemOutcome.AUTO_ACCEPTED, output=item.prediction.output)
        else:
            _send_to_review(item, queue_slug=output["queue"], priority=output["priority"])
        item.save(update_fields=["routing", "status", "outcome", "final_output", "completed_at"])
        return None
    return next_step(step)


def _record_failure(
    item: Item, step: str, attempt: int, started_at, clock: float, failure: StepFailed
) -> StepOutcome:
    logger.warning(
        "step %s of item %s failed: %s",
        step,
        item.pk,
        failure.reason,
        extra={"item_id": item.pk, "step": step, "attempt": attempt},
    )
    StepRun.objects.create(
        item=item,
        step=step,
        attempt=attempt,
        status=StepRunStatus.FAILED,
        started_at=started_at,
        finished_at=timezone.now(),
        duration_ms=(time.perf_counter() - clock) * 1000,
        error=failure.reason,
        # Endpoint failures name their model, so a canary's error rate can be told apart.
        model_version=failure.breaker_key,
    )
    if failure.breaker_key:
        breaker_record_failure(failure.breaker_key, failure.reason)
    if not failure.counts:
        item.save(update_fields=["status", "updated_at"])
        return StepOutcome(retry_in=float(settings.REVIEWAPP_BREAKER_COOLDOWN_SECONDS))
    item.step_failures += 1
    if failure.permanent or item.step_failures >= settings.REVIEWAPP_STEP_MAX_ATTEMPTS:
        _dead_letter(
            item, step, f"{step} failed after {item.step_failures} attempt(s): {failure.reason}"
        )
        return StepOutcome()
    item.save(update_fields=["status", "step_failures", "updated_at"])
    return StepOutcome(retry_in=retry_delay(item.step_failures))


def _budget_exhausted(item: Item) -> str:
    """Why the item may not run another step, or "" while it is within its budget.

    The budget stops runaway items (a step that keeps failing differently, a loop of manual
    retries) from consuming workers forever: total step runs and wall time since arrival.
    """
    budget = item.workflow_version.definition.get("budget", {})
    max_runs = budget.get("max_step_runs", settings.REVIEWAPP_ITEM_MAX_STEP_RUNS)
    max_seconds = budget.get("max_seconds", settings.REVIEWAPP_ITEM_MAX_SECONDS)
    runs = item.step_runs.count()
    if runs >= max_runs:
        return f"execution budget exhausted: {runs} step runs (limit {max_runs})"
    age = (timezone.now() - item.created_at).total_seconds()
    if age > max_seconds:
        return f"execution budget exhausted: {age:.0f} s since arrival (limit {max_seconds} s)"
    return ""


def _dead_letter(item: Item, step: str, reason: str) -> None:
    item.status = ItemStatus.DEAD_LETTERED
    item.dead_letter_reason = reason
    item.save(update_fields=["status", "dead_letter_reason", "step_failures", "updated_at"])
    audit_record(
        action="item.dead_lettered",
        obj=item,
        chain=item.workflow.audit_chain,
        data={"step": step, "reason": reason},
    )


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
    item_id, step = item.pk, item.current_step
    transaction.on_commit(lambda: enqueue_step(item_id, step))
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


def _complete(item: Item, *, outcome: str, output: dict, actor=None) -> None:
    item.status = ItemStatus.COMPLETED
    item.outcome = outcome
    item.final_output = output
    item.completed_at = timezone.now()
    audit_record(
        action="item.completed",
        obj=item,
        actor=actor,
        chain=item.workflow.audit_chain,
        data={"outcome": outcome, "output": output},
    )
    webhook_enqueue(item=item, event="item.completed")


def _send_to_review(item: Item, *, queue_slug: str, priority: int) -> None:
    # The seam from the machine side to the human side.
    from reviewapp.reviews.services import review_task_open

    item.status = ItemStatus.AWAITING_REVIEW
    audit_record(
        action="item.sent_to_review",
        obj=item,
        chain=item.workflow.audit_chain,
        data={"queue": queue_slug, "routing": item.routing},
    )
    review_task_open(item=item, queue_slug=queue_slug, priority=priority)


def item_resume_after_review(*, item_id: int) -> bool:
    """Finish an item whose review task was decided. Idempotent: a second call does nothing."""
    from reviewapp.reviews.models import DecisionOutcome, TaskStatus

    outcomes = {
        DecisionOutcome.ACCEPT: ItemOutcome.ACCEPTED,
        DecisionOutcome.CORRECT: ItemOutcome.CORRECTED,
        DecisionOutcome.REJECT: ItemOutcome.REJECTED,
    }
    with transaction.atomic(durable=True):
        item = (
            Item.objects.select_for_update(of=("self",))
            .select_related("workflow")
            .filter(pk=item_id, status=ItemStatus.AWAITING_REVIEW)
            .first()
        )
        if item is None:
            return False
        task = (
            item.tasks.filter(status=TaskStatus.DECIDED)
            .select_related("decision", "decision__reviewer")
            .order_by("-decided_at")
            .first()
        )
        if task is None:
            return False
        decision = task.decision
        _complete(
            item,
            outcome=outcomes[DecisionOutcome(decision.outcome)],
            output=decision.output,
            actor=decision.reviewer,
        )
        item.save(update_fields=["status", "outcome", "final_output", "completed_at", "updated_at"])
        return True


def items_find_stuck(*, older_than: timedelta) -> list[tuple[int, str]]:
    """Items whose pipeline message was lost (worker killed, broker restarted)."""
    cutoff = timezone.now() - older_than
    return list(
        Item.objects.filter(status__in=IN_FLIGHT, updated_at__lt=cutoff)
        .exclude(current_step="")
        .values_list("pk", "current_step")[:1000]
    )


def items_find_unresumed() -> list[int]:
    """Items whose review was decided but whose resume message never ran."""
    from reviewapp.reviews.models import TaskStatus

    return list(
        Item.objects.filter(status=ItemStatus.AWAITING_REVIEW, tasks__status=TaskStatus.DECIDED)
        .values_list("pk", flat=True)
        .distinct()[:1000]
    )
