"""The transactional outbox: state changes become CloudEvents on the bus, after commit only.

``outbox_add`` runs inside ``audit_record_many``, so an event row is written in the same
transaction as the change and its audit event: a rolled-back change leaves neither. The relay
(``outbox_relay``, run by a Celery task sent on commit, a beat sweep and ``manage.py
publish_events``) takes unsent rows ``FOR UPDATE SKIP LOCKED`` (relays side by side split the
rows), publishes them with broker confirmation and marks them sent in the same transaction.
A relay that dies after publishing but before its commit leaves the rows unsent, so they go out
again: delivery is at least once and consumers dedupe on the CloudEvent ``id``.

Without ``REVIEWAPP_EVENT_BUS_URL`` nothing is written at all.
"""

import logging
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from reviewapp.core.jobs import job_send_on_commit
from reviewapp.core.outbox.models import OutboxEvent
from reviewapp.core.outbox.publishers import Outgoing, Publisher, PublishFailed, publisher_open

logger = logging.getLogger(__name__)

RELAY_TASK = "outbox.relay"
TYPE_PREFIX = "com.reviewapp."
WORKFLOW_CHAIN_PREFIX = "workflow:"


def outbox_enabled() -> bool:
    return bool(settings.REVIEWAPP_EVENT_BUS_URL)


def cloud_event(*, event: Any, obj: models.Model) -> dict:
    """The CloudEvents 1.0 envelope (structured JSON) of one audit event about ``obj``."""
    chain = event.chain
    if chain.startswith(WORKFLOW_CHAIN_PREFIX):
        workflow = chain.removeprefix(WORKFLOW_CHAIN_PREFIX)
        where = f"workflows/{workflow}"
    else:
        workflow = None
        where = chain
    data: dict[str, Any] = {
        "object": {"type": event.object_type, "id": event.object_id},
        "workflow": workflow,
        "actor": event.actor_label or None,
        "details": event.data,
        # Where the same change sits in the audit trail, for consumers that cross-check.
        "audit": {"chain": chain, "shard": event.shard, "seq": event.seq, "hash": event.hash},
    }
    item_id = getattr(obj, "item_id", None)
    if item_id is not None:
        data["item"] = item_id
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"{settings.REVIEWAPP_EVENT_SOURCE.rstrip('/')}/{where}",
        "type": TYPE_PREFIX + event.action,
        "time": event.occurred_at.isoformat(),
        "subject": f"{obj._meta.model_name}/{event.object_id}",
        "datacontenttype": "application/json",
        "data": data,
    }


def outbox_add(events: Sequence[Any], objects: Sequence[models.Model]) -> int:
    """Write the events among ``events`` whose action is published; call inside their transaction.

    ``objects`` are the audited objects, in the order of ``events``. Sends the relay on commit.
    """
    published = settings.REVIEWAPP_EVENT_BUS_ACTIONS
    rows = []
    for event, obj in zip(events, objects, strict=True):
        if event.action not in published:
            continue
        payload = cloud_event(event=event, obj=obj)
        rows.append(
            OutboxEvent(
                event_id=payload["id"],
                type=payload["type"],
                created_at=event.occurred_at,
                payload=payload,
            )
        )
    if rows:
        OutboxEvent.objects.bulk_create(rows)
        job_send_on_commit(RELAY_TASK)
    return len(rows)


# One open publisher per process and bus, reused by every relay run; dropped after a failure.
_publisher_lock = threading.Lock()
_publisher: tuple[str, str, Publisher] | None = None


def _open_publisher() -> Publisher:
    global _publisher
    url, topic = settings.REVIEWAPP_EVENT_BUS_URL, settings.REVIEWAPP_EVENT_BUS_TOPIC
    if _publisher is not None and _publisher[:2] == (url, topic):
        return _publisher[2]
    _drop_publisher()
    publisher = publisher_open(url, topic)
    _publisher = (url, topic, publisher)
    return publisher


def outbox_publisher_close() -> None:
    """Close this process's connection to the bus (the next relay opens a new one)."""
    with _publisher_lock:
        _drop_publisher()


def _drop_publisher() -> None:
    global _publisher
    if _publisher is None:
        return
    publisher, _publisher = _publisher[2], None
    try:
        publisher.close()
    except Exception:  # a broken connection may fail to close: it is dropped either way
        logger.debug("closing the event bus publisher failed", exc_info=True)


def outbox_relay(*, limit: int = 500) -> int:
    """Publish up to ``limit`` unsent events, oldest first; the number sent.

    Rows another relay holds are skipped, not waited for. When publishing fails part way, the
    confirmed events are marked sent and the rest keep their place with the error noted.
    """
    if not outbox_enabled():
        return 0
    with _publisher_lock, transaction.atomic(durable=True):
        rows = list(
            OutboxEvent.objects.filter(sent_at__isnull=True)
            .order_by("id")
            .select_for_update(skip_locked=True)[:limit]
        )
        if not rows:
            return 0
        outgoing = [
            Outgoing(
                event_id=str(row.event_id),
                action=row.type.removeprefix(TYPE_PREFIX),
                payload=row.payload,
            )
            for row in rows
        ]
        error = ""
        try:
            confirmed = _open_publisher().publish(outgoing)
        except PublishFailed as failed:
            confirmed, error = failed.confirmed, str(failed)
            _drop_publisher()
        except Exception as exc:  # the bus cannot be reached: every row waits for the next run
            confirmed, error = 0, f"{type(exc).__name__}: {exc}"
            _drop_publisher()
        now = timezone.now()
        OutboxEvent.objects.filter(pk__in=[row.pk for row in rows[:confirmed]]).update(sent_at=now)
        if error:
            OutboxEvent.objects.filter(pk__in=[row.pk for row in rows[confirmed:]]).update(
                attempts=models.F("attempts") + 1, last_error=error[:2000]
            )
            logger.warning(
                "event bus: %d of %d events sent; the rest wait for the next relay (%s)",
                confirmed,
                len(rows),
                error,
            )
    return confirmed


def outbox_relay_all(*, limit: int = 500) -> int:
    """Relay until nothing is left to send or a run sends nothing (the bus is down)."""
    total = 0
    while sent := outbox_relay(limit=limit):
        total += sent
    return total
