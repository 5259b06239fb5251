"""Time as the connector sees it: Unix seconds, and a sleep that can be moved.

BigBuy's `X-RateLimit-Reset` is a Unix time, so every schedule here is one too. Production uses
the system clock; tests use the BigBuy emulator's clock (a sleep moves it forward), so a
simulated day runs in seconds without the connector knowing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
