"""Coverage reports: how much of a selection Allegro's catalogue knows, in the background."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from catalog.api.common import NOT_FOUND, OF_ACCOUNT
from catalog.api.selection import SelectionBody
from catalog.deps import Deps
from catalog.domain import commands as c
from catalog.handlers import coverage as handlers
from shared.accounts import KnownAccount
from shared.http import error_responses
from shared.security import Operator, Viewer

router = APIRouter()


class CoverageBody(BaseModel):
    selection: SelectionBody | None = Field(
        default=None, description="A selection to assess; default: the account's saved one"
    )


@router.post(
    "/accounts/{account_id}/coverage",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(404, 409, 503),
)
async def request_coverage(
    _: Operator, account_id: KnownAccount, deps: Deps, body: CoverageBody | None = None
) -> dict[str, Any]:
    """Start a coverage report in the background; follow it with GET /coverage/{id}."""
    given = body.selection.selection() if body and body.selection else None
    selection = await deps.units.read(
        handlers.selection_to_assess, c.StartCoverage(account_id, given)
    )
    report_id = await handlers.start_coverage(deps.units, account_id, selection)
    deps.coverage.run(report_id)
    return {"report_id": str(report_id), "status": "running"}


@router.get("/coverage/{report_id}", responses=NOT_FOUND)
async def get_coverage(report_id: uuid.UUID, deps: Deps, _: Viewer) -> dict[str, Any]:
    return await deps.units.read(handlers.get_coverage, c.GetCoverage(report_id))


@router.get("/accounts/{account_id}/coverage", responses=OF_ACCOUNT)
async def latest_coverage(_: Viewer, account_id: KnownAccount, deps: Deps) -> dict[str, Any]:
    return await deps.units.read(handlers.latest_coverage, c.LatestCoverage(account_id))


@router.post(
    "/coverage/{report_id}/resume", status_code=status.HTTP_202_ACCEPTED, responses=NOT_FOUND
)
async def resume_coverage(report_id: uuid.UUID, deps: Deps, _: Operator) -> dict[str, Any]:
    """Continue a failed (or stalled) report from where it stopped."""
    await deps.units.handle(handlers.resume_coverage, c.ResumeCoverage(report_id))
    deps.coverage.run(report_id)
    return {"report_id": str(report_id), "status": "running"}
