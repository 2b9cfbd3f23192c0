"""SLA writes: calendars, policies, ladders, pause and resume, and the sweep.

The sweep follows the deadline columns on ``ReviewTask``. Each phase takes a batch of due rows
with ``FOR UPDATE SKIP LOCKED`` (a concurrent sweep passes over them instead of waiting) and
changes the whole batch with one compare-and-swap ``UPDATE ... RETURNING`` on the column the
phase sets, so a second sweep, a redelivered Celery message or an older clock never acts twice;
escalations, notifications and audit events of a batch are inserted a statement each.
Escalation rungs are rows with a unique (task, step) pair: a rung fires once per task.
"""

from collections import defaultdict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from reviewapp.core.accounts.models import Membership, Role
from reviewapp.core.audit.services import AuditEntry, audit_record_many
from reviewapp.review.reviews.access import queue_managers
from reviewapp.review.reviews.claims import review_task_reopen
from reviewapp.review.reviews.events import task_audit_entry
from reviewapp.review.reviews.models import LIVE_STATUSES, Queue, ReviewTask, TaskStatus
from reviewapp.review.reviews.scoring import review_task_claim_score
from reviewapp.review.sla.calendar import WorkingCalendar, business_deadline
from reviewapp.review.sla.inbox import notifications_create
from reviewapp.review.sla.models import (
    Escalation,
    EscalationAction,
    EscalationStep,
    EscalationTrigger,
    Notification,
    NotificationKind,
)
from reviewapp.review.sla.notifications import (
    notifications_mail_pending,
    webhook_notification_add,
    webhook_notifications_enqueue_due,
)
from reviewapp.review.sla.selectors import queue_calendar

# Rows per sweep transaction. Audit events of one workflow serialise on its chain lock, so a
# smaller batch keeps reviewers' decisions from waiting long behind a sweep.
SWEEP_BATCH = 200
# Batches per phase per run: a backlog is worked off over a few beats instead of in one run.
SWEEP_MAX_BATCHES = 50

# Inside a sweep batch, task events are collected here and written at the end of the batch's
# transaction with one audit_record_many per chain: one chain lock and one insert per batch
# instead of three queries per event (a burst of breaches is thousands of events).
_sweep_audits: ContextVar[list[tuple[str, AuditEntry]] | None] = ContextVar(
    "sweep_audits", default=None
)


def _audit_task(task: ReviewTask, event: str, actor=None, /, **data) -> None:
    chain = task.queue.workflow.audit_chain
    entry = task_audit_entry(task, event, actor, **data)
    pending = _sweep_audits.get()
    if pending is not None:
        pending.append((chain, entry))
    else:
        audit_record_many([entry], chain=chain)


def _flush_sweep_audits(pending: list[tuple[str, AuditEntry]]) -> None:
    # Chains in name order, as the batch was sorted: two sweeps never wait in a circle.
    for chain, group in groupby(sorted(pending, key=lambda pair: pair[0]), key=lambda p: p[0]):
        audit_record_many([entry for _, entry in group], chain=chain)


@dataclass(frozen=True)
class SweepReport:
    at_risk: int
    breached: int
    escalated: int
    mailed: int
    idle_escalated: int = 0


