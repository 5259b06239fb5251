"""The BigBuy emulator served over real HTTP for the platform's tests (one per test session).

`bigbuy_emulator` starts it on a free port in a thread; a test resets it (`reset`) and sets what
it needs through the admin API. `EmulatorClock` is a connector clock that reads the emulator's
time and whose sleep moves that time forward: limits, order statuses and tracking then run a
simulated day in seconds, with no test waiting on the wall clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from mci_testing.infra import free_port

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
