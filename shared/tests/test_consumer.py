"""The idempotent consumer in-process against the real broker and database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mci_testing.infra import wait_until
from mci_testing.ledger import HANDLERS, LedgerEntryRequested, ledger_queue, produce
from mci_testing.ledger.processes import ledger_counts
from shared.events import Envelope
from shared.logs import correlation_scope
from shared.messaging.broker import Broker
from shared.messaging.consumer import CONTENTION_RETRIES, Consumer
from shared.messaging.dlq import DeadLetters
from shared.messaging.errors import Failure, database_failure, infrastructure_failure, sqlstate
from shared.messaging.relay import OutboxRelay
from shared.messaging.topology import declare_queue
from shared.uow import UnitOfWork, unit_of_work


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


# --- Failures, classified by where they come from -----------------------------------------


async def publish_entries(engine: AsyncEngine, broker: Broker, seqs: range) -> list[Envelope]:
    async with unit_of_work(engine, "ledger") as uow:
        emitted = await produce(uow, seqs)
    relay = OutboxRelay(engine, broker)
    while await relay.publish_pending():
        pass
    return emitted


async def failure_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(sa.text("SELECT count(*) FROM message_failures")) or 0)


# What the handler's statement runs into, and how the consumer must file it.
DATABASE_TROUBLE = {
    # statement_timeout: SQLSTATE 57014
    "statement_timeout": (
        ["SET LOCAL statement_timeout = '10ms'", "SELECT pg_sleep(1)"],
        Failure.CONTENTION,
    ),
    # lock_timeout on a table the test holds locked: 55P03
    "lock_timeout": (
        ["SET LOCAL lock_timeout = '10ms'", "SELECT * FROM cured"],
        Failure.CONTENTION,
    ),
    # a read-only transaction, as on a standby after a failover: 25006
    "read_only": (
        ["SET LOCAL transaction_read_only = on", "INSERT INTO cured (seq) VALUES (-1)"],
        Failure.OUTAGE,
    ),
}


@pytest.mark.parametrize("trouble", list(DATABASE_TROUBLE))
async def test_database_timeouts_and_read_only_are_retried_in_process_not_counted(
    engine: AsyncEngine, broker: Broker, trouble: str
) -> None:
    statements, kind = DATABASE_TROUBLE[trouble]
    attempts = 0

    async def handler(event: LedgerEntryRequested, uow: UnitOfWork) -> None:
        nonlocal attempts
        attempts += 1
        if attempts <= 3:  # as many times as the message may fail: counting them would DLQ it
            for statement in statements:
                await uow.connection.execute(sa.text(statement))
        await uow.connection.execute(
            sa.text("INSERT INTO ledger (message_id, seq, pid) VALUES (:m, :s, 0)"),
            {"m": uow.incoming.id if uow.incoming else None, "s": event.seq},
        )

    locker = await engine.connect()
    if trouble == "lock_timeout":
        await locker.execute(sa.text("LOCK TABLE cured IN ACCESS EXCLUSIVE MODE"))
    consumer = Consumer(
        ledger_queue(max_failures=3), {LedgerEntryRequested: handler}, engine, source="ledger"
    )
    await consumer.start(await broker.consume_channel(10))
    try:
        await publish_entries(engine, broker, range(1))

        async def recorded() -> bool:
            return (await ledger_counts(engine))[0] == 1

        await wait_until(recorded)
    finally:
        await consumer.stop()
        await locker.rollback()
        await locker.close()
    assert attempts == 4
    assert consumer.database_retries[kind] == 3
    assert await ledger_counts(engine) == (1, 1, 0)
    assert await failure_rows(engine) == 0
    assert await dlq_depth(broker) == 0


HANDLER_TROUBLE = {
    # The handler's own code raising what a database outage also raises: still its failure.
    "timeout_error": ("handler_failed", "TimeoutError"),
    "os_error": ("handler_failed", "ConnectionRefusedError"),
    # Past the queue's handler timeout, here inside a database statement.
    "hangs": ("handler_timeout", "TimeoutError"),
}


@pytest.mark.parametrize("trouble", list(HANDLER_TROUBLE))
async def test_a_handlers_own_failure_is_counted_and_dead_lettered_while_the_rest_flow(
    engine: AsyncEngine, broker: Broker, trouble: str
) -> None:
    reason, error = HANDLER_TROUBLE[trouble]
    bad_attempts = 0

    async def handler(event: LedgerEntryRequested, uow: UnitOfWork) -> None:
        nonlocal bad_attempts
        if event.seq == 0:
            bad_attempts += 1
            if trouble == "timeout_error":
                raise TimeoutError("the supplier's API did not answer")
            if trouble == "os_error":
                raise ConnectionRefusedError(111, "connection refused by the supplier")
            await uow.connection.execute(sa.text("SELECT pg_sleep(30)"))
        await uow.connection.execute(
            sa.text("INSERT INTO ledger (message_id, seq, pid) VALUES (:m, :s, 0)"),
            {"m": uow.incoming.id if uow.incoming else None, "s": event.seq},
        )

    spec = ledger_queue(max_failures=3, handler_timeout=0.5)
    # One message per transaction, so each handler call is one counted failure.
    consumer = Consumer(
        spec, {LedgerEntryRequested: handler}, engine, source="ledger", batch_size=1
    )
    await consumer.start(await broker.consume_channel(10))
    try:
        [bad, *_] = await publish_entries(engine, broker, range(21))

        async def settled() -> bool:
            return (await ledger_counts(engine))[0] == 20 and await dlq_depth(broker) == 1

        await wait_until(settled)
        assert broker.consume_connection is not None
        [letter] = await DeadLetters(broker.consume_connection, [spec]).list(spec.name)
    finally:
        await consumer.stop()
    assert bad_attempts == 3
    assert (letter.message_id, letter.reason, letter.death_count) == (str(bad.id), reason, 3)
    assert letter.error is not None and letter.error.startswith(error)
    assert letter.routing_key == "ledger.entry"
    assert await ledger_counts(engine) == (20, 20, 0)
    assert await failure_rows(engine) == 0, "dead-lettered: a replayed copy starts afresh"
    assert consumer.database_retries == {Failure.OUTAGE: 0, Failure.CONTENTION: 0}


async def test_failures_below_the_limit_are_retried_and_a_success_clears_the_count(
    engine: AsyncEngine, broker: Broker
) -> None:
    attempts = 0
    counted: list[int] = []

    async def handler(event: LedgerEntryRequested, uow: UnitOfWork) -> None:
        nonlocal attempts
        attempts += 1
        # What the consumer has counted so far for this message, seen from inside the handler.
        async with engine.connect() as conn:
            counted.append(
                int(await conn.scalar(sa.text("SELECT sum(failures) FROM message_failures")) or 0)
            )
        if attempts <= 2:
            raise RuntimeError("not yet")
        await uow.connection.execute(
            sa.text("INSERT INTO ledger (message_id, seq, pid) VALUES (:m, :s, 0)"),
            {"m": uow.incoming.id if uow.incoming else None, "s": event.seq},
        )

    consumer = Consumer(
        ledger_queue(max_failures=3), {LedgerEntryRequested: handler}, engine, source="ledger"
    )
    await consumer.start(await broker.consume_channel(10))
    try:
        await publish_entries(engine, broker, range(1))

        async def recorded() -> bool:
            return (await ledger_counts(engine))[0] == 1

        await wait_until(recorded)
    finally:
        await consumer.stop()
    assert attempts == 3
    assert counted == [0, 1, 2]
    async with engine.connect() as conn:
        assert await conn.scalar(sa.text("SELECT count(*) FROM message_failures")) == 0
    assert await dlq_depth(broker) == 0


async def test_errors_are_classified_by_where_they_come_from(engine: AsyncEngine) -> None:
    async def raised(*statements: str) -> BaseException:
        try:
            async with engine.begin() as conn:
                for statement in statements:
                    await conn.execute(sa.text(statement))
        except Exception as exc:
            return exc
        raise AssertionError("no error")

    refused = ConnectionRefusedError(111, "refused")
    assert database_failure(refused) is None, "a handler's own OSError is its failure"
    assert infrastructure_failure(refused) is Failure.OUTAGE, "outside a handler: connecting"
    assert database_failure(TimeoutError()) is None
    assert infrastructure_failure(RuntimeError("a bug")) is None

    duplicate = await raised(
        "INSERT INTO cured (seq) VALUES (1)", "INSERT INTO cured (seq) VALUES (1)"
    )
    assert sqlstate(duplicate) == "23505"
    assert database_failure(duplicate) is None, "a statement the server refused: the handler's"
    timed_out = await raised("SET LOCAL statement_timeout = '10ms'", "SELECT pg_sleep(1)")
    assert (sqlstate(timed_out), database_failure(timed_out)) == ("57014", Failure.CONTENTION)
    read_only = await raised(
        "SET LOCAL transaction_read_only = on", "INSERT INTO cured (seq) VALUES (2)"
    )
    assert (sqlstate(read_only), database_failure(read_only)) == ("25006", Failure.OUTAGE)
    terminated = await raised("SELECT pg_terminate_backend(pg_backend_pid())")
    assert database_failure(terminated) is Failure.OUTAGE


async def test_a_statement_that_always_times_out_is_counted_after_its_retries_and_dead_lettered(
    engine: AsyncEngine, broker: Broker
) -> None:
    attempts = 0

    async def handler(event: LedgerEntryRequested, uow: UnitOfWork) -> None:
        nonlocal attempts
        attempts += 1
        await uow.connection.execute(sa.text("SET LOCAL statement_timeout = '10ms'"))
        await uow.connection.execute(sa.text("SELECT pg_sleep(1)"))

    spec = ledger_queue(max_failures=2)
    consumer = Consumer(
        spec, {LedgerEntryRequested: handler}, engine, source="ledger", max_backoff=0.01
    )
    await consumer.start(await broker.consume_channel(10))
    try:
        [stuck] = await publish_entries(engine, broker, range(1))

        async def dead_lettered() -> bool:
            return await dlq_depth(broker) == 1

        await wait_until(dead_lettered)
        assert broker.consume_connection is not None
        [letter] = await DeadLetters(broker.consume_connection, [spec]).list(spec.name)
    finally:
        await consumer.stop()
    # Each delivery: the first try and CONTENTION_RETRIES more in-process, then one failure.
    assert attempts == 2 * (1 + CONTENTION_RETRIES)
    assert (letter.message_id, letter.reason) == (str(stuck.id), "database_contention")
