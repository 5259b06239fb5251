"""The price and stock sync on real PostgreSQL and RabbitMQ against the Allegro emulator over
HTTP (the service and emulator of test_service.py: two replicas on one database): price
changes in batch commands per marketplace, 1,000+ changes cut into commands of at most 1,000,
coalescing while a command is in flight, a command with a failed task beside succeeded ones,
a refused END surfaced to the operator, and a worker killed right after a command's PUT whose
command id is sent again without anything applied twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mci_testing.emulator import EmulatorHandle, catalog_item
from mci_testing.fixtures import MakeDatabase
from mci_testing.infra import free_port, wait_until
from offers import handlers
from offers.domain import commands as c
from offers.main import MIGRATIONS
from shared.allegro.client import LARGEST_COMMAND
from shared.db import create_engine
from shared.events import CatalogUpdated, Money, PriceComputed, PricedItem
from shared.uow import UnitsOfWork

from .test_service import (
    ALLEGRO_HEADERS,
    PRICES,
    PRODUCER,
    SAFETY,
    Seller,
    Service,
    emulator,
    row_with_optional_parameter,
    running_service,
)

__all__ = ["emulator"]  # the module's emulator fixture, shared with test_service


@pytest.fixture(scope="module")
async def service(
    make_database: MakeDatabase, amqp_url: str, emulator: EmulatorHandle
) -> AsyncIterator[Service]:
    # Category parameters cached and a quick read-back: the sync waits for an offer's
    # publication steps.
    async with running_service(
        make_database,
        amqp_url,
        emulator,
        category_parameters_max_age_seconds=3600.0,
        verify_after_seconds=0.5,
    ) as found:
        yield found


PRICE_PUT = "/sale/offer-price-change-commands/{commandId}"


def prices(pl: str, cz: str = "290") -> dict[str, Money]:
    return {
        **PRICES,
        "allegro-pl": Money(amount=Decimal(pl), currency="PLN"),
        "allegro-cz": Money(amount=Decimal(cz), currency="CZK"),
    }


async def reprice(
    service: Service, account: str, skus: list[str], wanted: dict[str, Money]
) -> None:
    await service.publish(
        PriceComputed(
            account_id=account,
            items=[PricedItem(sku=s, catalog_revision=1, prices=wanted) for s in skus],
        )
    )


async def restock(
    service: Service, account: str, rows: dict[str, dict[str, Any]], stock: int, revision: int
) -> None:
    items = [catalog_item(row, sku, revision, stock) for sku, row in rows.items()]
    await service.publish(CatalogUpdated(account_id=account, items=items))


def commands(service: Service, seller: Seller, kind: str | None = None) -> list[dict[str, Any]]:
    """The commands the emulator received from the seller (id, kind, tasks)."""
    state = service.emulator.admin("GET", f"/state?login={seller.login}")
    return [c for c in state["sellers"][0]["commands"] if kind is None or c["kind"] == kind]


def allegro_offer(service: Service, seller: Seller, offer_id: str) -> dict[str, Any]:
    with seller.allegro(service.emulator) as api:
        response = api.get(f"/sale/product-offers/{offer_id}")
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found


async def settled(service: Service, account: str) -> dict[str, int]:
    """Offers by state among those with nothing pending (no publication step, no command)."""
    rows = await query(
        service,
        "SELECT state, count(*) FROM offers WHERE account_id = :a AND work IS NULL"
        " AND sync_command_id IS NULL GROUP BY state",
        a=account,
    )
    return {r[0]: int(r[1]) for r in rows}


# One connection for the tests' own reads, held for the module: reconnecting on every poll
# would compete for the database server's connection slots with the services under test.
_ENGINES: dict[str, AsyncEngine] = {}


@pytest.fixture(scope="module", autouse=True)
async def _reader() -> AsyncIterator[None]:
    yield
    for engine in _ENGINES.values():
        await engine.dispose()
    _ENGINES.clear()


async def query(service: Service, sql: str, **values: Any) -> list[Any]:
    engine = _ENGINES.get(service.database_url)
    if engine is None:
        engine = _ENGINES[service.database_url] = create_engine(service.database_url, pool_size=1)
    async with engine.begin() as conn:
        result = await conn.execute(sa.text(sql), values)
        return list(result) if result.returns_rows else []


async def published(
    service: Service,
    seller: Seller,
    count: int = 1,
    stock: int = 5,
) -> dict[str, dict[str, Any]]:
    """`count` live offers of the seller with nothing pending, by SKU (the catalogue rows)."""
    rows = {f"SKU-{uuid.uuid4().hex[:10]}": service.row() for _ in range(count)}
    for sku, row in rows.items():
        await service.send(seller.account, row, sku=sku, stock=stock)

    async def live() -> bool:
        return (await settled(service, seller.account)).get("active", 0) == count

    await wait_until(live, within=120, interval=0.5)
    return rows


async def sent(service: Service, account: str, sku: str, check: Any) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def reached() -> bool:
        seen.update(await service.offer(account, sku))
        return bool(check(seen))

    try:
        await wait_until(reached, within=60)
    except AssertionError:
        raise AssertionError(f"{sku}: never reached: {seen}") from None
    return seen


async def test_a_price_change_goes_out_in_one_command_per_marketplace(service: Service) -> None:
    seller = await service.ready_seller()
    [sku] = await published(service, seller)
    before = await service.offer(seller.account, sku)
    assert commands(service, seller) == []  # the create carried price and stock
    await reprice(service, seller.account, [sku], prices("59.90", "350"))
    offer = await sent(
        service,
        seller.account,
        sku,
        lambda o: (
            o["sent"]["prices"]["allegro-pl"]["amount"] == "59.90"
            and o["sent"]["prices"]["allegro-cz"]["amount"] == "350"
        ),
    )
    on_allegro = allegro_offer(service, seller, before["offer_id"])
    assert on_allegro["sellingMode"]["price"] == {"amount": "59.90", "currency": "PLN"}
    cz = on_allegro["additionalMarketplaces"]["allegro-cz"]["sellingMode"]["price"]
    assert Decimal(cz["amount"]) == 350 and cz["currency"] == "CZK"
    # One price command each for PL and CZ; SK's price did not change.
    sent_commands = commands(service, seller, "price")
    assert len(sent_commands) == 2 and all(c["tasks"] == 1 for c in sent_commands)
    last = offer["sync"]["last_command"]
    assert last["kind"] == "price" and last["result"] == "success"
    assert last["command_id"] in {c["id"] for c in sent_commands}
    assert offer["sync"]["in_command"] is None and offer["sync"]["error"] is None
    progress = (await service.http.get(f"/accounts/{seller.account}/publication/progress")).json()
    assert progress["sync"] == {"in_flight": 0, "failed": 0, "waiting": 0}


async def offers_made_on_allegro(
    service: Service, seller: Seller, skus: list[str], ean: str
) -> dict[str, str]:
    """Live offers made through Allegro's API (as the publication would), by SKU: their ids."""
    body = {
        "productSet": [
            {
                "product": {"id": ean, "idType": "GTIN"},
                "responsibleProducer": {"type": "NAME", "name": PRODUCER["name"]},
                "safetyInformation": {"type": "TEXT", "description": SAFETY},
            }
        ],
        "parameters": [{"id": "11323", "valuesIds": ["11323_1"]}],
        "sellingMode": {"price": {"amount": "49.90", "currency": "PLN"}},
        "stock": {"available": 5, "unit": "UNIT"},
        "publication": {"status": "ACTIVE"},
    }
    slots = asyncio.Semaphore(8)
    made: dict[str, str] = {}
    async with httpx.AsyncClient(
        base_url=service.emulator.url,
        headers={**ALLEGRO_HEADERS, "Authorization": f"Bearer {seller.token}"},
        timeout=60,
    ) as api:

        async def make(sku: str) -> None:
            async with slots:
                response = await api.post(
                    "/sale/product-offers", json={**body, "external": {"id": sku}}
                )
                assert response.status_code == 201, response.text
                made[sku] = str(response.json()["id"])

        await asyncio.gather(*(make(sku) for sku in skus))
    return made


