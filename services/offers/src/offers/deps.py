"""What the offers service's routes, handlers and worker use beyond their messages."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends

from offers.settings import Settings
from shared.allegro import AllegroClient, TokenProvider
from shared.allegro.factory import allegro_client
from shared.service import ServiceRuntime, dependencies_of
from shared.uow import UnitsOfWork


@dataclass(frozen=True)
class OffersDeps:
    units: UnitsOfWork
    allegro: AllegroClient  # every offer write and read; budgets shared by replicas
    settings: Settings
    # Category parameter definitions this process read: category -> (read at, monotonic;
    # definitions). The table `category_parameters` is the replicas' shared cache.
    category_definitions: dict[str, tuple[float, list[dict[str, Any]]]] = field(
        default_factory=dict
    )
    # Image uploads under way in this process: (account, supplier URL) -> the upload, which
    # offers sharing the image wait for instead of uploading it again (offers/images.py).
    image_uploads: dict[tuple[str, str], asyncio.Future[Any]] = field(default_factory=dict)

    @classmethod
    async def build(cls, runtime: ServiceRuntime, tokens: TokenProvider | None) -> OffersDeps:
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


Deps = Annotated[OffersDeps, Depends(dependencies_of(OffersDeps))]
