"""The test harness's side of the broker: publish an event as another service would, and probe
what a service under test emitted.

    bus = await Bus.open(amqp_url)
    probe = await bus.probe("price.computed")      # a queue bound before anything is sent
    await bus.publish(CatalogUpdated(...), source="catalog")
    found = await probe.wait_for("PriceComputed", count=3, account_id="acc-1")
    await bus.close()

Every envelope a probe receives is validated against its event class (`EVENTS_BY_TYPE`): a
service that emits something off its contract fails the test that listens to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from mci_testing.infra import wait_until
from shared.events import EVENTS_BY_TYPE, EVENTS_EXCHANGE, UPSTREAM_EXCHANGE, Envelope, Event
from shared.messaging.topology import (
    QueueSpec,
    declare_exchanges,
    declare_queue,
    events,
    upstream,
)


def envelope_of(event: Event, source: str = "test", correlation_id: str | None = None) -> Envelope:
    """`event` in the envelope its producer would send."""
    return Envelope(
        type=event.event_type,
        version=event.version,
        source=source,
        correlation_id=correlation_id or str(uuid.uuid4()),
        data=event.model_dump(mode="json"),
    )


def message_of(envelope: Envelope) -> aio_pika.Message:
    """The AMQP message of an envelope, as the outbox relay publishes it."""
    return aio_pika.Message(
        envelope.model_dump_json().encode(),
        message_id=str(envelope.id),
        type=envelope.type,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


@dataclass
class Probe:
    """What a service emitted on the routing keys it was bound to, in arrival order."""

    received: list[Envelope] = field(default_factory=list)
    queue: AbstractQueue | None = None

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        async with message.process():
            envelope = Envelope.model_validate_json(message.body)
            EVENTS_BY_TYPE[envelope.type].model_validate(envelope.data)
            self.received.append(envelope)

    def of(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        """The `data` of each `kind` received whose fields equal `match`."""
        return [
            e.data
            for e in self.received
            if e.type == kind and all(e.data.get(k) == v for k, v in match.items())
        ]

    async def wait_for(
        self, kind: str, count: int = 1, within: float = 60, **match: Any
    ) -> list[dict[str, Any]]:
        async def enough() -> bool:
            return len(self.of(kind, **match)) >= count

        await wait_until(enough, within=within)
        return self.of(kind, **match)

    async def wait_until(self, condition: Callable[[list[Envelope]], bool], within: float) -> None:
        async def met() -> bool:
            return condition(self.received)

        await wait_until(met, within=within)


@dataclass
class Bus:
    connection: AbstractRobustConnection
    channel: AbstractChannel
    exchanges: dict[str, AbstractExchange]
    probes: list[Probe] = field(default_factory=list)

    @classmethod
    async def open(cls, amqp_url: str) -> Bus:
        connection = await aio_pika.connect_robust(amqp_url)
        channel = await connection.channel(publisher_confirms=True)
        await declare_exchanges(channel)
        exchanges = {
            name: await channel.get_exchange(name) for name in (EVENTS_EXCHANGE, UPSTREAM_EXCHANGE)
        }
        return cls(connection, channel, exchanges)

    async def publish(
        self, event: Event, source: str = "test", correlation_id: str | None = None
    ) -> Envelope:
        """Publish `event` on its own exchange under its routing key; confirmed by the broker."""
        envelope = envelope_of(event, source, correlation_id)
        await self.publish_envelope(envelope, event.routing_key, event.exchange)
        return envelope

    async def publish_envelope(
        self, envelope: Envelope, routing_key: str | None = None, exchange: str | None = None
    ) -> None:
        """An envelope as it is (sent twice, it is a redelivery); routed as its event class
        says unless told otherwise."""
        event = EVENTS_BY_TYPE.get(envelope.type)
        key = routing_key or (event.routing_key if event else envelope.type)
        target = exchange or (event.exchange if event else EVENTS_EXCHANGE)
        await self.exchanges[target].publish(message_of(envelope), routing_key=key)

    async def publish_to_queue(self, event: Event, queue: str, source: str = "test") -> Envelope:
        """`event` straight into one consumer's queue (the default exchange), past the others
        bound to its routing key."""
        envelope = envelope_of(event, source)
        await self.channel.default_exchange.publish(message_of(envelope), routing_key=queue)
        return envelope

    async def publish_raw(
        self, body: bytes, routing_key: str, exchange: str = EVENTS_EXCHANGE, **properties: Any
    ) -> None:
        """A message that is not a valid envelope: what a broken producer would send."""
        await self.exchanges[exchange].publish(
            aio_pika.Message(body, **properties), routing_key=routing_key
        )

    async def probe(self, *routing_keys: str, on_upstream: bool = False) -> Probe:
        """A probe on a queue of its own, bound to `routing_keys` before this returns."""
        probe = Probe()
        bindings = upstream(*routing_keys) if on_upstream else events(*routing_keys)
        channel = await self.connection.channel()
        spec = QueueSpec(f"test.probe.{uuid.uuid4().hex[:8]}", bindings)
        queue = await declare_queue(channel, spec)
        await queue.consume(probe.on_message)
        probe.queue = queue
        self.probes.append(probe)
        return probe

    async def close(self) -> None:
        for probe in self.probes:
            if probe.queue is not None:
                await probe.queue.delete(if_unused=False, if_empty=False)
                await self.channel.queue_delete(f"{probe.queue.name}.dlq")
        await self.connection.close()
