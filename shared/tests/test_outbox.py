"""The outbox and its relay against the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import aio_pika
import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mci_testing.infra import wait_until
from mci_testing.ledger import ledger_queue, produce
from shared.logs import correlation_scope
from shared.messaging.broker import Broker
from shared.messaging.relay import OutboxRelay
from shared.messaging.topology import QueueSpec, declare_queue, events
from shared.uow import unit_of_work


async def pending(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(sa.text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
            or 0
        )


async def drain(queue: aio_pika.abc.AbstractQueue) -> list[aio_pika.abc.AbstractIncomingMessage]:
    out = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        out.append(message)
    return out


async def test_events_committed_with_the_state_are_published_with_their_identity(
    engine: AsyncEngine, broker: Broker
) -> None:
    queue = await declare_queue(await broker.publish_channel(), ledger_queue())
    with correlation_scope("corr-42"):
        async with unit_of_work(engine, "ledger") as uow:
            await produce(uow, range(3))
            emitted = list(uow.emitted)

    assert await pending(engine) == 3
    published = await OutboxRelay(engine, broker).publish_pending()

    assert published == 3
    assert await pending(engine) == 0
    messages = await drain(queue)
    assert [m.message_id for m in messages] == [str(e.id) for e in emitted]
    first = messages[0]
    assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert first.type == "LedgerEntryRequested"
    assert first.correlation_id == "corr-42"
    assert first.headers["x-correlation-id"] == "corr-42"
    body = orjson.loads(first.body)
    assert body["id"] == str(emitted[0].id)
    assert body["source"] == "ledger"
    assert body["data"] == {"seq": 0, "poison": False, "sleep_seconds": 0.0}


async def test_a_rolled_back_change_publishes_nothing(engine: AsyncEngine) -> None:
    with pytest.raises(RuntimeError):
        async with unit_of_work(engine, "ledger") as uow:
            await produce(uow, range(5))
            raise RuntimeError("the state change failed")
    async with engine.connect() as conn:
        assert await conn.scalar(sa.text("SELECT count(*) FROM outbox")) == 0


async def test_an_unroutable_event_stays_pending_until_a_queue_exists(
    engine: AsyncEngine, broker: Broker
) -> None:
    # No queue is bound to ledger.entry yet: mandatory publishing makes the broker return it.
    async with unit_of_work(engine, "ledger") as uow:
        await produce(uow, range(1))
    relay = OutboxRelay(engine, broker)
    assert await relay.publish_pending() == 1
    assert await pending(engine) == 1
    async with engine.connect() as conn:
        attempts, error = (
            await conn.execute(sa.text("SELECT attempts, last_error FROM outbox"))
        ).one()
    assert attempts == 1
    assert error

    assert await relay.publish_pending() == 0, "the failed row is held back for a while"
    queue = await declare_queue(await broker.publish_channel(), ledger_queue())
    await asyncio.sleep(0.6)  # past its first backoff
    assert await relay.publish_pending() == 1
    assert await pending(engine) == 0
    assert len(await drain(queue)) == 1


async def test_an_event_only_outside_subscribers_take_is_not_held_when_none_is_bound(
    engine: AsyncEngine, broker: Broker
) -> None:
    # OfferFailed and OfferEnded are for subscribers outside the platform: with none bound, the
    # broker drops them. Published mandatory, they would wait in the outbox forever.
    async with unit_of_work(engine, "ledger") as uow:
        await produce(uow, range(2))
    relay = OutboxRelay(engine, broker, optional_routing_keys=frozenset({"ledger.entry"}))
    assert await relay.publish_pending() == 2
    assert await pending(engine) == 0
    # With a subscriber bound, it receives them as usual.
    queue = await declare_queue(await broker.publish_channel(), ledger_queue())
    async with unit_of_work(engine, "ledger") as uow:
        await produce(uow, range(3))
    assert await relay.publish_pending() == 3
    assert len(await drain(queue)) == 3


async def test_two_relays_publish_every_row_exactly_once(
    engine: AsyncEngine, broker: Broker, amqp_url: str
) -> None:
    queue = await declare_queue(await broker.publish_channel(), ledger_queue())
    async with unit_of_work(engine, "ledger") as uow:
        await produce(uow, range(2000))
    other_broker = Broker(amqp_url, "test-2")
    await other_broker.connect()
    try:
        relays = [
            OutboxRelay(engine, broker, batch_size=100),
            OutboxRelay(engine, other_broker, batch_size=100),
        ]

        async def drain_outbox(relay: OutboxRelay) -> int:
            total = 0
            while claimed := await relay.publish_pending():
                total += claimed
            return total

        counts = await asyncio.gather(*(drain_outbox(r) for r in relays))
    finally:
        await other_broker.close()
    assert sum(counts) == 2000
    assert all(counts), "both relays should have taken part (SKIP LOCKED shares the work)"
    ids = [m.message_id for m in await drain(queue)]
    assert len(ids) == 2000
    assert len(set(ids)) == 2000


async def test_the_relay_wakes_on_insert_without_waiting_for_its_poll(
    engine: AsyncEngine, broker: Broker
) -> None:
    queue = await declare_queue(await broker.publish_channel(), ledger_queue())
    relay = OutboxRelay(engine, broker, poll_interval=600)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.5)  # the relay is now asleep for up to 600 s unless notified
        async with unit_of_work(engine, "ledger") as uow:
            await produce(uow, range(1))

        async def delivered() -> bool:
            return (queue.declaration_result.message_count or 0) > 0 or bool(
                await queue.get(no_ack=True, fail=False)
            )

        await wait_until(delivered, within=20)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_declaring_the_topology_twice_is_harmless(broker: Broker) -> None:
    spec = QueueSpec(f"test.{uuid.uuid4().hex[:8]}", events("nothing.here"), delivery_limit=3)
    channel = await broker.publish_channel()
    first = await declare_queue(channel, spec)
    second = await declare_queue(channel, spec)
    assert first.name == second.name == spec.name
    await channel.queue_delete(spec.name)
    await channel.queue_delete(spec.dlq)


async def test_events_the_broker_nacks_for_a_full_queue_stay_pending_and_go_out_later(
    engine: AsyncEngine, broker: Broker
) -> None:
    # The production policy's overflow: a full queue refuses publishes with a nack.
    spec = dataclasses.replace(
        ledger_queue(), arguments={"x-max-length": 2, "x-overflow": "reject-publish"}
    )
    queue = await declare_queue(await broker.publish_channel(), spec)
    async with unit_of_work(engine, "ledger") as uow:
        emitted = await produce(uow, range(10))

    # One row per batch, so the queue is full before the next publish (a quorum queue checks
    # its length as it applies an enqueue, so a burst could all get in). A long backoff, so no
    # nacked row comes due again while the others are tried, however slow the machine.
    relay = OutboxRelay(engine, broker, batch_size=1, retry_base=600)
    claimed = 0
    while await relay.publish_pending():  # a nacked row is held back: each is claimed once
        claimed += 1
    assert claimed == 10
    first = [m.message_id for m in await drain(queue)]
    assert 2 <= len(first) <= 3  # the limit, give or take the one a quorum queue lets in
    assert await pending(engine) == 10 - len(first), "only confirmed rows are marked published"
    async with engine.connect() as conn:
        errors = (
            await conn.execute(
                sa.text("SELECT attempts, last_error FROM outbox WHERE published_at IS NULL")
            )
        ).all()
    assert all(attempts == 1 and error for attempts, error in errors)

    delivered = list(first)
    while await pending(engine):  # the queue drains; a fresh relay holds nothing back
        await OutboxRelay(engine, broker).publish_pending()
        delivered += [m.message_id for m in await drain(queue)]
    assert sorted(map(str, delivered)) == sorted(str(e.id) for e in emitted), "each once, none lost"


async def test_pruning_200000_rows_in_batches_keeps_recent_and_pending_rows(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        for published_at, count in (("now() - interval '30 days'", 200_000), ("now()", 100)):
            await conn.execute(
                sa.text(
                    "INSERT INTO outbox (id, routing_key, type, payload, created_at,"
                    f" published_at) SELECT gen_random_uuid(), 'ledger.entry', 'T', '{{}}',"
                    f" {published_at}, {published_at} FROM generate_series(1, {count})"
                )
            )
        # Old but never published: the relay still owes these to the broker.
        await conn.execute(
            sa.text(
                "INSERT INTO outbox (id, routing_key, type, payload, created_at)"
                " SELECT gen_random_uuid(), 'ledger.entry', 'T', '{}',"
                " now() - interval '30 days' FROM generate_series(1, 7)"
            )
        )
        for processed_at, count in (("now() - interval '30 days'", 200_000), ("now()", 100)):
            await conn.execute(
                sa.text(
                    "INSERT INTO inbox (consumer, message_id, processed_at)"
                    f" SELECT 'ledger.entries', gen_random_uuid(), {processed_at}"
                    f" FROM generate_series(1, {count})"
                )
            )
        await conn.execute(
            sa.text(
                "INSERT INTO message_failures (consumer, message_id, failures, last_failed_at)"
                " VALUES ('ledger.entries', gen_random_uuid(), 1, now() - interval '30 days'),"
                " ('ledger.entries', gen_random_uuid(), 1, now())"
            )
        )
    relay = OutboxRelay(engine, None, prune_batch=30_000)  # type: ignore[arg-type]
    deleted = await relay.prune()

    assert deleted == {"outbox": 200_000, "inbox": 200_000, "message_failures": 1}
    async with engine.connect() as conn:
        kept = (
            await conn.execute(
                sa.text(
                    "SELECT (SELECT count(*) FROM outbox WHERE published_at IS NOT NULL),"
                    " (SELECT count(*) FROM outbox WHERE published_at IS NULL),"
                    " (SELECT count(*) FROM inbox), (SELECT count(*) FROM message_failures)"
                )
            )
        ).one()
        indexed = await conn.scalar(
            sa.text("SELECT count(*) FROM pg_indexes WHERE indexname = 'outbox_published_at'")
        )
    assert tuple(kept) == (100, 7, 100, 1)
    assert indexed == 1
