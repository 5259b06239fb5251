"""The offers service on real PostgreSQL and RabbitMQ, publishing on the Allegro emulator over
HTTP: CatalogUpdated and PriceComputed in, offers created with `POST /sale/product-offers`,
OfferPublished / OfferFailed / OfferEnded out through the outbox; readiness, not-listable
reasons with Allegro's codes, parameter checks before sending, 202 operations, 409 on a
concurrent edit, late validation, pause, dry run, retry; and a worker killed by SIGKILL right
after Allegro's answer that creates nothing twice.

One running service per module; every test uses its own emulator seller and account.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from mci_testing.app import running_app
from mci_testing.bus import Bus, Probe
from mci_testing.emulator import (
    SAFETY_INFORMATION,
    EmulatorHandle,
    catalog_item,
    responsible_producer,
    start_emulator,
)
from mci_testing.fixtures import MakeDatabase
from mci_testing.infra import free_port, wait_until
from mci_testing.platform import shipping_document
from offers import handlers
from offers.domain import commands as c
from offers.main import MIGRATIONS, build
from offers.settings import Settings
from shared.accounts import StaticAccounts
from shared.allegro import AllegroSettings
from shared.allegro.tokens import StaticTokens
from shared.db import create_engine
from shared.events import (
    AccountConnected,
    AccountRefreshFailed,
    CatalogUpdated,
    Event,
    Money,
    OfferEnded,
    OfferFailed,
    OfferPublished,
    PriceComputed,
    PricedItem,
)
from shared.security import issue_token
from shared.service import create_app
from shared.uow import UnitsOfWork

PRODUCER = responsible_producer()
SAFETY = SAFETY_INFORMATION
PRICES = {
    "allegro-pl": Money(amount=Decimal("49.90"), currency="PLN"),
    "allegro-cz": Money(amount=Decimal("290"), currency="CZK"),
    "allegro-sk": Money(amount=Decimal("11.90"), currency="EUR"),
}
ALLEGRO_HEADERS = {
    "Accept": "application/vnd.allegro.public.v1+json",
    "Content-Type": "application/vnd.allegro.public.v1+json",
}


@dataclass
class Seller:
    account: str
    login: str
    token: str

    def allegro(self, emulator: EmulatorHandle) -> httpx.Client:
        return httpx.Client(
            base_url=emulator.url,
            headers={**ALLEGRO_HEADERS, "Authorization": f"Bearer {self.token}"},
            timeout=30,
        )


@dataclass
class Service:
    http: httpx.AsyncClient
    probe: Probe
    bus: Bus
    tokens: StaticTokens
    accounts: StaticAccounts
    emulator: EmulatorHandle
    database_url: str
    rows: list[dict[str, Any]]
    allegro_settings: AllegroSettings | None = None  # the budgets the service runs with

    async def publish(self, event: Event) -> None:
        await self.bus.publish(event)

    def seller(self, prerequisites: bool = True) -> Seller:
        login = self.emulator.new_seller(prerequisites=prerequisites)["login"]
        token = self.emulator.token_for(login)["access_token"]
        account = self.accounts.add(f"acct-{uuid.uuid4().hex[:8]}")
        self.tokens.tokens[account] = token
        return Seller(account, login, token)

    async def readiness(self, account: str, **body: Any) -> dict[str, Any]:
        response = await self.http.post(f"/accounts/{account}/readiness", json=body)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def ready_seller(self) -> Seller:
        """A seller whose account is ready, asked once: the worker's own check of the new
        account may run beside the operator's, but one granted before the operator's check
        created the producer is never stored over it (test_interleavings.py)."""
        seller = self.seller()
        found = await self.readiness(
            seller.account,
            create_missing=True,
            responsible_producer=PRODUCER,
            safety_information=SAFETY,
        )
        assert found["readiness"] == "ready", found
        return seller

    async def waiting_on_nothing(self) -> list[tuple[str, str]]:
        """Offers in state waiting that wait for nothing (none can be: they would wait for
        good; migration 0007's constraint refuses them)."""
        engine = create_engine(self.database_url, pool_size=1)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    sa.text(
                        "SELECT account_id, sku FROM offers WHERE state = 'waiting'"
                        " AND COALESCE(cardinality(waiting_for), 0) = 0"
                    )
                )
                return [(r[0], r[1]) for r in rows]
        finally:
            await engine.dispose()

    def row(self, presence: int = 1) -> dict[str, Any]:
        """A supplier product whose EAN matches `presence` products in Allegro's catalogue."""
        found = next(r for r in self.rows if r["allegroProducts"] == presence)
        self.rows.remove(found)
        return found

    def row_in(self, category: str) -> dict[str, Any]:
        found = next(
            r
            for r in self.rows
            if r["allegroProducts"] == 1 and r["allegro_category_id"] == category
        )
        self.rows.remove(found)
        return found

    async def send(
        self,
        account: str,
        row: dict[str, Any],
        *,
        sku: str | None = None,
        revision: int = 1,
        stock: int = 5,
        listed: bool = True,
        prices: dict[str, Money] | None = None,
        attributes: dict[str, str] | None = None,
        priced: bool = True,
        **fields: Any,
    ) -> str:
        """`fields`: more of the catalogue item (`description_sections`, ...)."""
        sku = sku or f"SKU-{uuid.uuid4().hex[:10]}"
        item = catalog_item(
            row, sku, revision, stock, listed=listed, attributes=attributes or {}, **fields
        )
        await self.publish(CatalogUpdated(account_id=account, items=[item]))
        if priced:
            await self.publish(
                PriceComputed(
                    account_id=account,
                    items=[PricedItem(sku=sku, catalog_revision=revision, prices=prices or PRICES)],
                )
            )
        return sku

    async def offer(self, account: str, sku: str) -> dict[str, Any]:
        response = await self.http.get(f"/accounts/{account}/offers/{sku}")
        if response.status_code == 404:
            return {}
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def wait_state(self, account: str, sku: str, *wanted: str) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        async def reached() -> bool:
            seen.update(await self.offer(account, sku))
            return seen.get("state") in wanted

        try:
            await wait_until(reached, within=60)
        except AssertionError:
            raise AssertionError(f"{sku} never reached {wanted}: {seen}") from None
        return await self.offer(account, sku)

    async def waits_only_for(self, account: str, sku: str, *items: str) -> None:
        async def waiting() -> bool:
            offer = await self.offer(account, sku)
            found = [w["item"] for w in offer.get("waiting_for") or []]
            return offer.get("state") == "waiting" and found == list(items)

        await wait_until(waiting, within=30)

    def on_allegro(self, seller: Seller, sku: str) -> list[dict[str, Any]]:
        """The seller's offers whose external id is the SKU, as the emulator holds them."""
        state = self.emulator.admin("GET", f"/state?login={seller.login}")
        return [
            o for o in state["sellers"][0]["offers"] if (o.get("external") or {}).get("id") == sku
        ]

    def count(self, method: str, operation: str, status: int) -> int:
        rows = self.emulator.admin("GET", "/counters")["requests"]
        return sum(
            r["count"]
            for r in rows
            if (r["method"], r["operation"], r["status"]) == (method, operation, status)
        )


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    handle = start_emulator(
        catalogue_size=500, async_offer_share=0, duplicate_event_share=0, qualification_seconds=0
    )
    yield handle
    handle.server.should_exit = True


