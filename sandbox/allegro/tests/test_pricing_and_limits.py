"""Fee preview from the fee table; rate limits and faults."""

from __future__ import annotations

import time
from typing import Any

import pytest

from allegro_emulator.errors import AllegroError

from .conftest import Api, Server
from .helpers import create_offer


def _preview(
    api: Api,
    price: str,
    category: str = "4231",
    currency: str = "PLN",
    marketplace: str | None = None,
    promoted: bool = False,
) -> dict[str, Any]:
    offer: dict[str, Any] = {
        "name": "Laptop testowy",
        "category": {"id": category},
        "sellingMode": {"format": "BUY_NOW", "price": {"amount": price, "currency": currency}},
    }
    if promoted:
        offer["promotion"] = {"emphasized10d": True}
    body: dict[str, Any] = {"offer": offer}
    if marketplace:
        body["marketplaceId"] = marketplace
    response = api.post("/pricing/offer-fee-preview", body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_fee_preview_uses_the_table(api: Api) -> None:
    laptop = _preview(api, "2500.00")
    assert laptop["commissions"] == [
        {
            "name": "Prowizja od sprzedaży",
            "type": "commissionFee",
            "fee": {"amount": "67.50", "currency": "PLN"},
        }
    ]
    promoted = _preview(api, "2500.00", promoted=True)
    fees = {c["type"]: c["fee"]["amount"] for c in promoted["commissions"]}
    assert fees == {"commissionFee": "67.50", "commissionFeatureFee": "50.63"}
    expensive = _preview(api, "12000.00")
    listing = [q for q in expensive["quotes"] if q["type"] == "listingFee"]
    assert listing[0]["fee"]["amount"] == "1.00" and listing[0]["cycleDuration"] == "PT240H"
    cz = _preview(api, "5000", currency="CZK", marketplace="allegro-cz")
    assert any(c["type"] == "commissionUnitSalesFee" for c in cz["commissions"])
    mismatch = api.post(
        "/pricing/offer-fee-preview",
        {
            "marketplaceId": "allegro-cz",
            "offer": {
                "name": "x",
                "sellingMode": {"price": {"amount": "10.00", "currency": "PLN"}},
            },
        },
    )
    assert mismatch.status_code == 422


def test_fee_table_is_configurable(api: Api, server: Server) -> None:
    server.admin.put("/fee-table", json={"laptops": {"rate": "0.05", "minimum": "1.00"}})
    try:
        fee = _preview(api, "1000.00")["commissions"][0]
        assert fee["fee"]["amount"] == "50.00"
    finally:
        server.emu.fee_table = None


def test_client_limit_blocks_the_whole_client_id(api: Api, server: Server) -> None:
    from allegro_emulator.config import RateLimit

    server.emu.config.update({"rate_limits_enabled": True, "client_block_seconds": 60})
    server.emu.config.rate_limits["client"] = RateLimit(5, 60)
    try:
        statuses = [api.get("/me").status_code for _ in range(7)]
        assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
        body = api.get("/me").json()
        assert body["errors"][0]["code"] == "TooManyRequestsException"
        # The block covers every seller of that Client ID, not only the one who hammered.
        other = server.admin.post("/tokens", json={"login": "demo-seller"}).json()["access_token"]
        assert api.with_token(other).get("/me").status_code == 429
        counters = server.admin.get("/counters").json()
        assert counters["tooManyRequests"] >= 3
        # The block lasts client_block_seconds / scale: at scale 600, 60 s become 0.1 s.
        server.emu.config.update({"rate_limit_scale": 600.0})
        server.emu.limiter.blocked_until = {
            k: time.time() + 0.1 for k in server.emu.limiter.blocked_until
        }
        time.sleep(0.2)
        assert api.get("/me").status_code == 200
    finally:
        server.emu.config.rate_limits["client"] = RateLimit(9_000, 60)


def test_per_seller_endpoint_limit_and_scale(api: Api, server: Server) -> None:
    from allegro_emulator.config import RateLimit

    offer = create_offer(api, server)
    server.emu.config.update({"rate_limits_enabled": True, "rate_limit_scale": 1.0})
    server.emu.config.rate_limits["product-offers:GET"] = RateLimit(3, 60)
    try:
        statuses = [api.get(f"/sale/product-offers/{offer['id']}").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert api.get("/me").status_code == 200  # other endpoint classes are unaffected
        # A scale factor of 600 turns the 60 s window into 0.1 s: the bucket refills quickly.
        server.emu.config.update({"rate_limit_scale": 600.0})
        import time

        time.sleep(0.15)
        assert api.get(f"/sale/product-offers/{offer['id']}").status_code == 200
    finally:
        server.emu.config.rate_limits["product-offers:GET"] = RateLimit(3_500, 60)


def test_command_limits_count_offer_changes(api: Api, server: Server) -> None:
    import uuid

    from allegro_emulator.config import RateLimit

    offer = create_offer(api, server)
    server.emu.config.update({"rate_limits_enabled": True})
    server.emu.config.rate_limits["offer-changes:price:minute"] = RateLimit(3, 60)
    try:
        body = {
            "modification": {
                "type": "FIXED_PRICE",
                "price": {"amount": "10.00", "currency": "PLN"},
            },
            "offerCriteria": [{"type": "CONTAINS_OFFERS", "offers": [{"id": offer["id"]}] * 2}],
        }
        assert api.put(f"/sale/offer-price-change-commands/{uuid.uuid4()}", body).status_code == 201
        assert api.put(f"/sale/offer-price-change-commands/{uuid.uuid4()}", body).status_code == 429
    finally:
        server.emu.config.rate_limits["offer-changes:price:minute"] = RateLimit(9_000, 60)


def test_hourly_offer_change_limit_does_not_charge_the_minute_one() -> None:
    from allegro_emulator.config import EmulatorConfig, RateLimit
    from allegro_emulator.rate_limits import RateLimiter

    config = EmulatorConfig()
    config.rate_limits["offer-changes:price:minute"] = RateLimit(100, 60)
    config.rate_limits["offer-changes:price:hour"] = RateLimit(10, 3600)
    limiter = RateLimiter(config)
    limiter.check("offer-changes:price", "seller", 0.0, amount=10)
    with pytest.raises(AllegroError) as refused:
        limiter.check("offer-changes:price", "seller", 0.0, amount=5)
    assert refused.value.status == 429
    assert limiter.buckets[("offer-changes:price:minute", "seller")].tokens == 90


def test_injected_faults(api: Api, server: Server) -> None:
    server.admin.put("/faults", json={"forced429": 1})
    assert api.get("/me").status_code == 429
    assert api.get("/me").status_code == 200
    server.admin.put("/faults", json={"errorShare": 1.0, "errorStatus": 503})
    assert api.get("/me").status_code == 503
    server.admin.delete("/faults")
    server.admin.put("/faults", json={"latencyMs": 150})
    import time

    started = time.monotonic()
    assert api.get("/me").status_code == 200
    assert time.monotonic() - started >= 0.15
