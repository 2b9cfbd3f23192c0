"""The broker as operators see it: reachable or not, and how many messages wait.

Kombu's virtual transports (Redis, the filesystem one) answer a passive queue declaration with
the queue's size; a queue nobody declared yet holds nothing.
"""

import logging
from datetime import datetime, timedelta

from celery import current_app
from django.utils import timezone
from kombu.exceptions import ChannelError

logger = logging.getLogger(__name__)

DEFAULT_QUEUE = "celery"


def broker_queue_depth(queue: str = DEFAULT_QUEUE, *, timeout: float = 2.0) -> int | None:
    """Messages waiting in ``queue``, or None when the broker cannot be reached."""
    try:
        with current_app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
            try:
                return connection.default_channel.queue_declare(
                    queue=queue, passive=True
                ).message_count
            except ChannelError:
                return 0
    except Exception as exc:  # the broker is down or refuses us: the caller says so
        logger.info("broker not reachable: %s", exc)
        return None


def broker_started_at(*, timeout: float = 2.0) -> datetime | None:
    """When the broker last started: a Redis tells its uptime. None for other transports and
    when it cannot be reached.

    A Redis that keeps nothing on disk loses every queued message when it restarts, and while it
    was down nothing could be sent: work untouched since it started has no message anywhere."""
    try:
        with current_app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
            if connection.transport.driver_type != "redis":
                return None
            uptime = connection.default_channel.client.info("server")["uptime_in_seconds"]
    except Exception as exc:  # the broker is down or refuses us: nothing can be said
        logger.info("broker start unknown: %s", exc)
        return None
    # Uptime counts whole seconds: one more, so work sent just after the start is never taken
    # for older than it.
    return timezone.now() - timedelta(seconds=int(uptime) + 1)
