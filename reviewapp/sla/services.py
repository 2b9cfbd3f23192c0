"""SLA writes: calendars, policies, ladders, pause and resume, and the sweep.

The sweep follows the deadline columns on ``ReviewTask``. Each phase takes a batch of due rows
with ``FOR UPDATE SKIP LOCKED`` (a concurrent sweep passes over them instead of waiting) and
changes each row with a compare-and-swap ``UPDATE`` on the column it sets, so a second sweep,
a redelivered Celery message or an older clock never acts twice. Escalation rungs are rows
with a unique (task, step) pair: a rung acts only when its row was created here.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from reviewapp.accounts.models import Membership, Role
from reviewapp.audit.services import audit_record
from reviewapp.errors import Conflict, InvalidRequest
from reviewapp.reviews.models import LIVE_STATUSES, Queue, ReviewTask, TaskStatus
from reviewapp.reviews.services import _reopen
from reviewapp.sla.calendar import (
    WorkingCalendar,
    business_add,
    business_deadline,
    business_time_between,
    calendar_errors,
)
from reviewapp.sla.models import (
    BusinessCalendar,
    Escalation,
    EscalationAction,
    EscalationStep,
    Notification,
    NotificationKind,
    SlaPolicy,
)
from reviewapp.sla.selectors import queue_calendar

logger = logging.getLogger(__name__)

# Longest target a policy may set: beyond a year the number is a typo, not a service level.
MAX_TARGET_MINUTES = 366 * 24 * 60
MAX_REASON_LENGTH = 500
# Rows per sweep transaction. Audit events of one workflow serialise on its chain lock, so a
# smaller batch keeps reviewers' decisions from waiting long behind a sweep.
SWEEP_BATCH = 200
# Batches per phase per run: a backlog is worked off over a few beats instead of in one run.
SWEEP_MAX_BATCHES = 50


class SlaInvalid(InvalidRequest):
    """A calendar, policy, ladder step or pause that makes no sense."""

    detail = "The SLA settings are not valid."


class SlaConflict(Conflict):
    """The task is not in a state where its clock can change that way."""


# --- configuration ------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def business_calendar_save(
    *,
    name: str,
    time_zone: str,
    working_hours: dict,
    holidays: list[str] | None = None,
    calendar: BusinessCalendar | None = None,
    acting_user=None,
) -> BusinessCalendar:
    """Create a calendar, or replace the settings of ``calendar``. Refuses nonsense."""
    holidays = [] if holidays is None else holidays
    errors = calendar_errors(time_zone=time_zone, working_hours=working_hours, holidays=holidays)
    name = (name or "").strip()
    if not name:
        errors["name"] = ["Give the calendar a name."]
    elif (
        BusinessCalendar.objects.filter(name=name)
        .exclude(pk=calendar.pk if calendar else 0)
        .exists()
    ):
        errors["name"] = [f"There is already a calendar called {name!r}."]
    if errors:
        raise SlaInvalid(errors)
    if calendar is None:
        calendar = BusinessCalendar()
    calendar.name = name
    calendar.time_zone = time_zone
    calendar.working_hours = {day: ranges for day, ranges in working_hours.items() if ranges}
    calendar.holidays = sorted({date.fromisoformat(day).isoformat() for day in holidays})
    calendar.save()
    audit_record(
        action="sla.calendar_saved",
        obj=calendar,
        actor=acting_user,
        data={
            "name": calendar.name,
            "time_zone": calendar.time_zone,
            "working_hours": calendar.working_hours,
            "holidays": calendar.holidays,
        },
    )
    return calendar


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@transaction.atomic(durable=True)
def sla_policy_set(
    *,
    queue: Queue,
    target_minutes: int,
    warn_at_percent: int = 80,
    calendar: BusinessCalendar | None = None,
    acting_user=None,
) -> SlaPolicy:
    """Give ``queue`` its service level. Tasks opened from now on get deadlines from it."""
    errors: dict[str, list[str]] = {}
    if not _whole_number(target_minutes) or target_minutes <= 0:
        errors["target_minutes"] = ["The target must be a whole number of minutes above zero."]
    elif target_minutes > MAX_TARGET_MINUTES:
        errors["target_minutes"] = [f"The target may be at most {MAX_TARGET_MINUTES} minutes."]
    if not _whole_number(warn_at_percent) or not 1 <= warn_at_percent <= 99:
        errors["warn_at_percent"] = ["Warn at a percentage of the target from 1 to 99."]
    if errors:
        raise SlaInvalid(errors)
    policy, _ = SlaPolicy.objects.update_or_create(
        queue=queue,
        defaults={
            "target_minutes": target_minutes,
            "warn_at_percent": warn_at_percent,
            "calendar": calendar,
        },
    )
    audit_record(
        action="sla.policy_set",
        obj=policy,
        actor=acting_user,
        chain=queue.workflow.audit_chain,
        data={
            "queue": queue.slug,
            "target_minutes": target_minutes,
            "warn_at_percent": warn_at_percent,
            "calendar": calendar.name if calendar else None,
        },
    )
    return policy


@transaction.atomic(durable=True)
def escalation_step_add(
    *,
    queue: Queue,
    after_minutes: int,
    action: str,
    priority_boost: int = 0,
    target_queue: Queue | None = None,
    recipient=None,
    acting_user=None,
) -> EscalationStep:
    """Append a rung to the queue's ladder, ``after_minutes`` business minutes past the breach."""
    last = EscalationStep.objects.filter(queue=queue).order_by("-position").first()
    errors: dict[str, list[str]] = {}
    if not _whole_number(after_minutes) or after_minutes < 0:
        errors["after_minutes"] = ["Give the minutes after the breach as a whole number >= 0."]
    elif last is not None and after_minutes < last.after_minutes:
        errors["after_minutes"] = [
            f"A rung cannot come before the one above it ({last.after_minutes} minutes)."
        ]
    if action not in EscalationAction.values:
        errors["action"] = [f"Choose one of {', '.join(EscalationAction.values)}."]
    if action == EscalationAction.RAISE_PRIORITY and (
        not _whole_number(priority_boost) or priority_boost <= 0
    ):
        errors["priority_boost"] = ["Raise the priority by a whole number above zero."]
    if action == EscalationAction.MOVE_TO_QUEUE:
        if target_queue is None:
            errors["target_queue"] = ["Name the queue to move the task to."]
        elif target_queue.pk == queue.pk:
            errors["target_queue"] = ["The escalation queue must be another queue."]
        elif target_queue.workflow_id != queue.workflow_id:
            errors["target_queue"] = ["The escalation queue must serve the same workflow."]
    if action == EscalationAction.NOTIFY_MANAGER and recipient is None:
        errors["recipient"] = ["Name the manager to notify."]
    if errors:
        raise SlaInvalid(errors)
    step = EscalationStep.objects.create(
        queue=queue,
        position=(last.position + 1) if last else 1,
        after_minutes=after_minutes,
        action=action,
        priority_boost=priority_boost if action == EscalationAction.RAISE_PRIORITY else 0,
        target_queue=target_queue if action == EscalationAction.MOVE_TO_QUEUE else None,
        recipient=recipient,
    )
    # Tasks that breached before this rung existed have no next escalation; point them at
    # their deadline and the sweep works out when this rung is due for them.
    ReviewTask.objects.filter(
        queue=queue,
        status__in=LIVE_STATUSES,
        breached_at__isnull=False,
        next_escalation_at__isnull=True,
    ).update(next_escalation_at=F("due_at"))
    audit_record(
        action="sla.escalation_step_added",
        obj=step,
        actor=acting_user,
        chain=queue.workflow.audit_chain,
        data={
            "queue": queue.slug,
            "position": step.position,
            "after_minutes": after_minutes,
            "action": action,
            "priority_boost": step.priority_boost,
            "target_queue": step.target_queue.slug if step.target_queue else None,
            "recipient": recipient.get_username() if recipient is not None else None,
        },
    )
    return step


