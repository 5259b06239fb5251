"""Stock reservations of the orders, and the reservation lag setting."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import orjson
import sqlalchemy as sa

from catalog.domain.stock import DEFAULT_LAG
from catalog.repository.base import Repository

_OPEN = sa.text(
    "SELECT sku, quantity, reserved_at FROM reservations"
    " WHERE sku = ANY(CAST(:skus AS text[])) AND cancelled_at IS NULL"
)
_RESERVED_SKUS = sa.text(
    "SELECT DISTINCT sku FROM reservations WHERE cancelled_at IS NULL AND sku <> '*'"
)
# An order cancelled before we heard of it leaves a '*' row (messages may come out of order).
_CANCELLED = sa.text("SELECT 1 FROM reservations WHERE order_id = :order AND sku = '*'")
_RESERVE = sa.text(
    "INSERT INTO reservations (order_id, sku, account_id, quantity, reserved_at)"
    " SELECT :order, u.sku, :account, u.quantity, :at"
    " FROM unnest(CAST(:skus AS text[]), CAST(:quantities AS int[])) AS u(sku, quantity)"
    " ON CONFLICT DO NOTHING RETURNING sku"
)
_RELEASE = sa.text(
    "UPDATE reservations SET cancelled_at = now()"
    " WHERE order_id = :order AND cancelled_at IS NULL AND sku <> '*' RETURNING sku"
)
_MARK_CANCELLED = sa.text(
    "INSERT INTO reservations (order_id, sku, account_id, quantity, reserved_at, cancelled_at)"
    " VALUES (:order, '*', :account, 0, now(), now()) ON CONFLICT DO NOTHING"
)
_LAG = sa.text("SELECT value::text FROM catalog_config WHERE key = 'reservation_lag_seconds'")
_SET_LAG = sa.text(
    "INSERT INTO catalog_config (key, value, updated_at)"
    " VALUES ('reservation_lag_seconds', CAST(:value AS jsonb), now()) ON CONFLICT (key)"
    " DO UPDATE SET value = excluded.value, updated_at = now()"
)


class StockRepository(Repository):
    async def open_reservations(self, skus: Sequence[str]) -> dict[str, list[tuple[int, datetime]]]:
        out: dict[str, list[tuple[int, datetime]]] = {}
        for r in await self._rows(_OPEN, {"skus": list(skus)}):
            out.setdefault(r["sku"], []).append((r["quantity"], r["reserved_at"]))
        return out

    async def reserved_skus(self) -> list[str]:
        """SKUs with an open reservation, sorted."""
        return sorted(r["sku"] for r in await self._rows(_RESERVED_SKUS))

    async def is_cancelled(self, order_id: str) -> bool:
        return await self._value(_CANCELLED, {"order": order_id}) is not None

    async def reserve(
        self, order_id: str, account_id: str, at: datetime, quantities: dict[str, int]
    ) -> list[str]:
        """Reserve the order's quantities; the SKUs reserved now (not already)."""
        rows = await self._rows(
            _RESERVE,
            {
                "order": order_id,
                "account": account_id,
                "at": at,
                "skus": list(quantities),
                "quantities": list(quantities.values()),
            },
        )
        return [r["sku"] for r in rows]

    async def cancel(self, order_id: str, account_id: str) -> list[str]:
        """Release the order's reservations and remember it is cancelled; the SKUs released."""
        rows = await self._rows(_RELEASE, {"order": order_id})
        await self._run(_MARK_CANCELLED, {"order": order_id, "account": account_id})
        return [r["sku"] for r in rows]

    async def reservation_lag(self) -> timedelta:
        value = await self._value(_LAG)
        return DEFAULT_LAG if value is None else timedelta(seconds=float(value))

    async def set_reservation_lag(self, lag: timedelta) -> None:
        await self._run(_SET_LAG, {"value": orjson.dumps(lag.total_seconds()).decode()})
