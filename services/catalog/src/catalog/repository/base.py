"""What every catalog repository shares: the unit of work's connection, and row access."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection


class Repository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def _rows(
        self, statement: sa.TextClause, params: Mapping[str, Any] | None = None
    ) -> Sequence[RowMapping]:
        return (await self.connection.execute(statement, params or {})).mappings().all()

    async def _row(
        self, statement: sa.TextClause, params: Mapping[str, Any] | None = None
    ) -> RowMapping | None:
        return (await self.connection.execute(statement, params or {})).mappings().first()

    async def _value(
        self, statement: sa.TextClause, params: Mapping[str, Any] | None = None
    ) -> Any:
        return await self.connection.scalar(statement, params or {})

    async def _run(self, statement: sa.TextClause, params: Mapping[str, Any] | None = None) -> None:
        await self.connection.execute(statement, params or {})
