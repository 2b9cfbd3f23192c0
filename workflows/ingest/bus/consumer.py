"""Turning a batch of bus messages into items, acknowledged only after the items committed.

A message is JSON: ``{"input": {...}, "idempotency_key": "...", "workflow": "slug"}`` (the last
two optional). Its idempotency key is its ``idempotency_key``, else the transport's message id,
namespaced by the source (``amqp:orders:<key>``): a redelivered or republished message finds the
item it made and adds nothing. Validation is the HTTP endpoint's: the same envelope serializer
and ``items_ingest``, whose field errors name the submissions at fault.

One batch, one transaction: the good messages of a batch are stored together, then
acknowledged after the commit. A database error acknowledges nothing and hands the batch back
for redelivery; a crash between commit and acknowledgement only redelivers what is stored
already. Malformed messages (not JSON, schema errors, unknown workflow, no permission, a key
reused with another input) are dead-lettered with a log line and never hold up the rest.
"""

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field

from django.db import DatabaseError, close_old_connections, transaction
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from reviewapp.core.permissions import SUBMIT_ITEMS, user_can
from workflows.ingest.api import SubmissionSerializer
from workflows.ingest.bus.sources import BusMessage, MessageSource
from workflows.ingest.services import (
    IdempotencyConflict,
    IngestInvalid,
    Submission,
    items_ingest,
    request_hash,
)
from workflows.models import Workflow

logger = logging.getLogger(__name__)

KEY_MAX_LENGTH = 200
KEY_REUSED = "its idempotency key was already used with a different input"


class BusMessageSerializer(SubmissionSerializer):
    """The HTTP endpoint's submission, plus the workflow a message may name."""

    workflow = serializers.SlugField(max_length=100, required=False)


@dataclass
class BatchResult:
    created: int = 0
    replayed: int = 0
    dead_lettered: int = 0
    errors: list[str] = field(default_factory=list)
    to_ack: list[BusMessage] = field(default_factory=list)
    # Handed back for redelivery because the database failed.
    to_retry: list[BusMessage] = field(default_factory=list)


@dataclass
class _Parsed:
    message: BusMessage
    input: object
    key: str | None
    workflow: Workflow


def _namespaced(source: str, key: str) -> str:
    namespaced = f"{source}:{key}"
    if len(namespaced) <= KEY_MAX_LENGTH:
        return namespaced
    return f"{source}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def _flatten(errors) -> str:
    if isinstance(errors, dict):
        return "; ".join(f"{name}: {_flatten(value)}" for name, value in errors.items())
    if isinstance(errors, list):
        return " ".join(_flatten(value) for value in errors)
    return str(errors) if isinstance(errors, ErrorDetail | str) else repr(errors)


