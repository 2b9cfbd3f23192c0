"""Audit events as CSV or JSON lines, one chunk per event, for a streamed download."""

import csv
import io
import json
from collections.abc import Iterable, Iterator

from django import forms

from reviewapp.core.audit.models import AuditEvent
from reviewapp.core.spreadsheets import neutralise_formula

COLUMNS = (
    "occurred_at", "chain", "shard", "seq", "action", "object_type", "object_id", "actor",
    "data", "hash",
)  # fmt: skip


def _record(event: AuditEvent) -> dict:
    return {
        # UTC, like the API: an export is read by programs and people in other zones.
        "occurred_at": event.occurred_at.isoformat(),
        "chain": event.chain,
        "shard": event.shard,
        "seq": event.seq,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "actor": event.actor_label or "system",
        "data": event.data,
        "hash": event.hash,
    }


def audit_export_rows(events: Iterable[AuditEvent], fmt: str) -> Iterator[str]:
    if fmt == "jsonl":
        for event in events:
            yield json.dumps(_record(event), ensure_ascii=False, sort_keys=True) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for event in events:
        record = _record(event)
        record["data"] = json.dumps(record["data"], ensure_ascii=False, sort_keys=True)
        writer.writerow([neutralise_formula(str(record[column])) for column in COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def form_errors_text(form: forms.Form) -> str:
    return " ".join(
        f"{form.fields[name].label if name in form.fields else ''}: {message}".lstrip(": ")
        for name, messages in form.errors.items()
        for message in messages
    )
