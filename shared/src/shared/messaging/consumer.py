"""The idempotent consumer: handler and inbox row in one transaction, ack after commit.

Deliveries are gathered into small batches (up to `batch_size`, or `batch_wait` seconds) and
handled in ONE transaction together with their inbox rows: one commit per batch instead of per
message is what lets the pipeline keep up with the broker. If any handler of the batch raises,
the batch is rolled back and its messages are handled again one transaction each, so only the
failing message is retried.

Outcomes (failures are classified by where they come from, `messaging/errors.py`):
- handled: committed, then acked;
- duplicate (inbox row already there): acked without running the handler;
- malformed (not an envelope, unknown type): rejected without requeue, i.e. dead-lettered now;
- the handler's own code raised, or ran past the queue's `handler_timeout`: the failure is
  counted in `message_failures` (its own transaction) and the message rejected with requeue;
  at `max_failures` it is published to `<queue>.dlq` with the reason (confirmed), then acked;
- the database is unreachable, dropped the connection or is read-only: nothing is acked or
  counted, the batch is retried in-process with backoff until the database answers;
- statement or lock timeout, deadlock, serialization failure: retried in-process a few times,
  then counted like a handler failure (a statement that always times out must not block).

Failures are counted here, not by RabbitMQ's delivery count: that one also grows when a
connection dies with the message unacked, so broker blips during a database outage would
dead-letter good messages. The queue's `x-delivery-limit` stays as a high backstop.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import sqlalchemy as sa
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import metrics
from shared.events import Envelope, Event
from shared.logs import correlation_scope, get_logger
from shared.messaging.errors import Failure, database_failure, infrastructure_failure
from shared.messaging.topology import DEAD_LETTER_EXCHANGE, QueueSpec, declare_queue
from shared.uow import UnitOfWork

log = get_logger(__name__)

Handler = Callable[[Any, UnitOfWork], Awaitable[Any]]


def persistent_copy(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    """The same message (body, ids, type, timestamp) with other headers, to publish again."""
    return aio_pika.Message(
        body=message.body,
        message_id=message.message_id,
        type=message.type,
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers=headers,
        timestamp=message.timestamp,
    )


@dataclass(frozen=True)
class BatchHandler:
    """A handler that takes all the batch's events of its type at once, `[(envelope, event)]`.

    For set-based writes (one statement for many events). It runs in the batch's transaction
    like any handler; if it raises, the batch is handled again one message at a time, so it
    must accept a list of one.
    """

    handle: Callable[[list[tuple[Envelope, Any]], UnitOfWork], Awaitable[None]]

    async def __call__(self, event: Any, uow: UnitOfWork) -> None:
        assert uow.incoming is not None
        await self.handle([(uow.incoming, event)], uow)


_CLAIM_INBOX = sa.text(
    "INSERT INTO inbox (consumer, message_id, processed_at)"
    " SELECT :consumer, unnest(CAST(:ids AS uuid[])), now()"
    " ON CONFLICT DO NOTHING RETURNING message_id"
)


_RECORD_FAILURE = sa.text(
    "INSERT INTO message_failures AS f (consumer, message_id, failures, last_error)"
    " VALUES (:consumer, :message_id, 1, :error)"
    " ON CONFLICT (consumer, message_id) DO UPDATE"
    " SET failures = f.failures + 1, last_failed_at = now(), last_error = EXCLUDED.last_error"
    " RETURNING failures"
)
_CLEAR_FAILURES = sa.text(
    "DELETE FROM message_failures WHERE consumer = :consumer"
    " AND message_id = ANY(CAST(:ids AS uuid[]))"
)
# Contention errors retried in-process before they count as a failure of the message.
CONTENTION_RETRIES = 5
# Dead-letter headers (the DLQ tools read them, replay strips them).
REASON_HEADER = "x-mci-dead-letter-reason"
FAILURES_HEADER = "x-mci-failures"
ERROR_HEADER = "x-mci-error"
ROUTING_KEY_HEADER = "x-mci-routing-key"
DEAD_LETTERED_AT_HEADER = "x-mci-dead-lettered-at"


@dataclass
class _Delivery:
    message: AbstractIncomingMessage
    envelope: Envelope
    event: Event
    handler: Handler


class Consumer:
    """Consumes one queue and dispatches each message by its event type to a handler."""

    def __init__(
        self,
        spec: QueueSpec,
        handlers: Mapping[type[Event], Handler],
        engine: AsyncEngine,
        *,
        source: str,
        prefetch: int = 256,
        batch_size: int = 100,
        batch_wait: float = 0.02,
        max_backoff: float = 5.0,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.engine = engine
        self.source = source
        self.prefetch = prefetch
        self.batch_size = batch_size
        self.batch_wait = batch_wait
        self.max_backoff = max_backoff
        self.handlers = {cls.event_type: (cls, handler) for cls, handler in handlers.items()}
        self._pending: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.channel: AbstractChannel | None = None
        self.queue: AbstractQueue | None = None
        self.consumer_tag: str | None = None
        self._stopping = False
        # In-process retries after database failures, by kind (for logs, metrics and tests).
        self.database_retries: dict[Failure, int] = {Failure.OUTAGE: 0, Failure.CONTENTION: 0}

    async def start(self, channel: AbstractChannel) -> None:
        self.channel = channel  # strong reference: aio-pika only keeps a weak one
        self.queue = await declare_queue(channel, self.spec)
        self._worker = asyncio.create_task(self._work(), name=f"consumer:{self.name}")
        self.consumer_tag = await self.queue.consume(self._receive)

    async def _receive(self, message: AbstractIncomingMessage) -> None:
        await self._pending.put(message)

    @property
    def is_running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    async def stop(self) -> None:
        self._stopping = True
        if self.queue is not None and self.consumer_tag is not None:
            try:
                await asyncio.wait_for(self.queue.cancel(self.consumer_tag), 5)
            except Exception as exc:  # channel already gone: deliveries requeue anyway
                log.info("consumer_cancel_failed", queue=self.name, error=repr(exc))
        if self._worker is not None:
            self._worker.cancel()
            # aio-pika can turn a cancellation mid-ack into its own error, which the worker
            # survives: the stopping flag ends it, and the wait is bounded regardless.
            await asyncio.wait({self._worker}, timeout=10)

    async def _work(self) -> None:
        while not self._stopping:
            batch = [await self._pending.get()]
            deadline = time.monotonic() + self.batch_wait
            while len(batch) < self.batch_size:
                if not self._pending.empty():  # a backlog: take it without a timer per message
                    batch.append(self._pending.get_nowait())
                    continue
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._pending.get(), timeout))
                except TimeoutError:
                    break
            try:
                await self.handle_batch(batch)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one batch kill the consumer
                log.exception("consumer_batch_crashed", queue=self.name)

    async def handle_batch(self, messages: list[AbstractIncomingMessage]) -> None:
        deliveries = [d for m in messages if (d := await self._parse(m)) is not None]
        if not deliveries:
            return
        started = time.perf_counter()
        if len(deliveries) == 1:
            await self._handle_alone(deliveries[0])
        else:
            try:
                done, duplicates = await self._with_db_retry(deliveries)
            except _HandlerFailed:
                # One of them is bad: find it by handling each alone; the others still commit.
                # (Only those alone attempts count as failures of a message.)
                for delivery in deliveries:
                    await self._handle_alone(delivery)
            else:
                await self._ack_committed(messages, done, duplicates)
        metrics.handler_duration.labels(self.name).observe(time.perf_counter() - started)

    async def _handle_alone(self, delivery: _Delivery) -> None:
        backoff = min(0.2, self.max_backoff)
        while True:
            try:
                handled, duplicate = await self._with_db_retry([delivery])
            except _HandlerFailed as failed:
                try:
                    failures = await self._record_failure(delivery, failed)
                except Exception as exc:
                    # Not counted, so not retried through the broker either: if the failure
                    # cannot be written the database is the likelier culprit; wait for it.
                    log.warning(
                        "message_failure_not_recorded",
                        queue=self.name,
                        message_id=str(delivery.envelope.id),
                        error=repr(exc)[:500],
                        retry_in=backoff,
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.max_backoff)
                    continue
                if failures >= self.spec.max_failures:
                    await self._dead_letter(delivery, failed, failures)
                else:
                    await self._retry_later(delivery, failed, failures)
                return
            await self._ack_committed([delivery.message], handled, duplicate)
            return

    async def _commit_batch(
        self, deliveries: list[_Delivery]
    ) -> tuple[list[_Delivery], list[_Delivery]]:
        fresh: list[_Delivery] = []
        duplicates: list[_Delivery] = []
        async with self.engine.begin() as conn:
            unclaimed = await self._claim_inbox(conn, deliveries)
            for delivery in deliveries:
                # The first delivery of an id runs; a second copy in the same batch is a duplicate.
                if delivery.envelope.id in unclaimed:
                    unclaimed.discard(delivery.envelope.id)
                    fresh.append(delivery)
                else:
                    duplicates.append(delivery)
            batched: dict[BatchHandler, list[_Delivery]] = {}
            for delivery in fresh:
                if isinstance(delivery.handler, BatchHandler) and len(fresh) > 1:
                    batched.setdefault(delivery.handler, []).append(delivery)
                else:
                    with correlation_scope(
                        delivery.envelope.correlation_id, str(delivery.envelope.id)
                    ):
                        await self._guarded(
                            conn,
                            delivery.handler(
                                delivery.event,
                                UnitOfWork(conn, self.source, delivery.envelope),
                            ),
                        )
            for handler, group in batched.items():
                with correlation_scope(group[0].envelope.correlation_id):
                    await self._guarded(
                        conn,
                        handler.handle(
                            [(d.envelope, d.event) for d in group], UnitOfWork(conn, self.source)
                        ),
                    )
            # A message handled after earlier failures starts from zero if it ever comes back.
            retried = [
                str(d.envelope.id)
                for d in fresh
                if d.message.redelivered or (d.message.headers or {}).get("x-replayed")
            ]
            if retried:
                await conn.execute(_CLEAR_FAILURES, {"consumer": self.name, "ids": retried})
        return fresh, duplicates

    async def _guarded(self, conn: AsyncConnection, handling: Awaitable[Any]) -> None:
        """Run a handler call under the queue's timeout and classify what it raises."""
        timeout = asyncio.timeout(self.spec.handler_timeout)
        try:
            async with timeout:
                await handling
        except Exception as exc:
            if timeout.expired():
                raise _HandlerFailed(exc, "handler_timeout") from exc
            kind = database_failure(exc)
            if kind is None and conn.invalidated:
                kind = Failure.OUTAGE  # whatever it raised, its database connection died under it
            if kind is not None:
                raise _DatabaseFailed(kind, exc) from exc
            raise _HandlerFailed(exc) from exc

    async def _claim_inbox(
        self, conn: AsyncConnection, deliveries: list[_Delivery]
    ) -> set[uuid.UUID]:
        """Insert the inbox rows; returns the ids that were not processed before."""
        ids = list(dict.fromkeys(str(d.envelope.id) for d in deliveries))
        result = await conn.execute(_CLAIM_INBOX, {"consumer": self.name, "ids": ids})
        return set(result.scalars())

    async def _with_db_retry(
        self, deliveries: list[_Delivery]
    ) -> tuple[list[_Delivery], list[_Delivery]]:
        backoff = min(0.2, self.max_backoff)
        contention = 0
        while True:
            try:
                return await self._commit_batch(deliveries)
            except _HandlerFailed:
                raise
            except Exception as exc:
                if isinstance(exc, _DatabaseFailed):
                    kind: Failure | None = exc.kind
                    error: BaseException = exc.error
                else:  # the consumer's own statements: connecting, the inbox, COMMIT
                    kind, error = infrastructure_failure(exc), exc
                if kind is None:
                    raise _HandlerFailed(error) from exc
                if kind is Failure.CONTENTION:
                    contention += 1
                    if contention > CONTENTION_RETRIES:
                        raise _HandlerFailed(error, "database_contention") from exc
                self.database_retries[kind] += 1
                log.warning(
                    "consumer_database_unavailable"
                    if kind is Failure.OUTAGE
                    else "consumer_database_contention",
                    queue=self.name,
                    error=repr(error)[:500],
                    retry_in=backoff,
                    messages=len(deliveries),
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    async def _record_failure(self, delivery: _Delivery, failed: _HandlerFailed) -> int:
        """Count one failure of this message, in its own transaction; returns the count."""
        async with asyncio.timeout(10), self.engine.begin() as conn:
            failures = await conn.scalar(
                _RECORD_FAILURE,
                {
                    "consumer": self.name,
                    "message_id": delivery.envelope.id,
                    "error": repr(failed.error)[:2000],
                },
            )
        return int(failures or 0)

    async def _parse(self, message: AbstractIncomingMessage) -> _Delivery | None:
        try:
            envelope = Envelope.model_validate_json(message.body)
            if message.message_id and message.message_id != str(envelope.id):
                raise ValueError("AMQP message_id differs from the envelope id")
            event_class, handler = self.handlers[envelope.type]
            event = event_class.model_validate(envelope.data)
        except (ValidationError, ValueError, KeyError) as exc:
            log.error(
                "message_malformed_dead_lettered",
                queue=self.name,
                message_id=message.message_id,
                type=message.type,
                error=str(exc)[:500],
            )
            await self._settle(message.reject(requeue=False))
            metrics.messages_consumed.labels(self.name, "dead_lettered").inc()
            return None
        return _Delivery(message, envelope, event, handler)

    async def _retry_later(
        self, delivery: _Delivery, failed: _HandlerFailed, failures: int
    ) -> None:
        log.warning(
            "message_handler_failed",
            queue=self.name,
            message_id=str(delivery.envelope.id),
            type=delivery.envelope.type,
            correlation_id=delivery.envelope.correlation_id,
            reason=failed.reason,
            failures=failures,
            max_failures=self.spec.max_failures,
            error=repr(failed.error)[:500],
        )
        await self._settle(delivery.message.reject(requeue=True))
        metrics.messages_consumed.labels(self.name, "retried").inc()

    async def _dead_letter(
        self, delivery: _Delivery, failed: _HandlerFailed, failures: int
    ) -> None:
        """Publish the message to `<queue>.dlq` with why, await the confirm, then ack it.

        A crash between the confirm and the ack leaves a copy in the DLQ and the message
        queued: it is handled or dead-lettered again, and a replayed copy meets the inbox.
        """
        message = delivery.message
        assert self.channel is not None
        headers = {k: v for k, v in (message.headers or {}).items() if k != "x-delivery-count"} | {
            REASON_HEADER: failed.reason,
            FAILURES_HEADER: failures,
            ERROR_HEADER: repr(failed.error)[:500],
            ROUTING_KEY_HEADER: message.routing_key or "",
            DEAD_LETTERED_AT_HEADER: datetime.now(UTC),
        }
        try:
            exchange = await self.channel.get_exchange(DEAD_LETTER_EXCHANGE, ensure=False)
            await exchange.publish(
                persistent_copy(message, headers), routing_key=self.name, timeout=10
            )
        except Exception as exc:  # not in the DLQ: leave it to the broker to redeliver
            log.warning("dead_letter_publish_failed", queue=self.name, error=repr(exc))
            await self._settle(message.reject(requeue=True))
            return
        await self._settle(message.ack())
        log.error(
            "message_dead_lettered",
            queue=self.name,
            message_id=str(delivery.envelope.id),
            type=delivery.envelope.type,
            correlation_id=delivery.envelope.correlation_id,
            reason=failed.reason,
            failures=failures,
            error=repr(failed.error)[:500],
        )
        metrics.messages_consumed.labels(self.name, "dead_lettered").inc()
        try:  # a replayed copy gets a fresh budget; if this fails, the row is pruned with age
            async with asyncio.timeout(10), self.engine.begin() as conn:
                await conn.execute(
                    _CLEAR_FAILURES, {"consumer": self.name, "ids": [str(delivery.envelope.id)]}
                )
        except Exception as exc:
            log.info("message_failures_not_cleared", queue=self.name, error=repr(exc))

    async def _ack_committed(
        self,
        messages: list[AbstractIncomingMessage],
        handled: list[_Delivery],
        duplicates: list[_Delivery],
    ) -> None:
        """Ack a whole committed batch with one frame: `multiple` acks every earlier delivery.

        Safe because one worker takes deliveries in order and settles each batch before the
        next, so every earlier delivery tag on the channel is already settled or in this batch.
        Malformed ones were rejected already; `multiple` skips settled tags.
        """
        settled = {id(m) for m in messages if m.processed}
        rest = [m for m in messages if id(m) not in settled]
        if rest:
            await self._settle(rest[-1].ack(multiple=True))
        self._count(handled, "handled")
        self._count(duplicates, "duplicate")

    def _count(self, deliveries: list[_Delivery], result: str) -> None:
        if deliveries:
            metrics.messages_consumed.labels(self.name, result).inc(len(deliveries))

    async def _settle(self, operation: Awaitable[None]) -> None:
        try:
            await operation
        except Exception as exc:
            # The channel died since delivery: the broker redelivers, the inbox absorbs it.
            log.info("message_settle_failed", queue=self.name, error=repr(exc))


class _HandlerFailed(Exception):
    """The message's handler failed (its code, its timeout): counted against the message."""

    def __init__(self, error: BaseException, reason: str = "handler_failed") -> None:
        super().__init__(repr(error))
        self.error = error
        self.reason = reason


class _DatabaseFailed(Exception):
    """A handler's statement failed because of the database, not the message."""

    def __init__(self, kind: Failure, error: BaseException) -> None:
        super().__init__(repr(error))
        self.kind = kind
        self.error = error
