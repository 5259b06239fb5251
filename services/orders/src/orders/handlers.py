"""Use cases of the orders service: one function per message, and the explicit registry."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from orders.domain import checkout, fulfillment
from orders.domain import commands as c
from orders.repository import FormToSave, OrdersRepository, StoredForm
from shared.errors import Conflict, Invalid, NotFound
from shared.events import (
    AccountConnected,
    AccountDisconnected,
    AccountRefreshFailed,
    Event,
    OfferPublished,
    SupplierFulfillmentChanged,
    SupplierShipmentSent,
)
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


# --- offer events (offers) -------------------------------------------------------------------


async def offer_published(event: OfferPublished, uow: UnitOfWork) -> None:
    """Remember which SKU the offer sells: a line whose offer lost its external id on Allegro
    still goes to the supplier as that SKU."""
    await uow.repository(OrdersRepository).remember_offer(
        event.account_id, event.offer_id, event.sku
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
    items = [(f.form, f.event_types, f.last_event_id) for f in command.forms if f.form]
    # (A form that is gone upstream was replaced by a combined payment, which names its own.)
    return await _store_forms(uow, command.account_id, items)


async def _store_forms(
    uow: UnitOfWork,
    account_id: str,
    items: Sequence[tuple[dict[str, Any], tuple[str, ...], str | None]],
) -> dict[str, int]:
    """Store checkout forms as read, in order, with a handful of set-based statements: the
    rules run here, on what the page's rows say and what earlier forms of the page changed."""
    repo = uow.repository(OrdersRepository)
    ids = [str(form["id"]) for form, _, _ in items]
    state = await repo.checkout_forms_for_update(ids)
    line_ids = [str(li["id"]) for form, _, _ in items for li in form.get("lineItems") or []]
    owners = await repo.line_item_owners(line_ids)
    owner = {o.line_item_id: o.checkout_form_id for o in owners}
    published = await repo.published_skus(
        account_id, checkout.offers_without_sku(form for form, _, _ in items)
    )
    handed = {o.checkout_form_id for o in owners if o.received}
    now = datetime.now(UTC)
    saves: list[FormToSave] = []
    history: list[tuple[str, str, dict[str, Any]]] = []
    superseded: list[tuple[list[str], str]] = []
    owned: dict[str, str] = {}
    emitted: list[Event] = []
    received: list[str] = []
    cancelled: list[str] = []
    for form, event_types, last_event_id in items:
        form_id = str(form["id"])
        status = checkout.effective_status(form, event_types)
        stored = state.get(form_id)
        if stored is not None and checkout.regresses(stored.status, status):
            continue  # an older state read late (FILLED_IN after READY_FOR_PROCESSING)
        lines = [str(li["id"]) for li in form.get("lineItems") or []]
        others = {owner[li] for li in lines if li in owner and owner[li] != form_id}
        handed_off = sorted(others & handed)
        duplicate_of = handed_off[0] if handed_off else None
        saves.append(
            FormToSave(
                form, status, last_event_id, duplicate_of, checkout.line_skus(form, published)
            )
        )
        revision = str(form.get("revision") or "")
        if stored is None or stored.status != status or stored.revision != revision:
            history.append(
                (
                    form_id,
                    "imported",
                    {
                        "status": status,
                        "revision": revision,
                        "fulfillment_status": (form.get("fulfillment") or {}).get("status"),
                        "events": list(event_types),
                        "event_id": last_event_id,
                    },
                )
            )
        if duplicate_of is None:
            if others:
                superseded.append((sorted(others), form_id))
            for li in lines:
                owner[li] = owned[li] = form_id
        first_time = stored is None or stored.received_at is None
        already_duplicate = stored is not None and stored.duplicate_of is not None
        received_now = (
            status == checkout.PAID
            and first_time
            and duplicate_of is None
            and not already_duplicate
        )
        if received_now:
            emitted.append(checkout.order_received(account_id, form, published))
            received.append(form_id)
            handed.add(form_id)
            history.append((form_id, "received", {"revision": revision}))
        cancelled_now = status == checkout.CANCELLED and (
            stored is None or stored.cancelled_at is None
        )
        if cancelled_now:
            reason = checkout.cancellation_reason(event_types)
            emitted.append(checkout.order_cancelled(account_id, form_id, reason))
            cancelled.append(form_id)
            history.append((form_id, "cancelled", {"reason": reason}))
        state[form_id] = StoredForm(
            form_id,
            account_id,
            status,
            revision,
            now if received_now else (stored.received_at if stored else None),
            now if cancelled_now else (stored.cancelled_at if stored else None),
            stored.superseded_by if stored else None,
            (stored.duplicate_of if stored else None) or duplicate_of,
        )
    await repo.save_checkout_forms(account_id, saves)
    for replaced, by in superseded:
        await repo.mark_superseded(replaced, by)
    await repo.own_line_items(account_id, owned)
    await repo.mark_received(received)
    await repo.mark_cancelled(cancelled)
    await repo.add_history_rows(history)
    await uow.emit(*emitted)
    return {"received": len(received), "cancelled": len(cancelled)}


