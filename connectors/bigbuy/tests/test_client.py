"""The BigBuy client against the emulator over HTTP: budgets from `X-RateLimit-*` kept in the
database, a 429 (someone else spent the window) waited out until the reset, and BigBuy's
answers read by their body (soft errors, empty 404s, swapped fields, order errors)."""

from __future__ import annotations

import httpx
import pytest

from bigbuy_connector.client import (
    BigBuyError,
    NotFoundError,
    RateLimited,
    SoftError,
    Throttled,
    endpoint_key,
)
from mci_testing.bigbuy import BigBuyEmulatorHandle

from .conftest import MakeDeps, scalar


def test_endpoint_keys_share_a_budget_across_ids() -> None:
    assert endpoint_key("catalog/product/123.json") == "catalog/product/{}"
    assert endpoint_key("order/reference/ALG-1.json") == "order/reference/{}"
    assert endpoint_key("catalog/products.json") == "catalog/products"


async def test_budgets_follow_the_headers_and_survive_a_restart(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps, database: str
) -> None:
    deps = make_deps()
    for _ in range(10):
        await deps.client.get("catalog/products.json", {"page": 0, "pageSize": 10}, max_wait=0)
    restarted = make_deps()  # a new process: the spent budget is in the database
    with pytest.raises(Throttled) as throttled:
        await restarted.client.get("catalog/products.json", {"pageSize": 10}, max_wait=0)
    assert throttled.value.until > restarted.clock.now() + 3000
    await restarted.clock.sleep(throttled.value.until - restarted.clock.now())
    await restarted.client.get("catalog/products.json", {"pageSize": 10}, max_wait=0)
    assert emulator.counters()["rateLimited"] == 0
    assert await scalar(database, "SELECT rejected FROM rate_budgets") == 0


async def test_an_emulator_without_limits_lets_the_stock_lists_run_past_the_documented_ten(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps, database: str
) -> None:
    # `--no-rate-limits` still answers X-RateLimit-* (as BigBuy always does), so the budget
    # comes from the headers, not from the documented 10 an hour.
    emulator.reset(rate_limits_enabled=False)
    deps = make_deps()
    for _ in range(25):
        await deps.client.get(
            "catalog/productsstockbyhandlingdays.json", {"page": 0, "pageSize": 10}, max_wait=0
        )
    budget = await scalar(
        database,
        "SELECT remaining FROM rate_budgets WHERE endpoint = 'catalog/productsstockbyhandlingdays'",
    )
    assert budget is not None and budget > 10_000


async def test_a_429_is_waited_out_until_the_reset(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps, database: str
) -> None:
    deps = make_deps()
    # Another client of the same account spends the window behind our back.
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {emulator.key}"}) as other:
        for _ in range(10):
            await other.get(f"{emulator.rest_url}/catalog/productprices.json")
    with pytest.raises(RateLimited):
        await deps.client.get("catalog/productprices.json", {"pageSize": 10}, max_wait=0)
    with pytest.raises(Throttled):  # no second 429: the reset is known now
        await deps.client.get("catalog/productprices.json", {"pageSize": 10}, max_wait=0)
    assert emulator.counters()["rateLimited"] == 1
    # With a long enough wait the client sleeps until the reset and succeeds.
    await deps.client.get("catalog/productprices.json", {"pageSize": 10}, max_wait=4000)
    assert emulator.counters()["rateLimited"] == 1
    assert (
        await scalar(
            database, "SELECT rejected FROM rate_budgets WHERE endpoint = 'catalog/productprices'"
        )
        == 1
    )


async def test_answers_are_read_by_their_body(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps
) -> None:
    deps = make_deps()
    emulator.reset(rate_limits_enabled=False, quirk_soft_error_share=1.0)
    for _ in range(4):  # both soft shapes: an error body, a pasted HTTP 500
        with pytest.raises(SoftError) as soft:
            await deps.client.get("catalog/products.json", {"pageSize": 1})
        assert soft.value.transient
    emulator.reset(rate_limits_enabled=False, quirk_empty_not_found_share=1.0)
    with pytest.raises(NotFoundError):
        await deps.client.get("catalog/product/1.json")
    emulator.reset(rate_limits_enabled=False, quirk_swapped_fields_share=1.0)
    with pytest.raises(NotFoundError) as swapped:
        await deps.client.get("catalog/product/1.json")
    assert swapped.value.code == "404"
    emulator.reset(rate_limits_enabled=False)
    emulator.admin("POST", "/errors", {"path": "order/check", "code": "ER005", "count": 1})
    with pytest.raises(BigBuyError) as order_error:
        await deps.client.post("order/check.json", {"order": {}})
    assert order_error.value.code == "ER005"
    assert not order_error.value.transient
