"""The offers service against Allegro's rate limits, over HTTP on the emulator: a 429 storm (with
and without Retry-After, on the creates, the operation polls and read-backs, and the look-ups
by external id) loses and duplicates no offer; two worker replicas on one database share the
creation budget through PostgreSQL and together stay under it, with no 429.

The emulator's limits are scaled (`rate_limit_scale`) and the service is told the same factor
(`allegro_rate_limit_scale`), so a minute of Allegro's lasts a few seconds here.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mci_testing.app import running_app
from mci_testing.bus import Bus
from mci_testing.emulator import EmulatorHandle, catalog_item, start_emulator
from mci_testing.fixtures import MakeDatabase
from mci_testing.infra import free_port, wait_until
from offers.main import MIGRATIONS, build
from offers.settings import Settings
from shared.accounts import StaticAccounts
from shared.allegro.tokens import StaticTokens
from shared.db import create_engine
from shared.events import (
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

from .test_service import PRODUCER, SAFETY

OFFER_EVENTS = (OfferPublished.routing_key, OfferFailed.routing_key, OfferEnded.routing_key)
PRICES = {"allegro-pl": Money(amount=Decimal("49.90"), currency="PLN")}
# Allegro's minute lasts 60 / SCALE seconds here: a Client ID block (60 s) lasts 2 s.
SCALE = 30.0


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    handle = start_emulator(
        catalogue_size=3000,
        rate_limit_scale=SCALE,
        async_offer_share=0.3,
        operation_seconds=0.3,
        duplicate_event_share=0,
        qualification_seconds=0,
    )
    yield handle
    handle.server.should_exit = True


@pytest.fixture(scope="module")
def rows(emulator: EmulatorHandle) -> list[dict[str, Any]]:
    """Supplier products whose EAN matches exactly one of Allegro's catalogue products."""
    sample = emulator.admin("GET", "/catalogue/sample?n=1500")["rows"]
    return [r for r in sample if r["allegroProducts"] == 1]


@dataclass
class Shop:
    emulator: EmulatorHandle
    http: httpx.AsyncClient
    bus: Bus
    engine: AsyncEngine
    account: str
    login: str

    async def publish(self, event: Event) -> None:
        await self.bus.publish(event)

    async def send(self, products: list[dict[str, Any]]) -> list[str]:
        """The products selected, with stock and a price: through the broker, as catalog and
        pricing send them."""
        skus = [f"SKU-{uuid.uuid4().hex[:10]}" for _ in products]
        items = [catalog_item(row, sku) for sku, row in zip(skus, products, strict=True)]
        await self.publish(CatalogUpdated(account_id=self.account, items=items))
        await self.publish(
            PriceComputed(
                account_id=self.account,
                items=[PricedItem(sku=s, catalog_revision=1, prices=PRICES) for s in skus],
            )
        )
        return skus

    async def states(self) -> Counter[str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT state FROM offers WHERE account_id = :a"), {"a": self.account}
            )
            return Counter(r[0] for r in rows)

    async def wait_all_active(self, count: int, within: float = 240) -> None:
        async def done() -> bool:
            return (await self.states())["active"] == count

        try:
            await wait_until(done, within=within, interval=0.5)
        except AssertionError:
            raise AssertionError(f"not all {count} active: {await self.states()}") from None

    def on_allegro(self) -> list[dict[str, Any]]:
        state = self.emulator.admin("GET", f"/state?login={self.login}")
        offers: list[dict[str, Any]] = state["sellers"][0]["offers"]
        return offers

    def too_many_requests(self) -> int:
        return int(self.emulator.admin("GET", "/counters")["tooManyRequests"])

    async def rate_limited_seen(self) -> float:
        """The service's own count of 429s (its /metrics, both scopes)."""
        return _sample((await self.http.get("/metrics")).text, "mci_allegro_rate_limited_total{")


def settings_for(database_url: str, amqp_url: str, emulator: EmulatorHandle) -> Settings:
    return Settings(
        database_url=database_url,
        amqp_url=amqp_url,
        run_migrations=False,
        outbox_poll_interval_seconds=0.2,
        allegro_api_url=emulator.url,
        allegro_auth_url=emulator.url,
        allegro_rate_limit_scale=SCALE,
        publish_poll_interval_seconds=0.1,
        publish_backoff_seconds=0.3,
        publish_backoff_max_seconds=1.0,
        verify_after_seconds=1.0,
        # Shorter than a storm's waits (blocks of 2 s, retried): claims run out mid-wait and
        # the other replica takes the offers over, the race a late create would lose.
        publish_lease_seconds=6.0,
    )


