"""What the consumer needs from a message bus, whichever it is."""

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class BusMessage:
    body: bytes
    # The transport's own id of the message (AMQP ``message_id``, NATS ``Nats-Msg-Id``, or for
    # NATS without one the stream sequence, which a redelivery keeps), if it has one.
    message_id: str | None
    redelivered: bool
    handle: Any = field(repr=False)


class MessageSource(Protocol):
    """A queue or stream of messages, delivered at least once.

    ``name`` namespaces the messages' idempotency keys (``amqp:orders``, ``nats:ORDERS``), so
    keys of one source never meet those of another or of the HTTP endpoint.
    """

    name: str

    def fetch(self, max_messages: int, timeout: float) -> list[BusMessage]:
        """Up to ``max_messages``: waits up to ``timeout`` for the first, not for the rest."""
        ...

    def ack(self, messages: list[BusMessage]) -> None:
        """Done with: never delivered again."""
        ...

    def dead_letter(self, message: BusMessage, reason: str) -> None:
        """Malformed: moved aside natively (the bus's dead letters), never delivered again."""
        ...

    def retry_later(self, messages: list[BusMessage]) -> None:
        """Not done (the database failed): delivered again later."""
        ...

    def close(self) -> None: ...
