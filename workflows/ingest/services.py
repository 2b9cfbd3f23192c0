"""Ingest: items arrive, are validated, stored once per idempotency key, and start the pipeline."""

import hashlib
import json
import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from reviewapp.core import tracing
from reviewapp.core.audit.services import AuditEntry, audit_record_many
from reviewapp.core.errors import Conflict, InvalidRequest
from reviewapp.core.metrics import count, series
from reviewapp.core.untrusted import shown
from workflows.models import Item, ItemStatus, Workflow
from workflows.pipeline.engine import enqueue_items
from workflows.pipeline.order import FIRST_STEP
from workflows.schemas import schema_errors


class IngestInvalid(InvalidRequest):
    detail = "The input does not match the workflow's input schema."


class IdempotencyConflict(Conflict):
    def __init__(self, key: str):
        super().__init__(
            f"Idempotency-Key {shown(key)!r} was already used with a different request body."
        )
        self.key = key


# The column's length. A batch key names its items "<key>/<index>", so a header key is kept
# shorter to leave room for the index.
MAX_IDEMPOTENCY_KEY = 200
MAX_BATCH_IDEMPOTENCY_KEY = 180
# Printable ASCII without spaces, as HTTP headers carry it everywhere unchanged.
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]+")


def idempotency_key_problem(key: str, *, maximum: int = MAX_IDEMPOTENCY_KEY) -> str | None:
    """Why ``key`` cannot name an item, or ``None``."""
    if len(key) > maximum:
        return f"Use at most {maximum} characters."
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        return "Use printable ASCII characters without spaces."
    return None


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
        problem = idempotency_key_problem(key) if key else None
        if problem is not None:
            errors[f"{error_prefix.format(index=index)}idempotency_key"] = [problem]
        elif key and key in seen:
            errors[f"{error_prefix.format(index=index)}idempotency_key"] = [
                "This key is used by another item of the same batch."
            ]
        seen.add(key or "")
    if errors:
        raise IngestInvalid(errors)
    with tracing.span(
        "ingest.items", **{"reviewapp.workflow": workflow.slug, "reviewapp.items": len(submissions)}
    ):
        try:
            return _store(workflow, submissions, submitted_by, correlation_id)
        except IntegrityError:
            # A concurrent request stored the same key between our lookup and insert: replay.
            return _store(workflow, submissions, submitted_by, correlation_id)


def _store(workflow, submissions, submitted_by, correlation_id) -> list[tuple[Item, bool]]:
    version = workflow.current_version
    trace_context = tracing.current_traceparent()
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
                trace_context=trace_context,
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
        count(series.ITEMS_RECEIVED, len(new_items), workflow=workflow.pk, version=version.pk)
        item_ids = [item.pk for item in new_items]
        # One pipeline message per batch of items, not one per item and step.
        transaction.on_commit(tracing.bound(lambda: enqueue_items(item_ids)))
    return results