# --- pause and resume ---------------------------------------------------------------------------


def _audit_task(task: ReviewTask, event: str, actor=None, /, **data) -> None:
    audit_record(
        action=event,
        obj=task,
        actor=actor,
        chain=task.queue.workflow.audit_chain,
        data={"item": task.item_id, "queue": task.queue.slug, **data},
    )


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
    task.save(update_fields=["paused_at"])
    _audit_task(task, "task.sla_paused", acting_user, reason=reason)
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
    task.save(update_fields=fields)
    _audit_task(
        task,
        "task.sla_resumed",
        acting_user,
        reason=(reason or "").strip()[:MAX_REASON_LENGTH],
        paused_business_minutes=round(paused_for / timedelta(minutes=1), 2),
        due_at=task.due_at.isoformat() if task.due_at else None,
    )
    return task


# --- the sweep ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepReport:
    at_risk: int
    breached: int
    escalated: int
    mailed: int


class _Ladders:
    """Per-sweep cache of each queue's calendar and escalation rungs."""

    def __init__(self) -> None:
        self._calendars: dict[int, WorkingCalendar | None] = {}
        self._steps: dict[int, list[EscalationStep]] = {}

    def calendar(self, queue_id: int) -> WorkingCalendar | None:
        if queue_id not in self._calendars:
            self._calendars[queue_id] = queue_calendar(queue_id)
        return self._calendars[queue_id]

    def steps(self, queue_id: int) -> list[EscalationStep]:
        if queue_id not in self._steps:
            self._steps[queue_id] = list(
                EscalationStep.objects.filter(queue_id=queue_id)
                .select_related("target_queue__workflow", "recipient")
                .order_by("position")
            )
        return self._steps[queue_id]

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


