"""Offers: `/sale/product-offers` (create, edit, read, operations) and `/sale/offers`
(allegro-api.md section 5). Routes only: they parse, call the lifecycle (`offer_lifecycle.py`:
validation, state transitions, qualification) and shape the answer.

A create or edit Allegro goes on with asynchronously answers 202 with a `Location` to an
operation that answers 202 until the work is done, then 303 to the offer.
"""

from __future__ import annotations

import math
from decimal import Decimal

from fastapi import APIRouter, Request
from starlette.responses import Response

from allegro_emulator import images, parameters
from allegro_emulator import offer_lifecycle as lifecycle
from allegro_emulator.errors import AllegroError, not_found
from allegro_emulator.offer_lifecycle import offer_parameters
from allegro_emulator.state import Emulator, Json, Offer, Operation, Seller, iso
from allegro_emulator.web import body_json, query_int, query_list, respond, seller

router = APIRouter()

MAX_OFFSET = 9_999_999


# --- product-offers ------------------------------------------------------------------------------
def _location(request: Request, emu: Emulator, offer_id: str, operation_id: str) -> str:
    base = str(request.base_url).rstrip("/") + emu.config.rest_prefix
    return f"{base}/sale/product-offers/{offer_id}/operations/{operation_id}"


def _operation_headers(request: Request, emu: Emulator, operation: Operation) -> dict[str, str]:
    return {
        "Location": _location(request, emu, operation.offer_id, operation.id),
        "Retry-after": str(max(1, math.ceil(emu.config.operation_seconds))),
    }


@router.post("/sale/product-offers")
async def create_product_offer(request: Request) -> Response:
    emu, user = seller(request, limit="product-offers:POST")
    offer, operation = lifecycle.create(emu, user, await body_json(request))
    if operation is not None:
        return respond(offer.data, 202, _operation_headers(request, emu, operation))
    return respond(offer.data, 201)


def _own_offer(user: Seller, offer_id: str) -> Offer:
    offer = user.offers.get(offer_id)
    if offer is None:
        raise AllegroError(
            404,
            "OfferNotFoundException",
            f"Offer {offer_id} not found",
            user_message="Offer not found",
            metadata={"offerId": offer_id},
        )
    return offer


@router.patch("/sale/product-offers/{offerId}")
async def edit_product_offer(request: Request, offerId: str) -> Response:
    emu, user = seller(request, limit="product-offers:PATCH")
    emu.run_due()
    offer = _own_offer(user, offerId)
    lifecycle.check_editable(offer)
    operation = lifecycle.edit(emu, user, offer, await body_json(request))
    if operation is not None:
        return respond(offer.data, 202, _operation_headers(request, emu, operation))
    return respond(offer.data)


@router.post("/sale/images")
async def upload_image(request: Request) -> Response:
    """Allegro hosts offer images: a JSON `{"url"}` to fetch or the image bytes themselves
    (on upload.allegro.pl in production). Nothing is fetched here; each upload gets a new
    Allegro-style location, which expires unless an offer uses it (`images.py`)."""
    emu, user = seller(request)
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    url: str | None = None
    if content_type.startswith("image/"):
        if not raw:
            raise AllegroError(422, "VALIDATION_ERROR", "Empty image")
        source = raw
        extension = content_type.split("/", 1)[1].split(";")[0]
    else:
        given = (await body_json(request)).get("url")
        if not isinstance(given, str) or not given.startswith(("http://", "https://")):
            raise AllegroError(422, "VALIDATION_ERROR", "url must be an http(s) URL", path="url")
        url = given
        source = url.encode()
        extension = url.rsplit(".", 1)[-1].lower() if "." in url.rsplit("/", 1)[-1] else "jpg"
    return respond(images.upload(emu, user, source, extension, url), 201)


@router.get("/sale/product-offers/{offerId}")
async def get_product_offer(request: Request, offerId: str) -> Response:
    emu, user = seller(request, limit="product-offers:GET")
    emu.run_due()
    return respond(_own_offer(user, offerId).data)


@router.get("/sale/product-offers/{offerId}/parts")
async def get_product_offer_parts(request: Request, offerId: str) -> Response:
    emu, user = seller(request, limit="product-offers:GET")
    emu.run_due()
    data = _own_offer(user, offerId).data
    parts = query_list(request, "include")
    if not parts:
        raise AllegroError(400, "VALIDATION_ERROR", "include is required", path="include")
    body: Json = {"id": data["id"]}
    for part in parts:
        if part == "stock":
            body["stock"] = {"available": data["stock"]["available"]}
        elif part == "price":
            body["sellingMode"] = {"price": data["sellingMode"].get("price")}
            body["additionalMarketplaces"] = {
                mp: {"sellingMode": {"price": (e.get("sellingMode") or {}).get("price")}}
                for mp, e in (data.get("additionalMarketplaces") or {}).items()
                if (e.get("sellingMode") or {}).get("price")
            }
        else:
            raise AllegroError(
                400,
                "UnknownProductOfferPartException",
                f"Unknown part {part}",
                path="include",
                metadata={"requestedPart": part, "validParts": "stock,price"},
            )
    return respond(body)


