"""Thin Celery tasks for delivering outcomes: ids in, one service call."""

from celery import shared_task


@shared_task(name="workflows.deliver_webhook")
def deliver_webhook(delivery_id: int) -> None:
    from workflows.act.webhooks import webhook_deliver

    webhook_deliver(delivery_id=delivery_id)


@shared_task(name="workflows.deliver_due_webhooks")
def deliver_due_webhooks() -> int:
    """Beat sweep: retries whose time has come, and deliveries whose message was lost."""
    from workflows.act.webhooks import webhooks_due

    due = webhooks_due()
    for delivery_id in due:
        deliver_webhook.delay(delivery_id)
    return len(due)
