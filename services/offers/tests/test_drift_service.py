"""Drift and reconciliation over HTTP: the offers service (two replicas) on real PostgreSQL and
RabbitMQ publishing on the Allegro emulator, which is changed "on allegro.pl" through its admin
API (`/__admin/offers/{id}/seller-edit`): the offer-event reader finds each change per offer,
our own writes are not drift, the event cursor survives a restart of every replica (no event
read twice, no difference recorded twice), and the reconcile finds an offer missing on Allegro
and offers unknown to us and repairs or reports each.

Its own service (restarted by one test) and emulator; every test has its own seller and account.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from mci_testing.app import running_app
from mci_testing.bus import Bus
from mci_testing.emulator import EmulatorHandle, start_emulator
from mci_testing.fixtures import MakeDatabase
from mci_testing.infra import lock_waits, wait_until
from offers.deps import OffersDeps
from offers.domain import drift as d
from offers.domain import sync
from offers.drift import read_account_events
from offers.main import MIGRATIONS, build
from offers.settings import Settings
from offers.sync_repository import SyncRepository
from shared.accounts import StaticAccounts
from shared.allegro.tokens import StaticTokens
from shared.db import create_engine
from shared.events import Money, OfferEnded, OfferFailed, OfferPublished
from shared.security import issue_token
from shared.service import create_app

from .test_service import Seller, Service, settings_for


class Replicas:
    """The service's two replicas, which a test can stop and start again on the same database."""

    def __init__(self, settings: Settings, tokens: StaticTokens, accounts: StaticAccounts):
        self.settings = settings
        self.tokens = tokens
        self.accounts = accounts
        self.stack: contextlib.AsyncExitStack | None = None
        self.apps: list[FastAPI] = []
        self.token = issue_token(
            settings.service_token_secret.get_secret_value(), "ops", "operator"
        )

    async def start(self) -> httpx.AsyncClient:
        self.stack = contextlib.AsyncExitStack()
        apps = [
            create_app(build(self.settings, allegro_tokens=self.tokens, accounts=self.accounts))
            for _ in range(2)
        ]
        self.apps = apps
        http = await self.stack.enter_async_context(running_app(apps[0]))
        await self.stack.enter_async_context(running_app(apps[1]))
        http.headers["Authorization"] = f"Bearer {self.token}"
        return http

    async def stop(self) -> None:
        assert self.stack is not None
        await self.stack.aclose()
        self.stack = None


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    handle = start_emulator(
        catalogue_size=500, async_offer_share=0, duplicate_event_share=0, qualification_seconds=0
    )
    yield handle
    handle.server.should_exit = True


@pytest.fixture(scope="module")
async def replicas(
    make_database: MakeDatabase, amqp_url: str, emulator: EmulatorHandle
) -> AsyncIterator[tuple[Service, Replicas]]:
    database_url = await make_database("offers_drift", MIGRATIONS)
    settings = settings_for(database_url, amqp_url, emulator).model_copy(
        update={
            "offer_events_enabled": True,
            "offer_events_poll_interval_seconds": 0.2,
            "offer_events_lease_seconds": 10.0,
            # Small pages: every test reads events and lists offers over several pages.
            "offer_events_page_size": 2,
            "reconcile_page_size": 2,
        }
    )
    tokens, accounts = StaticTokens({}), StaticAccounts()
    rows = emulator.admin("GET", "/catalogue/sample?n=300")["rows"]
    running = Replicas(settings, tokens, accounts)
    http = await running.start()
    bus = await Bus.open(amqp_url)
    # The offer events the service publishes (OfferEnded on a drift repair).
    probe = await bus.probe(
        OfferPublished.routing_key, OfferFailed.routing_key, OfferEnded.routing_key
    )
    yield (
        Service(http, probe, bus, tokens, accounts, emulator, database_url, rows),
        running,
    )
    if running.stack is not None:
        await running.stop()
    await bus.close()


