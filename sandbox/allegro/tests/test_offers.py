"""/sale/product-offers and /sale/offers: creation, async operations, conflicts, defaults."""

from __future__ import annotations

import time

import pytest

from .conftest import Api, Server
from .helpers import create_offer, ean_with, offer_body


def test_create_active_offer_by_gtin(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    assert offer["publication"]["status"] == "ACTIVE"
    assert offer["productSet"][0]["product"]["id"]
    assert offer["afterSalesServices"]["returnPolicy"]["id"]  # filled in from the account default
    fetched = api.get(f"/sale/product-offers/{offer['id']}")
    assert fetched.status_code == 200 and fetched.json()["stock"]["available"] == 10
    parts = api.get(
        f"/sale/product-offers/{offer['id']}/parts",
        params=[("include", "stock"), ("include", "price")],
    )
    assert parts.json()["stock"] == {"available": 10}


def test_product_matching_errors(api: Api, server: Server) -> None:
    missing = api.post(
        "/sale/product-offers",
        offer_body(server, productSet=[{"product": {"id": ean_with(server, 0), "idType": "GTIN"}}]),
    )
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["code"] == "ProductNotFoundException"
    ambiguous = api.post(
        "/sale/product-offers",
        offer_body(server, productSet=[{"product": {"id": ean_with(server, 2), "idType": "GTIN"}}]),
    )
    assert ambiguous.status_code == 422
    error = ambiguous.json()["errors"][0]
    assert error["code"] == "MultipleProductsFoundException"
    assert len(error["metadata"]["foundProductsIds"].split(",")) == 2


def test_missing_stock_and_missing_condition(api: Api, server: Server) -> None:
    body = offer_body(server)
    del body["stock"]
    assert api.post("/sale/product-offers", body, validate="response").status_code == 422
    no_condition = api.post("/sale/product-offers", offer_body(server, parameters=[]))
    assert no_condition.status_code == 422
    assert no_condition.json()["errors"][0]["code"] == "MissingRequiredParameters"
    draft = api.post("/sale/product-offers", offer_body(server, parameters=[], status="INACTIVE"))
    assert draft.status_code == 201
    assert draft.json()["validation"]["errors"][0]["code"] == "MissingRequiredParameters"


def test_missing_defaults(bare_api: Api, server: Server) -> None:
    response = bare_api.post("/sale/product-offers", offer_body(server))
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["code"] == "DefaultShippingRatesNotFoundException"
    assert error["metadata"]["defaultName"] == "default"
    bare_api.post(
        "/sale/shipping-rates",
        {
            "name": "default",
            "rates": [
                {
                    "deliveryMethod": {"id": "7203cb90-864c-4cab-b0a6-6a9b5d9f1d9b"},
                    "maxQuantityPerPackage": 1,
                    "firstItemRate": {"amount": "10.00", "currency": "PLN"},
                    "nextItemRate": {"amount": "0.00", "currency": "PLN"},
                }
            ],
        },
    )
    response = bare_api.post("/sale/product-offers", offer_body(server))
    assert response.json()["errors"][0]["code"] == "DefaultReturnPolicyNotFoundException"
    named = bare_api.post(
        "/sale/product-offers",
        offer_body(server, afterSalesServices={"returnPolicy": {"name": "nope"}}),
    )
    assert named.json()["errors"][0]["code"] == "ReturnPolicyNotFoundException"


@pytest.mark.usefixtures("allegro_defaults")
def test_async_creation_202_then_303(api: Api, server: Server) -> None:
    server.emu.config.update({"async_offer_share": 1.0, "operation_seconds": 1.0})
    response = api.post("/sale/product-offers", offer_body(server))
    assert response.status_code == 202
    assert response.json()["publication"]["status"] == "ACTIVATING"
    location = response.headers["location"]
    assert int(response.headers["retry-after"]) >= 1
    path = location.replace(api.base_url, "")
    offer_id = response.json()["id"]
    # An edit while the operation runs is a conflict.
    conflict = api.patch(f"/sale/product-offers/{offer_id}", {"name": "Nowa nazwa oferty testowej"})
    assert conflict.status_code == 409
    assert conflict.json()["errors"][0]["code"] == "OfferConflictException"
    polish = api.patch(
        f"/sale/product-offers/{offer_id}",
        {"name": "Nowa nazwa oferty testowej"},
        headers={"Accept-Language": "pl-PL"},
    )
    assert polish.json()["errors"][0]["userMessage"].startswith("Poprzednia edycja")
    assert api.get(path).status_code == 202
    deadline = time.monotonic() + 5
    while (done := api.get(path)).status_code == 202:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert done.status_code == 303
    assert done.headers["location"].endswith(f"/sale/product-offers/{offer_id}")
    assert api.get(f"/sale/product-offers/{offer_id}").json()["publication"]["status"] == "ACTIVE"


def test_patch_price_stock_and_reactivation(api: Api, server: Server) -> None:
    offer = create_offer(api, server, stock=2)
    path = f"/sale/product-offers/{offer['id']}"
    changed = api.patch(path, {"sellingMode": {"price": {"amount": "120.00", "currency": "PLN"}}})
    assert changed.status_code == 200
    assert changed.json()["sellingMode"]["price"]["amount"] == "120.00"
    ended = api.patch(path, {"stock": {"available": 0}}).json()
    assert (
        ended["publication"]["status"] == "ENDED"
        and ended["publication"]["endedBy"] == "EMPTY_STOCK"
    )
    restocked = api.patch(path, {"stock": {"available": 5}}).json()
    assert restocked["publication"]["status"] == "ENDED"  # no automatic reactivation
    active = api.patch(path, {"publication": {"status": "ACTIVE"}}).json()
    assert active["publication"]["status"] == "ACTIVE"


def test_the_handling_time_is_kept_and_checked_as_the_spec_lists_it(
    api: Api, server: Server
) -> None:
    offer = create_offer(api, server, delivery={"handlingTime": "P2D"})
    path = f"/sale/product-offers/{offer['id']}"
    assert api.get(path).json()["delivery"]["handlingTime"] == "P2D"
    assert offer["delivery"]["shippingRates"]["id"]  # the account default, beside it
    changed = api.patch(path, {"delivery": {"handlingTime": "P5D"}})
    assert changed.status_code == 200
    kept = api.get(path).json()["delivery"]
    assert (
        kept["handlingTime"] == "P5D"
        and kept["shippingRates"] == offer["delivery"]["shippingRates"]
    )
    # PT48H is a batch modification command's value, not a product offer's; P6D is no value.
    for refused in ("PT48H", "P6D"):
        patched = api.patch(path, {"delivery": {"handlingTime": refused}})
        assert patched.status_code == 422
        assert patched.json()["errors"][0]["path"] == "delivery.handlingTime"
        created = api.post(
            "/sale/product-offers", offer_body(server, delivery={"handlingTime": refused})
        )
        assert created.status_code == 422
    assert api.get(path).json()["delivery"]["handlingTime"] == "P5D"
    # Without one Allegro's default applies.
    assert create_offer(api, server)["delivery"]["handlingTime"] == "PT24H"


def test_late_validation_drops_offer_to_inactive(api: Api, server: Server) -> None:
    offer = create_offer(api, server)
    server.admin.post(f"/offers/{offer['id']}/late-validation")
    fetched = api.get(f"/sale/product-offers/{offer['id']}").json()
    assert fetched["publication"]["status"] == "INACTIVE"
    assert fetched["validation"]["errors"]


def test_configured_late_validation_share(api: Api, server: Server) -> None:
    server.emu.config.update({"late_validation_share": 1.0, "late_validation_seconds": 0.0})
    offer = create_offer(api, server)  # answered ACTIVE...
    assert offer["publication"]["status"] == "ACTIVE"
    later = api.get(f"/sale/product-offers/{offer['id']}").json()  # ...and dropped afterwards
    assert later["publication"]["status"] == "INACTIVE"
    changed = api.get("/sale/offer-events", params={"type": "OFFER_CHANGED"}).json()["offerEvents"]
    assert any(e["offer"]["id"] == offer["id"] for e in changed)


def test_search_offers_filters(api: Api, server: Server) -> None:
    first = create_offer(api, server)
    create_offer(api, server, status="INACTIVE")
    by_external = api.get("/sale/offers", params={"external.id": first["external"]["id"]}).json()
    assert [o["id"] for o in by_external["offers"]] == [first["id"]]
    active = api.get("/sale/offers", params={"publication.status": "ACTIVE"}).json()
    assert active["totalCount"] == 1
    cheap = create_offer(api, server, price="5.00")
    by_price = api.get("/sale/offers", params={"sort": "sellingMode.price.amount"}).json()["offers"]
    assert by_price[0]["id"] == cheap["id"]
    drafts = api.get(
        "/sale/offers",
        params={"publication.status": "INACTIVE", "category.id": first["category"]["id"]},
    ).json()
    assert all(o["publication"]["status"] == "INACTIVE" for o in drafts["offers"])
    page = api.get("/sale/offers", params={"limit": 1, "offset": 1}).json()
    assert page["count"] == 1 and page["totalCount"] == 3


def test_only_drafts_can_be_deleted(api: Api, server: Server) -> None:
    active = create_offer(api, server)
    draft = create_offer(api, server, status="INACTIVE")
    assert api.call("DELETE", f"/sale/offers/{active['id']}").status_code == 403
    assert api.call("DELETE", f"/sale/offers/{draft['id']}").status_code == 204
    assert api.get(f"/sale/product-offers/{draft['id']}").status_code == 404


def test_image_upload_by_url_and_bytes(api: Api) -> None:
    by_url = api.post("/sale/images", {"url": "https://cdn.supplier.example/SKU-1/1.jpg"})
    assert by_url.status_code == 201
    assert by_url.json()["location"].startswith("https://a.allegroimg.com/original/")
    raw = api.call(
        "POST",
        "/sale/images",
        headers={"Content-Type": "image/png"},
        validate="response",
        json_body=None,
    )
    assert raw.status_code == 422  # no bytes
    import httpx

    png = httpx.post(
        api.base_url + "/sale/images",
        content=b"\x89PNG....",
        headers={
            "Accept": "application/vnd.allegro.public.v1+json",
            "Content-Type": "image/png",
            "Authorization": f"Bearer {api.token}",
        },
    )
    assert png.status_code == 201 and png.json()["location"].endswith(".png")


def test_offer_with_a_duration_expires(api: Api, server: Server) -> None:
    offer = create_offer(api, server, publication={"status": "ACTIVE", "duration": "PT72H"})
    assert offer["publication"]["duration"] == "PT72H"
    server.admin.post("/clock", json={"advanceSeconds": 73 * 3600})
    try:
        fresh = server.admin.post("/tokens", json={"login": api.login}).json()["access_token"]
        ended = (
            api.with_token(fresh).get(f"/sale/product-offers/{offer['id']}").json()["publication"]
        )
        assert ended["status"] == "ENDED" and ended["endedBy"] == "EXPIRATION"
    finally:
        server.emu.clock_offset = 0.0


def test_duration_parsing() -> None:
    from allegro_emulator.offer_lifecycle import duration_seconds

    assert duration_seconds("PT72H") == 72 * 3600
    assert duration_seconds("P10D") == 10 * 86400
    assert duration_seconds(None) is None and duration_seconds("nonsense") is None


def test_a_seller_edit_on_allegro_changes_the_offer_and_emits_its_events(
    api: Api, server: Server
) -> None:
    offer = create_offer(api, server)
    events = api.get("/sale/offer-events", params={"limit": 1000}).json()["offerEvents"]
    since = events[-1]["id"]
    path = f"/offers/{offer['id']}/seller-edit"
    price = {"amount": "77.70", "currency": "PLN"}
    edited = server.admin.post(path, json={"price": price, "stock": 3}).json()
    assert edited["sellingMode"]["price"] == price and edited["stock"]["available"] == 3
    assert server.admin.post(path, json={"status": "ENDED"}).json()["publication"]["status"] == (
        "ENDED"
    )
    fetched = api.get(f"/sale/product-offers/{offer['id']}").json()
    assert fetched["publication"]["status"] == "ENDED"
    assert fetched["publication"]["endedBy"] == "USER"
    assert fetched["sellingMode"]["price"] == price and fetched["stock"]["available"] == 3
    after = api.get("/sale/offer-events", params={"from": since}).json()["offerEvents"]
    mine = [e["type"] for e in after if e["offer"]["id"] == offer["id"]]
    assert mine == ["OFFER_PRICE_CHANGED", "OFFER_STOCK_CHANGED", "OFFER_ENDED"]
    reactivated = server.admin.post(path, json={"status": "ACTIVE"}).json()
    assert reactivated["publication"]["status"] == "ACTIVE"
    bad = server.admin.post(path, json={"status": "ARCHIVED", "stock": -1})
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "status"
    assert (
        server.admin.post(path, json={"price": {"amount": "1", "currency": "EUR"}}).status_code
        == 422
    )
    assert server.admin.post("/offers/nope/seller-edit", json={}).status_code == 404
