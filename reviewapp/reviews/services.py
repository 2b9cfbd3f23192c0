"""Review tasks: open, claim (atomic, leased), extend, release, skip, decide (fenced by the claim
token)."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from reviewapp.audit.services import audit_record
from reviewapp.corrections.services import correction_record, reason_codes_for
from reviewapp.errors import Conflict, InvalidRequest
from reviewapp.reviews.models import (
    Decision,
    DecisionOutcome,
    Queue,
    ReviewTask,
    TaskSkip,
    TaskStatus,
)
from reviewapp.sla.selectors import sla_clock_for
from workflows.schemas import schema_errors


class DecisionInvalid(InvalidRequest):
    """The decision itself is wrong (missing reason, bad output)."""

    detail = "The decision is not valid."


class ClaimLost(Conflict):
    """The caller does not hold the current claim of the task."""


class SkipInvalid(InvalidRequest):
    """A skip without a usable reason."""

    detail = "The skip is not valid."


SKIP_REASON_MAX_LENGTH = TaskSkip._meta.get_field("reason").max_length or 500


def _audit(task: ReviewTask, action: str, actor=None, **data) -> None:
    audit_record(
        action=action,
        obj=task,
        actor=actor,
        chain=task.queue.workflow.audit_chain,
        data={"item": task.item_id, "queue": task.queue.slug, **data},
    )


def review_task_open(*, item, queue_slug: str, priority: int = 0) -> ReviewTask:
    """Runs inside the route step's transaction: the item and its task appear together."""
    queue = Queue.objects.select_related("workflow").get(slug=queue_slug)
    clock = sla_clock_for(queue_id=queue.pk, opened_at=timezone.now())
    task = ReviewTask.objects.create(
        item=item, queue=queue, priority=priority, due_at=clock.due_at, warn_at=clock.warn_at
    )
    _audit(task, "task.opened", priority=priority)
    return task


@transaction.atomic(durable=True)
def review_task_claim(*, queue: Queue, reviewer) -> ReviewTask | None:
    """Hand the reviewer the next task of the queue, or the one they already hold.

    ``SKIP LOCKED`` lets concurrent reviewers pass over each other's candidate rows instead of
    queueing behind them; on SQLite (no row locks) the IMMEDIATE transaction serialises claims.
    """
    now = timezone.now()
    held = (
        ReviewTask.objects.select_related("queue__workflow")
        .filter(
            queue=queue, status=TaskStatus.CLAIMED, claimed_by=reviewer, lease_expires_at__gt=now
        )
        .order_by("claimed_at")
        .first()
    )
    if held is not None:
        return held
    # Tasks this reviewer skipped stay out of their claims (not their colleagues'). NOT EXISTS
    # probes task_skip_idx once per candidate row, so the claim still walks the claim index.
    skipped = TaskSkip.objects.filter(task=OuterRef("pk"), reviewer=reviewer)
    candidates = (
        ReviewTask.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("queue__workflow")
        .filter(~Exists(skipped))
    )
    # Open tasks first (served by the partial claim index), then claims whose lease ran out:
    # those are claimable at once, the sweep only tidies up the ones nobody asks for.
    task = (
        candidates.filter(queue=queue, status=TaskStatus.OPEN)
        .order_by("-priority", "created_at", "id")
        .first()
    ) or (
        candidates.filter(queue=queue, status=TaskStatus.CLAIMED, lease_expires_at__lte=now)
        .order_by("lease_expires_at", "id")
        .first()
    )
    if task is None:
        return None
    previous_holder = task.claimed_by_id if task.status == TaskStatus.CLAIMED else None
    task.status = TaskStatus.CLAIMED
    task.claimed_by = reviewer
    task.claim_token = uuid.uuid4()
    task.claimed_at = now
    task.lease_expires_at = now + settings.REVIEWAPP_LEASE
    task.save(
        update_fields=["status", "claimed_by", "claim_token", "claimed_at", "lease_expires_at"]
    )
    _audit(
        task,
        "task.claimed",
        reviewer,
        lease_expires_at=task.lease_expires_at.isoformat(),
        taken_over_from=previous_holder,
    )
    return task


@transaction.atomic(durable=True)
def review_task_release(*, task: ReviewTask, reviewer, claim_token) -> ReviewTask:
    task = _locked_claim(task, reviewer, claim_token)
    _reopen(task)
    _audit(task, "task.released", reviewer)
    return task