async def store_checkout_form(command: c.StoreCheckoutForm, uow: UnitOfWork) -> dict[str, int]:
    """A form read on its own (re-import, re-read after a stale revision): the same rules as
    the journal's, the cursor untouched."""
    result = await _store_forms(uow, command.account_id, [(command.form, (), None)])
    if command.reason == "reimported":
        await uow.repository(OrdersRepository).add_history(
            str(command.form["id"]), "reimported", {"revision": command.form.get("revision")}
        )
    return result


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


async def retry_import(command: c.RetryImport, uow: UnitOfWork) -> dict[str, Any]:
    repo = uow.repository(OrdersRepository)
    account = await repo.account(command.account_id)
    if account is None:
        raise NotFound(f"orders knows no account {command.account_id}", code="unknown_account")
    if account["status"] == "disconnected":
        raise Conflict(
            f"account {command.account_id} is disconnected: connect it again in auth",
            code="account_disconnected",
        )
    await repo.poll_now(command.account_id)
    return {
        "account_id": command.account_id,
        "status": "connected",
        "retried_by": command.requested_by,
    }


# --- tracking back (orders/writeback.py calls Allegro between these steps) ---------------------


class InvalidShipment(Invalid):
    """A fulfilment message (shipment, status change) that can never be written back as it
    is: dead-lettered with this."""

    default_code = "invalid_shipment"


async def supplier_shipment_sent(event: SupplierShipmentSent, uow: UnitOfWork) -> dict[str, Any]:
    """Record the shipment to write back (waybill, then SENT); the same waybill again for the
    same checkout form is a no-op. A message naming an order we never imported, or another
    account's, or a bad waybill, raises: it is dead-lettered with the reason."""
    repo = uow.repository(OrdersRepository)
    try:
        waybill = fulfillment.check_waybill(event.tracking_number)
        line_items = fulfillment.line_item_ids(event.lines)
        if not event.carrier_id.strip():
            raise fulfillment.BadShipment("the carrier is empty")
    except fulfillment.BadShipment as exc:
        raise InvalidShipment(f"shipment for {event.order_id}: {exc}") from None
    stored = await repo.checkout_form(event.order_id)
    if stored is None or stored["account_id"] != event.account_id:
        raise InvalidShipment(
            f"shipment for {event.order_id}: account {event.account_id} has no such imported"
            " checkout form"
        )
    known = {str(item["id"]) for item in stored["form"].get("lineItems") or []}
    unknown = [li for li in line_items if li not in known]
    if unknown:
        raise InvalidShipment(
            f"shipment for {event.order_id}: line item {unknown[0]} is not in the order"
        )
    write_back = await repo.add_shipment(
        event.account_id, event.order_id, waybill, event.carrier_id, line_items, "fulfilment"
    )
    if write_back is None:
        return {"duplicate": True}  # this waybill was sent for this form before
    await repo.add_history(
        event.order_id,
        "shipment_requested",
        {"write_back": write_back, "waybill": waybill, "carrier": event.carrier_id},
    )
    return {"write_back": write_back}


