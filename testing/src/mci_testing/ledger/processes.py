"""Start the ledger's consumer and relay as real processes, so tests can SIGKILL them."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass
class LedgerProcess:
    command: str
    db: str
    amqp: str
    extra: list[str] = field(default_factory=list)
    process: asyncio.subprocess.Process | None = None

    async def start(self, ready_within: float = 60.0) -> LedgerProcess:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mci_testing.ledger",
            self.command,
            "--db",
            self.db,
            "--amqp",
            self.amqp,
            *self.extra,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self.process.stdout is not None
        async with asyncio.timeout(ready_within):
            while True:
                line = await self.process.stdout.readline()
                if not line:
                    raise RuntimeError(f"ledger {self.command} exited before it was ready")
                if line.strip() == b"ready":
                    break
        # Keep reading so a full pipe never blocks the child.
        self._reader = asyncio.create_task(self._drain())
        return self

    async def _drain(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while await self.process.stdout.readline():
            pass

    async def wait(self, within: float = 60.0) -> int:
        assert self.process is not None
        async with asyncio.timeout(within):
            return await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)
            await self.process.wait()


async def ledger_counts(engine: AsyncEngine) -> tuple[int, int, int]:
    """(rows, distinct seqs, seqs recorded more than once)."""
    async with engine.connect() as conn:
        rows, distinct = (
            await conn.execute(sa.text("SELECT count(*), count(DISTINCT seq) FROM ledger"))
        ).one()
        doubled = await conn.scalar(
            sa.text(
                "SELECT count(*) FROM (SELECT seq FROM ledger GROUP BY seq HAVING count(*) > 1) d"
            )
        )
    return int(rows), int(distinct), int(doubled or 0)