@pytest.fixture
def service(replicas: tuple[Service, Replicas]) -> Service:
    return replicas[0]


# --- helpers ------------------------------------------------------------------------------------


async def ready_seller(service: Service) -> Seller:
    return await service.ready_seller()


async def live_offer(
    service: Service, seller: Seller, row: dict[str, Any] | None = None, **send: Any
) -> tuple[str, str]:
    """A SKU published and read back (verified), and its Allegro offer id."""
    sku = await service.send(seller.account, row or service.row(), **send)

    async def settled() -> bool:
        offer = await service.offer(seller.account, sku)
        return offer.get("state") == "active" and offer.get("next_step") is None

    await wait_until(settled, within=60)
    offer = await service.offer(seller.account, sku)
    return sku, str(offer["offer_id"])


def seller_edit(service: Service, offer_id: str, **change: Any) -> dict[str, Any]:
    found: dict[str, Any] = service.emulator.admin(
        "POST", f"/offers/{offer_id}/seller-edit", change
    )
    return found


async def drift(service: Service, account: str, **params: Any) -> list[dict[str, Any]]:
    response = await service.http.get(f"/accounts/{account}/drift", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def summary(service: Service, account: str) -> dict[str, Any]:
    response = await service.http.get(f"/accounts/{account}/drift/summary")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def events_on_allegro(service: Service, seller: Seller) -> list[dict[str, Any]]:
    with seller.allegro(service.emulator) as api:
        response = api.get("/sale/offer-events", params={"limit": 1000})
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()["offerEvents"]
    return events


async def caught_up(service: Service, seller: Seller) -> dict[str, Any]:
    """Wait until the reader read every event Allegro has for the seller; the cursor then."""
    seen: dict[str, Any] = {}

    async def done() -> bool:
        events = events_on_allegro(service, seller)
        seen.update((await summary(service, seller.account))["events"] or {})
        return bool(events) and seen.get("last_event_id") == events[-1]["id"]

    await wait_until(done, within=60)
    return seen


async def drift_of(
    service: Service, account: str, count: int, **params: Any
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def enough() -> bool:
        found[:] = await drift(service, account, **params)
        return len(found) >= count

    await wait_until(enough, within=60)
    return found


async def ours_on_allegro(service: Service, seller: Seller, sku: str) -> None:
    """Wait until a repair is over: Allegro has our wanted price and stock, stored as sent,
    and no batch command of the offer is out. A `resend` repair sends ours again by a command,
    whose change is one more event on Allegro (and overwrites a seller's edit made before it
    lands): a test counting events or editing again waits for it."""

    async def settled() -> bool:
        offer = await service.offer(seller.account, sku)
        there = service.on_allegro(seller, sku)[0]
        wanted = Decimal(offer["prices"]["allegro-pl"]["amount"])
        sent = (offer["sent"]["prices"] or {}).get("allegro-pl") or {}
        return (
            offer["sync"]["in_command"] is None
            and Decimal(there["sellingMode"]["price"]["amount"]) == wanted
            and Decimal(str(sent.get("amount") or "-1")) == wanted
            and there["stock"]["available"] == offer["stock"] == offer["sent"]["stock"]
        )

    await wait_until(settled, within=60)


# --- the offer-event reader ---------------------------------------------------------------------


async def test_drift_made_on_allegro_is_detected_and_repaired_per_offer(service: Service) -> None:
    seller = await ready_seller(service)
    (priced, priced_id), (stocked, stocked_id), (ended, ended_id) = [
        await live_offer(service, seller) for _ in range(3)
    ]
    seller_edit(service, priced_id, price={"amount": "39.90", "currency": "PLN"})
    seller_edit(service, stocked_id, stock=9)
    seller_edit(service, ended_id, status="ENDED")

    found = await drift_of(service, seller.account, 3)
    by_sku = {f["sku"]: f for f in found}
    assert set(by_sku) == {priced, stocked, ended} and len(found) == 3
    price = by_sku[priced]
    assert (price["kind"], price["field"], price["offer_id"]) == ("price", "price", priced_id)
    assert Decimal(price["ours"]["amount"]) == Decimal("49.90")
    assert price["allegro"] == {"amount": "39.90", "currency": "PLN"}
    assert (price["source"], price["event_type"], price["repair"]) == (
        "events",
        "OFFER_PRICE_CHANGED",
        "resend",
    )
    assert price["event_id"] and price["seen_at"]
    stock = by_sku[stocked]
    assert (stock["kind"], stock["ours"], stock["allegro"], stock["event_type"]) == (
        "stock",
        5,
        9,
        "OFFER_STOCK_CHANGED",
    )
    end = by_sku[ended]
    assert (end["kind"], end["event_type"], end["repair"]) == ("ended", "OFFER_ENDED", "reactivate")
    assert end["allegro"] == {"status": "ENDED", "endedBy": "USER"}

    # Repairs: the sent values are Allegro's now (the sync sends ours again), and the ended
    # offer is reactivated by the publisher.
    assert (await service.offer(seller.account, priced))["sent"]["prices"]["allegro-pl"] == {
        "amount": "39.90",
        "currency": "PLN",
    }
    assert (await service.offer(seller.account, stocked))["sent"]["stock"] == 9
    told = await service.probe.wait_for("OfferEnded", sku=ended)
    assert told[-1]["reason"]["code"] == "ended_on_allegro" and told[-1]["offer_id"] == ended_id
    reactivated = await service.wait_state(seller.account, ended, "active")
    assert [h["to_state"] for h in reactivated["history"]][-2:] == ["ended", "active"]

    async def live_again() -> bool:
        status: str = service.on_allegro(seller, ended)[0]["publication"]["status"]
        return status == "ACTIVE"

    await wait_until(live_again, within=60)
    for sku in (priced, stocked):
        await ours_on_allegro(service, seller, sku)
    # The reactivation's and the repairs' own events are read and are no drift.
    await caught_up(service, seller)
    assert len(await drift(service, seller.account)) == 3
    counts = await summary(service, seller.account)
    assert counts["by_kind"]["price"] == counts["by_kind"]["stock"] == 1
    assert counts["by_kind"]["ended"] == 1 and counts["total"] == 3
    assert counts["events"]["events_read"] == len(events_on_allegro(service, seller))
    assert counts["events"]["lag_seconds"] == 0


async def test_a_seller_edit_read_before_our_command_result_was_stored_is_not_lost(
    replicas: tuple[Service, Replicas],
) -> None:
    """The ordering that lost it: our command is on Allegro, the seller edits the offer, the
    reader reads the events page and Allegro's offer, and only then does our worker store the
    command's result: the offer changed after Allegro's read, so the page skips it, and the
    cursor moves past the seller's only event. The replicas' next round reads the offer again
    and records the seller's price under that event, repaired (our price is sent again)."""
    service, running = replicas
    seller = await ready_seller(service)
    sku, offer_id = await live_offer(service, seller)
    await ours_on_allegro(service, seller, sku)
    await caught_up(service, seller)
    deps = running.apps[0].state.runtime.dependencies
    assert isinstance(deps, OffersDeps)
    engine = create_engine(service.database_url)
    try:
        # This round is the test's: the replicas' readers leave a held cursor alone.
        async with engine.begin() as conn:
            held = (
                await conn.execute(
                    sa.text(
                        "UPDATE offer_event_cursors SET claimed_until = now() + interval '1 hour'"
                        " WHERE account_id = :a RETURNING last_event_id, claimed_until"
                    ),
                    {"a": seller.account},
                )
            ).one()
        seller_edit(service, offer_id, price={"amount": "39.90", "currency": "PLN"})
        edited = events_on_allegro(service, seller)[-1]
        assert edited["type"] == "OFFER_PRICE_CHANGED"
        async with engine.connect() as gate:
            # The page waits to be stored (its cursor locked) once Allegro has been read...
            await gate.execute(
                sa.text("SELECT 1 FROM offer_event_cursors WHERE account_id = :a FOR UPDATE"),
                {"a": seller.account},
            )
            claim = d.EventsClaim(seller.account, held.last_event_id, held.claimed_until)
            reading = asyncio.create_task(read_account_events(deps, claim))

            async def page_read() -> bool:
                storing = "%last_event_id IS NOT DISTINCT FROM%"
                return reading.done() or await lock_waits(engine, storing) > 0

            await wait_until(page_read, within=30, interval=0.02)
            assert not reading.done()
            # ... while our worker stores our (stock) command's result, after that read.
            async with engine.begin() as worker:
                await SyncRepository(worker).sent(
                    seller.account, [sku], sync.QUANTITY, None, {"quantity": 5}, None
                )
            await gate.rollback()
        assert await reading == []  # skipped: Allegro's read predates our change
    finally:
        await engine.dispose()

    found = await drift_of(service, seller.account, 1)
    assert [
        (f["sku"], f["kind"], f["allegro"], f["repair"], f["event_id"], f["event_type"])
        for f in found
    ] == [
        (
            sku,
            "price",
            {"amount": "39.90", "currency": "PLN"},
            "resend",
            edited["id"],
            "OFFER_PRICE_CHANGED",
        )
    ]
    await ours_on_allegro(service, seller, sku)


async def test_our_own_changes_are_not_drift(service: Service) -> None:
    seller = await ready_seller(service)
    row = service.row()
    sku = await service.send(seller.account, row)
    await service.wait_state(seller.account, sku, "active")
    await service.send(seller.account, row, sku=sku, revision=2, stock=0)  # we end it
    await service.wait_state(seller.account, sku, "ended")
    await service.send(seller.account, row, sku=sku, revision=3, stock=4)  # we reactivate it

    async def reactivated() -> bool:
        offer = await service.offer(seller.account, sku)
        return offer["state"] == "active" and offer["next_step"] is None

    await wait_until(reactivated, within=60)
    types = [e["type"] for e in events_on_allegro(service, seller)]
    # Our own writes, as the sync makes them: created, ended by command, activated by command.
    assert "OFFER_ENDED" in types
    assert types.count("OFFER_ACTIVATED") >= 2
    cursor = await caught_up(service, seller)
    assert cursor["events_read"] == len(events_on_allegro(service, seller))
    assert await drift(service, seller.account) == []


async def test_the_event_cursor_survives_a_restart(replicas: tuple[Service, Replicas]) -> None:
    service, running = replicas
    seller = await ready_seller(service)
    sku, offer_id = await live_offer(service, seller)
    seller_edit(service, offer_id, price={"amount": "44.40", "currency": "PLN"})
    await drift_of(service, seller.account, 1)
    await ours_on_allegro(service, seller, sku)
    before = await caught_up(service, seller)

    await running.stop()
    seller_edit(service, offer_id, stock=11)  # while no replica runs
    service.http = await running.start()

    found = await drift_of(service, seller.account, 2)
    await ours_on_allegro(service, seller, sku)
    after = await caught_up(service, seller)
    assert sorted(f["kind"] for f in found) == ["price", "stock"]
    assert len({f["event_id"] for f in found}) == 2
    # Read on from the stored cursor: every event once, none of those before the restart again.
    assert after["events_read"] == len(events_on_allegro(service, seller))
    assert after["events_read"] > before["events_read"]
    engine = create_engine(service.database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.scalar(
                sa.text("SELECT count(*) FROM offer_drift WHERE account_id = :a"),
                {"a": seller.account},
            )
    finally:
        await engine.dispose()
    assert rows == 2
    assert sku == found[0]["sku"]


# --- the full reconcile -------------------------------------------------------------------------


async def test_reconcile_repairs_a_missing_offer_adopts_ours_and_reports_strangers(
    service: Service,
) -> None:
    seller = await ready_seller(service)
    lost, lost_id = await live_offer(service, seller)
    # Allegro no longer has an offer for `lost`: the seller gave it another external id.
    renamed = f"SELLERS-{uuid.uuid4().hex[:6]}"
    with seller.allegro(service.emulator) as api:
        api.patch(
            f"/sale/product-offers/{lost_id}", json={"external": {"id": renamed}}
        ).raise_for_status()
    # A SKU we manage but have not published (no price yet) that the seller listed himself.
    unpriced = await service.send(seller.account, service.row(), priced=False)
    await service.waits_only_for(seller.account, unpriced, "price")
    adopted_id = service.emulator.active_offer(seller.login, sku=unpriced)

    response = await service.http.post(f"/accounts/{seller.account}/reconcile")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["allegro_offers"] == 2 and result["our_offers"] == 2
    assert result["by_kind"]["missing_on_allegro"] == 1
    assert result["by_kind"]["unknown_to_us"] == 2
    assert result["repairs"]["recreate"] == 1 and result["repairs"]["adopt"] == 1
    assert result["reported_only"] == 1

    reported = await drift(service, seller.account, kind="unknown_to_us")
    by_offer = {r["offer_id"]: r for r in reported}
    assert by_offer[lost_id]["sku"] == renamed and by_offer[lost_id]["repair"] is None
    assert by_offer[adopted_id]["sku"] == unpriced and by_offer[adopted_id]["repair"] == "adopt"
    assert all(r["reconciliation_id"] == result["reconciliation_id"] for r in reported)
    missing = await drift(service, seller.account, kind="missing_on_allegro")
    assert [(m["sku"], m["offer_id"], m["repair"]) for m in missing] == [
        (lost, lost_id, "recreate")
    ]

    # Repaired: `lost` is created again (a new offer), the seller's offer is ours now.
    async def recreated() -> bool:
        offer = await service.offer(seller.account, lost)
        return offer["state"] == "active" and offer["offer_id"] not in (None, lost_id)

    await wait_until(recreated, within=60)
    assert len(service.on_allegro(seller, lost)) == 1
    adopted = await service.offer(seller.account, unpriced)
    assert adopted["offer_id"] == adopted_id and adopted["state"] == "active"

    again = (await service.http.post(f"/accounts/{seller.account}/reconcile")).json()
    assert again["allegro_offers"] == 3 and again["differences"] == 1
    assert again["by_kind"]["unknown_to_us"] == 1 and again["reported_only"] == 1
    last = (await summary(service, seller.account))["last_reconciliation"]
    assert last["id"] == again["reconciliation_id"] and last["counts"]["differences"] == 1


async def test_one_reconcile_at_a_time_and_bad_requests(service: Service) -> None:
    seller = await ready_seller(service)
    engine = create_engine(service.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO offer_reconciliations (account_id, requested_by, held_until)"
                    " VALUES (:a, 'someone', now() + interval '1 hour')"
                ),
                {"a": seller.account},
            )
        busy = await service.http.post(f"/accounts/{seller.account}/reconcile")
        assert busy.status_code == 409 and busy.json()["error"]["code"] == "reconcile_in_progress"
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "UPDATE offer_reconciliations SET held_until = now() WHERE account_id = :a"
                ),
                {"a": seller.account},
            )
    finally:
        await engine.dispose()
    assert (await service.http.post(f"/accounts/{seller.account}/reconcile")).status_code == 200

    for params, code in (({"kind": "nope"}, "invalid_kind"), ({"after": "x"}, "invalid_cursor")):
        bad = await service.http.get(f"/accounts/{seller.account}/drift", params=params)
        assert bad.status_code == 422 and bad.json()["error"]["code"] == code
    assert (await service.http.get(f"/accounts/{seller.account}/drift?limit=0")).status_code == 422
    unknown = await service.http.get("/accounts/nobody/drift")
    assert unknown.status_code == 404


