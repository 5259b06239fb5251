"""Delivery methods, shipping rates (price lists) and delivery settings (allegro-api.md section 7).

At most `shipping_rates_limit` (250) sets per account and there is no DELETE: Allegro keeps them.
A set's delivery methods decide on which additional marketplaces an offer can be shown.
Delivery settings (free-delivery thresholds, join policy) are per marketplace, in its currency.
"""

from __future__ import annotations

import re
import uuid

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from allegro_emulator.errors import AllegroError, not_found
from allegro_emulator.seed import (
    COUNTRY_MARKETPLACE,
    DELIVERY_METHOD_BY_ID,
    DELIVERY_METHODS,
    MARKETPLACES,
)
from allegro_emulator.state import Emulator, Json, Seller, iso
from allegro_emulator.web import body_json, caller, respond, seller

router = APIRouter()

_NAME = re.compile(r"^[\w\-., ]{1,64}$", re.UNICODE)


def delivery_method_dto(method: tuple[str, str, str, str, bool]) -> Json:
    method_id, name, country, payment, weight_supported = method
    currency = MARKETPLACES[COUNTRY_MARKETPLACE[country]]["currency"]
    return {
        "id": method_id,
        "name": name,
        "marketplaces": [COUNTRY_MARKETPLACE[country]],
        "paymentPolicy": payment,
        "allegroEndorsed": name.startswith("Allegro"),
        "dispatchCountry": "PL",
        "destinationCountry": country,
        "shippingRatesConstraints": {
            "allowed": True,
            "maxQuantityPerPackage": {"max": 999999},
            "maxPackageWeight": {
                "supported": weight_supported,
                "min": "0.100" if weight_supported else None,
                "max": "31.500" if weight_supported else None,
                "unit": "KILOGRAM" if weight_supported else None,
            },
            "firstItemRate": {"min": "0.00", "max": "9999.99", "currency": currency},
            "nextItemRate": {"min": "0.00", "max": "9999.99", "currency": currency},
            "shippingTime": {"default": {"from": "PT24H", "to": "PT48H"}, "customizable": True},
        },
    }


@router.get("/sale/delivery-methods")
async def delivery_methods(request: Request) -> Response:
    caller(request)
    marketplace = request.query_params.get("marketplace")
    methods = [delivery_method_dto(m) for m in DELIVERY_METHODS]
    if marketplace:
        methods = [m for m in methods if marketplace in m["marketplaces"]]
    return respond({"deliveryMethods": methods})


_countries: dict[tuple[str, str], frozenset[str]] = {}


def destination_countries(rates_set: Json) -> frozenset[str]:
    """Countries the set delivers to (cached: offers ask on every price or stock change)."""
    key = (str(rates_set.get("id")), str(rates_set.get("lastModified")))
    cached = _countries.get(key)
    if cached is None:
        cached = _countries[key] = _destination_countries(rates_set)
    return cached


def _destination_countries(rates_set: Json) -> frozenset[str]:
    return frozenset(
        {
            DELIVERY_METHOD_BY_ID[r["deliveryMethod"]["id"]][2]
            for r in rates_set.get("rates", [])
            if r["deliveryMethod"]["id"] in DELIVERY_METHOD_BY_ID
        }
    )


def _marketplaces(rates_set: Json) -> list[Json]:
    return [{"id": COUNTRY_MARKETPLACE[c]} for c in sorted(destination_countries(rates_set))]


def _validate(body: Json) -> None:
    name = body.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise AllegroError(
            422,
            "VALIDATION_ERROR",
            "Name must have 1-64 characters: letters, digits, - . , and space",
            path="name",
        )
    rates = body.get("rates")
    if not isinstance(rates, list) or not rates:
        raise AllegroError(422, "VALIDATION_ERROR", "At least one rate is required", path="rates")
    seen: set[str] = set()
    for i, rate in enumerate(rates):
        method_id = (rate.get("deliveryMethod") or {}).get("id")
        if method_id not in DELIVERY_METHOD_BY_ID:
            raise AllegroError(
                422,
                "VALIDATION_ERROR",
                f"Unknown delivery method {method_id}",
                path=f"rates[{i}].deliveryMethod.id",
            )
        if method_id in seen:
            raise AllegroError(
                422,
                "VALIDATION_ERROR",
                "A delivery method may appear only once",
                path=f"rates[{i}].deliveryMethod.id",
            )
        seen.add(method_id)
        for key in ("maxQuantityPerPackage", "firstItemRate", "nextItemRate"):
            if key not in rate:
                raise AllegroError(
                    422, "VALIDATION_ERROR", f"{key} is required", path=f"rates[{i}].{key}"
                )


def _stored(emu: Emulator, body: Json, set_id: str) -> Json:
    stored: Json = {
        "id": set_id,
        "name": body["name"],
        "rates": body["rates"],
        "lastModified": iso(emu.now()),
    }
    if body.get("type"):
        stored["type"] = body["type"]
        stored["dispatchCountry"] = body.get("dispatchCountry") or "PL"
    return stored


def _get_set(user: Seller, set_id: str) -> Json:
    found = user.shipping_rates.get(set_id)
    if found is None:
        raise not_found("Shipping rates set", set_id)
    return found


