"""Applying supplier records: merge into products, write what moved, tell the accounts.

Shared by the upstream consumer and the bulk import, so both follow the same ordering guard
(catalog.domain.model.merge) and the same emission rule (catalog.sync.publish).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog import metrics, parsers
from catalog import repository as repo
from catalog.domain.model import Product, ProductRecord, merge
from catalog.domain.validation import RowError, validate_row
from catalog.sync import load_context, publish
from shared.logs import get_logger
from shared.uow import UnitOfWork

log = get_logger(__name__)
IMPORT_CHUNK = 5000
RESPONSE_ERRORS = 1000


@dataclass
class Applied:
    written: int = 0
    changed: int = 0
    emitted: int = 0


async def apply_records(uow: UnitOfWork, records: Sequence[ProductRecord], source: str) -> Applied:
    conn = uow.connection
    skus = sorted({r.sku for r in records})
    current: dict[str, Product] = await repo.load_products(conn, skus, lock=True)
    to_write: dict[str, Product] = {}
    changed: dict[str, Product] = {}
    for record in records:
        result = merge(current.get(record.sku), record, source)
        if result.needs_write:
            current[record.sku] = result.product
            to_write[record.sku] = result.product
        if result.content_changed:
            changed[record.sku] = result.product
    await repo.write_products(conn, to_write.values())
    emitted = 0
    if changed:
        emitted = await publish(uow, list(changed.values()), await load_context(conn))
    metrics.products_changed.labels(source.split(":")[0]).inc(len(changed))
    return Applied(len(to_write), len(changed), emitted)


@dataclass
class ImportReport:
    id: uuid.UUID
    format: str
    status: str = "running"
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    changed: int = 0
    emitted_items: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "import_id": str(self.id),
            "format": self.format,
            "status": self.status,
            "rows": self.rows,
            "valid": self.valid,
            "invalid": self.invalid,
            "changed": self.changed,
            "unchanged": self.valid - self.changed,
            "emitted_items": self.emitted_items,
            "errors": self.errors,
            "errors_truncated": self.invalid > len(self.errors),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "error": self.error,
        }


_SAVE_REPORT = sa.text(
    "INSERT INTO imports (id, format, status, started_at, finished_at, rows, valid, changed,"
    " invalid, emitted_items, created_by, error) VALUES (:id, :format, :status, :started_at,"
    " :finished_at, :rows, :valid, :changed, :invalid, :emitted_items, :created_by, :error)"
    " ON CONFLICT (id) DO UPDATE SET status = excluded.status,"
    " finished_at = excluded.finished_at, rows = excluded.rows, valid = excluded.valid,"
    " changed = excluded.changed, invalid = excluded.invalid,"
    " emitted_items = excluded.emitted_items, error = excluded.error"
)


async def _save(engine: AsyncEngine, report: ImportReport, by: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            _SAVE_REPORT,
            {
                "id": report.id,
                "format": report.format,
                "status": report.status,
                "started_at": report.started_at,
                "finished_at": report.finished_at,
                "rows": report.rows,
                "valid": report.valid,
                "changed": report.changed,
                "invalid": report.invalid,
                "emitted_items": report.emitted_items,
                "created_by": by,
                "error": report.error,
            },
        )


async def run_import(
    engine: AsyncEngine,
    chunks: AsyncIterator[bytes],
    fmt: parsers.Format,
    *,
    currency: str = "EUR",
    by: str = "",
) -> ImportReport:
    """Stream, validate and apply an import file chunk by chunk; keep the report."""
    report = ImportReport(uuid.uuid4(), fmt)
    await _save(engine, report, by)
    source = f"import:{fmt}:{report.id}"
    pending: list[ProductRecord] = []
    bad: list[RowError] = []
    stored_errors = 0

    async def flush() -> None:
        nonlocal pending, bad, stored_errors
        async with engine.begin() as conn:
            uow = UnitOfWork(conn, "catalog")
            applied = await apply_records(uow, pending, source) if pending else Applied()
            await repo.write_import_errors(conn, report.id, stored_errors, bad)
        stored_errors += len(bad)
        report.changed += applied.changed
        report.emitted_items += applied.emitted
        pending, bad = [], []
        await asyncio.sleep(0)

    try:
        async for batch in parsers.rows(chunks, fmt, currency):
            for line, raw in batch:
                report.rows += 1
                result: ProductRecord | list[RowError]
                if isinstance(raw, RowError):
                    result = [raw]
                else:
                    result = validate_row(raw, line, report.started_at)
                if isinstance(result, ProductRecord):
                    report.valid += 1
                    pending.append(result)
                    continue
                report.invalid += 1
                bad.extend(result)
                for err in result:
                    if len(report.errors) < RESPONSE_ERRORS:
                        report.errors.append(err.as_dict())
            if len(pending) >= IMPORT_CHUNK or len(bad) >= IMPORT_CHUNK:
                await flush()
        await flush()
    except parsers.FormatError as exc:
        report.status, report.error = "failed", str(exc)
        report.finished_at = datetime.now(UTC)
        await _save(engine, report, by)
        raise
    except BaseException as exc:
        report.status, report.error = "failed", repr(exc)
        report.finished_at = datetime.now(UTC)
        await asyncio.shield(_save(engine, report, by))
        raise
    metrics.import_rows.labels(fmt, "valid").inc(report.valid)
    metrics.import_rows.labels(fmt, "invalid").inc(report.invalid)
    report.status = "done"
    report.finished_at = datetime.now(UTC)
    await _save(engine, report, by)
    log.info(
        "catalog_import_done",
        import_id=str(report.id),
        format=fmt,
        rows=report.rows,
        invalid=report.invalid,
        changed=report.changed,
    )
    return report
