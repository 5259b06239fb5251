"""Shipping rates (250 per account, no delete) and after-sales conditions."""

from __future__ import annotations

import pytest

from .conftest import Api, Server

DPD_PL = "7203cb90-864c-4cab-b0a6-6a9b5d9f1d9b"
DPD_CZ = "845efe05-3a18-4d3f-9a9f-9c9c2e1b4d21"


def rates_body(name: str, *methods: str) -> dict[str, object]:
    return {
        "name": name,
        "rates": [
            {
                "deliveryMethod": {"id": m},
                "maxQuantityPerPackage": 5,
                "maxPackageWeight": {"value": "31.500", "unit": "KILOGRAM"},
                "firstItemRate": {"amount": "14.99", "currency": "PLN"},
                "nextItemRate": {"amount": "0.00", "currency": "PLN"},
            }
            for m in methods
        ],
    }


@pytest.mark.usefixtures("allegro_defaults")
def test_shipping_rates_create_get_update_list(api: Api) -> None:
    created = api.post("/sale/shipping-rates", rates_body("W do 5 kg", DPD_PL, DPD_CZ))
    assert created.status_code == 201
    set_id = created.json()["id"]
    assert api.get(f"/sale/shipping-rates/{set_id}").json()["name"] == "W do 5 kg"
    updated = api.put(
        f"/sale/shipping-rates/{set_id}", {**rates_body("W do 5 kg", DPD_PL), "id": set_id}
    )
    assert updated.status_code == 200 and len(updated.json()["rates"]) == 1
    listed = api.get("/sale/shipping-rates").json()["shippingRates"]
    assert {"id": "allegro-pl"} in next(s for s in listed if s["id"] == set_id)["marketplaces"]
    assert api.get("/sale/shipping-rates/does-not-exist").status_code == 404
    assert api.post("/sale/shipping-rates", rates_body("x", "unknown-method")).status_code == 422


def test_shipping_rates_limit_is_250_and_there_is_no_delete(api: Api, server: Server) -> None:
    existing = len(api.get("/sale/shipping-rates").json()["shippingRates"])
    body = rates_body("set", DPD_PL)
    for n in range(250 - existing):
        created = api.post("/sale/shipping-rates", {**body, "name": f"set {n}"})
        assert created.status_code == 201
    refused = api.post("/sale/shipping-rates", rates_body("one too many", DPD_PL))
    assert refused.status_code == 422
    assert "250" in refused.json()["errors"][0]["message"]
    assert len(api.get("/sale/shipping-rates").json()["shippingRates"]) == 250
    # The spec has no DELETE for shipping rates, and neither has the emulator.
    set_id = api.get("/sale/shipping-rates").json()["shippingRates"][0]["id"]
    deleted = api.call("DELETE", f"/sale/shipping-rates/{set_id}", validate=False)
    assert deleted.status_code == 405


