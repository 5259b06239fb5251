"""`/rest/order/...`, `/rest/shipping/...`, `/rest/tracking/...` and `/rest/user/...`: checking
and placing orders paid from the wallet, their statuses over time, tracking and carriers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from bigbuy_emulator import seed
from bigbuy_emulator.errors import (
    BigBuyError,
    bad_request,
    error,
    not_found,
    order_error,
    validation_error,
)
from bigbuy_emulator.state import (
    ORDER_STATUSES,
    SHIPPED,
    Emulator,
    Item,
    Json,
    Order,
    bigbuy_date,
    cents,
)
from bigbuy_emulator.web import emulator, json_body, json_response

router = APIRouter()

PAYMENT_METHODS = ("moneybox", "paypal", "bankwire")
MAX_ADDRESS = 70
_EU = [
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "HU",
    "IE",
    "IT",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
]


@dataclass(frozen=True)
class Carrier:
    id: str
    name: str
    service_id: str
    service: str
    delay: str
    countries: tuple[str, ...]
    factor: Decimal  # on the weight-band price
    tracking_id: str


CARRIERS = [
    Carrier("1", "GLS", "12", "GLS Standard", "3-5 days", tuple(_EU), Decimal("1.00"), "7"),
    Carrier("2", "DHL", "21", "DHL Parcel", "2-4 days", tuple(_EU), Decimal("1.15"), "8"),
    Carrier("3", "UPS", "31", "UPS Standard", "2-3 days", tuple(_EU), Decimal("1.30"), "9"),
    Carrier("4", "TNT", "41", "TNT Express", "1-3 days", tuple(_EU), Decimal("1.45"), "10"),
    Carrier("5", "SEUR", "51", "SEUR 24", "1-2 days", ("ES", "PT"), Decimal("0.80"), "11"),
    Carrier("6", "Correos", "61", "Correos Paq", "2-4 days", ("ES",), Decimal("0.70"), "12"),
]
# One parcel per order, priced by its total weight (kg): (up to, EUR ex-VAT).
WEIGHT_BANDS = [(2, "8.58"), (5, "13.81"), (10, "19.90"), (20, "29.50"), (31.5, "41.20")]
PER_KG_ABOVE = Decimal("1.60")

# Postcode format per country and the example ER004 returns; others need any value.
POSTCODES: dict[str, tuple[str, str]] = {
    "PL": (r"\d{2}-\d{3}", "00-001"),
    "CZ": (r"\d{3} ?\d{2}", "110 00"),
    "SK": (r"\d{3} ?\d{2}", "811 01"),
    "HU": (r"\d{4}", "1011"),
    "ES": (r"\d{5}", "28001"),
    "DE": (r"\d{5}", "10115"),
    "FR": (r"\d{5}", "75001"),
    "IT": (r"\d{5}", "00118"),
    "PT": (r"\d{4}-\d{3}", "1000-001"),
    "NL": (r"\d{4} ?[A-Z]{2}", "1011 AB"),
    "AT": (r"\d{4}", "1010"),
}
REQUIRED_ADDRESS = (
    "firstName",
    "lastName",
    "country",
    "postcode",
    "town",
    "address",
    "phone",
    "email",
)
BLANK = "This value should not be blank."


# --- the order body -------------------------------------------------------------------------
@dataclass
class Line:
    reference: str
    quantity: int
    item: Item


@dataclass
class Group:
    """The lines shipped from one warehouse, with what they cost."""

    warehouse: int
    lines: list[Line]
    products_total: Decimal
    shipping: Decimal
    carrier: Carrier

    def totals(self, vat: int) -> Json:
        without = self.products_total + self.shipping
        return {
            "totalWithoutTaxesAndWithoutShippingCost": float(self.products_total),
            "totalWithoutTaxes": float(without),
            "total": float(cents(without * (100 + vat) / 100)),
        }


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _validate(body: Any, *, create: bool) -> Json:
    """The form checks: 400 with the Symfony-style tree, every problem at once."""
    if not isinstance(body, dict) or not isinstance(body.get("order"), dict):
        raise validation_error({"order": BLANK})
    order: Json = body["order"]
    problems: dict[str, str] = {}
    if create and not _text(order.get("internalReference")):
        problems["internalReference"] = BLANK
    if not re.fullmatch(r"[a-z]{2}", _text(order.get("language"))):
        problems["language"] = "This value is not valid."
    if not _text(order.get("paymentMethod")):
        problems["paymentMethod"] = BLANK
    carriers = order.get("carriers")
    if (
        not isinstance(carriers, list)
        or not carriers
        or not all(isinstance(c, dict) and (c.get("name") or c.get("id")) for c in carriers)
    ):
        problems["carriers"] = BLANK
    address = order.get("shippingAddress")
    if not isinstance(address, dict):
        problems["shippingAddress"] = BLANK
    else:
        for name in REQUIRED_ADDRESS:
            if not _text(address.get(name)):
                problems[f"shippingAddress.{name}"] = BLANK
        if len(_text(address.get("address"))) > MAX_ADDRESS:
            problems["shippingAddress.address"] = (
                f"This value is too long. It should have {MAX_ADDRESS} characters or less."
            )
        country = _text(address.get("country"))
        if country and not re.fullmatch(r"[A-Z]{2}", country):
            problems["shippingAddress.country"] = "This value is not valid."
        email = _text(address.get("email"))
        if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            problems["shippingAddress.email"] = "This value is not a valid email address."
    products = order.get("products")
    if not isinstance(products, list) or not products:
        problems["products"] = BLANK
    else:
        for i, line in enumerate(products):
            if not isinstance(line, dict) or not isinstance(line.get("reference"), str):
                problems[f"products.{i}.reference"] = BLANK
            quantity = line.get("quantity") if isinstance(line, dict) else None
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                problems[f"products.{i}.quantity"] = "This value should be 1 or more."
    if problems:
        raise validation_error(problems)
    return order


def _lines(emu: Emulator, order: Json) -> list[Line]:
    """Resolve the references: ER002 for malformed ones, ER001 for unknown, 409 for inactive,
    ER003 for too little stock."""
    incorrect: list[str] = []
    unknown: list[str] = []
    lines: list[Line] = []
    for entry in order["products"]:
        reference = entry["reference"].strip()
        item = emu.item_by_sku(reference)
        if item is None:
            shaped = re.fullmatch(r"[A-Z]\d{7}(-[A-Z]{1,3})?", reference)
            (unknown if shaped else incorrect).append(reference)
        elif item.k is None and seed.variation_count(item.row):
            incorrect.append(reference)  # a parent is not sold: its variations are
        else:
            lines.append(Line(reference, entry["quantity"], item))
    if incorrect:
        raise order_error("ER002", "Incorrect product reference.", {"skus": incorrect})
    if unknown:
        raise order_error("ER001", "Product not found.", {"skus": unknown})
    inactive = [
        {"sku": line.reference, "message": "Inactive product."}
        for line in lines
        if not emu.product(line.item.row)["active"]
    ]
    if inactive:
        message = {"info": "Products error.", "data": inactive}
        raise BigBuyError(409, {"code": 409, "message": _dumps(message)})
    wanted: dict[int, int] = {}
    for line in lines:
        wanted[line.item.id] = wanted.get(line.item.id, 0) + line.quantity
    short = sorted(
        {line.reference for line in lines if wanted[line.item.id] > emu.available(line.item)}
    )
    if short:
        raise order_error("ER003", "Product out of stock.", {"skus": short})
    return lines


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _postcode(order: Json) -> None:
    address = order["shippingAddress"]
    rule = POSTCODES.get(address["country"].strip())
    if rule and not re.fullmatch(rule[0], address["postcode"].strip()):
        raise order_error("ER004", "Incorrect postcode format.", {"zipExample": rule[1]})


def shipping_cost(weight: Decimal, carrier: Carrier) -> Decimal:
    for limit, price in WEIGHT_BANDS:
        if weight <= Decimal(str(limit)):
            return cents(Decimal(price) * carrier.factor)
    extra = (weight - Decimal(str(WEIGHT_BANDS[-1][0]))) * PER_KG_ABOVE
    return cents((Decimal(WEIGHT_BANDS[-1][1]) + extra) * carrier.factor)


def _weight(emu: Emulator, lines: list[Line]) -> Decimal:
    total = Decimal(0)
    for line in lines:
        record = emu.record(line.item)
        weight = record["weight"] if line.item.k is None else record["extraWeight"]
        total += Decimal(str(weight)) * line.quantity
    return total


def _carrier(wanted: list[Json], country: str, weight: Decimal) -> Carrier:
    """The cheapest of the listed carriers serving the country (ER010 if none)."""
    names = {str(c.get("name") or "").strip().lower() for c in wanted} | {
        str(c.get("id") or "").strip() for c in wanted
    }
    usable = [
        c
        for c in CARRIERS
        if country in c.countries and ({c.name.lower(), c.service.lower(), c.id} & names)
    ]
    if not usable:
        raise order_error("ER010", "No carrier available for this order.")
    return min(usable, key=lambda c: shipping_cost(weight, c))


def _groups(emu: Emulator, order: Json, lines: list[Line], *, split: bool) -> list[Group]:
    """The basket per warehouse; without `split` (the single-order routes) a basket from two
    warehouses is a 409 naming them, before carriers and payment are looked at."""
    by_warehouse: dict[int, list[Line]] = {}
    for line in lines:
        by_warehouse.setdefault(emu.warehouse(line.item), []).append(line)
    if not split and len(by_warehouse) > 1:
        raise _warehouse_conflict(by_warehouse)
    country = order["shippingAddress"]["country"].strip()
    groups = []
    for warehouse, group_lines in sorted(by_warehouse.items()):
        weight = _weight(emu, group_lines)
        carrier = _carrier(order["carriers"], country, weight)
        products_total = sum(
            (
                Decimal(str(emu.record(line.item)["wholesalePrice"])) * line.quantity
                for line in group_lines
            ),
            Decimal(0),
        )
        groups.append(
            Group(
                warehouse,
                group_lines,
                cents(products_total),
                shipping_cost(weight, carrier),
                carrier,
            )
        )
    return groups


def _warehouse_conflict(by_warehouse: dict[int, list[Line]]) -> BigBuyError:
    return error(
        409,
        "This cart contains products from different warehouses. "
        "Please split it by warehouse (multishipping).",
        error_detail={
            "warehouses": [
                {"id": warehouse, "references": [line.reference for line in lines]}
                for warehouse, lines in sorted(by_warehouse.items())
            ]
        },
    )


def _payment(emu: Emulator, order: Json, groups: list[Group]) -> None:
    """ER011 unknown method, ER007 minimum purchase, ER012 bank wire minimum, ER005 wallet."""
    method = order["paymentMethod"].strip()
    if method not in PAYMENT_METHODS:
        raise order_error("ER011", "Invalid payment method.")
    vat = emu.config.vat_rate
    products_total = sum((g.products_total for g in groups), Decimal(0))
    total = sum((Decimal(str(g.totals(vat)["total"])) for g in groups), Decimal(0))
    minimum = Decimal(emu.config.minimum_purchase)
    if products_total < minimum:
        raise order_error(
            "ER007",
            "The order does not reach the minimum purchase.",
            {"minimunPurchase": float(minimum), "totalOrder": float(products_total)},
        )
    if method == "bankwire" and total < Decimal(emu.config.minimum_bankwire):
        raise order_error(
            "ER012",
            "The order does not reach the minimum amount for a bank wire.",
            {"minBankwire": float(Decimal(emu.config.minimum_bankwire))},
        )
    if method == "moneybox" and emu.world.wallet < total:
        raise order_error(
            "ER005",
            "Moneybox balance too low.",
            {"moneyBoxAmount": float(emu.world.wallet), "totalOrder": float(total)},
        )


def _evaluate(
    emu: Emulator, body: Any, *, create: bool, split: bool = False
) -> tuple[Json, list[Group]]:
    order = _validate(body, create=create)
    if create:
        existing = emu.world.orders_by_reference.get(order["internalReference"].strip())
        if existing:
            raise order_error("ER008", "The order already exists.", {"orderId": existing[0]})
    _postcode(order)
    lines = _lines(emu, order)
    groups = _groups(emu, order, lines, split=split)
    _payment(emu, order, groups)
    return order, groups


def _place(emu: Emulator, order: Json, group: Group) -> Order:
    method = order["paymentMethod"].strip()
    vat = emu.config.vat_rate
    products = []
    for line in group.lines:
        record = emu.record(line.item)
        price = Decimal(str(record["wholesalePrice"]))
        name = seed.information(emu.spec, line.item.row, "en")["name"]
        products.append(
            {
                "id": str(line.item.id),
                "reference": line.reference,
                "quantity": line.quantity,
                "name": name,
                "priceTaxExcl": float(price),
                "priceTaxIncl": float(cents(price * (100 + vat) / 100)),
            }
        )
        emu.take_stock(line.item, line.quantity)
    placed = Order(
        id=emu.new_order_id(),
        internal_reference=order["internalReference"].strip(),
        created_at=emu.now(),
        payment_method=method,
        paid=method == "moneybox",
        carrier={
            "id": group.carrier.id,
            "name": group.carrier.name,
            "price": float(group.shipping),
        },
        shipping_address={
            k: "" if v is None else str(v) for k, v in order["shippingAddress"].items()
        },
        products=products,
        warehouse=group.warehouse,
        total_products=group.products_total,
        shipping=group.shipping,
        vat_rate=vat,
        language=order["language"],
    )
    if placed.paid:
        emu.world.wallet -= placed.total_tax_incl
    emu.world.orders[placed.id] = placed
    emu.world.orders_by_reference.setdefault(placed.internal_reference, []).append(placed.id)
    return placed


def order_json(emu: Emulator, order: Order) -> Json:
    vat = order.vat_rate
    return {
        "id": order.id,
        "internalReference": order.internal_reference,
        "dateAdd": bigbuy_date(order.created_at),
        "totalPaidTaxIncl": float(order.total_tax_incl),
        "totalPaidTaxExcl": float(order.total_tax_excl),
        "totalShippingTaxExcl": float(order.shipping),
        "totalShippingTaxIncl": float(cents(order.shipping * (100 + vat) / 100)),
        "status": emu.order_status(order),
        "carriers": [order.carrier],
        "shippingAddress": order.shipping_address,
        "products": order.products,
    }


# --- routes ---------------------------------------------------------------------------------
@router.post("/order/check.json")
async def check(request: Request) -> Response:
    emu = emulator(request)
    _, groups = _evaluate(emu, await json_body(request), create=False)
    return json_response(groups[0].totals(emu.config.vat_rate))


@router.post("/order/create.json")
async def create(request: Request) -> Response:
    emu = emulator(request)
    order, groups = _evaluate(emu, await json_body(request), create=True)
    placed = _place(emu, order, groups[0])
    prefix = emu.config.rest_prefix
    return Response(b"", 201, headers={"Location": f"{prefix}/order/{placed.id}"})


@router.post("/order/check/multishipping.json")
async def check_multishipping(request: Request) -> Response:
    emu = emulator(request)
    _, groups = _evaluate(emu, await json_body(request), create=False, split=True)
    vat = emu.config.vat_rate
    orders = [
        {
            "productReferences": [line.reference for line in g.lines],
            **g.totals(vat),
            "warehouse": g.warehouse,
        }
        for g in groups
    ]
    return json_response({"orders": orders, "errors": []})


@router.post("/order/create/multishipping.json")
async def create_multishipping(request: Request) -> Response:
    emu = emulator(request)
    order, groups = _evaluate(emu, await json_body(request), create=True, split=True)
    prefix = emu.config.rest_prefix
    placed = []
    for g in groups:
        created = _place(emu, order, g)
        placed.append(
            {
                "productReferences": [line.reference for line in g.lines],
                "id": created.id,
                "warehouse": g.warehouse,
                "url": f"{prefix}/order/{created.id}",
            }
        )
    return json_response({"orders": placed, "errors": []}, 201)


@router.get("/order/orderstatuses.json")
async def order_statuses(request: Request) -> Response:
    return json_response([{"id": sid, "name": name} for sid, name in ORDER_STATUSES])


@router.get("/order/delivery-notes/{order_id:int}.json")
async def delivery_notes(request: Request, order_id: int) -> Response:
    """One delivery note per shipped order (none before)."""
    emu = emulator(request)
    order = _order(emu, order_id)
    status = emu.order_status(order)
    if status not in SHIPPED:
        return json_response([])
    note = {
        "reference": f"DN{order.id}",
        "order": order.id,
        "status": status,
        "carrier": order.carrier["name"],
        "numberOfPackages": 1,
        "products": [
            {"reference": p["reference"], "quantity": p["quantity"]} for p in order.products
        ],
    }
    return json_response([note])


@router.get("/order/reference/{reference}.json")
async def order_by_reference(request: Request, reference: str) -> Response:
    emu = emulator(request)
    ids = emu.world.orders_by_reference.get(reference)
    if not ids:
        if emu.config.sandbox_mode:
            raise error(500, "Internal Server Error")
        raise not_found(f"No order found with refOrder: {reference}")
    order = emu.world.orders[ids[0]]
    # Both fields are strings here, unlike GET order/{id}.
    return json_response({"id": order.id, "totalPaidTaxIncl": f"{order.total_tax_incl:.2f}"})


def _order(emu: Emulator, order_id: int) -> Order:
    order = emu.world.orders.get(str(order_id))
    if order is None:
        raise not_found(f"Order {order_id} not found")
    return order


@router.get("/order/{order_id:int}.json")
async def get_order(request: Request, order_id: int) -> Response:
    emu = emulator(request)
    return json_response(order_json(emu, _order(emu, order_id)))


# --- shipping -------------------------------------------------------------------------------
@router.get("/shipping/carriers.json")
async def carriers(request: Request) -> Response:
    if emulator(request).config.sandbox_mode:
        return json_response([])
    return json_response(
        [
            {
                "id": c.id,
                "name": c.name,
                "shippingServices": [
                    {"id": c.service_id, "delay": c.delay, "name": c.service, "pod": True}
                ],
            }
            for c in CARRIERS
        ]
    )


@router.post("/shipping/orders.json")
async def shipping_quote(request: Request) -> Response:
    """A quote for a basket: one parcel per carrier service, priced by the total weight."""
    emu = emulator(request)
    body = await json_body(request)
    order = body.get("order") if isinstance(body, dict) else None
    delivery = order.get("delivery") if isinstance(order, dict) else None
    products = order.get("products") if isinstance(order, dict) else None
    if not isinstance(delivery, dict) or not isinstance(products, list) or not products:
        raise validation_error({"order": BLANK})
    country = _text(delivery.get("isoCountry"))
    lines = []
    for entry in products:
        reference = _text(entry.get("reference")) if isinstance(entry, dict) else ""
        item = emu.item_by_sku(reference)
        if item is None:
            raise bad_request(f"Product {reference} not found")
        quantity = entry.get("quantity", 1) if isinstance(entry, dict) else None
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise validation_error({"order.products.quantity": "This value should be 1 or more."})
        lines.append(Line(reference, quantity, item))
    warehouses: dict[int, list[str]] = {}
    for line in lines:
        warehouses.setdefault(emu.warehouse(line.item), []).append(line.reference)
    if len(warehouses) > 1:
        raise error(
            409,
            "This cart contains products from different warehouses. Please split it by warehouse.",
            error_detail={
                "warehouses": [{"id": w, "references": r} for w, r in sorted(warehouses.items())]
            },
        )
    weight = _weight(emu, lines)
    options = [
        {
            "shippingService": {
                "id": c.service_id,
                "name": c.name,
                "delay": c.delay,
                "transportMethod": "road",
                "serviceName": c.service,
            },
            "cost": float(shipping_cost(weight, c)),
            "weight": float(weight),
        }
        for c in CARRIERS
        if country in c.countries
    ]
    return json_response({"shippingOptions": options})


@router.get("/shipping/lowest-shipping-costs-by-country/{iso}.json")
async def lowest_shipping_costs(request: Request, iso: str) -> Response:
    """The cheapest single-unit cost of every orderable SKU to one country (`cost` a string;
    null for an inactive product)."""
    emu = emulator(request)
    serving = [c for c in CARRIERS if iso.upper() in c.countries]
    if not serving:
        return json_response([])
    spec = emu.spec
    rows = []
    for row in range(spec.size):
        active = emu.product(row)["active"]
        count = seed.variation_count(row)
        for item in [Item(row, k) for k in range(count)] if count else [Item(row, None)]:
            weight = _weight(emu, [Line("", 1, item)])
            carrier = min(serving, key=lambda c: shipping_cost(weight, c))
            rows.append(
                {
                    "reference": emu.sku(item),
                    "cost": f"{shipping_cost(weight, carrier):.2f}" if active else None,
                    "carrierId": carrier.id,
                    "carrierName": carrier.name,
                }
            )
    return json_response(rows)


# --- tracking -------------------------------------------------------------------------------
@router.get("/tracking/carriers.json")
async def tracking_carriers(request: Request) -> Response:
    return json_response([{"id": c.tracking_id, "name": c.name} for c in CARRIERS])


def tracking_json(emu: Emulator, order: Order) -> Json | None:
    """Tracking exists once the order has shipped."""
    status = emu.order_status(order)
    if status not in SHIPPED:
        return None
    carrier = next(c for c in CARRIERS if c.id == order.carrier["id"])
    shipped_at = order.created_at + emu.config.shipped_after_seconds
    trackings = [
        {
            "trackingNumber": f"{carrier.name[:2].upper()}{int(order.id):012d}",
            "statusDescription": "Delivered" if status == "Delivered" else "In transit",
            "statusDate": bigbuy_date(shipped_at),
            "carrier": {"id": carrier.tracking_id},
            "descriptionTranslated": "Delivered" if status == "Delivered" else "In transit",
        }
    ]
    return {"id": int(order.id), "reference": order.internal_reference, "trackings": trackings}


@router.get("/tracking/order/{order_id:int}.json")
async def tracking_order(request: Request, order_id: int) -> Response:
    emu = emulator(request)
    tracking = tracking_json(emu, _order(emu, order_id))
    if tracking is None:
        raise not_found(f"No tracking for order {order_id} yet")
    return json_response(tracking)


@router.post("/tracking/orders.json")
async def tracking_orders(request: Request) -> Response:
    emu = emulator(request)
    body = await json_body(request)
    track = body.get("track") if isinstance(body, dict) else None
    wanted = track.get("orders") if isinstance(track, dict) else None
    if not isinstance(wanted, list):
        raise validation_error({"track.orders": BLANK})
    found = []
    for entry in wanted:
        order = emu.world.orders.get(str(entry.get("id") if isinstance(entry, dict) else ""))
        tracking = tracking_json(emu, order) if order else None
        if tracking is not None:  # orders without tracking yet are left out
            found.append(tracking)
    return json_response(found)


# --- user -----------------------------------------------------------------------------------
@router.get("/user/auth/status.json")
async def auth_status(request: Request) -> Response:
    return Response(b"", 200)


@router.get("/user/purse.json")
async def purse(request: Request) -> Response:
    # A JSON string, not a number, as BigBuy sends it.
    return json_response(f"{emulator(request).world.wallet:.2f}")
