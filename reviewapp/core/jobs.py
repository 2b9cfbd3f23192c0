"""Sending background work to Celery by task name.

Services decide what runs in the background; the Celery tasks that run it import those services.
A service names the task instead of importing its module, so a tasks module imports its services
and never the other way round. Work is sent after the current transaction commits, because the
task reads what the transaction wrote (outside a transaction it is sent at once).

Sending never fails the caller: what a service sends is already in the database, and a sweep
finds work whose message never left (the reconciler for items, the webhook, build, training and
notification sweeps for theirs). So an ingest whose items were stored while the broker was down
still answers with the items, and the reconciler sends them once the broker is back.
"""

import logging

from celery import current_app
from django.db import transaction

from reviewapp.core import tracing

logger = logging.getLogger(__name__)


def job_send(task: str, *args: object, countdown: float | None = None) -> bool:
    """Send ``task``; False (logged) when the broker cannot take it now."""
    try:
        current_app.send_task(task, args=args, countdown=countdown)
    except Exception as exc:  # the broker is down or refuses: the sweep will send it
        logger.warning(
            "could not send %s (%s: %s); it stays in the database for its sweep",
            task,
            type(exc).__name__,
            exc,
        )
        return False
    return True


def job_send_on_commit(task: str, *args: object) -> None:
    # The message carries the trace of the code that asked for it (Celery's headers).
    transaction.on_commit(tracing.bound(lambda: job_send(task, *args)))
