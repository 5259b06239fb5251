"""Admin endpoints under a separate prefix (`/__admin` by default): not part of Allegro's API.

Tests, benchmarks and demos use them to seed accounts and clients, approve OAuth requests, place
orders as a buyer, inject faults, tune the emulator, and read counters and the full state.
Bodies are plain `application/json`.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from decimal import Decimal
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from allegro_emulator import oauth, orders, pricing
from allegro_emulator.errors import AllegroError
from allegro_emulator.marketplaces import check_price_format
from allegro_emulator.offer_lifecycle import (
    MAX_STOCK,
    activate,
    end,
    fail_validation,
    set_price,
    set_stock,
)
from allegro_emulator.offers import listing_item
from allegro_emulator.seed import (
    CATEGORY_BY_ID,
    DELIVERY_METHODS,
    LEAF_CATEGORIES,
    PARAM_BRAND,
    PARAM_EAN,
    allegro_presence,
    category_parameters,
    category_path,
    product_parameter_values,
    supplier_product,
)
from allegro_emulator.state import Client, Emulator, Faults, Json, Seller, World, iso

router = APIRouter()

DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-secret"
DEMO_REDIRECT_URIS = [
    "http://127.0.0.1:8001/accounts/oauth/callback",  # the auth service's callback
    "http://localhost:8001/accounts/oauth/callback",
    "http://127.0.0.1:8001/allegro/callback",
    "http://localhost:8001/allegro/callback",
]


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


async def _body(request: Request) -> Json:
    raw = await request.body()
    data = orjson.loads(raw) if raw else {}
    if not isinstance(data, dict):
        raise AllegroError(400, "VALIDATION_ERROR", "Body must be a JSON object")
    return data


def add_seller(
    emu: Emulator,
    login: str,
    *,
    prerequisites: bool = True,
    seller_id: str | None = None,
    base_marketplace: str = "allegro-pl",
) -> Seller:
    """Create a seller; with `prerequisites` it gets a 'default' return policy, implied warranty
    and shipping rates set (PL and all additional marketplaces) like a ready account."""
    user_id = seller_id or str(10_000_000 + len(emu.world.sellers) + 1)
    user = Seller(
        user_id,
        login,
        f"{login}@example.com",
        "Demo",
        "Seller",
        f"{login} sp. z o.o.",
        base_marketplace=base_marketplace,
    )
    emu.world.sellers[user_id] = user
    if prerequisites:
        policy_id, warranty_id, rates_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        user.return_policies[policy_id] = {
            "id": policy_id,
            "name": "default",
            "isFulfillment": False,
            "seller": {"id": user_id},
            "availability": {"range": "FULL", "restrictionCause": None},
            "withdrawalPeriod": "P14D",
            "returnCost": {"coveredBy": "BUYER"},
            "address": {
                "name": login,
                "street": "Magazynowa 1",
                "postCode": "60-001",
                "city": "Poznań",
                "countryCode": "PL",
            },
        }
        user.implied_warranties[warranty_id] = {
            "id": warranty_id,
            "name": "default",
            "individual": {"period": "P2Y"},
            "corporate": {"period": "P1Y"},
            "address": {
                "name": login,
                "street": "Magazynowa 1",
                "postCode": "60-001",
                "city": "Poznań",
                "countryCode": "PL",
            },
        }
        user.shipping_rates[rates_id] = {
            "id": rates_id,
            "name": "default",
            "lastModified": iso(emu.now()),
            "rates": [
                {
                    "deliveryMethod": {"id": m[0]},
                    "maxQuantityPerPackage": 10,
                    "firstItemRate": {"amount": "12.99", "currency": "PLN"},
                    "nextItemRate": {"amount": "0.00", "currency": "PLN"},
                }
                for m in DELIVERY_METHODS
                if m[3] == "IN_ADVANCE"
            ],
        }
    return user


def seed_defaults(emu: Emulator) -> None:
    """The world at start: a demo client, two ready sellers and one without any settings."""
    emu.world = World()
    emu.world.clients[DEMO_CLIENT_ID] = Client(
        DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, "Demo app", list(DEMO_REDIRECT_URIS)
    )
    add_seller(emu, "demo-seller", seller_id="10000001")
    add_seller(emu, "demo-seller-2", seller_id="10000002")
    add_seller(emu, "new-seller", seller_id="10000003", prerequisites=False)


def _seller(emu: Emulator, login: str | None) -> Seller:
    user = emu.seller_by_login(login or "demo-seller")
    if user is None:
        raise AllegroError(404, "NOT_FOUND", f"No seller {login}")
    return user


@router.post("/reset")
async def reset(request: Request) -> Response:
    emu: Emulator = request.app.state.emulator
    seed_defaults(emu)
    emu.limiter.reset()
    emu.counters.clear()
    emu.faults = Faults()
    emu.buyer = None
    emu.clock_offset = 0.0
    return _json({"status": "reset"})


@router.post("/snapshot")
async def snapshot(request: Request) -> Response:
    emu: Emulator = request.app.state.emulator
    body = await _body(request)
    path = body.get("path") or emu.config.snapshot_path
    if not path:
        raise AllegroError(422, "VALIDATION_ERROR", "No snapshot path configured")
    return _json({"path": emu.save_snapshot(path)})


@router.get("/config")
async def get_config(request: Request) -> Response:
    emu: Emulator = request.app.state.emulator
    return _json(dataclasses.asdict(emu.config))


@router.put("/config")
async def put_config(request: Request) -> Response:
    emu: Emulator = request.app.state.emulator
    try:
        emu.config.update(await _body(request))
    except KeyError as exc:
        raise AllegroError(422, "VALIDATION_ERROR", f"Unknown setting {exc}") from None
    emu.limiter.reset()
    return _json(dataclasses.asdict(emu.config))


@router.put("/catalogue")
async def set_catalogue(request: Request) -> Response:
    """Which seeded catalogue Allegro holds: `{"seed", "size", "missingShare", "ambiguousShare"}`
    (must match the spec the supplier catalogue was generated with)."""
    emu: Emulator = request.app.state.emulator
    body = await _body(request)
    names = {
        "seed": "catalogue_seed",
        "size": "catalogue_size",
        "missingShare": "missing_share",
        "ambiguousShare": "ambiguous_share",
    }
    emu.config.update({names[k]: v for k, v in body.items() if k in names})
    return _json(dataclasses.asdict(emu.catalogue))


@router.post("/catalogue/products")
async def add_catalogue_products(request: Request) -> Response:
    """Products Allegro's catalogue holds besides the seeded ones, found by their GTIN:
    `{"products": [{"ean", "name", "categoryId" (a leaf), "brand"?}]}`. A supplier whose codes
    are not the seeded catalogue's (the BigBuy emulator's) is then matched as on allegro.pl,
    where most branded products already exist. Idempotent per EAN: the id follows from it."""
    emu: Emulator = request.app.state.emulator
    products = (await _body(request)).get("products")
    if not isinstance(products, list):
        raise AllegroError(422, "VALIDATION_ERROR", "products must be a list", path="products")
    added = 0
    for index, item in enumerate(products):
        ean, name, leaf = (str(item.get(k) or "") for k in ("ean", "name", "categoryId"))
        if not ean or not name or leaf not in CATEGORY_BY_ID or leaf not in LEAF_CATEGORIES:
            raise AllegroError(
                422,
                "VALIDATION_ERROR",
                "each product needs an ean, a name and a leaf categoryId",
                path=f"products[{index}]",
            )
        product_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"allegro-emulator:gtin:{ean}"))
        if product_id in emu.world.extra_products:
            continue
        parameters: list[Json] = [
            {
                "id": PARAM_EAN,
                "name": "EAN (GTIN)",
                "values": [ean],
                "valuesLabels": [ean],
                "options": {"identifiesProduct": True, "isGTIN": True},
            }
        ]
        if item.get("brand"):
            parameters.append(
                {
                    "id": PARAM_BRAND,
                    "name": "Marka",
                    "values": [str(item["brand"])],
                    "valuesLabels": [str(item["brand"])],
                    "options": {"identifiesProduct": True, "isGTIN": False},
                }
            )
        rng = random.Random(f"gtin:{ean}")
        emu.world.extra_products[product_id] = {
            "id": product_id,
            "name": name[:75],
            "category": {
                "id": leaf,
                "path": [{"id": cid, "name": cname} for cid, cname in category_path(leaf)],
                "similar": [],
            },
            "images": [{"url": f"https://a.allegroimg.com/original/{ean}/0.jpg"}],
            "parameters": [*parameters, *product_parameter_values(leaf, rng)],
            "description": {
                "sections": [{"items": [{"type": "TEXT", "content": f"<p>{name}</p>"}]}]
            },
            "hasProtectedBrand": False,
            "publication": {"status": "LISTED"},
        }
        emu.world.extra_products_by_gtin.setdefault(ean, []).append(product_id)
        added += 1
    return _json({"added": added, "products": len(emu.world.extra_products)}, 201)


@router.get("/catalogue/sample")
async def catalogue_sample(request: Request) -> Response:
    """A few supplier rows with how many Allegro products match each EAN (0, 1 or 2)."""
    emu: Emulator = request.app.state.emulator
    count = min(int(request.query_params.get("n", "10")), 1000)
    spec = emu.catalogue
    rows = [
        {**supplier_product(spec, row), "allegroProducts": allegro_presence(spec, row)}
        for row in range(min(count, spec.size))
    ]
    return _json({"catalogue": dataclasses.asdict(spec), "rows": rows})


@router.post("/clock")
async def clock(request: Request) -> Response:
    """Move the emulator's clock forward (e.g. to age events past their retention)."""
    emu: Emulator = request.app.state.emulator
    emu.clock_offset += float((await _body(request)).get("advanceSeconds", 0))
    emu.run_due()
    return _json({"now": iso(emu.now())})