def sla_sweep(*, batch_size: int = SWEEP_BATCH) -> SweepReport:
    """One pass: at risk, then breached, then due escalation rungs, then pending emails."""
    now = timezone.now()
    ladders = _Ladders()
    live = ReviewTask.objects.filter(status__in=LIVE_STATUSES, paused_at__isnull=True)
    # Each filter repeats the condition of its partial index on ReviewTask (task_sla_*_idx).
    at_risk = _in_batches(
        live.filter(at_risk_at__isnull=True, warn_at__isnull=False, warn_at__lte=now).order_by(
            "warn_at"
        ),
        lambda task: _mark_at_risk(task, now),
        batch_size,
    )
    breached = _in_batches(
        live.filter(breached_at__isnull=True, due_at__isnull=False, due_at__lte=now).order_by(
            "due_at"
        ),
        lambda task: _mark_breached(task, now, ladders),
        batch_size,
    )
    escalated = _in_batches(
        live.filter(next_escalation_at__isnull=False, next_escalation_at__lte=now).order_by(
            "next_escalation_at"
        ),
        lambda task: _climb(task, now, ladders),
        batch_size,
    )
    return SweepReport(at_risk, breached, escalated, notifications_mail_pending())


def _in_batches(
    due: QuerySet[ReviewTask], handle: Callable[[ReviewTask], int], batch_size: int
) -> int:
    done = 0
    for _ in range(SWEEP_MAX_BATCHES):
        with transaction.atomic(durable=True):
            batch = list(
                due.select_for_update(skip_locked=True, of=("self",)).select_related(
                    "queue__workflow", "queue__team"
                )[:batch_size]
            )
            # Audit chains lock in the order they are first written; writing them in name
            # order in every sweep means two sweeps can never wait on each other in a circle.
            batch.sort(key=lambda task: (task.queue.workflow.audit_chain, task.pk))
            for task in batch:
                done += handle(task)
        if len(batch) < batch_size:
            break
    return done


def _mark_at_risk(task: ReviewTask, now: datetime) -> int:
    # The row is locked, and the compare-and-swap keeps the step idempotent even where it is
    # not (SQLite) or when a redelivered sweep runs with an older clock.
    if not ReviewTask.objects.filter(pk=task.pk, at_risk_at__isnull=True).update(at_risk_at=now):
        return 0
    _audit_task(
        task,
        "task.at_risk",
        warn_at=task.warn_at.isoformat() if task.warn_at else None,
        due_at=task.due_at.isoformat() if task.due_at else None,
    )
    return 1


