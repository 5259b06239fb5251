"""The offer lifecycle: validation, state transitions and qualification of offers, shared by
the offer routes (`offers.py`), batch commands, orders and the admin API.

Allegro processes product-offers asynchronously: a share of requests (config
`async_offer_share`) goes on in an operation that ends `operation_seconds` later. An edit while
an operation is running gets 409. Some validation happens late and can drop an active offer
back to INACTIVE. No HTTP here: the routes parse, call these and shape the answer.
"""

from __future__ import annotations

import re
import uuid

from allegro_emulator import catalogue, gpsr, images, parameters
from allegro_emulator.errors import AllegroError, error
from allegro_emulator.marketplaces import (
    check_additional_marketplaces,
    check_price_format,
    schedule_qualification,
)
from allegro_emulator.offer_events import emit_offer_event
from allegro_emulator.seed import MARKETPLACES, PARAM_EAN
from allegro_emulator.state import Emulator, Json, Offer, Operation, Seller, iso

DEFAULT_NAME = "default"
MAX_STOCK = 99_999
# `delivery.handlingTime`: the values the spec's DeliveryProductOfferRequest allows.
HANDLING_TIMES = (
    "PT0S",
    "PT24H",
    "P2D",
    "P3D",
    "P4D",
    "P5D",
    "P7D",
    "P10D",
    "P14D",
    "P21D",
    "P30D",
    "P60D",
)


# --- validation -----
def _by_id_or_name(
    store: dict[str, Json],
    ref: Json | None,
    *,
    not_found_code: str,
    default_code: str,
    not_unique_code: str,
    path: str,
) -> str:
    """Resolve `{id}` or `{name}` of a seller setting, or the account default when omitted."""
    if ref and ref.get("id"):
        if ref["id"] not in store:
            raise AllegroError(
                422,
                not_found_code,
                f"{path} {ref['id']} not found",
                path=path,
                metadata={"requestedName": str(ref["id"]), "defaultName": DEFAULT_NAME},
            )
        return str(ref["id"])
    if ref and ref.get("name"):
        matches = [k for k, v in store.items() if v.get("name") == ref["name"]]
        if len(matches) > 1:
            raise AllegroError(
                422,
                not_unique_code,
                f"{path} name is not unique",
                path=path,
                metadata={"requestedName": str(ref["name"])},
            )
        if not matches:
            raise AllegroError(
                422,
                not_found_code,
                f"{path} {ref['name']} not found",
                path=path,
                metadata={"requestedName": str(ref["name"]), "defaultName": DEFAULT_NAME},
            )
        return matches[0]
    # The account default: the one named "default", or the only one there is.
    named = [k for k, v in store.items() if str(v.get("name", "")).lower() == DEFAULT_NAME]
    if named:
        return named[0]
    if len(store) == 1:
        return next(iter(store))
    raise AllegroError(
        422,
        default_code,
        f"Default {path} not found",
        path=path,
        metadata={"defaultName": DEFAULT_NAME},
    )


