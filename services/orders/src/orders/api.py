"""The orders service's operator endpoints: parse, call a handler, return."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict

from orders import handlers, poller
from orders.deps import Deps
from orders.domain import commands as c
from orders.domain.fulfillment import SettableStatus
from shared.http import Int8Id, error_responses
from shared.pagination import Page, PageQuery
from shared.security import Operator, Viewer

router = APIRouter(tags=["orders"])

CheckoutStatus = Literal["BOUGHT", "FILLED_IN", "READY_FOR_PROCESSING", "CANCELLED"]
WriteBackState = Literal["pending", "done", "failed"]
Text = Annotated[str | None, Query(min_length=1, max_length=200)]
# What goes into an Allegro URL and auth's: a checkout form id (a UUID) or an account id, so
# letters, digits and - . _ : only; anything else is a 422, never a broken request to Allegro.
IDENTIFIER = r"^[A-Za-z0-9._:-]{1,128}$"
CheckoutFormId = Annotated[str, Path(pattern=IDENTIFIER)]
AccountIdQuery = Annotated[str | None, Query(pattern=IDENTIFIER)]


class FulfillmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: SettableStatus


@router.get("/orders")
async def list_orders(
    who: Viewer,
    deps: Deps,
    page: PageQuery,
    account_id: Text = None,
    status: CheckoutStatus | None = None,
    marketplace_id: Text = None,
    buyer_login: Text = None,
    sku: Text = None,
    bought_from: Annotated[
        datetime | None, Query(description="lineItems' boughtAt, inclusive")
    ] = None,
    bought_to: Annotated[
        datetime | None, Query(description="lineItems' boughtAt, exclusive")
    ] = None,
) -> Page[dict[str, Any]]:
    """Imported checkout forms, newest imported first; every filter optional."""
    query = c.ListCheckoutForms(
        page, account_id, status, marketplace_id, buyer_login, sku, bought_from, bought_to
    )
    return await deps.units.read(handlers.checkout_forms, query)


@router.get("/orders/{checkout_form_id}", responses=error_responses(404))
async def get_order(who: Viewer, deps: Deps, checkout_form_id: str) -> dict[str, Any]:
    """One checkout form as last stored, its hand-off state, its history and write-backs."""
    return await deps.units.read(handlers.checkout_form, c.GetCheckoutForm(checkout_form_id))


@router.post("/orders/{checkout_form_id}/reimport", responses=error_responses(404, 409, 502))
async def reimport_order(
    who: Operator, deps: Deps, checkout_form_id: CheckoutFormId, account_id: AccountIdQuery = None
) -> dict[str, Any]:
    """Read the checkout form from Allegro again and store it (handed off if paid and not yet
    handed off). `account_id` is needed only for a form never imported."""
    if account_id is None:
        stored = await deps.units.read(handlers.checkout_form, c.GetCheckoutForm(checkout_form_id))
        account_id = str(stored["account_id"])
    result = await poller.reimport(deps, checkout_form_id, account_id)
    detail = await deps.units.read(handlers.checkout_form, c.GetCheckoutForm(checkout_form_id))
    return {**result, "order": detail}


@router.put(
    "/orders/{checkout_form_id}/fulfillment", status_code=202, responses=error_responses(404)
)
async def set_fulfillment(
    who: Operator, deps: Deps, checkout_form_id: str, body: FulfillmentIn
) -> dict[str, Any]:
    """Set the fulfillment status on Allegro (written back in the background, like a
    shipment's SENT): the write-back, pending."""
    return await deps.units.handle(
        handlers.request_fulfillment_status,
        c.RequestFulfillmentStatus(checkout_form_id, body.status, who.subject),
    )


@router.get("/write-backs")
async def list_write_backs(
    who: Viewer,
    deps: Deps,
    page: PageQuery,
    state: WriteBackState | None = None,
    checkout_form_id: Text = None,
) -> Page[dict[str, Any]]:
    """Shipments and fulfillment statuses written back to Allegro, newest first; `failed`
    ones carry their reason."""
    return await deps.units.read(
        handlers.write_backs, c.ListWriteBacks(page, state, checkout_form_id)
    )


@router.post("/write-backs/{write_back_id}/retry", responses=error_responses(404, 409))
async def retry_write_back(who: Operator, deps: Deps, write_back_id: Int8Id) -> dict[str, Any]:
    """Try a failed write-back again from where it stopped (a waybill added stays added)."""
    return await deps.units.handle(
        handlers.retry_write_back, c.RetryWriteBack(write_back_id, who.subject)
    )


@router.get("/import/accounts")
async def import_accounts(who: Viewer, deps: Deps, page: PageQuery) -> Page[dict[str, Any]]:
    """The accounts the import knows: status (connected, tokens_failed, refresh_failed,
    disconnected), cursor, next poll, last error."""
    return await deps.units.read(handlers.accounts, c.ListAccounts(page))


@router.get("/import/failures")
async def import_failures(who: Viewer, deps: Deps, page: PageQuery) -> Page[dict[str, Any]]:
    """Accounts whose import fails: tokens or refresh failed, or pages failing (with back-off),
    with the reason."""
    return await deps.units.read(handlers.failed_imports, c.ListFailedImports(page))


@router.post("/import/accounts/{account_id}/retry", responses=error_responses(404, 409))
async def retry_import(who: Operator, deps: Deps, account_id: str) -> dict[str, Any]:
    """Poll the account again now, its failures forgotten (a token failure is tried again)."""
    return await deps.units.handle(handlers.retry_import, c.RetryImport(account_id, who.subject))
