"""Writing and verifying the hash-chained audit trail."""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import connection, models
from django.utils import timezone

from reviewapp.audit.models import AuditEvent

GENESIS_HASH = "0" * 64
SYSTEM_CHAIN = "system"


def _event_hash(
    *,
    chain: str,
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
    payload = json.dumps(
        [
            chain,
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


def _lock_chain(chain: str) -> None:
    """Serialise writers of one chain until the transaction ends.

    On PostgreSQL a transaction-level advisory lock on the chain's key; writers of other chains
    go on in parallel. SQLite runs every write transaction IMMEDIATE, which serialises already.
    """
    if connection.vendor == "postgresql":
        key = int.from_bytes(hashlib.sha256(chain.encode()).digest()[:8], "big", signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def audit_record(
    *,
    action: str,
    obj: models.Model,
    actor: Any = None,
    chain: str = SYSTEM_CHAIN,
    data: dict | None = None,
) -> AuditEvent:
    """Append one event to ``chain``. Must run inside the transaction of the change it records."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records")
    _lock_chain(chain)
    last = AuditEvent.objects.filter(chain=chain).order_by("-seq").values("seq", "hash").first()
    seq = last["seq"] + 1 if last else 1
    prev_hash = last["hash"] if last else GENESIS_HASH
    # Round-trip through JSON so the hash covers exactly what the database will give back.
    clean_data = json.loads(json.dumps(data or {}, default=str))
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    actor_label = actor.get_username() if actor_id else ""
    occurred_at = timezone.now()
    event = AuditEvent(
        chain=chain,
        seq=seq,
        occurred_at=occurred_at,
        actor_id=actor_id,
        actor_label=actor_label,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        data=clean_data,
        prev_hash=prev_hash,
    )
    event.hash = _hash_of(event)
    event.save(force_insert=True)
    return event


def _hash_of(event: AuditEvent) -> str:
    return _event_hash(
        chain=event.chain,
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


@dataclass(frozen=True)
class ChainReport:
    chains: int
    events: int
    broken: BrokenLink | None


def audit_verify(chains: list[str] | None = None) -> ChainReport:
    """Recompute the chains (all by default); report the first event that does not hold."""
    if chains is None:
        chains = list(AuditEvent.objects.order_by().values_list("chain", flat=True).distinct())
    total = 0
    for chain in sorted(chains):
        expected_prev = GENESIS_HASH
        expected_seq = 1
        events = AuditEvent.objects.filter(chain=chain).order_by("seq").iterator(chunk_size=2000)
        for event in events:
            total += 1
            if event.seq != expected_seq:
                return ChainReport(
                    len(chains),
                    total,
                    BrokenLink(chain, expected_seq, None, f"event #{expected_seq} is missing"),
                )
            if event.prev_hash != expected_prev:
                return ChainReport(
                    len(chains),
                    total,
                    BrokenLink(chain, event.seq, event.pk, "does not link to the previous event"),
                )
            if _hash_of(event) != event.hash:
                return ChainReport(
                    len(chains),
                    total,
                    BrokenLink(chain, event.seq, event.pk, "was changed after it was written"),
                )
            expected_prev = event.hash
            expected_seq += 1
    return ChainReport(len(chains), total, None)


def audit_chain_for(obj: Any) -> str:
    """The chain an object's events belong to: its workflow's, else the system chain."""
    workflow = getattr(obj, "workflow", None)
    if workflow is not None:
        return workflow.audit_chain
    return SYSTEM_CHAIN