async def supplier_fulfillment_changed(
    event: SupplierFulfillmentChanged, uow: UnitOfWork
) -> dict[str, Any]:
    """The fulfilment system's status change, written back like an operator's; a status
    Allegro does not let a seller set, or an order we never imported, is dead-lettered."""
    try:
        status = fulfillment.check_status(event.status)
    except fulfillment.BadShipment as exc:
        raise InvalidShipment(f"status change of {event.order_id}: {exc}") from None
    repo = uow.repository(OrdersRepository)
    stored = await repo.checkout_form(event.order_id)
    if stored is None or stored["account_id"] != event.account_id:
        raise InvalidShipment(
            f"status change of {event.order_id}: account {event.account_id} has no such"
            " imported checkout form"
        )
    write_back = await repo.add_status_change(
        event.account_id, event.order_id, status, "fulfilment"
    )
    await repo.add_history(
        event.order_id,
        "status_requested",
        {"write_back": write_back, "status": status, "by": "fulfilment"},
    )
    return {"write_back": write_back}


async def request_fulfillment_status(
    command: c.RequestFulfillmentStatus, uow: UnitOfWork
) -> dict[str, Any]:
    try:
        status = fulfillment.check_status(command.status)
    except fulfillment.BadShipment as exc:
        raise Invalid(
            str(exc),
            code="invalid_status",
            details=[{"field": "status", "reason": "not_settable", "type": "invalid_status"}],
        ) from None
    repo = uow.repository(OrdersRepository)
    stored = await repo.checkout_form(command.checkout_form_id)
    if stored is None:
        raise NotFound(f"no checkout form {command.checkout_form_id}")
    write_back = await repo.add_status_change(
        stored["account_id"], command.checkout_form_id, status, command.requested_by
    )
    await repo.add_history(
        command.checkout_form_id,
        "status_requested",
        {"write_back": write_back, "status": status, "by": command.requested_by},
    )
    found = await repo.write_back(write_back)
    assert found is not None
    return found


async def claim_write_back(command: c.ClaimWriteBack, uow: UnitOfWork) -> c.ClaimedWriteBack | None:
    return await uow.repository(OrdersRepository).claim_write_back(command.lease_seconds)


async def shipment_added(command: c.ShipmentAdded, uow: UnitOfWork) -> None:
    repo = uow.repository(OrdersRepository)
    await repo.shipment_added(
        command.write_back_id, command.shipment_id, command.carrier_id, command.carrier_name
    )
    await repo.add_history(
        command.checkout_form_id,
        "shipment_added",
        {
            "write_back": command.write_back_id,
            "shipment_id": command.shipment_id,
            "carrier_id": command.carrier_id,
            "carrier_name": command.carrier_name,
        },
    )


async def write_back_done(command: c.WriteBackDone, uow: UnitOfWork) -> None:
    repo = uow.repository(OrdersRepository)
    await repo.write_back_done(command.write_back_id)
    await repo.add_history(
        command.checkout_form_id,
        "fulfillment_set",
        {
            "write_back": command.write_back_id,
            "status": command.fulfillment_status,
            "revision_retries": command.revision_retries,
        },
    )


async def write_back_failed(command: c.WriteBackFailed, uow: UnitOfWork) -> None:
    repo = uow.repository(OrdersRepository)
    await repo.write_back_failed(command.write_back_id, command.error, command.retry_in_seconds)
    if command.retry_in_seconds is None:
        await repo.add_history(
            command.checkout_form_id,
            "write_back_failed",
            {"write_back": command.write_back_id, "error": command.error},
        )


