"""Writing and verifying the hash-chained audit trail.

Every event belongs to a chain (one per workflow, plus ``"system"``) and, inside it, to one of
``settings.REVIEWAPP_AUDIT_SHARDS`` shards; each shard is its own hash chain (``seq`` 1, 2, ...
each event holding the hash of the one before). Why shards: an append must read the chain's
last event and write the next one atomically, so the writers of one chain queue on a lock.
With one chain per workflow every pipeline worker and every reviewer of a workflow queued
behind each other. Now a transaction takes the first *free*
shard of the chain (``pg_try_advisory_xact_lock`` in ``audit_shard_take``, starting from a
shard picked by its connection) and writes all its events of that chain there, so concurrent
writers append side by side and only wait when every shard is busy.

The shard is chosen per transaction, not derived from the object: a transaction that records
events about several objects (a decision and its task, a batch of items) holds at most one
shard per chain and never waits while holding one (a transaction that already holds a shard
gets it again from the try-lock), so shards cannot deadlock each other. The events of one
object may spread over shards; their order is still ``occurred_at`` (an item's writers are
serialised by its row lock anyway).

Tamper-evidence is unchanged per shard: the table is append-only in PostgreSQL (migration
0002), and ``audit_verify`` recomputes every shard of every chain and names the first broken
link. Changing the number of shards later is safe: existing shards stay verifiable as they are.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, models
from django.utils import timezone

from reviewapp.core.audit.models import AuditEvent
from reviewapp.core.outbox.services import outbox_add, outbox_enabled
from reviewapp.core.pooling import streaming_alias

GENESIS_HASH = "0" * 64
SYSTEM_CHAIN = "system"


def _event_hash(
    *,
    chain: str,
    shard: int,
    seq: int,
    occurred_at: str,
    actor_id: int | None,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    data: Any,
    prev_hash: str,
) -> str:
    # Shard 0 hashes without its number, so events written before sharding still verify;
    # moving an event to another shard changes what is hashed either way.
    where: list[Any] = [chain, shard] if shard else [chain]
    payload = json.dumps(
        [
            *where,
            seq,
            occurred_at,
            actor_id,
            actor_label,
            action,
            object_type,
            object_id,
            data,
            prev_hash,
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _chain_key(chain: str) -> int:
    return int.from_bytes(hashlib.sha256(chain.encode()).digest()[:4], "big", signed=True)


def _take_shard(chain: str) -> tuple[int, int, str]:
    """Take a shard of ``chain`` for the rest of the transaction: ``(shard, seq, hash)`` of its
    last event (``(shard, 0, GENESIS_HASH)`` while it has none).

    On PostgreSQL one call of ``audit_shard_take`` (migration 0004) tries the shards in turn
    from this connection's own starting point and stops at the first free one (or one this
    transaction holds already: advisory locks are re-entrant); only when all are busy does it
    wait, on its starting shard, holding none. It then reads the shard's last event in a
    statement of its own, which sees what the previous holder committed. SQLite runs every
    write transaction IMMEDIATE, which serialises writers already: shard 0, read directly.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            shards = settings.REVIEWAPP_AUDIT_SHARDS
            start = connection.connection.info.backend_pid % shards
            order = [(start + offset) % shards for offset in range(shards)]
            cursor.execute(
                "SELECT shard, seq, hash FROM audit_shard_take(%s, %s, %s::int[])",
                [chain, _chain_key(chain), order],
            )
            shard, seq, last_hash = cursor.fetchone()
        else:
            shard = 0
            cursor.execute(LAST_EVENT_SQL, [chain, shard])
            seq, last_hash = cursor.fetchone() or (0, None)
    return shard, seq, last_hash or GENESIS_HASH


LAST_EVENT_SQL = (
    f"SELECT seq, hash FROM {AuditEvent._meta.db_table} "  # noqa: S608 (a model's table name)
    "WHERE chain = %s AND shard = %s ORDER BY seq DESC LIMIT 1"
)

# Every column but the id, in field order: the events' INSERT, written out once (every review
# writes two events, and the ORM's insert compiler cost more than the insert itself).
_INSERT_FIELDS = [field for field in AuditEvent._meta.concrete_fields if not field.primary_key]
_INSERT_SQL = "INSERT INTO {table} ({columns}) VALUES {rows} RETURNING {id}"


# Rows per INSERT: well under PostgreSQL's 65,535 parameters (and SQLite's 32,766).
_INSERT_BATCH = 1000