def settings_for(database_url: str, amqp_url: str, emulator: EmulatorHandle) -> Settings:
    return Settings(
        database_url=database_url,
        amqp_url=amqp_url,
        run_migrations=False,
        outbox_poll_interval_seconds=0.2,
        allegro_api_url=emulator.url,
        allegro_auth_url=emulator.url,
        publish_poll_interval_seconds=0.1,
        publish_backoff_seconds=0.3,
        publish_backoff_max_seconds=1.0,
        verify_after_seconds=1.5,
        # Parameter requirements change during the tests: read them every time.
        category_parameters_max_age_seconds=0,
        # The drift reader lists offers by external id too; these tests count the publisher's
        # look-ups (test_drift_service.py turns it on).
        offer_events_enabled=False,
    )


@pytest.fixture(scope="module")
async def service(
    make_database: MakeDatabase, amqp_url: str, emulator: EmulatorHandle
) -> AsyncIterator[Service]:
    async with running_service(make_database, amqp_url, emulator) as found:
        yield found


@contextlib.asynccontextmanager
async def running_service(
    make_database: MakeDatabase, amqp_url: str, emulator: EmulatorHandle, **settings_changes: Any
) -> AsyncIterator[Service]:
    """Two replicas of the service on a new database, with `settings_changes` over the tests'
    settings, and a probe of the offer events they publish."""
    database_url = await make_database("offers", MIGRATIONS)
    settings = settings_for(database_url, amqp_url, emulator).model_copy(update=settings_changes)
    tokens = StaticTokens({})
    accounts = StaticAccounts()
    bus = await Bus.open(amqp_url)
    probe = await bus.probe(
        OfferPublished.routing_key, OfferFailed.routing_key, OfferEnded.routing_key
    )
    token = issue_token(settings.service_token_secret.get_secret_value(), "ops", "operator")
    rows = emulator.admin("GET", "/catalogue/sample?n=300")["rows"]
    # Two replicas on one database: every claim is raced.
    first = create_app(build(settings, allegro_tokens=tokens, accounts=accounts))
    second = create_app(build(settings, allegro_tokens=tokens, accounts=accounts))
    async with running_app(first) as http, running_app(second):
        http.headers["Authorization"] = f"Bearer {token}"
        service = Service(http, probe, bus, tokens, accounts, emulator, database_url, rows)
        service.allegro_settings = settings.allegro_settings()
        yield service
        assert await service.waiting_on_nothing() == []
    await bus.close()


def missing(readiness: dict[str, Any]) -> set[str]:
    return {i["item"] for i in readiness["items"] if i["status"] != "ok"}


