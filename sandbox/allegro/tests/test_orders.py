"""Orders: event journal quirks, checkout-form revisions, fulfillment, shipments."""

from __future__ import annotations

import pytest

from .conftest import Api, Server
from .helpers import create_offer


def _buy(
    server: Server, offer_id: str, quantity: int = 1, duplicate: bool = False
) -> dict[str, object]:
    response = server.admin.post(
        "/orders", json={"offerId": offer_id, "quantity": quantity, "duplicate": duplicate}
    )
    assert response.status_code == 201, response.text
    form: dict[str, object] = response.json()
    return form


def test_order_events_exclusive_from_oldest_first_with_duplicates(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    first = _buy(server, offer["id"], duplicate=True)
    second = _buy(server, offer["id"])
    events = api.get("/order/events").json()["events"]
    assert [e["type"] for e in events] == [
        "BOUGHT",
        "FILLED_IN",
        "READY_FOR_PROCESSING",
        "READY_FOR_PROCESSING",
        "BOUGHT",
        "FILLED_IN",
        "READY_FOR_PROCESSING",
    ]
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids)
    ready = api.get("/order/events", params={"type": "READY_FOR_PROCESSING"}).json()["events"]
    assert [e["order"]["checkoutForm"]["id"] for e in ready] == [
        first["id"],
        first["id"],
        second["id"],
    ]
    after = api.get("/order/events", params={"from": events[2]["id"]}).json()["events"]
    assert after[0]["id"] == events[3]["id"]  # `from` is exclusive
    stats = api.get("/order/event-stats").json()
    assert stats["latestEvent"]["id"] == events[-1]["id"]
    limited = api.get("/order/events", params={"limit": 2}).json()["events"]
    assert len(limited) == 2


