"""`python -m mci_testing.ledger consume|relay|produce`: the ledger pieces as processes.

Fault switches (for the fault tests only):
- consume --crash-after-commit SEQ: SIGKILL itself after the commit of SEQ, before its ack;
- consume --crash-before-commit SEQ: SIGKILL itself once SEQ's handler has run, just before
  the COMMIT of its transaction is sent;
- relay --crash-before-publish: SIGKILL itself after claiming rows, before publishing them;
- relay --crash-after-confirm: SIGKILL itself once the broker confirmed a batch, just before
  the COMMIT that marks its rows published.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from mci_testing.ledger import HANDLERS, ledger_queue, produce
from shared.db import create_engine
from shared.logs import configure_logging, correlation_scope, get_logger
from shared.messaging.broker import Broker
from shared.messaging.consumer import Consumer
from shared.messaging.relay import OutboxRelay
from shared.uow import unit_of_work

log = get_logger("ledger")


class CrashingConsumer(Consumer):
    def __init__(self, *args: Any, crash_seq: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crash_seq = crash_seq

    async def _ack_committed(self, messages: Any, handled: Any, duplicates: Any) -> None:
        if any(getattr(d.event, "seq", None) == self.crash_seq for d in handled):
            log.warning("crashing_after_commit_before_ack", seq=self.crash_seq)
            os.kill(os.getpid(), signal.SIGKILL)
        await super()._ack_committed(messages, handled, duplicates)


class CrashingRelay(OutboxRelay):
    async def _publish(self, channel: Any, row: Any) -> BaseException | None:
        log.warning("crashing_before_publish", message_id=str(row["id"]))
        os.kill(os.getpid(), signal.SIGKILL)
        return None


class _CrashBeforeCommit:
    """SIGKILL the process at the next COMMIT once armed (SQLAlchemy's `commit` event runs
    just before the COMMIT is sent, after everything else in the transaction)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.armed = False
        event.listen(engine.sync_engine, "commit", self._on_commit)

    def _on_commit(self, _conn: Any) -> None:
        if self.armed:
            log.warning("crashing_before_commit")
            os.kill(os.getpid(), signal.SIGKILL)


class CrashBeforeCommitConsumer(Consumer):
    def __init__(self, *args: Any, crash_seq: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crash_seq = crash_seq
        self.crash = _CrashBeforeCommit(self.engine)

    async def _commit_batch(self, deliveries: Any) -> Any:
        # Armed for the transaction that handles the seq: the handlers' work is done in it.
        self.crash.armed = any(getattr(d.event, "seq", None) == self.crash_seq for d in deliveries)
        try:
            return await super()._commit_batch(deliveries)
        finally:
            self.crash.armed = False


class CrashAfterConfirmRelay(OutboxRelay):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crash = _CrashBeforeCommit(self.engine)

    async def _publish(self, channel: Any, row: Any) -> BaseException | None:
        error = await super()._publish(channel, row)
        if error is None:
            self.crash.armed = True  # confirmed: the mark's COMMIT is the next one
        return error


async def consume(args: argparse.Namespace) -> None:
    engine = create_engine(args.db, application_name="ledger-consumer")
    broker = Broker(args.amqp, "ledger")
    await broker.connect()
    kwargs: dict[str, Any] = {
        "source": "ledger",
        "prefetch": args.prefetch,
        "batch_size": args.batch_size,
    }
    spec = ledger_queue(args.max_failures)
    consumer: Consumer
    if args.crash_after_commit is not None:
        consumer = CrashingConsumer(
            spec, HANDLERS, engine, crash_seq=args.crash_after_commit, **kwargs
        )
    elif args.crash_before_commit is not None:
        consumer = CrashBeforeCommitConsumer(
            spec, HANDLERS, engine, crash_seq=args.crash_before_commit, **kwargs
        )
    else:
        consumer = Consumer(spec, HANDLERS, engine, **kwargs)
    await consumer.start(await broker.consume_channel(args.prefetch))
    print("ready", flush=True)
    await asyncio.Event().wait()


async def relay(args: argparse.Namespace) -> None:
    engine = create_engine(args.db, application_name="ledger-relay")
    broker = Broker(args.amqp, "ledger-relay")
    await broker.connect()
    relay_class: type[OutboxRelay] = OutboxRelay
    if args.crash_before_publish:
        relay_class = CrashingRelay
    elif args.crash_after_confirm:
        relay_class = CrashAfterConfirmRelay
    print("ready", flush=True)
    await relay_class(
        engine, broker, batch_size=args.batch_size, poll_interval=0.2, lanes=args.lanes
    ).run()


async def produce_entries(args: argparse.Namespace) -> None:
    engine = create_engine(args.db, application_name="ledger-producer")
    with correlation_scope(args.correlation_id):
        for start in range(args.start, args.start + args.count, args.batch_size):
            stop = min(start + args.batch_size, args.start + args.count)
            async with unit_of_work(engine, "ledger") as uow:
                await produce(uow, range(start, stop))
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m mci_testing.ledger")
    parser.add_argument("command", choices=["consume", "relay", "produce"])
    parser.add_argument("--db", required=True)
    parser.add_argument("--amqp", default="")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--prefetch", type=int, default=256)
    parser.add_argument("--max-failures", type=int, default=5)
    parser.add_argument("--lanes", type=int, default=2)
    parser.add_argument("--crash-after-commit", type=int)
    parser.add_argument("--crash-before-commit", type=int)
    parser.add_argument("--crash-before-publish", action="store_true")
    parser.add_argument("--crash-after-confirm", action="store_true")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--correlation-id")
    args = parser.parse_args()
    configure_logging("ledger", "INFO", json=True)
    runner = {"consume": consume, "relay": relay, "produce": produce_entries}[args.command]
    asyncio.run(runner(args))


if __name__ == "__main__":
    main()
