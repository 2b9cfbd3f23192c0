"""Business calendars a manager may choose and edit (through ``reviewapp.core.permissions``)."""

from django.db.models import QuerySet
from django.http import Http404

from reviewapp.core.accounts.models import Team
from reviewapp.core.permissions import MANAGE_QUEUE, User
from reviewapp.review.reviews.access import queues_for_user
from reviewapp.review.sla.models import BusinessCalendar


def calendar_teams_for_user(user: User) -> QuerySet[Team]:
    """Teams whose calendars ``user`` may use and edit: those with a queue they manage."""
    managed = queues_for_user(user, MANAGE_QUEUE)
    return Team.objects.filter(pk__in=managed.values("team_id"))


def calendars_for_user(user: User) -> QuerySet[BusinessCalendar]:
    """Calendars of the teams whose queues ``user`` manages; another team's stay out of sight
    (editing one would move that team's deadlines), used or not."""
    return BusinessCalendar.objects.filter(team__in=calendar_teams_for_user(user)).order_by(
        "name", "pk"
    )


def get_calendar_for_user(user: User, calendar_id: int) -> BusinessCalendar:
    calendar = calendars_for_user(user).filter(pk=calendar_id).first()
    if calendar is None:
        raise Http404("No such calendar.")
    return calendar