async def test_each_readiness_item_missing_holds_publication(service: Service) -> None:
    seller = service.seller(prerequisites=False)
    found = await service.readiness(seller.account)
    assert found["readiness"] == "not_ready"
    assert missing(found) == {
        "return_policy",
        "implied_warranty",
        "shipping_rates",
        "responsible_producer",
        "safety_information",
    }
    assert all(i["fix"] for i in found["items"] if i["status"] != "ok")
    sku = await service.send(seller.account, service.row())
    await service.waits_only_for(seller.account, sku, "readiness")  # content and price are in

    with seller.allegro(service.emulator) as api:
        api.post(
            "/after-sales-service-conditions/return-policies",
            json={
                "name": "default",
                "isFulfillment": False,
                "availability": {"range": "FULL"},
                "withdrawalPeriod": "P14D",
                "returnCost": {"coveredBy": "BUYER"},
            },
        ).raise_for_status()
        found = await service.readiness(seller.account)
        assert missing(found) == {
            "implied_warranty",
            "shipping_rates",
            "responsible_producer",
            "safety_information",
        }
        policy = next(i for i in found["items"] if i["item"] == "return_policy")
        assert found["ids"]["return_policy"] == policy["id"]
        api.post(
            "/after-sales-service-conditions/implied-warranties",
            json={"name": "default", "individual": {"period": "P2Y"}},
        ).raise_for_status()
        assert missing(await service.readiness(seller.account)) == {
            "shipping_rates",
            "responsible_producer",
            "safety_information",
        }
        methods = api.get("/sale/delivery-methods").json()["deliveryMethods"]
        api.post(
            "/sale/shipping-rates",
            json={
                "name": "default",
                "rates": [
                    {
                        "deliveryMethod": {"id": methods[0]["id"]},
                        "maxQuantityPerPackage": 10,
                        "firstItemRate": {"amount": "12.99", "currency": "PLN"},
                        "nextItemRate": {"amount": "0.00", "currency": "PLN"},
                    }
                ],
            },
        ).raise_for_status()
    found = await service.readiness(seller.account, safety_information=SAFETY)
    assert missing(found) == {"responsible_producer"}
    # The supplier's producer data given, but not allowed to create it: still missing.
    found = await service.readiness(seller.account, responsible_producer=PRODUCER)
    assert missing(found) == {"responsible_producer"}
    assert service.on_allegro(seller, sku) == []
    assert (await service.offer(seller.account, sku))["state"] == "waiting"
    found = await service.readiness(seller.account, create_missing=True)
    assert found["readiness"] == "ready"
    producer = next(i for i in found["items"] if i["item"] == "responsible_producer")
    assert producer["created"] and producer["name"] == PRODUCER["name"]
    await service.wait_state(seller.account, sku, "active")
    assert len(service.on_allegro(seller, sku)) == 1


async def test_account_events_check_readiness_and_stop_publication(service: Service) -> None:
    seller = service.seller()
    await service.publish(
        AccountConnected(
            account_id=seller.account,
            alias=seller.account,
            base_marketplace="allegro-pl",
            allegro_user_id="1",
        )
    )

    async def checked() -> bool:
        found = (await service.http.get(f"/accounts/{seller.account}/readiness")).json()
        return found.get("checked_at") is not None

    await wait_until(checked, within=30)  # the worker checked it without being asked
    found = (await service.http.get(f"/accounts/{seller.account}/readiness")).json()
    assert missing(found) == {"responsible_producer", "safety_information"}
    found = await service.readiness(
        seller.account,
        create_missing=True,
        responsible_producer=PRODUCER,
        safety_information=SAFETY,
    )
    assert found["readiness"] == "ready"
    await service.publish(
        AccountRefreshFailed(account_id=seller.account, alias=seller.account, reason="revoked")
    )

    async def stopped() -> bool:
        found = (await service.http.get(f"/accounts/{seller.account}/readiness")).json()
        return bool(found["readiness"] == "not_ready")

    await wait_until(stopped, within=30)
    found = (await service.http.get(f"/accounts/{seller.account}/readiness")).json()
    assert missing(found) == {"allegro_connection"}
    sku = await service.send(seller.account, service.row())
    await service.waits_only_for(seller.account, sku, "readiness")
    assert service.on_allegro(seller, sku) == []


async def test_a_readiness_check_never_overwrites_one_that_began_later(
    service: Service,
) -> None:
    """A replica's check and an operator's race: the one that began later is the account's
    readiness, whichever finishes last."""
    account = f"acct-{uuid.uuid4().hex[:8]}"
    engine = create_engine(service.database_url)
    units = UnitsOfWork(engine, "offers")
    try:
        earlier = await units.handle(
            handlers.begin_readiness_check, c.BeginReadinessCheck(account, 60)
        )
        later = await units.handle(
            handlers.begin_readiness_check, c.BeginReadinessCheck(account, 60)
        )
        ok = [{"item": "return_policy", "status": "ok", "id": "rp"}]
        missing_policy = [{"item": "return_policy", "status": "missing", "fix": "create it"}]
        stored = await units.handle(
            handlers.readiness_found,
            c.ReadinessFound(account, ok, {"return_policy": "rp"}, 300, later.number),
        )
        assert stored["readiness"] == "ready"
        stale = await units.handle(
            handlers.readiness_found,
            c.ReadinessFound(account, missing_policy, {}, 300, earlier.number),
        )
        assert stale["readiness"] == "ready" and stale["items"] == ok
    finally:
        await engine.dispose()


