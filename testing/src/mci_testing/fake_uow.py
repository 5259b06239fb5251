"""A unit of work without a database, for the fast unit tier of handlers.

Handlers take `(message, uow)` and reach their repository through `uow.repository(Kind)`;
here each kind is answered by the in-memory fake the test registered, `emit` keeps the
events instead of writing outbox rows, and touching the connection fails the test.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.events import Envelope, Event
from shared.uow import UnitOfWork, envelope_for


class _NoDatabase:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a handler under a fake unit of work used the connection ({name})")


class FakeUnitOfWork(UnitOfWork):
    def __init__(self, repositories: Mapping[object, object], source: str = "test") -> None:
        super().__init__(cast(AsyncConnection, _NoDatabase()), source)
        self._repositories = dict(repositories)
        self.events: list[Event] = []

    async def emit(self, *events: Event) -> list[Envelope]:
        self.events.extend(events)
        envelopes = [envelope_for(event, self.source) for event in events]
        self.emitted.extend(envelopes)
        return envelopes
