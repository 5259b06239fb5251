"""The outbox relay: publishes committed outbox rows, marks them published after the confirm.

Claims a batch with `FOR UPDATE SKIP LOCKED` (several replicas never publish the same row at
once), publishes every row persistent and mandatory (except events only outside subscribers
take, `Event.requires_consumer`) on a confirming channel, awaits the confirms
together (one-by-one confirms are ~5x slower), and marks only the confirmed rows. A row whose
publish failed or timed out stays pending and is retried: consumers deduplicate by message id.
Wakes on the `outbox` NOTIFY that an insert fires, with a short poll as a fallback. A nack (e.g.
a full queue with `reject-publish` overflow) is a failed publish like any other. Every 10
minutes it prunes published rows past retention, old inbox rows and stale failure counts, in
batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import asyncpg
import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import metrics
from shared.db import plain_dsn
from shared.events import OPTIONAL_ROUTING_KEYS
from shared.logs import get_logger
from shared.messaging.broker import Broker

log = get_logger(__name__)

_CLAIM = sa.text(
    "SELECT id, exchange, routing_key, type, payload::text AS payload, headers::text AS headers,"
    " attempts FROM outbox WHERE published_at IS NULL AND id <> ALL(CAST(:held AS uuid[]))"
    " ORDER BY created_at LIMIT :limit FOR UPDATE SKIP LOCKED"
)
_MARK_PUBLISHED = sa.text("UPDATE outbox SET published_at = now() WHERE id = ANY(:ids)")
_MARK_FAILED = sa.text(
    "UPDATE outbox SET attempts = attempts + 1, last_error = :error WHERE id = ANY(:ids)"
)
_BACKLOG = sa.text("SELECT count(*), min(created_at) FROM outbox WHERE published_at IS NULL")
# Pruning deletes in batches, each its own short transaction: one DELETE of a week of history
# would hold its locks and bloat WAL for as long as it runs. `published_at < x` implies NOT
# NULL, so the partial index outbox_published_at serves it and pending rows are never touched.
_PRUNE = {
    "outbox": sa.text(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at < :before"
        " LIMIT :limit)"
    ),
    "inbox": sa.text(
        "DELETE FROM inbox WHERE (consumer, message_id) IN (SELECT consumer, message_id"
        " FROM inbox WHERE processed_at < :before LIMIT :limit)"
    ),
    "message_failures": sa.text(
        "DELETE FROM message_failures WHERE (consumer, message_id) IN (SELECT consumer,"
        " message_id FROM message_failures WHERE last_failed_at < :before LIMIT :limit)"
    ),
}
PRUNE_INTERVAL = 600.0


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        broker: Broker,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        publish_timeout: float = 10.0,
        retention: timedelta = timedelta(days=7),
        lanes: int = 2,
        prune_batch: int = 5000,
        retry_base: float = 0.5,
        optional_routing_keys: frozenset[str] = OPTIONAL_ROUTING_KEYS,
    ) -> None:
        self.engine = engine
        self.broker = broker
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.publish_timeout = publish_timeout
        self.retention = retention
        self.lanes = lanes
        self.prune_batch = prune_batch
        # A failed row waits retry_base * 2**attempts seconds (at most 60) before its next try.
        self.retry_base = retry_base
        self.optional_routing_keys = optional_routing_keys
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._last_metrics = 0.0
        # Rows whose publish failed, not retried before the given time (per-row backoff).
        self._held: dict[Any, float] = {}
        # Exchange handles of the (robust, long-lived) publish channel, by name.
        self._exchanges: dict[str, Any] = {}
        self._last_prune = 0.0

    async def run(self) -> None:
        """Publish until cancelled. Errors are logged and retried; the relay never gives up.

        Several lanes claim disjoint batches (SKIP LOCKED), so one batch's confirms are awaited
        while the next is read and sent.
        """
        try:
            await asyncio.gather(*(self._lane(number) for number in range(self.lanes)))
        finally:
            await self._close_listener()

    async def _lane(self, number: int) -> None:
        backoff = 0.5
        while True:
            try:
                if number == 0:
                    await self._ensure_listener()
                    await self._housekeeping()
                self._wake.clear()  # a NOTIFY arriving from here on wakes the next sleep
                published = await self.publish_pending()
                backoff = 0.5
                if published < self.batch_size:
                    await self._sleep(self.poll_interval)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox_relay_error", lane=number, error=repr(exc), retry_in=backoff)
                if number == 0:
                    await self._close_listener()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; returns how many rows it claimed."""
        async with self.engine.begin() as conn:
            held = self._held_rows()
            rows = (
                (await conn.execute(_CLAIM, {"limit": self.batch_size, "held": held}))
                .mappings()
                .all()
            )
            if not rows:
                return 0
            channel = await self.broker.publish_channel()
            outcomes = await asyncio.gather(
                *(self._publish(channel, row) for row in rows), return_exceptions=True
            )
            confirmed = [row["id"] for row, error in zip(rows, outcomes, strict=True) if not error]
            failed = [(row, error) for row, error in zip(rows, outcomes, strict=True) if error]
            if confirmed:
                await conn.execute(_MARK_PUBLISHED, {"ids": confirmed})
            if failed:
                await conn.execute(
                    _MARK_FAILED,
                    {"ids": [row["id"] for row, _ in failed], "error": repr(failed[0][1])[:500]},
                )
                log.warning(
                    "outbox_publish_failed",
                    count=len(failed),
                    first_error=repr(failed[0][1]),
                    retry_in=self._hold(failed),
                )
        return len(rows)

    def _hold(self, failed: Sequence[tuple[Any, BaseException]]) -> float:
        """Back off rows that failed (e.g. unroutable until their consumer declares a queue)."""
        now = time.monotonic()
        delay = 0.0
        for row, _ in failed:
            delay = min(60.0, self.retry_base * 2 ** min(row["attempts"], 7))
            self._held[row["id"]] = now + delay
        return delay

    def _held_rows(self) -> list[str]:
        now = time.monotonic()
        for row_id in [r for r, until in self._held.items() if until <= now]:
            del self._held[row_id]
        return [str(r) for r in self._held]

    async def _publish(self, channel: Any, row: Any) -> BaseException | None:
        headers = orjson.loads(row["headers"])
        message = aio_pika.Message(
            body=row["payload"].encode(),
            message_id=str(row["id"]),
            type=row["type"],
            correlation_id=headers.get("x-correlation-id"),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers={k: v for k, v in headers.items() if v is not None},
            timestamp=datetime.now(UTC),
        )
        try:
            exchange = self._exchanges.get(row["exchange"])
            if exchange is None:
                exchange = await channel.get_exchange(row["exchange"], ensure=False)
                self._exchanges[row["exchange"]] = exchange
            await exchange.publish(
                message,
                routing_key=row["routing_key"],
                mandatory=row["routing_key"] not in self.optional_routing_keys,
                timeout=self.publish_timeout,
            )
        except Exception as exc:  # returned, nacked, timed out or channel closed: retry later
            result = "returned" if isinstance(exc, aio_pika.exceptions.DeliveryError) else "failed"
            metrics.messages_published.labels(row["routing_key"], result).inc()
            return exc
        metrics.messages_published.labels(row["routing_key"], "confirmed").inc()
        return None

    async def refresh_backlog_metrics(self) -> tuple[int, float]:
        async with self.engine.connect() as conn:
            count, oldest = (await conn.execute(_BACKLOG)).one()
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        metrics.outbox_pending.set(count)
        metrics.outbox_oldest_age.set(age)
        return int(count), age

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_metrics >= 5.0:
            self._last_metrics = now
            await self.refresh_backlog_metrics()
        if now - self._last_prune < PRUNE_INTERVAL:
            return
        self._last_prune = now
        await self.prune()

    async def prune(self) -> dict[str, int]:
        """Delete history past retention, in batches; returns the rows deleted per table."""
        before = datetime.now(UTC) - self.retention
        cutoffs = {
            "outbox": before,
            # The inbox only needs to outlive any redelivery; twice the outbox retention is ample.
            "inbox": before - self.retention,
            # A failure count this old belongs to a message long handled or dead-lettered.
            "message_failures": before - self.retention,
        }
        deleted = dict.fromkeys(cutoffs, 0)
        for table, cutoff in cutoffs.items():
            while True:
                async with self.engine.begin() as conn:
                    result = await conn.execute(
                        _PRUNE[table], {"before": cutoff, "limit": self.prune_batch}
                    )
                deleted[table] += result.rowcount
                if result.rowcount < self.prune_batch:
                    break
                await asyncio.sleep(0)  # let the other lanes publish between batches
        if any(deleted.values()):
            log.info("outbox_inbox_pruned", **deleted)
        return deleted

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        url = self.engine.url.render_as_string(hide_password=False)
        self._listener = await asyncpg.connect(plain_dsn(url))
        await self._listener.add_listener("outbox", lambda *_: self._wake.set())

    async def _close_listener(self) -> None:
        if self._listener is not None:
            try:
                await self._listener.close(timeout=2)
            except Exception:  # already broken; nothing to release
                self._listener.terminate()
            self._listener = None

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
