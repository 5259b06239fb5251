"""Fault injection on the real broker and database: nothing lost, nothing applied twice.

Each case counts effects in the ledger table (one row per handler run, no unique key), so a
lost message is a missing seq and a double effect is a seq recorded twice. Consumers and relays
run as separate processes where the fault is a crash (SIGKILL).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import pytest
import sqlalchemy as sa
from aio_pika.abc import AbstractIncomingMessage
from sqlalchemy.ext.asyncio import AsyncEngine

from mci_testing.app import running_app
from mci_testing.infra import VhostAdmin, wait_until
from mci_testing.ledger import HANDLERS, MIGRATIONS, ledger_queue, produce
from mci_testing.ledger.processes import LedgerProcess, ledger_counts
from mci_testing.proxy import TcpProxy
from shared.db import create_engine
from shared.events import Envelope
from shared.messaging.broker import Broker
from shared.messaging.consumer import Consumer
from shared.messaging.errors import Failure
from shared.messaging.relay import OutboxRelay
from shared.messaging.topology import declare_queue
from shared.security import issue_token
from shared.service import ServiceDefinition, Subscription, create_app
from shared.settings import ServiceSettings
from shared.uow import unit_of_work

pytestmark = pytest.mark.fault


async def outbox_pending(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(sa.text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
            or 0
        )


async def recorded(engine: AsyncEngine, seqs: int) -> None:
    async def done() -> bool:
        return (await ledger_counts(engine))[1] >= seqs

    await wait_until(done, within=120)
    await asyncio.sleep(0.5)  # a late double effect would show up now


async def publish_all(engine: AsyncEngine, broker: Broker) -> None:
    relay = OutboxRelay(engine, broker)
    while await relay.publish_pending():
        pass


async def test_the_same_message_delivered_twice_has_one_effect(
    engine: AsyncEngine, broker: Broker
) -> None:
    channel = await broker.publish_channel()
    await declare_queue(channel, ledger_queue())
    envelope = Envelope(
        type="LedgerEntryRequested", source="test", correlation_id="c", data={"seq": 1}
    )
    for _ in range(2):  # e.g. a publisher retry after a lost confirm: a new publish, same id
        await channel.default_exchange.publish(
            aio_pika.Message(envelope.model_dump_json().encode(), message_id=str(envelope.id)),
            routing_key=ledger_queue().name,
        )
    consumer = Consumer(ledger_queue(), HANDLERS, engine, source="ledger", batch_size=1)
    await consumer.start(await broker.consume_channel(10))
    try:
        await recorded(engine, 1)
        await asyncio.sleep(1)
        assert await ledger_counts(engine) == (1, 1, 0)
    finally:
        await consumer.stop()


async def test_a_consumer_killed_after_commit_before_ack_has_one_effect_on_restart(
    engine: AsyncEngine, broker: Broker, ledger_db: str, amqp_url: str
) -> None:
    await declare_queue(await broker.publish_channel(), ledger_queue())
    async with unit_of_work(engine, "ledger") as uow:
        await produce(uow, range(10))
    await publish_all(engine, broker)

    crashing = LedgerProcess(
        "consume", ledger_db, amqp_url, ["--batch-size", "1", "--crash-after-commit", "5"]
    )
    await crashing.start()
    assert await crashing.wait() == -9  # it SIGKILLed itself after committing seq 5
    async with engine.connect() as conn:
        crashed_pid = await conn.scalar(sa.text("SELECT pid FROM ledger WHERE seq = 5"))
    assert crashed_pid is not None, "seq 5 was committed before the crash"

    restarted = await LedgerProcess("consume", ledger_db, amqp_url).start()
    try:
        await recorded(engine, 10)
    finally:
        await restarted.stop()
    assert await ledger_counts(engine) == (10, 10, 0)
    async with engine.connect() as conn:
        pid_of_5 = await conn.scalar(sa.text("SELECT pid FROM ledger WHERE seq = 5"))
    assert pid_of_5 == crashed_pid, "the redelivered seq 5 was skipped, not handled again"


async def test_a_consumer_killed_after_its_handler_ran_before_commit_has_one_effect_on_restart(
    engine: AsyncEngine, broker: Broker, ledger_db: str, amqp_url: str
) -> None:
    await declare_queue(await broker.publish_channel(), ledger_queue())
    async with unit_of_work(engine, "ledger") as uow:
        await produce(uow, range(10))
    await publish_all(engine, broker)

    # Batches of several messages: seq 5's transaction holds others' work too.
    crashing = LedgerProcess(
        "consume", ledger_db, amqp_url, ["--batch-size", "3", "--crash-before-commit", "5"]
    )
    await crashing.start()
    assert await crashing.wait() == -9  # it SIGKILLed itself as COMMIT was about to go out
    async with engine.connect() as conn:
        committed = set((await conn.execute(sa.text("SELECT seq FROM ledger"))).scalars())
        inbox = await conn.scalar(sa.text("SELECT count(*) FROM inbox"))
    assert 5 not in committed, "the handler's work died with its transaction"
    assert inbox == len(committed), "nor was its inbox row committed"

    restarted = await LedgerProcess("consume", ledger_db, amqp_url).start()
    try:
        await recorded(engine, 10)
    finally:
        await restarted.stop()
    assert await ledger_counts(engine) == (10, 10, 0)


async def test_a_relay_killed_between_commit_and_publish_delivers_after_restart(
    engine: AsyncEngine, broker: Broker, ledger_db: str, amqp_url: str
) -> None:
    queue = await declare_queue(await broker.publish_channel(), ledger_queue())
    async with unit_of_work(engine, "ledger") as uow:
        await produce(uow, range(20))

    crashing = LedgerProcess("relay", ledger_db, amqp_url, ["--crash-before-publish"])
    await crashing.start()
    assert await crashing.wait() == -9
    assert await outbox_pending(engine) == 20, "the committed events are still in the outbox"
    assert await queue.get(no_ack=True, fail=False) is None, "nothing reached the broker"

    relay = await LedgerProcess("relay", ledger_db, amqp_url).start()
    consumer = await LedgerProcess("consume", ledger_db, amqp_url).start()
    try:
        await recorded(engine, 20)
    finally:
        await relay.stop()
        await consumer.stop()
    assert await ledger_counts(engine) == (20, 20, 0)
    assert await outbox_pending(engine) == 0


async def test_a_relay_killed_after_the_confirm_before_marking_has_one_effect_per_event(
    engine: AsyncEngine, broker: Broker, ledger_db: str, amqp_url: str
) -> None:
    queue = await declare_queue(await broker.publish_channel(), ledger_queue())
    async with unit_of_work(engine, "ledger") as uow:
        await produce(uow, range(20))

    crashing = LedgerProcess(
        "relay", ledger_db, amqp_url, ["--crash-after-confirm", "--lanes", "1"]
    )
    await crashing.start()
    assert await crashing.wait() == -9
    assert await outbox_pending(engine) == 20, "the marks died with their transaction"
    async with broker.publish_connection.channel() as channel:  # type: ignore[union-attr]
        declared = await channel.declare_queue(queue.name, passive=True)
        assert declared.declaration_result.message_count == 20, "yet the broker has them all"

    # Published again after the restart: the consumer sees each twice, applies it once (in
    # batches smaller than the 20, so the two copies meet in the inbox, not in one batch).
    relay = await LedgerProcess("relay", ledger_db, amqp_url).start()
    consumer = await LedgerProcess("consume", ledger_db, amqp_url, ["--batch-size", "5"]).start()
    try:
        await recorded(engine, 20)

        async def all_published() -> bool:
            return await outbox_pending(engine) == 0

        await wait_until(all_published)
        await asyncio.sleep(1)  # the second copies are consumed too: a double would show now
    finally:
        await relay.stop()
        await consumer.stop()
    assert await ledger_counts(engine) == (20, 20, 0)


@pytest.mark.slow
async def test_all_broker_connections_closed_mid_flow_lose_and_double_nothing(
    engine: AsyncEngine,
    broker: Broker,
    ledger_db: str,
    amqp_url: str,
    amqp_vhost: str,
    vhost_admin: VhostAdmin,
) -> None:
    total = 10_000
    await declare_queue(await broker.publish_channel(), ledger_queue())
    relay = await LedgerProcess("relay", ledger_db, amqp_url, ["--batch-size", "500"]).start()
    consumer = await LedgerProcess("consume", ledger_db, amqp_url).start()
    try:

        async def write_events() -> None:
            for start in range(0, total, 250):
                async with unit_of_work(engine, "ledger") as uow:
                    await produce(uow, range(start, start + 250))
                await asyncio.sleep(0.01)

        writer = asyncio.create_task(write_events())

        async def flowing(threshold: int) -> bool:
            return (await ledger_counts(engine))[1] >= threshold

        await wait_until(lambda: flowing(2_000), within=120)
        await asyncio.to_thread(vhost_admin.close_all_connections, amqp_vhost)
        await wait_until(lambda: flowing(6_000), within=120)
        await asyncio.to_thread(vhost_admin.close_all_connections, amqp_vhost)
        await writer
        await recorded(engine, total)
        assert consumer.process is not None and consumer.process.returncode is None
        assert relay.process is not None and relay.process.returncode is None
    finally:
        await relay.stop()
        await consumer.stop()
    assert await ledger_counts(engine) == (total, total, 0)
    assert await outbox_pending(engine) == 0


async def test_a_poison_message_is_dead_lettered_and_replayed_while_others_flow(
    ledger_db: str, amqp_url: str, engine: AsyncEngine, broker: Broker
) -> None:
    settings = ServiceSettings(database_url=ledger_db, amqp_url=amqp_url, run_migrations=False)
    definition = ServiceDefinition(
        settings=settings,
        migrations_dir=MIGRATIONS,
        subscriptions=[Subscription(ledger_queue(3), HANDLERS)],
    )
    app = create_app(definition)
    token = issue_token(settings.service_token_secret.get_secret_value(), "ops", "admin")
    async with running_app(app) as http:
        http.headers["Authorization"] = f"Bearer {token}"
        async with unit_of_work(engine, "ledger") as uow:
            await produce(uow, range(50))
            [poison] = await produce(uow, range(999, 1000), poison=True)
            await produce(uow, range(50, 100))

        await recorded(engine, 100)  # the other 100 flowed past the poisoned one

        async def in_dlq() -> bool:
            depths = (await http.get("/admin/dlq")).json()
            return bool(depths["ledger.entries"] == 1)

        await wait_until(in_dlq, within=60)
        listed = (await http.get("/admin/dlq/ledger.entries")).json()
        assert [(d["message_id"], d["reason"]) for d in listed] == [
            (str(poison.id), "handler_failed")
        ]
        detail = (await http.get(f"/admin/dlq/ledger.entries/{poison.id}")).json()
        assert detail["body"]["data"]["seq"] == 999
        assert detail["death_count"] >= 1

        # Replaying before the cause is fixed sends it back to the DLQ; after the fix it lands.
        async with engine.begin() as conn:
            await conn.execute(sa.text("INSERT INTO cured (seq) VALUES (999)"))
        replayed = await http.post("/admin/dlq/ledger.entries/replay", json={})
        assert replayed.json() == {"replayed": 1}
        await recorded(engine, 101)
        assert await ledger_counts(engine) == (101, 101, 0)
        assert (await http.get("/admin/dlq")).json()["ledger.entries"] == 0

        # Purge: a second poisoned entry is dropped for good on request.
        async with unit_of_work(engine, "ledger") as uow:
            [second] = await produce(uow, range(1000, 1001), poison=True)
        await wait_until(in_dlq, within=60)
        purged = await http.post(
            "/admin/dlq/ledger.entries/purge", json={"message_ids": [str(second.id)]}
        )
        assert purged.json() == {"purged": 1}
        assert (await http.get("/admin/dlq")).json()["ledger.entries"] == 0
        assert (await http.get("/admin/dlq")).status_code == 200
        http.headers.pop("Authorization")
        assert (await http.get("/admin/dlq")).status_code == 401


async def test_the_consumers_database_backend_killed_mid_handle_redelivers_one_effect(
    engine: AsyncEngine, broker: Broker, ledger_db: str, amqp_url: str
) -> None:
    await declare_queue(await broker.publish_channel(), ledger_queue())
    consumer = await LedgerProcess("consume", ledger_db, amqp_url).start()
    try:
        async with unit_of_work(engine, "ledger") as uow:
            await produce(uow, range(7, 8), sleep_seconds=4)
            await produce(uow, range(8, 20))
        await publish_all(engine, broker)

        async def busy_backend() -> bool:
            async with engine.connect() as conn:
                pid = await conn.scalar(
                    sa.text(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = "
                        "'ledger-consumer' AND query LIKE '%pg_sleep%' AND state = 'active'"
                        " AND datname = current_database()"
                    )
                )
                if pid is None:
                    return False
                await conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                return True

        await wait_until(busy_backend, within=60)
        # The killed transaction rolled back; the batch is handled again (seq 7 sleeps again).
        await recorded(engine, 13)
    finally:
        await consumer.stop()
    assert await ledger_counts(engine) == (13, 13, 0)


class DeliveryWatch(Consumer):
    """A consumer that notes the broker's delivery count of every delivery it receives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delivery_counts: dict[str, int] = {}

    async def _receive(self, message: AbstractIncomingMessage) -> None:
        count = int((message.headers or {}).get("x-delivery-count") or 0)  # type: ignore[arg-type]
        key = message.message_id or ""
        self.delivery_counts[key] = max(count, self.delivery_counts.get(key, 0))
        await super()._receive(message)