async def test_offer_is_published_on_pl_cz_and_sk(service: Service) -> None:
    seller = await service.ready_seller()
    sku = await service.send(seller.account, service.row())
    offer = await service.wait_state(seller.account, sku, "active")
    [published] = await service.probe.wait_for("OfferPublished", sku=sku)
    assert published["offer_id"] == offer["offer_id"]
    assert published["price"] == {"amount": "49.90", "currency": "PLN"}
    assert published["stock"] == 5
    [on_allegro] = service.on_allegro(seller, sku)
    assert on_allegro["id"] == offer["offer_id"]
    assert on_allegro["publication"]["status"] == "ACTIVE"
    assert on_allegro["sellingMode"]["price"] == {"amount": "49.90", "currency": "PLN"}
    extra = on_allegro["additionalMarketplaces"]
    assert extra["allegro-cz"]["sellingMode"]["price"] == {"amount": "290", "currency": "CZK"}
    assert extra["allegro-sk"]["sellingMode"]["price"] == {"amount": "11.90", "currency": "EUR"}
    assert offer["sent"]["prices"]["allegro-cz"] == {"amount": "290", "currency": "CZK"}
    assert offer["sent"]["catalog_revision"] == 1 and offer["sent"]["stock"] == 5
    readiness = await service.readiness(seller.account)
    assert on_allegro["delivery"]["shippingRates"]["id"] == readiness["ids"]["shipping_rates"]
    assert [(h["from_state"], h["to_state"]) for h in offer["history"]][-2:] == [
        ("checking", "creating"),
        ("creating", "active"),
    ]
    progress = (await service.http.get(f"/accounts/{seller.account}/publication/progress")).json()
    assert progress["by_state"]["active"] == 1 and progress["to_do"] == 0
    assert progress["by_marketplace"]["allegro-pl"] == {"ACTIVE": 1}
    assert progress["rate_per_minute"] > 0 and progress["budget_per_minute"] > 0
    metrics = (await service.http.get("/metrics")).text
    assert 'mci_offers_steps_total{state="active",step="check"}' in metrics
    listed = (
        await service.http.get(f"/accounts/{seller.account}/offers", params={"state": "active"})
    ).json()
    assert [o["sku"] for o in listed["items"]] == [sku] and listed["next"] is None
    # The same catalogue revision again changes nothing: only newer revisions apply.
    await service.send(seller.account, service.row(), sku=sku, revision=1, priced=False)
    await asyncio.sleep(0.5)
    assert len(service.on_allegro(seller, sku)) == 1


async def shipping_by_weight(service: Service, account: str, bands: list[str]) -> None:
    """A weight-band shipping configuration, applied: a prepaid method to each of PL, CZ, SK
    and HU; lists for PL alone and for the four countries."""
    methods: dict[str, dict[str, Any]] = {}
    after = None
    while True:
        page = (
            await service.http.get(
                f"/accounts/{account}/shipping/delivery-methods",
                params={"limit": 100, **({"after": after} if after else {})},
            )
        ).json()
        methods.update({str(m["id"]): m for m in page["items"]})
        if not (after := page["next"]):
            break
    document = shipping_document(methods.values(), bands)
    configured = await service.http.put(f"/accounts/{account}/shipping", json=document)
    assert configured.status_code == 200, configured.text
    applied = await service.http.post(f"/accounts/{account}/shipping/apply")
    assert applied.status_code == 200, applied.text


async def test_an_offer_gets_the_shipping_list_of_its_weight_band(service: Service) -> None:
    """With a shipping configuration, each offer points at its weight band's list (not the
    account's "default" one), and a product heavier than the last band is not listable."""
    seller = await service.ready_seller()
    await shipping_by_weight(service, seller.account, ["1", "5"])
    skus: dict[str, str] = {}
    for weight in ("0.5", "3", "40"):
        row = {**service.row(), "weight_kg": weight}
        skus[weight] = await service.send(seller.account, row)
    default_list = (await service.readiness(seller.account))["ids"]["shipping_rates"]
    lists = {}
    for weight in ("0.5", "3"):
        await service.wait_state(seller.account, skus[weight], "active")
        choice = await service.http.get(
            f"/accounts/{seller.account}/shipping/price-list",
            params={"weight_kg": weight, "marketplace": ["allegro-pl", "allegro-cz", "allegro-sk"]},
        )
        lists[weight] = choice.json()["id"]
        [on_allegro] = service.on_allegro(seller, skus[weight])
        assert on_allegro["delivery"]["shippingRates"]["id"] == lists[weight]
    assert len({lists["0.5"], lists["3"], default_list}) == 3
    heavy = await service.wait_state(seller.account, skus["40"], "not_listable")
    assert heavy["reason"]["code"] == "no_shipping_band"
    assert "weight" in heavy["reason"]["message"]
    assert service.on_allegro(seller, skus["40"]) == []


