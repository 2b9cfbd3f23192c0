"""Thin Celery tasks for delivering outcomes: ids in, one service call."""

from celery import shared_task

from workflows.act.webhooks import DELIVER_TASK, webhook_deliver, webhooks_due


@shared_task(name=DELIVER_TASK)
def deliver_webhook(delivery_id: int) -> None:
    webhook_deliver(delivery_id=delivery_id)


@shared_task(name="workflows.deliver_due_webhooks")
def deliver_due_webhooks() -> int:
    """Beat sweep: retries whose time has come, and deliveries whose message was lost."""
    due = webhooks_due()
    for delivery_id in due:
        deliver_webhook.delay(delivery_id)
    return len(due)
