"""Reading SLA configuration: the clock a new task gets, the calendar a queue counts in."""

from dataclasses import dataclass
from datetime import datetime

from reviewapp.review.sla.calendar import WorkingCalendar, business_deadline
from reviewapp.review.sla.models import SlaPolicy


@dataclass(frozen=True)
class SlaClock:
    due_at: datetime | None = None
    warn_at: datetime | None = None


def sla_policy_for(queue_id: int) -> SlaPolicy | None:
    return SlaPolicy.objects.select_related("calendar").filter(queue_id=queue_id).first()


def queue_calendar(queue_id: int) -> WorkingCalendar | None:
    """The calendar a queue's clocks count in; ``None`` (around the clock) without one."""
    policy = sla_policy_for(queue_id)
    if policy is None or policy.calendar is None:
        return None
    return policy.calendar.working_calendar()


def sla_clock_for(*, queue_id: int, opened_at: datetime) -> SlaClock:
    """Deadlines for a task opened now in the queue; no policy means no clock."""
    policy = sla_policy_for(queue_id)
    if policy is None:
        return SlaClock()
    calendar = policy.calendar.working_calendar() if policy.calendar else None
    return SlaClock(
        due_at=business_deadline(opened_at, policy.target_minutes, calendar),
        warn_at=business_deadline(
            opened_at, policy.target_minutes * policy.warn_at_percent / 100, calendar
        ),
    )