def resolve_settings(user: Seller, data: Json, body: Json) -> None:
    delivery = data.setdefault("delivery", {"handlingTime": "PT24H"})
    rates_ref = (body.get("delivery") or {}).get("shippingRates") or delivery.get("shippingRates")
    if isinstance(rates_ref, str):
        raise AllegroError(
            422,
            "VALIDATION_ERROR",
            "shippingRates must be an object",
            path="delivery.shippingRates",
        )
    delivery["shippingRates"] = {
        "id": _by_id_or_name(
            user.shipping_rates,
            rates_ref,
            not_found_code="ShippingRatesNotFoundException",
            default_code="DefaultShippingRatesNotFoundException",
            not_unique_code="NonUniqueShippingRatesException",
            path="delivery.shippingRates",
        )
    }
    after_in = body.get("afterSalesServices") or {}
    after = data.setdefault("afterSalesServices", {})
    after["returnPolicy"] = {
        "id": _by_id_or_name(
            user.return_policies,
            after_in.get("returnPolicy") or after.get("returnPolicy"),
            not_found_code="ReturnPolicyNotFoundException",
            default_code="DefaultReturnPolicyNotFoundException",
            not_unique_code="ReturnPolicyNotUniqueException",
            path="afterSalesServices.returnPolicy",
        )
    }
    after["impliedWarranty"] = {
        "id": _by_id_or_name(
            user.implied_warranties,
            after_in.get("impliedWarranty") or after.get("impliedWarranty"),
            not_found_code="ImpliedWarrantyNotFoundException",
            default_code="DefaultImpliedWarrantyNotFoundException",
            not_unique_code="ImpliedWarrantyNotUniqueException",
            path="afterSalesServices.impliedWarranty",
        )
    }
    warranty_ref = after_in.get("warranty") or after.get("warranty")
    if warranty_ref:
        # A warranty is optional: no default applies.
        after["warranty"] = {
            "id": _by_id_or_name(
                user.warranties,
                warranty_ref,
                not_found_code="WarrantyNotFoundException",
                default_code="WarrantyNotFoundException",
                not_unique_code="WarrantyNotUniqueException",
                path="afterSalesServices.warranty",
            )
        }


def match_product(emu: Emulator, body: Json) -> Json:
    product_set = body.get("productSet")
    if not isinstance(product_set, list) or not product_set or not isinstance(product_set[0], dict):
        raise AllegroError(422, "VALIDATION_ERROR", "productSet is required", path="productSet")
    ref = product_set[0].get("product") or {}
    product_id, id_type = ref.get("id"), ref.get("idType")
    if product_id and id_type in ("GTIN", "MPN"):
        found = catalogue.products_for_gtin(emu, str(product_id)) if id_type == "GTIN" else []
        return _single(found, str(product_id))
    if product_id:
        known = catalogue.find_product(emu, str(product_id))
        if known is None:
            raise AllegroError(
                422,
                "ProductNotFoundException",
                f"Product {product_id} not found",
                path="productSet[0].product.id",
                metadata={"productId": str(product_id)},
            )
        return known
    # A full product definition: match by EAN or create a new (PROPOSED) product.
    ean = next(
        (
            str(p.get("values", [""])[0])
            for p in ref.get("parameters", [])
            if str(p.get("id")) == PARAM_EAN and p.get("values")
        ),
        None,
    )
    if ean:
        found = catalogue.products_for_gtin(emu, ean)
        if found:
            return _single(found, ean)
    name, category = ref.get("name"), (ref.get("category") or {}).get("id")
    if not name or not category or not ref.get("images"):
        raise AllegroError(
            422,
            "ProductNotFoundException",
            "Product not found and its definition is incomplete",
            path="productSet[0].product",
            metadata={"productId": str(ean or "")},
        )
    if not catalogue.exists(str(category)):
        raise AllegroError(
            422,
            "CATEGORY_NOT_EXISTS",
            f"Category {category} does not exist",
            path="productSet[0].product.category.id",
            metadata={"categoryId": str(category)},
        )
    if not catalogue.is_leaf(str(category)):
        # Offers and products live in leaf categories only.
        raise AllegroError(
            422,
            "INVALID_CATEGORY_ID",
            f"Category {category} is not a leaf category",
            path="productSet[0].product.category.id",
            metadata={"categoryId": str(category)},
        )
    # A new product: its parameters are checked against the category's product rules.
    defs = parameters.definitions(emu, str(category))
    params_path = "productSet[0].product.parameters"
    parameters.check_values(defs, str(category), ref.get("parameters") or [], params_path)
    absent = parameters.missing(defs, ref.get("parameters") or [], "requiredForProduct")
    if absent:
        problems = parameters.missing_errors(absent, params_path)
        raise AllegroError(422, problems[0]["code"], problems[0]["message"], errors=problems)
    new_id = str(uuid.uuid4())
    product: Json = {
        "id": new_id,
        "name": str(name)[:75],
        "category": {"id": str(category), "path": [], "similar": []},
        "images": [{"url": u} for u in ref.get("images", [])],
        "parameters": [
            {
                "id": str(p.get("id")),
                "name": str(p.get("name", "")),
                "values": p.get("values", []),
                "valuesIds": p.get("valuesIds", []),
                "options": {
                    "identifiesProduct": str(p.get("id")) == PARAM_EAN,
                    "isGTIN": str(p.get("id")) == PARAM_EAN,
                },
            }
            for p in ref.get("parameters", [])
        ],
        "publication": {"status": "PROPOSED"},
    }
    emu.world.extra_products[new_id] = product
    if ean:
        emu.world.extra_products_by_gtin.setdefault(ean, []).append(new_id)
    return product


