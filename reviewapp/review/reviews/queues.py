"""Queues: create one, and set how it hands out tasks (claim weights, skills, languages, caps)
and where its escalations are POSTed."""

import math
import re
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction

from reviewapp.core.accounts.validators import cap_errors, tags_errors
from reviewapp.core.audit.services import audit_record
from reviewapp.core.errors import InvalidRequest
from reviewapp.core.permissions import team_grant_object_permissions
from reviewapp.review.reviews.access import require_queue_manager
from reviewapp.review.reviews.models import LIVE_STATUSES, Queue, ReviewTask
from reviewapp.review.reviews.scoring import MAX_WEIGHT, claim_score_expression


@transaction.atomic
def queue_create(*, team, workflow, slug: str, name: str, acting_user=None) -> Queue:
    queue, created = Queue.objects.get_or_create(
        slug=slug, defaults={"team": team, "workflow": workflow, "name": name}
    )
    if created:
        audit_record(
            action="queue.created",
            obj=queue,
            actor=acting_user,
            chain=workflow.audit_chain,
            data={"slug": slug, "team": team.slug},
        )
    team_grant_object_permissions(team=team, queues=[queue])
    return queue


# --- queue settings: claim weights, skills, languages, caps, notification webhook -------------

CLAIM_SETTING_FIELDS = (
    "urgency_weight",
    "priority_weight",
    "uncertainty_weight",
    "required_skills",
    "language_field",
    "max_claims_per_reviewer",
    "notify_webhook_url",
    "notify_webhook_secret_env",
)
ENV_NAME_PATTERN = re.compile(r"^[A-Z_][A-Z0-9_]{0,99}$")


class QueueSettingsInvalid(InvalidRequest):
    detail = "The queue settings are not valid."


def _settings_errors(queue: Queue, changes: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(changes) - set(CLAIM_SETTING_FIELDS))
    for name in unknown:
        errors[name] = ["Not a setting of the queue."]
    for name in ("urgency_weight", "priority_weight", "uncertainty_weight"):
        if name in changes:
            value = changes[name]
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not math.isfinite(value)
                or not 0 <= value <= MAX_WEIGHT
            ):
                errors[name] = [f"Give a weight from 0 to {MAX_WEIGHT:g}."]
    if "required_skills" in changes:
        changes["required_skills"], messages = tags_errors(changes["required_skills"], "skills")
        if messages:
            errors["required_skills"] = messages
    if "language_field" in changes:
        field = changes["language_field"]
        version = queue.workflow.current_version
        schema = version.definition.get("input_schema", {}) if version is not None else {}
        properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
        if not isinstance(field, str):
            errors["language_field"] = ["Name an input field of the workflow, or leave it empty."]
        elif field and properties and field not in properties:
            errors["language_field"] = [
                f"The workflow's input has no field {field!r} "
                f"(it has {', '.join(sorted(properties))})."
            ]
    if "max_claims_per_reviewer" in changes and cap_errors(changes["max_claims_per_reviewer"]):
        errors["max_claims_per_reviewer"] = cap_errors(changes["max_claims_per_reviewer"])
    if "notify_webhook_url" in changes:
        url = changes["notify_webhook_url"]
        if not isinstance(url, str) or (
            url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname)
        ):
            errors["notify_webhook_url"] = ["Give an http(s) URL, or leave it empty."]
    if "notify_webhook_secret_env" in changes:
        name = changes["notify_webhook_secret_env"]
        if not isinstance(name, str) or (name and not ENV_NAME_PATTERN.match(name)):
            errors["notify_webhook_secret_env"] = [
                "Name the environment variable holding the signing secret (A-Z, 0-9, _)."
            ]
    url = changes.get("notify_webhook_url", queue.notify_webhook_url)
    secret_env = changes.get("notify_webhook_secret_env", queue.notify_webhook_secret_env)
    if url and not secret_env and "notify_webhook_secret_env" not in errors:
        errors["notify_webhook_secret_env"] = ["A webhook needs the name of its signing secret."]
    return errors


@transaction.atomic(durable=True)
def queue_claim_settings_set(*, queue: Queue, acting_user, changes: dict[str, Any]) -> Queue:
    """Change how the queue hands out tasks (and where its escalations are POSTed).

    A change of weights re-scores the queue's live tasks in one UPDATE, so the next claim
    already follows the new weights. A new ``language_field`` applies to tasks opened from now.
    """
    require_queue_manager(acting_user, queue)
    queue = Queue.objects.select_for_update().select_related("workflow").get(pk=queue.pk)
    changes = dict(changes)
    errors = _settings_errors(queue, changes)
    if errors:
        raise QueueSettingsInvalid(errors)
    before = {name: getattr(queue, name) for name in changes}
    for name, value in changes.items():
        setattr(queue, name, value.strip() if isinstance(value, str) else value)
    queue.save(update_fields=list(changes))
    if {"urgency_weight", "priority_weight", "uncertainty_weight"} & set(changes):
        ReviewTask.objects.filter(queue=queue, status__in=LIVE_STATUSES).update(
            claim_score=claim_score_expression(queue)
        )
    audit_record(
        action="queue.settings_changed",
        obj=queue,
        actor=acting_user,
        chain=queue.workflow.audit_chain,
        data={
            "queue": queue.slug,
            "before": before,
            "after": {name: getattr(queue, name) for name in changes},
        },
    )
    return queue
