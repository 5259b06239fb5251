"""Admin endpoints under `/__admin` (not part of BigBuy's API): stock, prices, the wallet, the
clock, forced errors, settings, orders and counters. Bodies are plain JSON; no key needed."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from bigbuy_emulator import seed
from bigbuy_emulator.errors import ORDER_ERRORS, BigBuyError, order_error
from bigbuy_emulator.orders import order_json
from bigbuy_emulator.state import ORDER_STATUSES, Emulator, ForcedError, Item, Json, cents
from bigbuy_emulator.web import emulator, json_response

router = APIRouter()

# Settings fixed at start: the routes are mounted under these.
FIXED_SETTINGS = {"host", "port", "rest_prefix", "admin_prefix"}
PRICE_FIELDS = ("wholesalePrice", "retailPrice", "inShopsPrice")


def _fail(status: int, message: str) -> BigBuyError:
    return BigBuyError(status, {"code": status, "message": message})


async def _body(request: Request) -> Json:
    raw = await request.body()
    try:
        data = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise _fail(400, "Body must be JSON") from None
    if not isinstance(data, dict):
        raise _fail(400, "Body must be a JSON object")
    return data


def _money(value: Any, name: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise _fail(400, f"{name} must be a decimal amount") from None
    if not amount.is_finite() or amount < 0:
        raise _fail(400, f"{name} must not be negative")
    return cents(amount)


def _item(emu: Emulator, ref: str) -> Item:
    """A product or variation by numeric id or by SKU."""
    item = emu.item_by_id(int(ref)) if ref.isdigit() else emu.item_by_sku(ref)
    if item is None:
        raise _fail(404, f"No product or variation {ref}")
    return item


def item_state(emu: Emulator, item: Item) -> Json:
    record = emu.record(item)
    return {
        "id": item.id,
        "sku": emu.sku(item),
        "kind": "product" if item.k is None else "variation",
        "product": seed.PRODUCT_ID_BASE + item.row,
        "variations": [
            seed.variation_id(item.row, k) for k in range(seed.variation_count(item.row))
        ]
        if item.k is None
        else [],
        "active": emu.product(item.row)["active"],
        "warehouse": emu.warehouse(item),
        "available": emu.available(item),
        "stocks": emu.stock_record(item)["stocks"],
        **{name: record[name] for name in PRICE_FIELDS},
    }


@router.post("/reset")
async def reset(request: Request) -> Response:
    emu = emulator(request)
    emu.reset()
    emu.clock_offset = 0.0
    return json_response({"reset": True})


@router.get("/config")
async def get_config(request: Request) -> Response:
    return json_response(emulator(request).config.public())


@router.put("/config")
async def put_config(request: Request) -> Response:
    emu = emulator(request)
    changes = await _body(request)
    fixed = FIXED_SETTINGS & changes.keys()
    if fixed:
        raise _fail(400, f"{sorted(fixed)} are fixed at start")
    try:
        emu.config.update(changes)
    except KeyError as exc:
        raise _fail(400, f"Unknown setting {exc}") from None
    except ValidationError as exc:
        raise _fail(400, str(exc.errors()[0]["msg"])) from None
    return json_response(emu.config.public())


@router.post("/clock")
async def clock(request: Request) -> Response:
    emu = emulator(request)
    body = await _body(request)
    seconds = body.get("advanceSeconds")
    if not isinstance(seconds, int | float) or seconds < 0:
        raise _fail(400, "advanceSeconds must be a non-negative number")
    emu.clock_offset += float(seconds)
    return json_response({"now": emu.now()})


@router.get("/items/{ref}")
async def get_item(request: Request, ref: str) -> Response:
    emu = emulator(request)
    return json_response(item_state(emu, _item(emu, ref)))


@router.put("/stock/{ref}")
async def put_stock(request: Request, ref: str) -> Response:
    """`{"quantity": n}` (all in the first handling-days row) or `{"quantities": [...]}`."""
    emu = emulator(request)
    item = _item(emu, ref)
    if item.k is None and seed.variation_count(item.row):
        raise _fail(400, "A parent's stock is its variations' stock: set those")
    body = await _body(request)
    quantities = body["quantities"] if "quantities" in body else [body.get("quantity")]
    if not isinstance(quantities, list) or not all(
        isinstance(q, int) and not isinstance(q, bool) and q >= 0 for q in quantities
    ):
        raise _fail(400, "quantity must be a non-negative integer")
    emu.set_stock(item, quantities)
    return json_response(item_state(emu, item))


@router.put("/prices/{ref}")
async def put_prices(request: Request, ref: str) -> Response:
    emu = emulator(request)
    item = _item(emu, ref)
    body = await _body(request)
    changes = {name: float(_money(body[name], name)) for name in PRICE_FIELDS if name in body}
    if not changes:
        raise _fail(400, f"Give one of {', '.join(PRICE_FIELDS)}")
    emu.world.prices.setdefault(item.id, {}).update(changes)
    return json_response(item_state(emu, item))


@router.put("/products/{ref}")
async def put_product(request: Request, ref: str) -> Response:
    emu = emulator(request)
    item = _item(emu, ref)
    body = await _body(request)
    if body.get("active") not in (0, 1):
        raise _fail(400, "active must be 0 or 1")
    emu.world.active[seed.PRODUCT_ID_BASE + item.row] = int(body["active"])
    return json_response(item_state(emu, item))


@router.get("/wallet")
async def get_wallet(request: Request) -> Response:
    return json_response({"balance": f"{emulator(request).world.wallet:.2f}"})


@router.put("/wallet")
async def put_wallet(request: Request) -> Response:
    emu = emulator(request)
    body = await _body(request)
    emu.world.wallet = _money(body.get("balance"), "balance")
    return json_response({"balance": f"{emu.world.wallet:.2f}"})


@router.post("/errors")
async def force_error(request: Request) -> Response:
    """The next `count` API requests whose path contains `path` get this answer instead.

    `{"path": "order/create", "code": "ER009"}` forces an order error (409, BigBuy's body);
    `{"path", "status", "body"}` any answer (a string body is sent as plain text)."""
    emu = emulator(request)
    body = await _body(request)
    count = body.get("count", 1)
    if not isinstance(count, int) or count < 1:
        raise _fail(400, "count must be a positive integer")
    code = body.get("code")
    if isinstance(code, str) and code in ORDER_ERRORS:
        err = order_error(code, ORDER_ERRORS[code], body.get("data"), int(body.get("status", 409)))
        status, answer = err.status, err.body
    elif "status" in body:
        status, answer = int(body["status"]), body.get("body", {"code": body["status"]})
    else:
        raise _fail(400, f"Give an order code ({', '.join(ORDER_ERRORS)}) or a status")
    emu.forced.append(ForcedError(str(body.get("path", "")), status, answer, count))
    return json_response({"status": status, "body": answer, "count": count}, 201)


@router.delete("/errors")
async def clear_errors(request: Request) -> Response:
    emulator(request).forced.clear()
    return json_response({"cleared": True})


@router.get("/orders")
async def list_orders(request: Request) -> Response:
    emu = emulator(request)
    return json_response([_admin_order(emu, oid) for oid in emu.world.orders])


def _admin_order(emu: Emulator, order_id: str) -> Json:
    order = emu.world.orders.get(order_id)
    if order is None:
        raise _fail(404, f"No order {order_id}")
    return {**order_json(emu, order), "paymentMethod": order.payment_method, "paid": order.paid}


@router.get("/orders/{order_id}")
async def get_order(request: Request, order_id: str) -> Response:
    return json_response(_admin_order(emulator(request), order_id))


@router.post("/orders/{order_id}/pay")
async def pay_order(request: Request, order_id: str) -> Response:
    """A PayPal or bank-wire payment arrives: the order starts advancing from now."""
    emu = emulator(request)
    order = emu.world.orders.get(order_id)
    if order is None:
        raise _fail(404, f"No order {order_id}")
    if not order.paid:
        order.paid = True
        order.created_at = emu.now()
    return json_response(_admin_order(emu, order_id))


@router.put("/orders/{order_id}/status")
async def put_status(request: Request, order_id: str) -> Response:
    """Pin a status (e.g. Cancelled); `{"status": null}` lets it follow the clock again."""
    emu = emulator(request)
    order = emu.world.orders.get(order_id)
    if order is None:
        raise _fail(404, f"No order {order_id}")
    status = (await _body(request)).get("status")
    if status is not None and status not in {name for _, name in ORDER_STATUSES}:
        raise _fail(400, f"Unknown status {status!r}")
    order.status_override = status
    return json_response(_admin_order(emu, order_id))


@router.get("/counters")
async def counters(request: Request) -> Response:
    emu = emulator(request)
    by_endpoint: dict[str, dict[str, int]] = {}
    for (key, status), count in sorted(emu.counters.items()):
        by_endpoint.setdefault(key, {})[str(status)] = count
    return json_response({"requests": by_endpoint, "rateLimited": emu.limiter.rejected})


@router.delete("/counters")
async def clear_counters(request: Request) -> Response:
    emu = emulator(request)
    emu.counters.clear()
    emu.limiter.rejected = 0
    return json_response({"cleared": True})


@router.delete("/rate-limits")
async def clear_rate_limits(request: Request) -> Response:
    """Forget every open window (as if an hour had passed for every endpoint)."""
    emulator(request).limiter.reset()
    return json_response({"cleared": True})
