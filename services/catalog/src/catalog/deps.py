"""What catalog's routes and background work use beyond their messages: built at start,
closed at stop (`ServiceDefinition.dependencies`)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends

from catalog.allegro import Lookups
from catalog.handlers.coverage import claim_stale, run_coverage
from shared.allegro import AllegroClient, TokenProvider
from shared.allegro.factory import allegro_client
from shared.logs import get_logger
from shared.service import ServiceRuntime, dependencies_of
from shared.uow import UnitsOfWork

log = get_logger(__name__)
# How often a replica looks for coverage reports whose worker died.
STALE_CHECK_SECONDS = 10


@dataclass(frozen=True)
class CoverageTasks:
    """Coverage reports computed in the background by this process, one task per report."""

    units: UnitsOfWork
    lookups: Lookups
    running: dict[uuid.UUID, asyncio.Task[None]] = field(default_factory=dict)

    def run(self, report_id: uuid.UUID) -> None:
        if report_id in self.running and not self.running[report_id].done():
            return
        task = asyncio.create_task(run_coverage(self.units, self.lookups, report_id))
        self.running[report_id] = task
        task.add_done_callback(lambda done: self._forget(report_id, done))

    def _forget(self, report_id: uuid.UUID, task: asyncio.Task[None]) -> None:
        if self.running.get(report_id) is task:
            del self.running[report_id]

    async def aclose(self) -> None:
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        if tasks:
            # A task that swallows its cancellation must not hold the shutdown forever.
            await asyncio.wait(tasks, timeout=10)


@dataclass(frozen=True)
class CatalogDeps:
    units: UnitsOfWork
    allegro: AllegroClient  # category checks, suggestions, coverage; budgets in PostgreSQL
    lookups: Lookups
    coverage: CoverageTasks

    @classmethod
    async def build(cls, runtime: ServiceRuntime, tokens: TokenProvider | None) -> CatalogDeps:
        assert runtime.engine is not None  # the runtime builds dependencies once it exists
        units = UnitsOfWork(runtime.engine, runtime.settings.service_name)
        allegro = allegro_client(runtime.settings, runtime.engine, tokens=tokens)
        lookups = Lookups(units, allegro)
        return cls(units, allegro, lookups, CoverageTasks(units, lookups))

    async def aclose(self) -> None:
        await self.coverage.aclose()
        await self.allegro.aclose()  # and the auth token provider it made


async def resume_stale_coverage(runtime: ServiceRuntime) -> None:
    """Worker loop: take over the coverage reports whose worker died, and continue them."""
    deps = runtime.dependencies
    assert isinstance(deps, CatalogDeps)  # background loops start after the dependencies
    while True:
        # Sleep first: a stop cancels this task, and a cancel landing in the middle of a query
        # (a service stopped right after its start) can hang the pool's disposal.
        await asyncio.sleep(STALE_CHECK_SECONDS)
        try:
            for report_id in await claim_stale(deps.units):
                deps.coverage.run(report_id)
        except Exception as exc:  # the database away, most likely: the next round retries
            log.warning("coverage_stale_check_failed", error=repr(exc)[:500])


Deps = Annotated[CatalogDeps, Depends(dependencies_of(CatalogDeps))]
