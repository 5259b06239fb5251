"""The orders service's operator endpoints: parse, call a handler, return."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from orders import handlers
from orders.deps import Deps
from orders.domain import commands as c
from shared.http import error_responses
from shared.pagination import Page, PageQuery
from shared.security import Viewer

router = APIRouter(tags=["orders"])


@router.get("/orders")
async def list_orders(
    who: Viewer,
    deps: Deps,
    page: PageQuery,
    account_id: str | None = None,
    status: str | None = None,
) -> Page[dict[str, Any]]:
    """Imported checkout forms, newest first."""
    return await deps.units.read(
        handlers.checkout_forms, c.ListCheckoutForms(page, account_id, status)
    )


@router.get("/orders/{checkout_form_id}", responses=error_responses(404))
async def get_order(who: Viewer, deps: Deps, checkout_form_id: str) -> dict[str, Any]:
    """One checkout form as last stored, with its hand-off state."""
    return await deps.units.read(handlers.checkout_form, c.GetCheckoutForm(checkout_form_id))


@router.get("/import/accounts")
async def import_accounts(who: Viewer, deps: Deps, page: PageQuery) -> Page[dict[str, Any]]:
    """The accounts the import knows: status (connected, tokens_failed, refresh_failed,
    disconnected), cursor, next poll, last error."""
    return await deps.units.read(handlers.accounts, c.ListAccounts(page))
