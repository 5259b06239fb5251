"""Rate budgets for Allegro calls: token buckets, shared between replicas through PostgreSQL.

Allegro blocks the whole Client ID for about a minute past 9,000 requests/min, so every process
of the platform draws from one budget per Client ID (each service its configured share of it),
and per seller from one budget per endpoint class. A 429 blocks the key for everyone: the
`blocked_until` of the shared row is what all replicas check before every call.

Two implementations of one interface: `MemoryBudgets` (one process) and `PostgresBudgets`
(several processes; one row per key in the service's database, updated atomically).

Callers reserve their turn (`reserve`): the bucket may go below zero, and each caller is told
how long to wait for the tokens it took, so many callers waiting on one budget cost one update
each (one for all of a process's callers that came while its last update ran) instead of
polling the row together each time a token comes back; the budget is spent in the order of the
reservations, without gaps, which is what keeps a busy budget at its rate.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(frozen=True)
class Limit:
    """`per_minute` calls (or offer changes) per minute, in bursts of `burst_seconds`' worth.

    Allegro counts every limit in a sliding window: whatever a bucket lets out at once comes on
    top of a full window at the budget's rate. One second's worth keeps that excess to a
    sixtieth of a minute, which the budgets' margins absorb; ten seconds' worth did not.
    """

    per_minute: float
    burst_seconds: float = 1.0

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0

    @property
    def capacity(self) -> float:
        return max(1.0, self.per_second * self.burst_seconds)

    def clamp(self, amount: float) -> float:
        """For `take`, which never lets a bucket go below zero: a call bigger than the bucket
        waits for a full bucket instead of forever. `reserve` charges the whole amount."""
        return min(amount, self.capacity)


class Budgets(Protocol):
    async def take(self, key: str, limit: Limit, amount: float = 1.0) -> float:
        """Take `amount` from `key`'s bucket; returns the seconds to wait (0: go ahead)."""
        ...

    async def reserve(
        self, key: str, limit: Limit, amount: float = 1.0, max_wait: float | None = None
    ) -> tuple[bool, float]:
        """Take `amount` now, to be used after the returned wait: (True, wait). Nothing is
        taken while `key` is blocked, nor when the wait would exceed `max_wait`: (False, the
        seconds until the block ends or the tokens would be there). An amount bigger than the
        bucket (a command of many offers) is charged whole: it waits until the budget's rate
        has earned it, so a big command spends as much of the budget as its offers."""
        ...

    async def blocked_for(self, key: str) -> float:
        """Seconds `key` stays blocked (0: not blocked)."""
        ...

    async def block(self, key: str, seconds: float) -> None:
        """Nobody calls on `key` for `seconds` (after a 429)."""
        ...


class MemoryBudgets:
    def __init__(self) -> None:
        self._tokens: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._blocked: dict[str, float] = {}

    async def take(self, key: str, limit: Limit, amount: float = 1.0) -> float:
        amount = limit.clamp(amount)
        now = time.monotonic()
        blocked = self._blocked.get(key, 0.0) - now
        if blocked > 0:
            return blocked
        tokens, at = self._tokens.get(key, (limit.capacity, now))
        tokens = min(limit.capacity, tokens + (now - at) * limit.per_second)
        if tokens >= amount:
            self._tokens[key] = (tokens - amount, now)
            return 0.0
        self._tokens[key] = (tokens, now)
        return (amount - tokens) / limit.per_second

    async def reserve(
        self, key: str, limit: Limit, amount: float = 1.0, max_wait: float | None = None
    ) -> tuple[bool, float]:
        now = time.monotonic()
        blocked = self._blocked.get(key, 0.0) - now
        if blocked > 0:
            return False, blocked
        tokens, at = self._tokens.get(key, (limit.capacity, now))
        tokens = min(limit.capacity, tokens + (now - at) * limit.per_second)
        wait = max(0.0, (amount - tokens) / limit.per_second)
        if max_wait is not None and wait > max_wait:
            self._tokens[key] = (tokens, now)
            return False, wait
        self._tokens[key] = (tokens - amount, now)
        return True, wait

    async def blocked_for(self, key: str) -> float:
        return max(0.0, self._blocked.get(key, 0.0) - time.monotonic())

    async def block(self, key: str, seconds: float) -> None:
        self._blocked[key] = max(self._blocked.get(key, 0.0), time.monotonic() + seconds)


