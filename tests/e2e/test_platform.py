"""The platform end to end: BigBuy's catalogue in through the connector, three shops, offers on
Allegro, orders to BigBuy and tracking back, every service and connector a separate process on
real PostgreSQL and RabbitMQ, both emulators over HTTP. Asserted on the emulators' state, not
on what the services say of themselves. Then every service and the connector is killed with
SIGKILL in turn while orders and stock changes are in flight, restarted, and the final state
checked again: nothing lost, nothing doubled.

The tests of this module run in order on one stack (`platform_stack`, conftest.py).
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from mci_testing.platform import Platform, Shop, on_allegro, wait_for
from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1500)]

PL_CZ_SK = ("allegro-pl", "allegro-cz", "allegro-sk")
MISSING_SHARE = 10  # percent of EANs Allegro's catalogue does not hold
# Reasons offers finds before sending anything (the category's required parameters, the
# shipping price list of the weight, the title).
REFUSED_BEFORE_SENDING = {
    "parameter_missing",
    "parameter_invalid",
    "no_shipping_band",
    "title_length",
}


class World:
    """What the module's tests share: the shops and the orders placed so far."""

    def __init__(self) -> None:
        self.shops: dict[str, Shop] = {}
        self.listable: dict[str, int] = {}
        self.forms: list[dict[str, Any]] = []


WORLD = World()


@pytest.fixture(scope="module")
async def shops(platform_stack: Stack) -> dict[str, Shop]:
    """Catalogue in; shop A (PL, CZ, SK) and shop B (PL) ready and published; shop C on a
    seller without a return policy."""
    platform = platform_stack.platform
    await platform.wait_catalogue_settled()

    async def named() -> bool:  # the names come with the connector's reference lists
        return len(await platform.supplier_roots()) >= 2

    await wait_for("the supplier's category names in catalog", named, 300, interval=3)
    roots = await platform.supplier_roots()
    a = Shop("shop-a", "demo-seller", "", PL_CZ_SK)
    b = Shop("shop-b", "demo-seller-2", "", ("allegro-pl",))
    c = Shop("shop-c", "new-seller", "", ("allegro-pl",))
    for shop in (a, b, c):
        shop.account_id = await platform.connect(shop.alias, shop.login)
        await platform.price(shop)
    for shop in (a, b):
        found = await platform.make_ready(shop)
        assert found["readiness"] == "ready", found
    await platform.make_ready(c)
    half = len(roots) // 2
    await platform.select_and_map(a, roots[:half], missing_share=MISSING_SHARE)
    await platform.select_and_map(b, roots[half:], missing_share=MISSING_SHARE)
    await platform.select_and_map(c, roots[:1], missing_share=MISSING_SHARE)
    for shop in (a, b, c):  # C resumed as well: only its readiness holds it
        WORLD.listable[shop.alias] = await platform.publish(shop)
    for shop in (a, b):
        await platform.wait_published(shop, WORLD.listable[shop.alias])
    WORLD.shops = {"a": a, "b": b, "c": c}
    return WORLD.shops


async def catalogue(platform: Platform) -> dict[str, dict[str, Any]]:
    return {p["sku"]: p for p in await platform.pages("catalog", "/products", limit=1000)}


async def allegro_offers(platform: Platform, shop: Shop) -> dict[str, dict[str, Any]]:
    seller = await platform.allegro_state(shop.login)
    return {str(o["id"]): o for o in seller["offers"]}


async def price_of(platform: Platform, shop: Shop, sku: str) -> dict[str, Any]:
    found: dict[str, Any] = await platform.get(
        "pricing", f"/accounts/{shop.account_id}/prices/{sku}"
    )
    return found


def amount_of(price: dict[str, Any], marketplace: str) -> tuple[Decimal, str] | None:
    """Pricing's stored price of one marketplace, as an exact amount and its currency."""
    entry = price["marketplaces"].get(marketplace) or {}
    if entry.get("amount") is None:
        return None
    return Decimal(str(entry["amount"])), str(entry["currency"])


def shown(price: dict[str, Any] | None) -> tuple[Decimal, str] | None:
    """A price as Allegro shows it (CZK whole, PLN and EUR with two decimals)."""
    if not price:
        return None
    return Decimal(str(price["amount"])), str(price["currency"])


