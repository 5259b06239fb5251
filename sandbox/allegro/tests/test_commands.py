"""Batch commands: 409 on reuse, 1,000 offers, async tasks, FIXED >= 1, stock 0 -> ENDED."""

from __future__ import annotations

import uuid

import pytest

from .conftest import Api, Server
from .helpers import create_offer, offer_ids, wait_command

PRICE = "/sale/offer-price-change-commands"
QUANTITY = "/sale/offer-quantity-change-commands"
PUBLICATION = "/sale/offer-publication-commands"
MODIFICATION = "/sale/offer-modification-commands"


@pytest.mark.usefixtures("allegro_defaults")
def test_price_command_is_async_and_idempotent(api: Api, server: Server) -> None:
    a, b = create_offer(api, server), create_offer(api, server)
    command_id = str(uuid.uuid4())
    body = {
        "modification": {"type": "FIXED_PRICE", "price": {"amount": "49.99", "currency": "PLN"}},
        "offerCriteria": offer_ids(a["id"], b["id"], "1"),
    }
    created = api.put(f"{PRICE}/{command_id}", body)
    assert created.status_code == 201
    assert created.json()["taskCount"] == {"total": 0, "success": 0, "failed": 0}
    assert api.put(f"{PRICE}/{command_id}", body).status_code == 409
    report = wait_command(api, PRICE, command_id, 3)
    assert report["taskCount"] == {"total": 3, "success": 2, "failed": 1}
    tasks = api.get(f"{PRICE}/{command_id}/tasks", params={"limit": 10}).json()["tasks"]
    assert {t["status"] for t in tasks} == {"SUCCESS", "FAIL"}
    price = api.get(f"/sale/product-offers/{a['id']}").json()["sellingMode"]["price"]
    assert price == {"amount": "49.99", "currency": "PLN"}
    percent = str(uuid.uuid4())
    api.put(
        f"{PRICE}/{percent}",
        {
            "modification": {"type": "INCREASE_PERCENTAGE", "percentage": "10"},
            "offerCriteria": offer_ids(a["id"]),
        },
    )
    wait_command(api, PRICE, percent, 1)
    assert (
        api.get(f"/sale/product-offers/{a['id']}").json()["sellingMode"]["price"]["amount"]
        == "54.99"
    )


def test_command_limits(api: Api) -> None:
    too_many = {
        "modification": {"changeType": "GAIN", "value": 1},
        "offerCriteria": offer_ids(*[str(n) for n in range(1001)]),
    }
    assert api.put(f"{QUANTITY}/{uuid.uuid4()}", too_many).status_code == 422
    zero = {"modification": {"changeType": "FIXED", "value": 0}, "offerCriteria": offer_ids("1")}
    response = api.put(f"{QUANTITY}/{uuid.uuid4()}", zero)
    assert response.status_code == 422
    missing = api.get(f"{QUANTITY}/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "COMMAND_NOT_FOUND"


def test_stock_zero_ends_offer_and_restock_does_not_reactivate(api: Api, server: Server) -> None:
    offer = create_offer(api, server, stock=3)
    end = str(uuid.uuid4())
    api.put(
        f"{QUANTITY}/{end}",
        {
            "modification": {"changeType": "GAIN", "value": -3},
            "offerCriteria": offer_ids(offer["id"]),
        },
    )
    wait_command(api, QUANTITY, end, 1)
    ended = api.get(f"/sale/product-offers/{offer['id']}").json()["publication"]
    assert ended["status"] == "ENDED" and ended["endedBy"] == "EMPTY_STOCK"
    restock = str(uuid.uuid4())
    api.put(
        f"{QUANTITY}/{restock}",
        {
            "modification": {"changeType": "FIXED", "value": 7},
            "offerCriteria": offer_ids(offer["id"]),
        },
    )
    wait_command(api, QUANTITY, restock, 1)
    restock_tasks = api.get(f"{QUANTITY}/{restock}/tasks").json()["tasks"]
    assert [t["status"] for t in restock_tasks] == ["SUCCESS"]
    again = api.get(f"/sale/product-offers/{offer['id']}").json()
    assert again["stock"]["available"] == 7 and again["publication"]["status"] == "ENDED"
    activate = str(uuid.uuid4())
    api.put(
        f"{PUBLICATION}/{activate}",
        {"publication": {"action": "ACTIVATE"}, "offerCriteria": offer_ids(offer["id"])},
    )
    wait_command(api, PUBLICATION, activate, 1)
    tasks = api.get(f"{PUBLICATION}/{activate}/tasks").json()["tasks"]
    assert tasks[0]["status"] == "SUCCESS"
    assert (
        api.get(f"/sale/product-offers/{offer['id']}").json()["publication"]["status"] == "ACTIVE"
    )
    events = api.get("/sale/offer-events", params={"type": "OFFER_ENDED"}).json()["offerEvents"]
    assert any(
        e["offer"]["id"] == offer["id"] and e["offer"]["publication"]["endedBy"] == "EMPTY_STOCK"
        for e in events
    )


def test_publication_end_and_overlapping_commands(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    server.emu.config.update({"command_seconds": 1.0})
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    body = {"publication": {"action": "END"}, "offerCriteria": offer_ids(offer["id"])}
    api.put(f"{PUBLICATION}/{first}", body)
    api.put(f"{PUBLICATION}/{second}", body)
    wait_command(api, PUBLICATION, first, 1)
    overlap = wait_command(api, PUBLICATION, second, 1)
    assert overlap["taskCount"]["failed"] == 1
    tasks = api.get(f"{PUBLICATION}/{second}/tasks").json()["tasks"]
    assert tasks[0]["errors"][0]["code"] == "InProgressTaskLimitReachedException"
    state = api.get(f"/sale/product-offers/{offer['id']}").json()["publication"]
    assert state == {**state, "status": "ENDED", "endedBy": "USER"}


def test_modification_command_changes_shipping_rates(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    rates = api.post(
        "/sale/shipping-rates",
        {
            "name": "PL only",
            "rates": [
                {
                    "deliveryMethod": {"id": "7203cb90-864c-4cab-b0a6-6a9b5d9f1d9b"},
                    "maxQuantityPerPackage": 1,
                    "firstItemRate": {"amount": "9.99", "currency": "PLN"},
                    "nextItemRate": {"amount": "0.00", "currency": "PLN"},
                }
            ],
        },
    ).json()
    command = str(uuid.uuid4())
    response = api.put(
        f"{MODIFICATION}/{command}",
        {
            "modification": {
                "delivery": {"shippingRates": {"id": rates["id"]}, "handlingTime": "PT48H"}
            },
            "offerCriteria": offer_ids(offer["id"]),
        },
    )
    assert response.status_code == 201
    wait_command(api, MODIFICATION, command, 1)
    assert api.get(f"{MODIFICATION}/{command}/tasks").json()["tasks"][0]["status"] == "SUCCESS"
    fetched = api.get(f"/sale/product-offers/{offer['id']}").json()
    assert fetched["delivery"]["shippingRates"]["id"] == rates["id"]
