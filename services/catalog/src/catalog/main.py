"""Composition root of the catalog service: app factory and `python -m catalog`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from catalog.api import router
from catalog.consumer import SUBSCRIPTIONS
from catalog.deps import CatalogDeps, resume_stale_coverage
from catalog.settings import Settings
from shared.accounts import AccountDirectory, account_directory
from shared.allegro import TokenProvider
from shared.service import Dependencies, ServiceDefinition, ServiceRuntime, create_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def build(
    settings: Settings | None = None,
    *,
    tokens: TokenProvider | None = None,
    accounts: AccountDirectory | None = None,
) -> ServiceDefinition:
    """`tokens`: where Allegro access tokens come from (default: the auth service);
    `accounts`: which accounts exist (default: auth says)."""
    settings = settings or Settings()

    async def dependencies(runtime: ServiceRuntime) -> Dependencies:
        return await CatalogDeps.build(runtime, tokens)

    return ServiceDefinition(
        settings=settings,
        migrations_dir=MIGRATIONS,
        subscriptions=SUBSCRIPTIONS,
        routers=[router],
        dependencies=dependencies,
        background=[resume_stale_coverage],
        title="mci catalog: supplier catalogue ingestion, selection, screening, category mapping",
        body_limits={
            "/imports": settings.import_max_bytes,
            "/accounts/{account_id}/selection": settings.selection_max_bytes,
            "/accounts/{account_id}/selection/preview": settings.selection_max_bytes,
        },
        accounts=account_directory(accounts, settings.known_accounts),
    )


def app() -> FastAPI:
    return create_app(build())