def _mark_breached(task: ReviewTask, now: datetime, ladders: _Ladders) -> int:
    rung = ladders.next_rung(task, fired=set())
    changed = ReviewTask.objects.filter(pk=task.pk, breached_at__isnull=True).update(
        breached_at=now,
        at_risk_at=Coalesce(F("at_risk_at"), now),
        next_escalation_at=rung[1] if rung else None,
    )
    if not changed:
        return 0
    _audit_task(
        task,
        "task.breached",
        due_at=task.due_at.isoformat() if task.due_at else None,
        claimed_by=task.claimed_by_id,
    )
    return 1


def _climb(task: ReviewTask, now: datetime, ladders: _Ladders) -> int:
    """Fire every rung that is due for the task; leave ``next_escalation_at`` at the next one."""
    fired = set(Escalation.objects.filter(task=task).values_list("step_id", flat=True))
    count = 0
    while True:
        rung = ladders.next_rung(task, fired)
        if rung is None or rung[1] > now:
            break
        step = rung[0]
        fired.add(step.pk)
        escalation, created = Escalation.objects.get_or_create(
            task=task,
            step=step,
            defaults={"level": task.escalation_level + 1, "fired_at": now},
        )
        if not created:  # the rung fired already (the unique pair is the last line of defence)
            continue
        task.escalation_level = escalation.level
        source_queue = task.queue
        escalation.detail = _act(task, step, now)
        escalation.save(update_fields=["detail"])
        _audit_task(
            task,
            "task.escalated",
            step=step.position,
            action=step.action,
            level=escalation.level,
            from_queue=source_queue.slug,
            **escalation.detail,
        )
        count += 1
    next_at = rung[1] if rung else None
    ReviewTask.objects.filter(pk=task.pk).update(
        escalation_level=task.escalation_level,
        next_escalation_at=next_at,
        priority=task.priority,
        queue=task.queue,
    )
    return count


def _act(task: ReviewTask, step: EscalationStep, now: datetime) -> dict[str, Any]:
    """Carry out one rung on the locked task; returns what was done, for the record."""
    if step.action == EscalationAction.RAISE_PRIORITY:
        task.priority += step.priority_boost
        return {"priority": task.priority}
    if step.action == EscalationAction.UNCLAIM:
        holder = task.claimed_by_id if task.status == TaskStatus.CLAIMED else None
        if holder is not None:
            _reopen(task)
        return {"previous_holder": holder}
    if step.action == EscalationAction.MOVE_TO_QUEUE:
        assert step.target_queue is not None  # escalation_step_add insists on one
        holder = task.claimed_by_id if task.status == TaskStatus.CLAIMED else None
        if holder is not None:  # the holder may not review in the escalation queue
            _reopen(task)
        task.queue = step.target_queue
        return {"to_queue": step.target_queue.slug, "previous_holder": holder}
    recipients = _recipients(task, step)
    for user in recipients:
        Notification.objects.create(
            recipient=user,
            kind=NotificationKind.TASK_ESCALATED,
            task=task,
            message=(
                f"Task {task.pk} in {task.queue.name} has been past due since "
                f"{task.due_at:%Y-%m-%d %H:%M} UTC (escalation level {task.escalation_level})."
            ),
            created_at=now,
            email_to=user.email,
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


# --- email --------------------------------------------------------------------------------------


def notifications_mail_pending(*, limit: int = 200) -> int:
    """Mail notifications that want an email, each claimed first so that it goes out once.

    Runs after the sweep's transactions committed, so nothing is mailed for a change that rolled
    back. A failed send gives the claim back and the next sweep tries again.
    """
    pending = list(
        Notification.objects.filter(emailed_at__isnull=True)
        .exclude(email_to="")
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for notification_id in pending:
        now = timezone.now()
        claimed = Notification.objects.filter(pk=notification_id, emailed_at__isnull=True).update(
            emailed_at=now
        )
        if not claimed:
            continue
        notification = Notification.objects.get(pk=notification_id)
        try:
            send_mail(
                subject="[reviewapp] A review task was escalated",
                message=notification.message,
                from_email=None,
                recipient_list=[notification.email_to],
            )
        except Exception:
            logger.exception("mailing notification %s failed; will retry", notification_id)
            Notification.objects.filter(pk=notification_id, emailed_at=now).update(emailed_at=None)
            continue
        sent += 1
    return sent
