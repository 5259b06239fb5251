"""Orders: check, create (201 + Location), lookups, ER codes, wallet, statuses, tracking."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bigbuy_emulator import seed

from .bb_helpers import SPEC, order_body, simple_rows, sku
from .conftest import Server


def stocked(server: Server, row: int, quantity: int = 10) -> str:
    server.admin("PUT", f"/stock/{sku(row)}", {"quantity": quantity})
    return sku(row)


def er(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    """(code, parsed message) of an ER error: `message` is a JSON string."""
    body = response.json()
    return body["code"], json.loads(body["message"])


def test_check_totals_without_creating(bb: httpx.Client, server: Server) -> None:
    row = simple_rows(1)[0]
    reference = stocked(server, row)
    price = Decimal(str(seed.product(SPEC, row)["wholesalePrice"]))
    checked = bb.post("/order/check.json", json=order_body([(reference, 2)]))
    assert checked.status_code == 200
    totals = checked.json()
    assert Decimal(str(totals["totalWithoutTaxesAndWithoutShippingCost"])) == price * 2
    shipping = Decimal(str(totals["totalWithoutTaxes"])) - price * 2
    assert shipping > 0
    expected = (Decimal(str(totals["totalWithoutTaxes"])) * Decimal("1.21")).quantize(
        Decimal("0.01")
    )
    assert Decimal(str(totals["total"])) == expected
    assert server.admin("GET", "/orders") == []
    assert server.admin("GET", f"/items/{reference}")["available"] == 10


def test_create_answers_201_with_location_and_pays_from_the_wallet(
    bb: httpx.Client, server: Server
) -> None:
    reference = stocked(server, simple_rows(1)[0], 5)
    before = Decimal(bb.get("/user/purse.json").json())
    created = bb.post("/order/create.json", json=order_body([(reference, 2)]))
    assert created.status_code == 201 and created.content == b""
    location = created.headers["Location"]
    assert location.startswith("/rest/order/")
    order_id = location.rsplit("/", 1)[1]
    order = bb.get(f"/order/{order_id}.json").json()
    assert order["id"] == order_id and order["internalReference"] == "ALG-0001"
    assert order["products"][0]["reference"] == reference
    assert order["products"][0]["quantity"] == 2
    assert order["status"] == "Payment accepted"
    assert order["carriers"][0]["name"] in ("GLS", "DHL")
    paid = Decimal(str(order["totalPaidTaxIncl"]))
    assert Decimal(bb.get("/user/purse.json").json()) == before - paid
    assert server.admin("GET", f"/items/{reference}")["available"] == 3
    slim = bb.get("/order/reference/ALG-0001.json").json()
    assert slim == {"id": order_id, "totalPaidTaxIncl": f"{paid:.2f}"}


def test_unknown_reference_is_404_with_bigbuys_message(bb: httpx.Client) -> None:
    missing = bb.get("/order/reference/NOPE-1.json")
    assert missing.status_code == 404
    assert missing.json() == {"code": 404, "message": "No order found with refOrder: NOPE-1"}


def test_same_internal_reference_twice_is_er008(bb: httpx.Client, server: Server) -> None:
    reference = stocked(server, simple_rows(1)[0])
    first = bb.post("/order/create.json", json=order_body([(reference, 1)]))
    again = bb.post("/order/create.json", json=order_body([(reference, 1)]))
    assert again.status_code == 409
    code, message = er(again)
    assert code == "ER008"
    assert message["data"]["orderId"] == first.headers["Location"].rsplit("/", 1)[1]
    assert len(server.admin("GET", "/orders")) == 1


def test_products_not_found_incorrect_inactive_and_out_of_stock(
    bb: httpx.Client, server: Server
) -> None:
    unknown = bb.post("/order/check.json", json=order_body([("Q9999999", 1)]))
    assert er(unknown) == ("ER001", {"info": "Product not found.", "data": {"skus": ["Q9999999"]}})
    incorrect = bb.post("/order/check.json", json=order_body([("not a sku", 1)]))
    assert er(incorrect)[0] == "ER002"
    parent = next(r for r in range(SPEC.size) if seed.variation_count(r))
    assert er(bb.post("/order/check.json", json=order_body([(sku(parent), 1)])))[0] == "ER002"
    row = simple_rows(1)[0]
    reference = stocked(server, row, 1)
    short = bb.post("/order/check.json", json=order_body([(reference, 2)]))
    assert short.status_code == 409 and er(short) == (
        "ER003",
        {"info": "Product out of stock.", "data": {"skus": [reference]}},
    )
    server.admin("PUT", f"/products/{reference}", {"active": 0})
    inactive = bb.post("/order/check.json", json=order_body([(reference, 1)]))
    assert inactive.status_code == 409
    assert json.loads(inactive.json()["message"]) == {
        "info": "Products error.",
        "data": [{"sku": reference, "message": "Inactive product."}],
    }


def test_variations_are_ordered_by_their_own_sku(bb: httpx.Client, server: Server) -> None:
    parent = next(r for r in range(SPEC.size) if seed.variation_count(r))
    variation = seed.variation_sku(SPEC, parent, 1)
    server.admin("PUT", f"/stock/{variation}", {"quantity": 4})
    created = bb.post("/order/create.json", json=order_body([(variation, 4)]))
    assert created.status_code == 201
    assert server.admin("GET", f"/items/{variation}")["available"] == 0
    assert er(bb.post("/order/check.json", json=order_body([(variation, 1)])))[0] == "ER003"


@pytest.mark.parametrize(
    ("country", "postcode", "example"),
    [("PL", "30001", "00-001"), ("CZ", "1100", "110 00"), ("HU", "10-11", "1011")],
)
def test_postcode_format_per_country_is_er004(
    bb: httpx.Client, server: Server, country: str, postcode: str, example: str
) -> None:
    reference = stocked(server, simple_rows(1)[0])
    body = order_body([(reference, 1)], shippingAddress={"country": country, "postcode": postcode})
    refused = bb.post("/order/check.json", json=body)
    assert refused.status_code == 409
    assert er(refused)[0] == "ER004" and er(refused)[1]["data"] == {"zipExample": example}


def test_form_validation_address_length_phone_and_email(bb: httpx.Client, server: Server) -> None:
    reference = stocked(server, simple_rows(1)[0])
    body = order_body(
        [(reference, 1)], shippingAddress={"address": "x" * 71, "phone": "", "email": None}
    )
    refused = bb.post("/order/create.json", json=body)
    assert refused.status_code == 400
    payload = refused.json()
    assert payload["code"] == 400
    fields = payload["errors"]["children"]["shippingAddress"]["children"]
    assert fields["address"]["errors"] == [
        "This value is too long. It should have 70 characters or less."
    ]
    assert fields["phone"]["errors"] and fields["email"]["errors"]
    assert "70 characters or less" in payload["message"]
    ok = order_body([(reference, 1)], shippingAddress={"address": "x" * 70})
    assert bb.post("/order/check.json", json=ok).status_code == 200
    assert bb.post("/order/check.json", content=b"{").status_code == 400


def test_wallet_too_low_is_er005_and_nothing_is_created(bb: httpx.Client, server: Server) -> None:
    reference = stocked(server, simple_rows(1)[0])
    server.admin("PUT", "/wallet", {"balance": "1.00"})
    refused = bb.post("/order/create.json", json=order_body([(reference, 1)]))
    code, message = er(refused)
    assert code == "ER005" and message["data"]["moneyBoxAmount"] == 1.0
    assert message["data"]["totalOrder"] > 1
    assert server.admin("GET", "/orders") == []
    assert bb.get("/user/purse.json").json() == "1.00"


def test_payment_method_minimums_and_carriers(bb: httpx.Client, server: Server) -> None:
    reference = stocked(server, simple_rows(1)[0])
    bad = bb.post("/order/check.json", json=order_body([(reference, 1)], paymentMethod="cash"))
    assert er(bad)[0] == "ER011"
    server.admin("PUT", "/config", {"minimum_bankwire": "100000.00"})
    wire = bb.post("/order/check.json", json=order_body([(reference, 1)], paymentMethod="bankwire"))
    assert er(wire) == (
        "ER012",
        {
            "info": "The order does not reach the minimum amount for a bank wire.",
            "data": {"minBankwire": 100000.0},
        },
    )
    server.admin("PUT", "/config", {"minimum_purchase": "100000.00"})
    assert er(bb.post("/order/check.json", json=order_body([(reference, 1)])))[0] == "ER007"
    server.admin("PUT", "/config", {"minimum_purchase": "0.00"})
    # Correos serves Spain only.
    spanish_only = order_body([(reference, 1)], carriers=[{"name": "correos"}])
    assert er(bb.post("/order/check.json", json=spanish_only))[0] == "ER010"


def test_forced_order_error(bb: httpx.Client, server: Server) -> None:
    reference = stocked(server, simple_rows(1)[0])
    server.admin("POST", "/errors", {"path": "order/create", "code": "ER009"}, status=201)
    forced = bb.post("/order/create.json", json=order_body([(reference, 1)]))
    assert forced.status_code == 409 and er(forced)[0] == "ER009"
    assert bb.post("/order/create.json", json=order_body([(reference, 1)])).status_code == 201


def test_statuses_advance_with_the_clock_and_tracking_appears_once_shipped(
    bb: httpx.Client, server: Server
) -> None:
    reference = stocked(server, simple_rows(1)[0])
    created = bb.post("/order/create.json", json=order_body([(reference, 1)]))
    order_id = int(created.headers["Location"].rsplit("/", 1)[1])
    track = {"track": {"orders": [{"id": order_id}]}}
    assert bb.post("/tracking/orders.json", json=track).json() == []
    assert bb.get(f"/tracking/order/{order_id}.json").status_code == 404
    server.admin("POST", "/clock", {"advanceSeconds": 601})
    assert bb.get(f"/order/{order_id}.json").json()["status"] == "Processing in progress"
    server.admin("POST", "/clock", {"advanceSeconds": 86_400})
    assert bb.get(f"/order/{order_id}.json").json()["status"] == "Shipped"
    [tracking] = bb.post("/tracking/orders.json", json=track).json()
    assert tracking["id"] == order_id and tracking["reference"] == "ALG-0001"
    assert tracking["trackings"][0]["trackingNumber"]
    tracking_carriers = {c["id"] for c in bb.get("/tracking/carriers.json").json()}
    assert tracking["trackings"][0]["carrier"]["id"] in tracking_carriers
    server.admin("POST", "/clock", {"advanceSeconds": 3 * 86_400})
    assert bb.get(f"/order/{order_id}.json").json()["status"] == "Delivered"
    statuses = {s["name"] for s in bb.get("/order/orderstatuses.json").json()}
    assert {"Payment accepted", "Shipped", "Delivered"} <= statuses


def test_unpaid_orders_wait_for_payment(bb: httpx.Client, server: Server) -> None:
    reference = stocked(server, simple_rows(1)[0])
    created = bb.post(
        "/order/create.json", json=order_body([(reference, 1)], paymentMethod="paypal")
    )
    order_id = created.headers["Location"].rsplit("/", 1)[1]
    server.admin("POST", "/clock", {"advanceSeconds": 10 * 86_400})
    assert bb.get(f"/order/{order_id}.json").json()["status"] == "Pending payment"
    assert bb.get("/user/purse.json").json() == "5000.00"
    server.admin("POST", f"/orders/{order_id}/pay")
    assert bb.get(f"/order/{order_id}.json").json()["status"] == "Payment accepted"


def test_mixed_warehouses_need_multishipping(bb: httpx.Client, server: Server) -> None:
    first = stocked(server, simple_rows(1)[0])
    second = stocked(server, simple_rows(2)[0])
    body = order_body([(first, 1), (second, 1)])
    # The split is asked for before carriers and payment are looked at.
    server.admin("PUT", "/wallet", {"balance": "0"})
    single = bb.post("/order/check.json", json=body)
    assert single.status_code == 409
    warehouses = single.json()["error_detail"]["warehouses"]
    assert warehouses == [{"id": 1, "references": [first]}, {"id": 2, "references": [second]}]
    assert bb.post("/order/create.json", json=body).json()["error_detail"] == {
        "warehouses": warehouses
    }
    server.admin("PUT", "/wallet", {"balance": "5000"})
    checked = bb.post("/order/check/multishipping.json", json=body).json()
    assert [o["warehouse"] for o in checked["orders"]] == [1, 2] and checked["errors"] == []
    assert checked["orders"][0]["productReferences"] == [first]
    created = bb.post("/order/create/multishipping.json", json=body)
    assert created.status_code == 201
    orders = created.json()["orders"]
    assert [o["productReferences"] for o in orders] == [[first], [second]]
    for placed in orders:
        assert bb.get(f"{placed['url'].removeprefix('/rest')}.json").json()["id"] == placed["id"]
    assert bb.get("/order/reference/ALG-0001.json").json()["id"] == orders[0]["id"]


def test_carriers_and_a_shipping_quote(bb: httpx.Client, server: Server) -> None:
    carriers = bb.get("/shipping/carriers.json").json()
    assert {"GLS", "DHL", "SEUR"} <= {c["name"] for c in carriers}
    assert all(c["shippingServices"][0]["delay"] for c in carriers)
    reference = sku(simple_rows(1)[0])
    quote = bb.post(
        "/shipping/orders.json",
        json={
            "order": {
                "delivery": {"isoCountry": "PL", "postcode": "00-001"},
                "products": [{"reference": reference, "quantity": 1}],
            }
        },
    ).json()
    options = quote["shippingOptions"]
    assert options and {"GLS", "DHL"} <= {o["shippingService"]["name"] for o in options}
    assert "SEUR" not in {o["shippingService"]["name"] for o in options}
    mixed = {
        "order": {
            "delivery": {"isoCountry": "PL", "postcode": "00-001"},
            "products": [
                {"reference": reference, "quantity": 1},
                {"reference": sku(simple_rows(3)[0]), "quantity": 1},
            ],
        }
    }
    conflict = bb.post("/shipping/orders.json", json=mixed)
    assert conflict.status_code == 409
    assert len(conflict.json()["error_detail"]["warehouses"]) == 2


def test_delivery_notes_once_shipped(bb: httpx.Client, server: Server) -> None:
    reference = stocked(server, simple_rows(1)[0])
    created = bb.post("/order/create.json", json=order_body([(reference, 2)]))
    order_id = created.headers["Location"].rsplit("/", 1)[1]
    assert bb.get(f"/order/delivery-notes/{order_id}.json").json() == []
    server.admin("POST", "/clock", {"advanceSeconds": 86_401})
    [note] = bb.get(f"/order/delivery-notes/{order_id}.json").json()
    assert note["order"] == order_id and note["numberOfPackages"] == 1
    assert note["products"] == [{"reference": reference, "quantity": 2}]


def test_lowest_shipping_cost_of_every_sku(bb: httpx.Client) -> None:
    costs = bb.get("/shipping/lowest-shipping-costs-by-country/PL.json").json()
    references = {c["reference"] for c in costs}
    assert sku(simple_rows(1)[0]) in references
    parent = next(r for r in range(SPEC.size) if seed.variation_count(r))
    assert sku(parent) not in references and seed.variation_sku(SPEC, parent, 0) in references
    assert all(c["cost"] is None or isinstance(c["cost"], str) for c in costs)
    assert any(c["cost"] is None for c in costs)  # inactive products
    assert min(Decimal(c["cost"]) for c in costs if c["cost"]) == Decimal("8.58")
    assert bb.get("/shipping/lowest-shipping-costs-by-country/US.json").json() == []


@pytest.mark.parametrize(
    "path",
    [
        "/order/check.json",
        "/order/create.json",
        "/order/check/multishipping.json",
        "/order/create/multishipping.json",
        "/shipping/orders.json",
        "/tracking/orders.json",
    ],
)
def test_malformed_bodies_are_400_never_500(bb: httpx.Client, path: str) -> None:
    for body in (
        b"",
        b"{",
        b"[]",
        b'{"order": []}',
        b'{"order": {"products": "x"}}',
        b'{"order": {"products": [{"reference": 5, "quantity": "a"}], "carriers": [1]}}',
        b'{"track": {"orders": "x"}}',
    ):
        answer = bb.post(path, content=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["code"] == 400
