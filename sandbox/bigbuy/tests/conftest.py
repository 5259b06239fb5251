"""One BigBuy emulator served over real HTTP per session, reset before every test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from bigbuy_emulator.app import create_app
from bigbuy_emulator.config import EmulatorConfig
from mci_testing.infra import free_port

KEY = "test-key-0123456789"
# Limits off unless a test turns them on: most tests call one endpoint many times.
TEST_SETTINGS: dict[str, Any] = {"rate_limits_enabled": False, "catalogue_size": 3_000}


@dataclass
class Server:
    url: str
    config: EmulatorConfig

    def admin(self, method: str, path: str, json: Any = None, status: int = 200) -> Any:
        response = httpx.request(method, f"{self.url}/__admin{path}", json=json, timeout=30)
        assert response.status_code == status, response.text
        return response.json()


def start(config: EmulatorConfig) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=config.port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True, name="bigbuy-emulator")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the BigBuy emulator did not start"
        time.sleep(0.02)
    return server, thread


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    config = EmulatorConfig(port=free_port(), api_key=KEY, **TEST_SETTINGS)
    uv, thread = start(config)
    yield Server(f"http://127.0.0.1:{config.port}", config)
    uv.should_exit = True
    thread.join(5)


@pytest.fixture(autouse=True)
def _fresh(server: Server) -> None:
    """Every test starts from the seeded world with the test settings."""
    defaults = EmulatorConfig(api_key=KEY, **TEST_SETTINGS).public()
    for fixed in ("host", "port", "rest_prefix", "admin_prefix", "api_key"):
        defaults.pop(fixed)
    server.admin("PUT", "/config", {**defaults, "api_key": KEY})
    server.admin("POST", "/reset")


@pytest.fixture
def bb(server: Server) -> Iterator[httpx.Client]:
    """A BigBuy client: base URL `.../rest`, the bearer key."""
    with httpx.Client(
        base_url=f"{server.url}/rest", headers={"Authorization": f"Bearer {KEY}"}, timeout=60
    ) as client:
        yield client
