"""Coverage reports: how much of a selection Allegro's catalogue knows, computed in the
background (catalog.allegro) and read here."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from catalog.domain import commands as c
from catalog.domain.selection import Selection
from catalog.repository import AccountRepository, CoverageRepository
from shared.errors import Conflict, NotFound
from shared.uow import UnitOfWork


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