@router.post("/clients")
async def add_client(request: Request) -> Response:
    emu: Emulator = request.app.state.emulator
    body = await _body(request)
    client = Client(
        body.get("clientId") or uuid.uuid4().hex,
        body.get("clientSecret") or uuid.uuid4().hex,
        body.get("name", "Client"),
        list(body.get("redirectUris", [])),
    )
    emu.world.clients[client.client_id] = client
    return _json(dataclasses.asdict(client), 201)


@router.post("/sellers")
async def create_seller(request: Request) -> Response:
    emu: Emulator = request.app.state.emulator
    body = await _body(request)
    login = body.get("login") or f"seller-{uuid.uuid4().hex[:8]}"
    if emu.seller_by_login(login):
        raise AllegroError(409, "CONFLICT", f"Seller {login} exists")
    user = add_seller(
        emu,
        login,
        prerequisites=body.get("prerequisites", True),
        base_marketplace=body.get("baseMarketplace", "allegro-pl"),
    )
    return _json(user.me(), 201)


@router.post("/tokens")
async def mint_token(request: Request) -> Response:
    """A user token without going through a flow (for tests and benchmarks):
    `{"login", "clientId"?, "scope"?}` (space-separated scopes; default: all)."""
    emu: Emulator = request.app.state.emulator
    body = await _body(request)
    user = _seller(emu, body.get("login"))
    client_id = body.get("clientId", DEMO_CLIENT_ID)
    return _json(
        oauth.issue_tokens(emu, client_id, user.id, body.get("scope") or oauth.USER_SCOPES)
    )