async def test_a_thousand_and_more_changes_go_in_commands_of_the_largest_command_size(
    service: Service,
) -> None:
    seller = await service.ready_seller()
    skus = [f"BULK-{uuid.uuid4().hex[:8]}-{i}" for i in range(1003)]
    made = await offers_made_on_allegro(service, seller, skus, service.row()["ean"])
    # Recorded as published with the price and stock they were made with (the publication's
    # own tests cover how they get there).
    pl = {"allegro-pl": {"amount": "49.90", "currency": "PLN"}}
    await query(
        service,
        "INSERT INTO offers (account_id, sku, state, offer_id, allegro_status, listed,"
        " catalog_revision, stock, prices, price_revision, sent_catalog_revision,"
        " sent_price_revision, sent_prices, sent_stock)"
        " SELECT :a, sku, 'active', offer_id, 'ACTIVE', true, 1, 5, CAST(:p AS jsonb), 1, 1, 1,"
        " CAST(:p AS jsonb), 5 FROM unnest(CAST(:skus AS text[]), CAST(:ids AS text[]))"
        " AS t(sku, offer_id)",
        a=seller.account,
        p=json.dumps(pl),
        skus=list(made),
        ids=list(made.values()),
    )
    assert commands(service, seller) == []
    await service.publish(
        PriceComputed(
            account_id=seller.account,
            items=[
                PricedItem(
                    sku=s,
                    catalog_revision=1,
                    prices={"allegro-pl": Money(amount=Decimal("44.40"), currency="PLN")},
                )
                for s in skus
            ],
        )
    )

    async def all_sent() -> bool:
        rows = await query(
            service,
            "SELECT count(*) FROM offers WHERE account_id = :a"
            " AND sent_prices -> 'allegro-pl' ->> 'amount' = '44.40'",
            a=seller.account,
        )
        return int(rows[0][0]) == len(skus)

    await wait_until(all_sent, within=180, interval=0.5)
    full, rest = divmod(len(skus), LARGEST_COMMAND)  # 300 a command: 3 of them and 103
    expected = sorted([LARGEST_COMMAND] * full + [rest])
    sizes = sorted(c["tasks"] for c in commands(service, seller, "price"))
    assert sizes == expected
    stored = await query(
        service,
        "SELECT offer_count FROM offer_commands WHERE account_id = :a ORDER BY offer_count",
        a=seller.account,
    )
    assert [r[0] for r in stored] == expected
    state = service.emulator.admin("GET", f"/state?login={seller.login}")
    amounts = {o["sellingMode"]["price"]["amount"] for o in state["sellers"][0]["offers"]}
    assert amounts == {"44.40"}


