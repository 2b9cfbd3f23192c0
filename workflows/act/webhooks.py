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
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reviewapp.core import tracing
from reviewapp.core.audit.services import audit_record
from reviewapp.core.jobs import job_send_on_commit
from workflows.act.http import DestinationRefused, parse_networks, post_json
from workflows.act.secrets import webhook_secret_refusal
from workflows.models import DeliveryStatus, Item, WebhookAttempt, WebhookDelivery

DELIVER_TASK = "workflows.deliver_webhook"

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
    job_send_on_commit(DELIVER_TASK, delivery.pk)
    return delivery


def retry_delay(attempts: int) -> timedelta:
    # Exponential backoff with jitter so a recovering receiver is not hit by a thundering herd.
    base = min(3600.0, 5.0 * 2 ** (attempts - 1))
    return timedelta(seconds=base * random.uniform(0.5, 1.5))


# Webhook notifications of escalations (reviewapp.review.sla) are delivered the same way as item
# webhooks: the three functions below are shared by both.


def attempt_claim(queryset, pk: int):
    """Take a pending, due delivery row for one attempt (``attempts`` + 1, under a lease).

    A concurrent worker or a duplicate message sees it locked or not due and gets ``None``. If
    this worker dies mid-request, the sweep sends it again when the lease runs out.
    """
    now = timezone.now()
    with transaction.atomic(durable=True):
        row = (
            queryset.select_for_update(skip_locked=True)
            .filter(pk=pk, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if row is None:
            return None
        row.attempts += 1
        row.next_attempt_at = now + timedelta(
            seconds=settings.REVIEWAPP_WEBHOOK_TIMEOUT_SECONDS * 4
        )
        row.save(update_fields=["attempts", "next_attempt_at"])
        return row


@dataclass(frozen=True)
class Attempt:
    url: str  # where the request ended (after redirects)
    status_code: int | None
    error: str  # empty when the receiver answered 2xx


def signed_post(url: str, payload: dict, secret_env: str, *, team_slug: str) -> Attempt:
    """POST ``payload`` signed with the secret in ``secret_env``, through the SSRF-safe client.

    The name is checked again here, not only when configured: the allow-list may have shrunk.
    """
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    refusal = webhook_secret_refusal(team_slug=team_slug, name=secret_env) if secret_env else None
    secret = os.environ.get(secret_env, "") if secret_env and refusal is None else ""
    try:
        if refusal is not None:
            raise DestinationRefused(refusal)
        if not secret:
            raise DestinationRefused(f"the signing secret {secret_env} is not set")
        timestamp = int(time.time())
        result = post_json(
            url,
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
    except (OSError, DestinationRefused) as exc:
        return Attempt(url=url, status_code=None, error=f"{type(exc).__name__}: {exc}")
    error = "" if 200 <= result.status < 300 else f"HTTP {result.status}: {result.body_excerpt}"
    return Attempt(url=result.url, status_code=result.status, error=error)


def attempt_settle(row, error: str) -> str:
    """Mark a locked delivery row after an attempt: delivered, given up, or due again after a
    backoff. Returns ``"delivered"``, ``"gave_up"`` or ``""`` (will retry); the caller saves."""
    row.last_error = error[:2000]
    if not error:
        row.status = DeliveryStatus.DELIVERED
        row.delivered_at = timezone.now()
        return "delivered"
    if row.attempts >= settings.REVIEWAPP_WEBHOOK_MAX_ATTEMPTS:
        row.status = DeliveryStatus.GAVE_UP
        return "gave_up"
    row.next_attempt_at = timezone.now() + retry_delay(row.attempts)
    return ""


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    delivery = attempt_claim(WebhookDelivery.objects, delivery_id)
    if delivery is None:
        return None
    item = delivery.item
    with tracing.item_span(
        "webhook.deliver",
        item.trace_context,
        **{
            "reviewapp.item_id": item.pk,
            "reviewapp.delivery_id": delivery.pk,
            "reviewapp.attempt": delivery.attempts,
        },
    ) as span:
        started_at = timezone.now()
        clock = time.perf_counter()
        attempt = signed_post(
            delivery.url,
            delivery.payload | {"delivery_id": delivery.pk},
            delivery.secret_env,
            team_slug=item.workflow.team.slug,
        )
        tracing.outcome(span, attempt.error, status_code=attempt.status_code)
        return _record(delivery, started_at, clock, attempt)


def _record(delivery, started_at, clock, attempt: Attempt) -> WebhookDelivery:
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
            url=attempt.url,
            status_code=attempt.status_code,
            error=attempt.error[:2000],
        )
        outcome = attempt_settle(delivery, attempt.error)
        delivery.save()
        if outcome:
            audit_record(
                action=f"webhook.{outcome}",
                obj=delivery,
                chain=delivery.item.workflow.audit_chain,
                data={
                    "item": delivery.item_id,
                    "event": delivery.event,
                    "attempts": delivery.attempts,
                    "status_code": attempt.status_code,
                    "error": attempt.error[:200],
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
    job_send_on_commit(DELIVER_TASK, delivery.pk)
    return delivery


def webhooks_due(limit: int = 500) -> list[int]:
    return list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()
        ).values_list("pk", flat=True)[:limit]
    )