def _single(found: list[Json], requested: str) -> Json:
    if not found:
        raise AllegroError(
            422,
            "ProductNotFoundException",
            f"Product {requested} not found",
            path="productSet[0].product.id",
            metadata={"productId": requested},
        )
    if len(found) > 1:
        raise AllegroError(
            422,
            "MultipleProductsFoundException",
            f"Multiple products found for {requested}",
            path="productSet[0].product.id",
            metadata={"foundProductsIds": ",".join(p["id"] for p in found)},
        )
    return found[0]


def check_handling_time(body: Json) -> None:
    """A `delivery.handlingTime` given must be one of the spec's values (kept as given)."""
    delivery = body.get("delivery")
    if not isinstance(delivery, dict) or "handlingTime" not in delivery:
        return
    if delivery["handlingTime"] not in HANDLING_TIMES:
        raise AllegroError(
            422,
            "VALIDATION_ERROR",
            f"delivery.handlingTime must be one of {', '.join(HANDLING_TIMES)}",
            path="delivery.handlingTime",
        )


def offer_parameters(data: Json) -> list[Json]:
    """The offer's own parameters and its product's: both count towards `required`."""
    product = ((data.get("productSet") or [{}])[0] or {}).get("product") or {}
    return [*(data.get("parameters") or []), *(product.get("parameters") or [])]


def activation_errors(emu: Emulator, offer: Offer) -> list[Json]:
    """What stops an offer from being published."""
    data = offer.data
    errors = []
    if (data.get("stock") or {}).get("available", 0) < 1:
        errors.append(
            error(
                "AvailableStockMustEqualToOneOrBeGreaterThanOne",
                "Available stock must be equal to one or greater",
                path="stock.available",
            )
        )
    if not ((data.get("sellingMode") or {}).get("price") or {}).get("amount"):
        errors.append(
            error(
                "VALIDATION_ERROR",
                "Price is required to publish the offer",
                path="sellingMode.price",
            )
        )
    user = emu.world.sellers[offer.seller_id]
    return errors + missing_parameter_errors(emu, data) + gpsr.safety_errors(user, data)


def missing_parameter_errors(emu: Emulator, data: Json) -> list[Json]:
    defs = parameters.definitions(emu, data["category"]["id"])
    return parameters.missing_errors(parameters.missing(defs, offer_parameters(data)), "parameters")


# --- state transitions (also used by commands and orders) -----
def activate(emu: Emulator, user: Seller, offer: Offer, *, immediately: bool = True) -> None:
    publication = offer.data["publication"]
    publication["status"] = "ACTIVE" if immediately else "ACTIVATING"
    # The spec does not allow null for these: an active offer simply has none.
    publication.pop("endedBy", None)
    publication.pop("endingAt", None)
    publication["startingAt"] = iso(emu.now())
    offer.data["updatedAt"] = iso(emu.now())
    if immediately:
        emit_offer_event(emu, user, "OFFER_ACTIVATED", offer)
        schedule_qualification(emu, user, offer)
        maybe_late_validation(emu, user, offer)
        _schedule_expiration(emu, user, offer)