async def test_changes_arriving_while_a_command_is_in_flight_are_coalesced(
    service: Service,
) -> None:
    seller = await service.ready_seller()
    [sku] = await published(service, seller)
    # Slow tasks: the first command is still running when the next two prices arrive.
    service.emulator.admin("PUT", "/config", {"command_seconds": 4})
    try:
        await reprice(service, seller.account, [sku], prices("51.00"))
        await sent(service, seller.account, sku, lambda o: o["sync"]["in_command"])
        # Each stored before the next is published (two replicas consume the queue, and one
        # catalogue revision does not order prices of equal revision).
        for amount in ("52.00", "53.00"):
            await reprice(service, seller.account, [sku], prices(amount))
            await sent(
                service,
                seller.account,
                sku,
                lambda o, a=amount: o["prices"]["allegro-pl"]["amount"] == a,
            )
        assert (await service.offer(seller.account, sku))["sync"]["in_command"]
        offer = await sent(
            service,
            seller.account,
            sku,
            lambda o: o["sent"]["prices"]["allegro-pl"]["amount"] == "53.00",
        )
    finally:
        service.emulator.admin("PUT", "/config", {"command_seconds": 0.5})
    values = await query(
        service,
        "SELECT c.value ->> 'amount' FROM offer_commands c JOIN offer_command_offers i"
        " USING (command_id) WHERE i.account_id = :a AND i.sku = :sku AND c.kind = 'price'"
        " AND c.marketplace = 'allegro-pl' ORDER BY c.created_at",
        a=seller.account,
        sku=sku,
    )
    assert [v[0] for v in values] == ["51.00", "53.00"]  # 52.00 was never sent
    assert len(commands(service, seller, "price")) == 2
    on_allegro = allegro_offer(service, seller, offer["offer_id"])
    assert on_allegro["sellingMode"]["price"]["amount"] == "53.00"


