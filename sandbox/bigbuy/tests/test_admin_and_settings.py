"""Admin overrides (stock, prices, active, wallet), settings from the environment, the entry
point."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from bigbuy_emulator import seed
from bigbuy_emulator.config import EmulatorConfig
from mci_testing.infra import free_port

from .bb_helpers import simple_rows, sku
from .conftest import KEY, Server


def find(records: list[dict[str, object]], ident: int) -> dict[str, object]:
    return next(r for r in records if r["id"] == ident)


def test_stock_and_price_overrides_show_in_lists_and_items(
    bb: httpx.Client, server: Server
) -> None:
    row = simple_rows(1)[0]
    pid = seed.PRODUCT_ID_BASE + row
    server.admin("PUT", f"/stock/{pid}", {"quantities": [3, 4]})
    stock = bb.get("/catalog/productsstockbyhandlingdays.json?pageSize=3000").json()
    assert [s["quantity"] for s in find(stock, pid)["stocks"]] == [3, 4]  # type: ignore[attr-defined]
    single = bb.get(f"/catalog/productstockbyhandlingdays/{pid}.json").json()
    assert single["stocks"][0] == {
        "quantity": 3,
        "minHandlingDays": 0,
        "maxHandlingDays": 1,
        "warehouse": 1,
    }
    server.admin("PUT", f"/prices/{sku(row)}", {"wholesalePrice": "9.99", "retailPrice": 19.5})
    prices = bb.get("/catalog/productprices.json?pageSize=3000").json()
    assert find(prices, pid)["wholesalePrice"] == 9.99
    assert find(prices, pid)["retailPrice"] == 19.5
    assert bb.get(f"/catalog/product/{pid}.json").json()["wholesalePrice"] == 9.99
    server.admin("POST", "/reset")
    assert bb.get(f"/catalog/product/{pid}.json").json()["wholesalePrice"] != 9.99


def test_admin_refusals(server: Server) -> None:
    parent = next(r for r in range(3000) if seed.variation_count(r))
    server.admin("PUT", f"/stock/{sku(parent)}", {"quantity": 1}, status=400)
    server.admin("PUT", "/stock/Q0000000", {"quantity": 1}, status=404)
    server.admin("PUT", f"/stock/{sku(simple_rows()[0])}", {"quantity": -1}, status=400)
    server.admin("PUT", "/config", {"no_such_setting": 1}, status=400)
    server.admin("PUT", "/config", {"quirk_soft_error_share": 2}, status=400)
    server.admin("PUT", "/config", {"port": 1}, status=400)
    server.admin("PUT", "/wallet", {"balance": "-1"}, status=400)
    assert server.admin("GET", "/config")["api_key"] == "**********"


def test_wallet_balance(bb: httpx.Client, server: Server) -> None:
    server.admin("PUT", "/wallet", {"balance": "125.4"})
    assert bb.get("/user/purse.json").json() == "125.40"
    assert server.admin("GET", "/wallet") == {"balance": "125.40"}


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIGBUY_EMULATOR_CATALOGUE_SIZE", "100000")
    monkeypatch.setenv("BIGBUY_EMULATOR_RATE_LIMIT_SCALE", "60")
    monkeypatch.setenv("BIGBUY_EMULATOR_QUIRK_SWAPPED_FIELDS_SHARE", "0.1")
    config = EmulatorConfig()
    assert (config.catalogue_size, config.rate_limit_scale) == (100_000, 60.0)
    assert config.quirk_swapped_fields_share == 0.1
    assert config.port == 8410 and config.rest_prefix == "/rest"
    assert "bigbuy-emulator-key" not in repr(config)


def test_python_m_bigbuy_emulator_serves() -> None:
    port = free_port()
    env = {"BIGBUY_EMULATOR_API_KEY": KEY, "PATH": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "bigbuy_emulator", "--port", str(port), "--catalogue-size", "50"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/rest/catalog/products.json?pageSize=100"
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(url, headers={"Authorization": f"Bearer {KEY}"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
        assert answer.status_code == 200 and len(answer.json()) == 50
    finally:
        process.terminate()
        process.wait(10)
    assert process.stderr is not None
    assert KEY not in process.stderr.read().decode()
