"""Coverage reports: how much of a selection Allegro's catalogue knows, computed in the
background chunk by chunk (one unit of work each, Allegro asked between them), and read."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from catalog.allegro import Lookups
from catalog.domain import commands as c
from catalog.domain.gpsr import missing_gpsr
from catalog.domain.items import decide
from catalog.domain.model import Product
from catalog.domain.selection import Selection
from catalog.repository import (
    AccountRepository,
    CoverageRepository,
    ProductRepository,
)
from catalog.sync import Context, load_context
from shared.errors import Conflict, NotFound
from shared.logs import get_logger
from shared.uow import UnitOfWork, UnitsOfWork

log = get_logger(__name__)
COVERAGE_CHUNK = 200
STALE_AFTER = timedelta(seconds=30)
COUNT_KEYS = (
    "selected",
    "matched",
    "missing",
    "ambiguous",
    "no_ean",
    "prohibited",
    "incomplete",
    "unmapped",
    "no_image",
    "no_weight",
    "missing_gpsr",  # the product lacks GPSR data Allegro requires (waived or not)
    "listable",  # selected and nothing blocks it (after the account's waivers)
)


def coverage_view(row: dict[str, Any]) -> dict[str, Any]:
    total, processed = row["total"], row["processed"]
    return {
        "report_id": str(row["id"]),
        "account_id": row["account_id"],
        "status": row["status"],
        "progress": {
            "processed": processed,
            "total": total,
            "ratio": round(processed / total, 4) if total else 1.0,
        },
        "selection": orjson.loads(row["selection"]),
        "counts": orjson.loads(row["counts"]),
        "by_category": orjson.loads(row["by_category"]),
        "started_at": row["started_at"].isoformat(),
        "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
        "error": row["error"],
    }


async def selection_to_assess(query: c.StartCoverage, uow: UnitOfWork) -> Selection:
    """The selection given, else the account's saved one (409 if it has none)."""
    if query.selection is not None:
        return query.selection
    saved = await uow.repository(AccountRepository).selection(query.account_id)
    if saved is None:
        raise Conflict(
            "the account has no saved selection; send one in the body",
            code="no_selection",
            details=[{"account_id": query.account_id}],
        )
    return saved


async def get_coverage(query: c.GetCoverage, uow: UnitOfWork) -> dict[str, Any]:
    found = await uow.repository(CoverageRepository).report(query.report_id)
    if found is None:
        raise NotFound(f"coverage report {query.report_id} not found")
    return coverage_view(found)


async def latest_coverage(query: c.LatestCoverage, uow: UnitOfWork) -> dict[str, Any]:
    found = await uow.repository(CoverageRepository).latest(query.account_id)
    if found is None:
        raise NotFound(f"coverage report for account {query.account_id} not found")
    return coverage_view(found)


async def resume_coverage(command: c.ResumeCoverage, uow: UnitOfWork) -> uuid.UUID:
    """A failed (or stalled) report back to running, to continue where it stopped."""
    if not await uow.repository(CoverageRepository).resume(command.report_id):
        raise NotFound(f"unfinished coverage report {command.report_id} not found")
    return command.report_id


# --- computing a report: a unit of work per chunk, Allegro asked between them --------------


def _zero() -> dict[str, int]:
    return dict.fromkeys(COUNT_KEYS, 0)


async def _create(command: c.CreateCoverage, uow: UnitOfWork) -> None:
    total = await uow.repository(ProductRepository).count()
    await uow.repository(CoverageRepository).start(
        command.report_id, command.account_id, command.selection.as_dict(), total, _zero()
    )


async def start_coverage(units: UnitsOfWork, account_id: str, selection: Selection) -> uuid.UUID:
    report_id = uuid.uuid4()
    await units.handle(_create, c.CreateCoverage(report_id, account_id, selection))
    return report_id


async def _claim_stale(command: c.ClaimStaleCoverage, uow: UnitOfWork) -> list[uuid.UUID]:
    return await uow.repository(CoverageRepository).claim_stale(command.before)


async def claim_stale(units: UnitsOfWork) -> list[uuid.UUID]:
    """Running reports whose worker stopped reporting progress (it died): take them over."""
    return await units.handle(_claim_stale, c.ClaimStaleCoverage(datetime.now(UTC) - STALE_AFTER))


