"""Unit of work: one database transaction, and the events it causes written into it (outbox).

The service layer (`UnitsOfWork`) is the one place a transaction begins: a route or a script
builds a command and calls `units.handle(handler, command)`; the consumer does the same for an
event, with its inbox row in the transaction. Handlers take `(message, uow)` and never begin,
commit or roll back themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.events import Envelope, Event
from shared.logs import causation_id_var, current_correlation_id

M = TypeVar("M")
R = TypeVar("R")
Repository = TypeVar("Repository")

# Rendered once: SQLAlchemy would otherwise recompile the statement for every batch.
_INSERT_OUTBOX = sa.text(
    "INSERT INTO outbox (id, exchange, routing_key, type, payload, headers, created_at, attempts)"
    " VALUES (:id, :exchange, :routing_key, :type, CAST(:payload AS jsonb),"
    " CAST(:headers AS jsonb), :created_at, 0)"
)


def envelope_for(event: Event, source: str) -> Envelope:
    # Built without re-validation: the event was validated when it was made.
    return Envelope.model_construct(
        id=uuid.uuid4(),
        type=event.event_type,
        version=event.version,
        occurred_at=datetime.now(UTC),
        source=source,
        correlation_id=current_correlation_id(),
        causation_id=causation_id_var.get(),
        data=event.model_dump(mode="json"),
    )


def wire_json(envelope: Envelope) -> str:
    """The envelope as published; `data` is already JSON-ready, so it is not serialised twice."""
    return orjson.dumps(
        {
            "id": str(envelope.id),
            "type": envelope.type,
            "version": envelope.version,
            "occurred_at": envelope.occurred_at.isoformat(),
            "source": envelope.source,
            "correlation_id": envelope.correlation_id,
            "causation_id": envelope.causation_id,
            "data": envelope.data,
        }
    ).decode()


class UnitOfWork:
    """What a handler gets: the transaction's connection, and `emit` to publish via the outbox.

    Events emitted here are rows in the same transaction as the state change: both commit or
    neither does (no dual write). The relay publishes them after commit.
    """

    def __init__(self, connection: AsyncConnection, source: str, incoming: Envelope | None = None):
        self.connection = connection
        self.source = source
        self.incoming = incoming
        self.emitted: list[Envelope] = []
        self._repositories: dict[object, object] = {}

    def repository(self, kind: Callable[[AsyncConnection], Repository]) -> Repository:
        """The service's repository on this transaction (one per kind); a fake unit of work
        hands out in-memory fakes here, which is what lets handlers run without PostgreSQL."""
        found = self._repositories.get(kind)
        if found is None:
            found = self._repositories[kind] = kind(self.connection)
        return found  # type: ignore[return-value]  # keyed by its own factory

    async def emit(self, *events: Event) -> list[Envelope]:
        envelopes = [envelope_for(event, self.source) for event in events]
        if envelopes:
            await self.connection.execute(
                _INSERT_OUTBOX,
                [
                    {
                        "id": env.id,
                        "exchange": type(event).exchange,
                        "routing_key": type(event).routing_key,
                        "type": env.type,
                        "payload": wire_json(env),
                        "headers": orjson.dumps(
                            {
                                "x-correlation-id": env.correlation_id,
                                "x-causation-id": env.causation_id,
                                "x-event-version": env.version,
                            }
                        ).decode(),
                        "created_at": datetime.now(UTC),
                    }
                    for env, event in zip(envelopes, events, strict=True)
                ],
            )
        self.emitted.extend(envelopes)
        return envelopes


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine, source: str) -> AsyncIterator[UnitOfWork]:
    """Commit on success, roll back on any exception (the events with it)."""
    async with engine.begin() as conn:
        yield UnitOfWork(conn, source)


class UnitsOfWork:
    """The service layer's way into its database: one unit of work per use case.

    `handle` commits the state change and its outbox rows together when the handler returns,
    and rolls both back when it raises (rollback is the default: nothing commits half-way).
    `read` runs a query handler on a connection that is rolled back afterwards, so a read
    can never commit anything by accident.
    """

    def __init__(self, engine: AsyncEngine, source: str) -> None:
        self.engine = engine
        self.source = source

    async def handle(self, handler: Callable[[M, UnitOfWork], Awaitable[R]], message: M) -> R:
        async with unit_of_work(self.engine, self.source) as uow:
            return await handler(message, uow)

    async def read(self, handler: Callable[[M, UnitOfWork], Awaitable[R]], message: M) -> R:
        async with self.engine.connect() as conn:
            try:
                return await handler(message, UnitOfWork(conn, self.source))
            finally:
                await conn.rollback()