def _insert(events: list[AuditEvent]) -> None:
    if not connection.features.can_return_rows_from_bulk_insert:
        AuditEvent.objects.bulk_create(events)
        return
    quote = connection.ops.quote_name
    row = f"({', '.join(['%s'] * len(_INSERT_FIELDS))})"
    for start in range(0, len(events), _INSERT_BATCH):
        batch = events[start : start + _INSERT_BATCH]
        sql = _INSERT_SQL.format(
            table=quote(AuditEvent._meta.db_table),
            columns=", ".join(quote(str(field.column)) for field in _INSERT_FIELDS),
            rows=", ".join([row] * len(batch)),
            id=quote(str(AuditEvent._meta.pk.column)),
        )
        params = [
            field.get_db_prep_save(getattr(event, field.attname), connection)
            for event in batch
            for field in _INSERT_FIELDS
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            ids = [inserted[0] for inserted in cursor.fetchall()]
        for event, pk in zip(batch, ids, strict=True):
            event.pk = pk
            event._state.adding = False
            event._state.db = connection.alias


@dataclass(frozen=True)
class AuditEntry:
    """One event to record with ``audit_record_many``."""

    action: str
    obj: models.Model
    data: dict = field(default_factory=dict)
    actor: Any = None
    # Who acted when no person did: "command" for a management command.
    actor_label: str = ""


def audit_record(
    *,
    action: str,
    obj: models.Model,
    actor: Any = None,
    chain: str = SYSTEM_CHAIN,
    data: dict | None = None,
    actor_label: str = "",
) -> AuditEvent:
    """Append one event to ``chain``. Must run inside the transaction of the change it records."""
    entry = AuditEntry(
        action=action, obj=obj, data=data or {}, actor=actor, actor_label=actor_label
    )
    (event,) = audit_record_many([entry], chain=chain)
    return event


def audit_record_many(entries: Sequence[AuditEntry], *, chain: str) -> list[AuditEvent]:
    """Append events to ``chain`` in order: one round trip takes a shard and reads its last
    event, one inserts the events.

    Must run inside the transaction of the changes it records.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records")
    if not entries:
        return []
    occurred_at = timezone.now()
    # Everything but the place in the chain is settled before a shard is taken: the shard is
    # held until commit, and whatever runs meanwhile, the workflow's other writers may wait for.
    events = []
    for entry in entries:
        actor = entry.actor
        actor_id = actor.pk if actor is not None and actor.is_authenticated else None
        events.append(
            AuditEvent(
                chain=chain,
                occurred_at=occurred_at,
                actor_id=actor_id,
                actor_label=actor.get_username() if actor_id else entry.actor_label,
                action=entry.action,
                object_type=entry.obj._meta.label_lower,
                object_id=str(entry.obj.pk),
                # Round-trip through JSON so the hash covers exactly what the database gives back.
                data=json.loads(json.dumps(entry.data, default=str)),
            )
        )
    shard, seq, prev_hash = _take_shard(chain)
    for event in events:
        seq += 1
        event.shard = shard
        event.seq = seq
        event.prev_hash = prev_hash
        event.hash = prev_hash = _hash_of(event)
    _insert(events)
    # Decisions, escalations and releases also go out on the event bus, when one is configured:
    # written here, in the same transaction, so only committed changes are ever published.
    if outbox_enabled():
        outbox_add(events, [entry.obj for entry in entries])
    return events


def _hash_of(event: AuditEvent) -> str:
    return _event_hash(
        chain=event.chain,
        shard=event.shard,
        seq=event.seq,
        occurred_at=event.occurred_at.isoformat(),
        actor_id=event.actor_id,
        actor_label=event.actor_label,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        data=event.data,
        prev_hash=event.prev_hash,
    )


@dataclass(frozen=True)
class BrokenLink:
    chain: str
    seq: int
    event_id: int | None
    problem: str
    shard: int = 0


@dataclass(frozen=True)
class ChainReport:
    chains: int
    events: int
    broken: BrokenLink | None


def audit_verify(chains: list[str] | None = None) -> ChainReport:
    """Recompute every shard of the chains (all by default); report the first broken link.

    Read on ``streaming_alias()``: streamed from a server-side cursor even behind a pooler in
    transaction mode, where the default connection would fetch a whole shard at once."""
    alias = streaming_alias()
    events_of = AuditEvent.objects.using(alias).order_by()
    if chains is not None:
        events_of = events_of.filter(chain__in=chains)
    shards = sorted(set(events_of.values_list("chain", "shard").distinct()))
    names = set(chains) if chains is not None else {chain for chain, _ in shards}
    total = 0
    for chain, shard in shards:
        expected_prev = GENESIS_HASH
        expected_seq = 1
        events = (
            AuditEvent.objects.using(alias)
            .filter(chain=chain, shard=shard)
            .order_by("seq")
            .iterator(chunk_size=2000)
        )
        for event in events:
            total += 1
            broken: tuple[int, int | None, str] | None = None
            if event.seq != expected_seq:
                broken = (expected_seq, None, f"event #{expected_seq} is missing")
            elif event.prev_hash != expected_prev:
                broken = (event.seq, event.pk, "does not link to the previous event")
            elif _hash_of(event) != event.hash:
                broken = (event.seq, event.pk, "was changed after it was written")
            if broken is not None:
                seq, event_id, problem = broken
                return ChainReport(
                    len(names), total, BrokenLink(chain, seq, event_id, problem, shard)
                )
            expected_prev = event.hash
            expected_seq += 1
    return ChainReport(len(names), total, None)


def audit_chain_for(obj: Any) -> str:
    """The chain an object's events belong to: its workflow's, else the system chain."""
    workflow = getattr(obj, "workflow", None)
    if workflow is not None:
        return workflow.audit_chain
    return SYSTEM_CHAIN
