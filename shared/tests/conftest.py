from __future__ import annotations

from collections.abc import AsyncIterator

import aio_pika
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from shared.messaging.broker import Broker
from shared.testing.fixtures import MakeDatabase
from shared.testing.ledger import MIGRATIONS, ledger_queue


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
    # Each test starts from an empty ledger queue and DLQ (they are shared within the run's vhost).
    channel = await broker.publish_channel()
    spec = ledger_queue()
    for name in (spec.name, spec.dlq):
        await channel.queue_delete(name)
    yield broker
    await broker.close()


@pytest.fixture
async def raw_channel(amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    yield channel
    await connection.close()
