"""`make bench-messaging`: raw broker throughput vs the platform's reliable pipeline.

(a) raw aio-pika: publish with confirms (awaited in batches) -> quorum queue -> a consumer
    process acking each message (prefetch 256);
(b) the same number of events through outbox -> relay -> broker -> inbox consumer, with a
    database write (a ledger row) per event, relay and consumer in their own processes.

Both use the same message size and process layout, on a throw-away database and vhost.
Writes bench/results/messaging.json: both rates, their ratio (target >= 0.6) and where (b)
spends its time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aio_pika
import sqlalchemy as sa

from mci_testing import infra
from mci_testing.ledger import MIGRATIONS, ledger_queue, produce
from mci_testing.ledger.processes import LedgerProcess
from shared.db import create_engine, migrate
from shared.logs import correlation_scope
from shared.messaging.broker import Broker
from shared.messaging.topology import QueueSpec, declare_queue, events
from shared.uow import unit_of_work

RESULTS = Path(__file__).parent / "results" / "messaging.json"
RAW_QUEUE = QueueSpec("bench.raw", events("bench.raw"))


async def raw_consume(amqp: str, count: int, prefetch: int) -> None:
    """Child process of (a): ack `count` messages, then print the time the last one came."""
    connection = await aio_pika.connect_robust(amqp)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=prefetch)
    queue = await declare_queue(channel, RAW_QUEUE)
    done = asyncio.Event()
    seen = 0

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal seen
        await message.ack()
        seen += 1
        if seen >= count:
            done.set()

    await queue.consume(on_message)
    print("ready", flush=True)
    await done.wait()
    print(f"done {time.time()}", flush=True)
    await connection.close()


async def bench_raw(amqp: str, count: int, body: bytes, confirm_batch: int) -> float:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "raw-consume",
        "--amqp",
        amqp,
        "--count",
        str(count),
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    assert (await child.stdout.readline()).strip() == b"ready"
    connection = await aio_pika.connect_robust(amqp)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange("mci.events")
    started = time.time()
    for first in range(0, count, confirm_batch):
        await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key="bench.raw",
                    mandatory=True,
                )
                for _ in range(first, min(first + confirm_batch, count))
            )
        )
    line = (await child.stdout.readline()).decode().split()
    await child.wait()
    await connection.close()
    return count / (float(line[1]) - started)


async def bench_pipeline(
    db: str,
    amqp: str,
    count: int,
    write_batch: int,
    consumer_batch: int,
    prefetch: int,
    relay_batch: int = 500,
    lanes: int = 2,
) -> dict[str, float]:
    engine = create_engine(db)
    broker = Broker(amqp, "bench")
    await broker.connect()
    await declare_queue(await broker.publish_channel(), ledger_queue())
    await broker.close()
    relay = await LedgerProcess(
        "relay", db, amqp, ["--batch-size", str(relay_batch), "--lanes", str(lanes)]
    ).start()
    consumer = await LedgerProcess(
        "consume", db, amqp, ["--batch-size", str(consumer_batch), "--prefetch", str(prefetch)]
    ).start()
    marks: dict[str, float] = {}
    try:
        started = time.time()
        with correlation_scope("bench"):
            for first in range(0, count, write_batch):
                async with unit_of_work(engine, "ledger") as uow:
                    await produce(uow, range(first, min(first + write_batch, count)))
        marks["written"] = time.time() - started
        async with engine.connect() as conn:
            while True:
                pending, recorded = (
                    await conn.execute(
                        sa.text(
                            "SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL),"
                            " (SELECT count(*) FROM ledger)"
                        )
                    )
                ).one()
                now = time.time() - started
                if not pending and "published" not in marks:
                    marks["published"] = now
                if recorded >= count:
                    marks["consumed"] = now
                    break
                await asyncio.sleep(0.02)
    finally:
        await relay.stop()
        await consumer.stop()
        await engine.dispose()
    return marks


async def main(args: argparse.Namespace) -> None:
    async with infra.Throwaway() as env:
        db = await env.database("bench_messaging")
        amqp = env.amqp_url
        await migrate(MIGRATIONS, db)
        sample = await sample_envelope_size(db)
        body = b"x" * sample
        raw_rates = [
            await bench_raw(amqp, args.count, body, args.confirm_batch) for _ in range(args.runs)
        ]
        pipeline_runs = []
        for _ in range(args.runs):
            await reset(db)
            marks = await bench_pipeline(
                db,
                amqp,
                args.count,
                args.write_batch,
                args.consumer_batch,
                args.prefetch,
                args.relay_batch,
                args.lanes,
            )
            pipeline_runs.append(marks)

    raw = sorted(raw_rates)[len(raw_rates) // 2]
    best = sorted(pipeline_runs, key=lambda m: m["consumed"])[len(pipeline_runs) // 2]
    pipeline = args.count / best["consumed"]
    results: list[dict[str, Any]] = [
        {
            "figure": "raw_publish_confirm_consume_ack",
            "value": round(raw),
            "unit": "msg/s",
            "target": None,
            "note": f"{args.count} msgs of {sample} B, quorum queue, confirms in batches of "
            f"{args.confirm_batch}, consumer process prefetch 256; median of {args.runs}",
        },
        {
            "figure": "outbox_relay_inbox_pipeline",
            "value": round(pipeline),
            "unit": "msg/s",
            "target": None,
            "note": f"outbox writes in transactions of {args.write_batch}, relay batch "
            f"{args.relay_batch} x {args.lanes} lanes, "
            f"consumer batch {args.consumer_batch} prefetch {args.prefetch}, one ledger row per "
            f"event; median of {args.runs}",
        },
        {
            "figure": "pipeline_to_raw_ratio",
            "value": round(pipeline / raw, 3),
            "unit": "ratio",
            "target": 0.6,
            "ratio": round(pipeline / raw, 3),
        },
        {
            "figure": "pipeline_outbox_write_rate",
            "value": round(args.count / best["written"]),
            "unit": "rows/s",
            "target": None,
            "note": "where the time goes: writing events into the outbox alone",
        },
        {
            "figure": "pipeline_published_at",
            "value": round(best["published"], 2),
            "unit": "s",
            "target": None,
            "note": "where the time goes: outbox drained (all confirmed) after this long",
        },
        {
            "figure": "pipeline_consumed_at",
            "value": round(best["consumed"], 2),
            "unit": "s",
            "target": None,
            "note": "where the time goes: last ledger row committed after this long",
        },
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


async def sample_envelope_size(db: str) -> int:
    engine = create_engine(db)
    async with unit_of_work(engine, "ledger") as uow:
        [envelope] = await produce(uow, range(123456, 123457))
    await reset(db)
    await engine.dispose()
    return len(envelope.model_dump_json())


async def reset(db: str) -> None:
    engine = create_engine(db)
    async with engine.begin() as conn:
        await conn.execute(sa.text("TRUNCATE outbox, inbox, ledger"))
    await engine.dispose()


def cli() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", nargs="?", default="bench", choices=["bench", "raw-consume"])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--amqp", default="")
    parser.add_argument("--confirm-batch", type=int, default=500)
    parser.add_argument("--write-batch", type=int, default=500)
    parser.add_argument("--consumer-batch", type=int, default=200)
    parser.add_argument("--prefetch", type=int, default=500)
    parser.add_argument("--relay-batch", type=int, default=500)
    parser.add_argument("--lanes", type=int, default=2)
    args = parser.parse_args()
    if args.command == "raw-consume":
        asyncio.run(raw_consume(args.amqp, args.count, 256))
    else:
        asyncio.run(main(args))


if __name__ == "__main__":
    cli()
