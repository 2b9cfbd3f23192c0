"""Calendars, SLA policies and escalation rungs that make no sense are refused, field by field."""

import pytest
from django.db import IntegrityError, transaction

from reviewapp.core.api import exception_handler
from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.reviews.queues import queue_create
from reviewapp.review.sla.configuration import (
    business_calendar_save,
    escalation_step_add,
    sla_policy_set,
)
from reviewapp.review.sla.errors import SlaInvalid
from reviewapp.review.sla.models import BusinessCalendar, EscalationStep, SlaPolicy

OFFICE = {"mon": [["09:00", "12:30"], ["13:30", "17:00"]], "fri": [["09:00", "15:00"]]}


def refused(service, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(SlaInvalid) as refusal:
        service(**kwargs)
    return refusal.value.errors


def calendar_errors(**changes):
    fields = {
        "name": "Berlin office",
        "time_zone": "Europe/Berlin",
        "working_hours": OFFICE,
        "holidays": ["2026-12-25"],
    } | changes
    return refused(business_calendar_save, **fields)


def test_a_sensible_calendar_is_saved_and_audited(db):
    calendar = business_calendar_save(
        name="Berlin office",
        time_zone="Europe/Berlin",
        working_hours=OFFICE,
        holidays=["2026-12-26", "2026-12-25", "2026-12-25"],
    )

    assert calendar.holidays == ["2026-12-25", "2026-12-26"]
    assert calendar.working_calendar().week[0] == ((540, 750), (810, 1020))
    assert AuditEvent.objects.filter(action="sla.calendar_saved").count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"working_hours": {}}, "working_hours", "at least one day"),
        ({"working_hours": {"mon": []}}, "working_hours", "at least one day"),
        ({"working_hours": {"mon": [["17:00", "09:00"]]}}, "working_hours.mon", "ends before"),
        ({"working_hours": {"tue": [["09:00", "09:00"]]}}, "working_hours.tue", "ends before"),
        (
            {"working_hours": {"wed": [["09:00", "13:00"], ["12:00", "17:00"]]}},
            "working_hours.wed",
            "overlaps",
        ),
        ({"working_hours": {"mon": [["9am", "5pm"]]}}, "working_hours.mon", "HH:MM"),
        ({"working_hours": {"mon": [["24:00", "24:00"]]}}, "working_hours.mon", "00:00 to 24:00"),
        ({"working_hours": {"monday": [["09:00", "17:00"]]}}, "working_hours.monday", "weekday"),
        ({"working_hours": ["09:00", "17:00"]}, "working_hours", "per weekday"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "Unknown time zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone", "Unknown time zone"),
        ({"time_zone": ""}, "time_zone", "IANA"),
        ({"holidays": ["2026-02-30"]}, "holidays", "2026-02-30"),
        ({"holidays": "2026-12-25"}, "holidays", "list of dates"),
        ({"name": "  "}, "name", "name"),
    ],
)
def test_a_calendar_that_makes_no_sense_is_refused_with_a_field_error(db, changes, field, fragment):
    errors = calendar_errors(**changes)

    assert field in errors, errors
    assert fragment in " ".join(errors[field])
    assert not BusinessCalendar.objects.exists()
    assert not AuditEvent.objects.filter(action="sla.calendar_saved").exists()


def test_every_problem_is_reported_at_once(db):
    errors = calendar_errors(
        time_zone="Nowhere/Town", working_hours={"mon": [["10:00", "08:00"]]}, holidays=["x"]
    )

    assert set(errors) == {"time_zone", "working_hours.mon", "holidays"}


def test_two_calendars_cannot_share_a_name(db):
    business_calendar_save(name="Berlin office", time_zone="Europe/Berlin", working_hours=OFFICE)

    assert "name" in calendar_errors()