async def assert_offers_match(platform: Platform, shop: Shop) -> dict[str, dict[str, Any]]:
    """Every listable product of the shop: one live offer on Allegro at the computed price per
    marketplace and the supplier's stock, or not listable with the right reason, or waiting
    for stock with nothing on Allegro. Returns the shop's offers by SKU."""
    products = await catalogue(platform)
    ours = {o["sku"]: o for o in await platform.offers(shop)}
    on_allegro_now = await allegro_offers(platform, shop)
    # Nothing doubled: every offer on Allegro is one of ours, each SKU has at most one.
    recorded = [o["offer_id"] for o in ours.values() if o["offer_id"]]
    assert len(recorded) == len(set(recorded))
    assert set(on_allegro_now) == set(recorded)
    assert len(ours) == WORLD.listable[shop.alias]
    for sku, offer in ours.items():
        product = products[sku]
        stock = int(product["stock"] or 0)
        if stock == 0:
            assert offer["state"] in ("waiting", "ended"), (sku, offer)
            if offer["offer_id"]:
                status = on_allegro_now[offer["offer_id"]]["publication"]["status"]
                assert status == "ENDED", (sku, status)
            continue
        if not on_allegro(product["ean"], MISSING_SHARE):
            # Allegro has no product for the EAN: its create says so, unless a check before
            # sending had refused it already.
            assert offer["state"] == "not_listable", (sku, offer)
            assert offer["reason"]["code"] in {"product_missing", *REFUSED_BEFORE_SENDING}
            assert offer["offer_id"] is None
            continue
        if offer["state"] == "not_listable":
            # Allegro holds the product, but the offer would not pass: said why, not sent.
            assert offer["reason"]["code"] in REFUSED_BEFORE_SENDING, (sku, offer)
            assert offer["offer_id"] is None
            continue
        assert offer["state"] == "active", (sku, offer)
        allegro = on_allegro_now[offer["offer_id"]]
        assert allegro["publication"]["status"] == "ACTIVE", (sku, allegro)
        assert allegro["stock"]["available"] == stock, (sku, allegro["stock"], stock)
        price = await price_of(platform, shop, sku)
        base = shown(allegro["sellingMode"].get("price"))
        assert base == amount_of(price, "allegro-pl"), (sku, allegro["sellingMode"], price)
        extra = allegro.get("additionalMarketplaces") or {}
        for marketplace in ("allegro-cz", "allegro-sk"):
            there = shown(((extra.get(marketplace) or {}).get("sellingMode") or {}).get("price"))
            if marketplace in shop.marketplaces:
                assert there == amount_of(price, marketplace), (sku, marketplace, extra, price)
            else:
                assert there is None, (sku, marketplace, extra)
    return ours


async def test_every_listable_product_has_one_live_offer_at_its_price_and_stock(
    platform_stack: Stack, shops: dict[str, Shop]
) -> None:
    platform = platform_stack.platform
    listed = 0
    reasons: Counter[str] = Counter()
    for key in ("a", "b"):
        ours = await assert_offers_match(platform, shops[key])
        states = Counter(o["state"] for o in ours.values())
        assert states["active"] > 0 and states["not_listable"] > 0, states
        reasons.update(o["reason"]["code"] for o in ours.values() if o["reason"])
        listed += len(ours)
    assert reasons["product_missing"] > 0, reasons
    # Shop A sells on CZ and SK as well: Allegro approved it there.
    progress = await platform.progress(shops["a"])
    assert progress["by_marketplace"]["allegro-cz"].get("APPROVED", 0) > 0, progress
    assert progress["by_marketplace"]["allegro-sk"].get("APPROVED", 0) > 0, progress
    # Shop B sells on allegro.pl only: its offers are not even put forward on CZ or SK.
    only_pl = (await platform.progress(shops["b"]))["by_marketplace"]
    assert set(only_pl["allegro-cz"]) == set(only_pl["allegro-sk"]) == {"NOT_REQUESTED"}
    assert listed >= 250, listed  # the catalogue is big enough to mean something


async def test_products_blocked_before_offers_say_why(
    platform_stack: Stack, shops: dict[str, Shop]
) -> None:
    """Selected products without an EAN (or a weight, an image) are not sent to offers;
    catalog lists each with its reasons."""
    platform = platform_stack.platform
    products = await catalogue(platform)
    for key in ("a", "b"):
        shop = shops[key]
        blocked = await platform.pages(
            "catalog", f"/accounts/{shop.account_id}/not-listable", limit=500
        )
        reasons = {b["sku"]: set(b["reasons"]) for b in blocked}
        ours = {o["sku"] for o in await platform.offers(shop)}
        assert reasons, "some selected products are not listable"
        assert not set(reasons) & ours
        for sku, codes in reasons.items():
            if not products[sku]["ean"]:
                assert "no_ean" in codes, (sku, codes)
        selected = [
            p
            for p in products.values()
            if str(p["supplier_category"]).split(" > ")[0] in shop.categories
        ]
        without_ean = {p["sku"] for p in selected if not p["ean"]}
        assert without_ean and without_ean <= set(reasons)


