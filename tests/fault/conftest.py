from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from shared.messaging.broker import Broker
from shared.testing.fixtures import MakeDatabase
from shared.testing.ledger import MIGRATIONS, ledger_queue


@pytest.fixture
async def ledger_db(make_database: MakeDatabase) -> str:
    return await make_database("fault", MIGRATIONS)


@pytest.fixture
async def engine(ledger_db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ledger_db, application_name="fault-test")
    yield engine
    await engine.dispose()


@pytest.fixture
async def broker(amqp_url: str) -> AsyncIterator[Broker]:
    broker = Broker(amqp_url, "fault-test")
    await broker.connect()
    channel = await broker.publish_channel()
    for name in (ledger_queue().name, ledger_queue().dlq):
        await channel.queue_delete(name)
    yield broker
    await broker.close()