def test_a_sensible_policy_is_saved_and_audited_on_the_workflow_chain(demo):
    calendar = business_calendar_save(
        name="Berlin office", time_zone="Europe/Berlin", working_hours=OFFICE
    )

    policy = sla_policy_set(
        queue=demo.queue, target_minutes=240, warn_at_percent=75, calendar=calendar
    )

    assert (policy.target_minutes, policy.warn_at_percent, policy.calendar) == (240, 75, calendar)
    event = AuditEvent.objects.get(action="sla.policy_set")
    assert event.chain == demo.workflow.audit_chain
    assert event.data["calendar"] == "Berlin office"


@pytest.mark.parametrize(
    ("target", "warn", "field"),
    [
        (0, 80, "target_minutes"),
        (-30, 80, "target_minutes"),
        ("60", 80, "target_minutes"),
        (True, 80, "target_minutes"),
        (366 * 24 * 60 + 1, 80, "target_minutes"),
        (60, 0, "warn_at_percent"),
        (60, 100, "warn_at_percent"),
        (60, 50.5, "warn_at_percent"),
    ],
)
def test_a_policy_that_makes_no_sense_is_refused_with_a_field_error(demo, target, warn, field):
    errors = refused(sla_policy_set, queue=demo.queue, target_minutes=target, warn_at_percent=warn)

    assert list(errors) == [field]
    assert not SlaPolicy.objects.exists()


def test_the_database_refuses_a_zero_target_even_past_the_service(demo):
    with pytest.raises(IntegrityError), transaction.atomic():
        SlaPolicy.objects.create(queue=demo.queue, target_minutes=0)


@pytest.fixture
def escalation_queue(demo):
    return queue_create(
        team=demo.team, workflow=demo.workflow, slug="escalated", name="Escalated tickets"
    )


@pytest.mark.parametrize(
    ("step", "field"),
    [
        ({"after_minutes": 0, "action": "shout"}, "action"),
        ({"after_minutes": -1, "action": "unclaim"}, "after_minutes"),
        ({"after_minutes": 0, "action": "raise_priority"}, "priority_boost"),
        ({"after_minutes": 0, "action": "raise_priority", "priority_boost": -3}, "priority_boost"),
        ({"after_minutes": 0, "action": "move_to_queue"}, "target_queue"),
        ({"after_minutes": 0, "action": "notify_manager"}, "recipient"),
    ],
)
def test_a_rung_that_makes_no_sense_is_refused_with_a_field_error(demo, step, field):
    errors = refused(escalation_step_add, queue=demo.queue, **step)

    assert list(errors) == [field]
    assert not EscalationStep.objects.exists()


def test_a_queue_cannot_escalate_into_itself(demo):
    errors = refused(
        escalation_step_add,
        queue=demo.queue,
        after_minutes=0,
        action="move_to_queue",
        target_queue=demo.queue,
    )

    assert "another queue" in errors["target_queue"][0]


def test_a_queue_cannot_escalate_into_another_workflows_queue(demo, other_team):
    errors = refused(
        escalation_step_add,
        queue=demo.queue,
        after_minutes=0,
        action="move_to_queue",
        target_queue=other_team["queue"],
    )

    assert "same workflow" in errors["target_queue"][0]


def test_rungs_are_appended_in_order_and_cannot_go_back_in_time(demo, escalation_queue, manager):
    first = escalation_step_add(
        queue=demo.queue, after_minutes=0, action="raise_priority", priority_boost=5
    )
    second = escalation_step_add(
        queue=demo.queue, after_minutes=60, action="move_to_queue", target_queue=escalation_queue
    )

    errors = refused(
        escalation_step_add,
        queue=demo.queue,
        after_minutes=30,
        action="notify_manager",
        recipient=manager,
    )

    assert (first.position, second.position) == (1, 2)
    assert "cannot come before" in errors["after_minutes"][0]
    assert AuditEvent.objects.filter(action="sla.escalation_step_added").count() == 2


def test_the_api_answers_a_refusal_with_400_and_the_field_errors():
    response = exception_handler(SlaInvalid({"target_minutes": ["Too small."]}), {})

    assert response.status_code == 400
    assert response.data == {
        "detail": "The SLA settings are not valid.",
        "errors": {"target_minutes": ["Too small."]},
    }
