"""Fixtures for tests of the messaging plumbing on the ledger service (import them in a conftest).

`ledger_db` is a fresh migrated database per test; `broker` is connected to the run's vhost with
the ledger queue and its DLQ emptied, so each test starts clean.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mci_testing.fixtures import MakeDatabase
from mci_testing.ledger import MIGRATIONS, ledger_queue
from shared.db import create_engine
from shared.messaging.broker import Broker


@pytest.fixture
async def ledger_db(make_database: MakeDatabase) -> str:
    return await make_database("ledger", MIGRATIONS)


@pytest.fixture
async def engine(ledger_db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ledger_db, application_name="test")
    yield engine
    await engine.dispose()


@pytest.fixture
async def broker(amqp_url: str) -> AsyncIterator[Broker]:
    broker = Broker(amqp_url, "test")
    await broker.connect()
    channel = await broker.publish_channel()
    spec = ledger_queue()
    for name in (spec.name, spec.dlq):
        await channel.queue_delete(name)
    yield broker
    await broker.close()