class _Ladders:
    """Per-sweep cache of each queue (with its workflow and team), calendar and rungs."""

    def __init__(self) -> None:
        self._queues: dict[int, Queue] = {}
        self._calendars: dict[int, WorkingCalendar | None] = {}
        self._steps: dict[int, list[EscalationStep]] = {}
        self._team_leads: dict[int, list] = {}
        self._managers: dict[int, list] = {}

    def attach_queues(self, tasks: list[ReviewTask]) -> None:
        """Give each task its queue from the cache: a batch of a thousand tasks of one queue
        builds one Queue, not a thousand Queue, Workflow and Team objects."""
        missing = {task.queue_id for task in tasks} - self._queues.keys()
        if missing:
            for queue in Queue.objects.filter(pk__in=missing).select_related("workflow", "team"):
                self._queues[queue.pk] = queue
        for task in tasks:
            task.queue = self._queues[task.queue_id]

    def calendar(self, queue_id: int) -> WorkingCalendar | None:
        if queue_id not in self._calendars:
            self._calendars[queue_id] = queue_calendar(queue_id)
        return self._calendars[queue_id]

    def steps(self, queue_id: int) -> list[EscalationStep]:
        """The queue's breach rungs in order (idle-claim rungs have a phase of their own)."""
        if queue_id not in self._steps:
            self._steps[queue_id] = list(
                EscalationStep.objects.filter(queue_id=queue_id, trigger=EscalationTrigger.BREACH)
                .select_related("target_queue__workflow", "recipient")
                .order_by("position")
            )
        return self._steps[queue_id]

    def recipients(self, task: ReviewTask, step: EscalationStep) -> list:
        """Who a notifying rung tells: its named recipient, else the team's leads (cached per
        team: a burst notifies the same people about thousands of tasks)."""
        if step.recipient is not None:
            return [step.recipient]
        team_id = task.queue.team_id
        if team_id not in self._team_leads:
            self._team_leads[team_id] = _recipients(task, step)
        return self._team_leads[team_id]

    def managers(self, queue: Queue) -> list:
        """Who manages the queue, told of each breach in the app (cached per queue: a burst
        breaches many tasks of one queue)."""
        if queue.pk not in self._managers:
            self._managers[queue.pk] = list(queue_managers(queue))
        return self._managers[queue.pk]

    def next_rung(
        self, task: ReviewTask, fired: set[int]
    ) -> tuple[EscalationStep, datetime] | None:
        """The first rung of the task's queue that has not fired for it, and when it is due."""
        assert task.due_at is not None  # only breached tasks climb a ladder
        for step in self.steps(task.queue_id):
            if step.pk not in fired:
                calendar = self.calendar(task.queue_id)
                return step, business_deadline(task.due_at, step.after_minutes, calendar)
        return None


@dataclass
class _Tally:
    at_risk: int = 0
    breached: int = 0
    escalated: int = 0
    idle_escalated: int = 0

    def __iadd__(self, other: "_Tally") -> "_Tally":
        self.at_risk += other.at_risk
        self.breached += other.breached
        self.escalated += other.escalated
        self.idle_escalated += other.idle_escalated
        return self


@dataclass
class _Fired:
    """What the rungs fired in a batch did, written once the batch's task rows are."""

    notifications: list[Notification] = field(default_factory=list)
    # (escalation, task, step, queue it escalated from, queue the task is in after the rung)
    escalations: list[tuple[Escalation, ReviewTask, EscalationStep, Queue, Queue]] = field(
        default_factory=list
    )


def sla_sweep(*, batch_size: int = SWEEP_BATCH) -> SweepReport:
    """One pass: at risk, then breached, then due escalation rungs, then pending emails.

    Each phase finds the rows due for its own step through its partial index, and takes each
    locked row as far as the clock says in one go: a task found at risk that is also past due
    is breached and climbs its due rungs in the same batch, so a burst writes each row once.
    The later phases find the tasks that were further along already (at risk in an earlier
    sweep, breached before, ...).
    """
    now = timezone.now()
    ladders = _Ladders()
    tally = _Tally()
    live = ReviewTask.objects.filter(status__in=LIVE_STATUSES, paused_at__isnull=True)
    # Each filter repeats the condition of its partial index on ReviewTask (task_sla_*_idx).
    phases = [
        (
            live.filter(at_risk_at__isnull=True, warn_at__isnull=False, warn_at__lte=now).order_by(
                "warn_at"
            ),
            "at_risk_at",
        ),
        (
            live.filter(breached_at__isnull=True, due_at__isnull=False, due_at__lte=now).order_by(
                "due_at"
            ),
            "breached_at",
        ),
        (
            live.filter(next_escalation_at__isnull=False, next_escalation_at__lte=now).order_by(
                "next_escalation_at"
            ),
            None,
        ),
    ]
    for due, still_unset in phases:
        tally += _in_batches(
            due,
            lambda batch, still_unset=still_unset: _advance(  # type: ignore[misc]
                batch, now, ladders, still_unset=still_unset
            ),
            batch_size,
            ladders,
        )
    for step in _idle_steps():
        tally += _in_batches(
            _idle_claims(step, now),
            lambda batch, step=step: _Tally(  # type: ignore[misc]
                idle_escalated=sum(_fire_idle(task, step, now, ladders) for task in batch)
            ),
            batch_size,
            ladders,
        )
    webhook_notifications_enqueue_due()
    return SweepReport(
        tally.at_risk,
        tally.breached,
        tally.escalated,
        notifications_mail_pending(),
        idle_escalated=tally.idle_escalated,
    )


