"""Dependencies of routes and background work: the Allegro client, lookups, running tasks."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.allegro import Lookups, claim_stale, run_coverage
from catalog.settings import Settings
from shared.allegro import AllegroClient
from shared.allegro.client import TokenProvider
from shared.allegro.factory import allegro_client
from shared.service import ServiceDefinition, ServiceRuntime, service_runtime


@dataclass
class CatalogDeps:
    """What routes and background work need beyond the engine: Allegro, and the tasks."""

    settings: Settings
    tokens: TokenProvider | None = None
    runtime: ServiceRuntime | None = None
    client: AllegroClient | None = None
    lookups: Lookups | None = None
    running: dict[uuid.UUID, asyncio.Task[None]] = field(default_factory=dict)

    @property
    def engine(self) -> AsyncEngine:
        assert self.runtime is not None and self.runtime.engine is not None
        return self.runtime.engine

    def start(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime
        assert runtime.engine is not None
        self.client = allegro_client(self.settings, runtime.engine, tokens=self.tokens)
        self.lookups = Lookups(runtime.engine, self.client)
        runtime.tasks.append(asyncio.create_task(self._keep(), name="catalog-background"))

    def run_coverage(self, report_id: uuid.UUID) -> None:
        """Compute a coverage report in the background (the task is the service's)."""
        assert self.lookups is not None and self.runtime is not None
        if report_id in self.running and not self.running[report_id].done():
            return
        task = asyncio.create_task(run_coverage(self.engine, self.lookups, report_id))
        self.running[report_id] = task
        self.runtime.tasks.append(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        for report_id, running in list(self.running.items()):
            if running is task:
                del self.running[report_id]
        if self.runtime is not None and task in self.runtime.tasks:
            self.runtime.tasks.remove(task)

    async def _keep(self) -> None:
        """Resume coverage reports whose worker died; close the Allegro client at stop."""
        try:
            while True:
                # Sleep first: a stop cancels this task, and a cancel landing in the middle of a
                # query (a service stopped right after its start) can hang the pool's disposal.
                await asyncio.sleep(10)
                for report_id in await claim_stale(self.engine):
                    self.run_coverage(report_id)
        finally:
            for task in list(self.running.values()):
                task.cancel()
            if self.client is not None:
                await self.client.aclose()  # and the auth token provider it made


@dataclass
class CatalogDefinition(ServiceDefinition):
    deps: CatalogDeps | None = None


def catalog_deps(request: Request) -> CatalogDeps:
    definition = service_runtime(request).definition
    assert isinstance(definition, CatalogDefinition) and definition.deps is not None
    return definition.deps