@router.get("/sale/product-offers/{offerId}/operations/{operationId}")
async def get_operation(request: Request, offerId: str, operationId: str) -> Response:
    emu, user = seller(request)
    emu.run_due()
    operation = user.operations.get(operationId)
    if operation is None or operation.offer_id != offerId:
        raise not_found("Operation", operationId)
    offer = user.offers[offerId]
    if offer.operation is operation:
        return respond(
            {
                "offer": {"id": offerId},
                "operation": {
                    "id": operationId,
                    "status": "IN_PROGRESS",
                    "startedAt": iso(operation.started_at),
                },
            },
            202,
            {"Retry-after": str(max(1, math.ceil(operation.due_at - emu.now())))},
        )
    base = str(request.base_url).rstrip("/") + emu.config.rest_prefix
    return Response(status_code=303, headers={"Location": f"{base}/sale/product-offers/{offerId}"})


# --- /sale/offers -----
def listing_item(user: Seller, offer: Offer) -> Json:
    data = offer.data
    publication = data["publication"]
    pub: Json = {"status": publication["status"], "marketplaces": publication["marketplaces"]}
    if publication.get("startingAt"):
        pub["startedAt"] = publication["startingAt"]
    if publication["status"] == "ENDED" and publication.get("endingAt"):
        pub["endedAt"] = publication["endingAt"]
    item: Json = {
        "id": data["id"],
        "name": data["name"],
        "category": data["category"],
        "sellingMode": {
            "format": "BUY_NOW",
            **({"price": data["sellingMode"]["price"]} if data["sellingMode"].get("price") else {}),
        },
        "stock": {"available": data["stock"]["available"], "sold": sum(offer.sold.values())},
        "stats": None,
        "publication": pub,
        "afterSalesServices": {k: v for k, v in data.get("afterSalesServices", {}).items() if v},
        "delivery": {"shippingRates": data["delivery"].get("shippingRates")},
        "b2b": data.get("b2b", {"buyableOnlyByBusiness": False}),
        "isFulfillment": False,
        "additionalMarketplaces": {
            mp: {
                "publication": entry.get("publication"),
                "sellingMode": {"price": entry["sellingMode"]["price"]}
                if (entry.get("sellingMode") or {}).get("price")
                else None,
                "stock": {"sold": offer.sold.get(mp, 0)},
            }
            for mp, entry in (data.get("additionalMarketplaces") or {}).items()
        },
    }
    if data.get("images"):
        item["primaryImage"] = {"url": data["images"][0]}
    if data.get("external"):
        item["external"] = data["external"]
    return item


_SORT_KEYS = {
    "sellingMode.price.amount": lambda o: Decimal(
        (o.data["sellingMode"].get("price") or {}).get("amount", "0")
    ),
    "stock.sold": lambda o: sum(o.sold.values()),
    "stock.available": lambda o: o.data["stock"]["available"],
}


