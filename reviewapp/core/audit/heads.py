"""The heads of the audit chains, kept outside the database.

The hash chain shows an event changed or removed in the middle of a shard, but not the newest
events of a shard removed, nor the whole table truncated by its owner: what is left still
verifies. A copy of each shard's head (its last ``seq`` and hash) taken earlier and kept
elsewhere shows that: every recorded head must still be in its chain, with the same hash. Heads
go into each dataset release's folder and into a signed file from ``manage.py audit_heads``;
``verify_audit --heads FILE`` checks them.
"""

import hmac
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.db.models import Max
from django.utils import timezone

from reviewapp.core.audit.models import AuditEvent

FORMAT = "reviewapp-audit-heads/1"
SALT = "reviewapp.audit.heads"


def audit_heads(chains: list[str] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """``{chain: {shard: {"seq": n, "hash": h}}}`` for every shard of ``chains`` (all by
    default); shards are strings so the result is JSON as it stands."""
    events = AuditEvent.objects.order_by()
    if chains is not None:
        events = events.filter(chain__in=chains)
    heads: dict[str, dict[str, dict[str, Any]]] = {}
    for row in events.values("chain", "shard").annotate(seq=Max("seq")):
        last = AuditEvent.objects.filter(chain=row["chain"], shard=row["shard"], seq=row["seq"])
        heads.setdefault(row["chain"], {})[str(row["shard"])] = {
            "seq": row["seq"],
            "hash": last.values_list("hash", flat=True).get(),
        }
    return heads


def _signature(heads: dict, taken_at: str) -> str:
    payload = json.dumps([FORMAT, taken_at, heads], sort_keys=True, separators=(",", ":"))
    return signing.Signer(key=settings.REVIEWAPP_AUDIT_HEADS_KEY, salt=SALT).signature(payload)


def audit_heads_signed() -> dict[str, Any]:
    """Every head, when they were taken, and an HMAC over both (``REVIEWAPP_AUDIT_HEADS_KEY``)."""
    heads = audit_heads()
    taken_at = timezone.now().isoformat()
    return {
        "format": FORMAT,
        "taken_at": taken_at,
        "heads": heads,
        "signature": _signature(heads, taken_at),
    }


class HeadsFileError(ValueError):
    """The heads file cannot be trusted: unreadable, of another format, or its signature fails."""


def audit_heads_read(text: str) -> dict[str, dict[str, dict[str, Any]]]:
    """The heads of a file from ``audit_heads_signed``, once its signature checks out, or those
    a dataset release recorded in its ``audit-heads.json``."""
    try:
        document = json.loads(text)
        if isinstance(document, dict) and "release" in document and "audit_heads" in document:
            # A dataset release's audit-heads.json, kept with the release: unsigned.
            return document["audit_heads"]
        heads, taken_at, signature = (
            document["heads"],
            document["taken_at"],
            document["signature"],
        )
    except (ValueError, TypeError, KeyError) as error:
        raise HeadsFileError(f"not an audit heads file: {error}") from error
    if document.get("format") != FORMAT:
        raise HeadsFileError(f"not an audit heads file of format {FORMAT}")
    if not hmac.compare_digest(str(signature), _signature(heads, str(taken_at))):
        raise HeadsFileError(
            "the signature does not match: the file was changed, or signed with another key"
        )
    return heads


@dataclass(frozen=True)
class MissingHead:
    chain: str
    shard: int
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"chain {self.chain!r} (shard {self.shard}), event #{self.seq}: {self.problem}"


def audit_heads_check(heads: dict[str, dict[str, dict[str, Any]]]) -> list[MissingHead]:
    """Each recorded head that is no longer in its chain as it was: gone (the tail or the
    table was removed) or with another hash (the tail was rewritten)."""
    missing = []
    for chain, shards in sorted(heads.items()):
        for shard_text, head in sorted(shards.items()):
            shard, seq = int(shard_text), int(head["seq"])
            found = (
                AuditEvent.objects.filter(chain=chain, shard=shard, seq=seq)
                .values_list("hash", flat=True)
                .first()
            )
            if found is None:
                problem = "is gone: events recorded earlier were removed"
            elif found != head["hash"]:
                problem = "has another hash than recorded: the chain was rewritten"
            else:
                continue
            missing.append(MissingHead(chain, shard, seq, problem))
    return missing