@transaction.atomic(durable=True)
def review_task_extend(*, task: ReviewTask, reviewer, claim_token) -> ReviewTask:
    """The heartbeat: keep the holder's live claim for another lease from now.

    Only the current holder of an unexpired claim may extend it (else ``ClaimLost``): a lease
    that ran out may already be someone else's. It never shortens a lease, so a manager's
    assignment (ASSIGNMENT_LEASE) keeps its working day. Not audited: the claim does not change,
    and one row a minute per open page would drown the trail (``task.claimed`` records the
    claim, ``task.lease_expired`` its loss).
    """
    task = _locked_claim(task, reviewer, claim_token)
    extended = timezone.now() + settings.REVIEWAPP_LEASE
    if task.lease_expires_at is None or extended > task.lease_expires_at:
        task.lease_expires_at = extended
        task.save(update_fields=["lease_expires_at"])
    return task


@transaction.atomic(durable=True)
def review_task_skip(*, task: ReviewTask, reviewer, claim_token, reason: str) -> ReviewTask:
    """Hand the task back to the queue with a reason; the reviewer's claims pass it over."""
    task = _locked_claim(task, reviewer, claim_token)
    reason = (reason or "").strip()
    if not reason:
        raise SkipInvalid({"reason": ["Say why you skip this task."]})
    if len(reason) > SKIP_REASON_MAX_LENGTH:
        raise SkipInvalid(
            {"reason": [f"Keep the reason under {SKIP_REASON_MAX_LENGTH} characters."]}
        )
    TaskSkip.objects.create(task=task, reviewer=reviewer, reason=reason, skipped_at=timezone.now())
    _reopen(task)
    _audit(task, "task.skipped", reviewer, reason=reason)
    return task


def _reopen(task: ReviewTask) -> None:
    task.status = TaskStatus.OPEN
    task.claimed_by = None
    task.claim_token = None
    task.claimed_at = None
    task.lease_expires_at = None
    task.save(
        update_fields=["status", "claimed_by", "claim_token", "claimed_at", "lease_expires_at"]
    )


def review_tasks_release_expired() -> int:
    """Beat sweep: return abandoned claims to their queue, one audited transaction each."""
    now = timezone.now()
    expired = list(
        ReviewTask.objects.filter(status=TaskStatus.CLAIMED, lease_expires_at__lte=now).values_list(
            "pk", flat=True
        )[:1000]
    )
    released = 0
    for task_id in expired:
        with transaction.atomic(durable=True):
            task = (
                ReviewTask.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("queue__workflow")
                .filter(pk=task_id, status=TaskStatus.CLAIMED, lease_expires_at__lte=now)
                .first()
            )
            if task is None:  # decided, renewed or claimed by someone else meanwhile
                continue
            holder = task.claimed_by_id
            _reopen(task)
            _audit(task, "task.lease_expired", previous_holder=holder)
            released += 1
    return released


def _locked_claim(task: ReviewTask, reviewer, claim_token) -> ReviewTask:
    """Re-read the task under lock and insist the caller holds its current, live claim."""
    locked = (
        ReviewTask.objects.select_for_update(of=("self",))
        .select_related("queue__workflow", "item", "item__workflow")
        .get(pk=task.pk)
    )
    token = str(claim_token or "")
    if (
        locked.status != TaskStatus.CLAIMED
        or locked.claimed_by_id != reviewer.pk
        or str(locked.claim_token) != token
    ):
        raise ClaimLost("You do not hold the current claim on this task.")
    if locked.lease_expires_at is None or locked.lease_expires_at <= timezone.now():
        raise ClaimLost("Your claim on this task has expired.")
    return locked


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
    task = _locked_claim(task, reviewer, claim_token)
    item = task.item
    prediction = item.prediction
    definition = item.workflow_version.definition
    reason_codes = reason_codes or []
    errors: dict[str, list[str]] = {}
    if outcome not in DecisionOutcome.values:
        errors["outcome"] = [f"Choose one of {', '.join(DecisionOutcome.values)}."]
    if outcome == DecisionOutcome.CORRECT:
        if not output:
            errors["output"] = ["A correction needs the corrected output."]
        else:
            for path, messages in schema_errors(definition["output_schema"], output).items():
                errors[f"output.{path}"] = messages
            if output == prediction.output:
                errors["output"] = ["The correction is the same as the model output; accept it."]
    allowed = {code.code: code for code in reason_codes_for(item.workflow, outcome)}
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
    decision.reason_codes.set([allowed[code] for code in reason_codes])
    if outcome in (DecisionOutcome.CORRECT, DecisionOutcome.REJECT):
        # Both are labeled data: a correction says what is right, a rejection (empty human
        # output) says the model should not have answered at all, and why.
        correction_record(decision=decision, item=item, prediction=prediction)
    task.status = TaskStatus.DECIDED
    task.decided_at = now
    task.lease_expires_at = None
    task.save(update_fields=["status", "decided_at", "lease_expires_at"])
    _audit(
        task,
        "task.decided",
        reviewer,
        outcome=outcome,
        output=final_output,
        reason_codes=sorted(reason_codes),
    )
    # The seam back to the machine side: the item resumes after this commits.
    from workflows.tasks import resume_after_review

    transaction.on_commit(lambda: resume_after_review.delay(item.pk))
    return decision


