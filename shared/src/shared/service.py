"""What every service's composition root (`main.py`) is built from.

A service describes itself as a `ServiceDefinition` (settings, migrations, the queues it
consumes with their handler registries, its routers); `create_app` turns that into a FastAPI
app whose lifespan migrates the database, connects to the broker, and starts the outbox relay
and the consumers. Roles split one image into api and worker Deployments.

What routes and handlers use beyond the engine (units of work, the Allegro client, ...) is one
frozen dependencies object per service: `ServiceDefinition.dependencies` builds it once the
engine exists, the runtime closes it (`aclose`) at stop, and routes get it through
`dependencies_of(TheServiceDeps)`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, TypeVar

import sqlalchemy as sa
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.accounts import AccountDirectory, AuthServiceAccounts
from shared.db import create_engine, migrate
from shared.errors import Unavailable
from shared.events import Event
from shared.http import (
    CorrelationMiddleware,
    RequestGuard,
    RequestMetrics,
    dlq_router,
    document_errors,
    health_router,
    install_error_handlers,
)
from shared.logs import configure_logging, get_logger
from shared.messaging.broker import Broker
from shared.messaging.consumer import Consumer, Handler
from shared.messaging.dlq import DeadLetters
from shared.messaging.relay import OutboxRelay
from shared.messaging.topology import QueueSpec
from shared.security import Principal, PrincipalResolver, protect_api_docs
from shared.settings import ServiceSettings

Role = Literal["all", "api", "worker"]
log = get_logger(__name__)


class Dependencies(Protocol):
    """A service's frozen dependencies object: built at start, closed at stop."""

    async def aclose(self) -> None: ...


D = TypeVar("D", bound=Dependencies)


@dataclass
class Subscription:
    """A queue this service consumes and the handler registry (event class -> handler)."""

    queue: QueueSpec
    handlers: Mapping[type[Event], Handler]


@dataclass
class ServiceDefinition:
    settings: ServiceSettings
    migrations_dir: Path
    subscriptions: Sequence[Subscription] = ()
    routers: Sequence[APIRouter] = ()
    title: str = ""
    # Builds the service's dependencies object once the engine and broker exist (with whatever
    # must hold before anything is served, e.g. auth's bootstrap key); retried with the rest of
    # the start until it succeeds; the runtime closes it at stop. See `dependencies_of`.
    dependencies: Callable[[ServiceRuntime], Awaitable[Dependencies]] | None = None
    # Called at stop (plain or async), after the workers and before the dependencies close.
    on_stop: Callable[[ServiceRuntime], Awaitable[None] | None] | None = None
    # How bearer credentials become principals (default: signed tokens + API key introspection).
    principal_resolver: Callable[[str], Awaitable[Principal]] | None = None
    # Long-running loops of the worker role besides the consumers (pollers, schedulers).
    background: Sequence[Callable[[ServiceRuntime], Coroutine[Any, Any, None]]] = ()
    # Request bodies: at most settings.max_body_bytes, refused (413) before anything reads
    # them; routes in body_limits (path template -> bytes: file imports, selections) take their own.
    body_limits: Mapping[str, int] = field(default_factory=dict)
    # Which accounts exist, for `/accounts/{account_id}` routes (default: ask auth).
    accounts: AccountDirectory | None = None