async def test_ten_broker_connection_closes_during_a_database_outage_dead_letter_nothing(
    engine: AsyncEngine,
    broker: Broker,
    ledger_db: str,
    amqp_url: str,
    amqp_vhost: str,
    vhost_admin: VhostAdmin,
) -> None:
    """RabbitMQ counts each connection death against the delivery limit; the consumer's own
    failure count must not move, and no good message may reach the DLQ (here max_failures 3).
    Five closes are enough: past the third, a consumer that counted them would dead-letter."""
    total, closes = 20, 5
    spec = ledger_queue(max_failures=3)
    await declare_queue(await broker.publish_channel(), spec)
    async with TcpProxy.to_url(ledger_db, 5432) as database:
        consumer_engine = create_engine(database.url(ledger_db), application_name="ledger-watch")
        consumer_broker = Broker(f"{amqp_url}?reconnect_interval=0.2", "ledger-watch")
        await consumer_broker.connect()
        consumer = DeliveryWatch(spec, HANDLERS, consumer_engine, source="ledger")
        try:
            await database.cut()  # the consumer's database is down from here on
            await consumer.start(await consumer_broker.consume_channel(256))
            async with unit_of_work(engine, "ledger") as uow:
                await produce(uow, range(total))
            await publish_all(engine, broker)

            async def every_message_delivered(times: int) -> bool:
                counts = consumer.delivery_counts
                return len(counts) == total and min(counts.values()) >= times

            await wait_until(lambda: every_message_delivered(0), within=30)
            for close in range(1, closes + 1):
                await asyncio.to_thread(vhost_admin.close_all_connections, amqp_vhost)
                # Redelivered to the reconnected consumer: the broker counted one more.
                try:
                    await wait_until(lambda: every_message_delivered(close), within=60)  # noqa: B023
                except AssertionError as exc:
                    counts = sorted(consumer.delivery_counts.values())
                    raise AssertionError(f"close {close}: delivery counts {counts}") from exc
            assert await ledger_counts(engine) == (0, 0, 0), "the database was down throughout"

            await database.restore()
            await recorded(engine, total)
        finally:
            await consumer.stop()
            await consumer_broker.close()
            await consumer_engine.dispose()
    assert await ledger_counts(engine) == (total, total, 0)
    assert consumer.database_retries[Failure.OUTAGE] > 0
    async with engine.connect() as conn:
        assert await conn.scalar(sa.text("SELECT count(*) FROM message_failures")) == 0
    # A fresh connection: the fixture's own was closed with the rest and may still be away.
    async with await aio_pika.connect(amqp_url) as connection:
        dlq = await (await connection.channel()).declare_queue(spec.dlq, passive=True)
        assert dlq.declaration_result.message_count == 0