def _idle_steps() -> list[EscalationStep]:
    return list(
        EscalationStep.objects.filter(trigger=EscalationTrigger.IDLE_CLAIM)
        .select_related("target_queue__workflow", "recipient")
        .order_by("queue_id", "position")
    )


def _idle_claims(step: EscalationStep, now: datetime) -> QuerySet[ReviewTask]:
    """Claimed tasks of the step's queue whose holder went quiet, the rung not yet fired.

    Claimed rows are few (at most the reviewers' caps), and task_claimed_by_idx holds only
    them, so this stays small however many tasks are open. Unlike breach rungs, an idle rung
    does not wait for the SLA clock: a paused task can still be abandoned.
    """
    return (
        ReviewTask.objects.filter(
            queue_id=step.queue_id,
            status=TaskStatus.CLAIMED,
            last_seen_at__lte=now - timedelta(minutes=step.after_minutes),
        )
        .exclude(escalations__step=step)
        .order_by("last_seen_at", "pk")
    )


def _fire_idle(task: ReviewTask, step: EscalationStep, now: datetime, ladders: _Ladders) -> int:
    """Fire an idle-claim rung once for the task (the unique (task, step) row decides)."""
    if task.status != TaskStatus.CLAIMED:
        return 0
    escalation, created = Escalation.objects.get_or_create(
        task=task,
        step=step,
        defaults={"level": task.escalation_level + 1, "fired_at": now},
    )
    if not created:
        return 0
    idle_since = task.last_seen_at
    holder = task.claimed_by_id
    source_queue = task.queue
    task.escalation_level = escalation.level
    fired = _Fired()
    escalation.detail = _act(task, step, now, ladders, fired, idle_since=idle_since)
    escalation.save(update_fields=["detail"])
    notifications_create(fired.notifications)
    _audit_task(
        task,
        "task.escalated",
        step=step.position,
        trigger=step.trigger,
        action=step.action,
        level=escalation.level,
        from_queue=source_queue.slug,
        idle_since=idle_since.isoformat() if idle_since else None,
        holder=holder,
        **escalation.detail,
    )
    ReviewTask.objects.filter(pk=task.pk).update(
        escalation_level=task.escalation_level,
        priority=task.priority,
        queue=task.queue,
        claim_score=review_task_claim_score(task),
    )
    webhook_notification_add(escalation, task, step, source_queue, now)
    return 1


def _in_batches(
    due: QuerySet[ReviewTask],
    handle: Callable[[list[ReviewTask]], _Tally],
    batch_size: int,
    ladders: _Ladders,
) -> _Tally:
    """Lock up to ``batch_size`` due rows per transaction and hand them to ``handle`` at once:
    a batch is changed with a few set-based statements, not a few per task."""
    tally = _Tally()
    for _ in range(SWEEP_MAX_BATCHES):
        with transaction.atomic(durable=True):
            batch = list(due.select_for_update(skip_locked=True, of=("self",))[:batch_size])
            ladders.attach_queues(batch)
            # Audit chains lock in the order they are first written; writing them in name
            # order in every sweep means two sweeps can never wait on each other in a circle.
            batch.sort(key=lambda task: (task.queue.workflow.audit_chain, task.pk))
            pending: list[tuple[str, AuditEntry]] = []
            token = _sweep_audits.set(pending)
            try:
                if batch:
                    tally += handle(batch)
            finally:
                _sweep_audits.reset(token)
            _flush_sweep_audits(pending)
        if len(batch) < batch_size:
            break
    return tally


