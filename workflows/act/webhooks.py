"""Act: tell the workflow's callback URL about final outputs, signed, retried, logged.

Receivers verify ``X-Reviewapp-Signature: v1=<hex>``, the HMAC-SHA256 of
``"<X-Reviewapp-Timestamp>.<raw body>"`` with the shared secret, and refuse old timestamps
(see ``signature_verify``).
"""

import hashlib
import hmac
import json
import os
import random
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reviewapp.audit.services import audit_record
from workflows.act.http import DestinationRefused, parse_networks, post_json
from workflows.models import DeliveryStatus, Item, WebhookAttempt, WebhookDelivery

SIGNATURE_HEADER = "X-Reviewapp-Signature"
TIMESTAMP_HEADER = "X-Reviewapp-Timestamp"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def signature_verify(
    secret: str, timestamp: str, body: bytes, header: str, *, tolerance_s: int = 300
) -> bool:
    """What a receiver runs: the signature matches and the timestamp is recent."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - sent) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, sent, body), header)


def item_payload(item: Item, event: str) -> dict:
    return {
        "event": event,
        "item": {
            "id": item.pk,
            "workflow": item.workflow.slug,
            "workflow_version": item.workflow_version.number,
            "status": item.status,
            "outcome": item.outcome,
            "final_output": item.final_output,
            "correlation_id": item.correlation_id,
            "completed_at": item.completed_at.isoformat() if item.completed_at else None,
        },
    }


def webhook_enqueue(*, item: Item, event: str) -> WebhookDelivery | None:
    """Runs inside the transaction that completes the item; sends after it commits."""
    hook = item.workflow_version.definition.get("webhook")
    if not hook:
        return None
    delivery = WebhookDelivery.objects.create(
        item=item,
        event=event,
        url=hook["url"],
        secret_env=hook["secret_env"],
        payload=item_payload(item, event),
        next_attempt_at=timezone.now(),
    )
    from workflows.tasks import deliver_webhook

    transaction.on_commit(lambda: deliver_webhook.delay(delivery.pk))
    return delivery


def retry_delay(attempts: int) -> timedelta:
    # Exponential backoff with jitter so a recovering receiver is not hit by a thundering herd.
    base = min(3600.0, 5.0 * 2 ** (attempts - 1))
    return timedelta(seconds=base * random.uniform(0.5, 1.5))


def _claim(delivery_id: int) -> WebhookDelivery | None:
    """Take the delivery for one attempt; a concurrent worker sees it as not due."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if delivery is None:
            return None
        delivery.attempts += 1
        # A lease: if this worker dies mid-request, the sweep retries after it runs out.
        delivery.next_attempt_at = now + timedelta(
            seconds=settings.REVIEWAPP_WEBHOOK_TIMEOUT_SECONDS * 4
        )
        delivery.save(update_fields=["attempts", "next_attempt_at"])
        return delivery


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    body = json.dumps(
        delivery.payload | {"delivery_id": delivery.pk}, sort_keys=True, separators=(",", ":")
    ).encode()
    started_at = timezone.now()
    clock = time.perf_counter()
    status_code: int | None = None
    url = delivery.url
    secret = os.environ.get(delivery.secret_env, "")
    try:
        if not secret:
            raise DestinationRefused(f"the signing secret {delivery.secret_env} is not set")
        timestamp = int(time.time())
        result = post_json(
            delivery.url,
            body,
            {
                "Content-Type": "application/json",
                "User-Agent": "reviewapp-webhooks/1",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: signature(secret, timestamp, body),
            },
            allowed=parse_networks(settings.REVIEWAPP_WEBHOOK_ALLOWED_NETWORKS),
            timeout=settings.REVIEWAPP_WEBHOOK_TIMEOUT_SECONDS,
        )
        status_code, url = result.status, result.url
        error = "" if 200 <= result.status < 300 else f"HTTP {result.status}: {result.body_excerpt}"
    except (OSError, DestinationRefused) as exc:
        error = f"{type(exc).__name__}: {exc}"
    return _record(delivery, started_at, clock, url, status_code, error)


def _record(delivery, started_at, clock, url, status_code, error) -> WebhookDelivery:
    now = timezone.now()
    with transaction.atomic(durable=True):
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("item__workflow")
            .get(pk=delivery.pk)
        )
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            started_at=started_at,
            duration_ms=(time.perf_counter() - clock) * 1000,
            url=url,
            status_code=status_code,
            error=error[:2000],
        )
        delivery.last_error = error[:2000]
        if not error:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            action = "webhook.delivered"
        elif delivery.attempts >= settings.REVIEWAPP_WEBHOOK_MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.GAVE_UP
            action = "webhook.gave_up"
        else:
            delivery.next_attempt_at = now + retry_delay(delivery.attempts)
            action = ""
        delivery.save()
        if action:
            audit_record(
                action=action,
                obj=delivery,
                chain=delivery.item.workflow.audit_chain,
                data={
                    "item": delivery.item_id,
                    "event": delivery.event,
                    "attempts": delivery.attempts,
                    "status_code": status_code,
                    "error": error[:200],
                },
            )
    return delivery


@transaction.atomic(durable=True)
def webhook_redeliver(*, delivery: WebhookDelivery, acting_user) -> WebhookDelivery:
    """Send a delivery again now (after a receiver was fixed), whatever its state."""
    delivery = (
        WebhookDelivery.objects.select_for_update()
        .select_related("item__workflow")
        .get(pk=delivery.pk)
    )
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "next_attempt_at"])
    audit_record(
        action="webhook.redelivery_requested",
        obj=delivery,
        actor=acting_user,
        chain=delivery.item.workflow.audit_chain,
        data={"item": delivery.item_id},
    )
    from workflows.tasks import deliver_webhook

    transaction.on_commit(lambda: deliver_webhook.delay(delivery.pk))
    return delivery


def webhooks_due(limit: int = 500) -> list[int]:
    return list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()
        ).values_list("pk", flat=True)[:limit]
    )
