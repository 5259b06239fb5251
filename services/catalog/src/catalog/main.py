"""Composition root of the catalog service: app factory and `python -m catalog`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from catalog.api import router
from catalog.consumer import SUBSCRIPTIONS
from catalog.settings import Settings
from shared.service import ServiceDefinition, create_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def build(settings: Settings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings or Settings(),
        migrations_dir=MIGRATIONS,
        subscriptions=SUBSCRIPTIONS,
        routers=[router],
        title="mci catalog: supplier catalogue ingestion, selection, screening, category mapping",
    )


def app() -> FastAPI:
    return create_app(build())
