"""Every service served over real HTTP (uvicorn, each in its own thread and event loop) on its
own database and the run's vhost, for the API-wide tests: route guards, bad requests, fuzzing.
The services ask this auth about operator API keys, as in production.

catalog and pricing know one account (`KNOWN_ACCOUNT`); auth, which they would otherwise ask,
is not theirs here. Allegro is the session's emulator.
"""

from __future__ import annotations

import importlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from mci_testing.emulator import EmulatorHandle, start_emulator
from mci_testing.fixtures import MakeDatabase
from shared.accounts import StaticAccounts
from shared.allegro.tokens import StaticTokens
from shared.security import issue_service_token, issue_token
from shared.service import create_app

SERVICES = ["auth", "catalog", "pricing", "offers", "orders"]
KNOWN_ACCOUNT = "known-shop"
# Small enough to test without sending gigabytes (the defaults are 1 MB and 2 GB); catalog's
# import limit is above its JSON limit, as in production.
JSON_LIMIT = 64 * 1024
IMPORT_LIMIT = 256 * 1024


@dataclass
class Served:
    name: str
    url: str
    secret: str
    server: uvicorn.Server
    thread: threading.Thread

    def token(self, role: str) -> str:
        return issue_token(self.secret, f"test-{role}", role)  # type: ignore[arg-type]

    def service_headers(self, service: str = "offers") -> dict[str, str]:
        """A service token of a platform service (the callers auth's internal routes list)."""
        return {"Authorization": f"Bearer {issue_service_token(self.secret, service)}"}

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(
    service: str, database_url: str, amqp_url: str, emulator_url: str, auth_url: str | None
) -> Served:
    main = importlib.import_module(f"{service}.main")
    settings_module = importlib.import_module(f"{service}.settings")
    extra: dict[str, Any] = (
        {"import_max_bytes": IMPORT_LIMIT, "max_body_bytes": JSON_LIMIT}
        if service == "catalog"
        else {}
    )
    settings = settings_module.Settings(
        database_url=database_url,
        amqp_url=amqp_url,
        allegro_api_url=emulator_url,
        allegro_auth_url=emulator_url,
        outbox_poll_interval_seconds=0.2,
        **({"auth_url": auth_url} if auth_url else {}),
        **extra,
    )
    kwargs: dict[str, Any] = {}
    if service == "catalog":
        kwargs = {"tokens": StaticTokens({}), "accounts": StaticAccounts({KNOWN_ACCOUNT})}
    elif service == "pricing":
        kwargs = {"allegro_tokens": StaticTokens({}), "accounts": StaticAccounts({KNOWN_ACCOUNT})}
    definition = main.build(settings, **kwargs)
    app = create_app(definition)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True, name=f"{service}-api")
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{service} did not start")
        time.sleep(0.05)
    secret = settings.service_token_secret.get_secret_value()
    return Served(service, f"http://127.0.0.1:{port}", secret, server, thread)


@pytest.fixture(scope="session")
def small_emulator() -> Iterator[EmulatorHandle]:
    handle = start_emulator(catalogue_size=200)
    yield handle
    handle.server.should_exit = True


@pytest.fixture(scope="session")
async def served(
    make_database: MakeDatabase, amqp_url: str, small_emulator: EmulatorHandle
) -> AsyncIterator[dict[str, Served]]:
    """The five services, started once for the tests of this folder."""
    running: dict[str, Served] = {}
    try:
        for service in SERVICES:  # auth first: the others ask it about API keys
            database_url = await make_database(f"api_{service}")
            auth_url = running["auth"].url if "auth" in running else None
            running[service] = serve(service, database_url, amqp_url, small_emulator.url, auth_url)
        yield running
    finally:
        for handle in running.values():
            handle.server.should_exit = True
        for handle in running.values():
            handle.thread.join(timeout=30)


@pytest.fixture(scope="session")
async def admin_key(served: dict[str, Served]) -> str:
    """A real operator API key of role admin, made by auth (`mcik_...`)."""
    auth = served["auth"]
    async with httpx.AsyncClient(base_url=auth.url, headers=auth.headers("admin")) as http:
        response = await http.post("/api-keys", json={"name": "api tests", "role": "admin"})
    assert response.status_code == 201, response.text
    key: str = response.json()["api_key"]
    return key
