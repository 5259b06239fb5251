"""What the connector's routes, handlers and loops use beyond their messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from bigbuy_connector import handlers
from bigbuy_connector.client import BigBuyClient, documented_limit
from bigbuy_connector.clock import Clock, SystemClock
from bigbuy_connector.domain import commands as c
from bigbuy_connector.settings import Settings
from shared.service import ServiceRuntime, dependencies_of
from shared.uow import UnitsOfWork


@dataclass(frozen=True)
class DatabaseBudgets:
    """The client's rate budgets in the connector's database (shared by replicas, kept across
    restarts)."""

    units: UnitsOfWork

    async def reserve(self, endpoint: str, now: float) -> float | None:
        limit, window = documented_limit(endpoint)
        return await self.units.handle(
            handlers.take_budget, c.TakeBudget(endpoint, now, limit, window)
        )

    async def record(self, endpoint: str, limit: int, remaining: int, reset_at: float) -> None:
        await self.units.handle(
            handlers.record_budget, c.RecordBudget(endpoint, limit, remaining, reset_at)
        )

    async def spent(self, endpoint: str, reset_at: float) -> None:
        await self.units.handle(handlers.budget_spent, c.BudgetSpent(endpoint, reset_at))

    async def available_at(self, endpoint: str, now: float) -> float:
        return await self.units.read(
            handlers.budget_available_at, c.BudgetAvailableAt(endpoint, now)
        )


@dataclass(frozen=True)
class BigBuyDeps:
    units: UnitsOfWork
    client: BigBuyClient
    clock: Clock
    settings: Settings

    @classmethod
    async def build(cls, runtime: ServiceRuntime, clock: Clock | None = None) -> BigBuyDeps:
        assert runtime.engine is not None
        settings = runtime.settings
        assert isinstance(settings, Settings)
        units = UnitsOfWork(runtime.engine, settings.service_name)
        clock = clock or SystemClock()
        client = BigBuyClient(
            settings.api_url,
            settings.api_key.get_secret_value(),
            DatabaseBudgets(units),
            clock,
            timeout=settings.request_timeout_seconds,
            margin=settings.rate_limit_margin_seconds,
            max_wait=settings.rate_limit_max_wait_seconds,
        )
        return cls(units=units, client=client, clock=clock, settings=settings)

    async def aclose(self) -> None:
        await self.client.aclose()


Deps = Annotated[BigBuyDeps, Depends(dependencies_of(BigBuyDeps))]