class BusIngest:
    """Ingests batches from ``source`` as ``submitter`` (who needs SUBMIT_ITEMS on the workflow).

    ``workflow``, when given, is the only workflow this consumer takes items for; without it
    every message names its own.
    """

    def __init__(self, *, source: MessageSource, submitter, workflow: Workflow | None = None):
        self.source = source
        self.submitter = submitter
        self.workflow = workflow

    def handle(self, messages: list[BusMessage]) -> BatchResult:
        result = self.store(messages)
        self.settle(result)
        return result

    def store(self, messages: list[BusMessage]) -> BatchResult:
        """Store the batch's items in one transaction and dead-letter the malformed messages;
        the result says which messages to acknowledge and which to hand back (``settle``)."""
        result = BatchResult()
        dead: list[tuple[BusMessage, str]] = []
        parsed: list[_Parsed] = []
        workflows: dict[str, Workflow | str] = {}
        try:
            # Reading the workflows can fail on the database too: then nothing is dead-lettered
            # for a reason it could not check.
            for message in messages:
                outcome = self._parse(message, workflows)
                if isinstance(outcome, str):
                    dead.append((message, outcome))
                else:
                    parsed.append(outcome)
            with transaction.atomic(durable=True):
                result.to_ack = self._store(parsed, dead, result)
        except DatabaseError as exc:
            # Nothing of the batch is stored: it all comes back, and the connection is renewed.
            logger.warning(
                "bus %s: database error, %d messages handed back for redelivery: %s",
                self.source.name,
                len(messages) - len(dead),
                exc,
            )
            close_old_connections()
            dead_ids = {id(message) for message, _ in dead}
            result.to_ack = []
            result.to_retry = [message for message in messages if id(message) not in dead_ids]
            result.created = result.replayed = 0
            result.errors.append(str(exc))
        self._dead_letter(dead, result)
        return result

    def settle(self, result: BatchResult) -> None:
        """Acknowledge what was committed, hand back what was not. Runs after the commit, so a
        crash before it only brings the batch back, and the replay finds its items stored."""
        if result.to_ack:
            self.source.ack(result.to_ack)
        if result.to_retry:
            self.source.retry_later(result.to_retry)

    def _parse(self, message: BusMessage, workflows: dict) -> _Parsed | str:
        try:
            document = json.loads(message.body)
        except (UnicodeDecodeError, ValueError) as exc:
            return f"not JSON: {exc}"
        if not isinstance(document, dict):
            return 'not a JSON object: send {"input": {...}}'
        envelope = BusMessageSerializer(data=document)
        if not envelope.is_valid():
            return f"invalid message: {_flatten(envelope.errors)}"
        data = envelope.validated_data
        slug = data.get("workflow") or (self.workflow.slug if self.workflow else None)
        if slug is None:
            return "the message names no workflow and the consumer has none"
        if self.workflow is not None and slug != self.workflow.slug:
            return f"this consumer takes items for workflow {self.workflow.slug!r} only"
        if slug not in workflows:
            workflows[slug] = self._workflow(slug)
        workflow = workflows[slug]
        if isinstance(workflow, str):
            return workflow
        key = data.get("idempotency_key") or message.message_id
        return _Parsed(
            message=message,
            input=data["input"],
            key=_namespaced(self.source.name, key) if key else None,
            workflow=workflow,
        )

    def _workflow(self, slug: str) -> Workflow | str:
        try:
            workflow = Workflow.objects.select_related("current_version").get(slug=slug)
        except Workflow.DoesNotExist:
            return f"no workflow {slug!r}"
        if not user_can(self.submitter, SUBMIT_ITEMS, workflow):
            return f"{self.submitter.get_username()} may not submit items to {slug!r}"
        if workflow.current_version is None:
            return f"workflow {slug!r} has no published version"
        return workflow

    def _store(self, parsed: list[_Parsed], dead: list, result: BatchResult) -> list[BusMessage]:
        """Store the batch's items, moving the messages found malformed to ``dead``; the
        messages to acknowledge after commit."""
        stored: list[BusMessage] = []
        by_workflow: dict[int, list[_Parsed]] = {}
        for entry in parsed:
            by_workflow.setdefault(entry.workflow.pk, []).append(entry)
        correlation_id = f"bus-{uuid.uuid4().hex}"
        for group in by_workflow.values():
            pending = group
            while pending:
                # Messages with the same key (a message published twice) share one submission.
                slot_of: dict[str, int] = {}
                submissions: list[Submission] = []
                owners: list[list[_Parsed]] = []
                conflicting: list[_Parsed] = []
                for entry in pending:
                    if entry.key is not None and entry.key in slot_of:
                        first = owners[slot_of[entry.key]][0]
                        if request_hash(first.input) != request_hash(entry.input):
                            conflicting.append(entry)
                        else:
                            owners[slot_of[entry.key]].append(entry)
                        continue
                    if entry.key is not None:
                        slot_of[entry.key] = len(owners)
                    submissions.append(Submission(input=entry.input, idempotency_key=entry.key))
                    owners.append([entry])
                try:
                    with transaction.atomic():
                        results = items_ingest(
                            workflow=group[0].workflow,
                            submissions=submissions,
                            submitted_by=self.submitter,
                            correlation_id=correlation_id,
                            error_prefix="{index}.",
                        )
                except IngestInvalid as invalid:
                    bad = self._invalid(invalid.errors, owners, dead)
                    pending = [entry for entry in pending if id(entry) not in bad]
                    continue
                except IdempotencyConflict as conflict:
                    bad = {id(entry) for entry in pending if entry.key == conflict.key}
                    dead.extend(
                        (entry.message, KEY_REUSED) for entry in pending if id(entry) in bad
                    )
                    pending = [entry for entry in pending if id(entry) not in bad]
                    continue
                dead.extend((entry.message, KEY_REUSED) for entry in conflicting)
                for (_item, created), entries in zip(results, owners, strict=True):
                    # A second copy of a message in the same batch is a replay of the first.
                    result.created += int(created)
                    result.replayed += len(entries) - int(created)
                    stored.extend(entry.message for entry in entries)
                pending = []
        return stored

    @staticmethod
    def _invalid(errors: dict, owners: list[list[_Parsed]], dead: list) -> set[int]:
        reasons: dict[int, list[str]] = {}
        for path, messages in errors.items():
            index, _, where = path.partition(".")
            reasons.setdefault(int(index), []).append(f"{where}: {' '.join(messages)}")
        bad: set[int] = set()
        for index, found in reasons.items():
            for entry in owners[index]:
                dead.append((entry.message, "schema errors: " + "; ".join(found)))
                bad.add(id(entry))
        return bad

    def _dead_letter(self, dead: list[tuple[BusMessage, str]], result: BatchResult) -> None:
        for message, reason in dead:
            logger.warning(
                "bus %s: dead-lettered message %s: %s",
                self.source.name,
                message.message_id or "(no id)",
                reason,
            )
            self.source.dead_letter(message, reason)
            result.dead_lettered += 1


@dataclass
class ConsumeTotals:
    batches: int = 0
    created: int = 0
    replayed: int = 0
    dead_lettered: int = 0


def bus_consume(
    *,
    ingest: BusIngest,
    batch: int,
    wait: float = 1.0,
    should_stop=lambda: False,
    exit_when_idle: float | None = None,
) -> ConsumeTotals:
    """Take batches from the source until ``should_stop()``, or until nothing came for
    ``exit_when_idle`` seconds. Backs off while the database fails."""
    totals = ConsumeTotals()
    idle_since = time.monotonic()
    backoff = 0.0
    while not should_stop():
        messages = ingest.source.fetch(batch, wait)
        if not messages:
            if exit_when_idle is not None and time.monotonic() - idle_since >= exit_when_idle:
                break
            continue
        idle_since = time.monotonic()
        result = ingest.handle(messages)
        totals.batches += 1
        totals.created += result.created
        totals.replayed += result.replayed
        totals.dead_lettered += result.dead_lettered
        if result.to_retry:
            backoff = min(max(backoff * 2, 0.5), 30.0)
            time.sleep(backoff)
        else:
            backoff = 0.0
    return totals