async def test_drift_pages_newest_first(service: Service) -> None:
    seller = await ready_seller(service)
    sku, offer_id = await live_offer(
        service, seller, prices={"allegro-pl": Money(amount=Decimal("20.00"), currency="PLN")}
    )

    for count, amount in enumerate(("21.00", "22.00", "23.00"), start=1):
        seller_edit(service, offer_id, price={"amount": amount, "currency": "PLN"})
        # Each edit's repair sends our price again by a batch command. The next edit waits for
        # it: a command still out would overwrite the seller's next price on Allegro before
        # the reader looks (or be stored while it reads), and that edit would be no drift.
        await drift_of(service, seller.account, count)
        await ours_on_allegro(service, seller, sku)
        await caught_up(service, seller)
    first = await service.http.get(f"/accounts/{seller.account}/drift", params={"limit": 2})
    page = first.json()
    assert [i["allegro"]["amount"] for i in page["items"]] == ["23.00", "22.00"]
    rest = await drift(service, seller.account, limit=2, after=page["next"])
    assert [i["allegro"]["amount"] for i in rest] == ["21.00"]


async def test_a_lost_cursor_reads_again_from_the_oldest_event_and_records_nothing_twice(
    service: Service,
) -> None:
    seller = await ready_seller(service)
    _, offer_id = await live_offer(service, seller)
    seller_edit(service, offer_id, stock=7)
    await drift_of(service, seller.account, 1)
    await caught_up(service, seller)
    engine = create_engine(service.database_url)
    try:
        async with engine.begin() as conn:
            # An id Allegro does not know (as one older than its 24 hours): its 400.
            await conn.execute(
                sa.text(
                    "UPDATE offer_event_cursors SET last_event_id = 'b2ZmZXItZXZlbnQ6OTk5'"
                    " WHERE account_id = :a"
                ),
                {"a": seller.account},
            )
    finally:
        await engine.dispose()

    async def lost_and_read_again() -> bool:
        events = (await summary(service, seller.account))["events"]
        return (
            events["lost_at"] is not None
            and events["last_event_id"] == (events_on_allegro(service, seller)[-1]["id"])
        )

    await wait_until(lost_and_read_again, within=90)
    found = await drift(service, seller.account)
    assert [(f["kind"], f["allegro"]) for f in found] == [("stock", 7)]


