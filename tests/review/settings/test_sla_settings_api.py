"""The SLA settings API: a queue's policy and ladder, business calendars."""

import pytest

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.sla.configuration import (
    business_calendar_save,
    escalation_step_add,
    sla_policy_set,
)
from reviewapp.review.sla.errors import SlaInvalid
from reviewapp.review.sla.models import (
    BusinessCalendar,
    EscalationAction,
    EscalationStep,
    SlaPolicy,
)
from tests.review.settings.conftest import OFFICE_HOURS

pytestmark = pytest.mark.django_db


def _policy_url(queue):
    return f"/api/v1/queues/{queue.pk}/sla-policy"


def _steps_url(queue):
    return f"/api/v1/queues/{queue.pk}/escalation-steps"


# --- policy --------------------------------------------------------------------------------------


def test_a_manager_reads_and_sets_the_queue_policy(api, manager, demo, office_calendar):
    client = api(manager)
    assert client.get(_policy_url(demo.queue)).json() == {
        "queue": demo.queue.pk,
        "target_minutes": None,
        "warn_at_percent": None,
        "calendar": None,
    }
    answer = client.put(
        _policy_url(demo.queue),
        {"target_minutes": 120, "warn_at_percent": 70, "calendar": office_calendar.pk},
        format="json",
    )
    assert answer.status_code == 200
    assert answer.json()["target_minutes"] == 120
    policy = SlaPolicy.objects.get(queue=demo.queue)
    assert (policy.target_minutes, policy.warn_at_percent, policy.calendar) == (
        120,
        70,
        office_calendar,
    )
    assert AuditEvent.objects.filter(action="sla.policy_set", actor=manager).count() == 1


@pytest.mark.parametrize(
    "body,field",
    [
        ({"target_minutes": -5}, "target_minutes"),
        ({"target_minutes": "60"}, "target_minutes"),
        ({"warn_at_percent": 50}, "target_minutes"),
        ({"target_minutes": 60, "warn_at_percent": 0}, "warn_at_percent"),
        ({"target_minutes": 60, "calendar": 999999}, "calendar"),
        ({"target_minutes": 60, "deadline": "soon"}, "deadline"),
    ],
)
def test_a_nonsense_policy_gets_a_field_error_and_changes_nothing(api, manager, demo, body, field):
    sla_policy_set(queue=demo.queue, target_minutes=45)
    answer = api(manager).put(_policy_url(demo.queue), body, format="json")
    assert answer.status_code == 400
    assert field in answer.json()["errors"]
    assert SlaPolicy.objects.get(queue=demo.queue).target_minutes == 45


def test_others_cannot_see_or_set_a_queues_policy(api, reviewer, outsider, demo):
    for person in (reviewer, outsider):
        client = api(person)
        assert client.get(_policy_url(demo.queue)).status_code == 404
        put = client.put(_policy_url(demo.queue), {"target_minutes": 5}, format="json")
        assert put.status_code == 404
    assert not SlaPolicy.objects.exists()


# --- calendars -----------------------------------------------------------------------------------


def test_a_manager_creates_lists_and_replaces_calendars(api, manager, demo):
    client = api(manager)
    created = client.post(
        "/api/v1/calendars/",
        {"name": "Lisbon", "time_zone": "Europe/Lisbon", "working_hours": OFFICE_HOURS},
        format="json",
    )
    assert created.status_code == 201
    calendar_id = created.json()["id"]
    listed = client.get("/api/v1/calendars/").json()["calendars"]
    assert [c["name"] for c in listed] == ["Lisbon"]
    replaced = client.put(
        f"/api/v1/calendars/{calendar_id}",
        {
            "name": "Lisbon",
            "time_zone": "Europe/Lisbon",
            "working_hours": {"sat": [["10:00", "14:00"]]},
            "holidays": ["2026-12-25"],
        },
        format="json",
    )
    assert replaced.status_code == 200
    calendar = BusinessCalendar.objects.get(pk=calendar_id)
    assert calendar.working_hours == {"sat": [["10:00", "14:00"]]}
    assert calendar.holidays == ["2026-12-25"]
    assert AuditEvent.objects.filter(action="sla.calendar_saved", actor=manager).count() == 2


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "Empty", "time_zone": "UTC", "working_hours": {}}, "working_hours"),
        (
            {
                "name": "Backwards",
                "time_zone": "UTC",
                "working_hours": {"mon": [["17:00", "09:00"]]},
            },
            "working_hours.mon",
        ),
        ({"name": "Nowhere", "time_zone": "Mars/Base", "working_hours": OFFICE_HOURS}, "time_zone"),
        ({"name": 7, "time_zone": "UTC", "working_hours": OFFICE_HOURS}, "name"),
        ({"name": "X", "working_hours": OFFICE_HOURS, "colour": "red"}, "colour"),
    ],
)
def test_a_nonsense_calendar_gets_a_field_error_and_nothing_is_saved(
    api, manager, demo, body, field
):
    answer = api(manager).post("/api/v1/calendars/", body, format="json")
    assert answer.status_code == 400
    assert field in answer.json()["errors"]
    assert not BusinessCalendar.objects.exists()


