"""Every SQL statement of the BigBuy connector, one class per repository."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


# --- rate budgets ----------------------------------------------------------------------------

_BUDGET_SEED = sa.text(
    "INSERT INTO rate_budgets (endpoint, call_limit, remaining, reset_at)"
    " VALUES (:e, :limit, :limit, 0) ON CONFLICT (endpoint) DO NOTHING"
)
# A window that ended gives a fresh budget (the window's real end comes with the answer; until
# then the documented length is assumed); otherwise one unit is taken if one is left.
_BUDGET_TAKE = sa.text(
    "UPDATE rate_budgets SET"
    " remaining = CASE WHEN reset_at <= :now THEN call_limit - 1 ELSE remaining - 1 END,"
    " reset_at = CASE WHEN reset_at <= :now THEN :now + :window ELSE reset_at END,"
    " calls = calls + 1"
    " WHERE endpoint = :e AND (reset_at <= :now OR remaining > 0)"
    " RETURNING remaining"
)


class BudgetRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def take(self, endpoint: str, now: float, limit: int, window: float) -> float | None:
        """One call of `endpoint`'s budget; None if taken, else when the budget returns."""
        await self.connection.execute(_BUDGET_SEED, {"e": endpoint, "limit": limit})
        taken = await self.connection.execute(
            _BUDGET_TAKE, {"e": endpoint, "now": now, "window": window}
        )
        if taken.first() is not None:
            return None
        row = await self.connection.execute(
            sa.text("SELECT reset_at FROM rate_budgets WHERE endpoint = :e"), {"e": endpoint}
        )
        return float(row.scalar_one())

    async def record(self, endpoint: str, limit: int, remaining: int, reset_at: float) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE rate_budgets SET call_limit = :limit, remaining = :remaining,"
                " reset_at = :reset WHERE endpoint = :e"
            ),
            {"e": endpoint, "limit": limit, "remaining": remaining, "reset": reset_at},
        )

    async def spent(self, endpoint: str, reset_at: float) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE rate_budgets SET remaining = 0, reset_at = :reset,"
                " rejected = rejected + 1 WHERE endpoint = :e"
            ),
            {"e": endpoint, "reset": reset_at},
        )

    async def available_at(self, endpoint: str, now: float) -> float:
        row = await self.connection.execute(
            sa.text("SELECT remaining, reset_at FROM rate_budgets WHERE endpoint = :e"),
            {"e": endpoint},
        )
        found = row.first()
        if found is None or found.remaining > 0 or found.reset_at <= now:
            return now
        return float(found.reset_at)

    async def all(self) -> list[dict[str, Any]]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT endpoint, call_limit, remaining, reset_at, calls, rejected"
                " FROM rate_budgets ORDER BY endpoint"
            )
        )
        return [dict(r._mapping) for r in rows]


# --- catalogue refresh -----------------------------------------------------------------------


class CatalogueRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def take_lease(self, name: str, holder: str, now: float, seconds: float) -> bool:
        row = await self.connection.execute(
            sa.text(
                "INSERT INTO leases (name, holder, until) VALUES (:n, :h, :until)"
                " ON CONFLICT (name) DO UPDATE SET holder = :h, until = EXCLUDED.until"
                " WHERE leases.holder = :h OR leases.until < :now"
                " RETURNING holder"
            ),
            {"n": name, "h": holder, "now": now, "until": now + seconds},
        )
        return row.first() is not None

    async def open_runs(self) -> list[dict[str, Any]]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT id, kind, status, started_at FROM refresh_runs"
                " WHERE status <> 'done' ORDER BY id"
            )
        )
        return [dict(r._mapping) for r in rows]

    async def last_started(self, kind: str) -> float | None:
        row = await self.connection.execute(
            sa.text("SELECT max(started_at) FROM refresh_runs WHERE kind = :k"), {"k": kind}
        )
        value = row.scalar_one()
        return None if value is None else float(value)

    async def start_run(self, kind: str, now: float, lists: Sequence[str]) -> int:
        row = await self.connection.execute(
            sa.text("INSERT INTO refresh_runs (kind, started_at) VALUES (:k, :now) RETURNING id"),
            {"k": kind, "now": now},
        )
        run_id = int(row.scalar_one())
        await self.connection.execute(
            sa.text("INSERT INTO run_lists (run_id, list_name) VALUES (:r, :l)"),
            [{"r": run_id, "l": name} for name in lists],
        )
        return run_id

    async def pending_lists(self, run_id: int) -> list[dict[str, Any]]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT list_name, next_page, retry_at FROM run_lists"
                " WHERE run_id = :r AND NOT done ORDER BY list_name"
            ),
            {"r": run_id},
        )
        return [dict(r._mapping) for r in rows]

    async def save_page(
        self, run_id: int, list_name: str, page: int, rows: list[Any], last: bool
    ) -> bool:
        """Store a page and move the list on, only from the page it was read at."""
        moved = await self.connection.execute(
            sa.text(
                "UPDATE run_lists SET next_page = :p + 1, done = :last, rows = rows + :n,"
                " last_error = NULL"
                " WHERE run_id = :r AND list_name = :l AND next_page = :p AND NOT done"
            ),
            {"r": run_id, "l": list_name, "p": page, "last": last, "n": len(rows)},
        )
        if moved.rowcount != 1:
            return False
        await self.connection.execute(
            sa.text(
                "INSERT INTO run_pages (run_id, list_name, page, rows)"
                " VALUES (:r, :l, :p, CAST(:rows AS jsonb))"
            ),
            {"r": run_id, "l": list_name, "p": page, "rows": _json(rows)},
        )
        return True

    async def page_failed(self, run_id: int, list_name: str, error: str, retry_at: float) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE run_lists SET errors = errors + 1, last_error = :e, retry_at = :t"
                " WHERE run_id = :r AND list_name = :l"
            ),
            {"r": run_id, "l": list_name, "e": error[:500], "t": retry_at},
        )

    async def run_rows(self, run_id: int) -> dict[str, list[dict[str, Any]]]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT list_name, rows::text AS rows FROM run_pages WHERE run_id = :r"
                " ORDER BY list_name, page"
            ),
            {"r": run_id},
        )
        out: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            out.setdefault(r.list_name, []).extend(orjson.loads(r.rows))
        return out

    async def set_run_status(self, run_id: int, status: str) -> None:
        await self.connection.execute(
            sa.text("UPDATE refresh_runs SET status = :s WHERE id = :r"),
            {"r": run_id, "s": status},
        )

    async def finish_run(self, run_id: int, now: float, emitted: int) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE refresh_runs SET status = 'done', finished_at = :now, emitted = :n"
                " WHERE id = :r"
            ),
            {"r": run_id, "now": now, "n": emitted},
        )
        # The pages were only needed to join; the products table keeps what was sent.
        await self.connection.execute(
            sa.text("DELETE FROM run_pages WHERE run_id = :r"), {"r": run_id}
        )

    async def runs(self, limit: int, before: int | None) -> list[dict[str, Any]]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT r.id, r.kind, r.status, r.started_at, r.finished_at, r.emitted,"
                " coalesce(json_agg(json_build_object('list', l.list_name, 'next_page',"
                " l.next_page, 'done', l.done, 'rows', l.rows, 'errors', l.errors,"
                " 'last_error', l.last_error) ORDER BY l.list_name)"
                " FILTER (WHERE l.list_name IS NOT NULL), '[]') AS lists"
                " FROM refresh_runs r LEFT JOIN run_lists l ON l.run_id = r.id"
                " WHERE (CAST(:before AS bigint) IS NULL OR r.id < :before)"
                " GROUP BY r.id ORDER BY r.id DESC LIMIT :limit"
            ),
            {"before": before, "limit": limit},
        )
        return [dict(r._mapping) for r in rows]

    async def products(self, skus: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """Stored records (all, or those of `skus`) with their ids and `active`."""
        if skus is None:
            rows = await self.connection.execute(
                sa.text(
                    "SELECT sku, product_id, variation_id, active, record::text AS record"
                    " FROM products"
                )
            )
        else:
            rows = await self.connection.execute(
                sa.text(
                    "SELECT sku, product_id, variation_id, active, record::text AS record"
                    " FROM products WHERE sku = ANY(CAST(:s AS text[]))"
                ),
                {"s": list(skus)},
            )
        return {
            r.sku: {
                "product_id": r.product_id,
                "variation_id": r.variation_id,
                "active": r.active,
                "record": orjson.loads(r.record),
            }
            for r in rows
        }

    async def save_products(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        await self.connection.execute(
            sa.text(
                "INSERT INTO products (sku, product_id, variation_id, active, record, updated_at)"
                " SELECT * , now() FROM unnest(CAST(:skus AS text[]), CAST(:pids AS bigint[]),"
                " CAST(:vids AS bigint[]), CAST(:active AS boolean[]), CAST(:records AS jsonb[]))"
                " ON CONFLICT (sku) DO UPDATE SET product_id = EXCLUDED.product_id,"
                " variation_id = EXCLUDED.variation_id, active = EXCLUDED.active,"
                " record = EXCLUDED.record, updated_at = now()"
            ),
            {
                "skus": [r["sku"] for r in rows],
                "pids": [r["product_id"] for r in rows],
                "vids": [r["variation_id"] for r in rows],
                "active": [r["active"] for r in rows],
                "records": [_json(r["record"]) for r in rows],
            },
        )

    async def reference_digest(self, name: str) -> str | None:
        row = await self.connection.execute(
            sa.text("SELECT digest FROM reference_lists WHERE name = :n"), {"n": name}
        )
        value = row.scalar_one_or_none()
        return None if value is None else str(value)

    async def save_reference_digest(self, name: str, digest: str) -> None:
        await self.connection.execute(
            sa.text(
                "INSERT INTO reference_lists (name, digest) VALUES (:n, :d)"
                " ON CONFLICT (name) DO UPDATE SET digest = :d, updated_at = now()"
            ),
            {"n": name, "d": digest},
        )

    async def compliance(self) -> dict[int, Any]:
        rows = await self.connection.execute(
            sa.text("SELECT product_id, data::text AS data FROM compliance")
        )
        return {r.product_id: orjson.loads(r.data) if r.data else None for r in rows}

    async def save_compliance(self, product_id: int, data: Any) -> None:
        await self.connection.execute(
            sa.text(
                "INSERT INTO compliance (product_id, data) VALUES (:p, CAST(:d AS jsonb))"
                " ON CONFLICT (product_id) DO UPDATE SET data = EXCLUDED.data, fetched_at = now()"
            ),
            {"p": product_id, "d": None if data is None else _json(data)},
        )

    async def next_without_compliance(self) -> int | None:
        """A sellable product in stock whose GPSR data was never read."""
        row = await self.connection.execute(
            sa.text(
                "SELECT p.product_id FROM products p"
                " LEFT JOIN compliance c ON c.product_id = p.product_id"
                " WHERE c.product_id IS NULL AND p.active"
                " AND COALESCE((p.record->>'stock')::int, 0) > 0"
                " ORDER BY p.product_id LIMIT 1"
            )
        )
        value = row.scalar_one_or_none()
        return None if value is None else int(value)

    async def product_id_of(self, sku: str) -> tuple[int, int | None] | None:
        row = await self.connection.execute(
            sa.text("SELECT product_id, variation_id FROM products WHERE sku = :s"), {"s": sku}
        )
        found = row.first()
        return None if found is None else (int(found.product_id), found.variation_id)


# --- supplier orders -------------------------------------------------------------------------

_ORDER_COLUMNS = (
    'order_id, account_id, state, "order"::text AS order_json, address_override::text AS'
    " override_json, accept_loss, bigbuy_order_id, bigbuy_status, cost_total, sale_total,"
    " error_code, error::text AS error_json, attempts, due_at, carrier, tracking_number,"
    " cancel_requested, created_at, updated_at"
)


def _order_row(r: Any) -> dict[str, Any]:
    out = dict(r._mapping)
    out["order"] = orjson.loads(out.pop("order_json"))
    override = out.pop("override_json")
    out["address_override"] = orjson.loads(override) if override else None
    error = out.pop("error_json")
    out["error"] = orjson.loads(error) if error else None
    return out


class OrderRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add(self, order_id: str, account_id: str, order: dict[str, Any]) -> bool:
        row = await self.connection.execute(
            sa.text(
                'INSERT INTO supplier_orders (order_id, account_id, state, "order")'
                " VALUES (:o, :a, 'new', CAST(:d AS jsonb)) ON CONFLICT (order_id) DO NOTHING"
                " RETURNING order_id"
            ),
            {"o": order_id, "a": account_id, "d": _json(order)},
        )
        return row.first() is not None

    async def get(self, order_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        row = await self.connection.execute(
            sa.text(
                f"SELECT {_ORDER_COLUMNS} FROM supplier_orders WHERE order_id = :o"
                + (" FOR UPDATE" if lock else "")
            ),
            {"o": order_id},
        )
        found = row.first()
        return None if found is None else _order_row(found)

    async def claim_due(self, now: float, lease_seconds: float) -> dict[str, Any] | None:
        """A due order in a working state, leased to this caller (`FOR UPDATE SKIP LOCKED`)."""
        row = await self.connection.execute(
            sa.text(
                f"SELECT {_ORDER_COLUMNS} FROM supplier_orders"
                " WHERE state IN ('new', 'sending') AND due_at <= :now AND lease_until <= :now"
                " ORDER BY created_at, order_id LIMIT 1 FOR UPDATE SKIP LOCKED"
            ),
            {"now": now},
        )
        found = row.first()
        if found is None:
            return None
        await self.connection.execute(
            sa.text("UPDATE supplier_orders SET lease_until = :t WHERE order_id = :o"),
            {"o": found.order_id, "t": now + lease_seconds},
        )
        return _order_row(found)

    async def update(self, order_id: str, **values: Any) -> None:
        """Set columns (a fixed set: the names are ours, never the caller's input)."""
        allowed = {
            "state",
            "bigbuy_order_id",
            "bigbuy_status",
            "cost_total",
            "sale_total",
            "error_code",
            "error",
            "attempts",
            "due_at",
            "lease_until",
            "carrier",
            "tracking_number",
            "cancel_requested",
            "accept_loss",
            "address_override",
        }
        assert set(values) <= allowed, set(values) - allowed
        sets = []
        params: dict[str, Any] = {"o": order_id}
        for name, value in values.items():
            if name in ("error", "address_override"):
                sets.append(f"{name} = CAST(:{name} AS jsonb)")
                params[name] = None if value is None else _json(value)
            else:
                sets.append(f"{name} = :{name}")
                params[name] = value
        await self.connection.execute(
            sa.text(
                f"UPDATE supplier_orders SET {', '.join(sets)}, updated_at = now()"
                " WHERE order_id = :o"
            ),
            params,
        )

    async def by_state(
        self, state: str | None, limit: int, after: tuple[str, str] | None
    ) -> list[dict[str, Any]]:
        rows = await self.connection.execute(
            sa.text(
                f"SELECT {_ORDER_COLUMNS} FROM supplier_orders"
                " WHERE (CAST(:state AS text) IS NULL OR state = :state)"
                " AND (CAST(:at AS timestamptz) IS NULL"
                " OR (created_at, order_id) > (CAST(:at AS timestamptz), :id))"
                " ORDER BY created_at, order_id LIMIT :limit"
            ),
            {
                "state": state,
                "at": after[0] if after else None,
                "id": after[1] if after else "",
                "limit": limit,
            },
        )
        return [_order_row(r) for r in rows]

    async def waiting_wallet(self) -> list[dict[str, Any]]:
        rows = await self.connection.execute(
            sa.text(
                f"SELECT {_ORDER_COLUMNS} FROM supplier_orders WHERE state = 'waiting_wallet'"
                " ORDER BY created_at, order_id"
            )
        )
        return [_order_row(r) for r in rows]

    async def release(self, order_ids: Sequence[str], now: float) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE supplier_orders SET state = 'new', due_at = :now, updated_at = now()"
                " WHERE order_id = ANY(CAST(:o AS text[])) AND state = 'waiting_wallet'"
            ),
            {"o": list(order_ids), "now": now},
        )

    async def sent(self, limit: int) -> list[dict[str, Any]]:
        rows = await self.connection.execute(
            sa.text(
                f"SELECT {_ORDER_COLUMNS} FROM supplier_orders"
                " WHERE state IN ('sent', 'cancel_manual') AND bigbuy_order_id IS NOT NULL"
                " AND tracking_number IS NULL ORDER BY updated_at, order_id LIMIT :limit"
            ),
            {"limit": limit},
        )
        return [_order_row(r) for r in rows]

    async def totals_by_state(self) -> dict[str, dict[str, Any]]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT state, count(*) AS orders, coalesce(sum(cost_total), 0) AS cost"
                " FROM supplier_orders GROUP BY state"
            )
        )
        return {r.state: {"orders": int(r.orders), "cost_total": Decimal(r.cost)} for r in rows}
