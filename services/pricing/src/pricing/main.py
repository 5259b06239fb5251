"""Composition root of the pricing service: app factory and `python -m pricing`."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi import FastAPI

from pricing.api import router
from pricing.categories import resolve_categories
from pricing.consumer import SUBSCRIPTIONS
from pricing.deps import PricingDeps
from pricing.settings import Settings
from shared.accounts import AccountDirectory, account_directory
from shared.allegro import TokenProvider
from shared.service import Dependencies, ServiceDefinition, ServiceRuntime, create_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


# Pricing allocates millions of small, short-lived containers (traces, rows, event items) and
# keeps almost none: the default generation-0 threshold (700) makes the cyclic collector rescan
# a big run's live objects hundreds of times. A larger threshold cuts ~10-20 % of a run's CPU.
GC_THRESHOLD = (50_000, 20, 20)


def build(
    settings: Settings | None = None,
    allegro_tokens: TokenProvider | None = None,
    accounts: AccountDirectory | None = None,
) -> ServiceDefinition:
    """`allegro_tokens`: where Allegro access tokens come from (default: the auth service);
    `accounts`: which accounts exist (default: auth says)."""
    gc.set_threshold(*GC_THRESHOLD)
    settings = settings or Settings()

    async def dependencies(runtime: ServiceRuntime) -> Dependencies:
        return await PricingDeps.build(runtime, allegro_tokens)

    return ServiceDefinition(
        settings=settings,
        migrations_dir=MIGRATIONS,
        subscriptions=SUBSCRIPTIONS,
        routers=[router],
        dependencies=dependencies,
        background=[resolve_categories],
        title="mci pricing: pricing rules per marketplace and currency",
        accounts=account_directory(accounts, settings.known_accounts),
    )


def app() -> FastAPI:
    return create_app(build())