@transaction.atomic
def queue_create(*, team, workflow, slug: str, name: str, acting_user=None) -> Queue:
    from reviewapp.permissions import team_grant_object_permissions

    queue, created = Queue.objects.get_or_create(
        slug=slug, defaults={"team": team, "workflow": workflow, "name": name}
    )
    if created:
        audit_record(
            action="queue.created",
            obj=queue,
            actor=acting_user,
            chain=workflow.audit_chain,
            data={"slug": slug, "team": team.slug},
        )
    team_grant_object_permissions(team=team, queues=[queue])
    return queue


# --- manager actions: reassign, unassign, bulk assign ------------------------------------------

# A manager's assignment holds for a working day: with the reviewers' short lease the lease sweep
# would hand a bulk assignment back to the queue before the reviewer reaches most of it.
ASSIGNMENT_LEASE = timedelta(hours=8)
MAX_BULK_ASSIGN = 500


class TaskActionInvalid(InvalidRequest):
    """A manager action with a wrong argument (a reviewer who cannot review)."""


class TaskStateConflict(Conflict):
    """The task is no longer in a state the action applies to (decided, cancelled)."""


def _require_manager(acting_user, queue: Queue) -> None:
    from reviewapp.permissions import MANAGE_QUEUE, user_can

    if not user_can(acting_user, MANAGE_QUEUE, queue):
        raise PermissionDenied("You do not manage this queue.")


def _require_reviewer(reviewer, queue: Queue) -> None:
    from reviewapp.permissions import REVIEW_QUEUE, user_can

    if reviewer is None or not reviewer.is_active or not user_can(reviewer, REVIEW_QUEUE, queue):
        raise TaskActionInvalid({"reviewer": ["This person cannot review tasks of this queue."]})


def _assign(task: ReviewTask, reviewer, now) -> None:
    """A fresh claim token: whoever held the task before now gets 409 on their decision."""
    task.status = TaskStatus.CLAIMED
    task.claimed_by = reviewer
    task.claim_token = uuid.uuid4()
    task.claimed_at = now
    task.lease_expires_at = now + ASSIGNMENT_LEASE
    task.save(
        update_fields=["status", "claimed_by", "claim_token", "claimed_at", "lease_expires_at"]
    )


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
    _require_manager(acting_user, task.queue)
    task = _locked_live_task(task)
    _require_reviewer(to_reviewer, task.queue)
    previous_holder = task.claimed_by.get_username() if task.claimed_by else None
    _assign(task, to_reviewer, timezone.now())
    _audit(
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
    _require_manager(acting_user, task.queue)
    task = _locked_live_task(task)
    if task.status != TaskStatus.CLAIMED:
        raise TaskStateConflict("The task is not assigned to anyone.")
    previous_holder = task.claimed_by.get_username() if task.claimed_by else None
    _reopen(task)
    _audit(task, "task.unassigned", acting_user, previous_holder=previous_holder)
    return task


@transaction.atomic(durable=True)
def review_tasks_bulk_assign(
    *, queue: Queue, to_reviewer, count: int, acting_user
) -> list[ReviewTask]:
    """Assign the next ``count`` open tasks of the queue, in claim order, to one reviewer.

    ``SKIP LOCKED`` passes over tasks a reviewer is claiming at this moment, so the bulk
    assignment never waits behind (or steals from) a live claim.
    """
    _require_manager(acting_user, queue)
    _require_reviewer(to_reviewer, queue)
    if not 1 <= count <= MAX_BULK_ASSIGN:
        raise TaskActionInvalid({"count": [f"Assign between 1 and {MAX_BULK_ASSIGN} tasks."]})
    tasks = list(
        ReviewTask.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("queue__workflow")
        .filter(queue=queue, status=TaskStatus.OPEN)
        .order_by("-priority", "created_at", "id")[:count]
    )
    now = timezone.now()
    for task in tasks:
        _assign(task, to_reviewer, now)
        _audit(
            task,
            "task.reassigned",
            acting_user,
            to=to_reviewer.get_username(),
            previous_holder=None,
            bulk=True,
        )
    return tasks
