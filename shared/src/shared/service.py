"""What every service's composition root (`main.py`) is built from.

A service describes itself as a `ServiceDefinition` (settings, migrations, the queues it
consumes with their handler registries, its routers); `create_app` turns that into a FastAPI
app whose lifespan migrates the database, connects to the broker, and starts the outbox relay
and the consumers. Roles split one image into api and worker Deployments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import sqlalchemy as sa
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.accounts import AccountDirectory, AuthServiceAccounts
from shared.db import create_engine, migrate
from shared.events import Event
from shared.http import (
    DEFAULT_MAX_BODY_BYTES,
    CorrelationMiddleware,
    RequestGuard,
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
from shared.security import Principal, PrincipalResolver
from shared.settings import ServiceSettings

Role = Literal["all", "api", "worker"]
log = get_logger(__name__)


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
    # Called once the engine and broker exist (plain or async), e.g. to build the objects that
    # routes and handlers use; on_stop releases them.
    on_start: Callable[[ServiceRuntime], Awaitable[None] | None] | None = None
    on_stop: Callable[[ServiceRuntime], Awaitable[None] | None] | None = None
    # How bearer credentials become principals (default: signed tokens + API key introspection).
    principal_resolver: Callable[[str], Awaitable[Principal]] | None = None
    # Long-running loops of the worker role besides the consumers (pollers, schedulers).
    background: Sequence[Callable[[ServiceRuntime], Coroutine[Any, Any, None]]] = ()
    # Request bodies: at most max_body_bytes, refused (413) before anything reads them; routes
    # in body_limits (path template -> bytes: file imports, large selections) take their own.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
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
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def settings(self) -> ServiceSettings:
        return self.definition.settings

    @property
    def runs_worker(self) -> bool:
        return self.role in ("all", "worker")

    async def start(self) -> None:
        s = self.settings
        if s.run_migrations:
            await migrate(self.definition.migrations_dir, s.database_url)
        self.engine = create_engine(s.database_url, application_name=s.service_name)
        self.broker = Broker(s.amqp_url, s.service_name)
        await self.broker.connect()
        if self.definition.on_start is not None:
            started = self.definition.on_start(self)
            if inspect.isawaitable(started):
                await started
        if not self.runs_worker:
            return
        self.relay = OutboxRelay(
            self.engine,
            self.broker,
            batch_size=s.outbox_batch_size,
            poll_interval=s.outbox_poll_interval_seconds,
        )
        self.tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        for sub in self.definition.subscriptions:
            consumer = Consumer(
                sub.queue,
                sub.handlers,
                self.engine,
                source=s.service_name,
                prefetch=s.consumer_prefetch,
                batch_size=s.consumer_batch_size,
                batch_wait=s.consumer_batch_wait_seconds,
            )
            await consumer.start(await self.broker.consume_channel(s.consumer_prefetch))
            self.consumers.append(consumer)
        self.tasks.append(asyncio.create_task(self._watch_dead_letters(), name="dlq-watch"))
        for loop in self.definition.background:
            self.tasks.append(asyncio.create_task(loop(self), name=loop.__name__))
        log.info("service_started", role=self.role, queues=[c.name for c in self.consumers])

    async def stop(self) -> None:
        self.stopping.set()
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
        checks["consumers"] = not self.runs_worker or all(c.is_running for c in self.consumers)
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
    app.state.runtime = runtime
    app.state.principal_resolver = definition.principal_resolver or PrincipalResolver(
        settings.service_token_secret.get_secret_value(), settings.auth_url, settings.service_name
    )
    app.state.accounts = definition.accounts or AuthServiceAccounts(
        settings.auth_url, settings.service_token_secret.get_secret_value(), settings.service_name
    )
    app.add_middleware(
        RequestGuard,
        max_body_bytes=definition.max_body_bytes,
        route_limits=definition.body_limits,
    )
    app.add_middleware(CorrelationMiddleware)
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