@router.post("/oauth/authorize")
async def approve_authorization(request: Request) -> Response:
    """Approve an authorization-code request headlessly: returns the code and the redirect."""
    emu: Emulator = request.app.state.emulator
    body = await _body(request)
    client = emu.world.clients.get(body.get("clientId", ""))
    if client is None or not oauth.redirect_allowed(client, body.get("redirectUri", "")):
        raise AllegroError(422, "VALIDATION_ERROR", "Unknown client or redirect URI mismatch")
    user = _seller(emu, body.get("login"))
    code = oauth.grant_code(
        emu,
        client.client_id,
        body["redirectUri"],
        user.id,
        body.get("codeChallenge"),
        body.get("codeChallengeMethod"),
        body.get("scope"),
    )
    state = f"&state={body['state']}" if body.get("state") else ""
    return _json({"code": code, "redirectUrl": f"{body['redirectUri']}?code={code}{state}"})


@router.post("/oauth/device/{user_code}/{decision}")
async def device_decision(request: Request, user_code: str, decision: str) -> Response:
    emu: Emulator = request.app.state.emulator
    body = await _body(request)
    if decision not in ("approve", "deny"):
        raise AllegroError(404, "NOT_FOUND", "decision is approve or deny")
    done = oauth.decide_device(
        emu, user_code, body.get("login", "demo-seller"), decision == "approve"
    )
    if done is None:
        raise AllegroError(404, "NOT_FOUND", f"No pending device code {user_code}")
    return _json({"userCode": user_code, "status": done.status})


