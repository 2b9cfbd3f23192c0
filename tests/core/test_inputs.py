"""One input definition serves a page's typed text and the API's JSON with the same rules."""

import pytest

from reviewapp.core.accounts.inputs import ReviewerProfileInput
from reviewapp.core.inputs import flat_errors
from reviewapp.review.reviews.inputs import QueueClaimSettingsInput
from reviewapp.review.sla.inputs import CalendarInput, EscalationStepInput, SlaPolicyInput


def refusal(input_class, data, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(input_class.refusal) as refused:
        input_class.checked(data, **kwargs)
    return refused.value.errors


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ({"target_minutes": "-30"}, {"target_minutes": -30}),
        (
            {"target_minutes": "60", "warn_at_percent": "100"},
            {"target_minutes": 60, "warn_at_percent": 100},
        ),
        ({"target_minutes": str(366 * 24 * 60 + 1)}, {"target_minutes": 366 * 24 * 60 + 1}),
    ],
)
def test_a_typed_form_and_the_api_are_refused_in_the_same_words(typed, sent):
    from_page = refusal(SlaPolicyInput, SlaPolicyInput.from_form(typed))

    assert from_page == refusal(SlaPolicyInput, sent)


def test_text_a_field_cannot_read_is_refused_by_that_fields_rule():
    errors = refusal(SlaPolicyInput, SlaPolicyInput.from_form({"target_minutes": "an hour"}))

    assert errors == {
        "target_minutes": ["The target must be a whole number of minutes above zero."]
    }


def test_the_api_gets_no_numbers_written_as_text():
    assert "target_minutes" in refusal(SlaPolicyInput, {"target_minutes": "60"})
    assert "urgency_weight" in refusal(
        QueueClaimSettingsInput, {"urgency_weight": "5"}, partial=True
    )


def test_a_good_typed_form_becomes_the_values_the_services_take():
    values = SlaPolicyInput.checked(
        SlaPolicyInput.from_form({"target_minutes": "240", "calendar": ""})
    )

    assert values == {"target_minutes": 240, "warn_at_percent": 80, "calendar": None}


def test_unknown_fields_and_anything_but_an_object_are_refused():
    assert refusal(SlaPolicyInput, {"target_minutes": 60, "deadline": "soon"}) == {
        "deadline": ["Not a field here."]
    }
    assert refusal(ReviewerProfileInput, {"colour": "red"}, partial=True) == {
        "colour": ["Not a field of the profile."]
    }
    assert refusal(QueueClaimSettingsInput, ["urgency_weight"], partial=True) == {
        "non_field_errors": ["Send a JSON object."]
    }


def test_a_missing_field_is_required_unless_it_has_a_value_when_left_out():
    assert refusal(SlaPolicyInput, {}) == {"target_minutes": ["This field is required."]}
    assert CalendarInput.checked(
        {"name": "Office", "working_hours": {"mon": [["09:00", "17:00"]]}}
    ) == {
        "name": "Office",
        "time_zone": "UTC",
        "working_hours": {"mon": [["09:00", "17:00"]]},
        "holidays": [],
    }


def test_a_partial_input_holds_only_what_was_sent():
    values = QueueClaimSettingsInput.checked(
        QueueClaimSettingsInput.from_form(
            {"required_skills": "Billing, refunds", "max_claims_per_reviewer": ""}
        ),
        partial=True,
    )

    assert values == {"required_skills": ["billing", "refunds"], "max_claims_per_reviewer": None}


def test_every_field_is_checked_at_once_and_nested_ones_are_named_by_their_path():
    errors = refusal(
        CalendarInput,
        CalendarInput.from_form(
            {"name": "", "time_zone": "Mars/Base", "holidays": "soon", "hours_mon": "17:00-09:00"}
        ),
    )

    assert set(errors) == {"name", "time_zone", "holidays", "working_hours.mon"}
    assert "ends before it starts" in errors["working_hours.mon"][0]


def test_a_week_of_typed_hours_becomes_the_calendars_working_hours():
    values = CalendarInput.checked(
        CalendarInput.from_form(
            {
                "name": "Lisbon desk",
                "time_zone": "Europe/Lisbon",
                "holidays": "2026-12-25, 2026-12-24 2026-12-25",
                "hours_mon": "09:00-12:30, 13:30-17:00",
                "hours_tue": "",
            }
        )
    )

    assert values["working_hours"] == {"mon": [["09:00", "12:30"], ["13:30", "17:00"]]}
    assert values["holidays"] == ["2026-12-24", "2026-12-25"]


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        (
            {"trigger": "idle_claim", "after_minutes": 0, "action": "unclaim"},
            {"after_minutes": ["Give the idle minutes as a whole number of at least 1."]},
        ),
        (
            {"action": "raise_priority", "after_minutes": 5},
            {"priority_boost": ["Raise the priority by a whole number above zero."]},
        ),
        (
            {"action": "move_to_queue", "after_minutes": 5},
            {"target_queue": ["Name the queue to move the task to."]},
        ),
        (
            {"action": "shout", "after_minutes": -1},
            {
                "action": [
                    "Choose one of raise_priority, unclaim, notify_team_lead, move_to_queue, "
                    "notify_manager."
                ],
                "after_minutes": ["Give the minutes after the breach as a whole number >= 0."],
            },
        ),
    ],
)
def test_a_rungs_fields_are_checked_together(data, errors):
    assert refusal(EscalationStepInput, data) == errors


def test_nested_errors_are_flattened_to_dotted_paths():
    assert flat_errors({"items": [{"input": {"subject": ["Required."]}}]}) == {
        "items.0.input.subject": ["Required."]
    }
    assert flat_errors(["Send a JSON object."]) == {"non_field_errors": ["Send a JSON object."]}
