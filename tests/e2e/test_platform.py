"""The platform end to end: BigBuy's catalogue in through the connector (500 SKUs), two shops
selling all of it (A on allegro.pl, .cz and .sk, B on allegro.pl) and a third without a return
policy, offers on Allegro, stock 0 and restock, orders to BigBuy and tracking back; every
service and the connector as deployed, an API process and a worker process each, on real
PostgreSQL and RabbitMQ, both emulators over HTTP. Asserted on the emulators' state, not on what
the services say of themselves.

Then the kill round: while rule changes re-price a shop, stock changes (sell-outs and restocks)
come from BigBuy and orders are placed, each process is killed with SIGKILL in turn and
restarted, and the final state is checked: every listable product one offer at its price and
the supplier's stock, every order once at BigBuy and its waybill on Allegro.

The tests of this module run in order on one stack (`platform_stack`, conftest.py).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from mci_testing.platform import (
    DEMO_RULES,
    SERVICE_MODULES,
    Platform,
    Shop,
    eventually,
    on_allegro,
    wait_for,
    worker_of,
)
from tests.e2e.conftest import CATALOGUE_SKUS, Stack

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
        # SKUs whose stock this module changed at BigBuy, and those bought.
        self.restocked: set[str] = set()
        self.bought: set[str] = set()


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
    assert await platform.catalogue_in() == CATALOGUE_SKUS
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
    half = len(roots) // 2  # A and B between them sell the whole catalogue
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


async def available(platform: Platform, sku: str, product: dict[str, Any]) -> int:
    """The stock catalog makes available: the supplier's, less what orders reserved until the
    supplier's figures include them (the reservation lag, 10 minutes: a bought SKU is offered
    one less meanwhile, though BigBuy's stock already counts the order)."""
    if sku not in WORLD.bought:
        return int(product["stock"] or 0)  # nothing reserved
    found = await platform.get("catalog", f"/products/{sku}")
    return int(found["available_stock"] or 0)


async def assert_offers_match(platform: Platform, shop: Shop) -> dict[str, dict[str, Any]]:
    """Every listable product of the shop: one live offer on Allegro at the computed price per
    marketplace and the stock catalog makes available, or not listable with the right reason,
    or waiting for stock with nothing on Allegro. Returns the shop's offers by SKU."""
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
        stock = await available(platform, sku, product)
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
        assert allegro["stock"]["available"] == stock, (sku, allegro["stock"], stock, offer)
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
    # The 500 products across two accounts: each SKU is in the selection of A or of B.
    products = await catalogue(platform)
    assert len(products) == CATALOGUE_SKUS
    assert not set(shops["a"].categories) & set(shops["b"].categories)
    roots = {str(p["supplier_category"]).split(" > ")[0] for p in products.values()}
    assert roots == {*shops["a"].categories, *shops["b"].categories}
    found: dict[str, dict[str, dict[str, Any]]] = {}

    async def matched() -> None:  # an offer may still be in a check its last update started
        for key in ("a", "b"):
            found[key] = await assert_offers_match(platform, shops[key])

    await eventually("the shops' offers settled", matched, 120)
    listed = 0
    reasons: Counter[str] = Counter()
    for ours in found.values():
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


def buyable(active: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        o
        for o in active
        if o["sku"] not in WORLD.bought | WORLD.restocked and int(o["stock"] or 0) >= 3
    ]


async def buy(platform: Platform, shop: Shop, count: int, marketplace: str | None = None) -> None:
    """Buyers order `count` live offers of the shop not bought before, each one whose stock this
    module leaves alone (an order for a SKU it sold out at BigBuy would be refused there) and
    not its last unit: Allegro ends an offer whose last unit sells, and offers, told stock 0,
    then sends an END that Allegro refuses (the offer stays `active`, `sync_failed`), a gap of
    offers' sync this test does not cover."""
    fresh = buyable(await platform.offers(shop, "active"))
    for offer in fresh[:count]:
        body: dict[str, Any] = {"offerId": offer["offer_id"]}
        if marketplace:
            body["marketplaceId"] = marketplace
        form = await platform.send("POST", "allegro-emulator", "/__admin/orders", body)
        form["shop"] = shop.alias
        WORLD.forms.append(form)
        WORLD.bought.add(offer["sku"])
    assert len(fresh) >= count, "not enough live offers left to buy"


