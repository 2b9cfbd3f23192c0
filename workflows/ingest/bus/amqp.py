"""RabbitMQ (AMQP 0-9-1) as a source of items, through kombu and py-amqp.

The queue is declared durable with a dead-letter exchange (``<queue>.dead``, fanout) and a
queue of the same name bound to it: a malformed message is rejected without requeue and the
broker moves it there (its ``x-death`` header says when and from where; the reason is logged).
A queue that already exists with other arguments cannot be redeclared: the broker refuses and
the command says so. The prefetch window is the batch size, so a batch is one round of
deliveries and nothing waits unacknowledged behind it.
"""

import time

from kombu import Connection, Consumer, Exchange, Queue
from kombu.message import Message

from workflows.ingest.bus.sources import BusMessage

# After the first message of a batch, how long to wait for the next before handing the batch on.
LINGER_SECONDS = 0.02


class AmqpSource:
    def __init__(self, url: str, queue: str, *, prefetch: int):
        self.name = f"amqp:{queue}"
        self.connection = Connection(url)
        self.connection.connect()
        self.channel = self.connection.channel()
        self.dead_letter_exchange = Exchange(f"{queue}.dead", type="fanout", durable=True)
        self.dead_letter_queue = Queue(
            f"{queue}.dead", exchange=self.dead_letter_exchange, routing_key="", durable=True
        )
        self.queue = Queue(
            queue,
            durable=True,
            queue_arguments={"x-dead-letter-exchange": self.dead_letter_exchange.name},
        )
        self.dead_letter_queue(self.channel).declare()
        self.queue(self.channel).declare()
        self.channel.basic_qos(prefetch_size=0, prefetch_count=prefetch, a_global=False)
        self._received: list[Message] = []
        # on_message hands over the raw message: no content-type decoding, which would refuse
        # a malformed body before we could dead-letter it.
        self.consumer = Consumer(
            self.channel, queues=[self.queue], on_message=self._received.append, no_ack=False
        )
        self.consumer.consume()

    def fetch(self, max_messages: int, timeout: float) -> list[BusMessage]:
        deadline = time.monotonic() + timeout
        while len(self._received) < max_messages:
            wait = LINGER_SECONDS if self._received else deadline - time.monotonic()
            if wait <= 0:
                break
            try:
                self.connection.drain_events(timeout=wait)
            except TimeoutError:  # socket.timeout is the same class
                if self._received or time.monotonic() >= deadline:
                    break
        taken, self._received[:] = self._received[:max_messages], self._received[max_messages:]
        return [
            BusMessage(
                body=message.body if isinstance(message.body, bytes) else message.body.encode(),
                message_id=message.properties.get("message_id") or None,
                redelivered=bool(message.delivery_info.get("redelivered")),
                handle=message,
            )
            for message in taken
        ]

    def ack(self, messages: list[BusMessage]) -> None:
        for message in messages:
            message.handle.ack()

    def dead_letter(self, message: BusMessage, reason: str) -> None:
        message.handle.reject(requeue=False)

    def retry_later(self, messages: list[BusMessage]) -> None:
        for message in messages:
            message.handle.requeue()

    def close(self) -> None:
        try:
            self.consumer.cancel()
        finally:
            self.connection.release()
