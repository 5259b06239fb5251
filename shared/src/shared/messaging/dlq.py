"""Dead-letter queue tools: list, inspect, replay and purge (exposed on every service's admin API).

Reading a DLQ without removing anything is done the AMQP way: fetch messages unacked on a
private channel, then close it, which hands them all back to the queue.
Replay republishes a message (same message id, so the inbox still deduplicates) to the queue it
died in, waits for the confirm, and only then removes it from the DLQ.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection

from shared import metrics
from shared.messaging.consumer import (
    DEAD_LETTERED_AT_HEADER,
    ERROR_HEADER,
    FAILURES_HEADER,
    REASON_HEADER,
    ROUTING_KEY_HEADER,
    persistent_copy,
)
from shared.messaging.topology import QueueSpec

# Fetching more than this at once would hold too many messages unacked on one channel.
MAX_FETCH = 1000


@dataclass(frozen=True)
class DeadLetter:
    message_id: str | None
    type: str | None
    queue: str
    routing_key: str | None
    reason: str | None
    death_count: int
    first_death_at: datetime | None
    correlation_id: str | None
    body: Any
    error: str | None = None  # the handler's last error, when the consumer dead-lettered it

    def summary(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "type": self.type,
            "queue": self.queue,
            "routing_key": self.routing_key,
            "reason": self.reason,
            "death_count": self.death_count,
            "first_death_at": self.first_death_at.isoformat() if self.first_death_at else None,
            "correlation_id": self.correlation_id,
            "error": self.error,
        }


def _describe(queue: str, message: AbstractIncomingMessage) -> DeadLetter:
    """A dead letter, dead-lettered by the consumer (x-mci-* headers) or by RabbitMQ (x-death:
    malformed messages, and the delivery-limit backstop)."""
    headers: dict[str, Any] = dict(message.headers or {})
    deaths: Any = headers.get("x-death") or []
    first: dict[str, Any] = deaths[0] if deaths and isinstance(deaths[0], dict) else {}
    try:
        body: Any = orjson.loads(message.body)
    except orjson.JSONDecodeError:
        body = message.body.decode(errors="replace")
    routing_keys = first.get("routing-keys") or []
    if REASON_HEADER in headers:
        return DeadLetter(
            message_id=message.message_id,
            type=message.type,
            queue=queue,
            routing_key=str(headers.get(ROUTING_KEY_HEADER) or "") or None,
            reason=str(headers[REASON_HEADER]),
            death_count=int(headers.get(FAILURES_HEADER) or 1),
            first_death_at=_as_datetime(headers.get(DEAD_LETTERED_AT_HEADER)),
            correlation_id=message.correlation_id,
            body=body,
            error=str(headers.get(ERROR_HEADER) or "") or None,
        )
    return DeadLetter(
        message_id=message.message_id,
        type=message.type,
        queue=queue,
        routing_key=routing_keys[0] if routing_keys else message.routing_key,
        reason=first.get("reason"),
        death_count=int(first.get("count", 1) or 1),
        first_death_at=first.get("time"),
        correlation_id=message.correlation_id,
        body=body,
    )


def _as_datetime(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


class DeadLetters:
    """DLQ operations for the queues one service consumes."""

    def __init__(self, connection: AbstractRobustConnection, specs: Iterable[QueueSpec]) -> None:
        self.connection = connection
        self.specs = {spec.name: spec for spec in specs}

    def _spec(self, queue: str) -> QueueSpec:
        try:
            return self.specs[queue]
        except KeyError:
            raise UnknownQueue(queue) from None

    @asynccontextmanager
    async def _peek_channel(self) -> AsyncIterator[AbstractChannel]:
        channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
        try:
            yield channel
        finally:
            await channel.close()  # every message fetched and not acked goes back to the DLQ

    async def depth(self, queue: str) -> int:
        spec = self._spec(queue)
        async with self._peek_channel() as channel:
            dlq = await channel.declare_queue(spec.dlq, passive=True)
            count = dlq.declaration_result.message_count or 0
        metrics.dlq_depth.labels(queue).set(count)
        return count

    async def depths(self) -> dict[str, int]:
        return {name: await self.depth(name) for name in self.specs}

    async def list(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        spec = self._spec(queue)
        out: list[DeadLetter] = []
        async with self._peek_channel() as channel:
            dlq = await channel.declare_queue(spec.dlq, passive=True)
            for _ in range(min(limit, MAX_FETCH)):
                message = await dlq.get(no_ack=False, fail=False)
                if message is None:
                    break
                out.append(_describe(queue, message))
        return out

    async def inspect(self, queue: str, message_id: str) -> DeadLetter | None:
        for letter in await self.list(queue, MAX_FETCH):
            if letter.message_id == message_id:
                return letter
        return None

    async def replay(self, queue: str, message_ids: Iterable[str] | None = None) -> int:
        """Send the given dead letters (all, if None) back to their queue; returns how many."""
        return await self._take(queue, message_ids, replay=True)

    async def purge(self, queue: str, message_ids: Iterable[str] | None = None) -> int:
        """Drop the given dead letters (all, if None) for good; returns how many."""
        return await self._take(queue, message_ids, replay=False)

    async def _take(self, queue: str, message_ids: Iterable[str] | None, *, replay: bool) -> int:
        spec = self._spec(queue)
        wanted = None if message_ids is None else {str(uuid.UUID(m)) for m in message_ids}
        taken = 0
        async with self._peek_channel() as channel:
            dlq = await channel.declare_queue(spec.dlq, passive=True)
            available = dlq.declaration_result.message_count or 0
            for _ in range(min(available, MAX_FETCH * 10)):
                message = await dlq.get(no_ack=False, fail=False)
                if message is None:
                    break
                if wanted is not None and message.message_id not in wanted:
                    continue  # stays unacked; returns to the DLQ when the channel closes
                if replay:
                    await channel.default_exchange.publish(
                        _republished(message), routing_key=spec.name, mandatory=True, timeout=10
                    )
                await message.ack()
                taken += 1
                if wanted is not None and taken == len(wanted):
                    break
        await self.depth(queue)
        return taken


def _republished(message: AbstractIncomingMessage) -> aio_pika.Message:
    headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-death")}
    headers.pop("x-first-death-exchange", None)
    headers.pop("x-first-death-queue", None)
    headers.pop("x-first-death-reason", None)
    headers.pop("x-delivery-count", None)
    for key in (
        REASON_HEADER,
        FAILURES_HEADER,
        ERROR_HEADER,
        ROUTING_KEY_HEADER,
        DEAD_LETTERED_AT_HEADER,
    ):
        headers.pop(key, None)
    headers["x-replayed"] = True
    return persistent_copy(message, headers)


class UnknownQueue(LookupError):
    """The service does not consume a queue of that name."""
