"""Use cases of the BigBuy connector: one function per message, and the explicit registry.

BigBuy is called outside any unit of work (scheduler.py, sender.py): these functions read
and write the connector's database and emit upstream events through the outbox.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from bigbuy_connector.domain import catalogue as cat
from bigbuy_connector.domain import commands as c
from bigbuy_connector.domain import orders as o
from bigbuy_connector.repository import BudgetRepository, CatalogueRepository, OrderRepository
from shared.errors import Conflict, Invalid, NotFound
from shared.events import (
    Event,
    OrderCancelled,
    OrderReceived,
    SupplierProduct,
    SupplierProductsChanged,
    SupplierReferenceListsChanged,
    SupplierShipmentSent,
)
from shared.messaging.consumer import Handler
from shared.pagination import Page, page_of
from shared.uow import UnitOfWork

# --- rate budgets (client.py) ----------------------------------------------------------------


async def take_budget(command: c.TakeBudget, uow: UnitOfWork) -> float | None:
    return await uow.repository(BudgetRepository).take(
        command.endpoint, command.now, command.limit, command.window
    )


async def record_budget(command: c.RecordBudget, uow: UnitOfWork) -> None:
    await uow.repository(BudgetRepository).record(
        command.endpoint, command.limit, command.remaining, command.reset_at
    )


async def budget_spent(command: c.BudgetSpent, uow: UnitOfWork) -> None:
    await uow.repository(BudgetRepository).spent(command.endpoint, command.reset_at)


async def budget_available_at(command: c.BudgetAvailableAt, uow: UnitOfWork) -> float:
    return await uow.repository(BudgetRepository).available_at(command.endpoint, command.now)


async def budgets(query: c.ListBudgets, uow: UnitOfWork) -> list[dict[str, Any]]:
    return await uow.repository(BudgetRepository).all()


# --- catalogue (scheduler.py calls BigBuy between these) -------------------------------------


async def claim_scheduler(command: c.ClaimScheduler, uow: UnitOfWork) -> bool:
    return await uow.repository(CatalogueRepository).take_lease(
        "scheduler", command.holder, command.now, command.lease_seconds
    )


async def plan_runs(command: c.PlanRuns, uow: UnitOfWork) -> list[c.OpenRun]:
    """Open a full refresh when due, else a stock-and-prices one; never both at once (they
    read the same stock lists, whose budget one of them would starve)."""
    repo = uow.repository(CatalogueRepository)
    runs = await repo.open_runs()
    if not runs:
        last_full = await repo.last_started("full")
        last_stock = await repo.last_started("stock")
        if last_full is None or command.now >= last_full + command.full_interval:
            kind: str | None = "full"
        elif command.now >= max(last_full, last_stock or 0.0) + command.stock_interval:
            kind = "stock"
        else:
            kind = None
        if kind is not None:
            names = [spec.name for spec in cat.KIND_LISTS[kind]]
            await repo.start_run(kind, command.now, names)
            runs = await repo.open_runs()
    out = []
    for run in runs:
        pending = [
            c.PendingList(p["list_name"], int(p["next_page"]), float(p["retry_at"]))
            for p in await repo.pending_lists(int(run["id"]))
        ]
        out.append(c.OpenRun(int(run["id"]), run["kind"], float(run["started_at"]), pending))
    return out


async def next_refresh_at(command: c.PlanRuns, uow: UnitOfWork) -> float:
    """When `plan_runs` will next open a refresh (no run open)."""
    repo = uow.repository(CatalogueRepository)
    last_full = await repo.last_started("full")
    if last_full is None:
        return command.now
    last_stock = await repo.last_started("stock")
    return min(
        last_full + command.full_interval,
        max(last_full, last_stock or 0.0) + command.stock_interval,
    )


async def save_page(command: c.SavePage, uow: UnitOfWork) -> bool:
    return await uow.repository(CatalogueRepository).save_page(
        command.run_id, command.list_name, command.page, command.rows, command.last
    )


async def page_failed(command: c.PageFailed, uow: UnitOfWork) -> None:
    await uow.repository(CatalogueRepository).page_failed(
        command.run_id, command.list_name, command.error, command.retry_at
    )


async def finish_run(command: c.FinishRun, uow: UnitOfWork) -> dict[str, int]:
    """Join the run's pages, compare with what was sent before, emit only the changes, and
    close the run, in one transaction: a crash before the commit joins again from the stored
    pages; after it, nothing is sent twice."""
    repo = uow.repository(CatalogueRepository)
    runs = {r["id"]: r for r in await repo.open_runs()}
    run = runs.get(command.run_id)
    if run is None:
        return {"emitted": 0}
    lists = await repo.run_rows(command.run_id)
    stored = await repo.products()
    updated_at = datetime.fromtimestamp(float(run["started_at"]), UTC)
    changed: list[dict[str, Any]] = []
    to_save: list[dict[str, Any]] = []
    if run["kind"] == "full":
        await _emit_reference_lists(uow, lists, command.language)
        compliance = await repo.compliance()
        for built in cat.build_full(lists, compliance, command.max_handling_days):
            before = stored.get(built.sku)
            diff = cat.changes(before["record"] if before else None, built.record)
            if diff or before is None or before["active"] != built.active:
                to_save.append(
                    {
                        "sku": built.sku,
                        "product_id": built.product_id,
                        "variation_id": built.variation_id,
                        "active": built.active,
                        "record": built.record,
                    }
                )
            if diff:
                changed.append({"sku": built.sku, **diff})
    else:
        fresh = cat.stock_and_prices(lists, command.max_handling_days)
        for sku, values in fresh.items():
            before = stored.get(sku)
            if before is None:
                continue  # not known yet: the next full refresh brings the whole record
            record = cat.apply_stock_and_prices(before["record"], values, before["active"])
            diff = cat.changes(before["record"], record)
            if diff:
                changed.append({"sku": sku, **diff})
                to_save.append({**before, "sku": sku, "record": record})
    await repo.save_products(to_save)
    await _emit_products(uow, changed, updated_at, command.products_per_event)
    await repo.finish_run(command.run_id, command.now, len(changed))
    return {"emitted": len(changed), "saved": len(to_save)}


async def _emit_reference_lists(
    uow: UnitOfWork, lists: dict[str, list[dict[str, Any]]], language: str
) -> None:
    """The taxonomies and manufacturers lists, whole, when either changed since last sent."""
    repo = uow.repository(CatalogueRepository)
    taxonomies, manufacturers = cat.reference_lists(lists)
    digest = hashlib.sha256(orjson.dumps([language, taxonomies, manufacturers])).hexdigest()
    if await repo.reference_digest("taxonomies+manufacturers") == digest:
        return
    await uow.emit(
        SupplierReferenceListsChanged(
            language=language, taxonomies=taxonomies, manufacturers=manufacturers
        )
    )
    await repo.save_reference_digest("taxonomies+manufacturers", digest)


async def _emit_products(
    uow: UnitOfWork, changed: list[dict[str, Any]], at: datetime, per_event: int
) -> None:
    for start in range(0, len(changed), max(1, per_event)):
        batch = changed[start : start + per_event]
        await uow.emit(
            SupplierProductsChanged(
                products=[SupplierProduct.model_validate({**p, "updated_at": at}) for p in batch]
            )
        )


async def runs(query: c.ListRuns, uow: UnitOfWork) -> Page[dict[str, Any]]:
    before = None
    if query.page.after is not None:
        if not query.page.after.isdigit():
            raise Invalid("the cursor cannot be read", code="invalid_cursor")
        before = int(query.page.after)
    found = await uow.repository(CatalogueRepository).runs(query.page.fetch, before)
    return page_of(found, query.page, lambda r: str(r["id"]))


async def next_without_compliance(query: c.NextWithoutCompliance, uow: UnitOfWork) -> int | None:
    return await uow.repository(CatalogueRepository).next_without_compliance()


async def save_compliance(command: c.SaveCompliance, uow: UnitOfWork) -> int:
    """Store a product's GPSR data and send its SKUs' new attributes upstream at once."""
    repo = uow.repository(CatalogueRepository)
    await repo.save_compliance(command.product_id, command.data)
    gpsr = cat.gpsr_attributes(command.data)
    if not gpsr:
        return 0
    changed = []
    to_save = []
    for sku, row in (await repo.products()).items():
        if row["product_id"] != command.product_id:
            continue
        attributes = {**(row["record"].get("attributes") or {}), **gpsr}
        record = {**row["record"], "attributes": attributes}
        changed.append({"sku": sku, "attributes": attributes})
        to_save.append({**row, "sku": sku, "record": record})
    await repo.save_products(to_save)
    await _emit_products(uow, changed, datetime.fromtimestamp(command.now, UTC), 500)
    return len(changed)


async def product_id_of(query: c.ProductIdOf, uow: UnitOfWork) -> tuple[int, int | None] | None:
    return await uow.repository(CatalogueRepository).product_id_of(query.sku)


# --- orders: events in -----------------------------------------------------------------------


async def order_received(event: OrderReceived, uow: UnitOfWork) -> None:
    await uow.repository(OrderRepository).add(
        event.order_id, event.account_id, event.model_dump(mode="json")
    )


async def order_cancelled(event: OrderCancelled, uow: UnitOfWork) -> None:
    """Before BigBuy has it: never sent. After: BigBuy has no cancel endpoint, so the order is
    marked for the operator to cancel in BigBuy's control panel. An order in flight is marked
    and decided when its send ends."""
    repo = uow.repository(OrderRepository)
    order = await repo.get(event.order_id, lock=True)
    if order is None or order["state"] in (o.CANCELLED, o.CANCEL_MANUAL, o.SHIPPED):
        return
    if order["state"] in o.NOT_SENT:
        await repo.update(event.order_id, state=o.CANCELLED, cancel_requested=True)
    elif order["state"] == o.SENT:
        await repo.update(
            event.order_id,
            state=o.CANCEL_MANUAL,
            cancel_requested=True,
            error_code="no_cancel_endpoint",
            error={
                "message": "BigBuy has the order and offers no cancel call: cancel it in"
                " BigBuy's control panel"
            },
        )
    else:  # sending: the sender decides once it knows whether BigBuy took it
        await repo.update(event.order_id, cancel_requested=True)


# --- orders: the sender's steps (sender.py calls BigBuy between them) ------------------------


async def claim_order(command: c.ClaimOrder, uow: UnitOfWork) -> dict[str, Any] | None:
    return await uow.repository(OrderRepository).claim_due(command.now, command.lease_seconds)


async def mark_sending(command: c.MarkSending, uow: UnitOfWork) -> bool:
    """Committed before the create: from here on the order is looked up before any retry.
    False when the order was cancelled meanwhile (it is not sent)."""
    repo = uow.repository(OrderRepository)
    order = await repo.get(command.order_id, lock=True)
    if order is None or order["cancel_requested"] or order["state"] not in o.WORKING:
        if order is not None and order["state"] in o.WORKING:
            await repo.update(command.order_id, state=o.CANCELLED, lease_until=0)
        return False
    await repo.update(
        command.order_id,
        state=o.SENDING,
        attempts=order["attempts"] + 1,
        cost_total=command.cost_total,
        sale_total=command.sale_total,
    )
    return True


async def order_outcome(command: c.OrderOutcome, uow: UnitOfWork) -> None:
    repo = uow.repository(OrderRepository)
    order = await repo.get(command.order_id, lock=True)
    if order is None:
        raise NotFound(f"no supplier order {command.order_id}")
    state = command.state or order["state"]
    values = dict(command.values)
    if state == o.SENT and order["cancel_requested"]:
        state = o.CANCEL_MANUAL
        values.update(
            error_code="no_cancel_endpoint",
            error={
                "message": "cancelled on Allegro while being sent; BigBuy offers no cancel"
                " call: cancel it in BigBuy's control panel"
            },
        )
    elif state in o.RESENDABLE and order["cancel_requested"]:
        state = o.CANCELLED
    await repo.update(command.order_id, state=state, lease_until=0, **values)
    if command.stock_corrections:
        # What BigBuy said at the order goes upstream at once, not with the next refresh.
        at = datetime.fromtimestamp(command.now, UTC)
        await uow.emit(
            SupplierProductsChanged(
                products=[
                    SupplierProduct(sku=sku, updated_at=at, stock=units)
                    for sku, units in sorted(command.stock_corrections.items())
                ]
            )
        )
        catalogue = uow.repository(CatalogueRepository)
        stored = await catalogue.products(list(command.stock_corrections))
        await catalogue.save_products(
            [
                {**row, "sku": sku, "record": {**row["record"], "stock": units}}
                for sku, units in command.stock_corrections.items()
                if (row := stored.get(sku)) is not None
            ]
        )


async def release_waiting(command: c.ReleaseWaiting, uow: UnitOfWork) -> list[str]:
    """Oldest first, as many waiting orders as the balance covers."""
    repo = uow.repository(OrderRepository)
    left = command.balance
    released = []
    for order in await repo.waiting_wallet():
        cost = Decimal(order["cost_total"] or 0)
        if cost > left:
            break  # keep the order of arrival: a younger order never overtakes
        left -= cost
        released.append(order["order_id"])
    if released:
        await repo.release(released, command.now)
    return released


async def sent_orders(query: c.SentOrders, uow: UnitOfWork) -> list[dict[str, Any]]:
    return await uow.repository(OrderRepository).sent(query.limit)


async def shipped(command: c.Shipped, uow: UnitOfWork) -> bool:
    """Tracking read: hand it upstream for the orders service to write back to Allegro."""
    repo = uow.repository(OrderRepository)
    order = await repo.get(command.order_id, lock=True)
    if order is None or order["tracking_number"] is not None:
        return False
    await repo.update(
        command.order_id,
        state=o.SHIPPED if order["state"] == o.SENT else order["state"],
        carrier=command.carrier_name,
        tracking_number=command.tracking_number,
        bigbuy_status=command.bigbuy_status,
    )
    lines = [
        {
            "line_item_id": line.get("line_item_id"),
            "sku": line.get("sku"),
            "quantity": line.get("quantity"),
        }
        for line in order["order"].get("lines") or []
    ]
    await uow.emit(
        SupplierShipmentSent(
            account_id=order["account_id"],
            order_id=order["order_id"],
            carrier_id=command.carrier_id,
            carrier_name=command.carrier_name,
            tracking_number=command.tracking_number,
            lines=lines,
        )
    )
    return True


async def status_seen(command: c.StatusSeen, uow: UnitOfWork) -> None:
    """BigBuy's status of an order; one the operator cancelled there is settled."""
    repo = uow.repository(OrderRepository)
    order = await repo.get(command.order_id, lock=True)
    if order is None:
        return
    values: dict[str, Any] = {"bigbuy_status": command.bigbuy_status}
    if order["state"] == o.CANCEL_MANUAL and command.bigbuy_status in o.BIGBUY_CANCELLED:
        values.update(state=o.CANCELLED, error_code=None, error=None)
    await repo.update(command.order_id, **values)


