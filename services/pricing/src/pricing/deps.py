"""What pricing's routes and handlers use beyond their messages: built at start, closed at stop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from shared.allegro import AllegroClient, TokenProvider
from shared.allegro.factory import allegro_client
from shared.service import ServiceRuntime, dependencies_of
from shared.uow import UnitsOfWork


@dataclass(frozen=True)
class PricingDeps:
    units: UnitsOfWork
    allegro: AllegroClient  # fee-preview calibration; budgets shared by replicas (PostgreSQL)

    @classmethod
    async def build(cls, runtime: ServiceRuntime, tokens: TokenProvider | None) -> PricingDeps:
        assert runtime.engine is not None
        settings = runtime.settings
        return cls(
            units=UnitsOfWork(runtime.engine, settings.service_name),
            allegro=allegro_client(settings, runtime.engine, tokens=tokens),
        )

    async def aclose(self) -> None:
        await self.allegro.aclose()


Deps = Annotated[PricingDeps, Depends(dependencies_of(PricingDeps))]
