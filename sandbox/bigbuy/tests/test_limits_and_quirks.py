"""Per-endpoint limits in a window opened by the first call, and the switchable quirks."""

from __future__ import annotations

import httpx
import pytest

from bigbuy_emulator import seed
from bigbuy_emulator.rate_limits import endpoint_key

from .conftest import Server


@pytest.fixture
def limited(server: Server) -> Server:
    server.admin("PUT", "/config", {"rate_limits_enabled": True})
    return server


def now(server: Server) -> float:
    now: float = server.admin("POST", "/clock", {"advanceSeconds": 0})["now"]
    return now


def test_product_lists_allow_10_an_hour_from_the_first_call(
    bb: httpx.Client, limited: Server
) -> None:
    first_call = now(limited)
    remaining = []
    for _ in range(10):
        ok = bb.get("/catalog/products.json?page=0&pageSize=1")
        assert ok.status_code == 200
        assert ok.headers["X-RateLimit-Limit"] == "10"
        remaining.append(int(ok.headers["X-RateLimit-Remaining"]))
        reset = int(ok.headers["X-RateLimit-Reset"])
    assert remaining == list(range(9, -1, -1))
    # The window opened by the first call ends an hour later (Reset is whole seconds).
    assert first_call + 3600 - 1 <= reset <= now(limited) + 3600
    refused = bb.get("/catalog/products.json?page=0&pageSize=1")
    assert refused.status_code == 429
    assert refused.text == "You exceeded the rate limit"
    assert refused.headers["content-type"].startswith("text/plain")
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in refused.headers
    # Another list has its own budget.
    assert bb.get("/catalog/productprices.json?page=0&pageSize=1").status_code == 200
    limited.admin("POST", "/clock", {"advanceSeconds": 3601})
    again = bb.get("/catalog/products.json?page=0&pageSize=1")
    assert again.status_code == 200 and again.headers["X-RateLimit-Remaining"] == "9"
    counters = limited.admin("GET", "/counters")
    assert counters["rateLimited"] == 1
    assert counters["requests"]["catalog/products"]["429"] == 1


def test_without_limits_nothing_is_refused_and_the_headers_still_say_what_is_allowed(
    bb: httpx.Client, server: Server
) -> None:
    server.admin("PUT", "/config", {"rate_limits_enabled": False})
    remaining = []
    for _ in range(12):
        ok = bb.get("/catalog/productsstockbyhandlingdays.json?page=0&pageSize=1")
        assert ok.status_code == 200
        assert ok.headers["X-RateLimit-Limit"] == "1000000"
        remaining.append(int(ok.headers["X-RateLimit-Remaining"]))
        assert int(ok.headers["X-RateLimit-Reset"]) > now(server)
    assert remaining == list(range(999_999, 999_987, -1))
    # Turning the limits on starts from the documented budget, not from the calls above.
    server.admin("PUT", "/config", {"rate_limits_enabled": True})
    limited = bb.get("/catalog/productsstockbyhandlingdays.json?page=0&pageSize=1")
    assert limited.status_code == 200 and limited.headers["X-RateLimit-Remaining"] == "9"


@pytest.mark.parametrize(
    ("path", "budget"),
    [
        ("/catalog/productsinformation.json?isoCode=en&pageSize=1", 24),
        ("/catalog/taxonomies.json?isoCode=en", 24),
        ("/catalog/manufacturers.json?pageSize=1", 5),
        ("/catalog/productsvariations.json?pageSize=1", 10),
    ],
)
def test_list_budgets(bb: httpx.Client, limited: Server, path: str, budget: int) -> None:
    for _ in range(budget):
        assert bb.get(path).status_code == 200
    assert bb.get(path).status_code == 429


def test_single_items_once_per_5_seconds_and_orders_once_a_second(
    bb: httpx.Client, limited: Server
) -> None:
    # A scale of 0.01 stretches 5 s to 500 s and 1 s to 100 s: the test's own pace cannot
    # open a new window; the clock is moved instead.
    limited.admin("PUT", "/config", {"rate_limit_scale": 0.01})
    first = bb.get(f"/catalog/product/{seed.PRODUCT_ID_BASE}.json")
    assert first.status_code == 200 and first.headers["X-RateLimit-Limit"] == "1"
    # One budget per endpoint, whatever the id.
    assert bb.get(f"/catalog/product/{seed.PRODUCT_ID_BASE + 1}.json").status_code == 429
    limited.admin("POST", "/clock", {"advanceSeconds": 400})
    assert bb.get(f"/catalog/product/{seed.PRODUCT_ID_BASE + 1}.json").status_code == 429
    assert bb.get("/user/purse.json").status_code == 200
    assert bb.get("/user/purse.json").status_code == 429
    assert bb.get("/shipping/carriers.json").status_code == 200
    limited.admin("POST", "/clock", {"advanceSeconds": 100.01})
    assert bb.get(f"/catalog/product/{seed.PRODUCT_ID_BASE + 1}.json").status_code == 200
    assert bb.get("/user/purse.json").status_code == 200


