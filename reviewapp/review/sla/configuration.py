"""SLA configuration: business calendars, a queue's service level and its escalation ladder.

What a manager sends is checked by ``reviewapp.review.sla.inputs`` (the page and the API check it
the same way before they call); these services check their arguments with it again, so a call
from code is refused alike, and add the rules that need the database: a calendar's name is
unique, rungs keep their order, a rung moves tasks only to another queue of the same workflow.
"""

from django.db import transaction
from django.db.models import F

from reviewapp.core.audit.services import audit_record
from reviewapp.review.reviews.models import LIVE_STATUSES, Queue, ReviewTask
from reviewapp.review.sla.errors import SlaConflict, SlaInvalid
from reviewapp.review.sla.inputs import CalendarInput, EscalationStepInput, SlaPolicyInput
from reviewapp.review.sla.models import (
    BusinessCalendar,
    Escalation,
    EscalationAction,
    EscalationStep,
    EscalationTrigger,
    SlaPolicy,
)


@transaction.atomic(durable=True)
def business_calendar_save(
    *,
    name: str,
    time_zone: str,
    working_hours: dict,
    holidays: list[str] | None = None,
    calendar: BusinessCalendar | None = None,
    team=None,
    acting_user=None,
) -> BusinessCalendar:
    """Create a calendar for ``team``, or replace the settings of ``calendar`` (which keeps its
    team). Names are unique within a team. Refuses nonsense."""
    values, errors = CalendarInput.errors_of(
        {
            "name": name,
            "time_zone": time_zone,
            "working_hours": working_hours,
            "holidays": [] if holidays is None else holidays,
        }
    )
    if (
        "name" in values
        and BusinessCalendar.objects.filter(
            name=values["name"], team=calendar.team if calendar else team
        )
        .exclude(pk=calendar.pk if calendar else 0)
        .exists()
    ):
        errors["name"] = [f"There is already a calendar called {values['name']!r}."]
    if errors:
        raise SlaInvalid(errors)
    if calendar is None:
        calendar = BusinessCalendar(team=team)
    for field, value in values.items():
        setattr(calendar, field, value)
    calendar.save()
    audit_record(
        action="sla.calendar_saved",
        obj=calendar,
        actor=acting_user,
        data={
            "name": calendar.name,
            "team": calendar.team.slug if calendar.team else None,
            "time_zone": calendar.time_zone,
            "working_hours": calendar.working_hours,
            "holidays": calendar.holidays,
        },
    )
    return calendar


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
    SlaPolicyInput.checked(
        {"target_minutes": target_minutes, "warn_at_percent": warn_at_percent, "calendar": calendar}
    )
    if calendar is not None and calendar.team_id not in (None, queue.team_id):
        raise SlaInvalid({"calendar": ["This calendar belongs to another team."]})
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
    trigger: str = EscalationTrigger.BREACH,
    acting_user=None,
) -> EscalationStep:
    """Append a rung to the queue's ladder.

    A breach rung acts ``after_minutes`` business minutes past the breach; an idle-claim rung
    acts on a claim whose holder showed no sign of life for ``after_minutes`` minutes.
    """
    values, errors = EscalationStepInput.errors_of(
        {
            "trigger": trigger,
            "after_minutes": after_minutes,
            "action": action,
            "priority_boost": priority_boost,
            "target_queue": target_queue,
            "recipient": recipient,
        }
    )
    last = EscalationStep.objects.filter(queue=queue).order_by("-position").first()
    last_breach = (
        EscalationStep.objects.filter(queue=queue, trigger=EscalationTrigger.BREACH)
        .order_by("-position")
        .first()
    )
    if (
        trigger == EscalationTrigger.BREACH
        and "after_minutes" not in errors
        and last_breach is not None
        and after_minutes < last_breach.after_minutes
    ):
        errors["after_minutes"] = [
            f"A rung cannot come before the one above it ({last_breach.after_minutes} minutes)."
        ]
    chosen = values.get("target_queue") if action == EscalationAction.MOVE_TO_QUEUE else None
    if chosen is not None:
        if chosen.pk == queue.pk:
            errors["target_queue"] = ["The escalation queue must be another queue."]
        elif chosen.workflow_id != queue.workflow_id:
            errors["target_queue"] = ["The escalation queue must serve the same workflow."]
    if errors:
        raise SlaInvalid(errors)
    step = EscalationStep.objects.create(
        queue=queue,
        position=(last.position + 1) if last else 1,
        trigger=trigger,
        after_minutes=after_minutes,
        action=action,
        priority_boost=priority_boost if action == EscalationAction.RAISE_PRIORITY else 0,
        target_queue=target_queue if action == EscalationAction.MOVE_TO_QUEUE else None,
        recipient=recipient,
    )
    # Tasks that breached before this rung existed have no next escalation; point them at
    # their deadline and the sweep works out when this rung is due for them.
    if trigger == EscalationTrigger.BREACH:
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
            "trigger": trigger,
            "after_minutes": after_minutes,
            "action": action,
            "priority_boost": step.priority_boost,
            "target_queue": step.target_queue.slug if step.target_queue else None,
            "recipient": recipient.get_username() if recipient is not None else None,
        },
    )
    return step


@transaction.atomic(durable=True)
def escalation_step_remove(*, step: EscalationStep, acting_user=None) -> None:
    """Take a rung off the queue's ladder, if it never fired.

    A rung that fired is named by its Escalation rows (the record of what happened to those
    tasks), so it stays. The row lock waits for a sweep that is firing this rung right now: the
    sweep's insert holds a key-share lock on it, so the check below sees that escalation.
    Tasks already pointed at this rung's time wake then, find the next rung and move on.
    """
    step = (
        EscalationStep.objects.select_for_update().select_related("queue__workflow").get(pk=step.pk)
    )
    fired = Escalation.objects.filter(step=step).count()
    if fired:
        raise SlaConflict(
            f"Step {step.position} already escalated {fired} task{'s' if fired != 1 else ''}; "
            "it stays so that their history keeps its meaning."
        )
    audit_record(
        action="sla.escalation_step_removed",
        obj=step,
        actor=acting_user,
        chain=step.queue.workflow.audit_chain,
        data={
            "queue": step.queue.slug,
            "position": step.position,
            "trigger": step.trigger,
            "after_minutes": step.after_minutes,
            "action": step.action,
        },
    )
    step.delete()
