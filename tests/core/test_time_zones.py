"""Pages show times in the reader's zone: their saved choice, else the browser's cookie, else
UTC. The API always answers in UTC."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from reviewapp.core.accounts.models import Preferences

TIME = re.compile(r'<time datetime="([^"]+)" title="([^"]+) UTC">([^<]+)</time>')


def _signed_in(user, cookie=None):
    client = Client()
    client.force_login(user)
    if cookie is not None:
        client.cookies["tz"] = cookie
    return client


def _first_time_shown(client):
    """(UTC moment, the text shown) of the audit page's first time."""
    page = client.get("/audit/").content.decode()
    found = TIME.search(page)
    assert found is not None
    moment = datetime.fromisoformat(found[1])
    assert found[2] == f"{moment:%Y-%m-%d %H:%M:%S}"
    return moment, found[3]


def _in(zone, moment):
    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M:%S %Z}"


@pytest.mark.django_db
def test_the_browsers_zone_is_used_until_the_person_chooses_one(manager):
    moment, shown = _first_time_shown(_signed_in(manager, cookie="Asia/Tokyo"))
    assert shown == _in("Asia/Tokyo", moment) and shown.endswith(" JST")

    answer = _signed_in(manager).post("/accounts/preferences/", {"time_zone": "Europe/Lisbon"})
    assert answer.status_code == 302
    assert Preferences.objects.get(user=manager).time_zone == "Europe/Lisbon"
    # A later sign-in brings the choice along; the browser's cookie no longer decides.
    moment, shown = _first_time_shown(_signed_in(manager, cookie="Asia/Tokyo"))
    assert shown == _in("Europe/Lisbon", moment)


@pytest.mark.django_db
def test_the_preferences_page_offers_the_browsers_zone_and_saves_the_choice(manager):
    client = _signed_in(manager, cookie="America/Chicago")
    page = client.get("/accounts/preferences/").content.decode()
    assert "(now America/Chicago)" in page
    client.post("/accounts/preferences/", {"time_zone": "Asia/Kolkata"}, follow=True)
    moment, shown = _first_time_shown(client)
    assert shown == _in("Asia/Kolkata", moment)
    client.post("/accounts/preferences/", {"time_zone": ""})  # back to the browser's
    moment, shown = _first_time_shown(client)
    assert shown == _in("America/Chicago", moment)


@pytest.mark.django_db
@pytest.mark.parametrize("cookie", ["../../etc/passwd", "Mars/Olympus", "", "x" * 500, "UTC\x00"])
def test_a_nonsense_zone_cookie_falls_back_to_utc(manager, cookie):
    client = _signed_in(manager)
    client.cookies["tz"] = cookie
    moment, shown = _first_time_shown(client)
    assert shown == _in("UTC", moment)


@pytest.mark.django_db
def test_an_unknown_zone_is_refused_next_to_its_field(reviewer):
    answer = _signed_in(reviewer).post("/accounts/preferences/", {"time_zone": "Mars/Olympus"})
    assert answer.status_code == 422
    assert "“Mars/Olympus” is not a known time zone." in answer.content.decode()
    assert 'aria-invalid="true"' in answer.content.decode()
    assert not Preferences.objects.filter(user=reviewer).exists()


@pytest.mark.django_db
def test_the_api_answers_in_utc_whatever_the_cookie(reviewer, routed_items):
    item = routed_items(count=5)[0]
    client = _signed_in(reviewer, cookie="Asia/Tokyo")
    body = client.get(f"/api/v1/items/{item.pk}").json()
    assert body["created_at"].endswith("+00:00")
