"""Answers the scenario tests do not reach, each made to happen once so that every status a
route can give (`possible_statuses.py`) is validated against the spec."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from .conftest import MEDIA, Api, Server
from .helpers import create_offer, offer_ids, wait_command
from .test_gpsr import PERSON

UNKNOWN = "00000000-0000-4000-8000-000000000000"
AFTER_SALES = "/after-sales-service-conditions"
COMMANDS = {
    "price": "/sale/offer-price-change-commands",
    "quantity": "/sale/offer-quantity-change-commands",
    "modification": "/sale/offer-modification-commands",
    "publication": "/sale/offer-publication-commands",
}


def _raw(api: Api, method: str, path: str, content: bytes) -> httpx.Response:
    """A malformed body (which the spec cannot describe): only the answer is validated."""
    request = api.http.build_request(
        method,
        path,
        content=content,
        headers={"Accept": MEDIA, "Content-Type": MEDIA, "Authorization": f"Bearer {api.token}"},
    )
    response = api.http.send(request)
    api.check(request, response, request_too=False)
    return response


def _status(api: Api, method: str, path: str, body: Any = None, **params: str) -> int:
    response = api.call(method, path, json_body=body, params=params or None, validate="response")
    return response.status_code


def _first_id(api: Api, path: str, key: str) -> str:
    item_id: str = api.get(path).json()[key][0]["id"]
    return item_id


def test_settings_resources_refuse_bad_requests(api: Api) -> None:
    for kind, key in (
        ("return-policies", "returnPolicies"),
        ("implied-warranties", "impliedWarranties"),
        ("warranties", "warranties"),
    ):
        path = f"{AFTER_SALES}/{kind}"
        assert _status(api, "GET", path, limit="61") == 400
        assert _status(api, "POST", path, {"name": ""}) == 422
        if kind == "warranties":
            body = {"name": "Gwarancja", "type": "SELLER", "individual": {"period": "P1Y"}}
            assert api.post(path, body).status_code == 201
        item = f"{path}/{_first_id(api, path, key)}"
        assert _raw(api, "PUT", item, b"{oops").status_code == 400
        assert _status(api, "PUT", item, {"name": ""}) == 422
        assert _status(api, "GET", f"{path}/{UNKNOWN}") == 404
    assert _status(api, "DELETE", f"{AFTER_SALES}/return-policies/{UNKNOWN}") == 404
    rates = f"/sale/shipping-rates/{_first_id(api, '/sale/shipping-rates', 'shippingRates')}"
    assert _raw(api, "PUT", rates, b"{oops").status_code == 400
    assert _status(api, "PUT", rates, {"name": ""}) == 422


def test_gpsr_resources_refuse_bad_requests(api: Api) -> None:
    person = api.post("/sale/responsible-persons", PERSON).json()
    producer = _first_id(api, "/sale/responsible-producers", "responsibleProducers")
    for path, item in (
        ("/sale/responsible-producers", producer),
        ("/sale/responsible-persons", person["id"]),
    ):
        assert _status(api, "GET", path, limit="0") == 400
        assert _raw(api, "PUT", f"{path}/{item}", b"{oops").status_code == 400
        assert _status(api, "PUT", f"{path}/{item}", {"name": ""}) == 422


def test_offer_resources_refuse_bad_requests(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    path = f"/sale/product-offers/{offer['id']}"
    assert _raw(api, "PATCH", path, b"{oops").status_code == 400
    assert _status(api, "GET", f"/sale/product-offers/{UNKNOWN}/parts", include="stock") == 404
    assert _status(api, "DELETE", f"/sale/offers/{UNKNOWN}") == 404
    assert _status(api, "GET", "/sale/offers/unfilled-parameters", parameterType="SOON") == 400
    scheduled = "/sale/category-parameters-scheduled-changes"
    assert _status(api, "GET", scheduled, **{"scheduledFor.gte": "yesterday"}) == 400


@pytest.mark.usefixtures("allegro_defaults")
def test_an_edit_answered_asynchronously(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    edited = api.patch(f"/sale/product-offers/{offer['id']}", {"stock": {"available": 7}})
    assert edited.status_code == 202
    assert f"/sale/product-offers/{offer['id']}/operations/" in edited.headers["location"]


def test_order_resources_refuse_bad_requests(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    form = server.admin.post("/orders", json={"offerId": offer["id"]}).json()
    assert _status(api, "GET", f"/order/checkout-forms/{UNKNOWN}/shipments") == 404
    assert _status(api, "GET", "/order/checkout-forms/not-a-uuid/shipments") == 422
    shipment = {"carrierId": "INPOST", "waybill": "1", "lineItems": [{"id": UNKNOWN}]}
    shipments = f"/order/checkout-forms/{form['id']}/shipments"
    assert _status(api, "POST", shipments, shipment) == 422
    fulfillment = f"/order/checkout-forms/{form['id']}/fulfillment"
    assert _raw(api, "PUT", fulfillment, b"{oops").status_code == 400
    assert _status(api, "PUT", fulfillment, {"status": "RETURNED"}) == 422


def test_command_resources_refuse_bad_requests(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    bodies: dict[str, dict[str, Any]] = {
        "price": {
            "modification": {
                "type": "FIXED_PRICE",
                "price": {"amount": "10.00", "currency": "PLN"},
            }
        },
        "quantity": {"modification": {"changeType": "FIXED", "value": 5}},
        "modification": {"modification": {"delivery": {"handlingTime": "PT48H"}}},
        "publication": {"publication": {"action": "END"}},
    }
    for kind, path in COMMANDS.items():
        command = str(uuid.uuid4())
        body = {**bodies[kind], "offerCriteria": offer_ids(offer["id"])}
        assert api.put(f"{path}/{command}", body).status_code == 201
        wait_command(api, path, command, 1)
        assert _status(api, "PUT", f"{path}/{command}", body) == 409  # the id is taken
        assert _status(api, "GET", f"{path}/{command}/tasks", limit="0") == 422
        assert _status(api, "GET", f"{path}/{UNKNOWN}") == 404
        assert _status(api, "GET", f"{path}/{UNKNOWN}/tasks") == 404
    no_modification = {"offerCriteria": offer_ids(offer["id"])}
    modification = f"{COMMANDS['modification']}/{uuid.uuid4()}"
    assert _status(api, "PUT", modification, no_modification) == 422
