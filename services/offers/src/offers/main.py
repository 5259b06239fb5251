"""Composition root of the offers service: app factory and `python -m offers`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from offers.api import router
from offers.consumer import SUBSCRIPTIONS
from offers.deps import OffersDeps
from offers.drift import read_offer_events
from offers.drift_api import drift_router
from offers.publisher import publish_offers
from offers.settings import Settings
from offers.shipping_api import shipping_router
from offers.state_metrics import count_offers
from offers.sync import sync_offers
from shared.accounts import AccountDirectory, account_directory
from shared.allegro import TokenProvider
from shared.service import Dependencies, ServiceDefinition, ServiceRuntime, create_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def build(
    settings: Settings | None = None,
    allegro_tokens: TokenProvider | None = None,
    accounts: AccountDirectory | None = None,
) -> ServiceDefinition:
    """`allegro_tokens`: where Allegro access tokens come from (default: the auth service);
    `accounts`: which accounts exist (default: auth says)."""
    settings = settings or Settings()

    async def dependencies(runtime: ServiceRuntime) -> Dependencies:
        return await OffersDeps.build(runtime, allegro_tokens)

    return ServiceDefinition(
        settings=settings,
        migrations_dir=MIGRATIONS,
        subscriptions=SUBSCRIPTIONS,
        routers=[router, shipping_router, drift_router],
        dependencies=dependencies,
        background=[publish_offers, sync_offers, read_offer_events, count_offers],
        title="mci offers: the publication pipeline: offers on Allegro, price and stock sync",
        accounts=account_directory(accounts, settings.known_accounts),
    )


def app() -> FastAPI:
    return create_app(build())