def test_another_teams_calendar_is_out_of_sight_even_unused(
    api, manager, other_manager, demo, other_team
):
    office_calendar = business_calendar_save(
        name="Berlin office",
        time_zone="Europe/Berlin",
        working_hours=OFFICE_HOURS,
        team=other_team["team"],
    )
    client = api(manager)
    assert client.get("/api/v1/calendars/").json() == {"calendars": []}
    assert client.get(f"/api/v1/calendars/{office_calendar.pk}").status_code == 404
    put = client.put(
        f"/api/v1/calendars/{office_calendar.pk}",
        {"name": "Mine now", "time_zone": "UTC", "working_hours": OFFICE_HOURS},
        format="json",
    )
    assert put.status_code == 404
    assert BusinessCalendar.objects.get().name == "Berlin office"
    # Its own team's manager sees it.
    names = [c["name"] for c in api(other_manager).get("/api/v1/calendars/").json()["calendars"]]
    assert names == ["Berlin office"]


def test_only_managers_add_calendars(api, reviewer, demo):
    answer = api(reviewer).post(
        "/api/v1/calendars/",
        {"name": "Mine", "time_zone": "UTC", "working_hours": OFFICE_HOURS},
        format="json",
    )
    assert answer.status_code == 403
    assert not BusinessCalendar.objects.exists()


# --- escalation steps ----------------------------------------------------------------------------


def test_a_manager_lists_adds_and_removes_escalation_steps(api, manager, demo):
    client = api(manager)
    added = client.post(
        _steps_url(demo.queue),
        {"after_minutes": 10, "action": "notify_manager", "recipient": "maria"},
        format="json",
    )
    assert added.status_code == 201
    assert added.json()["recipient"] == "maria" and added.json()["position"] == 1
    steps = client.get(_steps_url(demo.queue)).json()["steps"]
    assert [(s["position"], s["action"]) for s in steps] == [(1, "notify_manager")]
    removed = client.delete(f"{_steps_url(demo.queue)}/{added.json()['id']}")
    assert removed.status_code == 204
    assert not EscalationStep.objects.exists()
    assert AuditEvent.objects.filter(action="sla.escalation_step_removed").count() == 1


@pytest.mark.parametrize(
    "body,field",
    [
        ({"after_minutes": -1, "action": "notify_team_lead"}, "after_minutes"),
        ({"action": "notify_team_lead"}, "after_minutes"),
        ({"after_minutes": 5, "action": "notify_manager", "recipient": "alice"}, "recipient"),
        ({"after_minutes": 5, "action": "move_to_queue", "target_queue": 999999}, "target_queue"),
        ({"after_minutes": 5, "action": "shout"}, "action"),
    ],
)
def test_a_nonsense_step_gets_a_field_error(api, manager, demo, body, field):
    answer = api(manager).post(_steps_url(demo.queue), body, format="json")
    assert answer.status_code == 400
    assert field in answer.json()["errors"]
    assert not EscalationStep.objects.exists()


def test_others_cannot_touch_a_queues_ladder(api, reviewer, other_manager, demo):
    step = escalation_step_add(
        queue=demo.queue, after_minutes=0, action=EscalationAction.NOTIFY_TEAM_LEAD
    )
    for person in (reviewer, other_manager):
        client = api(person)
        assert client.get(_steps_url(demo.queue)).status_code == 404
        assert client.delete(f"{_steps_url(demo.queue)}/{step.pk}").status_code == 404
    assert EscalationStep.objects.filter(pk=step.pk).exists()


def test_the_api_refuses_a_queue_out_of_reach_in_the_words_of_the_settings_page(
    api, manager, demo, other_team
):
    answer = api(manager).post(
        _steps_url(demo.queue),
        {"after_minutes": 5, "action": "move_to_queue", "target_queue": other_team["queue"].pk},
        format="json",
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "detail": "The SLA settings are not valid.",
        "errors": {"target_queue": ["Choose one of the queues you manage."]},
    }
    assert not EscalationStep.objects.exists()


def test_a_new_calendar_belongs_to_the_creating_team(api, manager, other_manager, demo):
    created = api(manager).post(
        "/api/v1/calendars/",
        {"name": "Lisbon desk", "time_zone": "Europe/Lisbon", "working_hours": OFFICE_HOURS},
        format="json",
    )
    assert created.status_code == 201
    assert created.json()["team"] == "support"
    assert api(other_manager).get(f"/api/v1/calendars/{created.json()['id']}").status_code == 404
    # The other team may use the same name for its own calendar.
    same_name = api(other_manager).post(
        "/api/v1/calendars/",
        {"name": "Lisbon desk", "time_zone": "UTC", "working_hours": OFFICE_HOURS},
        format="json",
    )
    assert same_name.status_code == 201
    assert same_name.json()["team"] == "claims"


def test_a_policy_never_uses_another_teams_calendar(demo, other_team, office_calendar):
    with pytest.raises(SlaInvalid) as refused:
        sla_policy_set(queue=other_team["queue"], target_minutes=60, calendar=office_calendar)
    assert refused.value.errors == {"calendar": ["This calendar belongs to another team."]}
