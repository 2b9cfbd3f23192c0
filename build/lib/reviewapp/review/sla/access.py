"""Business calendars a manager may choose and edit (through ``reviewapp.core.permissions``)."""

from django.db.models import QuerySet
from django.http import Http404

from reviewapp.core.permissions import MANAGE_QUEUE, User
from reviewapp.review.reviews.access import queues_for_user
from reviewapp.review.sla.models import BusinessCalendar, SlaPolicy


def calendars_for_user(user: User) -> QuerySet:
    """Business calendars a manager may choose and edit: every calendar no other team relies on.

    Calendars belong to no team, so one that a queue the user does not manage uses stays out of
    sight (editing it would move another team's deadlines); unused ones are open to any manager.
    """
    managed = queues_for_user(user, MANAGE_QUEUE)
    if not managed.exists():
        return BusinessCalendar.objects.none()
    # calendar_id is nullable: NOT IN over a NULL would hide every calendar.
    foreign = SlaPolicy.objects.filter(calendar__isnull=False).exclude(queue__in=managed)
    return BusinessCalendar.objects.exclude(pk__in=foreign.values("calendar_id")).order_by("name")


def get_calendar_for_user(user: User, calendar_id: int):
    calendar = calendars_for_user(user).filter(pk=calendar_id).first()
    if calendar is None:
        raise Http404("No such calendar.")
    return calendar
