"""The whole platform for the end-to-end tests: both emulators, the five services and the BigBuy
connector, each service as deployed, an API process and a worker process (the outbox relay, the
consumers and the background loops), all under `mci_testing.supervisor` (as `make run` starts
them) on free ports, each service on a throw-away database of this run and the run's RabbitMQ
vhost."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mci_testing.fixtures import MakeAmqpUrl, MakeDatabase
from mci_testing.infra import free_port
from mci_testing.platform import SERVICE_MODULES, Platform, Ports, environment, stack, worker_of
from mci_testing.supervisor import ProcessSpec, Supervisor

# BigBuy products in the emulator's catalogue: with variations as SKUs of their own (a parent
# with variations is not one), 500 SKUs reach catalog.
BIGBUY_PRODUCTS = 401
CATALOGUE_SKUS = 500
# BigBuy's limits, every window 720 times shorter (an hour is 5 s): the connector reads stock
# as BigBuy lets it, so a sell-out or a restock reaches the catalog within seconds.
BIGBUY_RATE_LIMIT_SCALE = 720
# What a worker killed with SIGKILL held (an offer being published, a batch command, an
# account's order events, a supplier order, the catalogue scheduler) is taken over when its
# lease runs out: 20 s here instead of minutes, so the kill round ends in minutes.
SHORT_LEASES = {
    "OFFERS_PUBLISH_LEASE_SECONDS": "20",
    "OFFERS_SYNC_LEASE_SECONDS": "20",
    "OFFERS_OFFER_EVENTS_LEASE_SECONDS": "20",
    "ORDERS_ORDER_POLL_LEASE_SECONDS": "20",
    "ORDERS_WRITE_BACK_LEASE_SECONDS": "20",
    "BIGBUY_ORDER_LEASE_SECONDS": "20",
    "BIGBUY_SCHEDULER_LEASE_SECONDS": "20",
    # BigBuy's GPSR data comes one product a call; at the scaled limits every product in stock
    # would be read and sent again to catalog and offers while the test asserts (the shops do
    # not wait for it: `missing_gpsr` is not blocking). The connector's tests cover it.
    "BIGBUY_GPSR_ENABLED": "false",
}
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
    env.update(SHORT_LEASES)
    for name, prefix in DATABASES.items():
        env[f"{prefix}_DATABASE_URL"] = await make_database(f"e2e_{name}")
        env[f"{prefix}_AMQP_URL"] = amqp_url
    logs = Path(os.environ.get("MCI_E2E_LOGS") or tmp_path_factory.mktemp("e2e-logs"))
    supervisor = Supervisor(logs, env)
    platform = Platform(ports, admin_key)
    try:
        for wave in start_waves(
            stack(
                ports,
                BIGBUY_PRODUCTS,
                workers=worker_ports(ports),
                bigbuy_rate_limit_scale=BIGBUY_RATE_LIMIT_SCALE,
            )
        ):
            await asyncio.gather(*(asyncio.to_thread(supervisor.start, spec) for spec in wave))
        yield Stack(supervisor, platform, ports)
    finally:
        await platform.close()
        await asyncio.to_thread(supervisor.stop_all)


def start_waves(specs: list[ProcessSpec]) -> list[list[ProcessSpec]]:
    """The stack's processes in waves, each wave's side by side (twelve one after the other
    take minutes on a loaded machine): the emulators; auth, which every service asks about API
    keys; the other services' APIs, each migrating its database; then the workers."""
    emulators = [s for s in specs if s.name.endswith("-emulator")]
    workers = [s for s in specs if s.name.endswith("-worker")]
    auth = [s for s in specs if s.name == "auth"]
    apis = [s for s in specs if s not in [*emulators, *workers, *auth]]
    return [emulators, auth, apis, workers]


def worker_ports(ports: Ports) -> dict[str, int]:
    """A free port for each service's worker (its health endpoints), none of the stack's."""
    taken = {getattr(ports, name) for name in vars(ports)}
    found: dict[str, int] = {}
    while len(found) < len(SERVICE_MODULES):
        port = free_port()
        if port not in taken:
            taken.add(port)
            found[worker_of(list(SERVICE_MODULES)[len(found)])] = port
    return found
