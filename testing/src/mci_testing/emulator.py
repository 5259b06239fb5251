"""The Allegro emulator served over real HTTP for the platform's tests (one per test session).

Tests isolate themselves by creating their own sellers (unique logins) through the admin API.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from mci_testing.infra import free_port

DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-secret"


@dataclass
class EmulatorHandle:
    url: str
    server: uvicorn.Server

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        response = httpx.request(method, f"{self.url}/__admin{path}", json=json, timeout=30)
        response.raise_for_status()
        return response.json()

    def new_seller(self, **fields: Any) -> dict[str, Any]:
        login = fields.pop("login", None) or f"seller-{uuid.uuid4().hex[:10]}"
        result: dict[str, Any] = self.admin("POST", "/sellers", {"login": login, **fields})
        return result

    def token_for(self, login: str) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("POST", "/tokens", {"login": login})
        return result


def start_emulator(**overrides: Any) -> EmulatorHandle:
    from allegro_emulator.app import create_app
    from allegro_emulator.config import EmulatorConfig

    port = free_port()
    config = EmulatorConfig.from_env({}, host="127.0.0.1", port=port, **overrides)
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True, name="allegro-emulator").start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the Allegro emulator did not start")
        time.sleep(0.05)
    return EmulatorHandle(f"http://127.0.0.1:{port}", server)


@pytest.fixture(scope="session")
def allegro_emulator() -> Iterator[EmulatorHandle]:
    handle = start_emulator(catalogue_size=20_000)
    yield handle
    handle.server.should_exit = True
