"""Connections to RabbitMQ: one for publishing, one for consuming (ARCHITECTURE.md section 4).

Separate connections keep publisher flow control from stalling consumer acks. Both are robust
(they reconnect and restore channels, QoS, queues and consumers). aio-pika tracks channels in a
WeakSet, so this object keeps strong references to every channel it opens.
"""

from __future__ import annotations

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from shared.messaging.topology import declare_exchanges


class Broker:
    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.publish_connection: AbstractRobustConnection | None = None
        self.consume_connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._channels: list[AbstractChannel] = []  # strong references, see module docstring

    async def connect(self) -> None:
        self.publish_connection = await aio_pika.connect_robust(
            self.url, client_properties={"connection_name": f"{self.name}-publish"}
        )
        self.consume_connection = await aio_pika.connect_robust(
            self.url, client_properties={"connection_name": f"{self.name}-consume"}
        )
        channel = await self.publish_channel()
        await declare_exchanges(channel)

    async def publish_channel(self) -> AbstractChannel:
        """The channel the outbox relay publishes on: confirms on, unroutable messages raise."""
        if self._publish_channel is None:
            assert self.publish_connection is not None, "connect() first"
            self._publish_channel = await self.publish_connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
        return self._publish_channel

    async def consume_channel(self, prefetch: int) -> AbstractChannel:
        """A new channel for one consumer, with per-consumer QoS (quorum queues refuse global)."""
        assert self.consume_connection is not None, "connect() first"
        channel = await self.consume_connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        self._channels.append(channel)
        return channel

    @property
    def is_connected(self) -> bool:
        return all(
            conn is not None and not conn.is_closed and conn.connected.is_set()
            for conn in (self.publish_connection, self.consume_connection)
        )

    async def close(self) -> None:
        for conn in (self.consume_connection, self.publish_connection):
            if conn is not None:
                await conn.close()
        self._channels.clear()
        self._publish_channel = None
