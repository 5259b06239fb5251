"""Drift and reconciliation routes: parse, build a command, call the use case, return."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from offers import drift
from offers.deps import Deps
from offers.domain import drift as d
from shared.accounts import KnownAccount
from shared.http import error_responses
from shared.pagination import Page, PageQuery
from shared.security import Operator, Viewer

drift_router = APIRouter(
    prefix="/accounts/{account_id}", tags=["drift"], responses=error_responses(404, 503)
)


@drift_router.post("/reconcile", responses=error_responses(409, 502))
async def reconcile(who: Operator, account_id: KnownAccount, deps: Deps) -> dict[str, Any]:
    """Compare every offer of the account on Allegro with ours by external id (SKU); record
    each difference and repair it where the state machine can (re-create, reactivate, end,
    adopt, mark the price or stock to be sent again). Answers the counts."""
    return await drift.reconcile(deps, account_id, who.subject)


@drift_router.get("/drift")
async def list_drift(
    _: Viewer,
    account_id: KnownAccount,
    page: PageQuery,
    deps: Deps,
    kind: Annotated[str | None, Query(max_length=40, description=", ".join(d.KINDS))] = None,
    sku: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> Page[dict[str, Any]]:
    """Each difference found, newest first: the offer, the field, our value, Allegro's, the
    repair, and where it was seen (the event, or the reconcile)."""
    return await deps.units.read(drift.drift_page, d.ListDrift(account_id, page, kind, sku))


@drift_router.get("/drift/summary")
async def drift_summary(_: Viewer, account_id: KnownAccount, deps: Deps) -> dict[str, Any]:
    """Counts by kind, the offer-event cursor (last event, lag, lost) and the last reconcile."""
    return await deps.units.read(drift.drift_summary, d.GetDriftSummary(account_id))
