"""The connector as it runs: its app with the lifespan on a throw-away database and the run's
RabbitMQ vhost, the BigBuy emulator over HTTP. An `OrderReceived` on `mci.events` goes out to
BigBuy exactly once, its tracking comes back on `mci.upstream` as `SupplierShipmentSent`, and the
operator endpoints answer (bad input as a machine-readable 4xx)."""

from __future__ import annotations

import uuid
from typing import Any

from bigbuy_connector.main import MIGRATIONS, build
from mci_testing.app import running_app
from mci_testing.bigbuy import BigBuyEmulatorHandle, allegro_order, bigbuy_orders, sellable
from mci_testing.bus import Bus, envelope_of
from mci_testing.fixtures import MakeDatabase
from mci_testing.infra import wait_until
from shared.events import SupplierShipmentSent
from shared.security import issue_token
from shared.service import create_app

from .conftest import settings_for


async def test_an_order_event_goes_to_bigbuy_once_and_its_tracking_comes_back_upstream(
    bigbuy_emulator: BigBuyEmulatorHandle, make_database: MakeDatabase, amqp_url: str
) -> None:
    emulator = bigbuy_emulator
    # Limits off: the service runs on the system clock while the test moves the emulator's.
    emulator.reset(rate_limits_enabled=False)
    database = await make_database("bigbuy_service", MIGRATIONS)
    settings = settings_for(
        emulator,
        database,
        amqp_url=amqp_url,
        catalogue_enabled=False,
        outbox_poll_interval_seconds=0.2,
        order_poll_interval_seconds=0.2,
        tracking_poll_interval_seconds=0.2,
    )
    bus = await Bus.open(amqp_url)
    shipments = await bus.probe(SupplierShipmentSent.routing_key, on_upstream=True)
    token = issue_token(settings.service_token_secret.get_secret_value(), "ops", "operator")
    item = sellable(emulator)
    event = allegro_order(item["sku"])
    try:
        async with running_app(create_app(build(settings))) as http:
            http.headers["Authorization"] = f"Bearer {token}"
            envelope = envelope_of(event, source="orders")
            for _ in range(2):  # delivered twice: the inbox applies it once
                await bus.publish_envelope(envelope)

            async def state_is(state: str) -> bool:
                response = await http.get(f"/supplier-orders/{event.order_id}")
                return response.status_code == 200 and response.json()["state"] == state

            await wait_until(lambda: state_is("sent"), within=30)
            emulator.admin("POST", "/clock", {"advanceSeconds": 86_400 + 60})
            await wait_until(lambda: state_is("shipped"), within=30)

            (shipment,) = await shipments.wait_for(
                SupplierShipmentSent.event_type, within=30, order_id=event.order_id
            )
            order: dict[str, Any] = (await http.get(f"/supplier-orders/{event.order_id}")).json()
            assert shipment["tracking_number"] == order["tracking_number"]
            assert len(bigbuy_orders(emulator, event.order_id)) == 1

            listed = (await http.get("/supplier-orders", params={"state": "shipped"})).json()
            assert [o["order_id"] for o in listed["items"]] == [event.order_id]
            wallet = (await http.get("/wallet")).json()
            assert wallet["balance"] is not None and wallet["waiting_orders"] == 0

            bad = await http.get("/supplier-orders", params={"state": "lost-in-space"})
            assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_state")
            cursor = await http.get("/supplier-orders", params={"after": "%%%"})
            assert (cursor.status_code, cursor.json()["error"]["code"]) == (422, "invalid_cursor")
            again = await http.post(f"/supplier-orders/{event.order_id}/resend", json={})
            assert (again.status_code, again.json()["error"]["code"]) == (409, "not_resendable")
            unknown = await http.post(f"/supplier-orders/{uuid.uuid4()}/retry")
            assert (unknown.status_code, unknown.json()["error"]["code"]) == (
                404,
                "order_not_found",
            )
            extra = await http.post(
                f"/supplier-orders/{event.order_id}/resend", json={"address": {"street": "x"}}
            )
            assert extra.status_code == 422
            refreshes = await http.get("/catalogue/refreshes")
            assert refreshes.status_code == 200
            assert (await http.get("/catalogue/budgets")).status_code == 200
    finally:
        await bus.close()
