"""Orders out, tracking back (a background loop of the worker role).

Sending one order: claim it (`FOR UPDATE SKIP LOCKED` plus a lease), check it at BigBuy
(`order/check`: the cost), refuse a loss, commit the state `sending`, then create it with
`internalReference` = the Allegro order id, and commit the outcome. An order found in `sending`
(a timeout, a crash between create and commit, a lease that ran out) is first looked up by its
reference: if BigBuy has it, it is recorded as sent and never created again.

Refusals become states the operator acts on (domain/orders.py): out of stock (the SKUs' stock,
read again, goes upstream at once), wallet too low (released by `wallet_step` once the balance
covers it), bad address (fixed and resent by the operator), carrier unavailable.

Tracking: sent orders are asked for in batches (`tracking/orders`); a tracking number goes
upstream as `SupplierShipmentSent`, for the orders service to write back to Allegro.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from bigbuy_connector import handlers, metrics
from bigbuy_connector.client import BigBuyError, NotFoundError, Throttled
from bigbuy_connector.deps import BigBuyDeps
from bigbuy_connector.domain import catalogue as cat
from bigbuy_connector.domain import commands as c
from bigbuy_connector.domain import orders as o
from bigbuy_connector.scheduler import pause
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)


@dataclass
class LoopState:
    next_wallet_at: float = 0.0
    next_tracking_at: float = 0.0
    tracking_carriers: dict[str, str] = field(default_factory=dict)


async def send_orders(runtime: ServiceRuntime) -> None:
    deps = runtime.dependencies
    assert isinstance(deps, BigBuyDeps)
    if not deps.settings.orders_enabled:
        return
    state = LoopState()
    while not runtime.stopping.is_set():
        try:
            worked = await send_step(deps)
            worked = await wallet_step(deps, state) or worked
            worked = await tracking_step(deps, state) or worked
        except Exception:  # a database hiccup must not end the loop
            log.exception("order step failed")
            worked = False
        if not worked:
            await pause(runtime, deps, deps.settings.order_poll_interval_seconds)


async def send_step(deps: BigBuyDeps) -> bool:
    """Send (or settle) one due order; False when none was due."""
    settings = deps.settings
    now = deps.clock.now()
    order = await deps.units.handle(
        handlers.claim_order, c.ClaimOrder(now, settings.order_lease_seconds)
    )
    if order is None:
        return False
    try:
        outcome = await send(deps, order)
    except (Throttled, BigBuyError) as exc:
        # Unknown outcome or BigBuy unavailable: the state stays as committed (`sending` once
        # the create may have gone out), tried again later (a `sending` order is looked up
        # first).
        log.warning("order %s: %s", order["order_id"], exc)
        outcome = c.OrderOutcome(
            order["order_id"],
            None,
            {
                "due_at": deps.clock.now() + settings.order_retry_seconds,
                "error_code": getattr(exc, "code", "throttled"),
                "error": {"message": str(exc)},
            },
        )
    if outcome is not None:
        await deps.units.handle(handlers.order_outcome, outcome)
        metrics.orders.labels(outcome.state or "retry").inc()
    return True


async def send(deps: BigBuyDeps, order: dict[str, Any]) -> c.OrderOutcome | None:
    settings = deps.settings
    order_id = order["order_id"]
    if order["state"] == o.SENDING or order["attempts"] > 0:
        # A create may have reached BigBuy (a `sending` order), or one was tried before the
        # operator resent it: BigBuy is asked for the reference first, never given it twice.
        found = await _by_reference(deps, order_id)
        if found is not None:
            return c.OrderOutcome(order_id, o.SENT, _sent(found))
    built = o.order_body(
        order["order"],
        order["address_override"],
        language=settings.order_language,
        payment_method=settings.payment_method,
        carriers=settings.carriers,
    )
    if built.problems:
        state = (
            o.BAD_ADDRESS
            if any(p["field"].startswith("shippingAddress") for p in built.problems)
            else o.UNKNOWN_PRODUCT
        )
        return c.OrderOutcome(
            order_id, state, {"error_code": "incomplete", "error": {"details": built.problems}}
        )
    try:
        check = await deps.client.post("order/check.json", built.body, max_wait=30)
    except BigBuyError as exc:
        if exc.transient:
            raise
        return await _refused(deps, order_id, exc)
    cost = _decimal((check.body or {}).get("total"))
    if cost is None:
        raise BigBuyError(check.status, "soft", "order/check answered no total")
    sale = o.sale_in_eur(order["order"], settings.eur_rates)
    if o.is_loss(cost, sale) and not order["accept_loss"]:
        return c.OrderOutcome(
            order_id,
            o.LOSS,
            {
                "cost_total": cost,
                "sale_total": sale,
                "error_code": "loss",
                "error": {
                    "message": "BigBuy's cost exceeds what the sale brings",
                    "cost_eur": str(cost),
                    "sale_eur": None if sale is None else str(sale),
                },
            },
        )
    if not await deps.units.handle(handlers.mark_sending, c.MarkSending(order_id, cost, sale)):
        return None  # cancelled meanwhile: never sent
    try:
        created = await deps.client.post("order/create.json", built.body, max_wait=30)
    except BigBuyError as exc:
        if exc.code == "ER008":  # BigBuy already has this reference
            found = exc.data.get("orderId") if isinstance(exc.data, dict) else None
            return c.OrderOutcome(order_id, o.SENT, {"bigbuy_order_id": str(found or "")})
        if exc.transient:
            raise  # stays `sending`: looked up by reference before the next try
        return await _refused(deps, order_id, exc)
    bigbuy_id = o.order_id_from(created.headers.get("location"), created.body)
    if bigbuy_id is None:  # created, but the id is not in the answer: ask by reference
        found = await _by_reference(deps, order_id)
        bigbuy_id = None if found is None else str(found.get("id"))
    return c.OrderOutcome(
        order_id, o.SENT, {"bigbuy_order_id": bigbuy_id, "error_code": None, "error": None}
    )


def _sent(found: dict[str, Any]) -> dict[str, Any]:
    return {"bigbuy_order_id": str(found.get("id")), "error_code": None, "error": None}


async def _by_reference(deps: BigBuyDeps, order_id: str) -> dict[str, Any] | None:
    try:
        found = await deps.client.get(f"order/reference/{order_id}.json", max_wait=30)
    except NotFoundError:
        return None
    if not isinstance(found, dict) or not found.get("id"):
        raise BigBuyError(200, "soft", "order/reference answered no id")
    return found


async def _refused(deps: BigBuyDeps, order_id: str, exc: BigBuyError) -> c.OrderOutcome:
    state = o.state_for_error(exc.code, exc.fields)
    values: dict[str, Any] = {
        "error_code": exc.code,
        "error": {"message": exc.message, "data": exc.data, "fields": exc.fields},
    }
    corrections: dict[str, int] = {}
    if state == o.OUT_OF_STOCK:
        for sku in o.skus_of(exc.data):
            corrections[sku] = await _stock_now(deps, sku)
    if state == o.WAITING_WALLET and isinstance(exc.data, dict):
        total = _decimal(exc.data.get("totalOrder"))
        if total is not None:
            values["cost_total"] = total
    return c.OrderOutcome(order_id, state, values, corrections, deps.clock.now())


async def _stock_now(deps: BigBuyDeps, sku: str) -> int:
    """The SKU's available stock read again from BigBuy; 0 when it cannot be read now (BigBuy
    just said there is not enough)."""
    ids = await deps.units.read(handlers.product_id_of, c.ProductIdOf(sku))
    if ids is None:
        return 0
    product_id, variation_id = ids
    path = (
        f"catalog/productvariationsstockbyhandlingdays/{variation_id}.json"
        if variation_id
        else f"catalog/productstockbyhandlingdays/{product_id}.json"
    )
    try:
        body = await deps.client.get(path, max_wait=6)
    except (BigBuyError, Throttled):
        return 0
    rows = body[0] if isinstance(body, list) and body else body
    stocks = rows.get("stocks") if isinstance(rows, dict) else None
    return cat.available(stocks or [], deps.settings.max_handling_days)[0]


async def wallet_step(deps: BigBuyDeps, state: LoopState) -> bool:
    """Orders waiting for the wallet go out, oldest first, once the balance covers them."""
    now = deps.clock.now()
    if now < state.next_wallet_at:
        return False
    state.next_wallet_at = now + deps.settings.wallet_poll_interval_seconds
    waiting = await deps.units.read(handlers.wallet_summary, c.WalletSummary(None))
    metrics.waiting_wallet.set(waiting["waiting_orders"])
    if not waiting["waiting_orders"]:
        return False
    balance = await wallet_balance(deps)
    if balance is None:
        return False
    released = await deps.units.handle(handlers.release_waiting, c.ReleaseWaiting(balance, now))
    return bool(released)


async def wallet_balance(deps: BigBuyDeps) -> Decimal | None:
    try:
        body = await deps.client.get("user/purse.json", max_wait=5)
    except (BigBuyError, Throttled) as exc:
        log.warning("wallet balance unreadable: %s", exc)
        return None
    balance = _decimal(body)
    if balance is not None:
        metrics.wallet_balance.labels("EUR").set(float(balance))
    return balance


async def tracking_step(deps: BigBuyDeps, state: LoopState, *, force: bool = False) -> bool:
    """Tracking of sent orders: each number found goes upstream once."""
    settings = deps.settings
    now = deps.clock.now()
    if now < state.next_tracking_at and not force:
        return False
    state.next_tracking_at = now + settings.tracking_poll_interval_seconds
    sent = await deps.units.read(handlers.sent_orders, c.SentOrders(settings.tracking_batch_size))
    if not sent:
        return False
    by_bigbuy = {str(s["bigbuy_order_id"]): s for s in sent}
    try:
        answer = await deps.client.post(
            "tracking/orders.json",
            {"track": {"orders": [{"id": int(i)} for i in by_bigbuy if i.isdigit()]}},
            max_wait=5,
        )
        if not state.tracking_carriers:
            carriers = await deps.client.get("tracking/carriers.json", max_wait=5)
            state.tracking_carriers = {
                str(x.get("id")): str(x.get("name")) for x in carriers or [] if isinstance(x, dict)
            }
    except (BigBuyError, Throttled) as exc:
        log.warning("tracking unreadable: %s", exc)
        return False
    found = 0
    # Orders cancelled on Allegro after BigBuy took them: has the operator cancelled them there?
    for manual in [s for s in sent if s["state"] == o.CANCEL_MANUAL][:5]:
        try:
            read = await deps.client.get(f"order/{manual['bigbuy_order_id']}.json", max_wait=2)
        except (BigBuyError, Throttled):
            break
        if isinstance(read, dict) and read.get("status"):
            await deps.units.handle(
                handlers.status_seen, c.StatusSeen(manual["order_id"], str(read["status"]))
            )
    for entry in answer.body or []:
        order = by_bigbuy.get(str(entry.get("id")))
        trackings = entry.get("trackings") or []
        if order is None or not trackings:
            continue
        first = trackings[0]
        carrier_ref = str((first.get("carrier") or {}).get("id") or "")
        name = state.tracking_carriers.get(carrier_ref, carrier_ref)
        allegro_id = settings.carrier_map.get(name.lower(), "OTHER")
        found += await deps.units.handle(
            handlers.shipped,
            c.Shipped(
                order["order_id"],
                allegro_id,
                name,
                str(first.get("trackingNumber")),
                first.get("statusDescription"),
            ),
        )
    return found > 0


def _decimal(value: Any) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None