@dataclass
class ServiceRuntime:
    definition: ServiceDefinition
    role: Role
    engine: AsyncEngine | None = None
    broker: Broker | None = None
    relay: OutboxRelay | None = None
    consumers: list[Consumer] = field(default_factory=list)
    dependencies: Dependencies | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    started: bool = False  # servers reached, workers running (start() may return before)
    _startup: asyncio.Task[None] | None = None

    @property
    def settings(self) -> ServiceSettings:
        return self.definition.settings

    @property
    def runs_worker(self) -> bool:
        return self.role in ("all", "worker")

    async def start(self) -> None:
        """Start; with PostgreSQL or RabbitMQ down, keep trying in the background.

        The engine exists at once (it connects lazily). Migrations, the broker connections,
        the dependencies and the workers are brought up by `_bring_up`, retried with backoff until
        both servers answer; meanwhile `/health/ready` answers 503. The first attempt is awaited,
        so with both servers up the service is fully running when this returns.
        """
        s = self.settings
        self.engine = create_engine(
            s.database_url, pool_size=s.database_pool_size, application_name=s.service_name
        )
        self.broker = Broker(s.amqp_url, s.service_name)
        first_attempt = asyncio.Event()
        self._startup = asyncio.create_task(self._bring_up(first_attempt), name="startup")
        waiting = asyncio.create_task(first_attempt.wait())
        await asyncio.wait({self._startup, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if self._startup.done() and not self._startup.cancelled():
            self._startup.result()  # a bug in bring-up itself: fail the start loudly

    async def _bring_up(self, first_attempt: asyncio.Event) -> None:
        s = self.settings
        assert self.broker is not None
        backoff = 0.5
        migrated = not s.run_migrations
        while True:
            try:
                if not migrated:
                    await migrate(self.definition.migrations_dir, s.database_url)
                    migrated = True
                if not self.broker.is_connected:
                    await self.broker.connect()
                if self.dependencies is None and self.definition.dependencies is not None:
                    assert self.engine is not None
                    self.dependencies = await self.definition.dependencies(self)
                if self.runs_worker:
                    await self._start_workers()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A server that is down or unreachable, most likely; a bad setting looks the
                # same from here, so it is logged each time rather than ending the process.
                log.warning("service_start_waiting", error=repr(exc)[:500], retry_in=backoff)
                first_attempt.set()
                if not self.broker.is_connected and self.relay is None:
                    # A half-made connection pair starts afresh. Once the relay holds channels,
                    # the robust connections reconnect by themselves instead.
                    with contextlib.suppress(Exception):
                        await self.broker.close()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
        self.started = True
        first_attempt.set()
        log.info("service_started", role=self.role, queues=[c.name for c in self.consumers])

    async def _start_workers(self) -> None:
        """Relay, consumers and background loops; resumable where a failed attempt stopped."""
        s = self.settings
        assert self.engine is not None and self.broker is not None
        if self.relay is None:
            self.relay = OutboxRelay(
                self.engine,
                self.broker,
                batch_size=s.outbox_batch_size,
                poll_interval=s.outbox_poll_interval_seconds,
            )
            self.tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        for sub in self.definition.subscriptions[len(self.consumers) :]:
            consumer = Consumer(
                sub.queue,
                sub.handlers,
                self.engine,
                source=s.service_name,
                prefetch=s.consumer_prefetch,
                batch_size=s.consumer_batch_size,
                batch_wait=s.consumer_batch_wait_seconds,
            )
            try:
                await consumer.start(await self.broker.consume_channel(s.consumer_prefetch))
            except BaseException:
                await consumer.stop()  # no stray worker; the next attempt makes a new one
                raise
            self.consumers.append(consumer)
        self.tasks.append(asyncio.create_task(self._watch_dead_letters(), name="dlq-watch"))
        for loop in self.definition.background:
            self.tasks.append(asyncio.create_task(loop(self), name=loop.__name__))

    async def stop(self) -> None:
        self.stopping.set()
        if self._startup is not None and not self._startup.done():
            self._startup.cancel()
            await asyncio.wait({self._startup}, timeout=10)
        for consumer in self.consumers:
            await consumer.stop()
        for task in self.tasks:
            task.cancel()
        # A task that swallows its cancellation must not hold the shutdown forever.
        stuck = (await asyncio.wait(self.tasks, timeout=10))[1] if self.tasks else set()
        if stuck:
            log.warning("tasks_still_running_at_stop", tasks=[t.get_name() for t in stuck])
        if self.definition.on_stop is not None:
            stopped = self.definition.on_stop(self)
            if inspect.isawaitable(stopped):
                await stopped
        if self.dependencies is not None:
            await self.dependencies.aclose()
        if self.broker is not None:
            await self.broker.close()
        if self.engine is not None:
            await self.engine.dispose()

    def dead_letters(self) -> DeadLetters:
        assert self.broker is not None
        assert self.broker.consume_connection is not None
        return DeadLetters(
            self.broker.consume_connection, [sub.queue for sub in self.definition.subscriptions]
        )

    async def readiness(self) -> dict[str, bool]:
        checks = {"database": False, "broker": False, "consumers": False}
        if self.engine is not None:
            try:
                async with self.engine.connect() as conn:
                    await asyncio.wait_for(conn.execute(sa.text("SELECT 1")), timeout=2)
                checks["database"] = True
            except Exception as exc:
                log.warning("readiness_database_failed", error=repr(exc))
        checks["broker"] = self.broker is not None and self.broker.is_connected
        # Until the start completes (servers were down at boot) there is nothing to serve with.
        checks["consumers"] = self.started and (
            not self.runs_worker or all(c.is_running for c in self.consumers)
        )
        return checks

    async def _watch_dead_letters(self) -> None:
        """Keep the DLQ depth gauge current for the dashboards' "DLQ not empty" alert."""
        while not self.stopping.is_set():
            # aio-pika may turn a cancellation inside a channel operation into its own error;
            # the stopping flag, not the CancelledError, is what ends this loop.
            with contextlib.suppress(Exception):
                await self.dead_letters().depths()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 15)


def service_runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def service_engine(request: Request) -> AsyncEngine:
    """FastAPI dependency: the service's database engine (routes open their own transaction)."""
    engine = service_runtime(request).engine
    assert engine is not None, "the service has not started"
    return engine


EngineDep = Annotated[AsyncEngine, Depends(service_engine)]


def dependencies_of(kind: type[D]) -> Callable[[Request], D]:
    """FastAPI dependency: the service's dependencies object, typed as the service's own."""

    def get(request: Request) -> D:
        dependencies = service_runtime(request).dependencies
        if not isinstance(dependencies, kind):
            # Servers were down at boot and the start is still being retried.
            raise Unavailable("the service is starting", code="service_starting")
        return dependencies

    return get


def create_app(definition: ServiceDefinition, role: Role = "all") -> FastAPI:
    settings = definition.settings
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    runtime = ServiceRuntime(definition, role)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=definition.title or f"mci {settings.service_name}",
        lifespan=lifespan,
    )
    protect_api_docs(app, settings.environment)
    app.state.runtime = runtime
    app.state.principal_resolver = definition.principal_resolver or PrincipalResolver(
        settings.service_token_secret.get_secret_value(), settings.auth_url, settings.service_name
    )
    app.state.accounts = definition.accounts or AuthServiceAccounts(
        settings.auth_url, settings.service_token_secret.get_secret_value(), settings.service_name
    )
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        route_limits=definition.body_limits,
    )
    app.add_middleware(CorrelationMiddleware)
    app.add_middleware(RequestMetrics)
    install_error_handlers(app)
    app.include_router(health_router(runtime.readiness))
    app.include_router(dlq_router(runtime.dead_letters))
    if role in ("all", "api"):
        for router in definition.routers:
            app.include_router(router)
    document_errors(app.routes)
    return app


def run(build: Callable[[], ServiceDefinition]) -> None:
    """`python -m <service> [--role all|api|worker]`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=["all", "api", "worker"], default="all")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    definition = build()
    app = create_app(definition, args.role)
    uvicorn.run(
        app,
        host=args.host or definition.settings.http_host,
        port=args.port or definition.settings.http_port,
        log_config=None,
        access_log=False,
    )
