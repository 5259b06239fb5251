"""Import reports, their row errors, and the SKUs an import has applied so far."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from catalog.domain.validation import RowError
from catalog.repository.base import Repository

_SAVE_REPORT = sa.text(
    "INSERT INTO imports (id, format, encoding, status, started_at, finished_at, rows, valid,"
    " changed, invalid, superseded, applied, applied_through_line, emitted_items, created_by,"
    " error) VALUES (:id, :format, :encoding, :status, :started_at, :finished_at, :rows,"
    " :valid, :changed, :invalid, :superseded, :applied, :applied_through_line,"
    " :emitted_items, :created_by, :error)"
    " ON CONFLICT (id) DO UPDATE SET status = excluded.status,"
    " finished_at = excluded.finished_at, rows = excluded.rows, valid = excluded.valid,"
    " changed = excluded.changed, invalid = excluded.invalid,"
    " superseded = excluded.superseded, applied = excluded.applied,"
    " applied_through_line = excluded.applied_through_line,"
    " emitted_items = excluded.emitted_items, error = excluded.error"
)
_SAVE_UPSTREAM = sa.text(
    "INSERT INTO imports (id, format, status, started_at, finished_at, rows, valid,"
    " changed, invalid, emitted_items, created_by)"
    " VALUES (:id, 'upstream', 'done', :started_at, now(), :rows, :valid, :changed, :invalid,"
    " :emitted, 'upstream') ON CONFLICT (id) DO NOTHING"
)
# Newest first; the id breaks ties of one start time, so the order is total (keyset pages).
_LIST = sa.text(
    "SELECT * FROM imports WHERE (CAST(:format AS text) IS NULL OR format = :format)"
    " AND (CAST(:before_at AS timestamptz) IS NULL"
    " OR (started_at, id) < (:before_at, CAST(:before_id AS uuid)))"
    " ORDER BY started_at DESC, id DESC LIMIT :limit"
)
_GET = sa.text("SELECT * FROM imports WHERE id = :id")
_ERRORS = sa.text(
    "SELECT seq, line, sku, field, code, reason FROM import_errors"
    " WHERE import_id = :id AND seq > :after ORDER BY seq LIMIT :limit"
)
_WRITE_ERRORS = sa.text(
    "INSERT INTO import_errors (import_id, seq, line, sku, field, code, reason)"
    " SELECT :id, u.seq, u.line, u.sku, u.field, u.code, u.reason"
    " FROM unnest(CAST(:seq AS int[]), CAST(:line AS int[]), CAST(:sku AS text[]),"
    " CAST(:field AS text[]), CAST(:code AS text[]), CAST(:reason AS text[]))"
    " AS u(seq, line, sku, field, code, reason)"
)
_REMEMBER_SKUS = sa.text(
    "INSERT INTO import_seen_skus (import_id, sku)"
    " SELECT :id, s FROM unnest(CAST(:skus AS text[])) s ON CONFLICT DO NOTHING"
)
_COUNT_SKUS = sa.text("SELECT count(*) FROM import_seen_skus WHERE import_id = :id")
_FORGET_SKUS = sa.text("DELETE FROM import_seen_skus WHERE import_id = :id")


class ImportRepository(Repository):
    async def save_report(self, report: Mapping[str, Any]) -> None:
        """Insert or update a report: the columns of `imports` by name."""
        await self._run(_SAVE_REPORT, report)

    async def save_upstream_report(
        self,
        report_id: uuid.UUID,
        started_at: datetime,
        rows: int,
        valid: int,
        changed: int,
        invalid: int,
        emitted: int,
    ) -> None:
        await self._run(
            _SAVE_UPSTREAM,
            {
                "id": report_id,
                "started_at": started_at,
                "rows": rows,
                "valid": valid,
                "changed": changed,
                "invalid": invalid,
                "emitted": emitted,
            },
        )

    async def reports(
        self,
        format: str | None,
        limit: int,
        before: tuple[datetime, uuid.UUID] | None = None,
    ) -> list[dict[str, Any]]:
        """The reports started before `before` (start time, id), newest first."""
        rows = await self._rows(
            _LIST,
            {
                "format": format,
                "limit": limit,
                "before_at": None if before is None else before[0],
                "before_id": None if before is None else before[1],
            },
        )
        return [dict(r) for r in rows]

    async def report(self, import_id: uuid.UUID) -> dict[str, Any] | None:
        row = await self._row(_GET, {"id": import_id})
        return None if row is None else dict(row)

    async def errors(self, import_id: uuid.UUID, after: int, limit: int) -> list[dict[str, Any]]:
        rows = await self._rows(_ERRORS, {"id": import_id, "after": after, "limit": limit})
        return [dict(r) for r in rows]

    async def write_errors(
        self, import_id: uuid.UUID, first_seq: int, errors: Sequence[RowError]
    ) -> None:
        if not errors:
            return
        await self._run(
            _WRITE_ERRORS,
            {
                "id": import_id,
                "seq": list(range(first_seq, first_seq + len(errors))),
                "line": [e.line for e in errors],
                "sku": [e.sku for e in errors],
                "field": [e.field for e in errors],
                "code": [e.code for e in errors],
                "reason": [e.reason for e in errors],
            },
        )

    async def remember_skus(self, import_id: uuid.UUID, skus: Sequence[str]) -> None:
        """Note the SKUs an import has applied (in the chunk's transaction), to count repeats."""
        if skus:
            await self._run(_REMEMBER_SKUS, {"id": import_id, "skus": list(skus)})

    async def count_skus(self, import_id: uuid.UUID) -> int:
        return int(await self._value(_COUNT_SKUS, {"id": import_id}))

    async def forget_skus(self, import_id: uuid.UUID) -> None:
        await self._run(_FORGET_SKUS, {"id": import_id})