async def test_stock_0_ends_an_offer_and_a_restock_reactivates_it(
    platform_stack: Stack, shops: dict[str, Shop]
) -> None:
    """BigBuy sells out of a few SKUs: the connector's stock refresh carries stock 0 to catalog
    and offers ends each offer on Allegro; a restock reactivates the same offer with the new
    quantity. Nothing triggers the refresh: the connector runs stock-and-prices refreshes back
    to back, as often as BigBuy's budgets allow (`BIGBUY_STOCK_REFRESH_INTERVAL_SECONDS` 0), so
    an operator's "refresh now" could not come sooner; the emulator's limits are scaled down."""
    platform = platform_stack.platform
    chosen: dict[str, tuple[Shop, str]] = {}
    for key, count in (("a", 3), ("b", 2)):
        for offer in (await platform.offers(shops[key], "active"))[:count]:
            chosen[offer["sku"]] = (shops[key], offer["offer_id"])
    WORLD.restocked |= set(chosen)
    for sku in chosen:
        await platform.set_supplier_stock(sku, 0)

    async def offers_are(status: str, stocks: dict[str, int]) -> None:
        for shop in {id(s): s for s, _ in chosen.values()}.values():
            live = await allegro_offers(platform, shop)
            ours = {o["sku"]: o for o in await platform.offers(shop)}
            for sku, (owner, offer_id) in chosen.items():
                if owner is not shop:
                    continue
                assert ours[sku]["offer_id"] == offer_id, ours[sku]  # the same offer, not a new one
                on_allegro_now = live[offer_id]
                assert on_allegro_now["publication"]["status"] == status, (sku, on_allegro_now)
                if status == "ENDED":
                    assert ours[sku]["state"] == "ended", ours[sku]
                    assert ours[sku]["reason"]["code"] == "stock_out", ours[sku]
                else:
                    assert ours[sku]["state"] == "active", ours[sku]
                    assert on_allegro_now["stock"]["available"] == stocks[sku], on_allegro_now

    await eventually("sold-out offers ended on Allegro", lambda: offers_are("ENDED", {}), 180)
    products = await catalogue(platform)
    assert {products[sku]["stock"] for sku in chosen} == {0}
    restock = {sku: 5 + i for i, sku in enumerate(chosen)}
    for sku, quantity in restock.items():
        await platform.set_supplier_stock(sku, quantity)
    await eventually("restocked offers live again", lambda: offers_are("ACTIVE", restock), 180)


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


# --- the kill round ---------------------------------------------------------------------------
# Every service's API and worker and the connector's, in turn. Killing a worker kills its outbox
# relay, its consumers and its background loops (publisher, sync, pollers, scheduler) at once:
# they share the process. The emulators are not killed: they stand for Allegro and BigBuy.
VICTIMS = [process for name in SERVICE_MODULES for process in (name, worker_of(name))]


class Round:
    """What the kill round changed: the rule sets' margin shift per shop, and the SKUs whose
    stock it changes at BigBuy."""

    def __init__(self) -> None:
        self.shift: dict[str, int] = {}
        self.stock_skus: list[str] = []


ROUND = Round()


def shifted_rules(shift: int) -> dict[str, Any]:
    """The demo rules with every band's margin `shift` points higher (a few percent on every
    price: a real re-price, below the circuit breaker's 25 %)."""
    rules = [
        {**rule, "percentage": str(int(rule["percentage"]) + shift)} for rule in DEMO_RULES["rules"]
    ]
    return {**DEMO_RULES, "rules": rules}


async def work_in_flight(platform: Platform, shops: dict[str, Shop], turn: int) -> None:
    """One turn's work: a shop re-priced (every offer's price changes on Allegro), BigBuy's
    stock changed for a dozen SKUs (some sold out, earlier sell-outs restocked), two orders."""
    shop = shops["a" if turn % 2 == 0 else "b"]
    ROUND.shift[shop.alias] = ROUND.shift.get(shop.alias, 0) + 1
    saved = await platform.send(
        "PUT",
        "pricing",
        f"/accounts/{shop.account_id}/rules",
        shifted_rules(ROUND.shift[shop.alias]),
    )
    assert saved["status"] == "active", saved  # not held by the circuit breaker
    rng = random.Random(turn)
    for sku in rng.sample(ROUND.stock_skus, 12):
        await platform.set_supplier_stock(sku, 0 if rng.random() < 0.25 else rng.randint(1, 40))
    await buy(platform, shops["a"], 1)
    await buy(platform, shops["b"], 1)