@router.post("/oauth/revoke")
async def revoke(request: Request) -> Response:
    emu: Emulator = request.app.state.emulator
    body = await _body(request)
    if body.get("token"):
        found = emu.world.access_tokens.pop(body["token"], None) or emu.world.refresh_tokens.pop(
            body["token"], None
        )
        return _json({"revoked": int(found is not None)})
    return _json({"revoked": oauth.revoke_user_tokens(emu, _seller(emu, body.get("login")).id)})


@router.post("/orders")
async def place_order(request: Request) -> Response:
    """Buy one offer as a buyer: `{"offerId", "quantity"?, "marketplaceId"?, "duplicate"?,
    "filledInLate"?, "paid"?}`
    (without offerId: a random active offer of `login`)."""
    emu: Emulator = request.app.state.emulator
    body = await _body(request)
    emu.run_due()
    if body.get("offerId"):
        pair = next(
            (
                (s, s.offers[body["offerId"]])
                for s in emu.world.sellers.values()
                if body["offerId"] in s.offers
            ),
            None,
        )
        if pair is None:
            raise AllegroError(404, "NOT_FOUND", f"No offer {body['offerId']}")
        user, offer = pair
    else:
        user = _seller(emu, body.get("login"))
        active = [o for o in user.offers.values() if o.data["publication"]["status"] == "ACTIVE"]
        if not active:
            raise AllegroError(422, "VALIDATION_ERROR", "The seller has no active offers")
        offer = active[emu.random.randrange(len(active))]
    form = orders.place_order(
        emu,
        user,
        offer,
        int(body.get("quantity", 1)),
        body.get("marketplaceId"),
        body.get("paymentType", "ONLINE"),
        body.get("duplicate"),
        bool(body.get("filledInLate", False)),
        bool(body.get("paid", True)),
    )
    return _json(form, 201)


@router.post("/orders/pay-together")
async def pay_together(request: Request) -> Response:
    """`{"checkoutFormIds": [...]}` of unpaid orders (placed with `"paid": false`): one new
    checkout form replaces them."""
    emu: Emulator = request.app.state.emulator
    ids = (await _body(request)).get("checkoutFormIds") or []
    for user in emu.world.sellers.values():
        if ids and all(i in user.checkout_forms for i in ids):
            merged = orders.pay_together(emu, user, [user.checkout_forms[i] for i in ids])
            return _json(merged, 201)
    raise AllegroError(404, "NOT_FOUND", "Those checkout forms are not all of one seller")


@router.post("/orders/{checkoutFormId}/cancel")
async def cancel_order(request: Request, checkoutFormId: str) -> Response:
    emu: Emulator = request.app.state.emulator
    for user in emu.world.sellers.values():
        form = user.checkout_forms.get(checkoutFormId)
        if form is not None:
            orders.cancel_order(emu, user, form)
            return _json(form)
    raise AllegroError(404, "NOT_FOUND", f"No checkout form {checkoutFormId}")


@router.put("/buyer")
async def buyer(request: Request) -> Response:
    """A steady order rate: `{"ordersPerMinute": 30, "login"?: "demo-seller"}` (0 stops it)."""
    emu: Emulator = request.app.state.emulator
    body = await _body(request)
    emu.buyer = orders.BuyerSchedule(
        float(body.get("ordersPerMinute", 0)), body.get("login"), 0.0, emu.now()
    )
    return _json({"ordersPerMinute": emu.buyer.orders_per_minute, "login": emu.buyer.seller_login})


@router.put("/faults")
async def set_faults(request: Request) -> Response:
    emu: Emulator = request.app.state.emulator
    body = await _body(request)
    names = {f.name for f in dataclasses.fields(Faults)}
    camel = {
        "latencyMs": "latency_ms",
        "errorShare": "error_share",
        "errorStatus": "error_status",
        "timeoutShare": "timeout_share",
        "timeoutSeconds": "timeout_seconds",
        "forced429": "forced_429",
        "pathPrefix": "path_prefix",
    }
    values = {camel.get(k, k): v for k, v in body.items()}
    unknown = set(values) - names
    if unknown:
        raise AllegroError(422, "VALIDATION_ERROR", f"Unknown fault settings {sorted(unknown)}")
    emu.faults = Faults(**values)
    return _json(dataclasses.asdict(emu.faults))


@router.delete("/faults")
async def clear_faults(request: Request) -> Response:
    emu: Emulator = request.app.state.emulator
    emu.faults = Faults()
    return _json(dataclasses.asdict(emu.faults))


