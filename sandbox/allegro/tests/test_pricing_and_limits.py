"""Fee preview from the fee table; rate limits and faults."""

from __future__ import annotations

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


@pytest.mark.usefixtures("allegro_defaults")
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
        server.emu.clock_offset += 50  # still inside the 60 s block
        assert api.get("/me").status_code == 429
        server.emu.clock_offset += 11
        assert api.get("/me").status_code == 200
    finally:
        server.emu.clock_offset = 0.0
        server.emu.config.rate_limits["client"] = RateLimit(9_000, 60)


def test_per_seller_endpoint_limit_blocks_and_retry_after_is_a_setting(
    api: Api, server: Server
) -> None:
    from allegro_emulator.config import RateLimit

    offer = create_offer(api, server)
    path = f"/sale/product-offers/{offer['id']}"
    server.emu.config.update({"rate_limits_enabled": True, "rate_limit_scale": 1.0})
    server.emu.config.rate_limits["product-offers:GET"] = RateLimit(3, 60)
    try:
        first = [api.get(path) for _ in range(4)]
        assert [r.status_code for r in first] == [200, 200, 200, 429]
        assert "retry-after" not in first[3].headers  # off by default
        assert api.get("/me").status_code == 200  # other endpoint classes are unaffected
        # Blocked, not refilled: a token bucket would answer again after 60/3 = 20 s.
        server.emu.clock_offset += 25
        assert api.get(path).status_code == 429
        server.emu.config.update({"rate_limit_retry_after": True})
        with_header = api.get(path)
        assert with_header.status_code == 429
        assert 1 <= int(with_header.headers["retry-after"]) <= 35
        server.emu.clock_offset += 36
        assert api.get(path).status_code == 200
    finally:
        server.emu.clock_offset = 0.0
        server.emu.config.rate_limits["product-offers:GET"] = RateLimit(3_500, 60)


def test_forced_429_carries_retry_after_only_when_configured(api: Api, server: Server) -> None:
    server.admin.put("/faults", json={"forced429": 2})
    assert "retry-after" not in api.get("/me").headers
    server.emu.config.update({"rate_limit_retry_after": True, "rate_limit_scale": 1.0})
    assert api.get("/me").headers["retry-after"] == "60"


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


def _limiter(**limits: Any) -> Any:
    from allegro_emulator.config import EmulatorConfig
    from allegro_emulator.rate_limits import RateLimiter

    config = EmulatorConfig()
    config.rate_limits.update(limits)
    return RateLimiter(config)


def _admitted(limiter: Any, name: str, times: list[float]) -> list[float]:
    accepted = []
    for now in times:
        try:
            limiter.check(name, "seller", now)
        except AllegroError as refused:
            statuses = {refused.status}
        else:
            accepted.append(now)
            statuses = set()
        assert statuses <= {429}
    return accepted


def test_no_minute_ever_holds_more_than_the_limit() -> None:
    """The scenario that broke the token bucket: 200 GETs/s for 5 minutes against 3,500/min
    (the bucket let 5,480 through in 27 s)."""
    from allegro_emulator.config import RateLimit

    limiter = _limiter(**{"product-offers:GET": RateLimit(3_500, 60)})
    times = [i / 200 for i in range(200 * 300)]
    accepted = _admitted(limiter, "product-offers:GET", times)
    assert len(accepted) >= 3_500
    # Any 60 s window, not just clock minutes: two pointers over the accepted times.
    low = 0
    for high, now in enumerate(accepted):
        while accepted[low] <= now - 60:
            low += 1
        assert high - low + 1 <= 3_500, now


def test_an_excess_blocks_the_key_for_the_block_time() -> None:
    from allegro_emulator.config import RateLimit

    limiter = _limiter(**{"product-offers:GET": RateLimit(5, 60)})
    assert _admitted(limiter, "product-offers:GET", [0, 1, 2, 3, 4]) == [0, 1, 2, 3, 4]
    assert _admitted(limiter, "product-offers:GET", [30]) == []  # the excess: blocked to 90
    # Back under the limit by 64, but the block holds to 90.
    assert _admitted(limiter, "product-offers:GET", [32, 65, 89.9]) == []
    assert _admitted(limiter, "product-offers:GET", [90.1]) == [90.1]


def test_the_scale_factor_shrinks_windows_and_blocks() -> None:
    from allegro_emulator.config import RateLimit

    limiter = _limiter(**{"product-offers:GET": RateLimit(2, 60)})
    limiter.config.rate_limit_scale = 60.0  # 60 s -> 1 s
    assert _admitted(limiter, "product-offers:GET", [0, 0.1, 0.2, 0.9, 1.15, 1.3]) == [
        0,
        0.1,
        1.3,
    ]


def test_retry_after_tells_when_the_block_ends() -> None:
    from allegro_emulator.config import RateLimit

    limiter = _limiter(client=RateLimit(1, 60))
    limiter.config.client_block_seconds = 60.0
    limiter.check_client("app", 0.0)
    with pytest.raises(AllegroError) as plain:
        limiter.check_client("app", 1.0)
    assert plain.value.headers is None
    limiter.config.rate_limit_retry_after = True
    with pytest.raises(AllegroError) as told:
        limiter.check_client("app", 21.5)
    assert told.value.headers == {"Retry-After": "40"}


def test_hourly_offer_change_limit_does_not_charge_the_minute_one() -> None:
    from allegro_emulator.config import RateLimit

    limiter = _limiter(
        **{
            "offer-changes:price:minute": RateLimit(100, 60),
            "offer-changes:price:hour": RateLimit(10, 3600, block_seconds=0),
        }
    )
    limiter.check("offer-changes:price", "seller", 0.0, amount=10)
    with pytest.raises(AllegroError) as refused:
        limiter.check("offer-changes:price", "seller", 0.0, amount=5)
    assert refused.value.status == 429
    assert limiter.windows[("offer-changes:price:minute", "seller")].total == 10
    # The hour frees up as its changes age out of the window.
    limiter.check("offer-changes:price", "seller", 3600.5, amount=10)


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