def duration_seconds(duration: str | None) -> float | None:
    """`PT72H` or `P10D` (the durations the spec lists) in seconds; None when unlimited."""
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?)?", duration or "")
    if not duration or match is None or not any(match.groups()):
        return None
    days, hours = (int(g) if g else 0 for g in match.groups())
    return days * 86400.0 + hours * 3600.0


def _schedule_expiration(emu: Emulator, user: Seller, offer: Offer) -> None:
    """An offer with a duration ends by EXPIRATION when it runs out (none = until sold out)."""
    seconds = duration_seconds(offer.data["publication"].get("duration"))
    if seconds is None:
        return
    started = offer.data["publication"]["startingAt"]

    def expire() -> None:
        # Only the activation that scheduled this: a later reactivation schedules its own.
        if offer.data["publication"].get("startingAt") == started:
            end(emu, user, offer, "EXPIRATION")

    emu.schedule(seconds, expire)


def end(emu: Emulator, user: Seller, offer: Offer, ended_by: str) -> None:
    publication = offer.data["publication"]
    if publication["status"] not in ("ACTIVE", "ACTIVATING"):
        return
    publication.update({"status": "ENDED", "endedBy": ended_by, "endingAt": iso(emu.now())})
    offer.data["updatedAt"] = iso(emu.now())
    emit_offer_event(emu, user, "OFFER_ENDED", offer, {"publication": {"endedBy": ended_by}})


def set_stock(emu: Emulator, user: Seller, offer: Offer, available: int) -> None:
    stock = offer.data.setdefault("stock", {"unit": "UNIT"})
    if stock.get("available") == available:
        return
    stock["available"] = available
    offer.data["updatedAt"] = iso(emu.now())
    emit_offer_event(emu, user, "OFFER_STOCK_CHANGED", offer)
    if available == 0:
        # Stock 0 ends a live offer; raising stock later does not bring it back.
        end(emu, user, offer, "EMPTY_STOCK")


def set_price(emu: Emulator, user: Seller, offer: Offer, marketplace: str, price: Json) -> None:
    if marketplace == user.base_marketplace:
        offer.data.setdefault("sellingMode", {"format": "BUY_NOW"})["price"] = price
    else:
        entry = offer.data.setdefault("additionalMarketplaces", {}).setdefault(marketplace, {})
        entry.setdefault("sellingMode", {"format": "BUY_NOW"})["price"] = price
    offer.data["updatedAt"] = iso(emu.now())
    emit_offer_event(
        emu,
        user,
        "OFFER_PRICE_CHANGED",
        offer,
        {"marketplaces": [{"id": marketplace, "changeType": "MANUAL"}]},
    )
    if offer.data["publication"]["status"] in ("ACTIVE", "ACTIVATING"):
        schedule_qualification(emu, user, offer)


def maybe_late_validation(emu: Emulator, user: Seller, offer: Offer) -> None:
    """With probability `late_validation_share`, fail the offer's validation a little later."""
    if emu.random.random() < emu.config.late_validation_share:
        emu.schedule(emu.config.late_validation_seconds, lambda: fail_validation(emu, user, offer))


def fail_validation(emu: Emulator, user: Seller, offer: Offer) -> None:
    """Validation after publication failed: the offer drops to INACTIVE with the errors
    (no error comes back in any API response; see allegro/allegro-api#9740)."""
    if offer.data["publication"]["status"] != "ACTIVE":
        return
    offer.data["publication"]["status"] = "INACTIVE"
    offer.data["validation"] = {
        "errors": [
            error(
                "ConstraintViolationException.OfferValidation",
                "The offer did not pass validation after publication",
                path="parameters",
            )
        ],
        "warnings": [],
        "validatedAt": iso(emu.now()),
    }
    offer.data["updatedAt"] = iso(emu.now())
    emit_offer_event(emu, user, "OFFER_CHANGED", offer, force=True)


