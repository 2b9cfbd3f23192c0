"""The machine's RabbitMQ and NATS JetStream, as the bus tests use them.

Every test makes queues, exchanges and streams of its own (unique names) and deletes them
afterwards; nothing else on the servers is changed.
"""

import contextlib
import json
import uuid

import nats
from kombu import Connection, Exchange, Producer, Queue

from reviewapp.core.bus import LoopThread

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
NATS_URL = "nats://127.0.0.1:4222"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def as_body(message) -> bytes:
    return message if isinstance(message, bytes) else json.dumps(message).encode()


class Rabbit:
    """A connection to the machine's RabbitMQ that remembers what it must delete."""

    def __init__(self):
        self.connection = Connection(AMQP_URL)
        self.channel = self.connection.channel()
        self.queues: list[str] = []
        self.exchanges: list[str] = []

    def publish(self, queue: str, message, *, message_id: str | None = None) -> None:
        Producer(self.channel).publish(
            as_body(message),
            routing_key=queue,
            content_type="application/json",
            content_encoding="utf-8",
            message_id=message_id,
            delivery_mode=2,
        )

    def depth(self, queue: str) -> int:
        _, count, _ = self.channel.queue_declare(queue=queue, passive=True)
        return count

    def get(self, queue: str):
        """One message of ``queue`` (acknowledged), or None."""
        message = self.channel.basic_get(queue=queue, no_ack=True)
        return message

    def bind_queue(self, exchange: str, routing_key: str = "#") -> str:
        """A queue of our own bound to a (topic) exchange, declared here if missing."""
        name = unique("pytest-sub")
        Exchange(exchange, type="topic", durable=True)(self.channel).declare()
        Queue(
            name, exchange=Exchange(exchange, type="topic", durable=True), routing_key=routing_key
        )(self.channel).declare()
        self.queues.append(name)
        self.exchanges.append(exchange)
        return name

    def close(self) -> None:
        for queue in self.queues:
            self.channel.queue_delete(queue=queue)
        for exchange in self.exchanges:
            self.channel.exchange_delete(exchange=exchange)
        self.connection.release()


class JetStream:
    """A synchronous client of the machine's NATS JetStream that deletes its streams after."""

    def __init__(self):
        self.loop = LoopThread("pytest-nats")
        self.client = self.loop.run(nats.connect(NATS_URL), 10)
        self.js = self.client.jetstream()
        self.streams: list[str] = []

    def add_stream(self, name: str, subjects: list[str]) -> None:
        self.streams.append(name)
        self.loop.run(self.js.add_stream(name=name, subjects=subjects), 10)

    def forget_stream(self, name: str) -> None:
        """A stream some code under test created: delete it with ours."""
        self.streams.append(name)

    def publish(self, subject: str, message, *, msg_id: str | None = None) -> None:
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        self.loop.run(self.js.publish(subject, as_body(message), headers=headers), 10)

    def messages(self, stream: str, subject: str) -> list:
        """Every message of ``subject`` in ``stream`` so far, read by stream sequence."""

        async def read():
            info = await self.js.stream_info(stream)
            taken = []
            for sequence in range(info.state.first_seq, info.state.last_seq + 1):
                message = await self.js.get_msg(stream, sequence)
                if message.subject == subject:
                    taken.append(message)
            return taken

        return self.loop.run(read(), 30)

    def pending(self, stream: str, durable: str) -> tuple[int, int]:
        """(messages not yet delivered, delivered but unacknowledged) for a durable consumer."""
        info = self.loop.run(self.js.consumer_info(stream, durable), 10)
        return info.num_pending, info.num_ack_pending

    def close(self) -> None:
        try:
            for name in self.streams:
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    self.loop.run(self.js.delete_stream(name), 10)
            self.loop.run(self.client.close(), 10)
        finally:
            self.loop.stop()
