"""Every service served over real HTTP (uvicorn, each in its own thread and event loop) on its
own database and the run's vhost, for the API-wide tests: route guards, bad requests, fuzzing.
The services ask this auth about operator API keys, as in production.

catalog, pricing and offers know one account (`KNOWN_ACCOUNT`); auth, which they would
otherwise ask, is not theirs here. Allegro is the session's emulator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mci_testing.emulator import EmulatorHandle, start_emulator
from mci_testing.fixtures import MakeAmqpUrl, MakeDatabase
from mci_testing.scheduling import close_when_leaving
from mci_testing.served import Served as Served  # re-exported: the tests here import it
from mci_testing.served import serve as served_service
from shared.accounts import StaticAccounts
from shared.allegro.tokens import StaticTokens

SERVICES = ["auth", "catalog", "pricing", "offers", "orders"]
KNOWN_ACCOUNT = "known-shop"
# Small enough to test without sending gigabytes (the defaults are 1 MB and 2 GB); catalog's
# import limit is above its JSON limit, as in production.
JSON_LIMIT = 64 * 1024
IMPORT_LIMIT = 256 * 1024


def serve(
    service: str, database_url: str, amqp_url: str, emulator_url: str, auth_url: str | None
) -> Served:
    extra: dict[str, Any] = (
        {"import_max_bytes": IMPORT_LIMIT, "max_body_bytes": JSON_LIMIT}
        if service == "catalog"
        else {}
    )
    kwargs: dict[str, Any] = {}
    if service == "catalog":
        kwargs = {"tokens": StaticTokens({}), "accounts": StaticAccounts({KNOWN_ACCOUNT})}
    elif service in ("pricing", "offers"):
        kwargs = {"allegro_tokens": StaticTokens({}), "accounts": StaticAccounts({KNOWN_ACCOUNT})}
    return served_service(
        service, database_url, amqp_url, emulator_url, auth_url, settings=extra, build=kwargs
    )


@pytest.fixture(scope="session")
def small_emulator() -> Iterator[EmulatorHandle]:
    handle = start_emulator(catalogue_size=200)
    yield handle
    handle.server.should_exit = True


@pytest.fixture(scope="session")
async def served(
    make_database: MakeDatabase, make_amqp_url: MakeAmqpUrl, small_emulator: EmulatorHandle
) -> AsyncIterator[dict[str, Served]]:
    """The five services, started once for the tests of this folder."""
    amqp_url = make_amqp_url("api")
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


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """The services and the emulator stop after this directory's last test."""
    close_when_leaving(
        Path(__file__).parent, item, nextitem, "admin_key", "served", "small_emulator"
    )