async def test_a_service_started_with_its_servers_down_is_not_ready_then_connects_and_recovers(
    ledger_db: str, amqp_url: str, engine: AsyncEngine, broker: Broker
) -> None:
    async with (
        TcpProxy.to_url(ledger_db, 5432) as database,
        TcpProxy.to_url(amqp_url, 5672) as rabbitmq,
    ):
        await database.cut()
        await rabbitmq.cut()
        settings = ServiceSettings(
            database_url=database.url(ledger_db),
            amqp_url=rabbitmq.url(f"{amqp_url}?reconnect_interval=0.3"),
            run_migrations=True,
        )
        definition = ServiceDefinition(
            settings=settings,
            migrations_dir=MIGRATIONS,
            subscriptions=[Subscription(ledger_queue(), HANDLERS)],
        )
        async with running_app(create_app(definition)) as http:  # starts, does not exit

            async def ready() -> bool:
                return (await http.get("/health/ready")).status_code == 200

            assert (await http.get("/health/live")).status_code == 200
            response = await http.get("/health/ready")
            assert response.status_code == 503
            assert response.json()["checks"]["broker"] is False
            await rabbitmq.restore()
            await asyncio.sleep(1)  # the broker alone is not enough: still no database
            assert (await http.get("/health/ready")).status_code == 503
            await database.restore()
            await wait_until(ready, within=60)

            async with unit_of_work(engine, "ledger") as uow:
                await produce(uow, range(10))
            await recorded(engine, 10)  # published by its relay, handled by its consumer

            # The same outage mid-flow: not ready while the broker is away, then it resumes.
            await rabbitmq.cut()

            async def not_ready() -> bool:
                return (await http.get("/health/ready")).status_code == 503

            await wait_until(not_ready, within=30)
            async with unit_of_work(engine, "ledger") as uow:
                await produce(uow, range(10, 20))
            await rabbitmq.restore()
            await wait_until(ready, within=60)
            await recorded(engine, 20)

            # And its database away mid-flow: the events wait in the outbox, then flow.
            await database.cut()
            await wait_until(not_ready, within=30)
            async with unit_of_work(engine, "ledger") as uow:
                await produce(uow, range(20, 30))
            await database.restore()
            await wait_until(ready, within=60)
            await recorded(engine, 30)
    assert await ledger_counts(engine) == (30, 30, 0)
    assert await outbox_pending(engine) == 0


