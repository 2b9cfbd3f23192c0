"""What a manager sends to set a queue's SLA policy, save a business calendar or add a rung to
the escalation ladder: one definition for the settings page, the API and the services."""

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reviewapp.core.inputs import Checked, Choice, Input, Reference, Text, WholeNumber
from reviewapp.review.reviews.models import Queue
from reviewapp.review.sla.calendar import (
    WEEKDAYS,
    holidays_errors,
    time_zone_errors,
    working_hours_errors,
)
from reviewapp.review.sla.errors import SlaInvalid
from reviewapp.review.sla.models import (
    BusinessCalendar,
    EscalationAction,
    EscalationTrigger,
)

# Longest target a policy may set: beyond a year the number is a typo, not a service level.
MAX_TARGET_MINUTES = 366 * 24 * 60
# Far above any queue's priorities; the column is a small integer.
MAX_PRIORITY_BOOST = 10_000
LIST_SEPARATOR = re.compile(r"[,\s]+")


class SlaPolicyInput(Input):
    refusal = SlaInvalid

    target_minutes = WholeNumber(
        minimum=1,
        maximum=MAX_TARGET_MINUTES,
        message="The target must be a whole number of minutes above zero.",
        too_big=f"The target may be at most {MAX_TARGET_MINUTES} minutes.",
    )
    warn_at_percent = WholeNumber(
        minimum=1,
        maximum=99,
        missing=80,
        message="Warn at a percentage of the target from 1 to 99.",
    )
    calendar = Reference(model=BusinessCalendar, message="Choose one of your team's calendars.")


class _Checks(Checked):
    """A field checked by a function that returns its messages (or, for a nested field,
    its messages per key)."""

    def __init__(self, errors, **kwargs: Any) -> None:
        self.errors = errors
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        messages = self.errors(data)
        if messages:
            raise serializers.ValidationError(messages)
        return data


@extend_schema_field(OpenApiTypes.STR)
class _TimeZone(_Checks):
    """An IANA time zone, such as Europe/Berlin."""


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "type": "array",
            "items": {"type": "array", "items": {"type": "string"}},
        },
    }
)
class _WorkingHours(_Checks):
    """Per weekday, ranges of wall-clock times: {"mon": [["09:00", "17:00"]]}."""


@extend_schema_field({"type": "array", "items": {"type": "string", "format": "date"}})
class _Holidays(_Checks):
    def from_text(self, text: str) -> Any:
        return [day for day in LIST_SEPARATOR.split(text) if day]

    def to_internal_value(self, data: Any) -> Any:
        return sorted(
            {date.fromisoformat(day).isoformat() for day in super().to_internal_value(data)}
        )


class CalendarInput(Input):
    """A business calendar. The page types each weekday's hours into a box of its own
    (``hours_mon``: "09:00-12:30, 13:30-17:00")."""

    refusal = SlaInvalid

    name = Text(missing="", blank=False, message="Give the calendar a name.")
    time_zone = _TimeZone(time_zone_errors, missing="UTC")
    working_hours = _WorkingHours(working_hours_errors, missing={})
    holidays = _Holidays(holidays_errors, missing=[])

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        values = super().to_internal_value(data)
        # A day without ranges is a day off: not stored.
        values["working_hours"] = {
            day: hours for day, hours in values["working_hours"].items() if hours
        }
        return values

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> dict[str, Any]:
        values = super().from_form(form)
        values["working_hours"] = {
            day: [
                [half.strip() for half in part.split("-")]
                for part in form.get(f"hours_{day}", "").split(",")
                if part.strip()
            ]
            for day in WEEKDAYS
        }
        return values


@extend_schema_field(OpenApiTypes.INT)
class _Minutes(Checked):
    """A whole number checked with the rung's other fields (its limits depend on them)."""

    def __init__(self, *, empty_box: Any = "", **kwargs: Any) -> None:
        self.empty_box = empty_box
        super().__init__(**kwargs)

    def from_text(self, text: str) -> Any:
        if not text:
            return self.empty_box
        try:
            return int(text)
        except ValueError:
            return text


class EscalationStepInput(Input):
    """A rung of a queue's escalation ladder. The minutes mean business minutes after the
    breach for a breach rung, minutes without a sign of life for an idle-claim rung."""

    refusal = SlaInvalid

    trigger = Choice(choices=EscalationTrigger, missing=EscalationTrigger.BREACH)
    after_minutes = _Minutes(missing=None)
    action = Choice(choices=EscalationAction, missing="")
    priority_boost = _Minutes(missing=0, empty_box=0)
    target_queue = Reference(model=Queue, message="Choose one of the queues you manage.")
    recipient = Reference(
        model=get_user_model(), name_key="username", message="Choose a manager of this queue."
    )

    def check(self, values: dict[str, Any], errors: dict[str, Any]) -> None:
        trigger, minutes = values.get("trigger"), values["after_minutes"]
        if trigger == EscalationTrigger.IDLE_CLAIM and not _at_least(minutes, 1):
            errors["after_minutes"] = ["Give the idle minutes as a whole number of at least 1."]
        elif trigger == EscalationTrigger.BREACH and not _at_least(minutes, 0):
            errors["after_minutes"] = ["Give the minutes after the breach as a whole number >= 0."]
        action = values.get("action")
        if action == EscalationAction.RAISE_PRIORITY and not _at_least(values["priority_boost"], 1):
            errors["priority_boost"] = ["Raise the priority by a whole number above zero."]
        needed = {
            EscalationAction.MOVE_TO_QUEUE: ("target_queue", "Name the queue to move the task to."),
            EscalationAction.NOTIFY_MANAGER: ("recipient", "Name the manager to notify."),
        }
        if _at_least(minutes, MAX_TARGET_MINUTES + 1):
            errors["after_minutes"] = [f"Give at most {MAX_TARGET_MINUTES} minutes."]
        boost = values.get("priority_boost")
        if _at_least(boost, MAX_PRIORITY_BOOST + 1) or _at_most(boost, -MAX_PRIORITY_BOOST - 1):
            errors["priority_boost"] = [f"Raise the priority by at most {MAX_PRIORITY_BOOST}."]
        if action in needed:
            name, message = needed[action]
            # A name that found nothing has its own message already.
            if name in values and values[name] is None:
                errors[name] = [message]


def _at_least(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _at_most(value: Any, maximum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value <= maximum
