"""The connector's tests: a fresh migrated database each, the session's BigBuy emulator (reset
per test, limits on unless a test turns them off) on its own clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from bigbuy_connector.client import BigBuyClient
from bigbuy_connector.deps import BigBuyDeps, DatabaseBudgets
from bigbuy_connector.main import MIGRATIONS
from bigbuy_connector.settings import Settings
from mci_testing.bigbuy import BigBuyEmulatorHandle, EmulatorClock
from mci_testing.fixtures import MakeDatabase
from shared.db import create_engine
from shared.uow import UnitsOfWork

MakeDeps = Callable[..., BigBuyDeps]


@pytest.fixture
def emulator(bigbuy_emulator: BigBuyEmulatorHandle) -> BigBuyEmulatorHandle:
    bigbuy_emulator.reset()
    return bigbuy_emulator


@pytest.fixture
async def database(make_database: MakeDatabase) -> str:
    return await make_database("bigbuy", MIGRATIONS)


def settings_for(emulator: BigBuyEmulatorHandle, database: str, **values: Any) -> Settings:
    fields: dict[str, Any] = {
        "database_url": database,
        "api_url": emulator.rest_url,
        "api_key": emulator.key,
        "environment": "test",
        "service_token_secret": "Zq8vN3xR7tK1mW5pL9cB2hF6jD4gS0yA",
        **values,
    }
    return Settings(**fields)


@pytest.fixture
async def make_deps(
    emulator: BigBuyEmulatorHandle, database: str
) -> AsyncIterator[Callable[..., BigBuyDeps]]:
    """Connector dependencies on the test database and the emulator's clock (several may be
    made: a restart is a new one on the same database)."""
    made: list[BigBuyDeps] = []
    engine = create_engine(database, pool_size=2)

    def make(**values: Any) -> BigBuyDeps:
        settings = settings_for(emulator, database, **values)
        units = UnitsOfWork(engine, "bigbuy")
        clock = EmulatorClock(emulator)
        client = BigBuyClient(
            settings.api_url,
            settings.api_key.get_secret_value(),
            DatabaseBudgets(units),
            clock,
            margin=settings.rate_limit_margin_seconds,
            max_wait=settings.rate_limit_max_wait_seconds,
        )
        deps = BigBuyDeps(units=units, client=client, clock=clock, settings=settings)
        made.append(deps)
        return deps

    yield make
    for deps in made:
        await deps.aclose()
    await engine.dispose()


async def outbox(database: str, routing_key: str) -> list[dict[str, Any]]:
    """The `data` of every event the connector emitted with that routing key, in order."""
    engine = create_engine(database, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text(
                    "SELECT payload::text FROM outbox WHERE routing_key = :k"
                    " ORDER BY created_at, id"
                ),
                {"k": routing_key},
            )
            return [orjson.loads(r[0])["data"] for r in rows]
    finally:
        await engine.dispose()


async def scalar(database: str, sql: str, **params: Any) -> Any:
    engine = create_engine(database, pool_size=1)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(sa.text(sql), params)).scalar()
    finally:
        await engine.dispose()