@pytest.mark.slow
async def test_a_consumer_crash_looping_during_a_database_outage_dead_letters_nothing(
    engine: AsyncEngine, broker: Broker, ledger_db: str, amqp_url: str
) -> None:
    """Five consumer processes SIGKILLed while holding every message, the database down: each
    kill spends a broker delivery, none a counted failure (max_failures 3). Five kills are
    enough: past the third, a consumer that counted them would dead-letter (each process start
    costs seconds of imports, so ten doubled the test's time for nothing more)."""
    total, kills = 20, 5
    await declare_queue(await broker.publish_channel(), ledger_queue())
    async with unit_of_work(engine, "ledger") as uow:
        await produce(uow, range(total))
    await publish_all(engine, broker)

    async def queue_state() -> tuple[int, int]:
        async with await aio_pika.connect(amqp_url) as connection:
            queue = await (await connection.channel()).declare_queue(
                ledger_queue().name, passive=True
            )
            result = queue.declaration_result
            return result.message_count or 0, result.consumer_count or 0

    async def held_by_one_consumer() -> bool:
        return await queue_state() == (0, 1)

    async def released() -> bool:
        return await queue_state() == (total, 0)

    async with TcpProxy.to_url(ledger_db, 5432) as database:
        await database.cut()
        for _ in range(kills):
            consumer = await LedgerProcess(
                "consume", database.url(ledger_db), amqp_url, ["--max-failures", "3"]
            ).start()
            await wait_until(held_by_one_consumer, within=30)
            await consumer.stop()  # SIGKILL
            await wait_until(released, within=30)
        assert await ledger_counts(engine) == (0, 0, 0)
        await database.restore()
        consumer = await LedgerProcess(
            "consume", database.url(ledger_db), amqp_url, ["--max-failures", "3"]
        ).start()
        try:
            await recorded(engine, total)
        finally:
            await consumer.stop()
    assert await ledger_counts(engine) == (total, total, 0)
    async with await aio_pika.connect(amqp_url) as connection:
        dlq = await (await connection.channel()).declare_queue(ledger_queue().dlq, passive=True)
        assert dlq.declaration_result.message_count == 0