@pytest.mark.usefixtures("allegro_defaults")
def test_after_sales_conditions(bare_api: Api) -> None:
    policy = bare_api.post(
        "/after-sales-service-conditions/return-policies",
        {
            "name": "default",
            "isFulfillment": False,
            "availability": {"range": "FULL"},
            "withdrawalPeriod": "P14D",
            "returnCost": {"coveredBy": "BUYER"},
        },
    )
    assert policy.status_code == 201
    policy_id = policy.json()["id"]
    assert (
        bare_api.get(f"/after-sales-service-conditions/return-policies/{policy_id}").status_code
        == 200
    )
    listed = bare_api.get("/after-sales-service-conditions/return-policies").json()
    assert listed["count"] == 1
    renamed = bare_api.put(
        f"/after-sales-service-conditions/return-policies/{policy_id}",
        {"name": "14 dni", "isFulfillment": False, "availability": {"range": "FULL"}},
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "14 dni"
    gone = bare_api.call("DELETE", f"/after-sales-service-conditions/return-policies/{policy_id}")
    assert gone.status_code == 204
    assert (
        bare_api.get(f"/after-sales-service-conditions/return-policies/{policy_id}").status_code
        == 404
    )
    warranty = bare_api.post(
        "/after-sales-service-conditions/implied-warranties",
        {"name": "default", "individual": {"period": "P2Y"}, "corporate": {"period": "P1Y"}},
    )
    assert warranty.status_code == 201
    wid = warranty.json()["id"]
    changed = bare_api.put(
        f"/after-sales-service-conditions/implied-warranties/{wid}",
        {"name": "renamed", "individual": {"period": "P2Y"}},
    )
    assert changed.json()["name"] == "renamed"
    assert (
        bare_api.get(f"/after-sales-service-conditions/implied-warranties/{wid}").status_code == 200
    )
    listing = bare_api.get("/after-sales-service-conditions/implied-warranties").json()
    assert listing["impliedWarranties"] == [{"id": wid, "name": "renamed"}]
    guarantee = bare_api.post(
        "/after-sales-service-conditions/warranties",
        {"name": "Gwarancja producenta", "type": "MANUFACTURER", "individual": {"period": "P2Y"}},
    )
    assert guarantee.status_code == 201
    gid = guarantee.json()["id"]
    changed_guarantee = bare_api.put(
        f"/after-sales-service-conditions/warranties/{gid}",
        {"name": "Gwarancja sprzedawcy", "type": "SELLER", "individual": {"period": "P1Y"}},
    )
    assert changed_guarantee.json()["type"] == "SELLER"
    assert bare_api.get("/after-sales-service-conditions/warranties").json()["count"] == 1
    read = bare_api.get(f"/after-sales-service-conditions/warranties/{gid}")
    assert read.status_code == 200 and read.json()["type"] == "SELLER"
    assert bare_api.get("/after-sales-service-conditions/warranties/nope").status_code == 404


def test_delivery_settings_per_marketplace_in_its_currency(api: Api) -> None:
    """Free-delivery thresholds and the join policy, per marketplace: a seller who never saved
    them reads no threshold; the marketplace defaults to the seller's base one."""
    first = api.get("/sale/delivery-settings", params={"marketplace.id": "allegro-cz"})
    assert first.status_code == 200 and "freeDelivery" not in first.json()
    saved = api.put(
        "/sale/delivery-settings",
        {
            "marketplace": {"id": "allegro-cz"},
            "freeDelivery": {"amount": "2000.00", "currency": "CZK"},
            "joinPolicy": {"strategy": "SUM"},
        },
    )
    assert saved.status_code == 200
    read = api.get("/sale/delivery-settings", params={"marketplace.id": "allegro-cz"}).json()
    assert read["freeDelivery"] == {"amount": "2000.00", "currency": "CZK"}
    assert read["joinPolicy"] == {"strategy": "SUM"} and "abroadFreeDelivery" not in read
    assert "freeDelivery" not in api.get("/sale/delivery-settings").json()  # allegro-pl
    # Left out, a threshold is no longer set.
    api.put(
        "/sale/delivery-settings",
        {"marketplace": {"id": "allegro-cz"}, "joinPolicy": {"strategy": "SUM"}},
    )
    read = api.get("/sale/delivery-settings", params={"marketplace.id": "allegro-cz"}).json()
    assert "freeDelivery" not in read


@pytest.mark.parametrize(
    "body",
    [
        {
            "marketplace": {"id": "allegro-pl"},
            "freeDelivery": {"amount": "99.00", "currency": "EUR"},
            "joinPolicy": {"strategy": "MAX"},
        },
        {
            "marketplace": {"id": "allegro-pl"},
            "freeDelivery": {"amount": "-1", "currency": "PLN"},
            "joinPolicy": {"strategy": "MAX"},
        },
        {"marketplace": {"id": "allegro-pl"}, "joinPolicy": {"strategy": "ALL"}},
        {"marketplace": {"id": "allegro-business-cz"}, "joinPolicy": {"strategy": "MAX"}},
        {"marketplace": {"id": "allegro-pl"}},
    ],
)
def test_delivery_settings_refuse_what_the_spec_names(api: Api, body: dict[str, object]) -> None:
    refused = api.put("/sale/delivery-settings", body, validate="response")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "VALIDATION_ERROR"
    unknown = api.get(
        "/sale/delivery-settings", params={"marketplace.id": "allegro-de"}, validate="response"
    )
    assert unknown.status_code == 422
