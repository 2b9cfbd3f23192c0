"""The broker as operators see it: reachable or not, and how many messages wait.

Kombu's virtual transports (Redis, the filesystem one) answer a passive queue declaration with
the queue's size; a queue nobody declared yet holds nothing.
"""

import logging

from celery import current_app
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
