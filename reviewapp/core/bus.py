"""Connections to a message bus: AMQP (RabbitMQ) through kombu, NATS JetStream through nats-py.

Both the ingest consumer and the event relay talk to these from plain synchronous code (the ORM,
management commands, Celery tasks). kombu is synchronous already; nats-py is asyncio only, so a
NATS connection lives on an event loop of its own in a daemon thread and callers wait for each
coroutine there (``LoopThread.run``). Keeping the loop out of the caller's thread also keeps
Django's ORM out of an async context.
"""

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

AMQP_SCHEMES = ("amqp", "amqps")
NATS_SCHEMES = ("nats", "tls")


def bus_kind(url: str) -> str:
    """``"amqp"`` or ``"nats"`` for a bus URL; anything else is a configuration error."""
    scheme = urlsplit(url).scheme
    if scheme in AMQP_SCHEMES:
        return "amqp"
    if scheme in NATS_SCHEMES:
        return "nats"
    raise ImproperlyConfigured(
        f"{url!r} is not a supported bus URL: use amqp://, amqps://, nats:// or tls://."
    )


class LoopThread:
    """An asyncio event loop running in a daemon thread, for one NATS connection."""

    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        if not self.thread.is_alive():
            self.loop.close()
