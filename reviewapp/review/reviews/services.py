"""Review tasks: open, claim (atomic, leased), extend, release, skip, decide (fenced by the claim
token)."""

import math
import re
import uuid
from datetime import timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    Field,
    FloatField,
    OuterRef,
    Q,
    Value,
    When,
)
from django.db.models.functions import Cast
from django.utils import timezone

from reviewapp.core.accounts.models import ReviewerProfile
from reviewapp.core.accounts.validators import cap_errors, tags_errors
from reviewapp.core.audit.services import AuditEntry, audit_record, audit_record_many
from reviewapp.core.errors import Conflict, Forbidden, InvalidRequest
from reviewapp.review.corrections.services import correction_record, reason_codes_for
from reviewapp.review.reviews import hooks
from reviewapp.review.reviews.compiled import MARKER_IDS, MARKER_TIME, compiled, hot_cursor
from reviewapp.review.reviews.models import (
    LIVE_STATUSES,
    Decision,
    DecisionOutcome,
    Queue,
    ReviewTask,
    TaskSkip,
    TaskStatus,
)
from reviewapp.review.sla.selectors import sla_clock_for
from workflows import seams
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


def task_audit_entry(task: ReviewTask, action: str, actor=None, /, **data) -> AuditEntry:
    """How every event of a review task is recorded (reviews, SLA, quality): the item and the
    queue beside what the event itself adds."""
    return AuditEntry(
        action=action,
        obj=task,
        actor=actor,
        data={"item": task.item_id, "queue": task.queue.slug, **data},
    )


def task_audit(task: ReviewTask, action: str, actor=None, /, **data) -> None:
    """Record one task event in the task's workflow chain, inside the caller's transaction."""
    audit_record_many(
        [task_audit_entry(task, action, actor, **data)], chain=task.queue.workflow.audit_chain
    )


# --- the claim score ------------------------------------------------------------------------

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


def _item_language(item, queue: Queue) -> str:
    if not queue.language_field or not isinstance(item.input, dict):
        return ""
    value = item.input.get(queue.language_field)
    return value.strip().lower()[:35] if isinstance(value, str) else ""


def _item_uncertainty(item) -> float:
    try:
        confidence = item.prediction.confidence
    except ObjectDoesNotExist:  # nothing the model said: as unsure as it gets
        return 1.0
    return min(1.0, max(0.0, 1.0 - float(confidence)))


def review_task_open(*, item, queue_slug: str, priority: int = 0) -> ReviewTask:
    """Runs inside the route step's transaction: the item and its task appear together."""
    (task,) = review_tasks_open(openings=[(item, queue_slug, priority)])
    return task