@pytest.fixture(scope="module")
async def kill_round(platform_stack: Stack, shops: dict[str, Shop]) -> list[str]:
    """Leaves the SKUs for orders alone; the stock changes go to others of the two shops."""
    platform = platform_stack.platform
    for key in ("a", "b"):
        active = await platform.offers(shops[key], "active")
        # A few more than the turns of each shop's offers that may be bought are left alone.
        kept = {o["sku"] for o in buyable(active)[: len(VICTIMS) + 2]}
        ROUND.stock_skus += [
            o["sku"] for o in active if o["sku"] not in kept | WORLD.bought | WORLD.restocked
        ]
    WORLD.restocked |= set(ROUND.stock_skus)
    assert len(ROUND.stock_skus) >= 100, len(ROUND.stock_skus)
    return VICTIMS


@pytest.mark.parametrize("victim", VICTIMS)
async def test_kill_9_mid_flow(
    platform_stack: Stack, shops: dict[str, Shop], kill_round: list[str], victim: str
) -> None:
    """Work under way (events in outboxes and queues, batch commands on Allegro, orders on
    their way to BigBuy or back), the process killed with SIGKILL (nothing flushed, nothing
    acked, its leases left held) and started again. `<service>` is the API process
    (`--role api`: the routes, whose commits write the outbox); `<service>-worker` runs the
    outbox relay, every consumer and the background loops in one process, so one kill takes
    all of them down at once. What must hold after all the kills is checked by the
    `test_after_the_kills_*` tests."""
    platform, supervisor = platform_stack.platform, platform_stack.supervisor
    await work_in_flight(platform, shops, kill_round.index(victim))
    await asyncio.sleep(1)  # under way
    await asyncio.to_thread(supervisor.kill, victim)
    assert not supervisor.running[victim].alive
    await asyncio.to_thread(supervisor.restart, victim)
    assert supervisor.running[victim].starts == 2
    assert supervisor.dead() == []


async def assert_final_state(platform: Platform, shop: Shop) -> None:
    """Catalog holding BigBuy's stock of every SKU the module changed or sold, the shop's
    offers as `assert_offers_match` wants them, and every live price computed with the shop's
    last rules."""
    products = await catalogue(platform)
    ours = {o["sku"]: o for o in await platform.offers(shop)}
    for sku in sorted(set(ours) & (WORLD.restocked | WORLD.bought)):
        at_bigbuy = await platform.supplier_stock(sku)
        assert products[sku]["stock"] == at_bigbuy, (sku, products[sku]["stock"], at_bigbuy)
    ours = await assert_offers_match(platform, shop)
    rules = await platform.get("pricing", f"/accounts/{shop.account_id}/rules")
    assert rules["version"] > 1 and not rules["pending_versions"], rules
    for sku, offer in ours.items():
        if offer["state"] == "active":
            price = await price_of(platform, shop, sku)
            assert price["rule_version"] == rules["version"], (sku, price, rules)


async def test_after_the_kills_every_order_went_through_once(
    platform_stack: Stack, shops: dict[str, Shop]
) -> None:
    """The orders as without the kills: every one imported once, at BigBuy once, its waybill
    on Allegro once with BigBuy's carrier."""
    assert len(WORLD.forms) == 10 + 2 * len(VICTIMS)
    await assert_orders_went_through(platform_stack.platform)


@pytest.mark.parametrize("key", ["a", "b"])
async def test_after_the_kills_every_listable_product_has_one_offer_at_its_price_and_stock(
    platform_stack: Stack, shops: dict[str, Shop], key: str
) -> None:
    """The offers as without the kills: every listable product one offer on Allegro (none
    created twice), at the price of the last rules and the stock BigBuy holds less what is
    reserved, sold-out ones ended, restocked ones live."""
    platform, shop = platform_stack.platform, shops[key]
    await eventually(
        f"{shop.alias} settled after the kills",
        lambda: assert_final_state(platform, shop),
        300,
        interval=3,
    )
    states = Counter(o["state"] for o in await platform.offers(shop))
    assert states["ended"] > 0 and states["active"] > 0, states  # sold out and live both seen
