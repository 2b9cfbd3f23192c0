from dataclasses import asdict

from celery import shared_task

from reviewapp.review.approvals.services import approvals_deadline_sweep
from reviewapp.review.sla.notifications import (
    DELIVER_NOTIFICATION_TASK,
    webhook_notification_deliver,
)
from reviewapp.review.sla.sweep import sla_sweep


@shared_task(name="sla.sweep")
def sweep() -> dict[str, int]:
    """Beat runs this every 30 s; overlapping or redelivered runs are safe (see the services).

    Approval deadlines first: an ``escalate`` deadline makes its tasks due, and the SLA sweep
    right after breaches them and climbs their ladder in the same run.
    """
    approvals = approvals_deadline_sweep()
    return approvals | asdict(sla_sweep())


@shared_task(name=DELIVER_NOTIFICATION_TASK)
def deliver_webhook_notification(notification_id: int) -> str | None:
    """One attempt; a failure is retried by the SLA sweep after the backoff (the row says when),
    so a lost or duplicate message neither drops nor doubles a delivery."""
    notification = webhook_notification_deliver(notification_id=notification_id)
    return notification.status if notification else None