def review_tasks_open(*, openings: list[tuple[Any, str, int]]) -> list[ReviewTask]:
    """``review_task_open`` for many ``(item, queue slug, priority)`` at once (the route step
    of a pipeline batch): each queue and its SLA clock are read once, the tasks are inserted
    together and their events appended to the audit chain with one lock."""
    now = timezone.now()
    queues = {
        queue.slug: queue
        for queue in Queue.objects.select_related("workflow").filter(
            slug__in={slug for _, slug, _ in openings}
        )
    }
    clocks = {
        slug: sla_clock_for(queue_id=queue.pk, opened_at=now) for slug, queue in queues.items()
    }
    tasks = []
    for item, queue_slug, priority in openings:
        queue, clock = queues[queue_slug], clocks[queue_slug]
        task = ReviewTask(
            item=item,
            queue=queue,
            priority=priority,
            due_at=clock.due_at,
            warn_at=clock.warn_at,
            uncertainty=_item_uncertainty(item),
            language=_item_language(item, queue),
        )
        task.claim_score = review_task_claim_score(task)
        tasks.append(task)
    ReviewTask.objects.bulk_create(tasks)
    opened: dict[str, list[AuditEntry]] = {}
    for task in tasks:
        opened.setdefault(task.queue.workflow.audit_chain, []).append(
            task_audit_entry(task, "task.opened", priority=task.priority)
        )
    for chain in sorted(opened):
        audit_record_many(opened[chain], chain=chain)
    # A four-eyes item's second task and, at the queue's gold rate, a gold task open beside it.
    hooks.tasks_opened(tasks=tasks)
    # Items that now have more than one task (four-eyes pairs, a senior task): their tasks
    # carry shares_item, so the claim probes "not an item you hold or decided" only for them.
    shared = set(
        ReviewTask.objects.filter(item_id__in={task.item_id for task in tasks})
        .values("item_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("item_id", flat=True)
    )
    if shared:
        ReviewTask.objects.filter(item_id__in=shared, shares_item=False).update(shares_item=True)
        for task in tasks:
            task.shares_item = task.item_id in shared
    return tasks


# --- claim: capacity, skills, languages -------------------------------------------------------


class CapacityReached(Conflict):
    """The reviewer (or the assignee) already holds as many tasks as they may."""


class SkillsMissing(Forbidden):
    """The queue needs skills the reviewer does not have."""


def _locked_profile(user) -> ReviewerProfile:
    """The user's profile, locked: one reviewer's claims and assignments take turns on it, so
    two of them can never both see room under a cap and both take a task."""
    query = compiled(
        ("locked_profile",),
        lambda user: ReviewerProfile.objects.select_for_update().filter(user_id=user)[:1],
        user=MARKER_IDS[0],
    )
    profile = query.first(user=user.pk)
    if profile is None:  # the reviewer's first claim or assignment
        profile, _ = ReviewerProfile.objects.select_for_update().get_or_create(user=user)
    return cast(ReviewerProfile, profile)


def _missing_skills(queue: Queue, profile: ReviewerProfile) -> list[str]:
    return sorted(set(queue.required_skills) - set(profile.skills))


def _room_left(queue: Queue, reviewer, profile: ReviewerProfile, now) -> int | None:
    """How many more tasks of ``queue`` the reviewer may hold (``None``: no cap applies).

    Counts live claims only: an expired lease is anyone's to take (the claim takes those too).
    """
    live = ReviewTask.objects.filter(
        claimed_by=reviewer, status=TaskStatus.CLAIMED, lease_expires_at__gt=now
    )
    rooms = []
    if profile.max_claims is not None:
        rooms.append(profile.max_claims - live.count())
    if queue.max_claims_per_reviewer is not None:
        rooms.append(queue.max_claims_per_reviewer - live.filter(queue=queue).count())
    return max(0, min(rooms)) if rooms else None


def _claimable_by(reviewer, profile: ReviewerProfile, queue: Queue, *, honour_skips: bool = True):
    """Tasks of ``queue`` the reviewer may be given, locked as they are read, whoever else asks.

    Leaves out tasks the reviewer skipped (unless a manager assigns them: ``honour_skips``),
    tasks in a language they do not read, and tasks of an item they hold or decided another
    task of (four-eyes: two tasks of one item go to two people). Each rule is a filter on the
    row or an indexed ``NOT EXISTS`` probe (task_skip_idx, task_item_holder_idx), so the claim
    still walks task_claim_order_idx.
    """
    skipped = TaskSkip.objects.filter(task=OuterRef("pk"), reviewer=reviewer)
    same_item = ReviewTask.objects.filter(
        item=OuterRef("item"),
        claimed_by=reviewer,
        status__in=[TaskStatus.CLAIMED, TaskStatus.DECIDED],
    ).exclude(pk=OuterRef("pk"))
    tasks = (
        ReviewTask.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(queue=queue)
        # Written as an OR, PostgreSQL runs the probe per candidate and only for tasks that
        # share their item; a plain NOT EXISTS becomes an anti-join the planner may serve by
        # reading every task the reviewer ever decided.
        .filter(Q(shares_item=False) | ~Exists(same_item))
    )
    if honour_skips:
        tasks = tasks.filter(~Exists(skipped))
    if queue.language_field:
        # A task whose item names no language is anyone's.
        tasks = tasks.filter(Q(language="") | Q(language__in=profile.languages))
    return tasks


CLAIM_FIELDS = [
    "status",
    "claimed_by",
    "claim_token",
    "claimed_at",
    "last_seen_at",
    "lease_expires_at",
]
CLAIM_ORDER = ("-claim_score", F("due_at").asc(nulls_last=True), "created_at", "id")


def _claim_next(
    reviewer, profile: ReviewerProfile, queue: Queue, claim: dict[str, Any]
) -> ReviewTask | None:
    """Lock the next open task the reviewer may take and write ``claim`` into it, in one
    statement.

    ``UPDATE ... WHERE id = (SELECT ... LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING ...``: the
    select and the write of the claim are one round trip instead of two (the claim is the
    hottest write there is). The subquery is the ORM's own SQL for ``_claimable_by`` in claim
    order, compiled once per shape of the rules (see ``reviews.compiled``), so the rules and
    the claim order stay written once.
    """
    languages = tuple(profile.languages) if queue.language_field else ()
    candidates = compiled(
        ("claim_next", queue.language_field != "", languages),
        lambda reviewer_id, queue_id: (
            _claimable_by(
                reviewer_id, profile, Queue(pk=queue_id, language_field=queue.language_field)
            )
            .filter(status=TaskStatus.OPEN)
            .order_by(*CLAIM_ORDER)
            .values("pk")[:1]
        ),
        reviewer_id=MARKER_IDS[0],
        queue_id=MARKER_IDS[1],
    )
    task_row = _task_row()
    assignments, values = [], []
    for name, value in claim.items():
        field = cast(Field, ReviewTask._meta.get_field(name))
        if name == "claimed_by":
            value = value.pk
        assignments.append(f"{connection.ops.quote_name(str(field.column))} = %s")
        values.append(field.get_db_prep_save(value, connection))
    table = connection.ops.quote_name(ReviewTask._meta.db_table)
    returning = ", ".join(
        connection.ops.quote_name(str(field.column)) for field in ReviewTask._meta.concrete_fields
    )
    # Built from model metadata and the ORM's compiled SQL; every value is a parameter.
    sql = (
        f"UPDATE {table} SET {', '.join(assignments)} "  # noqa: S608
        f"WHERE {connection.ops.quote_name('id')} = ({candidates.sql}) RETURNING {returning}"
    )
    with hot_cursor() as cursor:
        cursor.execute(
            sql, [*values, *candidates.bind({"reviewer_id": reviewer.pk, "queue_id": queue.pk})]
        )
        row = cursor.fetchone()
    return None if row is None else cast(ReviewTask, task_row.instance(row))


def _task_row():
    """How a row of every ReviewTask column (in field order) becomes a ReviewTask."""
    return compiled(
        ("task_row",), lambda task: ReviewTask.objects.filter(pk=task)[:1], task=MARKER_IDS[0]
    )


@transaction.atomic(durable=True)
def review_task_claim(*, queue: Queue, reviewer) -> ReviewTask | None:
    """Hand the reviewer the next task of the queue, or the one they already hold.

    The next task is the open one with the highest ``claim_score`` (see ``claim_score``) among
    those the reviewer may take (``_claimable_by``). Refuses with ``SkillsMissing`` (403) when
    the queue needs skills the reviewer lacks and ``CapacityReached`` (409) when they hold as
    many tasks as their cap (or the queue's) allows.

    ``SKIP LOCKED`` lets concurrent reviewers pass over each other's candidate rows instead of
    queueing behind them; on SQLite (no row locks) the IMMEDIATE transaction serialises claims.
    """
    now = timezone.now()
    profile = _locked_profile(reviewer)
    # The hot path of every reviewer: the caller's queue (with its workflow) is attached to
    # the task instead of joined again, so a claim is profile, held?, next, update, audit.
    held = compiled(
        ("held",),
        lambda queue, reviewer, now: ReviewTask.objects.filter(
            queue_id=queue,
            status=TaskStatus.CLAIMED,
            claimed_by_id=reviewer,
            lease_expires_at__gt=now,
        ).order_by("claimed_at")[:1],
        queue=MARKER_IDS[0],
        reviewer=MARKER_IDS[1],
        now=MARKER_TIME,
    ).first(queue=queue.pk, reviewer=reviewer.pk, now=now)
    if held is not None:
        held = cast(ReviewTask, held)
        held.queue = queue
        return held
    missing = _missing_skills(queue, profile)
    if missing:
        raise SkillsMissing(f"{queue.name} needs skills you do not have yet: {', '.join(missing)}.")
    if _room_left(queue, reviewer, profile, now) == 0:
        raise CapacityReached(
            "You hold as many tasks as you may at once; decide or release one first."
        )
    claim = {
        "status": TaskStatus.CLAIMED,
        "claimed_by": reviewer,
        "claim_token": uuid.uuid4(),
        "claimed_at": now,
        "last_seen_at": now,
        "lease_expires_at": now + settings.REVIEWAPP_LEASE,
    }
    # Open tasks first (served by task_claim_order_idx), then claims whose lease ran out:
    # those are claimable at once, the sweep only tidies up the ones nobody asks for.
    task = _claim_next(reviewer, profile, queue, claim)
    previous_holder = None
    if task is None:
        task = (
            _claimable_by(reviewer, profile, queue)
            .filter(status=TaskStatus.CLAIMED, lease_expires_at__lte=now)
            .order_by("lease_expires_at", "id")
            .first()
        )
        if task is None:
            return None
        previous_holder = task.claimed_by_id
        for name, value in claim.items():
            setattr(task, name, value)
        task.save(update_fields=CLAIM_FIELDS)
    task.queue = queue
    task_audit(
        task,
        "task.claimed",
        reviewer,
        lease_expires_at=claim["lease_expires_at"].isoformat(),
        taken_over_from=previous_holder,
    )
    return task


@transaction.atomic(durable=True)
def review_task_release(*, task: ReviewTask, reviewer, claim_token) -> ReviewTask:
    task = _locked_claim(task, reviewer, claim_token)
    _reopen(task)
    task_audit(task, "task.released", reviewer)
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
    now = timezone.now()
    task.last_seen_at = now  # a sign of life: idle-claim rungs count from here
    fields = ["last_seen_at"]
    extended = now + settings.REVIEWAPP_LEASE
    if task.lease_expires_at is None or extended > task.lease_expires_at:
        task.lease_expires_at = extended
        fields.append("lease_expires_at")
    task.save(update_fields=fields)
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
    task_audit(task, "task.skipped", reviewer, reason=reason)
    return task


def _reopen(task: ReviewTask) -> None:
    task.status = TaskStatus.OPEN
    task.claimed_by = None
    task.claim_token = None
    task.claimed_at = None
    task.last_seen_at = None
    task.lease_expires_at = None
    task.save(update_fields=CLAIM_FIELDS)


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
            task_audit(task, "task.lease_expired", previous_holder=holder)
            released += 1
    return released


def _locked_claim(task: ReviewTask, reviewer, claim_token, *related: str) -> ReviewTask:
    """Re-read the task under lock and insist the caller holds its current, live claim.

    ``related``: more relations to read in the same query (the decision's item, prediction
    and gold showing).
    """
    locked = compiled(
        ("locked_claim", *related),
        lambda task: (
            ReviewTask.objects.select_for_update(of=("self",))
            .select_related("queue__workflow", *related)
            .filter(pk=task)[:1]
        ),
        task=MARKER_IDS[0],
    ).first(task=task.pk)
    if locked is None:
        raise ReviewTask.DoesNotExist("The task does not exist.")
    locked = cast(ReviewTask, locked)
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
    # One locked read brings everything an accept needs: the item, its prediction and whether
    # the task shows a gold item (LEFT JOINs; only the task row is locked).
    related = ["item__prediction", "gold__gold_item"]
    if outcome in (DecisionOutcome.CORRECT, DecisionOutcome.REJECT):
        related.append("item__prediction__model_version")  # named in the Correction
    task = _locked_claim(task, reviewer, claim_token, *related)
    item = task.item
    prediction = item.prediction
    reason_codes = reason_codes or []
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
    if effects.labeled and outcome in (DecisionOutcome.CORRECT, DecisionOutcome.REJECT):
        # Both are labeled data: a correction says what is right, a rejection (empty human
        # output) says the model should not have answered at all, and why.
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
    return decision


@transaction.atomic
def queue_create(*, team, workflow, slug: str, name: str, acting_user=None) -> Queue:
    from reviewapp.core.permissions import team_grant_object_permissions

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


# --- queue settings: claim weights, skills, languages, caps, notification webhook -------------

CLAIM_SETTING_FIELDS = (
    "urgency_weight",
    "priority_weight",
    "uncertainty_weight",
    "required_skills",
    "language_field",
    "max_claims_per_reviewer",
    "notify_webhook_url",
    "notify_webhook_secret_env",
)
ENV_NAME_PATTERN = re.compile(r"^[A-Z_][A-Z0-9_]{0,99}$")


class QueueSettingsInvalid(InvalidRequest):
    detail = "The queue settings are not valid."


def _settings_errors(queue: Queue, changes: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(changes) - set(CLAIM_SETTING_FIELDS))
    for name in unknown:
        errors[name] = ["Not a setting of the queue."]
    for name in ("urgency_weight", "priority_weight", "uncertainty_weight"):
        if name in changes:
            value = changes[name]
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not math.isfinite(value)
                or not 0 <= value <= MAX_WEIGHT
            ):
                errors[name] = [f"Give a weight from 0 to {MAX_WEIGHT:g}."]
    if "required_skills" in changes:
        changes["required_skills"], messages = tags_errors(changes["required_skills"], "skills")
        if messages:
            errors["required_skills"] = messages
    if "language_field" in changes:
        field = changes["language_field"]
        version = queue.workflow.current_version
        schema = version.definition.get("input_schema", {}) if version is not None else {}
        properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
        if not isinstance(field, str):
            errors["language_field"] = ["Name an input field of the workflow, or leave it empty."]
        elif field and properties and field not in properties:
            errors["language_field"] = [
                f"The workflow's input has no field {field!r} "
                f"(it has {', '.join(sorted(properties))})."
            ]
    if "max_claims_per_reviewer" in changes and cap_errors(changes["max_claims_per_reviewer"]):
        errors["max_claims_per_reviewer"] = cap_errors(changes["max_claims_per_reviewer"])
    if "notify_webhook_url" in changes:
        url = changes["notify_webhook_url"]
        if not isinstance(url, str) or (
            url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname)
        ):
            errors["notify_webhook_url"] = ["Give an http(s) URL, or leave it empty."]
    if "notify_webhook_secret_env" in changes:
        name = changes["notify_webhook_secret_env"]
        if not isinstance(name, str) or (name and not ENV_NAME_PATTERN.match(name)):
            errors["notify_webhook_secret_env"] = [
                "Name the environment variable holding the signing secret (A-Z, 0-9, _)."
            ]
    url = changes.get("notify_webhook_url", queue.notify_webhook_url)
    secret_env = changes.get("notify_webhook_secret_env", queue.notify_webhook_secret_env)
    if url and not secret_env and "notify_webhook_secret_env" not in errors:
        errors["notify_webhook_secret_env"] = ["A webhook needs the name of its signing secret."]
    return errors


