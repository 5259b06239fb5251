"""A minimal service used by the fault tests and the messaging benchmark.

Its one handler writes a ledger row per message, so a test can count effects: a lost message is
a missing seq, a double effect is a seq twice. Run pieces of it as separate processes (so that
they can be SIGKILLed) with `python -m shared.testing.ledger consume|relay|produce ...`.
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from shared.events import Envelope, Event
from shared.logs import correlation_id_var
from shared.messaging.consumer import Handler
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


def ledger_queue(delivery_limit: int = 10) -> QueueSpec:
    return QueueSpec("ledger.entries", events("ledger.entry"), delivery_limit=delivery_limit)


class PoisonedMessage(RuntimeError):
    pass


_RECORD = sa.text(
    "INSERT INTO ledger (message_id, seq, correlation_id, pid) VALUES (:mid, :seq, :cid, :pid)"
)


async def record_entry(event: LedgerEntryRequested, uow: UnitOfWork) -> None:
    conn = uow.connection
    if event.poison:
        cured = await conn.scalar(
            sa.text("SELECT 1 FROM cured WHERE seq = :seq"), {"seq": event.seq}
        )
        if not cured:
            raise PoisonedMessage(f"entry {event.seq} is poisoned")
    if event.sleep_seconds:
        await conn.execute(sa.text("SELECT pg_sleep(:s)"), {"s": event.sleep_seconds})
    assert uow.incoming is not None
    await conn.execute(
        _RECORD,
        {
            "mid": uow.incoming.id,
            "seq": event.seq,
            "cid": correlation_id_var.get(),
            "pid": os.getpid(),
        },
    )


HANDLERS: dict[type[Event], Handler] = {LedgerEntryRequested: record_entry}


async def produce(uow: UnitOfWork, seqs: range, **fields: object) -> list[Envelope]:
    return await uow.emit(*(LedgerEntryRequested(seq=seq, **fields) for seq in seqs))