@router.get("/sale/shipping-rates")
async def list_shipping_rates(request: Request) -> Response:
    _, user = seller(request)
    marketplace = request.query_params.get("marketplace")
    items = []
    for rates_set in user.shipping_rates.values():
        mps = _marketplaces(rates_set)
        if marketplace and {"id": marketplace} not in mps:
            continue
        items.append(
            {
                "id": rates_set["id"],
                "name": rates_set["name"],
                "features": {"managedByAllegro": False, "isFulfillment": False},
                "marketplaces": mps,
            }
        )
    return respond({"shippingRates": items})


@router.post("/sale/shipping-rates")
async def create_shipping_rates(request: Request) -> Response:
    emu, user = seller(request)
    body = await body_json(request)
    _validate(body)
    limit = emu.config.shipping_rates_limit
    if len(user.shipping_rates) >= limit:
        raise AllegroError(
            422,
            "VALIDATION_ERROR",
            f"You have reached the limit of {limit} shipping rates sets",
            user_message=f"You have reached the limit of {limit} shipping rates sets.",
            user_message_pl=f"Osiągnięto limit {limit} cenników dostawy.",
        )
    stored = _stored(emu, body, str(uuid.uuid4()))
    user.shipping_rates[stored["id"]] = stored
    return respond(stored, 201)


@router.get("/sale/shipping-rates/{id}")
async def get_shipping_rates(request: Request, id: str) -> Response:
    _, user = seller(request)
    return respond(_get_set(user, id))


@router.put("/sale/shipping-rates/{id}")
async def update_shipping_rates(request: Request, id: str) -> Response:
    emu, user = seller(request)
    _get_set(user, id)
    body = await body_json(request)
    if body.get("id") not in (None, id):
        raise AllegroError(
            422, "VALIDATION_ERROR", "Identifier in the body does not match the path", path="id"
        )
    _validate(body)
    stored = _stored(emu, body, id)
    user.shipping_rates[id] = stored
    return respond(stored)


# --- delivery settings (`/sale/delivery-settings`) ---------------------------------------------

_JOIN_STRATEGIES = ("MIN", "MAX", "SUM")
# Not stated by the spec: what a seller who never saved settings reads. MAX, no thresholds.
_DEFAULT_JOIN_POLICY = "MAX"
_AMOUNT = re.compile(r"^\d{1,13}(\.\d{1,2})?$")


def _settings_marketplace(user: Seller, marketplace: object, where: str) -> str:
    """The marketplace the settings are for: given, or the seller's base (the spec's default);
    an unsupported one (allegro-business-* included) is a 422, as the spec says."""
    chosen = user.base_marketplace if marketplace in (None, "") else marketplace
    if not isinstance(chosen, str) or chosen not in MARKETPLACES:
        raise AllegroError(
            422, "VALIDATION_ERROR", f"Marketplace {chosen} is not supported", path=where
        )
    return chosen


def _settings_of(emu: Emulator, user: Seller, marketplace: str) -> Json:
    stored = user.delivery_settings.get(marketplace)
    if stored is None:
        return {
            "marketplace": {"id": marketplace},
            "joinPolicy": {"strategy": _DEFAULT_JOIN_POLICY},
            "updatedAt": iso(emu.now()),
        }
    return stored


@router.get("/sale/delivery-settings")
async def get_delivery_settings(request: Request) -> Response:
    emu, user = seller(request)
    marketplace = _settings_marketplace(
        user, request.query_params.get("marketplace.id"), "marketplace.id"
    )
    return respond(_settings_of(emu, user, marketplace))


def _threshold(body: Json, key: str, currency: str) -> Json | None:
    raw = body.get(key)
    if raw is None:
        return None
    amount = raw.get("amount") if isinstance(raw, dict) else None
    if not isinstance(amount, str) or not _AMOUNT.match(amount):
        raise AllegroError(422, "VALIDATION_ERROR", "Wrong amount", path=f"{key}.amount")
    if raw.get("currency") != currency:
        raise AllegroError(
            422,
            "VALIDATION_ERROR",
            f"Wrong currency: the marketplace's is {currency}",
            path=f"{key}.currency",
        )
    return {"amount": amount, "currency": currency}


@router.put("/sale/delivery-settings")
async def put_delivery_settings(request: Request) -> Response:
    emu, user = seller(request)
    # The spec answers a body it cannot take with 422 here (no 400 is documented).
    try:
        body = orjson.loads(await request.body() or b"null")
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise AllegroError(422, "VALIDATION_ERROR", "The request body must be a JSON object")
    given = body.get("marketplace")
    marketplace = _settings_marketplace(
        user, given.get("id") if isinstance(given, dict) else given, "marketplace.id"
    )
    join = body.get("joinPolicy")
    strategy = join.get("strategy") if isinstance(join, dict) else None
    if strategy not in _JOIN_STRATEGIES:
        raise AllegroError(
            422,
            "VALIDATION_ERROR",
            f"Wrong join policy strategy: one of {', '.join(_JOIN_STRATEGIES)}",
            path="joinPolicy.strategy",
        )
    currency = MARKETPLACES[marketplace]["currency"]
    stored: Json = {"marketplace": {"id": marketplace}}
    # A threshold left out is not set (the spec: "do not set this value").
    for key in ("freeDelivery", "abroadFreeDelivery"):
        threshold = _threshold(body, key, currency)
        if threshold is not None:
            stored[key] = threshold
    stored["joinPolicy"] = {"strategy": strategy}
    stored["updatedAt"] = iso(emu.now())
    user.delivery_settings[marketplace] = stored
    return respond(stored)