async def test_offers_to_create_are_looked_up_together_by_external_id(service: Service) -> None:
    seller = await service.ready_seller()
    rows = [service.row() for _ in range(6)]
    skus = [f"SKU-{uuid.uuid4().hex[:10]}" for _ in rows]
    lookups = service.count("GET", "/sale/offers", 200)
    await service.publish(
        CatalogUpdated(
            account_id=seller.account,
            items=[catalog_item(row, sku, stock=2) for sku, row in zip(skus, rows, strict=True)],
        )
    )
    await service.publish(
        PriceComputed(
            account_id=seller.account,
            items=[PricedItem(sku=s, catalog_revision=1, prices=PRICES) for s in skus],
        )
    )
    for sku in skus:
        await service.wait_state(seller.account, sku, "active")
        assert len(service.on_allegro(seller, sku)) == 1
    # Six creates, each looked up first: in one call per claimed batch, not one per offer
    # (two replicas may split the batch).
    assert service.count("GET", "/sale/offers", 200) - lookups <= 2


async def test_a_marketplace_without_a_usable_price_is_left_out_and_said_why(
    service: Service,
) -> None:
    seller = await service.ready_seller()
    prices = {
        "allegro-pl": PRICES["allegro-pl"],
        "allegro-cz": Money(amount=Decimal("290.50"), currency="CZK"),  # CZK is whole crowns
    }
    sku = await service.send(seller.account, service.row(), prices=prices)
    offer = await service.wait_state(seller.account, sku, "active")
    assert offer["not_sent"] == {
        "allegro-cz": "290.50 CZK has the wrong precision",
        "allegro-sk": "no price from pricing",
    }
    assert set(offer["sent"]["prices"]) == {"allegro-pl"}
    [on_allegro] = service.on_allegro(seller, sku)
    assert on_allegro["additionalMarketplaces"]["allegro-cz"]["sellingMode"] is None


async def test_a_product_pricing_cannot_price_is_not_listable_and_a_later_price_lists_it(
    service: Service,
) -> None:
    seller = await service.ready_seller()
    sku = await service.send(seller.account, service.row(), priced=False)
    await service.waits_only_for(seller.account, sku, "price")
    too_heavy = PricedItem(sku=sku, catalog_revision=1, unpriced={"allegro-pl": "no_shipping_band"})
    await service.publish(PriceComputed(account_id=seller.account, items=[too_heavy]))
    offer = await service.wait_state(seller.account, sku, "not_listable")
    assert offer["reason"]["code"] == "no_shipping_band", offer
    assert service.on_allegro(seller, sku) == []
    # The operator adds a band that covers it: pricing sends a price, the offer goes live.
    priced = PricedItem(sku=sku, catalog_revision=1, prices=PRICES)
    await service.publish(PriceComputed(account_id=seller.account, items=[priced]))
    await service.wait_state(seller.account, sku, "active")
    assert len(service.on_allegro(seller, sku)) == 1


async def test_products_missing_or_ambiguous_are_not_listable_with_allegros_codes(
    service: Service,
) -> None:
    seller = await service.ready_seller()
    absent = await service.send(seller.account, service.row(presence=0))
    ambiguous = await service.send(seller.account, service.row(presence=2))
    for sku, code, allegro_code in (
        (absent, "product_missing", "ProductNotFoundException"),
        (ambiguous, "product_ambiguous", "MultipleProductsFoundException"),
    ):
        offer = await service.wait_state(seller.account, sku, "not_listable")
        assert offer["reason"]["code"] == code
        assert offer["reason"]["message"].startswith("Allegro's product catalogue") or (
            "several products" in offer["reason"]["message"]
        )
        assert allegro_code in [e["code"] for e in offer["reason"]["allegro_errors"]]
        [failed] = await service.probe.wait_for("OfferFailed", sku=sku)
        assert failed["reason"]["code"] == code and failed["state"] == "not_listable"
        assert service.on_allegro(seller, sku) == []
    page = (
        await service.http.get(
            f"/accounts/{seller.account}/offers", params={"state": "not_listable", "limit": 1}
        )
    ).json()
    assert len(page["items"]) == 1 and page["next"]
    rest = (
        await service.http.get(
            f"/accounts/{seller.account}/offers",
            params={"state": "not_listable", "after": page["next"]},
        )
    ).json()
    assert {o["sku"] for o in page["items"] + rest["items"]} == {absent, ambiguous}


def optional_offer_parameter(api: httpx.Client, category: str) -> dict[str, Any] | None:
    """A parameter of the category that describes the offer, is not required and has no
    condition: one the catalogue does not fill."""
    definitions = api.get(f"/sale/categories/{category}/parameters").json()["parameters"]
    return next(
        (
            p
            for p in definitions
            if not p["options"]["describesProduct"]
            and not p["required"]
            and not p.get("requiredIf")
        ),
        None,
    )


