"""Exchanges and queues, declared idempotently by every service at start.

Each consuming purpose gets a quorum queue that dead-letters to `mci.dlx` with the queue's own
name as routing key, where `<queue>.dlq` waits for an operator. The consumer counts handler
failures itself (`max_failures`, in the service database) and dead-letters explicitly: RabbitMQ
counts redeliveries, so a connection dying with messages unacked would spend the same budget.
The queue's `x-delivery-limit` (Debian's RabbitMQ has no default) is only a high backstop, for a
message that kills its consumer process every time. `deploy/rabbitmq/definitions.json` exports
the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractQueue

from shared.events import EVENTS_EXCHANGE, UPSTREAM_EXCHANGE

DEAD_LETTER_EXCHANGE = "mci.dlx"
# Handler failures (counted by the consumer) before a message is dead-lettered.
DEFAULT_MAX_FAILURES = 5
# Broker redeliveries before RabbitMQ dead-letters on its own: far above any run of connection
# deaths during an outage, reached only by a message that crashes its consumer every time.
DEFAULT_DELIVERY_LIMIT = 100
# Seconds one handler call may take before it counts as a failure of that message.
DEFAULT_HANDLER_TIMEOUT = 60.0
# DLQs are classic durable queues: RabbitMQ 3.10 silently drops messages dead-lettered INTO a
# quorum queue (seen here, from classic and quorum sources alike), while quorum -> classic works.
DLQ_ARGUMENTS: dict[str, Any] = {"x-queue-type": "classic"}


@dataclass(frozen=True)
class QueueSpec:
    """One consuming purpose: a queue, what it is bound to, and its retry budget."""

    name: str
    bindings: tuple[tuple[str, str], ...]  # (exchange, routing key)
    max_failures: int = DEFAULT_MAX_FAILURES
    handler_timeout: float = DEFAULT_HANDLER_TIMEOUT
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT
    arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"

    def queue_arguments(self) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": self.name,
            **self.arguments,
        }


def events(*routing_keys: str) -> tuple[tuple[str, str], ...]:
    return tuple((EVENTS_EXCHANGE, key) for key in routing_keys)


def upstream(*routing_keys: str) -> tuple[tuple[str, str], ...]:
    return tuple((UPSTREAM_EXCHANGE, key) for key in routing_keys)


async def declare_exchanges(channel: AbstractChannel) -> None:
    for name in (EVENTS_EXCHANGE, UPSTREAM_EXCHANGE):
        await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
    await channel.declare_exchange(DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)


async def declare_queue(channel: AbstractChannel, spec: QueueSpec) -> AbstractQueue:
    """Declare `spec`'s queue, its bindings and its DLQ; safe to repeat."""
    await declare_exchanges(channel)
    dlq = await channel.declare_queue(spec.dlq, durable=True, arguments=DLQ_ARGUMENTS)
    await dlq.bind(DEAD_LETTER_EXCHANGE, routing_key=spec.name)
    queue = await channel.declare_queue(spec.name, durable=True, arguments=spec.queue_arguments())
    for exchange, routing_key in spec.bindings:
        await queue.bind(exchange, routing_key=routing_key)
    return queue