def _advance(
    batch: list[ReviewTask], now: datetime, ladders: _Ladders, *, still_unset: str | None
) -> _Tally:
    """Take each locked task of the batch as far as ``now`` says: at risk, breached, every rung
    that is due. Then one UPDATE for the batch's rows and one INSERT per kind of row fired."""
    tally = _Tally()
    fired_steps: dict[int, set[int]] = defaultdict(set)
    for task_id, step_id in Escalation.objects.filter(task__in=batch).values_list(
        "task_id", "step_id"
    ):
        fired_steps[task_id].add(step_id)
    fired = _Fired()
    for task in batch:
        tally.at_risk += _mark_at_risk(task, now)
        tally.breached += _mark_breached(task, now, ladders, fired)
        tally.escalated += _climb(task, now, ladders, fired_steps[task.pk], fired)
        task.claim_score = review_task_claim_score(task)
    changed = _tasks_update(
        batch,
        still_unset=still_unset,
        each={
            column: {task.pk: getattr(task, column) for task in batch}
            for column in (
                "at_risk_at",
                "breached_at",
                "next_escalation_at",
                "escalation_level",
                "priority",
                "queue_id",
                "claim_score",
            )
        },
    )
    if len(changed) != len(batch):
        # The rows are locked and were read under the lock, so this cannot happen while locks
        # hold; if it does, nothing of the batch is written (the transaction rolls back).
        raise RuntimeError(f"{len(batch) - len(changed)} locked task(s) changed under the sweep")
    Escalation.objects.bulk_create([row[0] for row in fired.escalations])
    notifications_create(fired.notifications)
    for escalation, task, step, source_queue, now_in_queue in fired.escalations:
        webhook_notification_add(escalation, task, step, source_queue, now, now_in=now_in_queue)
    return tally


