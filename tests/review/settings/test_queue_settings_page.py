"""The queue settings page: who sees it, and each form's saved and refused paths."""

import pytest
from django.urls import reverse

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.reviews.models import Queue
from reviewapp.review.sla.configuration import escalation_step_add, sla_policy_set
from reviewapp.review.sla.models import (
    BusinessCalendar,
    EscalationAction,
    EscalationStep,
    SlaPolicy,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _url(name, queue, *args):
    return reverse(name, args=[queue.pk, *args])


def _audited(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def _claims_form(queue, **changes):
    form = {
        "urgency_weight": "10",
        "priority_weight": "1",
        "uncertainty_weight": "1",
        "max_claims_per_reviewer": "",
        "required_skills": "",
        "language_field": "",
        "notify_webhook_url": "",
        "notify_webhook_secret_env": "",
        "review_hourly_cost": "0",
    }
    return form | changes


def test_the_hourly_review_cost_is_a_claim_setting_checked_like_the_others(
    browser_as, manager, demo
):
    client = browser_as(manager)
    url = _url("queue-settings-claims", demo.queue)
    refused = client.post(url, _claims_form(demo.queue, review_hourly_cost="-3"))
    assert refused.status_code == 422
    assert b"Give what an hour of review costs, 0 or more." in refused.content
    saved = client.post(url, _claims_form(demo.queue, review_hourly_cost="42.5"), follow=True)
    assert b"Claim settings saved." in saved.content
    assert Queue.objects.get(pk=demo.queue.pk).review_hourly_cost == 42.5


# --- who may see it ------------------------------------------------------------------------------


def test_the_board_links_each_queue_to_its_settings(browser_as, manager, demo):
    page = browser_as(manager).get(reverse("board"))
    assert _url("queue-settings", demo.queue).encode() in page.content
    drill_down = browser_as(manager).get(_url("board-queue", demo.queue))
    assert _url("queue-settings", demo.queue).encode() in drill_down.content


def test_a_manager_sees_the_settings_of_their_queue(browser_as, manager, demo):
    page = browser_as(manager).get(_url("queue-settings", demo.queue))
    assert page.status_code == 200
    for heading in (b"Claim order", b"SLA policy", b"business calendar", b"Escalation ladder"):
        assert heading in page.content
    assert _url("quality-queue", demo.queue).encode() in page.content


@pytest.mark.parametrize(
    "name,args",
    [
        ("queue-settings", ()),
    ],
)
def test_reviewers_and_other_teams_managers_get_404(
    browser_as, reviewer, other_manager, demo, name, args
):
    for person in (reviewer, other_manager):
        client = browser_as(person)
        assert client.get(_url(name, demo.queue, *args)).status_code == 404
        for post in (
            "queue-settings-claims",
            "queue-settings-sla",
            "queue-settings-calendar",
            "queue-settings-step-add",
        ):
            assert client.post(_url(post, demo.queue), {"target_minutes": "5"}).status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(client, demo):
    answer = client.get(_url("queue-settings", demo.queue))
    assert answer.status_code == 302
    assert answer["Location"].startswith(reverse("login"))


# --- claim settings ------------------------------------------------------------------------------


def test_saving_claim_settings_changes_the_queue_and_is_audited(browser_as, manager, demo):
    answer = browser_as(manager).post(
        _url("queue-settings-claims", demo.queue),
        _claims_form(
            demo.queue,
            priority_weight="2.5",
            max_claims_per_reviewer="3",
            required_skills="Billing, refunds",
            notify_webhook_url="https://hooks.example.com/escalations",
            notify_webhook_secret_env="ESCALATION_SECRET",
        ),
        follow=True,
    )
    assert answer.status_code == 200
    assert b"Claim settings saved." in answer.content
    queue = Queue.objects.get(pk=demo.queue.pk)
    assert queue.priority_weight == 2.5
    assert queue.max_claims_per_reviewer == 3
    assert queue.required_skills == ["billing", "refunds"]
    assert queue.notify_webhook_url == "https://hooks.example.com/escalations"
    event = AuditEvent.objects.filter(action="queue.settings_changed").get()
    # Only what the manager changed is recorded (urgency weight was left as it was).
    assert set(event.data["after"]) == {
        "priority_weight",
        "max_claims_per_reviewer",
        "required_skills",
        "notify_webhook_url",
        "notify_webhook_secret_env",
    }


@pytest.mark.parametrize(
    "field,typed,message",
    [
        ("urgency_weight", "5000", b"Give a weight from 0 to 1000."),
        ("priority_weight", "-1", b"Give a weight from 0 to 1000."),
        ("uncertainty_weight", "lots", b"Give a weight from 0 to 1000."),
        ("required_skills", "billing, Data Science!", b"Use lower-case letters"),
        ("max_claims_per_reviewer", "0", b"Give a whole number from 1 to 1000"),
        ("notify_webhook_url", "ftp://example.com", b"Give an http(s) URL"),
    ],
)
def test_refused_claim_settings_show_the_field_message_keep_input_and_change_nothing(
    browser_as, manager, demo, field, typed, message
):
    answer = browser_as(manager).post(
        _url("queue-settings-claims", demo.queue), _claims_form(demo.queue, **{field: typed})
    )
    assert answer.status_code == 422
    html = answer.content.decode()
    assert f'data-field="{field}"' in html
    assert message in answer.content
    assert f'name="{field}" value="{typed}"' in html
    queue = Queue.objects.get(pk=demo.queue.pk)
    assert (queue.urgency_weight, queue.priority_weight, queue.uncertainty_weight) == (10, 1, 1)
    assert queue.required_skills == [] and queue.max_claims_per_reviewer is None
    assert _audited("queue.settings_changed") == 0


def test_an_htmx_save_answers_with_the_section_only(browser_as, manager, demo):
    answer = browser_as(manager).post(
        _url("queue-settings-claims", demo.queue),
        _claims_form(demo.queue, urgency_weight="20"),
        **HTMX,
    )
    assert answer.status_code == 200
    html = answer.content.decode()
    assert html.lstrip().startswith('<section class="card" id="claims"')
    assert "Claim settings saved." in html and 'value="20"' in html
    assert Queue.objects.get(pk=demo.queue.pk).urgency_weight == 20


def test_an_htmx_refusal_answers_422_with_the_section(browser_as, manager, demo):
    answer = browser_as(manager).post(
        _url("queue-settings-claims", demo.queue),
        _claims_form(demo.queue, urgency_weight="-3"),
        **HTMX,
    )
    assert answer.status_code == 422
    assert answer.content.decode().lstrip().startswith('<section class="card" id="claims"')
    assert b'value="-3"' in answer.content


# --- SLA policy ----------------------------------------------------------------------------------


def test_saving_the_sla_policy_stores_it_and_is_audited(browser_as, manager, demo, office_calendar):
    answer = browser_as(manager).post(
        _url("queue-settings-sla", demo.queue),
        {"target_minutes": "240", "warn_at_percent": "60", "calendar": str(office_calendar.pk)},
        follow=True,
    )
    assert answer.status_code == 200
    assert b"SLA policy saved" in answer.content
    policy = SlaPolicy.objects.get(queue=demo.queue)
    assert (policy.target_minutes, policy.warn_at_percent) == (240, 60)
    assert policy.calendar == office_calendar
    assert _audited("sla.policy_set") == 1
    assert b"240 minutes of Berlin office working time" in answer.content


@pytest.mark.parametrize(
    "form,field,message",
    [
        ({"target_minutes": "-30", "warn_at_percent": "80"}, "target_minutes", b"above zero"),
        ({"target_minutes": "an hour", "warn_at_percent": "80"}, "target_minutes", b"whole number"),
        ({"target_minutes": "60", "warn_at_percent": "100"}, "warn_at_percent", b"from 1 to 99"),
    ],
)
def test_a_nonsense_policy_is_refused_next_to_its_field_and_changes_nothing(
    browser_as, manager, demo, form, field, message
):
    sla_policy_set(queue=demo.queue, target_minutes=45, warn_at_percent=75)
    answer = browser_as(manager).post(
        _url("queue-settings-sla", demo.queue), form | {"calendar": ""}
    )
    assert answer.status_code == 422
    html = answer.content.decode()
    assert f'data-field="{field}"' in html and message in answer.content
    assert f'name="{field}" value="{form[field]}"' in html
    policy = SlaPolicy.objects.get(queue=demo.queue)
    assert (policy.target_minutes, policy.warn_at_percent) == (45, 75)
    assert _audited("sla.policy_set") == 1  # the one from the setup


def test_a_calendar_another_team_relies_on_cannot_be_chosen(
    browser_as, manager, demo, other_team, office_calendar
):
    sla_policy_set(queue=other_team["queue"], target_minutes=60, calendar=office_calendar)
    page = browser_as(manager).get(_url("queue-settings", demo.queue))
    assert b"Berlin office" not in page.content
    answer = browser_as(manager).post(
        _url("queue-settings-sla", demo.queue),
        {"target_minutes": "60", "warn_at_percent": "80", "calendar": str(office_calendar.pk)},
    )
    assert answer.status_code == 422
    assert b'data-field="calendar"' in answer.content
    assert not SlaPolicy.objects.filter(queue=demo.queue).exists()


# --- business calendars --------------------------------------------------------------------------


def _calendar_form(**changes):
    form = {
        "calendar": "",
        "name": "Lisbon desk",
        "time_zone": "Europe/Lisbon",
        "holidays": "2026-12-25, 2026-12-24",
    }
    form |= {f"hours_{day}": "" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    form |= {"hours_mon": "09:00-12:30, 13:30-17:00", "hours_fri": "09:00-13:00"}
    return form | changes


def test_a_manager_creates_a_calendar_and_can_then_choose_it(browser_as, manager, demo):
    client = browser_as(manager)
    answer = client.post(_url("queue-settings-calendar", demo.queue), _calendar_form(), follow=True)
    assert answer.status_code == 200
    calendar = BusinessCalendar.objects.get(name="Lisbon desk")
    assert calendar.working_hours == {
        "mon": [["09:00", "12:30"], ["13:30", "17:00"]],
        "fri": [["09:00", "13:00"]],
    }
    assert calendar.holidays == ["2026-12-24", "2026-12-25"]
    assert _audited("sla.calendar_saved") == 1
    assert b"Calendar &#x27;Lisbon desk&#x27; saved" in answer.content
    # The page now edits it, and the SLA form offers it.
    assert b'value="09:00-12:30, 13:30-17:00"' in answer.content
    assert f'<option value="{calendar.pk}"'.encode() in answer.content


def test_a_manager_edits_a_calendar_of_their_queue(browser_as, manager, demo, office_calendar):
    sla_policy_set(queue=demo.queue, target_minutes=60, calendar=office_calendar)
    client = browser_as(manager)
    page = client.get(_url("queue-settings", demo.queue))
    assert b'value="09:00-17:00"' in page.content  # the queue's own calendar is the one shown
    client.post(
        _url("queue-settings-calendar", demo.queue),
        _calendar_form(calendar=str(office_calendar.pk), name="Berlin office"),
    )
    office_calendar.refresh_from_db()
    assert office_calendar.time_zone == "Europe/Lisbon"
    assert "tue" not in office_calendar.working_hours


@pytest.mark.parametrize(
    "changes,field,message",
    [
        (
            {"hours_mon": "", "hours_fri": ""},
            "working_hours",
            b"A calendar needs working hours on at least one day.",
        ),
        ({"hours_mon": "9-5"}, "hours_mon", b"is not a range of two times HH:MM"),
        ({"hours_fri": "17:00-09:00"}, "hours_fri", b"ends before it starts"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", b"Unknown time zone"),
        ({"holidays": "next friday"}, "holidays", b"Not a date (YYYY-MM-DD)"),
        ({"name": ""}, "name", b"Give the calendar a name."),
    ],
)
def test_a_nonsense_calendar_is_refused_next_to_its_field_and_nothing_is_saved(
    browser_as, manager, demo, changes, field, message
):
    form = _calendar_form(**changes)
    answer = browser_as(manager).post(_url("queue-settings-calendar", demo.queue), form)
    assert answer.status_code == 422
    html = answer.content.decode()
    assert f'data-field="{field}"' in html and message in answer.content
    if field != "working_hours":
        assert f'name="{field}" value="{form[field]}"' in html
    assert 'name="hours_mon" value="{}"'.format(form["hours_mon"]) in html
    assert not BusinessCalendar.objects.exists()
    assert _audited("sla.calendar_saved") == 0


def test_a_calendar_another_team_relies_on_cannot_be_edited(
    browser_as, manager, demo, other_team, office_calendar
):
    sla_policy_set(queue=other_team["queue"], target_minutes=60, calendar=office_calendar)
    client = browser_as(manager)
    assert (
        client.get(
            _url("queue-settings", demo.queue) + f"?calendar={office_calendar.pk}"
        ).status_code
        == 404
    )
    answer = client.post(
        _url("queue-settings-calendar", demo.queue),
        _calendar_form(calendar=str(office_calendar.pk)),
    )
    assert answer.status_code == 404
    office_calendar.refresh_from_db()
    assert office_calendar.time_zone == "Europe/Berlin"


# --- escalation ladder ---------------------------------------------------------------------------


def _step_form(**changes):
    form = {
        "trigger": "breach",
        "after_minutes": "15",
        "action": "raise_priority",
        "priority_boost": "4",
        "target_queue": "",
        "recipient": "",
    }
    return form | changes


def test_a_manager_adds_escalation_steps(browser_as, manager, demo):
    client = browser_as(manager)
    client.post(_url("queue-settings-step-add", demo.queue), _step_form())
    answer = client.post(
        _url("queue-settings-step-add", demo.queue),
        _step_form(action="notify_manager", priority_boost="", recipient=str(manager.pk)),
        follow=True,
    )
    assert b"Escalation step added." in answer.content
    steps = list(EscalationStep.objects.filter(queue=demo.queue).order_by("position"))
    assert [(s.action, s.after_minutes, s.priority_boost) for s in steps] == [
        ("raise_priority", 15, 4),
        ("notify_manager", 15, 0),
    ]
    assert steps[1].recipient == manager
    assert _audited("sla.escalation_step_added") == 2
    assert b'data-step="2"' in answer.content


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"after_minutes": "-5"}, "after_minutes"),
        ({"priority_boost": "0"}, "priority_boost"),
        ({"action": "notify_manager", "priority_boost": ""}, "recipient"),
        ({"action": "move_to_queue", "priority_boost": ""}, "target_queue"),
        ({"action": "fire_everyone"}, "action"),
        ({"trigger": "idle_claim", "after_minutes": "0"}, "after_minutes"),
    ],
)
def test_a_nonsense_step_is_refused_next_to_its_field_and_nothing_is_added(
    browser_as, manager, demo, changes, field
):
    form = _step_form(**changes)
    answer = browser_as(manager).post(_url("queue-settings-step-add", demo.queue), form)
    assert answer.status_code == 422
    html = answer.content.decode()
    assert f'data-field="{field}"' in html
    assert 'name="after_minutes" value="{}"'.format(form["after_minutes"]) in html
    assert not EscalationStep.objects.filter(queue=demo.queue).exists()