_ENSURE = sa.text(
    "INSERT INTO allegro_rate_budget (key, tokens, updated_at)"
    " VALUES (:key, :capacity, clock_timestamp()) ON CONFLICT (key) DO NOTHING"
)
# The refill is counted up to the moment the row was read (`at`), and the row keeps that
# moment: stamping it with the update's own clock lost the time between the two statements at
# every call (a few milliseconds under load, some 14% of a busy budget's rate in bench-offers).
_LOCK = sa.text(
    "SELECT tokens, clock_timestamp() AS at,"
    " extract(epoch FROM clock_timestamp() - updated_at) AS elapsed,"
    " extract(epoch FROM blocked_until - clock_timestamp()) AS blocked"
    " FROM allegro_rate_budget WHERE key = :key FOR UPDATE"
)
_SET = sa.text("UPDATE allegro_rate_budget SET tokens = :tokens, updated_at = :at WHERE key = :key")
_BLOCK = sa.text(
    """
    INSERT INTO allegro_rate_budget AS b (key, tokens, updated_at, blocked_until)
    VALUES (:key, 0, clock_timestamp(), clock_timestamp() + make_interval(secs => :seconds))
    ON CONFLICT (key) DO UPDATE SET
        blocked_until = GREATEST(COALESCE(b.blocked_until, clock_timestamp()),
                                 clock_timestamp() + make_interval(secs => :seconds)),
        tokens = 0, updated_at = clock_timestamp()
    """
)

# `reserve` in one statement, outside any transaction: the row is locked (its refill counted up
# to the moment it was locked, as in `_LOCK`), the decision made and the bucket written back at
# once. As `_LOCK` then `_SET` in a transaction it took five round trips (BEGIN, the two
# statements, COMMIT, and the connection's check) for every call to Allegro, at two budgets a
# call the most frequent statement of a service calling Allegro.
_RESERVE = sa.text(
    """
    WITH held AS (
        SELECT key, clock_timestamp() AS at,
            LEAST(CAST(:capacity AS float8), tokens
                  + CAST(extract(epoch FROM clock_timestamp() - updated_at) AS float8)
                  * CAST(:rate AS float8)) AS tokens,
            CAST(extract(epoch FROM blocked_until - clock_timestamp()) AS float8) AS blocked
        FROM allegro_rate_budget WHERE key = :key FOR UPDATE
    ), waited AS (
        SELECT held.*, GREATEST(0.0, (CAST(:amount AS float8) - tokens) / :rate) AS wait,
            COALESCE(blocked > 0, false) AS is_blocked
        FROM held
    ), decided AS (
        SELECT waited.*,
            NOT is_blocked AND (CAST(:max_wait AS float8) IS NULL OR wait <= :max_wait) AS granted
        FROM waited
    ), written AS (
        UPDATE allegro_rate_budget b
        SET tokens = d.tokens - CASE WHEN d.granted THEN CAST(:amount AS float8) ELSE 0 END,
            updated_at = d.at
        FROM decided d WHERE b.key = d.key AND NOT d.is_blocked
    )
    SELECT is_blocked, blocked, granted, wait FROM decided
    """
)

_BLOCKED_FOR = sa.text(
    "SELECT extract(epoch FROM blocked_until - clock_timestamp()) FROM allegro_rate_budget"
    " WHERE key = :key"
)


