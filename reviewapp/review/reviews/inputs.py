"""What a manager sends to change how a queue hands out tasks: one definition for the settings
page, the API and ``queue_claim_settings_set``."""

import re
from typing import Any
from urllib.parse import urlsplit

from rest_framework import serializers

from reviewapp.core.errors import InvalidRequest
from reviewapp.core.inputs import Cap, Input, Number, Tags, Text
from reviewapp.review.reviews.scoring import MAX_WEIGHT

ENV_NAME_PATTERN = re.compile(r"^[A-Z_][A-Z0-9_]{0,99}$")
WEIGHT_MESSAGE = f"Give a weight from 0 to {MAX_WEIGHT:g}."


class QueueSettingsInvalid(InvalidRequest):
    detail = "The queue settings are not valid."


class _HttpUrl(Text):
    def to_internal_value(self, data: Any) -> Any:
        url = super().to_internal_value(data)
        if url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname):
            raise serializers.ValidationError(self.message)
        return url


class _EnvName(Text):
    def to_internal_value(self, data: Any) -> Any:
        name = super().to_internal_value(data)
        if name and not ENV_NAME_PATTERN.match(name):
            raise serializers.ValidationError(self.message)
        return name


class QueueClaimSettingsInput(Input):
    """Claim weights, who may claim (skills, the input field naming a task's language, a cap per
    reviewer), where escalations are POSTed, and what an hour of review costs. Checked
    ``partial``: only what is sent changes.
    """

    refusal = QueueSettingsInvalid
    unknown_field = "Not a setting of the queue."

    urgency_weight = Number(minimum=0, maximum=MAX_WEIGHT, message=WEIGHT_MESSAGE)
    priority_weight = Number(minimum=0, maximum=MAX_WEIGHT, message=WEIGHT_MESSAGE)
    uncertainty_weight = Number(minimum=0, maximum=MAX_WEIGHT, message=WEIGHT_MESSAGE)
    required_skills = Tags(what="skills")
    language_field = Text(message="Name an input field of the workflow, or leave it empty.")
    max_claims_per_reviewer = Cap()
    notify_webhook_url = _HttpUrl(message="Give an http(s) URL, or leave it empty.")
    notify_webhook_secret_env = _EnvName(
        message="Name the environment variable holding the signing secret (A-Z, 0-9, _)."
    )
    review_hourly_cost = Number(
        minimum=0, maximum=1_000_000, message="Give what an hour of review costs, 0 or more."
    )


CLAIM_SETTING_FIELDS = tuple(QueueClaimSettingsInput().fields)