@router.put("/images/refused")
async def refuse_images(request: Request) -> Response:
    """Uploads of these source URLs fail as an image Allegro cannot fetch (422):
    `{"urls": ["https://..."], "status": 403}` (the status the supplier's server answers);
    replaces the list, `{"urls": []}` clears it."""
    emu: Emulator = request.app.state.emulator
    body = await _body(request)
    urls = body.get("urls")
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise AllegroError(422, "VALIDATION_ERROR", "urls must be a list of URLs")
    status = int(body.get("status", 403))
    emu.world.refused_image_urls = dict.fromkeys(urls, status)
    return _json({"refused": emu.world.refused_image_urls})


@router.put("/fee-table")
async def set_fee_table(request: Request) -> Response:
    """Replace fee rules per group: `{"home": {"rate": "0.10", "minimum": "0.50", ...}}`."""
    emu: Emulator = request.app.state.emulator
    body = await _body(request)
    table = dict(pricing.FEE_TABLE)
    for group, rule in body.items():
        table[group] = pricing.FeeRule(
            Decimal(str(rule["rate"])),
            Decimal(str(rule["threshold"])) if rule.get("threshold") is not None else None,
            Decimal(str(rule.get("fixedAbove", "0"))),
            Decimal(str(rule.get("rateAbove", "0"))),
            Decimal(str(rule["cap"])) if rule.get("cap") is not None else None,
            Decimal(str(rule.get("minimum", "0.30"))),
        )
    emu.fee_table = table
    return _json({"groups": sorted(table)})


@router.get("/counters")
async def counters(request: Request) -> Response:
    emu: Emulator = request.app.state.emulator
    rows = [
        {"method": m, "operation": p, "status": s, "count": n}
        for (m, p, s), n in sorted(emu.counters.items())
    ]
    return _json(
        {
            "requests": rows,
            "total": sum(emu.counters.values()),
            "tooManyRequests": sum(n for (_, _, s), n in emu.counters.items() if s == 429),
            "rateLimitRejections": emu.limiter.rejected,
        }
    )


@router.delete("/counters")
async def reset_counters(request: Request) -> Response:
    emu: Emulator = request.app.state.emulator
    emu.counters.clear()
    emu.limiter.rejected = 0
    return _json({"status": "reset"})


@router.get("/state")
async def state(request: Request) -> Response:
    """Everything on Allegro's side, per seller: offers with price and stock per marketplace,
    orders, shipments, settings, pending commands."""
    emu: Emulator = request.app.state.emulator
    emu.run_due()
    login = request.query_params.get("login")
    sellers = []
    for user in emu.world.sellers.values():
        if login and user.login != login:
            continue
        sellers.append(
            {
                "id": user.id,
                "login": user.login,
                "offers": [
                    {
                        **listing_item(user, o),
                        "product": {"id": o.product_id},
                        "pendingOperation": o.operation is not None,
                        "validation": o.data.get("validation"),
                    }
                    for o in user.offers.values()
                ],
                "checkoutForms": list(user.checkout_forms.values()),
                "shipments": user.shipments,
                "shippingRates": list(user.shipping_rates.values()),
                "returnPolicies": list(user.return_policies.values()),
                "impliedWarranties": list(user.implied_warranties.values()),
                "warranties": list(user.warranties.values()),
                "commands": [
                    {
                        "kind": c.kind,
                        "id": c.id,
                        "completed": c.completed_at is not None,
                        "tasks": len(c.tasks),
                    }
                    for c in user.commands.values()
                ],
                "orderEvents": len(user.order_events),
                "offerEvents": len(user.offer_events),
                # POST /sale/images answered 201 for this seller, and what it holds.
                "imageUploads": user.image_uploads,
                "images": [
                    {
                        "location": location,
                        "source": image["source"],
                        "expiresAt": None
                        if image["expiresAt"] is None
                        else iso(image["expiresAt"]),
                        "used": image["expiresAt"] is None,
                    }
                    for location, image in emu.world.images.items()
                    if image["seller"] == user.id
                ],
            }
        )
    return _json(
        {
            "now": iso(emu.now()),
            "sellers": sellers,
            "pendingJobs": emu.pending_jobs(),
            "clients": [c.client_id for c in emu.world.clients.values()],
        }
    )


