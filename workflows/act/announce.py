"""Telling a waiting caller, at once, that an item was settled (Redis pub/sub).

The database stays the truth: an announcement only wakes a waiter up early, and a waiter that
missed one (subscribed too late, Redis down) still finds the settled item by re-reading the
database before and after it waits, and every ``POLL_SECONDS`` without Redis.
"""

import contextlib
import logging
import time
from collections.abc import Callable
from functools import cache

import redis
from django.conf import settings
from django.db import connection, transaction

logger = logging.getLogger(__name__)

# Without Redis (the quick start's filesystem broker) a waiter re-reads the database this often.
POLL_SECONDS = 0.25


def _channel(item_id: int) -> str:
    return f"reviewapp:item-settled:{item_id}"


@cache
def _redis() -> redis.Redis | None:
    url = settings.REVIEWAPP_PUBSUB_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def _publish(item_id: int) -> None:
    client = _redis()
    if client is None:
        return
    try:
        client.publish(_channel(item_id), b"settled")
    except redis.RedisError as exc:  # waiters still find it in the database
        logger.warning("could not announce item %s: %s", item_id, exc)


def item_settled_announce_on_commit(item_id: int) -> None:
    """Runs inside the transaction that settles the item; announces once it commits."""
    transaction.on_commit(lambda: _publish(item_id))


def _release_connection() -> None:
    """Give the database connection back while we wait: a long poll must not hold one.

    Inside a transaction (a test's) the connection stays: closing it would end the transaction.
    """
    if not connection.in_atomic_block:
        connection.close()


def item_settled_wait(item_id: int, *, timeout: float, settled: Callable[[], bool]) -> bool:
    """Wait up to ``timeout`` seconds for ``settled()`` to hold; returns its last answer.

    Subscribes first and reads the database second, so an announcement sent between the two
    is not missed.
    """
    deadline = time.monotonic() + timeout
    if settled():
        return True
    client = _redis()
    pubsub = None
    if client is not None:
        try:
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(_channel(item_id))
        except redis.RedisError as exc:
            logger.warning("waiting for item %s without Redis: %s", item_id, exc)
            pubsub = None
    try:
        if settled():
            return True
        while (left := deadline - time.monotonic()) > 0:
            _release_connection()
            if pubsub is not None:
                try:
                    # Re-checks the database at least every few seconds in case Redis lost it.
                    pubsub.get_message(timeout=min(left, 5.0))
                except redis.RedisError:
                    pubsub = None
            else:
                time.sleep(min(left, POLL_SECONDS))
            if settled():
                return True
        return False
    finally:
        if pubsub is not None:
            with contextlib.suppress(redis.RedisError):
                pubsub.close()
        _release_connection()
