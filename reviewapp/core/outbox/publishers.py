"""Publishing CloudEvents to the bus, each confirmed by the broker before it counts as sent.

AMQP: a durable topic exchange named by ``REVIEWAPP_EVENT_BUS_TOPIC``, the event's type as the
routing key (``com.reviewapp.task.decided``), publisher confirms on. NATS: JetStream subject
``<topic>.<action>`` (``reviewapp.events.task.decided``), each publish waits for the stream's
acknowledgement and carries ``Nats-Msg-Id`` so JetStream drops a resend inside its duplicate
window. A NATS deployment creates the stream that captures ``<topic>.>``; the relay does not.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from reviewapp.core.bus import LoopThread, bus_kind

CONTENT_TYPE = "application/cloudevents+json"


@dataclass(frozen=True)
class Outgoing:
    event_id: str
    action: str
    payload: dict

    def body(self) -> bytes:
        return json.dumps(self.payload, separators=(",", ":")).encode()


class Publisher(Protocol):
    def publish(self, events: Sequence[Outgoing]) -> int:
        """Publish in order; the number confirmed. Raises ``PublishFailed`` after a failure."""
        ...

    def close(self) -> None: ...


class PublishFailed(Exception):
    def __init__(self, confirmed: int, cause: Exception):
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.confirmed = confirmed


class AmqpPublisher:
    def __init__(self, url: str, exchange: str):
        from kombu import Connection, Exchange, Producer

        self.connection = Connection(url, transport_options={"confirm_publish": True})
        self.exchange = Exchange(exchange, type="topic", durable=True)
        channel = self.connection.channel()
        self.exchange(channel).declare()
        self.producer = Producer(channel, exchange=self.exchange)

    def publish(self, events: Sequence[Outgoing]) -> int:
        done = 0
        try:
            for event in events:
                # With confirm_publish, py-amqp waits for the broker's ack of each message and
                # raises when it nacks.
                self.producer.publish(
                    event.body(),
                    routing_key=event.payload["type"],
                    content_type=CONTENT_TYPE,
                    content_encoding="utf-8",
                    message_id=event.event_id,
                    delivery_mode=2,
                    retry=False,
                )
                done += 1
        except Exception as exc:
            raise PublishFailed(done, exc) from exc
        return done

    def close(self) -> None:
        self.connection.release()


class JetStreamPublisher:
    def __init__(self, url: str, topic: str, *, timeout: float = 10.0):
        import nats

        self.topic = topic
        self.timeout = timeout
        self.loop = LoopThread("event-bus-nats")
        try:
            self.client = self.loop.run(nats.connect(url, connect_timeout=timeout), timeout)
        except BaseException:
            self.loop.stop()
            raise
        self.js = self.client.jetstream(timeout=timeout)

    async def _publish(self, events: Sequence[Outgoing]) -> int:
        done = 0
        try:
            for event in events:
                await self.js.publish(
                    f"{self.topic}.{event.action}",
                    event.body(),
                    headers={"Nats-Msg-Id": event.event_id, "Content-Type": CONTENT_TYPE},
                )
                done += 1
        except Exception as exc:
            raise PublishFailed(done, exc) from exc
        return done

    def publish(self, events: Sequence[Outgoing]) -> int:
        return self.loop.run(self._publish(events))

    def close(self) -> None:
        try:
            self.loop.run(self.client.close(), self.timeout)
        finally:
            self.loop.stop()


def publisher_open(url: str, topic: str) -> Publisher:
    if bus_kind(url) == "amqp":
        return AmqpPublisher(url, topic)
    return JetStreamPublisher(url, topic)