async def test_a_failed_task_is_retried_while_the_others_of_its_command_succeed(
    service: Service,
) -> None:
    seller = await service.ready_seller()
    rows = await published(service, seller, count=3)
    busy, *others = list(rows)
    busy_offer = (await service.offer(seller.account, busy))["offer_id"]
    service.emulator.admin("PUT", "/config", {"command_seconds": 5})
    try:
        # Someone else's quantity change of one offer is still running on Allegro.
        with seller.allegro(service.emulator) as api:
            api.put(
                f"/sale/offer-quantity-change-commands/{uuid.uuid4()}",
                json={
                    "modification": {"changeType": "FIXED", "value": 4},
                    "offerCriteria": [{"type": "CONTAINS_OFFERS", "offers": [{"id": busy_offer}]}],
                },
            ).raise_for_status()
        await restock(service, seller.account, rows, 9, revision=2)
        for sku in rows:
            await sent(service, seller.account, sku, lambda o: o["sent"]["stock"] == 9)
    finally:
        service.emulator.admin("PUT", "/config", {"command_seconds": 0.5})
    results = await query(
        service,
        "SELECT i.sku, i.result, i.error FROM offer_command_offers i JOIN offer_commands c"
        " USING (command_id) WHERE i.account_id = :a AND c.kind = 'quantity'"
        " ORDER BY c.created_at, i.sku",
        a=seller.account,
    )
    first = [r for r in results if r[0] in rows][:3]
    by_sku = {r[0]: r for r in first}
    assert all(by_sku[s][1] == "success" for s in others)
    assert by_sku[busy][1] == "failed"
    error = by_sku[busy][2]
    assert error["allegro_code"] == "InProgressTaskLimitReachedException"
    assert error["code"] == "sync_unavailable" and not error["surfaced"]
    assert "quantity" in error["message"] and "not been finished" in error["message"]
    assert [r[1] for r in results if r[0] == busy][-1] == "success"  # retried after a backoff
    state = service.emulator.admin("GET", f"/state?login={seller.login}")
    stocks = {o["stock"]["available"] for o in state["sellers"][0]["offers"]}
    assert stocks == {9}


async def test_an_end_allegro_refuses_because_the_offer_ended_already_counts_as_done(
    service: Service,
) -> None:
    """A sale took the last unit (or the seller ended it) on Allegro before our END of the stock
    0 went out: Allegro refuses the END, the offer is ended as wanted, nothing is surfaced."""
    seller = await service.ready_seller()
    rows = await published(service, seller)
    [sku] = rows
    offer = await service.offer(seller.account, sku)
    with seller.allegro(service.emulator) as api:
        api.patch(
            f"/sale/product-offers/{offer['offer_id']}",
            json={"publication": {"status": "ENDED"}},
        ).raise_for_status()
    await restock(service, seller.account, rows, 0, revision=2)
    offer = await service.wait_state(seller.account, sku, "ended")
    offer = await sent(service, seller.account, sku, lambda o: o["sync"]["last_command"])
    [end] = commands(service, seller, "publication")
    assert end["tasks"] == 1
    assert offer["sync"]["error"] is None and not offer["sync"]["held"], offer["sync"]
    assert offer["reason"]["code"] == "stock_out"
    progress = (await service.http.get(f"/accounts/{seller.account}/publication/progress")).json()
    assert progress["sync"]["failed"] == 0
    # A restock reactivates it.
    await restock(service, seller.account, rows, 4, revision=3)
    await service.wait_state(seller.account, sku, "active")


