"""The idempotent consumer: handler and inbox row in one transaction, ack after commit.

Deliveries are gathered into small batches (up to `batch_size`, or `batch_wait` seconds) and
handled in ONE transaction together with their inbox rows: one commit per batch instead of per
message is what lets the pipeline keep up with the broker. If any handler of the batch raises,
the batch is rolled back and its messages are handled again one transaction each, so only the
failing message is retried.

Outcomes:
- handled: committed, then acked;
- duplicate (inbox row already there): acked without running the handler;
- malformed (not an envelope, unknown type): rejected without requeue, i.e. dead-lettered now;
- handler raised: rejected with requeue; the quorum queue counts deliveries and dead-letters the
  message to `<queue>.dlq` past its delivery limit;
- the database is unreachable or dropped the connection: nothing is acked, the batch is retried
  in-process with backoff until the database answers. This does not spend the delivery limit,
  so an outage never sends good messages to the DLQ.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import sqlalchemy as sa
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import metrics
from shared.events import Envelope, Event
from shared.logs import correlation_scope, get_logger
from shared.messaging.topology import QueueSpec, declare_queue
from shared.uow import UnitOfWork

log = get_logger(__name__)

Handler = Callable[[Any, UnitOfWork], Awaitable[Any]]


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


def is_transient(exc: BaseException) -> bool:
    """Errors of the infrastructure, not of the message: retrying later will succeed."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
            return True
        exc = exc.orig if exc.orig is not None else exc
        cause = getattr(exc, "__cause__", None)
        if cause is not None and is_transient(cause):
            return True
    return isinstance(
        exc,
        OSError
        | ConnectionError
        | TimeoutError
        | asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.CannotConnectNowError
        | asyncpg.AdminShutdownError
        | asyncpg.SerializationError
        | asyncpg.DeadlockDetectedError,
    )


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
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.engine = engine
        self.source = source
        self.prefetch = prefetch
        self.batch_size = batch_size
        self.batch_wait = batch_wait
        self.handlers = {cls.event_type: (cls, handler) for cls, handler in handlers.items()}
        self._pending: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.channel: AbstractChannel | None = None
        self.queue: AbstractQueue | None = None
        self.consumer_tag: str | None = None
        self._stopping = False

    async def start(self, channel: AbstractChannel) -> None:
        self.channel = channel  # strong reference: aio-pika only keeps a weak one
        self.queue = await declare_queue(channel, self.spec)
        self._worker = asyncio.create_task(self._work(), name=f"consumer:{self.name}")
        self.consumer_tag = await self.queue.consume(self._pending.put)

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
        try:
            done, duplicates = await self._with_db_retry(self._commit_batch, deliveries)
        except _HandlerFailed:
            # One of them is bad: find it by handling each alone; the others still commit.
            for delivery in deliveries:
                try:
                    handled, duplicate = await self._with_db_retry(self._commit_batch, [delivery])
                except _HandlerFailed as failed:
                    await self._retry_later(delivery, failed.error)
                    continue
                await self._ack(handled, "handled")
                await self._ack(duplicate, "duplicate")
        else:
            await self._ack_committed(messages, done, duplicates)
        metrics.handler_duration.labels(self.name).observe(time.perf_counter() - started)

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
                    await self._run_handler(conn, delivery)
            for handler, group in batched.items():
                await self._run_batch_handler(conn, handler, group)
        return fresh, duplicates

    async def _run_batch_handler(
        self, conn: AsyncConnection, handler: BatchHandler, group: list[_Delivery]
    ) -> None:
        first = group[0].envelope
        with correlation_scope(first.correlation_id):
            try:
                await handler.handle(
                    [(d.envelope, d.event) for d in group], UnitOfWork(conn, self.source)
                )
            except Exception as exc:
                if is_transient(exc):
                    raise
                raise _HandlerFailed(exc) from exc

    async def _claim_inbox(
        self, conn: AsyncConnection, deliveries: list[_Delivery]
    ) -> set[uuid.UUID]:
        """Insert the inbox rows; returns the ids that were not processed before."""
        ids = list(dict.fromkeys(str(d.envelope.id) for d in deliveries))
        result = await conn.execute(_CLAIM_INBOX, {"consumer": self.name, "ids": ids})
        return set(result.scalars())

    async def _run_handler(self, conn: AsyncConnection, delivery: _Delivery) -> None:
        env = delivery.envelope
        with correlation_scope(env.correlation_id, str(env.id)):
            try:
                await delivery.handler(delivery.event, UnitOfWork(conn, self.source, env))
            except Exception as exc:
                if is_transient(exc):
                    raise
                raise _HandlerFailed(exc) from exc

    async def _with_db_retry(
        self,
        operation: Callable[[list[_Delivery]], Awaitable[tuple[list[_Delivery], list[_Delivery]]]],
        deliveries: list[_Delivery],
    ) -> tuple[list[_Delivery], list[_Delivery]]:
        backoff = 0.2
        while True:
            try:
                return await operation(deliveries)
            except _HandlerFailed:
                raise
            except Exception as exc:
                if not is_transient(exc):
                    raise _HandlerFailed(exc) from exc
                log.warning(
                    "consumer_database_unavailable",
                    queue=self.name,
                    error=repr(exc),
                    retry_in=backoff,
                    messages=len(deliveries),
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

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

    async def _retry_later(self, delivery: _Delivery, error: BaseException) -> None:
        headers = delivery.message.headers or {}
        log.warning(
            "message_handler_failed",
            queue=self.name,
            message_id=str(delivery.envelope.id),
            type=delivery.envelope.type,
            correlation_id=delivery.envelope.correlation_id,
            delivery_count=headers.get("x-delivery-count", 0),
            delivery_limit=self.spec.delivery_limit,
            error=repr(error)[:500],
        )
        # reject (not nack): RabbitMQ counts it towards the delivery limit on every version.
        await self._settle(delivery.message.reject(requeue=True))
        metrics.messages_consumed.labels(self.name, "retried").inc()

    async def _ack(self, deliveries: list[_Delivery], result: str) -> None:
        for delivery in deliveries:
            await self._settle(delivery.message.ack())
        self._count(deliveries, result)

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
    def __init__(self, error: BaseException) -> None:
        super().__init__(repr(error))
        self.error = error