@router.get("/sale/offers")
async def search_offers(request: Request) -> Response:
    emu, user = seller(request)
    emu.run_due()
    q = request.query_params
    if q.get("sort") and q["sort"].lstrip("-") not in _SORT_KEYS:
        raise AllegroError(400, "VALIDATION_ERROR", f"Unknown sort {q['sort']}", path="sort")
    limit = query_int(request, "limit", 20, 1, 1000, status=400)
    # The spec: offset <= 9,999,999 and offset + limit <= 10,000,000.
    offset = query_int(request, "offset", 0, 0, MAX_OFFSET, status=400)
    if offset + limit > MAX_OFFSET + 1:
        raise AllegroError(
            400,
            "VALIDATION_ERROR",
            f"offset + limit must not exceed {MAX_OFFSET + 1}",
            path="offset",
        )
    ids = query_list(request, "offer.id")
    externals = query_list(request, "external.id")
    if len(externals) > 100:
        raise AllegroError(
            400, "VALIDATION_ERROR", "At most 100 external.id values", path="external.id"
        )
    statuses = set(query_list(request, "publication.status"))
    marketplace = q.get("publication.marketplace")
    name = (q.get("name") or "").lower()
    price_gte, price_lte = (
        q.get("sellingMode.price.amount.gte"),
        q.get("sellingMode.price.amount.lte"),
    )
    rates_id = q.get("delivery.shippingRates.id")
    category_id = q.get("category.id")
    return_policy_id = q.get("afterSalesServices.returnPolicy.id")
    product_empty = q.get("product.id.empty")
    if externals:
        candidates = [
            user.offers[i] for e in externals for i in sorted(user.offers_by_external.get(e, ()))
        ]
    elif ids:
        candidates = [user.offers[i] for i in ids if i in user.offers]
    else:
        candidates = list(user.offers.values())
    selected = []
    for offer in candidates:
        data = offer.data
        if ids and data["id"] not in ids:
            continue
        if statuses and data["publication"]["status"] not in statuses:
            continue
        if (
            marketplace
            and marketplace != user.base_marketplace
            and not any(
                m["id"] == marketplace for m in data["publication"]["marketplaces"]["additional"]
            )
        ):
            continue
        if name and name not in data["name"].lower():
            continue
        amount = (data["sellingMode"].get("price") or {}).get("amount")
        if price_gte and (amount is None or Decimal(amount) < Decimal(price_gte)):
            continue
        if price_lte and (amount is None or Decimal(amount) > Decimal(price_lte)):
            continue
        if rates_id and (data["delivery"].get("shippingRates") or {}).get("id") != rates_id:
            continue
        if category_id and data["category"]["id"] != category_id:
            continue
        if return_policy_id and (
            (data["afterSalesServices"].get("returnPolicy") or {}).get("id") != return_policy_id
        ):
            continue
        if product_empty is not None and (offer.product_id is None) != (product_empty == "true"):
            continue
        selected.append(offer)
    sort = q.get("sort")
    if sort:
        selected.sort(key=_SORT_KEYS[sort.lstrip("-")], reverse=sort.startswith("-"))
    page = selected[offset : offset + limit]
    return respond(
        {
            "offers": [listing_item(user, o) for o in page],
            "count": len(page),
            "totalCount": len(selected),
        }
    )


@router.delete("/sale/offers/{offerId}")
async def delete_offer(request: Request, offerId: str) -> Response:
    """Only drafts (offers never published) can be deleted."""
    emu, user = seller(request)
    emu.run_due()
    offer = _own_offer(user, offerId)
    if offer.data["publication"]["status"] != "INACTIVE" or offer.data["publication"].get(
        "startingAt"
    ):
        raise AllegroError(
            403,
            "ACCESS_DENIED",
            "Only a draft offer can be deleted",
            user_message="Only a draft offer can be deleted.",
            user_message_pl="Można usunąć tylko szkic oferty.",
        )
    del user.offers[offerId]
    lifecycle.index_external(user, offerId, (offer.data.get("external") or {}).get("id"), None)
    return Response(status_code=204)


@router.get("/sale/offers/unfilled-parameters")
async def unfilled_parameters(request: Request) -> Response:
    """Offers lacking parameters that are required (or scheduled to be); drafts never
    published are left out, as on Allegro (allegro/allegro-api#8115)."""
    emu, user = seller(request)
    emu.run_due()
    kind = request.query_params.get("parameterType")
    if kind not in (None, "REQUIRED", "REQUIREMENT_PLANNED"):
        raise AllegroError(
            400, "VALIDATION_ERROR", f"Unknown parameterType {kind}", path="parameterType"
        )
    limit = query_int(request, "limit", 100, 1, 1000, status=400)
    offset = query_int(request, "offset", 0, 0, 2**31 - 1, status=400)
    ids = set(query_list(request, "offer.id"))
    found = []
    for offer in user.offers.values():
        data = offer.data
        never_published = data["publication"]["status"] == "INACTIVE" and not data[
            "publication"
        ].get("startingAt")
        if never_published or (ids and data["id"] not in ids):
            continue
        category_id = data["category"]["id"]
        defs = parameters.definitions(emu, category_id)
        given = offer_parameters(data)
        unfilled: list[str] = []
        if kind in (None, "REQUIRED"):
            unfilled += [p["id"] for p in parameters.missing(defs, given)]
        if kind in (None, "REQUIREMENT_PLANNED"):
            soon = parameters.planned(emu, category_id)
            unfilled += [
                p["id"]
                for p in parameters.missing(
                    [{**p, "required": p["id"] in soon} for p in defs], given
                )
                if p["id"] not in unfilled
            ]
        if unfilled:
            found.append(
                {
                    "id": data["id"],
                    "parameters": [{"id": pid} for pid in unfilled],
                    "category": {"id": category_id},
                }
            )
    page = found[offset : offset + limit]
    return respond({"offers": page, "count": len(page), "totalCount": len(found)})