async def retry_write_back(command: c.RetryWriteBack, uow: UnitOfWork) -> dict[str, Any]:
    repo = uow.repository(OrdersRepository)
    found = await repo.write_back(command.write_back_id)
    if found is None:
        raise NotFound(f"no write-back {command.write_back_id}")
    if found["state"] != "failed":
        raise Conflict(
            f"write-back {command.write_back_id} is {found['state']}, not failed",
            code="not_failed",
        )
    await repo.retry_write_back(command.write_back_id)
    await repo.add_history(
        found["checkout_form_id"],
        "write_back_retried",
        {"write_back": command.write_back_id, "by": command.requested_by},
    )
    retried = await repo.write_back(command.write_back_id)
    assert retried is not None
    return retried


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
        "buyer_login": row["buyer_login"],
        "skus": row["skus"],
        "bought_at": row["bought_at"],
        "received_at": row["received_at"],
        "cancelled_at": row["cancelled_at"],
        "superseded_by": row["superseded_by"],
        "duplicate_of": row["duplicate_of"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


async def checkout_forms(query: c.ListCheckoutForms, uow: UnitOfWork) -> Page[dict[str, Any]]:
    after = None if query.page.after is None else _decode(query.page.after)
    rows = await uow.repository(OrdersRepository).checkout_forms(query, after, query.page.fetch)
    page = page_of(rows, query.page, lambda r: _encode(r["created_at"], r["id"]))
    return Page[dict[str, Any]](
        items=[{**_summary(r), "total": r["total"]} for r in page.items], next=page.next
    )


async def checkout_form(query: c.GetCheckoutForm, uow: UnitOfWork) -> dict[str, Any]:
    repo = uow.repository(OrdersRepository)
    row = await repo.checkout_form(query.checkout_form_id)
    if row is None:
        raise NotFound(f"no checkout form {query.checkout_form_id}")
    return {
        **_summary(row),
        "last_event_id": row["last_event_id"],
        "form": row["form"],
        "history": await repo.history(query.checkout_form_id),
        "write_backs": await repo.write_backs(None, query.checkout_form_id, None, 1000),
    }


async def write_backs(query: c.ListWriteBacks, uow: UnitOfWork) -> Page[dict[str, Any]]:
    try:
        after = None if query.page.after is None else int(query.page.after)
    except ValueError:
        raise Invalid("the cursor cannot be read", code="invalid_cursor") from None
    rows = await uow.repository(OrdersRepository).write_backs(
        query.state, query.checkout_form_id, after, query.page.fetch
    )
    return page_of(rows, query.page, lambda r: str(r["id"]))


async def failed_imports(query: c.ListFailedImports, uow: UnitOfWork) -> Page[dict[str, Any]]:
    rows = await uow.repository(OrdersRepository).failed_imports(query.page.after, query.page.fetch)
    return page_of(rows, query.page, lambda r: str(r["account_id"]))


async def accounts(query: c.ListAccounts, uow: UnitOfWork) -> Page[dict[str, Any]]:
    rows = await uow.repository(OrdersRepository).accounts(query.page.after, query.page.fetch)
    return page_of(rows, query.page, lambda r: str(r["account_id"]))


# Event class -> handler, per queue this service consumes (see consumer.py).
ACCOUNT_HANDLERS: dict[type[Event], Handler] = {
    AccountConnected: account_connected,
    AccountRefreshFailed: account_refresh_failed,
    AccountDisconnected: account_disconnected,
}
SHIPMENT_HANDLERS: dict[type[Event], Handler] = {
    SupplierShipmentSent: supplier_shipment_sent,
    SupplierFulfillmentChanged: supplier_fulfillment_changed,
}
OFFER_HANDLERS: dict[type[Event], Handler] = {OfferPublished: offer_published}
HANDLERS: dict[type[Event], Handler] = {
    **ACCOUNT_HANDLERS,
    **SHIPMENT_HANDLERS,
    **OFFER_HANDLERS,
}
