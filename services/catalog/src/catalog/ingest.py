"""Applying supplier records: merge into products, write what moved, tell the accounts.

Shared by the upstream consumer and the bulk import, so both follow the same ordering guard
(catalog.domain.model.merge) and the same emission rule (catalog.sync.publish).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from catalog import metrics, parsers
from catalog.domain import commands as c
from catalog.domain.model import Product, ProductRecord, merge
from catalog.domain.validation import RowError, validate_row
from catalog.repository import ImportRepository, ProductRepository
from catalog.sync import load_context, publish
from shared.logs import get_logger
from shared.uow import UnitOfWork, UnitsOfWork

log = get_logger(__name__)
IMPORT_CHUNK = 5000
IMPORT_CHUNK_BYTES = 32 << 20
RESPONSE_ERRORS = 1000


@dataclass
class Applied:
    written: int = 0
    changed: int = 0
    emitted: int = 0


async def apply_records(uow: UnitOfWork, records: Sequence[ProductRecord], source: str) -> Applied:
    products = uow.repository(ProductRepository)
    skus = sorted({r.sku for r in records})
    current: dict[str, Product] = await products.load(skus, lock=True)
    loaded = {sku: p.content_hash for sku, p in current.items()}
    to_write: dict[str, Product] = {}
    changed: dict[str, Product] = {}
    # Within one import file a later row of a SKU wins over an earlier one of the same time
    # (rows without update_at all carry the import's start time): the file's order is the
    # supplier's. Upstream records keep the strict rule: their arrival order means nothing.
    from_file = source.startswith("import:")
    for record in records:
        held = current.get(record.sku)
        wins_ties = from_file and held is not None and held.source == source
        result = merge(held, record, source, wins_ties=wins_ties)
        if result.needs_write:
            current[record.sku] = result.product
            to_write[record.sku] = result.product
        if result.content_changed:
            changed[record.sku] = result.product
    # Several rows of one SKU may end where they started (A -> B -> A): that is no change.
    for sku in [s for s in changed if s in loaded]:
        if changed[sku].content_hash == loaded[sku]:
            del changed[sku]
    await products.write(to_write.values())
    emitted = 0
    if changed:
        emitted = await publish(uow, list(changed.values()), await load_context(uow))
    metrics.products_changed.labels(source.split(":")[0]).inc(len(changed))
    return Applied(len(to_write), len(changed), emitted)


@dataclass
class ImportReport:
    id: uuid.UUID
    format: str
    encoding: str = "utf-8"
    status: str = "running"
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    changed: int = 0
    superseded: int = 0
    emitted_items: int = 0
    applied: int = 0  # valid rows committed so far
    applied_through_line: int = 0  # every row up to this line is committed (or reported)
    errors: list[dict[str, Any]] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "import_id": str(self.id),
            "format": self.format,
            "encoding": self.encoding,
            "status": self.status,
            "rows": self.rows,
            "valid": self.valid,
            "invalid": self.invalid,
            "changed": self.changed,
            "unchanged": self.valid - self.changed,
            "superseded": self.superseded,
            "emitted_items": self.emitted_items,
            "applied": self.applied,
            "applied_through_line": self.applied_through_line,
            "errors": self.errors,
            "errors_truncated": self.invalid > len(self.errors),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "error": self.error,
        }

    def summary(self) -> dict[str, Any]:
        """The report without its error list (for an error response)."""
        out = self.as_dict()
        del out["errors"], out["errors_truncated"]
        return out


class ImportFailed(Exception):
    """The import stopped midway; its report (kept, status failed) says what was applied."""

    def __init__(self, report: ImportReport, upload: bool) -> None:
        super().__init__(report.error)
        self.report = report
        self.upload = upload  # the body could not be read (vs. a failure on our side)


async def _save_report(command: c.SaveImportReport, uow: UnitOfWork) -> None:
    await uow.repository(ImportRepository).save_report(command.report)


async def _save(units: UnitsOfWork, report: ImportReport, by: str) -> None:
    params = report.summary()
    params["id"] = report.id
    params["started_at"], params["finished_at"] = report.started_at, report.finished_at
    for name in ("import_id", "unchanged"):
        del params[name]
    await units.handle(_save_report, c.SaveImportReport({**params, "created_by": by}))


def bounded(error: RowError) -> RowError:
    """A row error fit to store and answer: a bad value is never echoed beyond a prefix."""
    sku = error.sku if error.sku is None else parsers.prefix(error.sku)
    reason = error.reason if len(error.reason) <= 500 else error.reason[:500] + "…"
    if sku is error.sku and reason is error.reason:
        return error
    return replace(error, sku=sku, reason=reason)


class _BodyError(Exception):
    """Reading the request body failed (the client went away, or the body was refused)."""


async def _guarded(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield chunk
    except Exception as exc:
        raise _BodyError(exc) from exc


async def run_import(
    units: UnitsOfWork,
    chunks: AsyncIterator[bytes],
    fmt: parsers.Format,
    *,
    currency: str = "EUR",
    encoding: str = "utf-8",
    by: str = "",
) -> ImportReport:
    """Stream, validate and apply an import file chunk by chunk; keep the report.

    Raises FormatError for a whole-file problem (the report is kept, failed) and ImportFailed
    when the import stops midway (the report, failed, says what was applied).
    """
    codec = parsers.resolve_encoding(encoding)
    report = ImportReport(uuid.uuid4(), fmt, codec)
    await _save(units, report, by)
    source = f"import:{fmt}:{report.id}"
    pending: list[ProductRecord] = []
    pending_lines: list[int] = []
    pending_bytes = 0
    bad: list[RowError] = []
    stored_errors = 0
    last_line = 0

    def report_error(err: RowError) -> None:
        err = bounded(err)
        bad.append(err)
        if len(report.errors) < RESPONSE_ERRORS:
            report.errors.append(err.as_dict())

    async def flush() -> None:
        nonlocal pending, pending_lines, bad, stored_errors, pending_bytes
        applied, refused = await _apply_isolating(units, pending, source, report.id)
        for index, reason in refused:
            report.valid -= 1
            report.invalid += 1
            report_error(
                RowError(
                    pending_lines[index], pending[index].sku, "line", reason, "refused_by_database"
                )
            )
        await units.handle(_write_errors, c.WriteImportErrors(report.id, stored_errors, bad))
        stored_errors += len(bad)
        report.changed += applied.changed
        report.emitted_items += applied.emitted
        report.applied += len(pending) - len(refused)
        report.applied_through_line = last_line
        pending, pending_lines, bad, pending_bytes = [], [], [], 0
        await asyncio.sleep(0)

    try:
        async for batch in parsers.rows(_guarded(chunks), fmt, currency, codec):
            for row in batch:
                report.rows += 1
                last_line = row.line
                result: ProductRecord | list[RowError]
                if isinstance(row.value, RowError):
                    result = [row.value]
                else:
                    result = validate_row(row.value, row.line, report.started_at)
                if isinstance(result, ProductRecord):
                    report.valid += 1
                    pending.append(result)
                    pending_lines.append(row.line)
                    pending_bytes += row.size
                else:
                    report.invalid += 1
                    for err in result:
                        report_error(err)
                # Bounded by rows and by bytes: 5,000 rows of long descriptions are a lot.
                if (
                    len(pending) >= IMPORT_CHUNK
                    or len(bad) >= IMPORT_CHUNK
                    or pending_bytes >= IMPORT_CHUNK_BYTES
                ):
                    await flush()
        await flush()
        report.superseded = report.valid - await _distinct_skus(units, report.id)
    except parsers.FormatError as exc:
        report.status, report.error = "failed", str(exc)
        report.finished_at = datetime.now(UTC)
        await _save(units, report, by)
        await _forget_skus(units, report.id)
        raise
    except (Exception, asyncio.CancelledError) as exc:
        upload = isinstance(exc, _BodyError)
        cause = exc.__cause__ if upload and exc.__cause__ is not None else exc
        report.status = "failed"
        report.error = (
            f"{'reading the upload' if upload else 'applying'} failed after line {last_line}"
            f" ({type(cause).__name__}: {parsers.prefix(str(cause))}); rows through line"
            f" {report.applied_through_line} are applied, {report.applied} valid rows"
        )
        report.finished_at = datetime.now(UTC)
        log.warning("catalog_import_failed", import_id=str(report.id), error=report.error)
        try:
            await asyncio.shield(_finish_failed(units, report, by))
        except Exception:
            log.exception("catalog_import_report_not_saved", import_id=str(report.id))
        if isinstance(exc, asyncio.CancelledError):
            raise
        raise ImportFailed(report, upload) from cause
    metrics.import_rows.labels(fmt, "valid").inc(report.valid)
    metrics.import_rows.labels(fmt, "invalid").inc(report.invalid)
    report.status = "done"
    report.finished_at = datetime.now(UTC)
    await _save(units, report, by)
    await _forget_skus(units, report.id)
    log.info(
        "catalog_import_done",
        import_id=str(report.id),
        format=fmt,
        rows=report.rows,
        invalid=report.invalid,
        superseded=report.superseded,
        changed=report.changed,
    )
    return report


def _refusal(exc: BaseException) -> str | None:
    """The database's reason if `exc` is its refusal of the data (SQLSTATE class 22: data
    exception, 23: integrity constraint), else None (an outage or a bug: not the row's fault)."""
    seen: BaseException | None = exc
    while seen is not None:
        for candidate in (seen, getattr(seen, "orig", None)):
            state = getattr(candidate, "sqlstate", None)
            if isinstance(state, str) and state[:2] in ("22", "23"):
                # The message only (the row's values are in the error's detail, not here).
                return f"refused by the database: {str(candidate)[:200]}"
        seen = seen.__cause__
    return None


async def _apply_chunk(chunk: c.ApplyChunk, uow: UnitOfWork) -> Applied:
    applied = await apply_records(uow, chunk.records, chunk.source)
    await uow.repository(ImportRepository).remember_skus(
        chunk.import_id, [r.sku for r in chunk.records]
    )
    return applied


async def _apply_isolating(
    units: UnitsOfWork, records: list[ProductRecord], source: str, import_id: uuid.UUID
) -> tuple[Applied, list[tuple[int, str]]]:
    """Apply records in one transaction; if the database refuses the data, halve and retry so
    only the refused rows are lost: (what was applied, [(index, reason)] of refused rows).

    Halves keep the file's order, so repeated SKUs still end on their last row.
    """
    if not records:
        return Applied(), []
    try:
        return await units.handle(_apply_chunk, c.ApplyChunk(records, source, import_id)), []
    except Exception as exc:
        reason = _refusal(exc)
        if reason is None:
            raise
        if len(records) == 1:
            return Applied(), [(0, reason)]
    middle = len(records) // 2
    first, refused_first = await _apply_isolating(units, records[:middle], source, import_id)
    second, refused_second = await _apply_isolating(units, records[middle:], source, import_id)
    total = Applied(
        first.written + second.written,
        first.changed + second.changed,
        first.emitted + second.emitted,
    )
    return total, refused_first + [(i + middle, why) for i, why in refused_second]


async def _write_errors(command: c.WriteImportErrors, uow: UnitOfWork) -> None:
    await uow.repository(ImportRepository).write_errors(
        command.import_id, command.first_seq, command.errors
    )


async def _count_skus(query: c.CountImportSkus, uow: UnitOfWork) -> int:
    return await uow.repository(ImportRepository).count_skus(query.import_id)


async def _drop_skus(command: c.ForgetImportSkus, uow: UnitOfWork) -> None:
    await uow.repository(ImportRepository).forget_skus(command.import_id)


async def _distinct_skus(units: UnitsOfWork, import_id: uuid.UUID) -> int:
    return await units.read(_count_skus, c.CountImportSkus(import_id))


async def _forget_skus(units: UnitsOfWork, import_id: uuid.UUID) -> None:
    await units.handle(_drop_skus, c.ForgetImportSkus(import_id))


async def _finish_failed(units: UnitsOfWork, report: ImportReport, by: str) -> None:
    report.superseded = report.applied - await _distinct_skus(units, report.id)
    await _save(units, report, by)
    await _forget_skus(units, report.id)