def test_filled_in_can_arrive_after_ready_for_processing(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    server.admin.post("/orders", json={"offerId": offer["id"], "filledInLate": True})
    kinds = [e["type"] for e in api.get("/order/events").json()["events"]]
    assert kinds == ["BOUGHT", "READY_FOR_PROCESSING", "FILLED_IN"]


def test_paying_together_replaces_the_forms(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    first = server.admin.post("/orders", json={"offerId": offer["id"], "paid": False}).json()
    second = server.admin.post("/orders", json={"offerId": offer["id"], "paid": False}).json()
    assert first["status"] == "FILLED_IN"
    merged = server.admin.post(
        "/orders/pay-together", json={"checkoutFormIds": [first["id"], second["id"]]}
    ).json()
    assert merged["id"] not in (first["id"], second["id"])
    assert [li["id"] for li in merged["lineItems"]] == [
        first["lineItems"][0]["id"],
        second["lineItems"][0]["id"],
    ]
    assert api.get(f"/order/checkout-forms/{first['id']}").status_code == 404
    ready = api.get("/order/events", params={"type": "READY_FOR_PROCESSING"}).json()["events"]
    assert [e["order"]["checkoutForm"]["id"] for e in ready] == [merged["id"]]
    assert len(ready[0]["order"]["lineItems"]) == 2


def test_events_older_than_60_days_are_gone(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    _buy(server, offer["id"])
    assert api.get("/order/events").json()["events"]
    server.admin.post("/clock", json={"advanceSeconds": 61 * 86400})
    try:
        assert api.get("/order/events").status_code == 401  # 12 h access tokens expire too
        fresh = server.admin.post("/tokens", json={"login": api.login}).json()
        assert api.with_token(fresh["access_token"]).get("/order/events").json()["events"] == []
    finally:
        server.emu.clock_offset = 0.0


def test_checkout_forms_fulfillment_revision_and_shipments(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    form = _buy(server, offer["id"])
    form_id = str(form["id"])
    fetched = api.get(f"/order/checkout-forms/{form_id}").json()
    assert fetched["status"] == "READY_FOR_PROCESSING"
    assert fetched["lineItems"][0]["offer"]["external"] == offer["external"]
    listing = api.get("/order/checkout-forms", params={"status": "READY_FOR_PROCESSING"}).json()
    assert listing["totalCount"] == 1
    unsent = {
        "fulfillment.shipmentSummary.lineItemsSent": "NONE",
        "payment.id": fetched["payment"]["id"],
    }
    assert api.get("/order/checkout-forms", params=unsent).json()["totalCount"] == 1
    assert api.get("/order/checkout-forms", params={"status": "CANCELLED"}).json()["count"] == 0
    revision = fetched["revision"]
    ok = api.put(
        f"/order/checkout-forms/{form_id}/fulfillment",
        {"status": "PROCESSING"},
        params={"checkoutForm.revision": revision},
    )
    assert ok.status_code == 204
    stale = api.put(
        f"/order/checkout-forms/{form_id}/fulfillment",
        {"status": "SENT"},
        params={"checkoutForm.revision": revision},
    )
    assert stale.status_code == 409
    shipment = api.post(
        f"/order/checkout-forms/{form_id}/shipments",
        {"carrierId": "INPOST", "waybill": "620000000000000000000001"},
    )
    assert shipment.status_code == 201
    assert shipment.json()["lineItems"] == [{"id": fetched["lineItems"][0]["id"]}]
    shipments = api.get(f"/order/checkout-forms/{form_id}/shipments").json()["shipments"]
    assert shipments[0]["waybill"] == "620000000000000000000001"
    after = api.get(f"/order/checkout-forms/{form_id}").json()
    assert after["fulfillment"]["shipmentSummary"]["lineItemsSent"] == "ALL"
    server.emu.config.update({"waybill_max_orders": 1})
    other = _buy(server, offer["id"])
    reused = api.post(
        f"/order/checkout-forms/{other['id']}/shipments",
        {"carrierId": "INPOST", "waybill": "620000000000000000000001"},
    )
    assert reused.status_code == 409  # the same waybill in too many orders
    bad = api.post(
        f"/order/checkout-forms/{form_id}/shipments", {"carrierId": "NOPE", "waybill": "1"}
    )
    assert bad.status_code == 400
    assert api.get("/order/checkout-forms/not-a-uuid", validate="response").status_code == 422
    status_events = api.get("/order/events", params={"type": "FULFILLMENT_STATUS_CHANGED"}).json()
    assert len(status_events["events"]) == 1


@pytest.mark.usefixtures("allegro_defaults")
def test_buyer_cancellation_returns_stock(api: Api, server: Server) -> None:
    offer = create_offer(api, server, stock=5)
    form = _buy(server, offer["id"], quantity=2)
    cancelled = server.admin.post(f"/orders/{form['id']}/cancel")
    assert cancelled.json()["status"] == "CANCELLED"
    assert api.get(f"/sale/product-offers/{offer['id']}").json()["stock"]["available"] == 5
    kinds = [e["type"] for e in api.get("/order/events").json()["events"]]
    assert kinds[-1] == "BUYER_CANCELLED"
    assert api.get(f"/order/checkout-forms/{form['id']}").json()["status"] == "CANCELLED"


def test_buying_the_last_item_ends_the_offer(api: Api, server: Server) -> None:
    offer = create_offer(api, server, stock=1)
    _buy(server, offer["id"])
    publication = api.get(f"/sale/product-offers/{offer['id']}").json()["publication"]
    assert publication["status"] == "ENDED" and publication["endedBy"] == "EMPTY_STOCK"
    assert server.admin.post("/orders", json={"offerId": offer["id"]}).status_code == 422


def test_steady_buyer_places_orders(api: Api, server: Server) -> None:
    import time

    create_offer(api, server, stock=500)
    server.admin.put("/buyer", json={"ordersPerMinute": 6000, "login": api.login})
    time.sleep(0.3)
    server.admin.put("/buyer", json={"ordersPerMinute": 0})
    forms = api.get("/order/checkout-forms").json()
    assert forms["totalCount"] >= 5
