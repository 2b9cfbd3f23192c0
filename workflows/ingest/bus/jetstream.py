"""NATS JetStream as a source of items, through nats-py.

A durable pull consumer (``--durable``, filtered on ``--subject``) on an existing stream. A
malformed message is published to ``<subject>.dead`` with the reason in the
``Reviewapp-Dead-Reason`` header (and waits for JetStream's acknowledgement of that), then
terminated so it is never redelivered. When no stream captures ``<subject>.dead`` yet, the
consumer creates one (``<stream>_DEAD``) at start, so a dead letter is never published into the
void. Unacknowledged messages come back after the consumer's ack wait.
"""

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ConsumerConfig
from nats.js.errors import NotFoundError

from reviewapp.core.bus import LoopThread
from workflows.ingest.bus.sources import BusMessage

REASON_HEADER = "Reviewapp-Dead-Reason"
MSG_ID_HEADER = "Nats-Msg-Id"
# How long a message handed back for redelivery (the database failed) waits before it returns.
RETRY_DELAY_SECONDS = 2.0


def dead_letter_subject(subject: str) -> str:
    return f"{subject}.dead"


class JetStreamSource:
    def __init__(
        self,
        url: str,
        stream: str,
        subject: str,
        *,
        durable: str,
        ack_wait: float,
        max_ack_pending: int,
        timeout: float = 10.0,
    ):
        self.name = f"nats:{stream}"
        self.stream = stream
        self.subject = subject
        self.timeout = timeout
        self.loop = LoopThread(f"bus-{stream}")
        try:
            self.loop.run(self._connect(url, durable, ack_wait, max_ack_pending), timeout * 3)
        except BaseException:
            self.loop.stop()
            raise

    async def _connect(self, url, durable, ack_wait, max_ack_pending) -> None:
        self.client = await nats.connect(url, connect_timeout=self.timeout)
        self.js = self.client.jetstream(timeout=self.timeout)
        await self.js.stream_info(self.stream)  # NotFoundError: no such stream
        dead = dead_letter_subject(self.subject)
        try:
            await self.js.find_stream_name_by_subject(dead)
        except NotFoundError:
            await self.js.add_stream(name=f"{self.stream}_DEAD", subjects=[dead])
        self.subscription = await self.js.pull_subscribe(
            self.subject,
            durable=durable,
            stream=self.stream,
            config=ConsumerConfig(ack_wait=ack_wait, max_ack_pending=max_ack_pending),
        )

    async def _fetch(self, max_messages: int, timeout: float) -> list:
        try:
            return await self.subscription.fetch(max_messages, timeout=timeout)
        except (TimeoutError, NatsTimeout):
            return []

    def fetch(self, max_messages: int, timeout: float) -> list[BusMessage]:
        messages = self.loop.run(self._fetch(max_messages, timeout))
        return [
            BusMessage(
                body=message.data,
                message_id=(message.headers or {}).get(MSG_ID_HEADER)
                or f"seq:{message.metadata.sequence.stream}",
                redelivered=message.metadata.num_delivered > 1,
                handle=message,
            )
            for message in messages
        ]

    async def _ack(self, messages: list[BusMessage]) -> None:
        for message in messages:
            await message.handle.ack()
        await self.client.flush(timeout=int(self.timeout))

    def ack(self, messages: list[BusMessage]) -> None:
        self.loop.run(self._ack(messages))

    async def _dead_letter(self, message: BusMessage, reason: str) -> None:
        headers = dict(message.handle.headers or {})
        # A header value is one line; the full reason is in the consumer's log.
        headers[REASON_HEADER] = " ".join(reason.split())[:1000]
        headers.pop(MSG_ID_HEADER, None)
        await self.js.publish(dead_letter_subject(self.subject), message.body, headers=headers)
        await message.handle.term()
        await self.client.flush(timeout=int(self.timeout))

    def dead_letter(self, message: BusMessage, reason: str) -> None:
        self.loop.run(self._dead_letter(message, reason))

    async def _retry_later(self, messages: list[BusMessage]) -> None:
        for message in messages:
            await message.handle.nak(delay=RETRY_DELAY_SECONDS)
        await self.client.flush(timeout=int(self.timeout))

    def retry_later(self, messages: list[BusMessage]) -> None:
        self.loop.run(self._retry_later(messages))

    def close(self) -> None:
        try:
            self.loop.run(self.client.close(), self.timeout)
        finally:
            self.loop.stop()
