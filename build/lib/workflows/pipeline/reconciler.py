"""Finding pipeline work whose message was lost, by evidence rather than by age alone.

The database is the source of truth: an item in flight (received or running) must have a
pipeline message somewhere, and a settled review must have a resume message. Messages get lost
when a worker dies holding them (Redis gives an unacknowledged message back only after its
visibility timeout), when Redis restarts (it keeps nothing on disk) or when the broker was down
as the work was sent. The beat sweep ``resume_stuck_items`` sends such work again when:

- the item has not moved for ``REVIEWAPP_RECONCILE_GRACE_SECONDS`` (its message may be on its
  way);
- no live worker holds it (``reviewapp.core.health``: each worker's heartbeat lists the items it
  runs or keeps for a retry's countdown; a dead worker's list stops counting once its heartbeat
  is stale, at once when a worker restarts under the same name);
- no transaction has its row locked (PostgreSQL: a worker running its batch);
- and the broker's queue is empty: while a backlog waits, the item's message is most likely in
  it. Past ``REVIEWAPP_RECONCILE_CEILING_SECONDS`` an item is sent again even behind a backlog.

Sending twice is harmless (each step runs once whatever the broker delivers); the sweep marks
what it sent (``updated_at``), so behind a backlog an item goes again at most once per ceiling.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from reviewapp.core.health.broker import broker_queue_depth
from reviewapp.core.health.selectors import held_item_ids
from workflows import seams
from workflows.models import Item
from workflows.pipeline.engine import IN_FLIGHT

LIMIT = 5000


def items_find_lost(*, now: datetime | None = None, queue_depth: int | None = None) -> list[int]:
    """Items in flight whose pipeline message is lost; marks them as sent again."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.REVIEWAPP_RECONCILE_GRACE_SECONDS)
    ceiling = now - timedelta(seconds=settings.REVIEWAPP_RECONCILE_CEILING_SECONDS)
    candidates = list(
        Item.objects.filter(status__in=IN_FLIGHT, updated_at__lt=now - grace)
        .exclude(current_step="")
        .order_by("updated_at")
        .values_list("pk", "updated_at")[:LIMIT]
    )
    if not candidates:
        return []
    held = held_item_ids(now=now)
    wanted = [
        pk
        for pk, updated_at in candidates
        if pk not in held and (queue_depth == 0 or updated_at < ceiling)
    ]
    return _mark_sent(wanted, now)


def _mark_sent(item_ids: list[int], now: datetime) -> list[int]:
    if not item_ids:
        return []
    with transaction.atomic():
        rows = Item.objects.filter(pk__in=item_ids, status__in=IN_FLIGHT)
        if connection.vendor == "postgresql":
            # A row a running batch has locked is work in hand, not lost: skip it.
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        unlocked = sorted(rows.values_list("pk", flat=True))
        Item.objects.filter(pk__in=unlocked).update(updated_at=now)
    return unlocked


def items_find_unresumed(
    *, now: datetime | None = None, queue_depth: int | None = None
) -> list[int]:
    """Items whose review was settled but whose resume message never ran."""
    if queue_depth != 0:
        return []
    held = held_item_ids(now=now)
    return [pk for pk in seams.items_review_settled(limit=1000) if pk not in held]


def lost_work() -> tuple[list[int], list[int]]:
    """``(items to run again, items to resume)``; nothing while the broker cannot be reached
    (nothing could be sent, and its queue cannot be read)."""
    depth = broker_queue_depth()
    if depth is None:
        return [], []
    now = timezone.now()
    return items_find_lost(now=now, queue_depth=depth), items_find_unresumed(
        now=now, queue_depth=depth
    )
