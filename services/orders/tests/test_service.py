"""The orders service on real PostgreSQL and RabbitMQ, importing from the Allegro emulator over
HTTP: accounts come from auth's account events; paid checkout forms become `OrderReceived`
exactly once, cancellations `OrderCancelled`; the cursor is stored with the orders.

One running service per module (two worker replicas on one database for the replica test),
a probe queue on order.*; every test uses its own emulator seller and account.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from mci_testing.app import running_app
from mci_testing.bus import Bus, Probe, envelope_of
from mci_testing.emulator import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    RESPONSIBLE_PRODUCER,
    EmulatorHandle,
    start_emulator,
)
from mci_testing.fixtures import MakeDatabase
from mci_testing.infra import free_port, wait_until
from orders import handlers
from orders.main import MIGRATIONS, build
from orders.settings import Settings
from shared.allegro.tokens import AccountUnavailable, StaticTokens
from shared.db import create_engine
from shared.events import (
    AccountConnected,
    AccountDisconnected,
    AccountRefreshFailed,
    Envelope,
    Event,
    OfferPublished,
    OrderCancelled,
    OrderReceived,
    SupplierFulfillmentChanged,
    SupplierShipmentSent,
)
from shared.security import issue_token
from shared.service import create_app
from shared.uow import UnitsOfWork


class SellerTokens(StaticTokens):
    """Tokens as auth keeps them: a fixed access token per account, and for accounts given a
    refresh token, a refresh at Allegro's OAuth (the emulator's) when Allegro answers 401. A
    refused refresh leaves the account without a usable token, as auth's 409 does."""

    def __init__(self, emulator: EmulatorHandle) -> None:
        super().__init__({})
        self.emulator = emulator
        self.refresh: dict[str, str] = {}

    async def token_rejected(self, account_id: str) -> None:
        refresh = self.refresh.pop(account_id, None)
        if refresh is None:
            return
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.post(
                f"{self.emulator.url}/auth/oauth/token",
                data={"grant_type": "refresh_token", "refresh_token": refresh},
                auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
            )
        if answer.status_code != 200:
            self.tokens.pop(account_id, None)
            raise AccountUnavailable(account_id, "refresh_failed", answer.json()["error"])
        self.tokens[account_id] = answer.json()["access_token"]
        self.refresh[account_id] = answer.json()["refresh_token"]


@dataclass
class Service:
    http: httpx.AsyncClient
    probe: Probe
    bus: Bus
    tokens: SellerTokens
    emulator: EmulatorHandle
    database_url: str
    admin_token: str
    offers: dict[str, str] = field(default_factory=dict)  # account -> an active offer id

    async def publish(self, event: Event) -> None:
        await self.bus.publish(event, source="auth")

    async def publish_envelope(self, envelope: Envelope) -> None:
        await self.bus.publish_envelope(envelope)

    def seller_api(self, account: str) -> httpx.Client:
        """Allegro's REST API as the account's seller (what the seller does in Allegro)."""
        return httpx.Client(
            base_url=self.emulator.url,
            headers={
                "Authorization": f"Bearer {self.tokens.tokens[account]}",
                "Accept": "application/vnd.allegro.public.v1+json",
                "Content-Type": "application/vnd.allegro.public.v1+json",
            },
            timeout=30,
        )

    def on_allegro(self, account: str, form_id: str) -> tuple[dict[str, Any], list[Any]]:
        """The checkout form and its shipments as Allegro has them now."""
        with self.seller_api(account) as api:
            form = api.get(f"/order/checkout-forms/{form_id}").json()
            shipments = api.get(f"/order/checkout-forms/{form_id}/shipments").json()
        return form, shipments["shipments"]

    async def write_backs(self, form_id: str) -> list[dict[str, Any]]:
        answer = await self.http.get("/write-backs", params={"checkout_form_id": form_id})
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    async def write_backs_settled(self, form_id: str, count: int) -> list[dict[str, Any]]:
        """Wait until `count` write-backs of the form exist and none is pending."""

        async def settled() -> bool:
            found = await self.write_backs(form_id)
            return len(found) >= count and all(w["state"] != "pending" for w in found)

        await wait_until(settled, within=30)
        return await self.write_backs(form_id)

    async def paid_order(self) -> tuple[str, dict[str, Any]]:
        account, _, form = await self.paid_order_of_seller()
        return account, form

    async def paid_order_of_seller(self) -> tuple[str, str, dict[str, Any]]:
        """A connected account with one paid checkout form, imported and handed off."""
        account, login = self.connect_seller()
        await self.connected(account)
        form = self.buy(account)
        await self.probe.wait_for("OrderReceived", 1, account_id=account)
        await self.cursor_caught_up(account, login)
        return account, login, form

    def connect_seller(self, *, external: bool = True) -> tuple[str, str]:
        """A new emulator seller with one active offer (whose external id is the SKU unless
        `external` is false); (account id, login). Not yet announced."""
        login = self.emulator.new_seller()["login"]
        token = self.emulator.token_for(login)["access_token"]
        account = f"acct-{uuid.uuid4().hex[:8]}"
        self.tokens.tokens[account] = token
        self.offers[account] = create_offer(self.emulator, token, external=external)
        return account, login

    async def connected(self, account: str) -> None:
        await self.publish(
            AccountConnected(
                account_id=account,
                alias=account,
                base_marketplace="allegro-pl",
                allegro_user_id="1",
            )
        )

    def buy(self, account: str, **options: Any) -> dict[str, Any]:
        form: dict[str, Any] = self.emulator.admin(
            "POST", "/orders", {"offerId": self.offers[account], **options}
        )
        return form

    async def import_status(self, account: str) -> dict[str, Any]:
        rows = (await self.http.get("/import/accounts", params={"limit": 1000})).json()["items"]
        found: dict[str, Any] = next((r for r in rows if r["account_id"] == account), {})
        return found

    async def cursor_caught_up(self, account: str, login: str) -> None:
        """Wait until the stored cursor is the seller's last order event."""
        latest = last_event(self.emulator, login)

        async def caught_up() -> bool:
            status = await self.import_status(account)
            return status.get("event_cursor") == latest

        await wait_until(caught_up, within=30)