@pytest.fixture
async def shop(
    make_database: MakeDatabase, amqp_url: str, emulator: EmulatorHandle
) -> AsyncIterator[Shop]:
    """Two replicas of the service on one fresh database, and a ready seller."""
    emulator.admin("DELETE", "/faults")
    database_url = await make_database("offers_floor", MIGRATIONS)
    settings = settings_for(database_url, amqp_url, emulator)
    login = emulator.new_seller(prerequisites=True)["login"]
    account = f"acct-{uuid.uuid4().hex[:8]}"
    tokens = StaticTokens({account: emulator.token_for(login)["access_token"]})
    accounts = StaticAccounts()
    accounts.add(account)
    bus = await Bus.open(amqp_url)
    engine = create_engine(database_url, pool_size=1)
    token = issue_token(settings.service_token_secret.get_secret_value(), "ops", "operator")
    first = create_app(build(settings, allegro_tokens=tokens, accounts=accounts))
    second = create_app(build(settings, allegro_tokens=tokens, accounts=accounts))
    try:
        async with running_app(first) as http, running_app(second):
            http.headers["Authorization"] = f"Bearer {token}"
            # Where the offer events go (unread here): the outbox publishes them mandatory.
            await bus.probe(*OFFER_EVENTS)
            ready = await http.post(
                f"/accounts/{account}/readiness",
                json={
                    "create_missing": True,
                    "responsible_producer": PRODUCER,
                    "safety_information": SAFETY,
                },
            )
            assert ready.json()["readiness"] == "ready", ready.text
            yield Shop(emulator, http, bus, engine, account, login)
    finally:
        emulator.admin("DELETE", "/faults")
        emulator.admin("PUT", "/config", {"rate_limit_retry_after": False})
        await bus.close()
        await engine.dispose()


def storm(emulator: EmulatorHandle, path_prefix: str, count: int, retry_after: bool) -> None:
    """The next `count` calls under `path_prefix` are answered 429, with or without
    Retry-After (the emulator's Client ID block, scaled)."""
    emulator.admin("PUT", "/config", {"rate_limit_retry_after": retry_after})
    emulator.admin("PUT", "/faults", {"forced429": count, "pathPrefix": path_prefix})


async def test_a_429_storm_loses_and_duplicates_no_offer(
    shop: Shop, rows: list[dict[str, Any]]
) -> None:
    seen_before = await shop.rate_limited_seen()
    sent_before = shop.too_many_requests()
    skus: list[str] = []
    # One wave of products per storm, so each storm meets calls of its kind: look-ups by
    # external id without Retry-After, then creates, operation polls and read-backs with it,
    # then without it.
    waves = [
        ("/sale/offers", 6, False),
        ("/sale/product-offers", 40, True),
        ("/sale/product-offers", 40, False),
    ]
    for wave, (prefix, count, retry_after) in enumerate(waves):
        before = shop.too_many_requests()
        storm(shop.emulator, prefix, count, retry_after)
        skus += await shop.send(rows[wave * 100 : (wave + 1) * 100])

        async def spent(before: int = before, count: int = count) -> bool:
            return shop.too_many_requests() - before >= count

        await wait_until(spent, within=300, interval=0.2)
    shop.emulator.admin("DELETE", "/faults")
    await shop.wait_all_active(len(skus))

    offers = shop.on_allegro()
    by_sku = Counter((o.get("external") or {}).get("id") for o in offers)
    assert not [sku for sku, n in by_sku.items() if n > 1], "an offer was created twice"
    assert set(by_sku) == set(skus), "an offer is missing on Allegro"
    assert {o["publication"]["status"] for o in offers} == {"ACTIVE"}
    sent = shop.too_many_requests() - sent_before
    assert sent >= sum(count for _, count, _ in waves)
    # Every 429 Allegro sent was met by the client, none was swallowed by a retry unseen.
    assert await shop.rate_limited_seen() - seen_before == sent


# Allegro's minute lasts ten here: 2,400 creates in ten minutes is 4 a second, slow enough for
# a loaded machine to outrun, so the shared budget, not the workers, sets the pace.
SLOW_SCALE = 0.1


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[EmulatorHandle]:
    handle = start_emulator(
        catalogue_size=3000,
        rate_limit_scale=SLOW_SCALE,
        async_offer_share=0.3,
        operation_seconds=0.3,
        duplicate_event_share=0,
        qualification_seconds=0,
    )
    yield handle
    handle.server.should_exit = True