async def test_a_reconcile_that_cannot_reach_allegro_lets_the_next_one_start(
    service: Service,
) -> None:
    account = service.accounts.add(f"acct-{uuid.uuid4().hex[:8]}")  # no Allegro token
    for _ in range(2):
        refused = await service.http.post(f"/accounts/{account}/reconcile")
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "account_unavailable"
    assert (await summary(service, account))["last_reconciliation"] is None


async def test_an_offer_we_ended_that_the_seller_reactivated_is_ended_again(
    service: Service,
) -> None:
    seller = await ready_seller(service)
    row = service.row()
    sku, offer_id = await live_offer(service, seller, row=row)
    await service.send(seller.account, row, sku=sku, revision=2, stock=0)  # we end it
    await service.wait_state(seller.account, sku, "ended")
    seller_edit(service, offer_id, status="ACTIVE")  # the seller brings it back on allegro.pl

    found = await drift_of(service, seller.account, 1)
    assert [(f["kind"], f["ours"], f["allegro"], f["repair"]) for f in found] == [
        ("status", "ENDED", "ACTIVE", "end")
    ]
    assert found[0]["event_type"] in ("OFFER_ACTIVATED", "OFFER_CHANGED")

    async def ended_again() -> bool:
        status: str = service.on_allegro(seller, sku)[0]["publication"]["status"]
        return status == "ENDED"

    await wait_until(ended_again, within=60)
    offer = await service.wait_state(seller.account, sku, "ended")
    assert [h["to_state"] for h in offer["history"]][-2:] == ["active", "ended"]