def last_event(emulator: EmulatorHandle, login: str) -> str:
    """The seller's latest order event id, as Allegro's event stats say."""
    token = emulator.token_for(login)["access_token"]
    response = httpx.get(
        f"{emulator.url}/order/event-stats",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.allegro.public.v1+json",
        },
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["latestEvent"]["id"])


def create_offer(emulator: EmulatorHandle, token: str, *, external: bool = True) -> str:
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.allegro.public.v1+json",
        "Content-Type": "application/vnd.allegro.public.v1+json",
    }
    with httpx.Client(base_url=emulator.url, headers=headers, timeout=30) as api:
        assert api.post("/sale/responsible-producers", json=RESPONSIBLE_PRODUCER).status_code == 201
        rows = emulator.admin("GET", "/catalogue/sample?n=200")["rows"]
        ean = next(r["ean"] for r in rows if r["allegroProducts"] == 1)
        body = {
            "productSet": [
                {
                    "product": {"id": ean, "idType": "GTIN"},
                    "responsibleProducer": {"type": "NAME", "name": RESPONSIBLE_PRODUCER["name"]},
                    "safetyInformation": {"type": "TEXT", "description": "Chronić przed dziećmi."},
                }
            ],
            "parameters": [{"id": "11323", "valuesIds": ["11323_1"]}],
            "sellingMode": {"price": {"amount": "49.90", "currency": "PLN"}},
            "stock": {"available": 50, "unit": "UNIT"},
            "publication": {"status": "ACTIVE"},
            **({"external": {"id": f"SKU-{uuid.uuid4().hex[:8]}"}} if external else {}),
        }
        response = api.post("/sale/product-offers", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    handle = start_emulator(catalogue_size=500, async_offer_share=0, duplicate_event_share=0)
    yield handle
    handle.server.should_exit = True


@pytest.fixture(scope="module")
async def service(
    make_database: MakeDatabase, amqp_url: str, emulator: EmulatorHandle
) -> AsyncIterator[Service]:
    database_url = await make_database("orders", MIGRATIONS)
    settings = Settings(
        database_url=database_url,
        amqp_url=amqp_url,
        run_migrations=False,
        outbox_poll_interval_seconds=0.2,
        allegro_api_url=emulator.url,
        allegro_auth_url=emulator.url,
        order_poll_interval_seconds=0.2,
        # Several pages per scenario: the cursor moves page by page.
        order_events_page_size=3,
        # Pages naming two forms or more read them through the list, the others one by one.
        order_forms_listed_from=2,
        order_poll_backoff_seconds=0.2,
        order_poll_backoff_max_seconds=0.5,
    )
    tokens = SellerTokens(emulator)
    bus = await Bus.open(amqp_url)
    probe = await bus.probe(OrderReceived.routing_key, OrderCancelled.routing_key)
    secret = settings.service_token_secret.get_secret_value()
    token = issue_token(secret, "ops", "operator")
    # Two replicas of the service (API + worker) on one database: every import is raced.
    first = create_app(build(settings, allegro_tokens=tokens))
    second = create_app(build(settings, allegro_tokens=tokens))
    async with running_app(first) as http, running_app(second):
        http.headers["Authorization"] = f"Bearer {token}"
        yield Service(
            http,
            probe,
            bus,
            tokens,
            emulator,
            database_url,
            issue_token(secret, "ops-admin", "admin"),
        )
    await bus.close()


async def test_paid_orders_are_received_once_and_the_cursor_is_stored(service: Service) -> None:
    account, login = service.connect_seller()
    forms = [service.buy(account, duplicate=True) for _ in range(2)] + [service.buy(account)]
    await service.connected(account)
    await service.cursor_caught_up(account, login)
    received = await service.probe.wait_for("OrderReceived", 3, account_id=account)
    # READY_FOR_PROCESSING came twice for two of them, and two replicas poll: one each.
    assert sorted(r["order_id"] for r in received) == sorted(f["id"] for f in forms)
    first = next(r for r in received if r["order_id"] == forms[0]["id"])
    line = forms[0]["lineItems"][0]
    assert first["lines"] == [
        {
            "sku": line["offer"]["external"]["id"],
            "offer_id": service.offers[account],
            "quantity": 1,
            "unit_price": {"amount": "49.90", "currency": "PLN"},
            "line_item_id": line["id"],
        }
    ]
    assert first["marketplace_id"] == "allegro-pl"
    assert first["total"] == {"amount": "49.90", "currency": "PLN"}
    assert first["delivery"]["address"]["city"] == "Warszawa"
    assert first["delivery"]["method"]["name"] == "Allegro Kurier DPD"
    assert first["buyer"]["login"] == forms[0]["buyer"]["login"]
    # The operator sees them, page by page.
    page = (await service.http.get("/orders", params={"account_id": account, "limit": 2})).json()
    assert len(page["items"]) == 2 and page["next"]
    rest = await service.http.get(
        "/orders", params={"account_id": account, "limit": 2, "after": page["next"]}
    )
    ids = {o["id"] for o in page["items"] + rest.json()["items"]}
    assert ids == {f["id"] for f in forms}
    detail = (await service.http.get(f"/orders/{forms[0]['id']}")).json()
    assert detail["status"] == "READY_FOR_PROCESSING" and detail["received_at"]
    assert detail["revision"] == forms[0]["revision"]
    assert (await service.http.get(f"/orders/{uuid.uuid4()}")).status_code == 404
    # A new event after the stored cursor is imported; nothing before it again.
    later = service.buy(account)
    received = await service.probe.wait_for("OrderReceived", 4, account_id=account)
    await service.cursor_caught_up(account, login)
    assert sorted(r["order_id"] for r in received) == sorted(
        [f["id"] for f in forms] + [later["id"]]
    )


async def test_a_line_whose_offer_has_no_external_id_gets_the_sku_offers_published(
    service: Service,
) -> None:
    account, login = service.connect_seller(external=False)
    bare = service.offers[account]
    # offers announces what it published; orders keeps the offer -> SKU directory from it.
    await service.bus.publish(
        OfferPublished(
            account_id=account,
            sku="SKU-FROM-OFFERS",
            offer_id=bare,
            marketplaces={"allegro-pl": "ACTIVE"},
            stock=50,
            status="ACTIVE",
        ),
        source="offers",
    )
    await service.connected(account)

    async def remembered() -> bool:
        engine = create_engine(service.database_url)
        try:
            async with engine.connect() as conn:
                found = await conn.scalar(
                    sa.text("SELECT sku FROM offer_skus WHERE offer_id = :o"), {"o": bare}
                )
        finally:
            await engine.dispose()
        return bool(found == "SKU-FROM-OFFERS")

    await wait_until(remembered, within=30)
    form = service.buy(account)
    assert "external" not in form["lineItems"][0]["offer"]
    (received,) = await service.probe.wait_for("OrderReceived", 1, account_id=account)
    assert [line["sku"] for line in received["lines"]] == ["SKU-FROM-OFFERS"]
    await service.cursor_caught_up(account, login)
    found = await service.http.get("/orders", params={"sku": "SKU-FROM-OFFERS"})
    assert [o["id"] for o in found.json()["items"]] == [form["id"]]


async def test_filled_in_after_ready_for_processing_does_not_regress(service: Service) -> None:
    account, login = service.connect_seller()
    await service.connected(account)
    form = service.buy(account, filledInLate=True)  # BOUGHT, READY_FOR_PROCESSING, FILLED_IN
    await service.probe.wait_for("OrderReceived", 1, account_id=account)
    await service.cursor_caught_up(account, login)
    detail = (await service.http.get(f"/orders/{form['id']}")).json()
    assert detail["status"] == "READY_FOR_PROCESSING"
    assert detail["revision"] == form["revision"]
    assert len(service.probe.of("OrderReceived", account_id=account)) == 1


async def test_cancellation_before_and_after_payment(service: Service) -> None:
    account, login = service.connect_seller()
    unpaid = service.buy(account, paid=False)
    paid = service.buy(account)
    service.emulator.admin("POST", f"/orders/{unpaid['id']}/cancel")
    await service.connected(account)
    await service.probe.wait_for("OrderReceived", 1, account_id=account)
    service.emulator.admin("POST", f"/orders/{paid['id']}/cancel")
    cancelled = await service.probe.wait_for("OrderCancelled", 2, account_id=account)
    await service.cursor_caught_up(account, login)
    assert sorted(c["order_id"] for c in cancelled) == sorted([unpaid["id"], paid["id"]])
    # The buyer's event names the reason; a form read before its event was reached says only
    # that it is cancelled.
    assert {c["reason"] for c in cancelled} <= {"BUYER_CANCELLED", "CANCELLED"}
    assert [r["order_id"] for r in service.probe.of("OrderReceived", account_id=account)] == [
        paid["id"]
    ]
    assert (await service.http.get(f"/orders/{paid['id']}")).json()["status"] == "CANCELLED"


async def test_combined_payment_is_received_once(service: Service) -> None:
    account, login = service.connect_seller()
    await service.connected(account)
    first = service.buy(account, paid=False)
    second = service.buy(account, paid=False)
    await service.cursor_caught_up(account, login)  # both unpaid forms stored
    merged = service.emulator.admin(
        "POST", "/orders/pay-together", {"checkoutFormIds": [first["id"], second["id"]]}
    )
    received = await service.probe.wait_for("OrderReceived", 1, account_id=account)
    await service.cursor_caught_up(account, login)
    assert [r["order_id"] for r in received] == [merged["id"]]
    assert sorted(li["line_item_id"] for li in received[0]["lines"]) == sorted(
        [first["lineItems"][0]["id"], second["lineItems"][0]["id"]]
    )
    for replaced in (first, second):
        stored = (await service.http.get(f"/orders/{replaced['id']}")).json()
        assert stored["superseded_by"] == merged["id"] and stored["received_at"] is None


async def test_account_whose_tokens_fail_stops_and_resumes_after_reconnect(
    service: Service,
) -> None:
    account, _ = service.connect_seller()
    token = service.tokens.tokens.pop(account)  # auth has no usable token for it
    form = service.buy(account)
    await service.connected(account)

    async def stopped() -> bool:
        return (await service.import_status(account)).get("status") == "tokens_failed"

    await wait_until(stopped, within=30)
    status = await service.import_status(account)
    assert status["status_reason"] and status["event_cursor"] is None
    await service.publish(AccountRefreshFailed(account_id=account, alias=account, reason="revoked"))

    async def refresh_failed() -> bool:
        return (await service.import_status(account)).get("status") == "refresh_failed"

    await wait_until(refresh_failed, within=30)
    assert service.probe.of("OrderReceived", account_id=account) == []
    service.tokens.tokens[account] = token  # the operator reconnected it
    await service.connected(account)
    received = await service.probe.wait_for("OrderReceived", 1, account_id=account)
    assert [r["order_id"] for r in received] == [form["id"]]
    assert (await service.import_status(account))["status"] == "connected"


async def test_allegro_failing_before_the_store_moves_nothing(service: Service) -> None:
    """Events read, checkout forms failing: the cursor stays, nothing is handed off; once
    Allegro answers again the same events are imported, each order once."""
    account, login = service.connect_seller()
    form = service.buy(account)
    service.emulator.admin(
        "PUT",
        "/faults",
        {"errorShare": 1, "errorStatus": 500, "pathPrefix": "/order/checkout-forms"},
    )
    try:
        await service.connected(account)

        async def failed_twice() -> bool:
            return int((await service.import_status(account)).get("failures", 0)) >= 2

        await wait_until(failed_twice, within=60)
        status = await service.import_status(account)
        assert status["event_cursor"] is None and status["status"] == "connected"
        assert "500" in status["last_error"]
        assert service.probe.of("OrderReceived", account_id=account) == []
    finally:
        service.emulator.admin("DELETE", "/faults")
    received = await service.probe.wait_for("OrderReceived", 1, account_id=account)
    await service.cursor_caught_up(account, login)
    assert [r["order_id"] for r in received] == [form["id"]]
    assert (await service.import_status(account))["failures"] == 0


async def test_cursor_and_orders_are_stored_together(service: Service) -> None:
    """Every stored paid form has its one outbox row: nothing handed off without being stored."""
    engine = create_engine(service.database_url)
    try:
        async with engine.connect() as conn:
            received = (
                await conn.execute(
                    sa.text("SELECT count(*) FROM checkout_forms WHERE received_at IS NOT NULL")
                )
            ).scalar_one()
            rows = (
                await conn.execute(
                    sa.text("SELECT count(*) FROM outbox WHERE type = 'OrderReceived'")
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert received == rows > 0


async def test_a_worker_killed_mid_import_loses_and_doubles_nothing(
    make_database: MakeDatabase, amqp_url: str, emulator: EmulatorHandle, service: Service
) -> None:
    """One worker process on its own database, SIGKILLed whenever its cursor has moved, then
    restarted, until it has read the whole journal: every paid checkout form is stored and has
    exactly one OrderReceived in the outbox (a duplicated READY_FOR_PROCESSING included)."""
    database_url = await make_database("orders_crash", MIGRATIONS)
    account, login = service.connect_seller()
    token = service.tokens.tokens[account]
    # Three forms, two with a doubled READY_FOR_PROCESSING: 11 events in pages of 4, so three
    # crashes (each worker start costs seconds of imports: five forms took five).
    forms = [service.buy(account, duplicate=i % 2 == 0) for i in range(3)]
    latest = last_event(emulator, login)
    engine = create_engine(database_url)
    units = UnitsOfWork(engine, "orders")
    await units.handle(
        handlers.account_connected,
        AccountConnected(
            account_id=account, alias=account, base_marketplace="allegro-pl", allegro_user_id="1"
        ),
    )

    async def cursor() -> str | None:
        async with engine.connect() as conn:
            value = await conn.scalar(
                sa.text("SELECT event_cursor FROM accounts WHERE account_id = :a"), {"a": account}
            )
        return None if value is None else str(value)

    env = {
        **os.environ,
        "ORDERS_DATABASE_URL": database_url,
        "ORDERS_AMQP_URL": amqp_url,
        "ORDERS_RUN_MIGRATIONS": "false",
        "ORDERS_ALLEGRO_API_URL": emulator.url,
        "ORDERS_ALLEGRO_AUTH_URL": emulator.url,
        "ORDERS_ORDER_EVENTS_PAGE_SIZE": "4",
        "ORDERS_ORDER_POLL_INTERVAL_SECONDS": "0.2",
        "ORDERS_ORDER_POLL_LEASE_SECONDS": "1",  # a killed worker's claim expires quickly
    }
    script = str(Path(__file__).with_name("crash_worker.py"))
    kills = 0
    try:
        while (seen := await cursor()) != latest:
            process = await asyncio.create_subprocess_exec(
                sys.executable, script, str(free_port()), f"{account}={token}", env=env
            )

            async def moved(before: str | None = seen) -> bool:
                return await cursor() != before

            await wait_until(moved, within=180)  # a process start on a loaded machine
            with contextlib.suppress(ProcessLookupError):  # it kills itself after a page
                process.send_signal(signal.SIGKILL)
            assert await process.wait() == -signal.SIGKILL
            kills += 1
        async with engine.connect() as conn:
            handed_off = (
                (
                    await conn.execute(
                        sa.text(
                            "SELECT payload->'data'->>'order_id' FROM outbox"
                            " WHERE type = 'OrderReceived'"
                        )
                    )
                )
                .scalars()
                .all()
            )
            stored = await conn.scalar(
                sa.text("SELECT count(*) FROM checkout_forms WHERE received_at IS NOT NULL")
            )
    finally:
        await engine.dispose()
    assert kills >= 2
    assert sorted(handed_off) == sorted(f["id"] for f in forms)
    assert stored == len(forms)


# --- tracking back -------------------------------------------------------------------------------


def shipment_envelope(account: str, form_id: str, **fields: Any) -> Envelope:
    event = SupplierShipmentSent(
        account_id=account,
        order_id=form_id,
        **{"carrier_id": "DPD", "tracking_number": "0000123456789", **fields},
    )
    return envelope_of(event, source="fulfilment")


async def test_a_shipment_goes_to_allegro_once_and_the_order_is_sent(service: Service) -> None:
    account, form = await service.paid_order()
    envelope = shipment_envelope(account, form["id"], carrier_id="dpd")
    await service.publish_envelope(envelope)
    await service.publish_envelope(envelope)  # delivered twice
    # The fulfilment system sends the same waybill again, as a new message.
    await service.publish_envelope(shipment_envelope(account, form["id"], carrier_id="DPD"))
    (done,) = await service.write_backs_settled(form["id"], 1)
    assert done["state"] == "done" and done["carrier_id"] == "DPD" and done["shipment_id"]
    upstream, shipments = service.on_allegro(account, form["id"])
    assert [(s["carrierId"], s["waybill"]) for s in shipments] == [("DPD", "0000123456789")]
    assert upstream["fulfillment"]["status"] == "SENT"

    # Allegro's journal says the status changed; the import stores it.
    async def stored_sent() -> bool:
        found = (await service.http.get(f"/orders/{form['id']}")).json()
        return bool(found["fulfillment_status"] == "SENT")

    await wait_until(stored_sent, within=30)
    detail = (await service.http.get(f"/orders/{form['id']}")).json()
    kinds = [h["kind"] for h in detail["history"]]
    assert kinds.count("shipment_requested") == 1 and kinds.count("shipment_added") == 1
    assert "fulfillment_set" in kinds and kinds.index("received") < kinds.index("shipment_added")
    assert len(await service.write_backs(form["id"])) == 1


async def test_a_shipment_with_an_unknown_carrier_goes_as_other_with_its_name(
    service: Service,
) -> None:
    account, form = await service.paid_order()
    line = form["lineItems"][0]["id"]
    await service.publish(
        SupplierShipmentSent(
            account_id=account,
            order_id=form["id"],
            carrier_id="Kurier Zbyszek",
            tracking_number="ZB-77",
            lines=[{"line_item_id": line, "quantity": 1}],
        )
    )
    (done,) = await service.write_backs_settled(form["id"], 1)
    assert (done["state"], done["carrier_id"], done["carrier_name"]) == (
        "done",
        "OTHER",
        "Kurier Zbyszek",
    )
    upstream, shipments = service.on_allegro(account, form["id"])
    assert [(s["carrierId"], s["carrierName"], s["lineItems"]) for s in shipments] == [
        ("OTHER", "Kurier Zbyszek", [{"id": line}])
    ]
    assert upstream["fulfillment"]["status"] == "SENT"


async def test_a_stale_revision_is_read_again_and_the_status_set(service: Service) -> None:
    """The seller adds a waybill in Allegro itself: the form's revision changes without an
    event, so the stored revision is stale; the status change meets 409, re-reads, succeeds."""
    account, form = await service.paid_order()
    stored = (await service.http.get(f"/orders/{form['id']}")).json()
    with service.seller_api(account) as api:
        added = api.post(
            f"/order/checkout-forms/{form['id']}/shipments",
            json={"carrierId": "INPOST", "waybill": "SELLER-1"},
        )
        assert added.status_code == 201
    upstream, _ = service.on_allegro(account, form["id"])
    assert upstream["revision"] != stored["revision"]  # what we hold is stale now
    answer = await service.http.put(
        f"/orders/{form['id']}/fulfillment", json={"status": "READY_FOR_SHIPMENT"}
    )
    assert answer.status_code == 202 and answer.json()["state"] == "pending"
    (done,) = await service.write_backs_settled(form["id"], 1)
    assert done["state"] == "done", done["last_error"]
    upstream, _ = service.on_allegro(account, form["id"])
    assert upstream["fulfillment"]["status"] == "READY_FOR_SHIPMENT"
    detail = (await service.http.get(f"/orders/{form['id']}")).json()
    (set_event,) = [h for h in detail["history"] if h["kind"] == "fulfillment_set"]
    assert set_event["detail"]["revision_retries"] == 1  # one 409, then the fresh revision
    assert detail["revision"] != stored["revision"]  # the re-read form was stored


async def test_a_bad_shipment_message_is_dead_lettered_with_its_reason_while_the_rest_flow(
    service: Service,
) -> None:
    account, form = await service.paid_order()
    bad = shipment_envelope(account, form["id"], tracking_number="X" * 65)
    unknown = shipment_envelope(account, str(uuid.uuid4()))
    good = shipment_envelope(account, form["id"], tracking_number="GOOD-1")
    for envelope in (bad, unknown, good):
        await service.publish_envelope(envelope)
    (done,) = await service.write_backs_settled(form["id"], 1)
    assert done["state"] == "done" and done["waybill"] == "GOOD-1"
    admin = {"Authorization": f"Bearer {service.admin_token}"}

    async def dead_lettered() -> list[dict[str, Any]]:
        answer = await service.http.get("/admin/dlq/orders.shipments", headers=admin)
        wanted = {str(bad.id), str(unknown.id)}
        return [d for d in answer.json() if d["message_id"] in wanted]

    async def both() -> bool:
        return len(await dead_lettered()) == 2

    await wait_until(both, within=30)
    letters = {d["message_id"]: d for d in await dead_lettered()}
    assert letters[str(bad.id)]["reason"] == "handler_failed"
    assert "tracking number must have 1 to 64 characters" in letters[str(bad.id)]["error"]
    assert "no such imported checkout form" in letters[str(unknown.id)]["error"]


async def test_a_failed_write_back_shows_its_reason_and_is_retried(service: Service) -> None:
    account, form = await service.paid_order()
    service.emulator.admin(
        "PUT",
        "/faults",
        {
            "errorShare": 1,
            "errorStatus": 422,
            "pathPrefix": f"/order/checkout-forms/{form['id']}/f",
        },
    )
    try:
        answer = await service.http.put(
            f"/orders/{form['id']}/fulfillment", json={"status": "PROCESSING"}
        )
        (failed,) = await service.write_backs_settled(form["id"], 1)
    finally:
        service.emulator.admin("DELETE", "/faults")
    assert failed["state"] == "failed" and "Allegro 422" in failed["last_error"]
    listed = (await service.http.get("/write-backs", params={"state": "failed"})).json()
    assert failed["id"] in [w["id"] for w in listed["items"]]
    retried = await service.http.post(f"/write-backs/{answer.json()['id']}/retry")
    assert retried.status_code == 200 and retried.json()["state"] == "pending"
    (done,) = await service.write_backs_settled(form["id"], 1)
    assert done["state"] == "done"
    assert service.on_allegro(account, form["id"])[0]["fulfillment"]["status"] == "PROCESSING"
    again = await service.http.post(f"/write-backs/{answer.json()['id']}/retry")
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_failed"
    bad = await service.http.put(f"/orders/{form['id']}/fulfillment", json={"status": "RETURNED"})
    assert bad.status_code == 422


# --- operator endpoints ---------------------------------------------------------------------------


async def test_orders_are_searched_by_buyer_sku_marketplace_status_and_date(
    service: Service,
) -> None:
    account, login = service.connect_seller()
    await service.connected(account)
    forms = [service.buy(account) for _ in range(3)]
    await service.probe.wait_for("OrderReceived", 3, account_id=account)
    await service.cursor_caught_up(account, login)
    first = forms[0]
    sku = first["lineItems"][0]["offer"]["external"]["id"]

    async def search(**params: Any) -> set[str]:
        answer = await service.http.get("/orders", params={"account_id": account, **params})
        assert answer.status_code == 200, answer.text
        return {o["id"] for o in answer.json()["items"]}

    every = {f["id"] for f in forms}
    assert await search(buyer_login=first["buyer"]["login"]) == {first["id"]}
    assert await search(sku=sku) == every  # one offer: one SKU
    assert await search(sku="NO-SUCH-SKU") == set()
    assert await search(marketplace_id="allegro-pl", status="READY_FOR_PROCESSING") == every
    assert await search(status="CANCELLED") == set()
    bought = first["lineItems"][0]["boughtAt"]
    assert first["id"] in await search(bought_from=bought)
    assert first["id"] not in await search(bought_to=bought)
    assert (
        await search(bought_from="2000-01-01T00:00:00Z", bought_to="2000-01-02T00:00:00Z") == set()
    )
    bad = await service.http.get("/orders", params={"after": "not a cursor"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"
    assert (await service.http.get("/orders", params={"status": "NOPE"})).status_code == 422


async def test_an_order_is_reimported_and_its_history_shown(service: Service) -> None:
    account, login, form = await service.paid_order_of_seller()
    service.emulator.admin("POST", f"/orders/{form['id']}/cancel")  # the journal says so too
    answer = await service.http.post(f"/orders/{form['id']}/reimport")
    assert answer.status_code == 200, answer.text
    assert answer.json()["order"]["status"] == "CANCELLED"
    kinds = [h["kind"] for h in answer.json()["order"]["history"]]
    assert kinds[:2] == ["imported", "received"] and "reimported" in kinds
    # The import reads the cancellation later: still one OrderCancelled.
    await service.cursor_caught_up(account, login)
    cancelled = await service.probe.wait_for("OrderCancelled", 1, account_id=account)
    assert [c["order_id"] for c in cancelled] == [form["id"]]
    missing = await service.http.post(f"/orders/{uuid.uuid4()}/reimport")
    assert missing.status_code == 404
    unknown = await service.http.post(
        f"/orders/{uuid.uuid4()}/reimport", params={"account_id": account}
    )
    assert unknown.status_code == 404
    # Ids that cannot go into Allegro's or auth's URL are refused before any call (the OpenAPI
    # fuzz found a 500 for a control character in account_id).
    for params, path_id in (({"account_id": "\x0cnobody"}, str(uuid.uuid4())), ({}, "Q\u00f3M")):
        refused = await service.http.post(f"/orders/{path_id}/reimport", params=params)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "validation_failed"


async def test_failed_imports_are_listed_with_their_reason_and_retried(service: Service) -> None:
    account, _ = service.connect_seller()
    token = service.tokens.tokens.pop(account)
    form = service.buy(account)
    await service.connected(account)

    async def listed() -> bool:
        rows = (await service.http.get("/import/failures", params={"limit": 1000})).json()
        return any(r["account_id"] == account for r in rows["items"])

    await wait_until(listed, within=30)
    rows = (await service.http.get("/import/failures", params={"limit": 1000})).json()["items"]
    row = next(r for r in rows if r["account_id"] == account)
    assert row["status"] == "tokens_failed" and account in row["status_reason"]
    service.tokens.tokens[account] = token
    retried = await service.http.post(f"/import/accounts/{account}/retry")
    assert retried.status_code == 200
    received = await service.probe.wait_for("OrderReceived", 1, account_id=account)
    assert [r["order_id"] for r in received] == [form["id"]]
    assert (await service.http.post("/import/accounts/nobody/retry")).status_code == 404


async def test_an_account_whose_refresh_token_was_revoked_stops_and_resumes(
    service: Service,
) -> None:
    """Allegro revokes the seller's tokens: the import's call gets 401, the refresh is refused
    (invalid_grant), the account stops with the reason; auth's AccountRefreshFailed marks it;
    after a reconnect it resumes from its cursor, each order once."""
    account, login = service.connect_seller()
    pair = service.emulator.token_for(login)
    service.tokens.tokens[account] = pair["access_token"]
    service.tokens.refresh[account] = pair["refresh_token"]
    await service.connected(account)
    before = service.buy(account)
    await service.probe.wait_for("OrderReceived", 1, account_id=account)
    await service.cursor_caught_up(account, login)
    service.emulator.admin("POST", "/oauth/revoke", {"login": login})
    after = service.buy(account)

    async def stopped() -> bool:
        return (await service.import_status(account)).get("status") == "tokens_failed"

    await wait_until(stopped, within=30)
    status = await service.import_status(account)
    assert "invalid_grant" in status["status_reason"]
    await service.publish(
        AccountRefreshFailed(account_id=account, alias=account, reason="invalid_grant")
    )

    async def refresh_failed() -> bool:
        return (await service.import_status(account)).get("status") == "refresh_failed"

    await wait_until(refresh_failed, within=30)
    assert [r["order_id"] for r in service.probe.of("OrderReceived", account_id=account)] == [
        before["id"]
    ]
    service.tokens.tokens[account] = service.emulator.token_for(login)["access_token"]
    await service.connected(account)  # the operator linked the account again
    received = await service.probe.wait_for("OrderReceived", 2, account_id=account)
    await service.cursor_caught_up(account, login)
    assert [r["order_id"] for r in received] == [before["id"], after["id"]]


async def test_a_status_change_from_fulfilment_goes_back_and_a_bad_one_is_dead_lettered(
    service: Service,
) -> None:
    account, form = await service.paid_order()
    bad = SupplierFulfillmentChanged(account_id=account, order_id=form["id"], status="RETURNED")
    bad_envelope = envelope_of(bad, source="fulfilment")
    await service.publish_envelope(bad_envelope)
    for status in ("PROCESSING", "READY_FOR_SHIPMENT"):
        await service.publish(
            SupplierFulfillmentChanged(account_id=account, order_id=form["id"], status=status)
        )
    done = await service.write_backs_settled(form["id"], 2)
    assert [(w["fulfillment_status"], w["state"]) for w in reversed(done)] == [
        ("PROCESSING", "done"),
        ("READY_FOR_SHIPMENT", "done"),
    ]
    assert service.on_allegro(account, form["id"])[0]["fulfillment"]["status"] == (
        "READY_FOR_SHIPMENT"
    )
    admin = {"Authorization": f"Bearer {service.admin_token}"}

    async def dead_lettered() -> bool:
        answer = await service.http.get("/admin/dlq/orders.shipments", headers=admin)
        return any(d["message_id"] == str(bad_envelope.id) for d in answer.json())

    await wait_until(dead_lettered, within=30)
    letters = (await service.http.get("/admin/dlq/orders.shipments", headers=admin)).json()
    (letter,) = [d for d in letters if d["message_id"] == str(bad_envelope.id)]
    assert "'RETURNED' cannot be set" in letter["error"]


async def test_a_shipment_allegro_took_before_a_crash_is_not_added_twice(
    service: Service,
) -> None:
    """An attempt whose POST reached Allegro died before recording it (its claim counted, the
    waybill on Allegro): the next attempt finds the waybill in Allegro's list, adds nothing."""
    account, form = await service.paid_order()
    await service.publish(
        AccountDisconnected(account_id=account, alias=account, base_marketplace="allegro-pl")
    )

    async def disconnected() -> bool:
        return (await service.import_status(account)).get("status") == "disconnected"

    await wait_until(disconnected, within=30)  # its write-backs wait for the account
    await service.publish_envelope(
        shipment_envelope(account, form["id"], tracking_number="CRASH-1")
    )

    async def recorded() -> bool:
        return len(await service.write_backs(form["id"])) == 1

    await wait_until(recorded, within=30)
    with service.seller_api(account) as api:  # what the attempt that died had done
        taken = api.post(
            f"/order/checkout-forms/{form['id']}/shipments",
            json={"carrierId": "DPD", "waybill": "CRASH-1"},
        )
        assert taken.status_code == 201
    engine = create_engine(service.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text("UPDATE write_backs SET attempts = 1 WHERE checkout_form_id = :f"),
                {"f": form["id"]},
            )
    finally:
        await engine.dispose()
    await service.connected(account)
    (done,) = await service.write_backs_settled(form["id"], 1)
    assert done["state"] == "done" and done["shipment_id"] == taken.json()["id"]
    upstream, shipments = service.on_allegro(account, form["id"])
    assert [s["waybill"] for s in shipments] == ["CRASH-1"]
    assert upstream["fulfillment"]["status"] == "SENT"


async def test_metrics_count_hand_offs_write_backs_and_the_import_lag(service: Service) -> None:
    async def metrics() -> dict[str, float]:
        text = (await service.http.get("/metrics")).text
        return {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("mci_orders_")
        }

    received = 'mci_orders_handed_off_total{event="OrderReceived"}'
    cancelled = 'mci_orders_handed_off_total{event="OrderCancelled"}'
    shipped = 'mci_orders_write_backs_total{kind="shipment",outcome="done"}'
    lag = "mci_orders_import_lag_seconds_count"
    before = await metrics()
    account, form = await service.paid_order()
    await service.publish_envelope(shipment_envelope(account, form["id"]))
    await service.write_backs_settled(form["id"], 1)
    service.emulator.admin("POST", f"/orders/{form['id']}/cancel")
    await service.probe.wait_for("OrderCancelled", 1, account_id=account)

    async def all_counted() -> bool:  # the counters move just after the commit
        after = await metrics()
        return all(
            after.get(name, 0) > before.get(name, 0) for name in (received, cancelled, shipped, lag)
        )

    await wait_until(all_counted, within=10)
