"""auth, catalog, pricing and offers served over real HTTP on throw-away databases and the
run's vhost, with the in-process Allegro emulator (mci_testing), and the installed `mci` run
against them as a subprocess. catalog, pricing and offers ask this auth which accounts exist
and about operator API keys, as in production."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mci_testing.bigbuy import BigBuyEmulatorHandle, start_bigbuy_emulator
from mci_testing.emulator import EmulatorHandle, start_emulator
from mci_testing.fixtures import MakeAmqpUrl, MakeDatabase
from mci_testing.infra import free_port
from mci_testing.scheduling import close_when_leaving
from mci_testing.served import Served, serve
from shared.allegro.tokens import StaticTokens

# The console script `make install` put beside the interpreter running the tests.
MCI = Path(sys.executable).parent / "mci"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Stack:
    services: dict[str, Served]
    admin_key: str
    home: Path
    closed: str  # a URL nothing listens on
    # An emulator seller's account orders can read (its token given to orders), and one paid
    # order of it that orders has not imported.
    orders_account: str = ""
    order_id: str = ""
    amqp_url: str = ""  # the stack's vhost, where a test publishes what a service would

    def env(self, **overrides: str) -> dict[str, str]:
        """A clean environment: the stack's URLs and key, a HOME without a config file."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "COLUMNS": "200",
            "MCI_API_KEY": self.admin_key,
            **{f"MCI_{name.upper()}_URL": s.url for name, s in self.services.items()},
        }
        env.update(overrides)
        return {k: v for k, v in env.items() if v != ""}

    def mci(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
        done = subprocess.run(
            [str(MCI), *args],
            env=env or self.env(),
            cwd=cwd or self.home,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="session")
def cli_emulator() -> Iterator[EmulatorHandle]:
    handle = start_emulator(catalogue_size=50)
    yield handle
    handle.server.should_exit = True


@pytest.fixture(scope="session")
def cli_bigbuy() -> Iterator[BigBuyEmulatorHandle]:
    # Limits off: the connector runs on the system clock, the emulator on its own.
    handle = start_bigbuy_emulator(catalogue_size=300, rate_limits_enabled=False)
    yield handle
    handle.server.should_exit = True


@pytest.fixture(scope="session")
async def stack(
    make_database: MakeDatabase,
    make_amqp_url: MakeAmqpUrl,
    cli_emulator: EmulatorHandle,
    cli_bigbuy: BigBuyEmulatorHandle,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    assert MCI.exists(), f"{MCI} is not installed: make install"
    amqp_url = make_amqp_url("cli")
    running: dict[str, Served] = {}
    try:
        auth = running["auth"] = serve(
            "auth",
            await make_database("cli_auth"),
            amqp_url,
            cli_emulator.url,
            None,
            # The BigBuy connector checks operators' keys at auth like the services do.
            settings={
                "introspection_callers": ["catalog", "pricing", "offers", "orders", "bigbuy"]
            },
        )
        running["catalog"] = serve(
            "catalog",
            await make_database("cli_catalog"),
            amqp_url,
            cli_emulator.url,
            auth.url,
            build={"tokens": StaticTokens({})},
        )
        running["pricing"] = serve(
            "pricing",
            await make_database("cli_pricing"),
            amqp_url,
            cli_emulator.url,
            auth.url,
            build={"allegro_tokens": StaticTokens({})},
        )
        running["offers"] = serve(
            "offers",
            await make_database("cli_offers"),
            amqp_url,
            cli_emulator.url,
            auth.url,
            build={"allegro_tokens": StaticTokens({})},
        )
        seller = cli_emulator.new_seller()["login"]
        order = cli_emulator.paid_order(cli_emulator.active_offer(seller, sku="CLI-SKU-1"))
        token = cli_emulator.token_for(seller)["access_token"]
        running["orders"] = serve(
            "orders",
            await make_database("cli_orders"),
            amqp_url,
            cli_emulator.url,
            auth.url,
            build={"allegro_tokens": StaticTokens({"cli-orders-shop": token})},
        )
        running["bigbuy"] = serve(
            "bigbuy_connector",
            await make_database("cli_bigbuy"),
            amqp_url,
            cli_emulator.url,
            auth.url,
            settings={
                "api_url": cli_bigbuy.rest_url,
                "api_key": cli_bigbuy.key,
                "catalogue_enabled": False,
                "gpsr_enabled": False,
                "order_poll_interval_seconds": 0.3,
            },
        )
        async with httpx.AsyncClient(base_url=auth.url, headers=auth.headers("admin")) as http:
            created = await http.post("/api-keys", json={"name": "cli tests", "role": "admin"})
        assert created.status_code == 201, created.text
        yield Stack(
            running,
            created.json()["api_key"],
            tmp_path_factory.mktemp("home"),
            f"http://127.0.0.1:{free_port()}",
            "cli-orders-shop",
            str(order["id"]),
            amqp_url,
        )
    finally:
        for handle in running.values():
            handle.server.should_exit = True
        for handle in running.values():
            handle.thread.join(timeout=30)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """The stack and the emulators stop after this directory's last test."""
    close_when_leaving(Path(__file__).parent, item, nextitem, "stack", "cli_emulator", "cli_bigbuy")
