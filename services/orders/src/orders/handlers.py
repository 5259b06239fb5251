"""Use cases of the orders service: one function per message, and the explicit registry."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from orders.domain import checkout
from orders.domain import commands as c
from orders.repository import OrdersRepository
from shared.errors import Conflict, Invalid, NotFound
from shared.events import AccountConnected, AccountDisconnected, AccountRefreshFailed, Event
from shared.messaging.consumer import Handler
from shared.pagination import Page, page_of
from shared.uow import UnitOfWork


class StaleCursor(Conflict):
    """Another replica stored this page first (its claim outlived its lease)."""

    default_code = "stale_cursor"


# --- account events (auth) -------------------------------------------------------------------


async def account_connected(event: AccountConnected, uow: UnitOfWork) -> None:
    await uow.repository(OrdersRepository).set_account_status(event.account_id, "connected", "")


async def account_refresh_failed(event: AccountRefreshFailed, uow: UnitOfWork) -> None:
    await uow.repository(OrdersRepository).set_account_status(
        event.account_id, "refresh_failed", event.reason
    )


async def account_disconnected(event: AccountDisconnected, uow: UnitOfWork) -> None:
    await uow.repository(OrdersRepository).set_account_status(
        event.account_id, "disconnected", "credentials removed"
    )


# --- the import loop's steps (orders/poller.py calls Allegro between them) -------------------


async def claim_due_account(command: c.ClaimDueAccount, uow: UnitOfWork) -> c.ClaimedAccount | None:
    return await uow.repository(OrdersRepository).claim_due_account(command.lease_seconds)


async def store_order_events(command: c.StoreOrderEvents, uow: UnitOfWork) -> dict[str, int]:
    """Upsert the forms a page of events named, emit the hand-offs, move the cursor: together.

    A form never goes back to a lower status; a paid form is handed off (`OrderReceived`) once;
    a cancelled one is announced (`OrderCancelled`) once; a form whose line items were already
    handed off in another form (a combined payment after the fact) is kept as a duplicate and
    not handed off; earlier unpaid forms whose line items a combined payment took over are
    marked superseded.
    """
    repo = uow.repository(OrdersRepository)
    if not await repo.advance_cursor(
        command.account_id, command.cursor_before, command.cursor_after
    ):
        raise StaleCursor(f"account {command.account_id}: the order-event cursor moved")
    received = cancelled = 0
    for fetched in command.forms:
        form = fetched.form
        if form is None:
            continue  # gone upstream: replaced by a combined payment, which names its own form
        form_id = fetched.checkout_form_id
        status = checkout.effective_status(form, fetched.event_types)
        stored = await repo.checkout_form_for_update(form_id)
        if stored is not None and checkout.regresses(stored.status, status):
            continue  # an older state read late (FILLED_IN after READY_FOR_PROCESSING)
        line_ids = [str(item["id"]) for item in form.get("lineItems") or []]
        owners = [o for o in await repo.line_item_owners(line_ids) if o.checkout_form_id != form_id]
        handed_off = sorted({o.checkout_form_id for o in owners if o.received})
        duplicate_of = handed_off[0] if handed_off else None
        await repo.save_checkout_form(
            command.account_id, form, status, fetched.last_event_id, duplicate_of
        )
        if duplicate_of is None:
            replaced = sorted({o.checkout_form_id for o in owners})
            if replaced:
                await repo.mark_superseded(replaced, form_id)
            await repo.own_line_items(command.account_id, form_id, line_ids)
        first_time = stored is None or stored.received_at is None
        already_duplicate = stored is not None and stored.duplicate_of is not None
        if (
            status == checkout.PAID
            and first_time
            and duplicate_of is None
            and not already_duplicate
        ):
            await uow.emit(checkout.order_received(command.account_id, form))
            await repo.mark_received(form_id)
            received += 1
        if status == checkout.CANCELLED and (stored is None or stored.cancelled_at is None):
            reason = checkout.cancellation_reason(fetched.event_types)
            await uow.emit(checkout.order_cancelled(command.account_id, form_id, reason))
            await repo.mark_cancelled(form_id)
            cancelled += 1
    return {"received": received, "cancelled": cancelled}


async def poll_succeeded(command: c.PollSucceeded, uow: UnitOfWork) -> None:
    await uow.repository(OrdersRepository).poll_done(
        command.account_id, command.next_poll_in_seconds, None, failed=False
    )


async def poll_failed(command: c.PollFailed, uow: UnitOfWork) -> None:
    await uow.repository(OrdersRepository).poll_done(
        command.account_id, command.backoff_seconds, command.error, failed=True
    )


async def tokens_failed(command: c.TokensFailed, uow: UnitOfWork) -> None:
    await uow.repository(OrdersRepository).set_account_status(
        command.account_id, "tokens_failed", command.reason
    )


# --- queries ---------------------------------------------------------------------------------


def _encode(created_at: datetime, form_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{form_id}".encode()).decode()


def _decode(cursor: str) -> tuple[str, str]:
    try:
        at, form_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        datetime.fromisoformat(at)
    except ValueError:
        raise Invalid("the cursor cannot be read", code="invalid_cursor") from None
    return at, form_id


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "account_id": row["account_id"],
        "status": row["status"],
        "revision": row["revision"],
        "fulfillment_status": row["fulfillment_status"],
        "marketplace_id": row["marketplace_id"],
        "received_at": row["received_at"],
        "cancelled_at": row["cancelled_at"],
        "superseded_by": row["superseded_by"],
        "duplicate_of": row["duplicate_of"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


async def checkout_forms(query: c.ListCheckoutForms, uow: UnitOfWork) -> Page[dict[str, Any]]:
    after = None if query.page.after is None else _decode(query.page.after)
    rows = await uow.repository(OrdersRepository).checkout_forms(
        query.account_id, query.status, after, query.page.fetch
    )
    page = page_of(rows, query.page, lambda r: _encode(r["created_at"], r["id"]))
    return Page[dict[str, Any]](
        items=[{**_summary(r), "total": r["total"]} for r in page.items], next=page.next
    )


async def checkout_form(query: c.GetCheckoutForm, uow: UnitOfWork) -> dict[str, Any]:
    row = await uow.repository(OrdersRepository).checkout_form(query.checkout_form_id)
    if row is None:
        raise NotFound(f"no checkout form {query.checkout_form_id}")
    return {**_summary(row), "last_event_id": row["last_event_id"], "form": row["form"]}


async def accounts(query: c.ListAccounts, uow: UnitOfWork) -> Page[dict[str, Any]]:
    rows = await uow.repository(OrdersRepository).accounts(query.page.after, query.page.fetch)
    return page_of(rows, query.page, lambda r: str(r["account_id"]))


# Event class -> handler, per queue this service consumes (see consumer.py).
ACCOUNT_HANDLERS: dict[type[Event], Handler] = {
    AccountConnected: account_connected,
    AccountRefreshFailed: account_refresh_failed,
    AccountDisconnected: account_disconnected,
}
HANDLERS: dict[type[Event], Handler] = ACCOUNT_HANDLERS
