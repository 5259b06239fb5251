"""Composition root of the offers service: app factory and `python -m offers`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from offers.api import router
from offers.consumer import SUBSCRIPTIONS
from offers.settings import Settings
from offers.shipping_api import shipping_router
from shared.accounts import AccountDirectory
from shared.allegro import AllegroClient, TokenProvider
from shared.allegro.factory import allegro_client
from shared.service import Dependencies, ServiceDefinition, ServiceRuntime, create_app
from shared.uow import UnitsOfWork

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@dataclass(frozen=True)
class OffersDeps:
    units: UnitsOfWork
    allegro: AllegroClient  # shipping lists; budgets shared by replicas (PostgreSQL)

    @classmethod
    async def build(cls, runtime: ServiceRuntime, tokens: TokenProvider | None) -> OffersDeps:
        assert runtime.engine is not None
        settings = runtime.settings
        return cls(
            units=UnitsOfWork(runtime.engine, settings.service_name),
            allegro=allegro_client(settings, runtime.engine, tokens=tokens),
        )

    async def aclose(self) -> None:
        await self.allegro.aclose()


def build(
    settings: Settings | None = None,
    allegro_tokens: TokenProvider | None = None,
    accounts: AccountDirectory | None = None,
) -> ServiceDefinition:
    """`allegro_tokens`: where Allegro access tokens come from (default: the auth service);
    `accounts`: which accounts exist (default: auth says)."""

    async def dependencies(runtime: ServiceRuntime) -> Dependencies:
        return await OffersDeps.build(runtime, allegro_tokens)

    return ServiceDefinition(
        settings=settings or Settings(),
        migrations_dir=MIGRATIONS,
        subscriptions=SUBSCRIPTIONS,
        routers=[router, shipping_router],
        dependencies=dependencies,
        accounts=accounts,
        title="mci offers: the publication pipeline: offers on Allegro, price and stock sync",
    )


def app() -> FastAPI:
    return create_app(build())
