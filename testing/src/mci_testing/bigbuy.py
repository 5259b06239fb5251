"""The BigBuy emulator served over real HTTP for the platform's tests (one per test session).

`bigbuy_emulator` starts it on a free port in a thread; a test resets it (`reset`) and sets what
it needs through the admin API. `EmulatorClock` is a connector clock that reads the emulator's
time and whose sleep moves that time forward: limits, order statuses and tracking then run a
simulated day in seconds, with no test waiting on the wall clock.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
import uvicorn

from mci_testing.infra import free_port
from shared.events import Money, OrderReceived

# For the emulator under test only: BigBuy issues real keys.
TEST_KEY = "bigbuy-test-key-0123456789"


@dataclass
class BigBuyEmulatorHandle:
    url: str
    server: uvicorn.Server
    key: str = TEST_KEY
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def rest_url(self) -> str:
        return f"{self.url}/rest"

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        response = httpx.request(method, f"{self.url}/__admin{path}", json=json, timeout=30)
        response.raise_for_status()
        return response.json()

    def reset(self, **settings: Any) -> None:
        """Back to the seed, with the session's settings plus `settings`."""
        self.admin("PUT", "/config", {**self.defaults, **settings})
        self.admin("POST", "/reset")

    def now(self) -> float:
        return float(self.admin("POST", "/clock", {"advanceSeconds": 0})["now"])

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("GET", "/counters")
        return result


class EmulatorClock:
    """A connector clock on the emulator's time: `sleep` advances it instead of waiting."""

    def __init__(self, emulator: BigBuyEmulatorHandle) -> None:
        self.emulator = emulator
        self.offset = emulator.now() - time.time()
        self.slept = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                f"{self.emulator.url}/__admin/clock", json={"advanceSeconds": seconds}
            )
            response.raise_for_status()
            self.offset = float(response.json()["now"]) - time.time()
        self.slept += seconds


def start_bigbuy_emulator(**overrides: Any) -> BigBuyEmulatorHandle:
    from bigbuy_emulator.app import create_app
    from bigbuy_emulator.config import EmulatorConfig

    port = free_port()
    config = EmulatorConfig(host="127.0.0.1", port=port, api_key=TEST_KEY, **overrides)
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True, name="bigbuy-emulator").start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the BigBuy emulator did not start")
        time.sleep(0.05)
    public = config.public()
    for fixed in ("host", "port", "rest_prefix", "admin_prefix", "api_key"):
        public.pop(fixed)
    return BigBuyEmulatorHandle(f"http://127.0.0.1:{port}", server, defaults=public)


@pytest.fixture(scope="session")
def bigbuy_emulator() -> Iterator[BigBuyEmulatorHandle]:
    handle = start_bigbuy_emulator(catalogue_size=3_000)
    yield handle
    handle.server.should_exit = True


# --- what tests send the connector ---------------------------------------------------------------


def sellable(emulator: BigBuyEmulatorHandle, at_least: int = 2) -> dict[str, Any]:
    """A simple active product of the emulator's seed in warehouse 1 holding stock."""
    for pid in range(100000, 100400):
        item = emulator.admin("GET", f"/items/{pid}")
        if (
            item["active"] == 1
            and not item["variations"]
            and item["warehouse"] == 1
            and item["available"] >= at_least
        ):
            return dict(item)
    raise AssertionError("no sellable product in the BigBuy emulator's seed")


def allegro_order(
    sku: str,
    quantity: int = 1,
    total: str = "2000.00",
    account_id: str = "acct-1",
    **address: str,
) -> OrderReceived:
    """A paid Allegro order of `sku` as orders announces it; `address` overrides the buyer's
    delivery address fields (e.g. `zipCode="3O-OO1"`, which BigBuy refuses)."""
    delivery_address = {
        "firstName": "Anna",
        "lastName": "Nowak",
        "street": "ul. Przykładowa 5/2",
        "city": "Kraków",
        "zipCode": "30-001",
        "countryCode": "PL",
        "phoneNumber": "+48500100200",
        **address,
    }
    return OrderReceived(
        account_id=account_id,
        order_id=str(uuid.uuid4()),
        marketplace_id="allegro-pl",
        buyer={
            "id": "1",
            "login": "kupujacy",
            "email": "buyer@example.pl",
            "firstName": "Anna",
            "lastName": "Nowak",
            "phoneNumber": "+48500100200",
        },
        delivery={
            "address": delivery_address,
            "method": {"id": "m", "name": "Kurier"},
            "pickup_point": None,
            "cost": {"amount": "0", "currency": "PLN"},
            "smart": False,
        },
        lines=[
            {
                "sku": sku,
                "offer_id": "1770000",
                "quantity": quantity,
                "unit_price": {"amount": total, "currency": "PLN"},
            }
        ],
        total=Money(amount=Decimal(total), currency="PLN"),
        revision="r1",
    )


def bigbuy_orders(emulator: BigBuyEmulatorHandle, reference: str) -> list[dict[str, Any]]:
    """The orders BigBuy holds under one internal reference (an Allegro order id)."""
    found: list[dict[str, Any]] = emulator.admin("GET", "/orders")
    return [x for x in found if x["internalReference"] == reference]
