from celery import shared_task

from reviewapp.core.outbox.services import RELAY_TASK, outbox_relay_all


@shared_task(name=RELAY_TASK)
def relay() -> int:
    """Sent after a transaction that wrote events commits, and by beat as a sweep."""
    return outbox_relay_all()
