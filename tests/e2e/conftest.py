"""The whole platform for the end-to-end tests: both emulators, the five services and the BigBuy
connector, each a separate process (`mci_testing.supervisor`, as `make run` starts them) on
free ports, each service on a throw-away database of this run and the run's RabbitMQ vhost."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mci_testing.fixtures import MakeAmqpUrl, MakeDatabase
from mci_testing.platform import Platform, Ports, environment, stack
from mci_testing.supervisor import Supervisor

# BigBuy products in the emulator's catalogue: with variations as SKUs of their own, about
# 1.25 SKUs each, so some 500 SKUs reach catalog.
BIGBUY_PRODUCTS = 400
DATABASES = {
    "auth": "AUTH",
    "catalog": "CATALOG",
    "pricing": "PRICING",
    "offers": "OFFERS",
    "orders": "ORDERS",
    "bigbuy": "BIGBUY",
}


@dataclass
class Stack:
    supervisor: Supervisor
    platform: Platform
    ports: Ports


@pytest.fixture(scope="module")
async def platform_stack(
    make_database: MakeDatabase,
    make_amqp_url: MakeAmqpUrl,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    from auth.settings import DEVELOPMENT_BOOTSTRAP_KEY_ID

    ports = Ports.free()
    admin_key = f"mcik_{DEVELOPMENT_BOOTSTRAP_KEY_ID}_{secrets.token_urlsafe(32)}"
    env = environment(ports, admin_key, os.environ)
    amqp_url = make_amqp_url("e2e")
    env["ENVIRONMENT"] = "development"
    env["AMQP_URL"] = amqp_url
    for name, prefix in DATABASES.items():
        env[f"{prefix}_DATABASE_URL"] = await make_database(f"e2e_{name}")
        env[f"{prefix}_AMQP_URL"] = amqp_url
    logs = Path(os.environ.get("MCI_E2E_LOGS") or tmp_path_factory.mktemp("e2e-logs"))
    supervisor = Supervisor(logs, env)
    platform = Platform(ports, admin_key)
    try:
        for spec in stack(ports, BIGBUY_PRODUCTS):
            await asyncio.to_thread(supervisor.start, spec)
        yield Stack(supervisor, platform, ports)
    finally:
        await platform.close()
        await asyncio.to_thread(supervisor.stop_all)
