"""Ingest: items arrive, are validated, stored once per idempotency key, and start the pipeline."""

import hashlib
import json
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from reviewapp.audit.services import AuditEntry, audit_record, audit_record_many
from reviewapp.errors import Conflict, InvalidRequest
from workflows.engine import enqueue_items
from workflows.models import Item, ItemStatus, Workflow
from workflows.pipeline import FIRST_STEP
from workflows.schemas import schema_errors


class IngestInvalid(InvalidRequest):
    detail = "The input does not match the workflow's input schema."


class IdempotencyConflict(Conflict):
    def __init__(self, key: str):
        super().__init__(f"Idempotency-Key {key!r} was already used with a different request body.")
        self.key = key


@dataclass(frozen=True)
class Submission:
    input: object
    idempotency_key: str | None = None


def request_hash(payload: object) -> str:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def items_ingest(
    *,
    workflow: Workflow,
    submissions: list[Submission],
    submitted_by=None,
    correlation_id: str = "",
    error_prefix: str = "",
) -> list[tuple[Item, bool]]:
    """Store every submission or none of them; returns ``(item, created)`` in input order.

    ``error_prefix`` locates a submission in the request (``"items.{index}."`` for a batch), so
    field errors read ``items.3.input.subject`` or ``items.3.idempotency_key``.

    A replay with the same idempotency key and the same input returns the stored item; the same
    key with another input is a conflict. The pipeline starts after the transaction commits.
    """
    version = workflow.current_version
    assert version is not None, "a workflow without a version cannot take items"
    errors: dict[str, list[str]] = {}
    for index, submission in enumerate(submissions):
        prefix = error_prefix.format(index=index)
        for path, messages in schema_errors(
            version.definition["input_schema"], submission.input
        ).items():
            errors[f"{prefix}input.{path}"] = messages
    seen: set[str] = set()
    for index, submission in enumerate(submissions):
        key = submission.idempotency_key
        if key and key in seen:
            errors[f"{error_prefix.format(index=index)}idempotency_key"] = [
                "This key is used by another item of the same batch."
            ]
        seen.add(key or "")
    if errors:
        raise IngestInvalid(errors)
    try:
        return _store(workflow, submissions, submitted_by, correlation_id)
    except IntegrityError:
        # A concurrent request stored the same key between our lookup and insert: replay now.
        return _store(workflow, submissions, submitted_by, correlation_id)


def _store(workflow, submissions, submitted_by, correlation_id) -> list[tuple[Item, bool]]:
    version = workflow.current_version
    with transaction.atomic():
        keys = [s.idempotency_key for s in submissions if s.idempotency_key]
        existing = {
            item.idempotency_key: item
            for item in Item.objects.filter(workflow=workflow, idempotency_key__in=keys)
        }
        results: list[tuple[Item, bool]] = []
        new_items: list[Item] = []
        for submission in submissions:
            digest = request_hash(submission.input)
            stored = existing.get(submission.idempotency_key or "")
            if stored is not None:
                if stored.request_hash != digest:
                    raise IdempotencyConflict(submission.idempotency_key or "")
                results.append((stored, False))
                continue
            item = Item(
                workflow=workflow,
                workflow_version=version,
                status=ItemStatus.RECEIVED,
                current_step=FIRST_STEP,
                input=submission.input,
                idempotency_key=submission.idempotency_key,
                request_hash=digest,
                correlation_id=correlation_id,
                submitted_by=submitted_by,
            )
            new_items.append(item)
            results.append((item, True))
        Item.objects.bulk_create(new_items)
        received = {"workflow_version": version.number, "correlation_id": correlation_id}
        audit_record_many(
            [
                AuditEntry(action="item.received", obj=item, actor=submitted_by, data=received)
                for item in new_items
            ],
            chain=workflow.audit_chain,
        )
        item_ids = [item.pk for item in new_items]
        # One pipeline message per batch of items, not one per item and step.
        transaction.on_commit(lambda: enqueue_items(item_ids))
    return results


@transaction.atomic
def workflow_publish(*, slug: str, name: str, team, definition: dict, acting_user=None):
    """Create the workflow or, when the definition changed, a new immutable version of it."""
    from reviewapp.permissions import team_grant_object_permissions
    from workflows.models import WorkflowVersion, definition_checksum

    workflow, created = Workflow.objects.get_or_create(
        slug=slug, defaults={"name": name, "team": team}
    )
    # Granted on every publish, so permissions added in a release reach existing workflows.
    team_grant_object_permissions(team=workflow.team, workflows=[workflow])
    checksum = definition_checksum(definition)
    current = workflow.current_version
    if current is not None and current.checksum == checksum:
        return workflow
    version = WorkflowVersion.objects.create(
        workflow=workflow,
        number=(current.number + 1) if current else 1,
        definition=definition,
        checksum=checksum,
    )
    workflow.current_version = version
    workflow.name = name
    workflow.save(update_fields=["current_version", "name"])
    audit_record(
        action="workflow.created" if created else "workflow.version_published",
        obj=workflow,
        actor=acting_user,
        chain=workflow.audit_chain,
        data={"version": version.number, "checksum": checksum},
    )
    return workflow


@transaction.atomic
def model_version_register(
    *, name: str, version: str, artefact: str, labels: list[str], metrics: dict, acting_user=None
):
    from reviewapp.checksums import file_sha256
    from workflows.adapters.builtin import artefact_path
    from workflows.models import ModelVersion

    model_version, _ = ModelVersion.objects.update_or_create(
        name=name,
        version=version,
        defaults={
            "artefact": artefact,
            "sha256": file_sha256(artefact_path(artefact)),
            "labels": labels,
            "metrics": metrics,
        },
    )
    audit_record(
        action="model_version.registered",
        obj=model_version,
        actor=acting_user,
        data={"name": name, "version": version, "sha256": model_version.sha256, "metrics": metrics},
    )
    return model_version


@transaction.atomic
def workflow_sync(*, source, acting_user=None) -> Workflow:
    """Make the database match one definition file: team, workflow version, queue, reasons.

    ``source`` is a loaded ``workflows.definitions.WorkflowFile``. Publishing is a no-op when the
    definition is unchanged, so running the sync twice creates nothing.
    """
    from reviewapp.accounts.models import Team
    from reviewapp.corrections.services import reason_codes_sync
    from reviewapp.reviews.services import queue_create
    from workflows.definitions import DefinitionInvalid
    from workflows.models import ModelVersion

    binding = source.definition["model"]
    if not ModelVersion.objects.filter(name=binding["name"], version=binding["version"]).exists():
        raise DefinitionInvalid(
            [
                f"{source.path.name}: definition.model: no registered model "
                f"{binding['name']}@{binding['version']}"
            ]
        )
    team, _ = Team.objects.get_or_create(slug=source.team, defaults={"name": source.team})
    workflow = workflow_publish(
        slug=source.slug,
        name=source.name,
        team=team,
        definition=source.definition,
        acting_user=acting_user,
    )
    queue_create(
        team=team,
        workflow=workflow,
        slug=source.queue_slug,
        name=source.queue_name,
        acting_user=acting_user,
    )
    reason_codes_sync(workflow=workflow, codes=source.reason_codes)
    return workflow