async def test_an_account_without_a_return_policy_publishes_nothing_and_says_why(
    platform_stack: Stack, shops: dict[str, Shop]
) -> None:
    platform = platform_stack.platform
    shop = shops["c"]
    readiness = await platform.get("offers", f"/accounts/{shop.account_id}/readiness")
    assert readiness["readiness"] == "not_ready"
    missing = {i["item"]: i for i in readiness["items"] if i["status"] != "ok"}
    assert "return_policy" in missing and missing["return_policy"]["fix"], readiness
    listable = WORLD.listable[shop.alias]
    assert listable > 0
    assert (await platform.progress(shop))["paused"] is False

    async def all_waiting() -> bool:
        return len(await platform.offers(shop)) == listable

    await wait_for("shop C's offers", all_waiting, 300)
    for offer in await platform.offers(shop):
        assert offer["state"] == "waiting", offer
        assert "readiness" in [w["item"] for w in offer["waiting_for"]], offer
    assert await allegro_offers(platform, shop) == {}


async def buy(platform: Platform, shop: Shop, count: int, marketplace: str | None = None) -> None:
    active = await platform.offers(shop, "active")
    bought = {f["lineItems"][0]["offer"]["id"] for f in WORLD.forms}
    for offer in [o for o in active if o["offer_id"] not in bought][:count]:
        body: dict[str, Any] = {"offerId": offer["offer_id"]}
        if marketplace:
            body["marketplaceId"] = marketplace
        form = await platform.send("POST", "allegro-emulator", "/__admin/orders", body)
        form["shop"] = shop.alias
        WORLD.forms.append(form)


async def assert_orders_went_through(platform: Platform, within: float = 600) -> None:
    """Every order placed: imported once, sent to BigBuy once, and its tracking on Allegro
    once, with BigBuy's carrier and tracking number."""
    shops = {s.alias: s for s in WORLD.shops.values()}
    expected = {str(f["id"]): f for f in WORLD.forms}

    async def tracked() -> bool:
        done = 0
        for alias in {f["shop"] for f in WORLD.forms}:
            done += len(await platform.shipped_on_allegro(shops[alias].login))
        return done >= len(expected)

    await wait_for("tracking on Allegro", tracked, within, interval=3)
    imported = await platform.pages("orders", "/orders")
    counts = Counter(str(o["id"]) for o in imported)
    assert {k: counts[k] for k in expected} == dict.fromkeys(expected, 1)
    supplier = await platform.supplier_orders()
    by_order = Counter(str(o["order_id"]) for o in supplier)
    assert {k: by_order[k] for k in expected} == dict.fromkeys(expected, 1)
    at_bigbuy = await platform.get("bigbuy-emulator", "/__admin/orders")
    references = Counter(str(o.get("internalReference")) for o in at_bigbuy)
    assert {k: references[k] for k in expected} == dict.fromkeys(expected, 1), references
    supplier_by_id = {str(o["order_id"]): o for o in supplier}
    for form_id, form in expected.items():
        shop = shops[form["shop"]]
        shipments = (await platform.shipped_on_allegro(shop.login))[form_id]
        assert len(shipments) == 1, shipments
        sent = supplier_by_id[form_id]
        assert sent["bigbuy_order_id"] and sent["tracking_number"], sent
        assert shipments[0]["waybill"] == sent["tracking_number"]
        carrier = str(sent["carrier"] or "").lower()
        assert shipments[0]["carrierId"] in (carrier.upper().replace(" ", "_"), "OTHER"), (
            shipments[0],
            sent,
        )


async def test_orders_go_to_bigbuy_once_and_tracking_reaches_allegro(
    platform_stack: Stack, shops: dict[str, Shop]
) -> None:
    platform = platform_stack.platform
    # Shop A sells on allegro.cz too: two of its buyers are Czech (a Czech address and postcode).
    await buy(platform, shops["a"], 4)
    await buy(platform, shops["a"], 2, "allegro-cz")
    await buy(platform, shops["b"], 4)
    assert len(WORLD.forms) == 10
    assert sum(f["delivery"]["address"]["countryCode"] == "CZ" for f in WORLD.forms) == 2
    await assert_orders_went_through(platform)