async def test_two_worker_processes_share_the_budget_and_never_exceed_it(
    make_database: MakeDatabase,
    amqp_url: str,
    slow_emulator: EmulatorHandle,
    rows: list[dict[str, Any]],
) -> None:
    """Two processes of the service on one database publish together; the creation budget in
    PostgreSQL is shared, so together they stay under Allegro's limit: no 429 at all, while
    the limiter held them back (the budget, not the workers, set the pace)."""
    emulator = slow_emulator
    database_url = await make_database("offers_two", MIGRATIONS)
    login = emulator.new_seller(prerequisites=True)["login"]
    account = f"acct-{uuid.uuid4().hex[:8]}"
    token = emulator.token_for(login)["access_token"]
    secret = "two-workers-" + uuid.uuid4().hex
    env = {
        **os.environ,
        "OFFERS_DATABASE_URL": database_url,
        "OFFERS_AMQP_URL": amqp_url,
        "OFFERS_RUN_MIGRATIONS": "false",
        "OFFERS_ALLEGRO_API_URL": emulator.url,
        "OFFERS_ALLEGRO_AUTH_URL": emulator.url,
        "OFFERS_ALLEGRO_RATE_LIMIT_SCALE": str(SLOW_SCALE),
        # The whole Client ID: at offers' default half the images and look-ups, not the
        # creates' own limit, set the pace, and the test took twice as long proving the same.
        "OFFERS_ALLEGRO_CLIENT_SHARE": "1.0",
        "OFFERS_KNOWN_ACCOUNTS": json.dumps([account]),
        "OFFERS_PUBLISH_POLL_INTERVAL_SECONDS": "0.1",
        # A process holds at most its slots and a batch of claimed offers (18 here, 98 by
        # default): the 80 arrive within a moment, and one process would claim them all.
        "OFFERS_PUBLISH_CONCURRENCY": "8",
        "OFFERS_PUBLISH_BATCH_SIZE": "10",
        "OFFERS_VERIFY_AFTER_SECONDS": "1",
        "OFFERS_OUTBOX_POLL_INTERVAL_SECONDS": "0.2",
        "MCI_SERVICE_TOKEN_SECRET": secret,
    }
    script = str(Path(__file__).with_name("offers_worker.py"))
    ports = [free_port(), free_port()]
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, script, str(port), f"{account}={token}", env=env
        )
        for port in ports
    ]
    engine = create_engine(database_url, pool_size=1)
    bus = await Bus.open(amqp_url)
    operator = issue_token(secret, "ops", "operator")
    try:
        clients = [
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {operator}"},
                timeout=60,
            )
            for port in ports
        ]
        for client in clients:

            async def up(client: httpx.AsyncClient = client) -> bool:
                try:
                    return (await client.get("/health/ready")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_until(up, within=60, interval=0.2)
        ready = await clients[0].post(
            f"/accounts/{account}/readiness",
            json={
                "create_missing": True,
                "responsible_producer": PRODUCER,
                "safety_information": SAFETY,
            },
        )
        assert ready.json()["readiness"] == "ready", ready.text
        await bus.probe(*OFFER_EVENTS)
        shop = Shop(emulator, clients[0], bus, engine, account, login)
        emulator.admin("DELETE", "/counters")
        skus = await shop.send(rows[:80])
        await shop.wait_all_active(len(skus), within=300)
        counters = emulator.admin("GET", "/counters")
        metrics = [(await client.get("/metrics")).text for client in clients]
        for client in clients:
            await client.aclose()
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
                await process.wait()
        await bus.close()
        await engine.dispose()

    assert counters["tooManyRequests"] == 0, counters
    by_sku = Counter((o.get("external") or {}).get("id") for o in shop.on_allegro())
    assert by_sku == Counter(skus)  # each once
    creates = [
        _sample(text, "mci_allegro_requests_total", "product-offers:POST") for text in metrics
    ]
    assert all(n > 0 for n in creates), f"both processes create: {creates}"
    assert sum(creates) == len(skus)
    waits = [_sample(text, "mci_allegro_limiter_wait_seconds_count") for text in metrics]
    assert sum(waits) > 0, "the shared budget never held a call back: the test proves nothing"


def _sample(text: str, name: str, contains: str = "") -> float:
    """The sum of a metric's samples in a /metrics text (those whose labels hold `contains`)."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#") and contains in line
    )
