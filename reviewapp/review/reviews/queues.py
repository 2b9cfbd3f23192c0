"""Queues: create one, and set how it hands out tasks (claim weights, skills, languages, caps)
and where its escalations are POSTed."""

from typing import Any

from django.db import transaction

from reviewapp.core.audit.services import audit_record
from reviewapp.core.permissions import team_grant_object_permissions
from reviewapp.review.reviews.access import require_queue_manager
from reviewapp.review.reviews.inputs import QueueClaimSettingsInput, QueueSettingsInvalid
from reviewapp.review.reviews.models import LIVE_STATUSES, Queue, ReviewTask
from reviewapp.review.reviews.scoring import claim_score_expression
from workflows.act.secrets import webhook_secret_refusal


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


def _state_errors(queue: Queue, changes: dict[str, Any], errors: dict) -> dict[str, list[str]]:
    """What the queue's workflow and its current settings refuse of ``changes``."""
    found: dict[str, list[str]] = {}
    field = changes.get("language_field")
    version = queue.workflow.current_version
    schema = version.definition.get("input_schema", {}) if version is not None else {}
    properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
    if field and properties and field not in properties:
        found["language_field"] = [
            f"The workflow's input has no field {field!r} (it has {', '.join(sorted(properties))})."
        ]
    url = changes.get("notify_webhook_url", queue.notify_webhook_url)
    secret_env = changes.get("notify_webhook_secret_env", queue.notify_webhook_secret_env)
    if url and not secret_env and "notify_webhook_secret_env" not in errors:
        found["notify_webhook_secret_env"] = ["A webhook needs the name of its signing secret."]
    named = changes.get("notify_webhook_secret_env")
    refusal = named and webhook_secret_refusal(team_slug=queue.team.slug, name=named)
    if refusal and "notify_webhook_secret_env" not in errors:
        found["notify_webhook_secret_env"] = [refusal]
    return found


@transaction.atomic(durable=True)
def queue_claim_settings_set(*, queue: Queue, acting_user, changes: dict[str, Any]) -> Queue:
    """Change how the queue hands out tasks (and where its escalations are POSTed): the
    settings of ``QueueClaimSettingsInput`` that ``changes`` names, checked against the queue's
    workflow and its other settings too.

    A change of weights re-scores the queue's live tasks in one UPDATE, so the next claim
    already follows the new weights. A new ``language_field`` applies to tasks opened from now.
    """
    require_queue_manager(acting_user, queue)
    queue = Queue.objects.select_for_update().select_related("workflow").get(pk=queue.pk)
    changes, errors = QueueClaimSettingsInput.errors_of(changes, partial=True)
    errors |= _state_errors(queue, changes, errors)
    if errors:
        raise QueueSettingsInvalid(errors)
    before = {name: getattr(queue, name) for name in changes}
    for name, value in changes.items():
        setattr(queue, name, value)
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