def _tasks_update(
    batch: list[ReviewTask], *, still_unset: str | None, each: dict[str, dict]
) -> set[int]:
    """One ``UPDATE ... WHERE id IN (batch) AND <still_unset> IS NULL ... RETURNING id``.

    ``each`` gives every column a value per task id (a ``CASE`` on the id, or one value when
    all are the same). The rows are locked by this transaction already; the compare-and-swap
    on ``still_unset`` keeps a step idempotent where locks are not (SQLite) or when a
    redelivered sweep runs with an older clock, and RETURNING names the rows that changed.
    Column names come from this module, never from input. (Django's ``bulk_update`` writes a
    similar statement but builds a CASE branch per row and field, in Python, every time.)
    """
    ops = connection.ops

    def adapt(value: Any) -> Any:
        return ops.adapt_datetimefield_value(value) if isinstance(value, datetime) else value

    assignments: list[str] = []
    params: list[Any] = []
    for column, values in each.items():
        quoted = ops.quote_name(column)
        distinct = set(values.values())
        if len(distinct) == 1:  # e.g. the sweep's moment: one parameter, not one per task
            assignments.append(f"{quoted} = %s")
            params.append(adapt(distinct.pop()))
            continue
        # ELSE the column itself: its type decides the CASE's type even if every value is NULL.
        whens = " ".join("WHEN %s THEN %s" for _ in values)
        assignments.append(f"{quoted} = CASE {ops.quote_name('id')} {whens} ELSE {quoted} END")
        for task_id, value in values.items():
            params.extend([task_id, adapt(value)])
    ids = [task.pk for task in batch]
    sql = (
        f"UPDATE {ops.quote_name(ReviewTask._meta.db_table)} SET {', '.join(assignments)} "  # noqa: S608
        f"WHERE {ops.quote_name('id')} IN ({', '.join(['%s'] * len(ids))}) "
        + (f"AND {ops.quote_name(still_unset)} IS NULL " if still_unset else "")
        + f"RETURNING {ops.quote_name('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *ids])
        return {row[0] for row in cursor.fetchall()}


def _mark_at_risk(task: ReviewTask, now: datetime) -> int:
    if task.at_risk_at is not None or task.warn_at is None or task.warn_at > now:
        return 0
    task.at_risk_at = now
    _audit_task(
        task,
        "task.at_risk",
        warn_at=task.warn_at.isoformat(),
        due_at=task.due_at.isoformat() if task.due_at else None,
    )
    return 1


def _mark_breached(task: ReviewTask, now: datetime, ladders: _Ladders, fired: _Fired) -> int:
    if task.breached_at is not None or task.due_at is None or task.due_at > now:
        return 0
    # In the app only: the ladder's notifying rungs are the ones that also mail.
    fired.notifications.extend(
        Notification(
            recipient=user,
            kind=NotificationKind.TASK_BREACHED,
            task=task,
            message=f"Task {task.pk} in {task.queue.name} is past due: it breached its SLA.",
            created_at=now,
        )
        for user in ladders.managers(task.queue)
    )
    rung = ladders.next_rung(task, fired=set())
    task.next_escalation_at = rung[1] if rung else None
    task.at_risk_at = task.at_risk_at or now
    task.breached_at = now
    _audit_task(
        task, "task.breached", due_at=task.due_at.isoformat(), claimed_by=task.claimed_by_id
    )
    return 1


def _climb(
    task: ReviewTask, now: datetime, ladders: _Ladders, done: set[int], fired: _Fired
) -> int:
    """Fire every rung that is due for the task; leave ``next_escalation_at`` at the next one.

    The task row is locked and ``done`` (the rungs fired for it) was read under that lock, so
    no other sweep can fire a rung meanwhile. The unique (task, step) pair stays the last line
    of defence: a duplicate would roll the whole batch back, never act twice.
    """
    if task.next_escalation_at is None or task.next_escalation_at > now:
        return 0
    count = 0
    while True:
        rung = ladders.next_rung(task, done)
        if rung is None or rung[1] > now:
            break
        step = rung[0]
        done.add(step.pk)
        task.escalation_level += 1
        source_queue = task.queue
        escalation = Escalation(
            task=task,
            step=step,
            level=task.escalation_level,
            fired_at=now,
            detail=_act(task, step, now, ladders, fired),
        )
        _audit_task(
            task,
            "task.escalated",
            step=step.position,
            trigger=step.trigger,
            action=step.action,
            level=escalation.level,
            from_queue=source_queue.slug,
            **escalation.detail,
        )
        fired.escalations.append((escalation, task, step, source_queue, task.queue))
        count += 1
    task.next_escalation_at = rung[1] if rung else None
    return count


def _act(
    task: ReviewTask,
    step: EscalationStep,
    now: datetime,
    ladders: _Ladders,
    fired: _Fired,
    *,
    idle_since: datetime | None = None,
) -> dict[str, Any]:
    """Carry out one rung on the locked task; returns what was done, for the record.

    Notifications go to ``fired`` for the caller to insert together.
    """
    if step.action == EscalationAction.RAISE_PRIORITY:
        task.priority += step.priority_boost
        return {"priority": task.priority}
    if step.action == EscalationAction.UNCLAIM:
        holder = task.claimed_by_id if task.status == TaskStatus.CLAIMED else None
        if holder is not None:
            review_task_reopen(task=task)
        return {"previous_holder": holder}
    if step.action == EscalationAction.MOVE_TO_QUEUE:
        assert step.target_queue is not None  # escalation_step_add insists on one
        holder = task.claimed_by_id if task.status == TaskStatus.CLAIMED else None
        if holder is not None:  # the holder may not review in the escalation queue
            review_task_reopen(task=task)
        task.queue = step.target_queue
        return {"to_queue": step.target_queue.slug, "previous_holder": holder}
    recipients = ladders.recipients(task, step)
    if idle_since is not None:
        message = (
            f"Task {task.pk} in {task.queue.name} is claimed but has seen no activity since "
            f"{idle_since:%Y-%m-%d %H:%M} UTC (escalation level {task.escalation_level})."
        )
    else:
        message = (
            f"Task {task.pk} in {task.queue.name} has been past due since "
            f"{task.due_at:%Y-%m-%d %H:%M} UTC (escalation level {task.escalation_level})."
        )
    fired.notifications.extend(
        Notification(
            recipient=user,
            kind=NotificationKind.TASK_ESCALATED,
            task=task,
            message=message,
            created_at=now,
            email_to=user.email,
        )
        for user in recipients
    )
    return {"notified": sorted(user.get_username() for user in recipients)}


def _recipients(task: ReviewTask, step: EscalationStep) -> list:
    if step.recipient is not None:
        return [step.recipient]
    # No team-lead role exists yet: a team's managers lead it.
    user_ids = Membership.objects.filter(team_id=task.queue.team_id, role=Role.MANAGER).values_list(
        "user_id", flat=True
    )
    return list(get_user_model().objects.filter(pk__in=user_ids, is_active=True).order_by("pk"))
