"""What the orders service's routes, handlers and poller use beyond their messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from orders.settings import Settings
from shared.allegro import AllegroClient, TokenProvider
from shared.allegro.factory import allegro_client
from shared.service import ServiceRuntime, dependencies_of
from shared.uow import UnitsOfWork


@dataclass(frozen=True)
class OrdersDeps:
    units: UnitsOfWork
    allegro: AllegroClient  # order events and checkout forms; budgets shared by replicas
    settings: Settings

    @classmethod
    async def build(cls, runtime: ServiceRuntime, tokens: TokenProvider | None) -> OrdersDeps:
        assert runtime.engine is not None
        settings = runtime.settings
        assert isinstance(settings, Settings)
        return cls(
            units=UnitsOfWork(runtime.engine, settings.service_name),
            allegro=allegro_client(settings, runtime.engine, tokens=tokens),
            settings=settings,
        )

    async def aclose(self) -> None:
        await self.allegro.aclose()


Deps = Annotated[OrdersDeps, Depends(dependencies_of(OrdersDeps))]
