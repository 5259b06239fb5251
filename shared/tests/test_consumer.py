"""The idempotent consumer in-process against the real broker and database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events import Envelope
from shared.logs import correlation_scope
from shared.messaging.broker import Broker
from shared.messaging.consumer import Consumer
from shared.messaging.relay import OutboxRelay
from shared.messaging.topology import declare_queue
from shared.testing.infra import wait_until
from shared.testing.ledger import HANDLERS, ledger_queue, produce
from shared.testing.ledger.processes import ledger_counts
from shared.uow import unit_of_work


@pytest.fixture
async def consumer(engine: AsyncEngine, broker: Broker) -> AsyncIterator[Consumer]:
    consumer = Consumer(ledger_queue(3), HANDLERS, engine, source="ledger", batch_size=50)
    await consumer.start(await broker.consume_channel(256))
    yield consumer
    await consumer.stop()


async def dlq_depth(broker: Broker) -> int:
    # A fresh channel: a robust channel answers a passive declare from its cache.
    assert broker.publish_connection is not None
    async with broker.publish_connection.channel() as channel:
        queue = await channel.declare_queue(ledger_queue().dlq, passive=True)
        return queue.declaration_result.message_count or 0


async def test_each_event_is_handled_once_with_its_correlation_id(
    engine: AsyncEngine, broker: Broker, consumer: Consumer
) -> None:
    with correlation_scope("order-flow-7"):
        async with unit_of_work(engine, "ledger") as uow:
            await produce(uow, range(250))
    relay = OutboxRelay(engine, broker)
    while await relay.publish_pending():
        pass

    async def all_recorded() -> bool:
        return (await ledger_counts(engine))[1] == 250

    await wait_until(all_recorded)
    rows, distinct, doubled = await ledger_counts(engine)
    assert (rows, distinct, doubled) == (250, 250, 0)
    async with engine.connect() as conn:
        cids = (await conn.execute(sa.text("SELECT DISTINCT correlation_id FROM ledger"))).all()
        inbox = await conn.scalar(sa.text("SELECT count(*) FROM inbox"))
    assert cids == [("order-flow-7",)]
    assert inbox == 250


async def test_a_malformed_message_is_dead_lettered_at_once_and_the_rest_flow(
    engine: AsyncEngine, broker: Broker, consumer: Consumer
) -> None:
    channel = await broker.publish_channel()
    await channel.default_exchange.publish(
        aio_pika.Message(b"{not json", message_id=str(uuid.uuid4())), routing_key=consumer.name
    )
    good = Envelope(type="LedgerEntryRequested", source="test", correlation_id="c", data={"seq": 1})
    await channel.default_exchange.publish(
        aio_pika.Message(good.model_dump_json().encode(), message_id=str(good.id)),
        routing_key=consumer.name,
    )

    async def settled() -> bool:
        return await dlq_depth(broker) == 1 and (await ledger_counts(engine))[0] == 1

    await wait_until(settled)


async def test_an_event_of_no_known_type_is_dead_lettered(
    engine: AsyncEngine, broker: Broker, consumer: Consumer
) -> None:
    stranger = Envelope(type="SomethingElse", source="test", correlation_id="c", data={})
    channel = await broker.publish_channel()
    await channel.default_exchange.publish(
        aio_pika.Message(stranger.model_dump_json().encode(), message_id=str(stranger.id)),
        routing_key=consumer.name,
    )

    async def dead_lettered() -> bool:
        return await dlq_depth(broker) == 1

    await wait_until(dead_lettered)
    assert (await ledger_counts(engine))[0] == 0


async def test_only_the_failing_message_of_a_batch_is_retried(
    engine: AsyncEngine, broker: Broker
) -> None:
    await declare_queue(await broker.publish_channel(), ledger_queue(3))
    async with unit_of_work(engine, "ledger") as uow:
        await produce(uow, range(20))
        await produce(uow, range(20, 21), poison=True)
        await produce(uow, range(21, 40))
    relay = OutboxRelay(engine, broker)
    await relay.publish_pending()
    # One consumer taking everything as one batch: the poisoned entry forces the fallback path.
    consumer = Consumer(
        ledger_queue(3), HANDLERS, engine, source="ledger", batch_size=100, batch_wait=0.5
    )
    await consumer.start(await broker.consume_channel(256))
    try:

        async def settled() -> bool:
            return (await ledger_counts(engine))[1] == 39 and await dlq_depth(broker) == 1

        await wait_until(settled)
        await asyncio.sleep(0.5)
        assert await ledger_counts(engine) == (39, 39, 0)
    finally:
        await consumer.stop()


async def test_a_handler_runs_with_the_messages_correlation_id_bound_for_its_logs(
    engine: AsyncEngine, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.logs import configure_logging, correlation_id_var, get_logger
    from shared.testing.ledger import LedgerEntryRequested
    from shared.uow import UnitOfWork

    seen: list[str | None] = []

    async def handler(event: LedgerEntryRequested, uow: UnitOfWork) -> None:
        seen.append(correlation_id_var.get())
        get_logger().info("entry_handled", seq=event.seq)

    configure_logging("ledger", json=True)
    consumer = Consumer(ledger_queue(), {LedgerEntryRequested: handler}, engine, source="ledger")
    await consumer.start(await broker.consume_channel(10))
    try:
        with correlation_scope("from-the-http-request"):
            async with unit_of_work(engine, "ledger") as uow:
                await produce(uow, range(1))
        await OutboxRelay(engine, broker).publish_pending()

        async def handled() -> bool:
            return bool(seen)

        await wait_until(handled)
    finally:
        await consumer.stop()
    assert seen == ["from-the-http-request"]
    logged = [line for line in capsys.readouterr().out.splitlines() if "entry_handled" in line]
    assert '"correlation_id": "from-the-http-request"' in logged[0]
