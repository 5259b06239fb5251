"""Composition root of the pricing service: app factory and `python -m pricing`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from pricing.api import router
from pricing.consumer import SUBSCRIPTIONS
from pricing.settings import Settings
from shared.service import ServiceDefinition, create_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def build(settings: Settings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings or Settings(),
        migrations_dir=MIGRATIONS,
        subscriptions=SUBSCRIPTIONS,
        routers=[router],
        title="mci pricing: pricing rules per marketplace and currency",
    )


def app() -> FastAPI:
    return create_app(build())