@transaction.atomic(durable=True)
def queue_claim_settings_set(*, queue: Queue, acting_user, changes: dict[str, Any]) -> Queue:
    """Change how the queue hands out tasks (and where its escalations are POSTed).

    A change of weights re-scores the queue's live tasks in one UPDATE, so the next claim
    already follows the new weights. A new ``language_field`` applies to tasks opened from now.
    """
    _require_manager(acting_user, queue)
    queue = Queue.objects.select_for_update().select_related("workflow").get(pk=queue.pk)
    changes = dict(changes)
    errors = _settings_errors(queue, changes)
    if errors:
        raise QueueSettingsInvalid(errors)
    before = {name: getattr(queue, name) for name in changes}
    for name, value in changes.items():
        setattr(queue, name, value.strip() if isinstance(value, str) else value)
    queue.save(update_fields=list(changes))
    if {"urgency_weight", "priority_weight", "uncertainty_weight"} & set(changes):
        ReviewTask.objects.filter(queue=queue, status__in=LIVE_STATUSES).update(
            claim_score=claim_score_expression(queue)
        )
    audit_record(
        action="queue.settings_changed",
        obj=queue,
        actor=acting_user,
        chain=queue.workflow.audit_chain,
        data={
            "queue": queue.slug,
            "before": before,
            "after": {name: getattr(queue, name) for name in changes},
        },
    )
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
    from reviewapp.core.permissions import MANAGE_QUEUE, user_can

    if not user_can(acting_user, MANAGE_QUEUE, queue):
        raise PermissionDenied("You do not manage this queue.")


