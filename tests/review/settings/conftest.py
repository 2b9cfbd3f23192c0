"""People for the settings pages: a manager of another team, and signed-in browsers."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from reviewapp.core.accounts.models import Role
from reviewapp.core.accounts.services import membership_add
from reviewapp.review.sla.configuration import business_calendar_save
from reviewapp.review.sla.models import BusinessCalendar

OFFICE_HOURS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


@pytest.fixture
def other_manager(other_team):
    """Manages the Claims team's queue, not the demo queue."""
    user = get_user_model().objects.create_user(username="olga")
    membership_add(team=other_team["team"], user=user, role=Role.MANAGER)
    return user


@pytest.fixture
def browser_as():
    def client_for(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return client_for


@pytest.fixture
def office_calendar(demo) -> BusinessCalendar:
    """A calendar of the demo team (support)."""
    return business_calendar_save(
        name="Berlin office", time_zone="Europe/Berlin", working_hours=OFFICE_HOURS, team=demo.team
    )
