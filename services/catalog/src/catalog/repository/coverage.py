"""Coverage reports and the cache of Allegro's catalogue products by EAN."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from catalog.repository.base import Repository

_LOOKUPS = sa.text(
    "SELECT ean, matches, product_ids::text AS ids, category_id FROM ean_lookups"
    " WHERE ean = ANY(CAST(:eans AS text[])) AND checked_at > :since"
)
_SAVE_LOOKUPS = sa.text(
    "INSERT INTO ean_lookups (ean, matches, product_ids, category_id, checked_at)"
    " SELECT u.ean, u.matches, CAST(u.ids AS jsonb), u.category_id, now()"
    " FROM unnest(CAST(:eans AS text[]), CAST(:matches AS int[]), CAST(:ids AS text[]),"
    " CAST(:categories AS text[])) AS u(ean, matches, ids, category_id)"
    " ON CONFLICT (ean) DO UPDATE SET matches = excluded.matches,"
    " product_ids = excluded.product_ids, category_id = excluded.category_id,"
    " checked_at = excluded.checked_at"
)
_START = sa.text(
    "INSERT INTO coverage_reports (id, account_id, status, selection, total, processed,"
    " counts, by_category, started_at, updated_at)"
    " VALUES (:id, :account, 'running', CAST(:selection AS jsonb), :total, 0,"
    " CAST(:counts AS jsonb), '{}'::jsonb, now(), now())"
)
_CLAIM_STALE = sa.text(
    "UPDATE coverage_reports SET updated_at = now()"
    " WHERE status = 'running' AND updated_at < :before RETURNING id"
)
_FAIL = sa.text(
    "UPDATE coverage_reports SET status = 'failed', error = :error, updated_at = now()"
    " WHERE id = :id"
)
_PROGRESS = sa.text(
    "SELECT account_id, status, selection::text AS selection, last_sku, processed,"
    " counts::text AS counts, by_category::text AS by_category"
    " FROM coverage_reports WHERE id = :id"
)
_ADVANCE = sa.text(
    "UPDATE coverage_reports SET processed = :processed, last_sku = :last_sku,"
    " counts = CAST(:counts AS jsonb), by_category = CAST(:by_category AS jsonb),"
    " updated_at = now() WHERE id = :id AND status = 'running'"
)
_FINISH = sa.text(
    "UPDATE coverage_reports SET status = 'done', processed = total,"
    " finished_at = now(), updated_at = now() WHERE id = :id"
)
_RESUME = sa.text(
    "UPDATE coverage_reports SET status = 'running', error = NULL, updated_at = now()"
    " WHERE id = :id AND status <> 'done' RETURNING id"
)
_REPORT = (
    "SELECT id, account_id, status, total, processed, selection::text AS selection,"
    " counts::text AS counts, by_category::text AS by_category, started_at, finished_at, error"
    " FROM coverage_reports"
)
_GET = sa.text(_REPORT + " WHERE id = :id")
_LATEST = sa.text(_REPORT + " WHERE account_id = :account ORDER BY started_at DESC LIMIT 1")


class CoverageRepository(Repository):
    # --- Allegro's catalogue products by EAN --------------------------------------------------

    async def lookups(self, eans: Sequence[str], since: datetime) -> dict[str, dict[str, Any]]:
        """The cached answers for `eans` checked after `since`."""
        rows = await self._rows(_LOOKUPS, {"eans": list(eans), "since": since})
        return {
            r["ean"]: {
                "matches": r["matches"],
                "product_ids": orjson.loads(r["ids"]),
                "category_id": r["category_id"],
            }
            for r in rows
        }

    async def save_lookups(self, found: dict[str, dict[str, Any]]) -> None:
        if not found:
            return
        await self._run(
            _SAVE_LOOKUPS,
            {
                "eans": list(found),
                "matches": [v["matches"] for v in found.values()],
                "ids": [orjson.dumps(v["product_ids"]).decode() for v in found.values()],
                "categories": [v["category_id"] for v in found.values()],
            },
        )

    # --- reports ------------------------------------------------------------------------------

    async def start(
        self,
        report_id: uuid.UUID,
        account_id: str,
        selection: dict[str, Any],
        total: int,
        counts: dict[str, int],
    ) -> None:
        await self._run(
            _START,
            {
                "id": report_id,
                "account": account_id,
                "selection": orjson.dumps(selection).decode(),
                "total": total,
                "counts": orjson.dumps(counts).decode(),
            },
        )

    async def claim_stale(self, before: datetime) -> list[uuid.UUID]:
        """Running reports not updated since `before`: marked as taken over now."""
        return [r["id"] for r in await self._rows(_CLAIM_STALE, {"before": before})]

    async def fail(self, report_id: uuid.UUID, error: str) -> None:
        await self._run(_FAIL, {"id": report_id, "error": error})

    async def progress(self, report_id: uuid.UUID) -> dict[str, Any] | None:
        """Where a report stands: account, status, selection, last SKU, counts (decoded)."""
        row = await self._row(_PROGRESS, {"id": report_id})
        if row is None:
            return None
        return {
            **row,
            "selection": orjson.loads(row["selection"]),
            "counts": orjson.loads(row["counts"]),
            "by_category": orjson.loads(row["by_category"]),
        }

    async def advance(
        self,
        report_id: uuid.UUID,
        processed: int,
        last_sku: str | None,
        counts: dict[str, int],
        by_category: dict[str, dict[str, int]],
    ) -> None:
        await self._run(
            _ADVANCE,
            {
                "id": report_id,
                "processed": processed,
                "last_sku": last_sku,
                "counts": orjson.dumps(counts).decode(),
                "by_category": orjson.dumps(by_category).decode(),
            },
        )

    async def finish(self, report_id: uuid.UUID) -> None:
        await self._run(_FINISH, {"id": report_id})

    async def resume(self, report_id: uuid.UUID) -> bool:
        """Back to running unless done; False if there is no such unfinished report."""
        return await self._value(_RESUME, {"id": report_id}) is not None

    async def report(self, report_id: uuid.UUID) -> dict[str, Any] | None:
        row = await self._row(_GET, {"id": report_id})
        return None if row is None else dict(row)

    async def latest(self, account_id: str) -> dict[str, Any] | None:
        row = await self._row(_LATEST, {"account": account_id})
        return None if row is None else dict(row)