# --- orders: operator ------------------------------------------------------------------------


def _encode(created_at: datetime, order_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{order_id}".encode()).decode()


def _decode(cursor: str) -> tuple[str, str]:
    try:
        at, order_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        datetime.fromisoformat(at)
    except ValueError:
        raise Invalid("the cursor cannot be read", code="invalid_cursor") from None
    return at, order_id


def _shape(order: dict[str, Any]) -> dict[str, Any]:
    data = order["order"]
    return {
        "order_id": order["order_id"],
        "account_id": order["account_id"],
        "state": order["state"],
        "bigbuy_order_id": order["bigbuy_order_id"],
        "bigbuy_status": order["bigbuy_status"],
        "cost_total": None if order["cost_total"] is None else str(order["cost_total"]),
        "sale_total": None if order["sale_total"] is None else str(order["sale_total"]),
        "error_code": order["error_code"],
        "error": order["error"],
        "attempts": order["attempts"],
        "carrier": order["carrier"],
        "tracking_number": order["tracking_number"],
        "cancel_requested": order["cancel_requested"],
        "accept_loss": order["accept_loss"],
        "shipping_address": {**o.shipping_address(data), **(order["address_override"] or {})},
        "lines": data.get("lines") or [],
        "total": data.get("total"),
        "created_at": order["created_at"],
        "updated_at": order["updated_at"],
    }


async def list_orders(query: c.ListOrders, uow: UnitOfWork) -> Page[dict[str, Any]]:
    if query.state is not None and query.state not in o.STATES:
        raise Invalid(
            f"unknown state {query.state!r}",
            code="invalid_state",
            details=[{"allowed": list(o.STATES)}],
        )
    after = None if query.page.after is None else _decode(query.page.after)
    found = await uow.repository(OrderRepository).by_state(query.state, query.page.fetch, after)
    page = page_of(found, query.page, lambda r: _encode(r["created_at"], r["order_id"]))
    return Page[dict[str, Any]](items=[_shape(r) for r in page.items], next=page.next)


async def get_order(query: c.GetOrder, uow: UnitOfWork) -> dict[str, Any]:
    order = await uow.repository(OrderRepository).get(query.order_id)
    if order is None:
        raise NotFound(f"no supplier order {query.order_id}", code="order_not_found")
    return _shape(order)


async def resend(command: c.Resend, uow: UnitOfWork) -> dict[str, Any]:
    """Send again an order BigBuy refused (or we held back), after the operator fixed it."""
    repo = uow.repository(OrderRepository)
    order = await repo.get(command.order_id, lock=True)
    if order is None:
        raise NotFound(f"no supplier order {command.order_id}", code="order_not_found")
    if order["state"] not in o.RESENDABLE:
        raise Conflict(
            f"order {command.order_id} is {order['state']}: only a refused order is resent",
            code="not_resendable",
        )
    values: dict[str, Any] = {
        "state": o.NEW,
        "due_at": command.now,
        "error_code": None,
        "error": None,
    }
    if command.address is not None:
        override = {**(order["address_override"] or {}), **command.address}
        address = {**o.shipping_address(order["order"]), **override}
        problems = o.corrected_address_problems(address)
        if problems:
            raise Invalid(
                "BigBuy would refuse this address", code="invalid_address", details=problems
            )
        values["address_override"] = override
    if command.accept_loss:
        values["accept_loss"] = True
    await repo.update(command.order_id, **values)
    return _shape({**order, **values})


async def wallet_summary(query: c.WalletSummary, uow: UnitOfWork) -> dict[str, Any]:
    totals = await uow.repository(OrderRepository).totals_by_state()
    waiting = totals.get(o.WAITING_WALLET, {"orders": 0, "cost_total": Decimal(0)})
    return {
        "balance": None if query.balance is None else str(query.balance),
        "currency": "EUR",
        "waiting_orders": waiting["orders"],
        "waiting_total": str(waiting["cost_total"]),
        "shortfall": None
        if query.balance is None
        else str(max(Decimal(0), waiting["cost_total"] - query.balance)),
        "by_state": {
            k: {"orders": v["orders"], "cost_total": str(v["cost_total"])}
            for k, v in sorted(totals.items())
        },
    }


ORDER_HANDLERS: dict[type[Event], Handler] = {
    OrderReceived: order_received,
    OrderCancelled: order_cancelled,
}