# --- operations -----
def start_operation(emu: Emulator, user: Seller, offer: Offer) -> Operation:
    """Allegro goes on with the offer asynchronously: an operation that ends (and activates an
    ACTIVATING offer) `operation_seconds` later."""
    now = emu.now()
    operation = Operation(
        str(uuid.uuid4()), offer.data["id"], now, now + emu.config.operation_seconds
    )
    offer.operation = operation
    user.operations[operation.id] = operation

    def finish() -> None:
        offer.operation = None
        if offer.data["publication"]["status"] == "ACTIVATING":
            activate(emu, user, offer)

    emu.schedule(emu.config.operation_seconds, finish)
    return operation


def index_external(user: Seller, offer_id: str, old: str | None, new: str | None) -> None:
    if old and old in user.offers_by_external:
        user.offers_by_external[old].discard(offer_id)
    if new:
        user.offers_by_external.setdefault(new, set()).add(offer_id)


# --- create and edit -----
def create(emu: Emulator, user: Seller, body: Json) -> tuple[Offer, Operation | None]:
    """`POST /sale/product-offers`: check the body, make the offer and publish it if asked; the
    operation when Allegro goes on with it asynchronously (202)."""
    stock = body.get("stock")
    if not isinstance(stock, dict):
        raise AllegroError(422, "VALIDATION_ERROR", "stock is required", path="stock")
    available = stock.get("available", 0)
    if not isinstance(available, int) or not 0 <= available <= MAX_STOCK:
        raise AllegroError(
            422,
            "VALIDATION_ERROR",
            f"stock.available must be 0..{MAX_STOCK}",
            path="stock.available",
        )
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not 12 <= len(name) <= 75):
        raise AllegroError(
            422, "VALIDATION_ERROR", "The title must have 12 to 75 characters", path="name"
        )
    check_handling_time(body)
    product = match_product(emu, body)
    category_id = (body.get("category") or {}).get("id") or product["category"]["id"]
    if category_id != product["category"]["id"]:
        raise AllegroError(
            422,
            "CATEGORY_MISMATCH",
            "The offer category differs from the product category",
            path="category.id",
            metadata={
                "requestedCategoryId": str(category_id),
                "existingCategoryId": product["category"]["id"],
                "existingProductId": product["id"],
            },
        )
    parameters.check_values(
        parameters.definitions(emu, category_id), category_id, body.get("parameters"), "parameters"
    )
    price = (body.get("sellingMode") or {}).get("price")
    if price is not None:
        check_price_format(price, user.base_marketplace, "sellingMode.price")
    check_additional_marketplaces(user, body)
    gallery = images.check_offer_images(emu, body.get("images"), product)
    described = images.check_description_images(emu, body.get("description"), product)
    now = iso(emu.now())
    offer_id = emu.new_offer_id()
    data: Json = {
        "id": offer_id,
        "name": str(body.get("name") or product["name"])[:75],
        "productSet": [
            {
                "product": {
                    "id": product["id"],
                    "publication": product.get("publication", {"status": "LISTED"}),
                    "parameters": [
                        {k: v for k, v in p.items() if k in ("id", "name", "values", "valuesIds")}
                        for p in product.get("parameters", [])
                    ],
                },
                "quantity": {"value": 1},
                "responsibleProducer": None,
                "responsiblePerson": None,
                "marketedBeforeGPSRObligation": None,
            }
        ],
        "category": {"id": category_id},
        "parameters": body.get("parameters") or [],
        "sellingMode": {"format": "BUY_NOW", **({"price": price} if price else {})},
        "stock": {"available": available, "unit": stock.get("unit", "UNIT")},
        "delivery": {
            "handlingTime": "PT24H",
            **{k: v for k, v in (body.get("delivery") or {}).items() if k != "shippingRates"},
        },
        "afterSalesServices": {},
        "location": body.get("location")
        or {
            "countryCode": "PL",
            "province": "WIELKOPOLSKIE",
            "city": "Poznań",
            "postCode": "60-001",
        },
        "payments": body.get("payments") or {"invoice": "VAT"},
        "publication": {
            "status": "INACTIVE",
            "republish": False,
            "marketplaces": {"base": {"id": user.base_marketplace}, "additional": []},
        },
        "additionalMarketplaces": {
            mp: {"sellingMode": (entry or {}).get("sellingMode")}
            for mp, entry in (body.get("additionalMarketplaces") or {}).items()
        },
        "images": gallery or [i["url"] for i in product.get("images", [])],
        "description": body.get("description") or product.get("description") or {"sections": []},
        "language": body.get("language") or MARKETPLACES[user.base_marketplace]["language"],
        "b2b": {"buyableOnlyByBusiness": False},
        "validation": {"errors": [], "warnings": [], "validatedAt": now},
        "warnings": [],
        "createdAt": now,
        "updatedAt": now,
    }
    if body.get("external"):
        data["external"] = {"id": str(body["external"].get("id", ""))[:100]}
    if body.get("taxSettings"):
        data["taxSettings"] = body["taxSettings"]
    resolve_settings(user, data, body)
    given_set = body.get("productSet") or [{}]
    gpsr.apply_product_safety(user, data["productSet"][0], given_set[0], body.get("parameters"))
    offer = Offer(data=data, seller_id=user.id, product_id=product["id"])
    duration = (body.get("publication") or {}).get("duration")
    if duration:
        data["publication"]["duration"] = duration
    wants_active = (body.get("publication") or {}).get("status") == "ACTIVE"
    problems = activation_errors(emu, offer)
    if wants_active and problems:
        raise AllegroError(422, problems[0]["code"], problems[0]["message"], errors=problems)
    data["validation"]["errors"] = [] if wants_active else problems
    user.offers[offer_id] = offer
    images.mark_used(emu, [*gallery, *described])
    index_external(user, offer_id, None, (data.get("external") or {}).get("id"))
    if emu.random.random() < emu.config.async_offer_share:
        if wants_active:
            activate(emu, user, offer, immediately=False)
        return offer, start_operation(emu, user, offer)
    if wants_active:
        activate(emu, user, offer)
    return offer, None


