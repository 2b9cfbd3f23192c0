"""Finding audit events: filters, keyset pages and exports of what a person may see.

Pages are keyset-paginated on ``(occurred_at, id)``, newest first, so page 10,000 costs what
page 1 does. Each chain is read on its own (index ``audit_chain_recent_idx``) and the chains'
pages are merged: one ``chain IN (...)`` scan would have to sort every matching event of a
busy workflow before it could answer.
"""

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.functions import Collate
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from reviewapp.core.audit.models import AuditEvent

PAGE_SIZE = 50
EXPORT_BATCH = 1000

# The actions the product writes, offered as choices; a name ending in "*" or "." matches
# every action that starts with it ("membership.*").
KNOWN_ACTIONS = (
    "api_token.created", "api_token.revoked", "approval.answer_late",
    "approval.deadline_applied", "approval.escalated", "approval.requested",
    "canary.rolled_back", "canary.started", "canary.stopped", "export.pulled_from_label_studio",
    "export.pushed_to_label_studio", "gold_item.added", "gold_item.retired", "item.completed",
    "item.discarded", "item.received", "item.retried", "item.sent_to_review", "judge.trusted",
    "membership.added", "membership.removed", "model_version.registered",
    "model_version.shared", "pairwise.queue_set", "queue.created", "queue.quality_set",
    "queue.settings_changed", "queue.tasks_bulk_changed", "reason_codes.changed",
    "retrain.failed", "retrain.requested",
    "retrain.succeeded", "reviewer_profile.changed", "shadow.started", "shadow.stopped",
    "signin.locked_out", "sla.calendar_saved", "sla.escalation_step_added",
    "sla.escalation_step_removed", "sla.policy_set", "sso.account_created", "team.created",
    "two_factor.disabled", "two_factor.enrolled", "webhook.redelivery_requested",
    "workflow.created", "workflow.drift_detected", "workflow.qa_sample_raised",
    "workflow.qa_sample_reset",
)  # fmt: skip


class BadCursor(ValueError):
    """A cursor this page did not hand out (edited or truncated)."""


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    object_type: str = ""
    object_id: str = ""
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        if self.actor:
            # Events by a command or the system carry no person: "command", "system".
            if self.actor == "system":
                events = events.filter(actor__isnull=True, actor_label="")
            else:
                events = events.filter(actor_label=self.actor)
        if self.object_type:
            events = events.filter(object_type=self.object_type)
        if self.object_id:
            events = events.filter(object_id=self.object_id)
        if self.action:
            events = _action_matching(events, self.action)
        if self.since is not None:
            events = events.filter(occurred_at__gte=self.since)
        if self.until is not None:
            events = events.filter(occurred_at__lt=self.until)
        return events


def _action_matching(events: QuerySet[AuditEvent], action: str) -> QuerySet[AuditEvent]:
    prefix = action.rstrip("*")
    is_prefix = action.endswith(("*", "."))
    if connection.vendor != "postgresql":
        # SQLite (the quick start) compares bytes already.
        return (
            events.filter(action__startswith=prefix) if is_prefix else events.filter(action=action)
        )
    # Compared byte-wise (collation "C", as the index is), so "starts with" is a range the
    # index answers whatever the database's collation is.
    events = events.alias(action_c=Collate("action", "C"))
    if not is_prefix:
        return events.filter(action_c=action)
    if not prefix:
        return events
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return events.filter(action_c__gte=prefix, action_c__lt=upper)


def cursor_encode(event: AuditEvent) -> str:
    raw = f"{event.occurred_at.isoformat()}|{event.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when_text, pk_text = raw.split("|")
        when = parse_datetime(when_text)
        pk = int(pk_text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor(cursor) from None
    if when is None or timezone.is_naive(when):
        raise BadCursor(cursor)
    return when, pk


def _before(after: tuple[datetime, int] | None) -> Q:
    if after is None:
        return Q()
    when, pk = after
    return Q(occurred_at__lt=when) | Q(occurred_at=when, id__lt=pk)


def events_page(
    chains: list[str],
    found: AuditFilter,
    *,
    after: tuple[datetime, int] | None = None,
    size: int | None = None,
) -> tuple[list[AuditEvent], tuple[datetime, int] | None]:
    """Up to ``size`` events of ``chains`` matching ``found``, newest first, older than
    ``after``; and where the next page starts (None on the last page)."""
    size = size or PAGE_SIZE
    if not chains:
        return [], None
    order = ("-occurred_at", "-id")
    if connection.vendor != "postgresql":
        # SQLite (the quick start, small) cannot limit the parts of a UNION: one query.
        one = found.apply(AuditEvent.objects.filter(chain__in=chains)).filter(_before(after))
        return _cut(list(one.order_by(*order)[: size + 1]), size)
    per_chain = [
        found.apply(AuditEvent.objects.filter(chain=chain))
        .filter(_before(after))
        .order_by(*order)[: size + 1]
        for chain in chains
    ]
    if len(per_chain) == 1:
        events = list(per_chain[0])
    else:
        ids = per_chain[0].values("id").union(*(q.values("id") for q in per_chain[1:]), all=True)
        merged = AuditEvent.objects.filter(pk__in=[row["id"] for row in ids])
        events = list(merged.order_by(*order)[: size + 1])
    return _cut(events, size)


def _cut(
    events: list[AuditEvent], size: int
) -> tuple[list[AuditEvent], tuple[datetime, int] | None]:
    if len(events) > size:
        events = events[:size]
        last = events[-1]
        return events, (last.occurred_at, last.pk)
    return events, None


def events_all(chains: list[str], found: AuditFilter) -> Iterator[AuditEvent]:
    """Every matching event, newest first, read in keyset batches (for exports)."""
    after = None
    while True:
        events, after = events_page(chains, found, after=after, size=EXPORT_BATCH)
        yield from events
        if after is None:
            return
