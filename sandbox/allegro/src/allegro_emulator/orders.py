"""Orders (allegro-api.md section 10): the event journal, checkout forms with revisions,
fulfillment status, shipments and carriers, plus the buyer simulator that creates them.

Journal quirks reproduced on purpose: `from` is exclusive, events come oldest first, only the
last 60 days are kept, and an order sometimes gets a second READY_FOR_PROCESSING event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from allegro_emulator.errors import AllegroError, not_found
from allegro_emulator.offer_lifecycle import set_stock
from allegro_emulator.seed import CARRIERS, MARKETPLACES
from allegro_emulator.state import Emulator, Json, Offer, Seller, iso, parse_iso
from allegro_emulator.web import (
    body_json,
    caller,
    no_content,
    query_int,
    query_list,
    respond,
    seller,
)

router = APIRouter()

CARRIER_IDS = {c for c, _ in CARRIERS}
FULFILLMENT_SETTABLE = (
    "NEW",
    "PROCESSING",
    "READY_FOR_SHIPMENT",
    "READY_FOR_PICKUP",
    "SENT",
    "PICKED_UP",
    "CANCELLED",
    "SUSPENDED",
)


# --- buyer simulator -----
@dataclass
class BuyerSchedule:
    orders_per_minute: float = 0.0
    seller_login: str | None = None
    carry: float = 0.0
    last: float = 0.0


# A buyer's address as the marketplace's country writes it (a CZ buyer has a Czech postcode).
BUYER_ADDRESSES: dict[str, tuple[str, str, str, str]] = {
    "PL": ("Ogrodowa 1", "Warszawa", "00-001", "+48600100200"),
    "CZ": ("Vodičkova 1", "Praha", "110 00", "+420601100200"),
    "SK": ("Obchodná 1", "Bratislava", "811 01", "+421901100200"),
    "HU": ("Váci utca 1", "Budapest", "1052", "+36301100200"),
}


def _revision(emu: Emulator) -> str:
    return f"{emu.random.getrandbits(32):08x}"


def _event(emu: Emulator, user: Seller, kind: str, form: Json) -> None:
    number = emu.new_event_number()
    user.order_events.append(
        {
            "id": str(number),
            "type": kind,
            "occurredAt": iso(emu.now()),
            "order": {
                "seller": {"id": user.id},
                "buyer": {k: form["buyer"][k] for k in ("id", "email", "login", "guest")},
                "lineItems": [
                    {
                        "id": li["id"],
                        "offer": {
                            k: v for k, v in li["offer"].items() if k in ("id", "name", "external")
                        },
                        "quantity": li["quantity"],
                        "originalPrice": li["originalPrice"],
                        "price": li["price"],
                        "boughtAt": li["boughtAt"],
                    }
                    for li in form["lineItems"]
                ],
                "checkoutForm": {"id": form["id"], "revision": form["revision"]},
                "marketplace": form["marketplace"],
            },
        }
    )


def _offer_price(offer: Offer, marketplace: str, base: str) -> Json | None:
    if marketplace == base:
        price: Json | None = offer.data["sellingMode"].get("price")
        return price
    entry = (offer.data.get("additionalMarketplaces") or {}).get(marketplace) or {}
    if (entry.get("publication") or {}).get("state") != "APPROVED":
        return None
    return (entry.get("sellingMode") or {}).get("price")


def place_order(
    emu: Emulator,
    user: Seller,
    offer: Offer,
    quantity: int = 1,
    marketplace: str | None = None,
    payment_type: str = "ONLINE",
    duplicate_ready: bool | None = None,
    filled_in_late: bool = False,
    paid: bool = True,
) -> Json:
    """A buyer buys `quantity` of an active offer and pays.

    Events: BOUGHT, FILLED_IN, READY_FOR_PROCESSING (sometimes twice)."""
    if offer.data["publication"]["status"] != "ACTIVE":
        raise AllegroError(422, "OFFER_NOT_ACTIVE", f"Offer {offer.data['id']} is not active")
    marketplace = marketplace or user.base_marketplace
    price = _offer_price(offer, marketplace, user.base_marketplace)
    if price is None:
        raise AllegroError(422, "OFFER_NOT_ACTIVE", f"Offer is not visible on {marketplace}")
    available = offer.data["stock"]["available"]
    if quantity < 1 or quantity > available:
        raise AllegroError(422, "NOT_ENOUGH_STOCK", f"Only {available} items available")
    now = emu.now()
    n = len(user.checkout_forms) + 1
    currency = MARKETPLACES[marketplace]["currency"]
    country = MARKETPLACES[marketplace]["country"]
    street, city, postcode, phone = BUYER_ADDRESSES[country]
    total = Decimal(price["amount"]) * quantity
    form: Json = {
        "id": str(uuid.uuid4()),
        "messageToSeller": "",
        "buyer": {
            "id": str(90_000_000 + n),
            "email": f"buyer{n}@allegromail.pl",
            "login": f"kupujacy{n}",
            "firstName": "Jan",
            "lastName": "Kowalski",
            "guest": False,
            "phoneNumber": phone,
            "address": {
                "street": street,
                "city": city,
                "postCode": postcode,
                "countryCode": country,
            },
        },
        "payment": {
            "id": str(uuid.uuid4()),
            "type": payment_type,
            "provider": "P24",
            "finishedAt": iso(now),
            "paidAmount": {"amount": f"{total:.2f}", "currency": currency},
        },
        "status": "BOUGHT",
        "fulfillment": {
            "status": "NEW",
            "shipmentSummary": {"lineItemsSent": "NONE"},
            "provider": {"id": "SELLER"},
        },
        "delivery": {
            "address": {
                "firstName": "Jan",
                "lastName": "Kowalski",
                "street": street,
                "city": city,
                "zipCode": postcode,
                "countryCode": country,
                "phoneNumber": phone,
            },
            "method": {"id": "7203cb90-864c-4cab-b0a6-6a9b5d9f1d9b", "name": "Allegro Kurier DPD"},
            "cost": {"amount": "0.00", "currency": currency},
            "smart": False,
            "calculatedNumberOfPackages": 1,
        },
        "invoice": {"required": False},
        "lineItems": [
            {
                "id": str(uuid.uuid4()),
                "offer": {
                    "id": offer.data["id"],
                    "name": offer.data["name"],
                    **({"external": offer.data["external"]} if offer.data.get("external") else {}),
                },
                "quantity": quantity,
                "originalPrice": dict(price),
                "price": dict(price),
                "boughtAt": iso(now),
            }
        ],
        "surcharges": [],
        "note": {"text": ""},
        "marketplace": {"id": marketplace},
        "summary": {"totalToPay": {"amount": f"{total:.2f}", "currency": currency}},
        "updatedAt": iso(now),
        "revision": _revision(emu),
    }
    user.checkout_forms[form["id"]] = form
    offer.sold[marketplace] = offer.sold.get(marketplace, 0) + quantity
    set_stock(emu, user, offer, available - quantity)  # stock is shared by all marketplaces
    _event(emu, user, "BOUGHT", form)
    form["revision"] = _revision(emu)
    if not paid:
        # Bought and filled in, not paid yet: it may later be paid together with others.
        form["status"] = "FILLED_IN"
        _event(emu, user, "FILLED_IN", form)
        return form
    if not filled_in_late:
        form["status"] = "FILLED_IN"
        _event(emu, user, "FILLED_IN", form)
    form["status"] = "READY_FOR_PROCESSING"
    form["revision"] = _revision(emu)
    _event(emu, user, "READY_FOR_PROCESSING", form)
    if filled_in_late:
        # A FILLED_IN event can arrive after READY_FOR_PROCESSING (allegro/allegro-api#2357).
        _event(emu, user, "FILLED_IN", form)
    if duplicate_ready is None:
        duplicate_ready = emu.random.random() < emu.config.duplicate_event_share
    if duplicate_ready:
        # Allegro sometimes emits READY_FOR_PROCESSING twice for one order (#3318, #7824).
        _event(emu, user, "READY_FOR_PROCESSING", form)
    return form


def pay_together(emu: Emulator, user: Seller, forms: list[Json]) -> Json:
    """The buyer pays several unpaid purchases at once: Allegro makes a new checkout form with
    all their line items (same line-item ids) and removes the earlier forms (#3284, #3874)."""
    if len(forms) < 2 or any(f["status"] != "FILLED_IN" for f in forms):
        raise AllegroError(422, "VALIDATION_ERROR", "Pay together needs two or more unpaid forms")
    currency = forms[0]["summary"]["totalToPay"]["currency"]
    if any(f["summary"]["totalToPay"]["currency"] != currency for f in forms):
        raise AllegroError(422, "VALIDATION_ERROR", "The forms are in different currencies")
    total = sum(Decimal(f["summary"]["totalToPay"]["amount"]) for f in forms)
    now = emu.now()
    merged: Json = {
        **forms[0],
        "id": str(uuid.uuid4()),
        "lineItems": [item for f in forms for item in f["lineItems"]],
        "payment": {
            **forms[0]["payment"],
            "id": str(uuid.uuid4()),
            "finishedAt": iso(now),
            "paidAmount": {"amount": f"{total:.2f}", "currency": currency},
        },
        "summary": {"totalToPay": {"amount": f"{total:.2f}", "currency": currency}},
        "status": "READY_FOR_PROCESSING",
        "updatedAt": iso(now),
        "revision": _revision(emu),
    }
    for form in forms:
        del user.checkout_forms[form["id"]]
    user.checkout_forms[merged["id"]] = merged
    _event(emu, user, "READY_FOR_PROCESSING", merged)
    return merged


def cancel_order(emu: Emulator, user: Seller, form: Json) -> None:
    """The buyer cancels: BUYER_CANCELLED; the stock goes back to the offer (it stays ended)."""
    if form["status"] == "CANCELLED":
        return
    form["status"] = "CANCELLED"
    form["revision"] = _revision(emu)
    form["updatedAt"] = iso(emu.now())
    for item in form["lineItems"]:
        offer = user.offers.get(item["offer"]["id"])
        if offer is not None:
            marketplace = form["marketplace"]["id"]
            offer.sold[marketplace] = max(0, offer.sold.get(marketplace, 0) - item["quantity"])
            set_stock(emu, user, offer, offer.data["stock"]["available"] + item["quantity"])
    _event(emu, user, "BUYER_CANCELLED", form)


def run_buyer(emu: Emulator) -> None:
    """Place orders at the steady rate set by admin, on random active offers."""
    schedule: BuyerSchedule | None = emu.buyer
    if schedule is None or schedule.orders_per_minute <= 0:
        return
    now = emu.now()
    schedule.carry += (now - (schedule.last or now)) * schedule.orders_per_minute / 60
    schedule.last = now
    sellers = [s for s in emu.world.sellers.values() if schedule.seller_login in (None, s.login)]
    while schedule.carry >= 1:
        schedule.carry -= 1
        candidates = [
            (s, o)
            for s in sellers
            for o in s.offers.values()
            if o.data["publication"]["status"] == "ACTIVE" and o.data["stock"]["available"] > 0
        ]
        if not candidates:
            return
        user, offer = candidates[emu.random.randrange(len(candidates))]
        # Buyers come from every marketplace the offer is visible on.
        visible = [user.base_marketplace] + [
            m["id"] for m in offer.data["publication"]["marketplaces"]["additional"]
        ]
        marketplace = visible[emu.random.randrange(len(visible))]
        if _offer_price(offer, marketplace, user.base_marketplace):
            place_order(emu, user, offer, marketplace=marketplace)


# --- journal -----
@router.get("/order/events")
async def order_events(request: Request) -> Response:
    emu, user = seller(request)
    limit = query_int(request, "limit", 100, 1, 1000)
    types = set(query_list(request, "type"))
    start = request.query_params.get("from")
    try:
        after = int(start) if start else -1
    except ValueError:
        raise AllegroError(422, "VALIDATION_ERROR", "Invalid event id", path="from") from None
    horizon = int((emu.now() - emu.config.order_event_retention_days * 86400) * 1_000_000)
    page = []
    for event in user.order_events:  # oldest first; `from` is exclusive
        number = int(event["id"])
        if number <= after or number < horizon or (types and event["type"] not in types):
            continue
        page.append(event)
        if len(page) >= limit:
            break
    return respond({"events": page})


@router.get("/order/event-stats")
async def order_event_stats(request: Request) -> Response:
    emu, user = seller(request)
    horizon = int((emu.now() - emu.config.order_event_retention_days * 86400) * 1_000_000)
    live = [e for e in user.order_events[-1:] if int(e["id"]) >= horizon]
    if not live:
        return respond({})
    return respond({"latestEvent": {"id": live[0]["id"], "occurredAt": live[0]["occurredAt"]}})


# --- checkout forms -----
def _form(user: Seller, form_id: str) -> Json:
    try:
        uuid.UUID(form_id)
    except ValueError:
        raise AllegroError(
            422, "VALIDATION_ERROR", "Checkout form id must be a UUID", path="id"
        ) from None
    form = user.checkout_forms.get(form_id)
    if form is None:
        raise not_found("Checkout form", form_id)
    return form


@router.get("/order/checkout-forms")
async def list_checkout_forms(request: Request) -> Response:
    _, user = seller(request)
    q = request.query_params
    limit = query_int(request, "limit", 100, 1, 100)
    offset = query_int(request, "offset", 0, 0, 10**9)
    statuses = set(query_list(request, "status"))
    fulfillment = set(query_list(request, "fulfillment.status"))
    forms: list[Json] = []
    for form in user.checkout_forms.values():
        if statuses and form["status"] not in statuses:
            continue
        if fulfillment and form["fulfillment"]["status"] not in fulfillment:
            continue
        if q.get("marketplace.id") and form["marketplace"]["id"] != q["marketplace.id"]:
            continue
        if q.get("buyer.login") and form["buyer"]["login"] != q["buyer.login"]:
            continue
        if q.get("payment.id") and form["payment"]["id"] != q["payment.id"]:
            continue
        if (
            q.get("delivery.method.id")
            and form["delivery"]["method"]["id"] != q["delivery.method.id"]
        ):
            continue
        sent = q.get("fulfillment.shipmentSummary.lineItemsSent")
        if sent and form["fulfillment"]["shipmentSummary"]["lineItemsSent"] != sent:
            continue
        if q.get("updatedAt.gte") and parse_iso(form["updatedAt"]) < parse_iso(q["updatedAt.gte"]):
            continue
        if q.get("updatedAt.lte") and parse_iso(form["updatedAt"]) > parse_iso(q["updatedAt.lte"]):
            continue
        bought = form["lineItems"][0]["boughtAt"]
        if q.get("lineItems.boughtAt.gte") and parse_iso(bought) < parse_iso(
            q["lineItems.boughtAt.gte"]
        ):
            continue
        if q.get("lineItems.boughtAt.lte") and parse_iso(bought) > parse_iso(
            q["lineItems.boughtAt.lte"]
        ):
            continue
        forms.append(form)
    sort = q.get("sort", "-lineItems.boughtAt")
    key = "updatedAt" if "updatedAt" in sort else "boughtAt"

    def sort_key(form: Json) -> Any:
        return form["updatedAt"] if key == "updatedAt" else form["lineItems"][0]["boughtAt"]

    forms.sort(key=sort_key, reverse=sort.startswith("-"))
    page = forms[offset : offset + limit]
    return respond({"checkoutForms": page, "count": len(page), "totalCount": len(forms)})


@router.get("/order/checkout-forms/{id}")
async def get_checkout_form(request: Request, id: str) -> Response:
    _, user = seller(request)
    return respond(_form(user, id))


@router.put("/order/checkout-forms/{id}/fulfillment")
async def set_fulfillment(request: Request, id: str) -> Response:
    emu, user = seller(request)
    form = _form(user, id)
    revision = request.query_params.get("checkoutForm.revision")
    if revision is not None and revision != form["revision"]:
        raise AllegroError(
            409,
            "VALIDATION_ERROR",
            "The checkout form has been modified; its revision is outdated",
            path="checkoutForm.revision",
            user_message="The order has changed. Fetch it again.",
            user_message_pl="Zamówienie zostało zmienione. Pobierz je ponownie.",
        )
    body = await body_json(request)
    status = body.get("status")
    if status not in FULFILLMENT_SETTABLE:
        raise AllegroError(422, "VALIDATION_ERROR", f"Status {status} cannot be set", path="status")
    if form["fulfillment"]["status"] != status:
        form["fulfillment"]["status"] = status
        form["revision"] = _revision(emu)
        form["updatedAt"] = iso(emu.now())
        _event(emu, user, "FULFILLMENT_STATUS_CHANGED", form)
    return no_content()


# --- shipments and carriers -----
@router.get("/order/carriers")
async def carriers(request: Request) -> Response:
    caller(request)
    return respond({"carriers": [{"id": cid, "name": name} for cid, name in CARRIERS]})


@router.get("/order/checkout-forms/{id}/shipments")
async def list_shipments(request: Request, id: str) -> Response:
    emu, user = seller(request)
    emu.limiter.check("shipments", user.id, emu.now())
    _form(user, id)
    return respond({"shipments": user.shipments.get(id, [])})


@router.post("/order/checkout-forms/{id}/shipments")
async def create_shipment(request: Request, id: str) -> Response:
    emu, user = seller(request)
    emu.limiter.check("shipments", user.id, emu.now())
    form = _form(user, id)
    body = await body_json(request)
    carrier, waybill = body.get("carrierId"), body.get("waybill")
    if carrier not in CARRIER_IDS:
        raise AllegroError(400, "VALIDATION_ERROR", f"Unknown carrier {carrier}", path="carrierId")
    if not isinstance(waybill, str) or not waybill or len(waybill) > 64:
        raise AllegroError(
            400, "VALIDATION_ERROR", "waybill must have 1-64 characters", path="waybill"
        )
    carrier_name = body.get("carrierName")
    if carrier == "OTHER" and not carrier_name:
        raise AllegroError(
            400, "VALIDATION_ERROR", "carrierName is required for OTHER", path="carrierName"
        )
    if carrier_name and len(carrier_name) > 30:
        raise AllegroError(
            400, "VALIDATION_ERROR", "carrierName has at most 30 characters", path="carrierName"
        )
    form_items = {li["id"] for li in form["lineItems"]}
    requested = [str(li.get("id")) for li in body.get("lineItems") or []]
    unknown = [li for li in requested if li not in form_items]
    if unknown:
        raise AllegroError(
            422, "VALIDATION_ERROR", f"Line item {unknown[0]} is not in the order", path="lineItems"
        )
    orders_with_waybill = emu.world.waybills.setdefault(waybill, set())
    if id not in orders_with_waybill and len(orders_with_waybill) >= emu.config.waybill_max_orders:
        raise AllegroError(
            409,
            "VALIDATION_ERROR",
            "This waybill is used in too many orders",
            path="waybill",
        )
    orders_with_waybill.add(id)
    items = requested or sorted(form_items)
    shipment: Json = {
        "id": str(uuid.uuid4()),
        "waybill": waybill,
        "carrierId": carrier,
        "carrierName": carrier_name or dict(CARRIERS)[str(carrier)],
        "lineItems": [{"id": li} for li in items],
        "createdAt": iso(emu.now()),
    }
    user.shipments.setdefault(id, []).append(shipment)
    sent = {li["id"] for s in user.shipments[id] for li in s["lineItems"]}
    form["fulfillment"]["shipmentSummary"]["lineItemsSent"] = (
        "ALL" if sent >= form_items else ("SOME" if sent else "NONE")
    )
    form["revision"] = _revision(emu)
    form["updatedAt"] = iso(emu.now())
    return respond(shipment, 201)
