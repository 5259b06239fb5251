"""Account, marketplaces, categories and Allegro's product catalogue (allegro-api.md 3, 4, 9)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from allegro_emulator import parameters
from allegro_emulator.errors import AllegroError, not_found
from allegro_emulator.seed import (
    CATEGORIES,
    CATEGORY_BY_ID,
    LEAF_CATEGORIES,
    MARKETPLACES,
    PARAM_EAN,
    allegro_product,
    allegro_products_for_gtin,
    category_path,
    row_for_product_id,
)
from allegro_emulator.state import Emulator, Json, parse_iso
from allegro_emulator.web import caller, query_int, respond, seller

router = APIRouter()

_LEAVES = set(LEAF_CATEGORIES)
_PARENTS = {cid: parent for cid, _, parent, _ in CATEGORIES}


@router.get("/me")
async def me(request: Request) -> Response:
    _, user = seller(request)
    return respond(user.me())


@router.get("/marketplaces")
async def marketplaces(request: Request) -> Response:
    seller(request)  # the spec allows only user tokens here
    items = []
    for mp_id, mp in MARKETPLACES.items():
        items.append(
            {
                "id": mp_id,
                "languages": {
                    "offerCreation": [{"code": mp["language"]}, {"code": "en-US"}],
                    "offerDisplay": [{"code": mp["language"]}],
                },
                "currencies": {"base": {"code": mp["currency"]}, "additional": []},
                "shippingCountries": [{"code": mp["country"]}],
            }
        )
    return respond({"marketplaces": items})


def category_dto(category_id: str) -> Json:
    cid, name, parent, _ = CATEGORY_BY_ID[category_id]
    dto: Json = {
        "id": cid,
        "name": name,
        "leaf": cid in _LEAVES,
        "options": {
            "advertisement": False,
            "offersWithProductPublicationEnabled": True,
            "productCreationEnabled": True,
            "sellerCanRequirePurchaseComments": False,
        },
    }
    if parent:  # roots have no parent; the spec does not allow null here
        dto["parent"] = {"id": parent}
    return dto


def _category_or_404(category_id: str) -> None:
    if category_id not in CATEGORY_BY_ID:
        raise AllegroError(
            404,
            "NOT_FOUND",
            f"Category {category_id} not found",
            user_message="Category not found",
        )


@router.get("/sale/categories")
async def categories(request: Request) -> Response:
    caller(request)
    parent = request.query_params.get("parent.id")
    if parent is not None:
        _category_or_404(parent)
    items = [category_dto(cid) for cid, _, p, _ in CATEGORIES if p == parent]
    return respond({"categories": items})


@router.get("/sale/categories/{categoryId}")
async def category(request: Request, categoryId: str) -> Response:
    caller(request)
    _category_or_404(categoryId)
    return respond(category_dto(categoryId))


@router.get("/sale/categories/{categoryId}/parameters")
async def category_parameters(request: Request, categoryId: str) -> Response:
    emu, _ = caller(request)
    _category_or_404(categoryId)
    return respond({"parameters": parameters.definitions(emu, categoryId)})


def _product_parameter(param: Json) -> Json:
    """A `CategoryProductParameter`: `required` means required to create a product."""
    item = {k: v for k, v in param.items() if k not in ("requiredForProduct", "options")}
    item["required"] = param["requiredForProduct"]
    return item


@router.get("/sale/categories/{categoryId}/product-parameters")
async def product_parameters(request: Request, categoryId: str) -> Response:
    emu, _ = caller(request)
    _category_or_404(categoryId)
    params = parameters.definitions(emu, categoryId)
    return respond(
        {"parameters": [_product_parameter(p) for p in params if p["options"]["describesProduct"]]}
    )


@router.get("/sale/category-parameters-scheduled-changes")
async def scheduled_changes(request: Request) -> Response:
    emu, _ = caller(request)
    q = request.query_params
    bounds: dict[str, float] = {}
    for name in ("scheduledFor.gte", "scheduledFor.lte", "scheduledAt.gte", "scheduledAt.lte"):
        if q.get(name):
            try:
                bounds[name] = parse_iso(q[name])
            except ValueError:
                raise AllegroError(
                    400, "VALIDATION_ERROR", f"{name} must be an ISO date-time", path=name
                ) from None
    if any(t != "REQUIREMENT_CHANGE" for t in q.getlist("type")):
        raise AllegroError(400, "VALIDATION_ERROR", "Unknown type", path="type")
    limit = query_int(request, "limit", 100, 1, 1000, status=400)
    offset = query_int(request, "offset", 0, 0, 2**31 - 1, status=400)
    found = []
    for change in parameters.scheduled_changes(emu):
        times = {
            "scheduledFor": parse_iso(change["scheduledFor"]),
            "scheduledAt": parse_iso(change["scheduledAt"]),
        }
        if all(
            times[name.split(".")[0]] >= value
            if name.endswith("gte")
            else times[name.split(".")[0]] <= value
            for name, value in bounds.items()
        ):
            found.append(change)
    return respond({"scheduledChanges": found[offset : offset + limit]})


def _suggestion_node(category_id: str) -> Json:
    cid, name, parent, _ = CATEGORY_BY_ID[category_id]
    node: Json = {"id": cid, "name": name}
    if parent:
        node["parent"] = _suggestion_node(parent)
    return node


_WORD = re.compile(r"\w+", re.UNICODE)


@router.get("/sale/matching-categories")
async def matching_categories(request: Request) -> Response:
    emu, user = seller(request)  # user tokens only, per the spec
    emu.limiter.check("matching-categories", user.id, emu.now())
    name = request.query_params.get("name")
    if not name:
        raise AllegroError(422, "VALIDATION_ERROR", "Parameter name is required", path="name")
    words = {w.lower()[:5] for w in _WORD.findall(name) if len(w) > 2}
    scored = []
    for leaf in LEAF_CATEGORIES:
        text = " ".join(n for _, n in category_path(leaf)).lower()
        score = sum(1 for w in words if w in text)
        if score:
            scored.append((score, leaf))
    scored.sort(key=lambda s: -s[0])
    return respond({"matchingCategories": [_suggestion_node(leaf) for _, leaf in scored[:5]]})


@router.get("/sale/tax-settings")
async def tax_settings(request: Request) -> Response:
    seller(request)
    category_id = request.query_params.get("category.id", "")
    _category_or_404(category_id)
    country = request.query_params.get("countryCode", "PL")
    rates = {
        "PL": ["23.00", "8.00", "5.00", "0.00"],
        "CZ": ["21.00", "12.00", "0.00"],
        "SK": ["23.00", "19.00", "5.00", "0.00"],
        "HU": ["27.00", "18.00", "5.00", "0.00"],
    }
    return respond(
        {
            "subjects": [{"label": "Towar", "value": "GOODS"}],
            "rates": [
                {
                    "countryCode": country,
                    "values": [
                        {"label": f"{r}%", "value": r, "exemptionRequired": False}
                        for r in rates.get(country, rates["PL"])
                    ],
                }
            ],
            "exemptions": [],
        }
    )


# --- products ---
def find_product(emu: Emulator, product_id: str) -> Json | None:
    extra = emu.world.extra_products.get(product_id)
    if extra is not None:
        return extra
    located = row_for_product_id(emu.catalogue, product_id)
    if located is None:
        return None
    return allegro_product(emu.catalogue, *located)


def products_for_gtin(emu: Emulator, gtin: str) -> list[Json]:
    found = allegro_products_for_gtin(emu.catalogue, gtin)
    found += [emu.world.extra_products[p] for p in emu.world.extra_products_by_gtin.get(gtin, [])]
    return found


def _search_listing(product: Json) -> Json:
    # Search results leave the EAN out of `parameters` (allegro/allegro-api#6363).
    listing: dict[str, Any] = dict(product)
    listing["parameters"] = [p for p in product["parameters"] if p["id"] != PARAM_EAN]
    return listing


@router.get("/sale/products")
async def search_products(request: Request) -> Response:
    emu, user = seller(request)
    # Allegro's leaky bucket here has no published figure: off unless a "sale-products" limit
    # is configured (PUT /__admin/config {"rate_limits": {"sale-products": {...}}}).
    emu.limiter.check("sale-products", user.id, emu.now())
    q = request.query_params
    phrase = (q.get("phrase") or "").strip()
    mode = q.get("mode")
    if mode not in (None, "GTIN", "MPN"):
        raise AllegroError(422, "VALIDATION_ERROR", f"Unknown mode {mode}", path="mode")
    found: list[Json] = []
    if phrase and (mode == "GTIN" or (mode is None and phrase.isdigit())):
        found = products_for_gtin(emu, phrase)
    category_id = q.get("category.id")
    if category_id:
        found = [p for p in found if p["category"]["id"] == category_id]
    subcategories: dict[str, int] = {}
    for p in found:
        subcategories[p["category"]["id"]] = subcategories.get(p["category"]["id"], 0) + 1
    return respond(
        {
            "products": [_search_listing(p) for p in found],
            "categories": {
                "subcategories": [
                    {"id": cid, "name": CATEGORY_BY_ID[cid][1], "count": n}
                    for cid, n in subcategories.items()
                ],
                "path": [],
            },
            "filters": [],
        }
    )


@router.get("/sale/products/{productId}")
async def get_product(request: Request, productId: str) -> Response:
    emu, user = seller(request)
    emu.limiter.check("sale-products", user.id, emu.now())
    product = find_product(emu, productId)
    if product is None:
        raise not_found("Product", productId)
    return respond(product)


# Used by offers, so this module stays the only owner of the category tree.
def is_leaf(category_id: str) -> bool:
    return category_id in _LEAVES


def exists(category_id: str) -> bool:
    return category_id in _PARENTS