def row_with_optional_parameter(
    service: Service, seller: Seller
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A catalogue row (taken) whose category has a parameter the catalogue does not fill."""
    with seller.allegro(service.emulator) as api:
        row, parameter = next(
            (r, found)
            for r in service.rows
            if r["allegroProducts"] == 1
            and (found := optional_offer_parameter(api, r["allegro_category_id"])) is not None
        )
    service.rows.remove(row)
    return row, parameter


async def test_parameters_are_checked_against_the_category_before_sending(
    service: Service,
) -> None:
    seller = await service.ready_seller()
    row, parameter = row_with_optional_parameter(service, seller)
    category = row["allegro_category_id"]
    posts = service.count("POST", "/sale/product-offers", 201) + service.count(
        "POST", "/sale/product-offers", 422
    )
    invalid = await service.send(
        seller.account, row, attributes={"Stan opakowania": "w kształcie gwiazdy"}
    )
    offer = await service.wait_state(seller.account, invalid, "not_listable")
    assert offer["reason"]["code"] == "parameter_invalid"
    assert "248467" in offer["reason"]["message"] and "oryginalne" in offer["reason"]["message"]
    # A parameter the category now requires, which the catalogue does not fill.
    path = f"/categories/{category}/parameters/{parameter['id']}"
    service.emulator.admin("PUT", path, {"required": True})
    try:
        required = await service.send(seller.account, service.row_in(category))
        offer = await service.wait_state(seller.account, required, "not_listable")
        assert offer["reason"]["code"] == "parameter_missing"
        assert f"{parameter['name']} ({parameter['id']}) is required" in offer["reason"]["message"]
        assert offer["reason"]["allegro_errors"] == []  # found here, never sent
        assert service.on_allegro(seller, required) == []
    finally:
        service.emulator.admin("PUT", path, {"required": False})
    after = service.count("POST", "/sale/product-offers", 201) + service.count(
        "POST", "/sale/product-offers", 422
    )
    assert after == posts  # neither was sent to Allegro
    # Once the requirement is gone, a retry publishes it.
    response = await service.http.post(
        f"/accounts/{seller.account}/offers/retry", json={"skus": [required]}
    )
    assert response.json()["retried"] == 1
    offer = await service.wait_state(seller.account, required, "active")
    assert "retried by ops" in [h["cause"] for h in offer["history"]]


async def test_asynchronous_creation_polls_the_operation(service: Service) -> None:
    seller = await service.ready_seller()
    service.emulator.admin("PUT", "/config", {"async_offer_share": 1, "operation_seconds": 1.5})
    try:
        sku = await service.send(seller.account, service.row())
        offer = await service.wait_state(seller.account, sku, "active")
    finally:
        service.emulator.admin("PUT", "/config", {"async_offer_share": 0, "operation_seconds": 1})
    assert [(h["to_state"], h["cause"]) for h in offer["history"]][-2:] == [
        ("creating", "checks passed"),
        ("active", "operation completed"),
    ]
    assert (
        service.count("GET", "/sale/product-offers/{offerId}/operations/{operationId}", 202)
        + (service.count("GET", "/sale/product-offers/{offerId}/operations/{operationId}", 303))
        >= 1
    )
    [on_allegro] = service.on_allegro(seller, sku)
    assert on_allegro["publication"]["status"] == "ACTIVE"
    assert offer["offer_id"] == on_allegro["id"]


async def test_stock_zero_ends_and_a_restock_reactivates(service: Service) -> None:
    seller = await service.ready_seller()
    row = service.row()
    sku = await service.send(seller.account, row)
    await service.wait_state(seller.account, sku, "active")
    await service.send(seller.account, row, sku=sku, revision=2, stock=0, priced=False)
    offer = await service.wait_state(seller.account, sku, "ended")
    assert offer["reason"]["code"] == "stock_out"
    [ended] = await service.probe.wait_for("OfferEnded", sku=sku)
    assert ended["reason"]["code"] == "stock_out" and ended["offer_id"] == offer["offer_id"]
    assert service.on_allegro(seller, sku)[0]["publication"]["status"] == "ENDED"
    await service.send(seller.account, row, sku=sku, revision=3, stock=7, priced=False)
    offer = await service.wait_state(seller.account, sku, "active")
    await service.probe.wait_for("OfferPublished", 2, sku=sku)
    [on_allegro] = service.on_allegro(seller, sku)
    assert on_allegro["publication"]["status"] == "ACTIVE"
    assert on_allegro["stock"]["available"] == 7


async def test_a_message_naming_a_sku_twice_applies_its_newest_revision(
    service: Service,
) -> None:
    """The items of a message are stored together (one statement): one SKU twice in it takes
    the first item of its newest catalogue revision, and the last prices of the newest."""
    seller = await service.ready_seller()
    row, other = service.row(), service.row()
    sku, beside = f"SKU-{uuid.uuid4().hex[:10]}", f"SKU-{uuid.uuid4().hex[:10]}"
    await service.publish(
        CatalogUpdated(
            account_id=seller.account,
            items=[
                catalog_item(row, sku, revision=2, stock=3),
                catalog_item(other, beside, revision=1, stock=4),
                catalog_item(row, sku, revision=1, stock=9),
                catalog_item(row, sku, revision=2, stock=8),
            ],
        )
    )
    dearer = {**PRICES, "allegro-pl": Money(amount=Decimal("59.90"), currency="PLN")}
    await service.publish(
        PriceComputed(
            account_id=seller.account,
            items=[
                PricedItem(sku=sku, catalog_revision=2, prices=PRICES),
                PricedItem(sku=beside, catalog_revision=1, prices=PRICES),
                PricedItem(sku=sku, catalog_revision=1, prices=PRICES),
                PricedItem(sku=sku, catalog_revision=2, prices=dearer),
            ],
        )
    )
    await service.wait_state(seller.account, sku, "active")
    await service.wait_state(seller.account, beside, "active")
    [on_allegro] = service.on_allegro(seller, sku)
    assert on_allegro["stock"]["available"] == 3
    assert on_allegro["sellingMode"]["price"] == {"amount": "59.90", "currency": "PLN"}
    assert service.on_allegro(seller, beside)[0]["stock"]["available"] == 4
    # The two messages may be handled in either order (two replicas): revision 1 never is.
    causes = [h["cause"] for h in (await service.offer(seller.account, sku))["history"]]
    assert "catalogue revision 2" in causes
    assert [c for c in causes if "revision 1" in c] == []


async def test_a_concurrent_edit_is_retried_after_409(service: Service) -> None:
    seller = await service.ready_seller()
    row = service.row()
    sku = await service.send(seller.account, row)
    offer = await service.wait_state(seller.account, sku, "active")
    conflicts = service.count("PATCH", "/sale/product-offers/{offerId}", 409)
    # Someone edits the offer on Allegro; its processing is still running when we end it.
    service.emulator.admin("PUT", "/config", {"async_offer_share": 1, "operation_seconds": 4})
    try:
        with seller.allegro(service.emulator) as api:
            response = api.patch(
                f"/sale/product-offers/{offer['offer_id']}", json={"name": row["name"][:70]}
            )
            assert response.status_code == 202
        await service.send(seller.account, row, sku=sku, revision=2, listed=False, priced=False)
        offer = await service.wait_state(seller.account, sku, "ended")
    finally:
        service.emulator.admin("PUT", "/config", {"async_offer_share": 0, "operation_seconds": 1})
    assert service.count("PATCH", "/sale/product-offers/{offerId}", 409) > conflicts
    assert offer["reason"]["code"] == "unselected"
    assert service.on_allegro(seller, sku)[0]["publication"]["status"] == "ENDED"


async def test_late_validation_makes_the_offer_inactive_with_allegros_errors(
    service: Service,
) -> None:
    seller = await service.ready_seller()
    service.emulator.admin(
        "PUT", "/config", {"late_validation_share": 1, "late_validation_seconds": 0.3}
    )
    try:
        sku = await service.send(seller.account, service.row())
        await service.wait_state(seller.account, sku, "active")
    finally:
        service.emulator.admin("PUT", "/config", {"late_validation_share": 0})
    offer = await service.wait_state(seller.account, sku, "inactive")
    assert offer["reason"]["code"] == "late_validation"
    assert [e["code"] for e in offer["reason"]["allegro_errors"]] == [
        "ConstraintViolationException.OfferValidation"
    ]
    [failed] = await service.probe.wait_for("OfferFailed", sku=sku)
    assert failed["offer_id"] == offer["offer_id"] and failed["state"] == "inactive"


async def test_the_eta_at_the_budget_counts_the_images_still_to_upload(service: Service) -> None:
    """Each image no upload holds yet is one more Client ID call before its offers go; two
    offers sharing one count it once, and none is left once they are live."""
    seller = await service.ready_seller()
    await service.http.post(f"/accounts/{seller.account}/publication/pause")
    first, second = service.row(), service.row()
    second = {**second, "images": [first["images"][0], *second["images"]]}
    skus = [await service.send(seller.account, row) for row in (first, second)]
    for sku in skus:
        await service.wait_state(seller.account, sku, "checking")
    progress_path = f"/accounts/{seller.account}/publication/progress"
    paused = (await service.http.get(progress_path)).json()
    images = {*first["images"][:16], *second["images"][:16]}
    assert paused["to_do"] == 2 and paused["images_to_upload"] == len(images)
    # The share of the Client ID the service runs with, as the ETA reads it.
    assert service.allegro_settings is not None
    calls = service.allegro_settings.client_requests_per_minute
    creates = service.allegro_settings.seller_limits["product-offers:POST"]
    assert paused["budgets"] == {
        "creates_per_minute": round(creates, 2),
        "client_calls_per_minute": round(calls, 2),
    }
    minutes = max(2 / creates, (2 * 2 + len(images)) / calls)
    assert paused["eta_seconds_at_budget"] == round(minutes * 60)
    await service.http.post(f"/accounts/{seller.account}/publication/resume")
    for sku in skus:
        await service.wait_state(seller.account, sku, "active")
    live = (await service.http.get(progress_path)).json()
    assert live["to_do"] == 0 and live["images_to_upload"] == 0


async def test_pause_dry_run_and_resume(service: Service) -> None:
    seller = await service.ready_seller()
    paused = await service.http.post(f"/accounts/{seller.account}/publication/pause")
    assert paused.json()["paused"] is True
    good = await service.send(seller.account, service.row())
    unpriced = await service.send(seller.account, service.row(), priced=False)
    absent = await service.send(seller.account, service.row(presence=0))
    await service.wait_state(seller.account, good, "checking")
    await service.wait_state(seller.account, absent, "checking")
    await asyncio.sleep(1)  # the worker runs; a paused account gets nothing sent
    assert (await service.offer(seller.account, good))["state"] == "checking"
    assert service.on_allegro(seller, good) == []
    dry_run = f"/accounts/{seller.account}/publication/dry-run"
    plan = (await service.http.post(dry_run)).json()
    assert sorted(plan["would"]["create"]["skus"]) == sorted([good, absent])
    assert plan["failing_checks"] == [{"sku": unpriced, "waiting_for": ["price"]}]
    plan = (await service.http.post(dry_run, params={"check_products": "true"})).json()
    assert plan["would"]["create"]["skus"] == [good]
    [failing] = [f for f in plan["failing_checks"] if f["sku"] == absent]
    assert [p["code"] for p in failing["problems"]] == ["product_missing"]
    assert service.on_allegro(seller, good) == [] and service.on_allegro(seller, absent) == []
    await service.http.post(f"/accounts/{seller.account}/publication/resume")
    await service.wait_state(seller.account, good, "active")
    await service.wait_state(seller.account, absent, "not_listable")
    assert (await service.offer(seller.account, unpriced))["state"] == "waiting"


async def test_bad_requests_get_the_shared_error_body(service: Service) -> None:
    seller = await service.ready_seller()
    base = f"/accounts/{seller.account}"
    response = await service.http.get(f"{base}/offers", params={"state": "sideways"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_state"
    response = await service.http.post(f"{base}/offers/retry", json={"states": ["active"]})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_state"
    response = await service.http.post(f"{base}/readiness", json={"marketplaces": ["allegro-xx"]})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_marketplace"
    response = await service.http.get(f"{base}/offers/SKU-NOPE")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    response = await service.http.get("/accounts/acct-unknown/readiness")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_account"


async def test_a_worker_killed_right_after_allegros_answer_creates_nothing_twice(
    make_database: MakeDatabase, amqp_url: str, emulator: EmulatorHandle, service: Service
) -> None:
    """A worker process on its own database dies (SIGKILL) right after each create's answer,
    before storing it; restarted until every offer is active, each SKU is on Allegro once."""
    database_url = await make_database("offers_crash", MIGRATIONS)
    seller = service.seller()
    with seller.allegro(emulator) as api:
        assert api.post("/sale/responsible-producers", json=PRODUCER).status_code == 201
    engine = create_engine(database_url)
    units = UnitsOfWork(engine, "offers")
    # Two SKUs: a crash after a create and a restart that adopts it, then the same again with
    # a worker that has already crashed once; each extra SKU cost one more process start.
    skus = [f"SKU-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    rows = [service.row() for _ in skus]
    await units.handle(
        handlers.save_readiness_input,
        c.SaveReadinessInput(seller.account, PRODUCER, SAFETY, None),
    )
    await units.handle(
        handlers.catalog_updated,
        CatalogUpdated(
            account_id=seller.account,
            items=[catalog_item(row, sku, stock=3) for sku, row in zip(skus, rows, strict=True)],
        ),
    )
    await units.handle(
        handlers.price_computed,
        PriceComputed(
            account_id=seller.account,
            items=[PricedItem(sku=s, catalog_revision=1, prices=PRICES) for s in skus],
        ),
    )

    async def states() -> dict[str, str]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT sku, state FROM offers WHERE account_id = :a"),
                {"a": seller.account},
            )
            return {r[0]: r[1] for r in rows}

    env = {
        **os.environ,
        "OFFERS_DATABASE_URL": database_url,
        "OFFERS_AMQP_URL": amqp_url,
        "OFFERS_RUN_MIGRATIONS": "false",
        "OFFERS_ALLEGRO_API_URL": emulator.url,
        "OFFERS_ALLEGRO_AUTH_URL": emulator.url,
        "OFFERS_PUBLISH_CONCURRENCY": "1",
        "OFFERS_PUBLISH_POLL_INTERVAL_SECONDS": "0.1",
        "OFFERS_PUBLISH_LEASE_SECONDS": "3",  # a killed worker's claim expires quickly
    }
    script = str(Path(__file__).with_name("offers_worker.py"))
    kills = 0
    try:
        while set((await states()).values()) != {"active"}:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                script,
                "--die-after",
                "create",
                str(free_port()),
                f"{seller.account}={seller.token}",
                env=env,
            )

            async def died_or_done(process: asyncio.subprocess.Process = process) -> bool:
                return process.returncode is not None or set((await states()).values()) == {
                    "active"
                }

            await wait_until(died_or_done, within=180)  # a process start on a loaded machine
            if process.returncode is None:  # nothing left to create: it finished the rest
                process.send_signal(signal.SIGKILL)
                await process.wait()
                break
            assert process.returncode == -signal.SIGKILL
            kills += 1
            assert kills <= len(skus)
            await asyncio.sleep(3.1)  # its claim expires
        async with engine.connect() as conn:
            adopted = (
                await conn.execute(
                    sa.text(
                        "SELECT count(*) FROM offer_transitions WHERE account_id = :a"
                        " AND cause = 'found on Allegro by external id'"
                    ),
                    {"a": seller.account},
                )
            ).scalar_one()
            published = (
                await conn.execute(
                    sa.text("SELECT count(*) FROM outbox WHERE type = 'OfferPublished'")
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert kills == len(skus)  # one crash per create: every create's answer was lost once
    assert adopted == len(skus) and published == len(skus)
    for sku in skus:
        assert len(service.on_allegro(seller, sku)) == 1