def test_a_step_cannot_move_tasks_to_another_teams_queue(browser_as, manager, demo, other_team):
    answer = browser_as(manager).post(
        _url("queue-settings-step-add", demo.queue),
        _step_form(action="move_to_queue", target_queue=str(other_team["queue"].pk)),
    )
    assert answer.status_code == 422
    assert b"Choose one of the queues you manage." in answer.content
    assert not EscalationStep.objects.exists()


def test_a_manager_removes_a_step_that_never_fired(browser_as, manager, demo):
    step = escalation_step_add(
        queue=demo.queue, after_minutes=0, action=EscalationAction.NOTIFY_TEAM_LEAD
    )
    answer = browser_as(manager).post(
        _url("queue-settings-step-remove", demo.queue, step.pk), **HTMX
    )
    assert answer.status_code == 200
    assert b"Step 1 removed." in answer.content
    assert not EscalationStep.objects.filter(pk=step.pk).exists()
    assert _audited("sla.escalation_step_removed") == 1


def test_another_teams_manager_cannot_remove_a_step(browser_as, other_manager, demo, other_team):
    step = escalation_step_add(
        queue=demo.queue, after_minutes=0, action=EscalationAction.NOTIFY_TEAM_LEAD
    )
    client = browser_as(other_manager)
    assert client.post(_url("queue-settings-step-remove", demo.queue, step.pk)).status_code == 404
    # Nor through a queue they do manage.
    assert (
        client.post(
            reverse("queue-settings-step-remove", args=[other_team["queue"].pk, step.pk])
        ).status_code
        == 404
    )
    assert EscalationStep.objects.filter(pk=step.pk).exists()
