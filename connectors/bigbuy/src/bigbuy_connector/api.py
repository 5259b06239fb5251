"""The connector's operator endpoints: parse, call a handler, return."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from bigbuy_connector import handlers
from bigbuy_connector.deps import Deps
from bigbuy_connector.domain import commands as c
from bigbuy_connector.sender import wallet_balance
from shared.http import error_responses
from shared.pagination import Page, PageQuery
from shared.security import Operator, Viewer

router = APIRouter(tags=["bigbuy"])


class AddressIn(BaseModel):
    """A corrected shipping address: only the fields given replace the order's."""

    model_config = ConfigDict(extra="forbid")

    firstName: str | None = Field(default=None, min_length=1, max_length=100)
    lastName: str | None = Field(default=None, min_length=1, max_length=100)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    postcode: str | None = Field(default=None, min_length=1, max_length=20)
    town: str | None = Field(default=None, min_length=1, max_length=100)
    address: str | None = Field(default=None, min_length=1, max_length=70)
    phone: str | None = Field(default=None, min_length=3, max_length=30)
    email: str | None = Field(default=None, min_length=3, max_length=200)
    companyName: str | None = Field(default=None, max_length=100)


class ResendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: AddressIn | None = None
    accept_loss: bool = Field(
        default=False, description="Send even though BigBuy's cost exceeds what the sale brings"
    )


@router.get("/supplier-orders", responses=error_responses(422))
async def list_orders(
    who: Viewer, deps: Deps, page: PageQuery, state: str | None = None
) -> Page[dict[str, Any]]:
    """Allegro orders on their way to BigBuy, oldest first, optionally in one state (new,
    sending, sent, shipped, loss, out_of_stock, waiting_wallet, bad_address,
    carrier_unavailable, unknown_product, failed, cancelled, cancel_manual)."""
    return await deps.units.read(handlers.list_orders, c.ListOrders(page, state))


@router.get("/supplier-orders/{order_id}", responses=error_responses(404))
async def get_order(who: Viewer, deps: Deps, order_id: str) -> dict[str, Any]:
    return await deps.units.read(handlers.get_order, c.GetOrder(order_id))


@router.post("/supplier-orders/{order_id}/resend", responses=error_responses(404, 409, 422))
async def resend(
    who: Operator, deps: Deps, order_id: str, body: ResendIn | None = None
) -> dict[str, Any]:
    """Send again an order BigBuy refused or we held back (retry as it is, or with a corrected
    address, or accepting a loss)."""
    body = body or ResendIn()
    address = None if body.address is None else body.address.model_dump(exclude_none=True)
    return await deps.units.handle(
        handlers.resend,
        c.Resend(order_id, deps.clock.now(), address, body.accept_loss),
    )


@router.post("/supplier-orders/{order_id}/retry", responses=error_responses(404, 409))
async def retry(who: Operator, deps: Deps, order_id: str) -> dict[str, Any]:
    """Send again as it is (after the stock or the carriers came back)."""
    return await deps.units.handle(handlers.resend, c.Resend(order_id, deps.clock.now()))


@router.get("/wallet")
async def wallet(who: Viewer, deps: Deps) -> dict[str, Any]:
    """BigBuy's wallet balance (EUR) against the orders waiting for it; balance null when
    BigBuy cannot be asked now."""
    balance = await wallet_balance(deps)
    return await deps.units.read(handlers.wallet_summary, c.WalletSummary(balance))


@router.get("/catalogue/refreshes", responses=error_responses(422))
async def refreshes(who: Viewer, deps: Deps, page: PageQuery) -> Page[dict[str, Any]]:
    """Catalogue refreshes, newest first, with each list's progress (page, rows, errors)."""
    return await deps.units.read(handlers.runs, c.ListRuns(page))


@router.get("/catalogue/budgets")
async def budgets(who: Viewer, deps: Deps) -> list[dict[str, Any]]:
    """BigBuy's rate budgets as last seen, per endpoint (calls made, 429s seen)."""
    return await deps.units.read(handlers.budgets, c.ListBudgets())