async def test_a_refused_activation_is_surfaced_in_the_history_and_the_progress(
    service: Service,
) -> None:
    seller = await service.ready_seller()
    row, parameter = row_with_optional_parameter(service, seller)
    sku = await service.send(seller.account, row, stock=5)
    await service.wait_state(seller.account, sku, "active")
    rows = {sku: row}
    await restock(service, seller.account, rows, 0, revision=2)
    await service.wait_state(seller.account, sku, "ended")
    # Allegro now requires a parameter the offer lacks: it cannot be activated again.
    path = f"/categories/{row['allegro_category_id']}/parameters/{parameter['id']}"
    service.emulator.admin("PUT", path, {"required": True})
    try:
        await restock(service, seller.account, rows, 6, revision=3)
        offer = await sent(
            service, seller.account, sku, lambda o: (o["sync"]["error"] or {}).get("surfaced")
        )
        error = offer["sync"]["error"]
        assert error["code"] == "sync_failed" and error["allegro_errors"][0]["message"]
        assert offer["sync"]["held"] and offer["sync"]["last_command"]["result"] == "failed"
        assert offer["history"][-1]["cause"] == "publication command failed"
        progress = await service.http.get(f"/accounts/{seller.account}/publication/progress")
        assert progress.json()["sync"]["failed"] == 1
        # Held: not sent again by itself.
        await asyncio.sleep(2)
        assert len(commands(service, seller, "publication")) == 2
    finally:
        service.emulator.admin("PUT", path, {"required": False})
    retried = await service.http.post(f"/accounts/{seller.account}/offers/sync/retry", json={})
    assert retried.status_code == 200 and retried.json() == {"retried": 1}
    await service.wait_state(seller.account, sku, "active")
    assert len(commands(service, seller, "publication")) == 3


async def test_stock_zero_and_restock_go_out_as_publication_commands(service: Service) -> None:
    seller = await service.ready_seller()
    rows = await published(service, seller, count=2)
    patches = service.count("PATCH", "/sale/product-offers/{offerId}", 200)
    await restock(service, seller.account, rows, 0, revision=2)
    for sku in rows:
        offer = await service.wait_state(seller.account, sku, "ended")
        assert offer["reason"]["code"] == "stock_out"
        assert offer["history"][-1]["cause"] == "ended (stock 0)"
    [end] = commands(service, seller, "publication")
    assert end["tasks"] == 2  # both in one command
    await restock(service, seller.account, rows, 6, revision=3)
    for sku in rows:
        offer = await service.wait_state(seller.account, sku, "active")
        assert offer["history"][-1]["cause"] == "reactivated (restock)"
        await service.probe.wait_for("OfferPublished", 2, sku=sku)
    assert [c["tasks"] for c in commands(service, seller, "publication")] == [2, 2]
    assert [c["tasks"] for c in commands(service, seller, "quantity")] == [2]
    state = service.emulator.admin("GET", f"/state?login={seller.login}")
    assert {
        (o["publication"]["status"], o["stock"]["available"]) for o in state["sellers"][0]["offers"]
    } == {("ACTIVE", 6)}
    assert service.count("PATCH", "/sale/product-offers/{offerId}", 200) == patches