async def _fail(command: c.FailCoverage, uow: UnitOfWork) -> None:
    await uow.repository(CoverageRepository).fail(command.report_id, command.error)


async def run_coverage(units: UnitsOfWork, lookups: Lookups, report_id: uuid.UUID) -> None:
    """Compute (or resume) a coverage report; progress is committed after every chunk."""
    try:
        await _run_coverage(units, lookups, report_id)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("coverage_failed", report_id=str(report_id))
        await units.handle(_fail, c.FailCoverage(report_id, repr(exc)[:2000]))


@dataclass(frozen=True)
class _Resumed:
    progress: dict[str, Any] | None
    ctx: Context
    waived: frozenset[str]


async def _resume_point(query: c.CoverageResumePoint, uow: UnitOfWork) -> _Resumed:
    progress = await uow.repository(CoverageRepository).progress(query.report_id)
    ctx = await load_context(uow, [])
    waived: frozenset[str] = frozenset()
    if progress is not None:
        account_id = progress["account_id"]
        waivers = await uow.repository(AccountRepository).waived_reasons([account_id])
        waived = waivers.get(account_id, frozenset())
    return _Resumed(progress, ctx, waived)


async def _scan(query: c.ScanProducts, uow: UnitOfWork) -> list[Product]:
    return await uow.repository(ProductRepository).page(query.after, query.limit)


async def _advance(step: c.AdvanceCoverage, uow: UnitOfWork) -> None:
    await uow.repository(CoverageRepository).advance(
        step.report_id, step.processed, step.last_sku, step.counts, step.by_category
    )


async def _finish(command: c.FinishCoverage, uow: UnitOfWork) -> None:
    await uow.repository(CoverageRepository).finish(command.report_id)


async def _run_coverage(units: UnitsOfWork, lookups: Lookups, report_id: uuid.UUID) -> None:
    resumed = await units.read(_resume_point, c.CoverageResumePoint(report_id))
    row = resumed.progress
    if row is None or row["status"] != "running":
        return
    ctx, waived = resumed.ctx, resumed.waived
    account_id = row["account_id"]
    selection = Selection.from_dict(row["selection"])
    counts: dict[str, int] = row["counts"]
    by_category: dict[str, dict[str, int]] = row["by_category"]
    after: str | None = row["last_sku"]
    processed: int = row["processed"]
    while True:
        page = await units.read(_scan, c.ScanProducts(after, COVERAGE_CHUNK))
        if not page:
            break
        to_look_up: list[tuple[str, str]] = []  # (ean, category)
        for product in page:
            mapped = ctx.is_mapped(product)
            decision = decide(
                product, selection, ctx.screen, ctx.names, mapped=mapped, waived=waived
            )
            if decision.reason == "not_selected":
                continue
            category = product.category_path or ""
            bucket = by_category.setdefault(category, _zero())
            for target in (counts, bucket):
                target["selected"] += 1
            if decision.reason == "prohibited":
                for target in (counts, bucket):
                    target["prohibited"] += 1
                continue
            flags = [r for r in decision.reasons if r in ("incomplete", "no_image", "no_weight")]
            if not mapped:
                flags.append("unmapped")
            if not decision.reasons:
                flags.append("listable")
            if missing_gpsr(product):
                flags.append("missing_gpsr")
            if not product.ean:
                flags += ["no_ean", "missing"]
            else:
                to_look_up.append((product.ean, category))
            for flag in flags:
                for target in (counts, bucket):
                    target[flag] = target.get(flag, 0) + 1  # reports from before a new key
        found = await lookups.by_ean(account_id, (e for e, _ in to_look_up))
        for ean, category in to_look_up:
            matches = found[ean]["matches"]
            flag = "missing" if matches == 0 else "matched" if matches == 1 else "ambiguous"
            for target in (counts, by_category[category]):
                target[flag] += 1
        processed += len(page)
        after = page[-1].sku
        step = c.AdvanceCoverage(report_id, processed, after, counts, by_category)
        await units.handle(_advance, step)
    await units.handle(_finish, c.FinishCoverage(report_id))
    log.info("coverage_done", report_id=str(report_id), account_id=account_id, counts=counts)
