"""A minimal service used by the fault tests and the messaging benchmark.

Its one handler writes a ledger row per message, so a test can count effects: a lost message is
a missing seq, a double effect is a seq twice. Run pieces of it as separate processes (so that
they can be SIGKILLed) with `python -m mci_testing.ledger consume|relay|produce ...`.
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from shared.events import Envelope, Event
from shared.messaging.consumer import BatchHandler, Handler
from shared.messaging.topology import QueueSpec, events
from shared.uow import UnitOfWork

MIGRATIONS = Path(__file__).parent / "migrations"


class LedgerEntryRequested(Event):
    event_type = "LedgerEntryRequested"
    routing_key = "ledger.entry"
    summary = "Test-only: write one ledger row."

    seq: int
    poison: bool = False
    sleep_seconds: float = 0.0


def ledger_queue(max_failures: int = 5, handler_timeout: float = 60.0) -> QueueSpec:
    return QueueSpec(
        "ledger.entries",
        events("ledger.entry"),
        max_failures=max_failures,
        handler_timeout=handler_timeout,
    )


class PoisonedMessage(RuntimeError):
    pass


_RECORD = sa.text(
    "INSERT INTO ledger (message_id, seq, correlation_id, pid) VALUES (:mid, :seq, :cid, :pid)"
)


async def record_entries(
    entries: list[tuple[Envelope, LedgerEntryRequested]], uow: UnitOfWork
) -> None:
    """One ledger row per event, written in one statement for the whole batch."""
    conn = uow.connection
    poisoned = [event.seq for _, event in entries if event.poison]
    if poisoned:
        cured = set(
            (
                await conn.execute(
                    sa.text("SELECT seq FROM cured WHERE seq = ANY(:seqs)"), {"seqs": poisoned}
                )
            ).scalars()
        )
        if set(poisoned) - cured:
            raise PoisonedMessage(f"entries {sorted(set(poisoned) - cured)} are poisoned")
    pause = max(event.sleep_seconds for _, event in entries)
    if pause:
        await conn.execute(sa.text("SELECT pg_sleep(:s)"), {"s": pause})
    await conn.execute(
        _RECORD,
        [
            {
                "mid": envelope.id,
                "seq": event.seq,
                "cid": envelope.correlation_id,
                "pid": os.getpid(),
            }
            for envelope, event in entries
        ],
    )


HANDLERS: dict[type[Event], Handler] = {LedgerEntryRequested: BatchHandler(record_entries)}


async def produce(uow: UnitOfWork, seqs: range, **fields: object) -> list[Envelope]:
    return await uow.emit(*(LedgerEntryRequested(seq=seq, **fields) for seq in seqs))