class PostgresBudgets:
    """Budgets every replica of a service shares, in its database's `allegro_rate_budget`.

    Refill-and-take happens under the key row's lock, so concurrent replicas serialise on it
    and can never overdraw the bucket together.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Reservations of this process waiting for their key's statement, and the lock that
        # lets one statement at a time run per key (see `reserve`).
        self._waiting: dict[str, list[_Reservation]] = {}
        self._turns: dict[str, asyncio.Lock] = {}

    async def take(self, key: str, limit: Limit, amount: float = 1.0) -> float:
        amount = limit.clamp(amount)
        async with self.engine.begin() as conn:
            row = (await conn.execute(_LOCK, {"key": key})).first()
            if row is None:  # a new key: create its full bucket (concurrent creators wait here)
                await conn.execute(_ENSURE, {"key": key, "capacity": limit.capacity})
                row = (await conn.execute(_LOCK, {"key": key})).one()
            if row.blocked is not None and float(row.blocked) > 0:
                return float(row.blocked)
            tokens = min(limit.capacity, float(row.tokens) + float(row.elapsed) * limit.per_second)
            if tokens >= amount:
                await conn.execute(_SET, {"key": key, "tokens": tokens - amount, "at": row.at})
                return 0.0
            await conn.execute(_SET, {"key": key, "tokens": tokens, "at": row.at})
            return (amount - tokens) / limit.per_second

    async def reserve(
        self, key: str, limit: Limit, amount: float = 1.0, max_wait: float | None = None
    ) -> tuple[bool, float]:
        """The reservations this process makes on one key while a statement on it is under way
        go together in the next one: one round trip for all of them, each told its own turn
        (the row is locked for each statement anyway, so they would have queued there)."""
        mine = _Reservation(limit, amount, max_wait, asyncio.get_running_loop().create_future())
        waiting = self._waiting.setdefault(key, [])
        waiting.append(mine)
        try:
            async with self._turns.setdefault(key, asyncio.Lock()):
                if not mine.answer.done():
                    batch = [r for r in waiting if r.limit == limit]
                    for r in batch:
                        waiting.remove(r)
                    try:
                        answers = await self._reserve_together(key, limit, batch)
                    except asyncio.CancelledError:
                        # Only this caller was cancelled: the others wait for the next turn
                        # (tokens the statement took, if it ran, are left unused: never too many).
                        waiting[:0] = [r for r in batch if r is not mine]
                        raise
                    except Exception as exc:
                        for r in batch:
                            if r is not mine:
                                r.answer.set_exception(exc)
                        raise
                    for r, answer in zip(batch, answers, strict=True):
                        r.answer.set_result(answer)
        except asyncio.CancelledError:
            if mine in waiting:
                waiting.remove(mine)
            raise
        return mine.answer.result()

    async def _reserve_together(
        self, key: str, limit: Limit, batch: list[_Reservation]
    ) -> list[tuple[bool, float]]:
        """One statement for the batch's whole amount: the i-th caller's turn comes when the
        tokens up to its own are earned, `(total - up to its own) / rate` before the last.
        Granted only if every caller's turn is within its `max_wait`; if not (rare: a caller
        near its deadline), nothing was taken and each is reserved on its own."""
        total = sum(r.amount for r in batch)
        after: list[float] = []  # each caller's turn before the batch's last token
        earned = 0.0
        for r in batch:
            earned += r.amount
            after.append((total - earned) / limit.per_second)
        bounds = [
            r.max_wait + ahead
            for r, ahead in zip(batch, after, strict=True)
            if r.max_wait is not None
        ]
        blocked, granted, wait = await self._reserve(
            key, limit, total, min(bounds) if bounds else None
        )
        if blocked:
            return [(False, wait)] * len(batch)
        if granted:
            return [(True, max(0.0, wait - ahead)) for ahead in after]
        if len(batch) == 1:
            return [(False, wait)]
        answers = []
        for r in batch:
            blocked, granted, wait = await self._reserve(key, limit, r.amount, r.max_wait)
            answers.append((granted and not blocked, wait))
        return answers

    async def _reserve(
        self, key: str, limit: Limit, amount: float, max_wait: float | None
    ) -> tuple[bool, bool, float]:
        """(blocked, granted, seconds): the block's rest when blocked, else the wait."""
        values = {
            "key": key,
            "capacity": limit.capacity,
            "rate": limit.per_second,
            "amount": amount,
            "max_wait": max_wait,
        }
        async with self.engine.connect() as conn:
            # One statement is its own transaction: no BEGIN and COMMIT around it.
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            row = (await conn.execute(_RESERVE, values)).first()
            if row is None:  # a new key: its full bucket (concurrent creators wait on it)
                await conn.execute(_ENSURE, {"key": key, "capacity": limit.capacity})
                row = (await conn.execute(_RESERVE, values)).one()
        if row.is_blocked:
            return True, False, float(row.blocked)
        return False, bool(row.granted), float(row.wait)

    async def blocked_for(self, key: str) -> float:
        async with self.engine.connect() as conn:
            left = await conn.scalar(_BLOCKED_FOR, {"key": key})
        return max(0.0, float(left)) if left is not None else 0.0

    async def block(self, key: str, seconds: float) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(_BLOCK, {"key": key, "seconds": seconds})


@dataclass
class _Reservation:
    limit: Limit
    amount: float
    max_wait: float | None
    answer: asyncio.Future[tuple[bool, float]]


class TooLate(Exception):
    """The budget would serve the call only after its deadline."""


async def acquire(
    budgets: Budgets,
    key: str,
    limit: Limit,
    amount: float = 1.0,
    deadline: float | None = None,
) -> float:
    """Wait until `key` can serve `amount`; returns the seconds waited. With `deadline` (a
    `time.time()`), raise TooLate instead of waiting past it (nothing is taken then)."""
    waited = 0.0
    while True:
        max_wait = None if deadline is None else deadline - time.time()
        if max_wait is not None and max_wait < 0:
            raise TooLate(key)
        granted, wait = await budgets.reserve(key, limit, amount, max_wait)
        if not granted:
            if max_wait is not None and wait > max_wait:
                raise TooLate(key)
            wait = min(wait, 5.0)  # blocked: look again (the block may be lengthened)
            waited += wait
            await asyncio.sleep(wait)
            continue
        if wait <= 0:
            return waited
        waited += wait
        await asyncio.sleep(wait)
        # A 429 blocked the key while this call waited for its turn: the turn is gone.
        if await budgets.blocked_for(key) <= 0:
            return waited