def test_a_400_does_not_count(bb: httpx.Client, limited: Server) -> None:
    for _ in range(3):
        assert bb.get("/catalog/products.json?pageSize=20000").status_code == 400
    ok = bb.get("/catalog/products.json?pageSize=1")
    assert ok.headers["X-RateLimit-Remaining"] == "9"


def test_the_scale_factor_shrinks_the_window(bb: httpx.Client, limited: Server) -> None:
    limited.admin("PUT", "/config", {"rate_limit_scale": 60})  # an hour lasts a minute
    start = now(limited)
    for _ in range(10):
        reset = int(bb.get("/catalog/products.json?pageSize=1").headers["X-RateLimit-Reset"])
    assert start + 60 - 1 <= reset <= now(limited) + 60
    assert bb.get("/catalog/products.json?pageSize=1").status_code == 429
    limited.admin("POST", "/clock", {"advanceSeconds": 60.01})
    assert bb.get("/catalog/products.json?pageSize=1").status_code == 200


def test_a_bad_key_is_refused_before_the_limit_counts(bb: httpx.Client, limited: Server) -> None:
    url = f"{limited.url}/rest/catalog/products.json"
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert bb.get("/catalog/products.json?pageSize=1").headers["X-RateLimit-Remaining"] == "9"


def test_endpoint_keys() -> None:
    assert endpoint_key("/catalog/product/100001.json") == "catalog/product/{}"
    assert endpoint_key("/order/reference/ALG-x.json") == "order/reference/{}"
    assert endpoint_key("/order/55500001.json") == "order/{}"
    assert endpoint_key("/order/check/multishipping.json") == "order/check/multishipping"
    lowest = "shipping/lowest-shipping-costs-by-country/{}"
    assert endpoint_key("/shipping/lowest-shipping-costs-by-country/PL.json") == lowest


def test_soft_error_200_with_an_error_body(bb: httpx.Client, server: Server) -> None:
    server.admin("PUT", "/config", {"quirk_soft_error_share": 1})
    soft = [bb.get("/catalog/products.json?pageSize=1") for _ in range(8)]
    assert all(r.status_code == 200 for r in soft)
    bodies = {r.text for r in soft}
    assert any('"code":409' in b and "Something went wrong" in b for b in bodies)
    assert any(b.startswith("HTTP/1.0 500") for b in bodies)
    server.admin("PUT", "/config", {"quirk_soft_error_share": 0})
    assert isinstance(bb.get("/catalog/products.json?pageSize=1").json(), list)


def test_empty_200_where_a_404_was_meant(bb: httpx.Client, server: Server) -> None:
    path = f"/catalog/product/{seed.PRODUCT_ID_BASE + 10**6}.json"
    assert bb.get(path).status_code == 404
    server.admin("PUT", "/config", {"quirk_empty_not_found_share": 1})
    empty = bb.get(path)
    assert empty.status_code == 200 and empty.content == b""
    assert bb.get("/order/reference/none.json").content == b""


def test_swapped_code_and_message(bb: httpx.Client, server: Server) -> None:
    server.admin("PUT", "/config", {"quirk_swapped_fields_share": 1})
    swapped = bb.get("/catalog/products.json?pageSize=20000")
    assert swapped.status_code == 400
    assert swapped.json() == {"code": "Bad request", "message": 400}


def test_forced_answer_on_any_path(bb: httpx.Client, server: Server) -> None:
    server.admin(
        "POST",
        "/errors",
        {"path": "catalog/products", "status": 500, "body": "boom", "count": 2},
        status=201,
    )
    assert [bb.get("/catalog/products.json?pageSize=1").status_code for _ in range(3)] == [
        500,
        500,
        200,
    ]
    server.admin("POST", "/errors", {"path": "", "status": 503}, status=201)
    server.admin("DELETE", "/errors")
    assert bb.get("/user/purse.json").status_code == 200


def test_sandbox_mode_has_no_catalogue_and_no_carriers(bb: httpx.Client, server: Server) -> None:
    server.admin("PUT", "/config", {"sandbox_mode": True})
    for name in ("products", "productsinformation", "productsvariations", "new-products"):
        assert bb.get(f"/catalog/{name}.json?isoCode=en&pageSize=1").status_code == 400
    assert bb.get("/shipping/carriers.json").json() == []
    assert bb.get("/order/reference/unknown.json").status_code == 500
    server.admin("PUT", "/config", {"sandbox_mode": False})
    assert bb.get("/catalog/products.json?pageSize=1").status_code == 200
