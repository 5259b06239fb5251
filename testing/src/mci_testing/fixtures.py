"""pytest plugin (loaded by the root conftest.py): real PostgreSQL and RabbitMQ per test run."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Protocol

import pytest

from mci_testing import cleanup, infra
from mci_testing.bigbuy import bigbuy_emulator
from mci_testing.emulator import allegro_emulator
from shared.db import migrate


class MakeDatabase(Protocol):
    def __call__(self, label: str, migrations_dir: Path | None = None) -> Awaitable[str]: ...


def _fail_or_container(kind: str) -> None:
    if not infra.docker_available():
        pytest.fail(
            f"no {kind} reachable: set TEST_DATABASE_URL / TEST_AMQP_URL, start the local "
            "servers, or run where a Docker engine is available",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def run_tag() -> str:
    return infra.run_tag()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    url = infra.admin_database_url()
    if infra.reachable(url, 5432):
        yield url
        return
    _fail_or_container("PostgreSQL")
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16", driver=None) as container:
        yield container.get_connection_url()


@pytest.fixture(scope="session")
async def make_database(pg_admin_url: str, run_tag: str) -> AsyncIterator[MakeDatabase]:
    """`await make_database("offers", migrations_dir)`: a fresh, migrated database URL."""
    await infra.drop_stale_databases(pg_admin_url)
    created: list[str] = []

    async def make(label: str, migrations_dir: Path | None = None) -> str:
        name = f"{infra.DB_PREFIX}{run_tag}_{label}_{len(created)}"
        created.append(name)
        url = await infra.create_database(pg_admin_url, name)
        if migrations_dir is not None:
            await migrate(migrations_dir, url)
        return url

    yield make
    cleanup.in_background(pg_admin_url, databases=created)


@pytest.fixture(scope="session")
def vhost_admin() -> infra.VhostAdmin:
    return infra.VhostAdmin(infra.base_amqp_url())


@pytest.fixture(scope="session")
def amqp_vhost(vhost_admin: infra.VhostAdmin, run_tag: str) -> Iterator[str]:
    """The name of a throw-away vhost for this run (removed afterwards, with its queues)."""
    base = infra.base_amqp_url()
    if not infra.reachable(base, 5672):
        _fail_or_container("RabbitMQ")
    vhost_admin.delete_stale()
    vhost = f"{infra.VHOST_PREFIX}{run_tag.replace('_', '-')}"
    vhost_admin.create(vhost)
    yield vhost
    cleanup.in_background(vhosts=[vhost])


@pytest.fixture(scope="session")
def amqp_url(amqp_vhost: str) -> str:
    return infra.with_vhost(infra.base_amqp_url(), amqp_vhost)


class MakeAmqpUrl(Protocol):
    def __call__(self, label: str) -> str: ...


@pytest.fixture(scope="session")
def make_amqp_url(vhost_admin: infra.VhostAdmin, amqp_vhost: str) -> Iterator[MakeAmqpUrl]:
    """`make_amqp_url("e2e")`: the URL of a vhost of the caller's own, removed at the end of
    the run. Every stack that outlives one test takes one: a service left running on the run's
    shared vhost is a competing consumer that takes messages meant for another stack's. The
    vhost's own name, for what watches it (RabbitMQ's exporter), is `infra.vhost_of(url)`."""
    created: list[str] = []

    def make(label: str) -> str:
        vhost = f"{amqp_vhost}-{label}-{len(created)}"
        vhost_admin.create(vhost)
        created.append(vhost)
        return infra.with_vhost(infra.base_amqp_url(), vhost)

    yield make
    cleanup.in_background(vhosts=created)


__all__ = ["MakeAmqpUrl", "MakeDatabase", "allegro_emulator", "bigbuy_emulator"]


def pytest_configure(config: pytest.Config) -> None:
    """`kill -USR1 <pytest pid>` prints every asyncio task's stack: for diagnosing a hang."""

    def dump(*_: object) -> None:
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            return
        for task in asyncio.all_tasks(loop):
            task.print_stack(file=sys.stderr)

    signal.signal(signal.SIGUSR1, dump)