async def test_a_command_sent_before_a_crash_is_sent_again_under_its_id(
    make_database: MakeDatabase, amqp_url: str, emulator: EmulatorHandle, service: Service
) -> None:
    """A worker process dies (SIGKILL) right after Allegro answered a command's PUT, before
    storing that it was sent; the next worker PUTs the same id (Allegro: 409, already there),
    reads its tasks and records them: one command on Allegro, applied once."""
    database_url = await make_database("offers_sync_crash", MIGRATIONS)
    seller = service.seller()
    with seller.allegro(emulator) as api:
        assert api.post("/sale/responsible-producers", json=PRODUCER).status_code == 201
    engine = create_engine(database_url, pool_size=2)
    units = UnitsOfWork(engine, "offers")
    sku = f"SKU-{uuid.uuid4().hex[:10]}"
    row = service.row()
    await units.handle(
        handlers.save_readiness_input, c.SaveReadinessInput(seller.account, PRODUCER, SAFETY, None)
    )
    await units.handle(
        handlers.catalog_updated,
        CatalogUpdated(
            account_id=seller.account,
            items=[catalog_item(row, sku, stock=3)],
        ),
    )
    await units.handle(
        handlers.price_computed,
        PriceComputed(
            account_id=seller.account,
            items=[PricedItem(sku=sku, catalog_revision=1, prices=PRICES)],
        ),
    )

    async def one(sql: str) -> Any:
        async with engine.connect() as conn:
            return (await conn.execute(sa.text(sql), {"a": seller.account})).scalar_one()

    env = {
        **os.environ,
        "OFFERS_DATABASE_URL": database_url,
        "OFFERS_AMQP_URL": amqp_url,
        "OFFERS_RUN_MIGRATIONS": "false",
        "OFFERS_ALLEGRO_API_URL": emulator.url,
        "OFFERS_ALLEGRO_AUTH_URL": emulator.url,
        "OFFERS_PUBLISH_POLL_INTERVAL_SECONDS": "0.1",
        "OFFERS_VERIFY_AFTER_SECONDS": "0.2",
        "OFFERS_SYNC_POLL_INTERVAL_SECONDS": "0.1",
        "OFFERS_SYNC_LEASE_SECONDS": "3",  # a killed worker's claim expires quickly
    }
    script = str(Path(__file__).with_name("offers_worker.py"))

    async def worker(crash_after: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            script,
            *(["--die-after", crash_after] if crash_after else ["--role", "worker"]),
            str(free_port()),
            f"{seller.account}={seller.token}",
            env=env,
        )

    async def stop(process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
            await process.wait()

    process: asyncio.subprocess.Process | None = None
    try:
        process = await worker("")

        async def live() -> bool:
            return bool(
                await one(
                    "SELECT count(*) FROM offers WHERE account_id = :a AND state = 'active'"
                    " AND work IS NULL"
                )
            )

        await wait_until(live, within=120)
        await stop(process)
        await units.handle(
            handlers.price_computed,
            PriceComputed(
                account_id=seller.account,
                items=[PricedItem(sku=sku, catalog_revision=1, prices=prices("61.10"))],
            ),
        )
        process = crashing = await worker("command")

        async def died() -> bool:
            return crashing.returncode is not None

        await wait_until(died, within=120)
        assert crashing.returncode == -signal.SIGKILL
        assert await one("SELECT count(*) FROM offer_commands WHERE status = 'new'") == 1
        command_id = str(await one("SELECT command_id FROM offer_commands"))
        conflicts = service.count("PUT", PRICE_PUT, 409)
        await asyncio.sleep(3.1)  # its claim expires
        process = await worker("")

        async def recorded() -> bool:
            return bool(
                await one(
                    "SELECT count(*) FROM offers WHERE account_id = :a"
                    " AND sent_prices -> 'allegro-pl' ->> 'amount' = '61.10'"
                    " AND sync_command_id IS NULL"
                )
            )

        await wait_until(recorded, within=120)
        await stop(process)
        assert await one("SELECT count(*) FROM offer_commands") == 1
        assert await one("SELECT status FROM offer_commands") == "done"
        assert await one("SELECT result FROM offer_command_offers") == "success"
    finally:
        if process is not None:
            await stop(process)
        await engine.dispose()
    # The same id sent again, refused by Allegro as known: one command there, applied once.
    assert service.count("PUT", PRICE_PUT, 409) > conflicts
    assert [(c["id"], c["tasks"]) for c in commands(service, seller, "price")] == [(command_id, 1)]
    [on_allegro] = service.on_allegro(seller, sku)
    assert on_allegro["sellingMode"]["price"]["amount"] == "61.10"