_MERGED = (
    "sellingMode",
    "stock",
    "delivery",
    "afterSalesServices",
    "location",
    "payments",
    "b2b",
    "external",
)
_REPLACED = ("name", "parameters", "images", "description", "category", "taxSettings", "language")


def check_editable(offer: Offer) -> None:
    """An edit while an operation on the offer is running gets 409."""
    if offer.operation is not None:
        raise AllegroError(
            409,
            "OfferConflictException",
            "The previous edition of this offer is still being processed",
            user_message="The previous edition of this offer is still being processed.",
            user_message_pl="Poprzednia edycja oferty jest jeszcze przetwarzana.",
        )


def edit(emu: Emulator, user: Seller, offer: Offer, body: Json) -> Operation | None:
    """`PATCH /sale/product-offers/{id}`: validated against the whole offer, then applied with
    its transitions (stock, activation, end, qualification); the operation when asynchronous."""
    data = offer.data
    if "sellingMode" in body and (body["sellingMode"] or {}).get("price") is not None:
        check_price_format(body["sellingMode"]["price"], user.base_marketplace, "sellingMode.price")
    check_additional_marketplaces(user, body)
    if "stock" in body:
        available = (body["stock"] or {}).get("available")
        if available is not None and (
            not isinstance(available, int) or not 0 <= available <= MAX_STOCK
        ):
            raise AllegroError(
                422,
                "VALIDATION_ERROR",
                f"stock.available must be 0..{MAX_STOCK}",
                path="stock.available",
            )
    check_handling_time(body)
    described: list[str] = []
    if "images" in body or "description" in body:
        product = catalogue.find_product(emu, offer.product_id) if offer.product_id else None
        if "images" in body:
            images.check_offer_images(emu, body["images"], product)
        if "description" in body:
            described = images.check_description_images(emu, body["description"], product)
    old_price = (data.get("sellingMode") or {}).get("price")
    old_stock = (data.get("stock") or {}).get("available")
    old_external = (data.get("external") or {}).get("id")
    # A PATCH is validated against the whole offer (allegro/allegro-api#4830): work on a copy.
    candidate: Json = {**data}
    for key in _MERGED:
        if isinstance(body.get(key), dict):
            candidate[key] = {**(data.get(key) or {}), **body[key]}
    for key in _REPLACED:
        if key in body:
            candidate[key] = body[key]
    for mp, entry in (body.get("additionalMarketplaces") or {}).items():
        markets = candidate["additionalMarketplaces"] = dict(
            candidate.get("additionalMarketplaces") or {}
        )
        markets[mp] = {**(markets.get(mp) or {}), "sellingMode": (entry or {}).get("sellingMode")}
    resolve_settings(user, candidate, body)
    given_set = body.get("productSet")
    if isinstance(given_set, list) and given_set and isinstance(given_set[0], dict):
        # Only the product-safety fields of the product set can change here.
        element = {**data["productSet"][0]}
        candidate["productSet"] = [element, *data["productSet"][1:]]
        gpsr.apply_product_safety(user, element, given_set[0], candidate.get("parameters"))
    requested = (body.get("publication") or {}).get("status")
    if (body.get("publication") or {}).get("duration"):
        candidate["publication"] = {
            **data["publication"],
            "duration": body["publication"]["duration"],
        }
    if "parameters" in body:
        category_id = candidate["category"]["id"]
        defs = parameters.definitions(emu, category_id)
        parameters.check_values(defs, category_id, body["parameters"], "parameters")
    trial = Offer(data=candidate, seller_id=user.id, product_id=offer.product_id)
    status_now = data["publication"]["status"]
    problems = []
    if requested == "ACTIVE" and status_now in ("INACTIVE", "ENDED"):
        problems = activation_errors(emu, trial)
    elif status_now in ("ACTIVE", "ACTIVATING") and requested != "ENDED":
        # A PATCH is validated against the whole offer: a live one keeps its required
        # parameters (even one that became required since it was published) and its GPSR data.
        problems = missing_parameter_errors(emu, candidate) + gpsr.safety_errors(user, candidate)
    if problems:
        raise AllegroError(422, problems[0]["code"], problems[0]["message"], errors=problems)
    stock_value = (candidate.get("stock") or {}).get("available")
    candidate["stock"] = {**(candidate.get("stock") or {}), "available": old_stock}
    offer.data = data = candidate
    images.mark_used(emu, [*(body.get("images") or []), *described])
    data["updatedAt"] = iso(emu.now())
    index_external(user, data["id"], old_external, (data.get("external") or {}).get("id"))
    if data["sellingMode"].get("price") != old_price:
        emit_offer_event(
            emu,
            user,
            "OFFER_PRICE_CHANGED",
            offer,
            {"marketplaces": [{"id": user.base_marketplace, "changeType": "MANUAL"}]},
        )
    else:
        emit_offer_event(emu, user, "OFFER_CHANGED", offer)
    if isinstance(stock_value, int) and stock_value != old_stock:
        set_stock(emu, user, offer, stock_value)
    status = data["publication"]["status"]
    go_async = emu.random.random() < emu.config.async_offer_share
    if requested == "ACTIVE" and status in ("INACTIVE", "ENDED"):
        activate(emu, user, offer, immediately=not go_async)
    elif requested == "ENDED":
        end(emu, user, offer, "USER")
    elif status in ("ACTIVE", "ACTIVATING"):
        schedule_qualification(emu, user, offer)
    return start_operation(emu, user, offer) if go_async else None