def _require_reviewer(reviewer, queue: Queue) -> None:
    from reviewapp.core.permissions import REVIEW_QUEUE, user_can

    if reviewer is None or not reviewer.is_active or not user_can(reviewer, REVIEW_QUEUE, queue):
        raise TaskActionInvalid({"reviewer": ["This person cannot review tasks of this queue."]})


def _require_fit(reviewer, queue: Queue, now, *, count: int, except_task=None) -> ReviewerProfile:
    """Refuse an assignment the reviewer lacks the skills or the room for; lock their profile.

    A task the reviewer already holds (``except_task``) does not count against the room.
    """
    profile = _locked_profile(reviewer)
    name = reviewer.get_username()
    missing = _missing_skills(queue, profile)
    if missing:
        raise TaskActionInvalid(
            {"reviewer": [f"{name} lacks skills this queue needs: {', '.join(missing)}."]}
        )
    room = _room_left(queue, reviewer, profile, now)
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
    _require_manager(acting_user, task.queue)
    task = _locked_live_task(task)
    _require_reviewer(to_reviewer, task.queue)
    now = timezone.now()
    profile = _require_fit(to_reviewer, task.queue, now, count=1, except_task=task)
    fits = _claimable_by(to_reviewer, profile, task.queue, honour_skips=False)
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
    _require_manager(acting_user, task.queue)
    task = _locked_live_task(task)
    if task.status != TaskStatus.CLAIMED:
        raise TaskStateConflict("The task is not assigned to anyone.")
    previous_holder = task.claimed_by.get_username() if task.claimed_by else None
    _reopen(task)
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
    _require_manager(acting_user, queue)
    _require_reviewer(to_reviewer, queue)
    if not 1 <= count <= MAX_BULK_ASSIGN:
        raise TaskActionInvalid({"count": [f"Assign between 1 and {MAX_BULK_ASSIGN} tasks."]})
    now = timezone.now()
    profile = _require_fit(to_reviewer, queue, now, count=count)
    tasks = list(
        _claimable_by(to_reviewer, profile, queue, honour_skips=False)
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
