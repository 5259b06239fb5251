"""The dependencies object of a service that calls Allegro (docs/service-anatomy.md, Wiring):
its units of work, its Allegro client (rate budgets in PostgreSQL, shared by its replicas) and
its settings, built once the engine exists and closed at stop.

A service subclasses it, typed with its own settings, and adds what is its own as fields with
defaults (offers' category definitions). One that builds more from these (catalog's lookups)
or owns Allegro's tokens (auth) writes its own dataclass of the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Self, TypeVar, cast

from shared.allegro import AllegroClient, TokenProvider
from shared.allegro.factory import allegro_client
from shared.service import ServiceRuntime
from shared.settings import ServiceSettings
from shared.uow import UnitsOfWork

S = TypeVar("S", bound=ServiceSettings)


@dataclass(frozen=True)
class AllegroDeps(Generic[S]):
    units: UnitsOfWork
    allegro: AllegroClient
    settings: S

    @classmethod
    async def build(cls, runtime: ServiceRuntime, tokens: TokenProvider | None) -> Self:
        """`tokens`: where Allegro access tokens come from (None: the auth service)."""
        assert runtime.engine is not None  # the runtime builds dependencies once it exists
        # The service's main.build gave the runtime its own settings class.
        settings = cast(S, runtime.settings)
        return cls(
            units=UnitsOfWork(runtime.engine, settings.service_name),
            allegro=allegro_client(settings, runtime.engine, tokens=tokens),
            settings=settings,
        )

    async def aclose(self) -> None:
        await self.allegro.aclose()
