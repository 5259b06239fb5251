"""Invalid requests still get answers the spec documents: right status, right body shape."""

from __future__ import annotations

import re
import uuid

import pytest

from .conftest import Api, Server
from .helpers import create_offer, offer_body

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# (method, path, body, params, expected status)
CASES: list[tuple[str, str, object, dict[str, str] | None, int]] = [
    ("GET", "/sale/offers", None, {"limit": "5000"}, 400),
    ("GET", "/sale/offers", None, {"sort": "name"}, 400),
    ("GET", "/sale/offers", None, {"offset": "10000000"}, 400),
    ("GET", "/sale/offers", None, {"offset": "9999990", "limit": "20"}, 400),
    ("GET", "/sale/offer-events", None, {"limit": "0"}, 400),
    ("GET", "/order/events", None, {"from": "not-a-number"}, 422),
    ("GET", "/order/checkout-forms", None, {"limit": "101"}, 422),
    ("GET", "/sale/products", None, {"phrase": "x", "mode": "EAN"}, 422),
    ("GET", "/sale/matching-categories", None, {"name": ""}, 422),
    ("GET", "/sale/categories", None, {"parent.id": "nope"}, 404),
    ("GET", "/sale/tax-settings", None, {"category.id": "nope"}, 404),
    ("POST", "/sale/shipping-rates", {"name": "x"}, None, 422),
    ("POST", "/sale/product-offers", {"stock": {"available": -1}}, None, 422),
    ("POST", "/sale/product-offers", {"stock": {"available": 1}}, None, 422),
    ("POST", "/pricing/offer-fee-preview", {"offer": {}}, None, 422),
    (
        "PUT",
        f"/sale/offer-price-change-commands/{uuid.uuid4()}",
        {"modification": {"type": "X"}},
        None,
        422,
    ),
    (
        "PUT",
        f"/sale/offer-publication-commands/{uuid.uuid4()}",
        {"publication": {"action": "X"}},
        None,
        422,
    ),
    ("GET", f"/sale/offer-price-change-commands/{uuid.uuid4()}/tasks", None, None, 404),
    ("GET", "/sale/product-offers/123/operations/456", None, None, 404),
    ("PATCH", "/sale/product-offers/123", {"name": "Nazwa oferty testowej"}, None, 404),
]


def case_id(value: object) -> str | None:
    """The path without its random command id: every pytest-xdist worker must collect the
    same test names."""
    return UUID.sub("<id>", value) if isinstance(value, str) else None


@pytest.mark.parametrize(("method", "path", "body", "params", "status"), CASES, ids=case_id)
def test_invalid_request_gets_a_documented_answer(
    api: Api, method: str, path: str, body: object, params: dict[str, str] | None, status: int
) -> None:
    response = api.call(method, path, json_body=body, params=params, validate="response")
    assert response.status_code == status, response.text


def test_invalid_offer_edits(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    path = f"/sale/product-offers/{offer['id']}"
    bad_price = {"sellingMode": {"price": {"amount": "10.00", "currency": "EUR"}}}
    assert api.call("PATCH", path, json_body=bad_price, validate="response").status_code == 422
    parts = api.call("GET", f"{path}/parts", params={"include": "name"}, validate="response")
    assert parts.status_code == 400
    unknown_rates = offer_body(server, delivery={"shippingRates": {"id": "nope"}})
    created = api.post("/sale/product-offers", unknown_rates)
    assert created.json()["errors"][0]["code"] == "ShippingRatesNotFoundException"


def test_offers_offset_at_the_spec_maximum_is_served(api: Api) -> None:
    response = api.get("/sale/offers", params={"offset": "9999999", "limit": "1"})
    assert response.status_code == 200 and response.json()["offers"] == []


@pytest.mark.parametrize(
    ("amount", "currency", "status"),
    [("99.999", "PLN", 422), ("99.990", "PLN", 422), ("99.99", "PLN", 201), ("99", "PLN", 201)],
)
def test_prices_have_at_most_two_decimals(
    api: Api, server: Server, amount: str, currency: str, status: int
) -> None:
    body = offer_body(server)
    body["sellingMode"] = {"price": {"amount": amount, "currency": currency}}
    response = api.call("POST", "/sale/product-offers", json_body=body, validate="response")
    assert response.status_code == status, response.text
    if status == 422:
        assert response.json()["errors"][0]["code"] == "InvalidPricePrecision"


def test_price_command_with_three_decimals_is_refused(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    command = {
        "modification": {"type": "FIXED_PRICE", "price": {"amount": "10.001", "currency": "PLN"}},
        "offerCriteria": [{"type": "CONTAINS_OFFERS", "offers": [{"id": offer["id"]}]}],
    }
    response = api.call(
        "PUT",
        f"/sale/offer-price-change-commands/{uuid.uuid4()}",
        json_body=command,
        validate="response",
    )
    assert response.status_code == 422, response.text