@router.post("/offers/{offerId}/late-validation")
async def late_validation(request: Request, offerId: str) -> Response:
    """Make an active offer fail validation now (it drops to INACTIVE with errors)."""
    emu: Emulator = request.app.state.emulator
    for user in emu.world.sellers.values():
        offer = user.offers.get(offerId)
        if offer is not None:
            fail_validation(emu, user, offer)
            return _json({"offerId": offerId, "status": offer.data["publication"]["status"]})
    raise AllegroError(404, "NOT_FOUND", f"No offer {offerId}")


@router.post("/offers/{offerId}/seller-edit")
async def seller_edit(request: Request, offerId: str) -> Response:
    """The seller changes the offer on allegro.pl, outside any API client: `{"price"?: {amount,
    currency}, "marketplace"?: id (default the base one), "stock"?: n, "status"?: "ENDED" |
    "ACTIVE"}`. Each change emits the offer event Allegro would (OFFER_PRICE_CHANGED,
    OFFER_STOCK_CHANGED, OFFER_ENDED endedBy USER, OFFER_ACTIVATED): what reconciliation and
    drift detection read."""
    emu: Emulator = request.app.state.emulator
    emu.run_due()
    found = next(
        ((u, u.offers[offerId]) for u in emu.world.sellers.values() if offerId in u.offers), None
    )
    if found is None:
        raise AllegroError(404, "NOT_FOUND", f"No offer {offerId}")
    user, offer = found
    body = await _body(request)
    status = body.get("status")
    if status not in (None, "ENDED", "ACTIVE"):
        raise AllegroError(422, "VALIDATION_ERROR", "status must be ENDED or ACTIVE", path="status")
    stock = body.get("stock")
    if stock is not None and (not isinstance(stock, int) or not 0 <= stock <= MAX_STOCK):
        raise AllegroError(422, "VALIDATION_ERROR", f"stock must be 0..{MAX_STOCK}", path="stock")
    if body.get("price") is not None:
        marketplace = str(body.get("marketplace") or user.base_marketplace)
        if marketplace != user.base_marketplace and marketplace not in (
            offer.data.get("additionalMarketplaces") or {}
        ):
            raise AllegroError(
                422, "VALIDATION_ERROR", f"The offer is not on {marketplace}", path="marketplace"
            )
        check_price_format(body["price"], marketplace, "price")
        set_price(emu, user, offer, marketplace, dict(body["price"]))
    if stock is not None:
        set_stock(emu, user, offer, stock)
    if status == "ENDED":
        end(emu, user, offer, "USER")
    elif status == "ACTIVE" and offer.data["publication"]["status"] in ("INACTIVE", "ENDED"):
        activate(emu, user, offer)
    return _json(listing_item(user, offer))


@router.put("/categories/{categoryId}/parameters/{parameterId}")
async def change_parameter(request: Request, categoryId: str, parameterId: str) -> Response:
    """Allegro changes a parameter's requirement: `{"required": true}` now, or
    `{"requirementPlanned": true, "scheduledFor"?}` (a REQUIREMENT_CHANGE in
    /sale/category-parameters-scheduled-changes, REQUIREMENT_PLANNED in unfilled-parameters
    until `scheduledFor`, required from then on)."""
    emu: Emulator = request.app.state.emulator
    if parameterId not in {p["id"] for p in category_parameters(categoryId)}:
        raise AllegroError(404, "NOT_FOUND", f"No parameter {parameterId} in {categoryId}")
    body = await _body(request)
    if "required" in body:
        emu.world.parameter_required.setdefault(categoryId, {})[parameterId] = bool(
            body["required"]
        )
    if "requirementPlanned" in body:
        planned = emu.world.planned_requirements.setdefault(categoryId, {})
        if body["requirementPlanned"]:
            # Required from `scheduledFor` on (default: in 30 days, as Allegro announces ahead).
            planned[parameterId] = {
                "scheduledAt": iso(emu.now()),
                "scheduledFor": body.get("scheduledFor") or iso(emu.now() + 30 * 86400),
            }
        else:
            planned.pop(parameterId, None)
    return _json(
        {
            "categoryId": categoryId,
            "parameterId": parameterId,
            "required": emu.world.parameter_required.get(categoryId, {}).get(parameterId),
            "requirementPlanned": emu.world.planned_requirements.get(categoryId, {}).get(
                parameterId
            ),
        }
    )
