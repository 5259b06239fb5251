"""Composition root of the offers service: app factory and `python -m offers`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from offers.api import router
from offers.consumer import SUBSCRIPTIONS
from offers.settings import Settings
from shared.service import ServiceDefinition, create_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def build(settings: Settings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings or Settings(),
        migrations_dir=MIGRATIONS,
        subscriptions=SUBSCRIPTIONS,
        routers=[router],
        title="mci offers: the publication pipeline: offers on Allegro, price and stock sync",
    )


def app() -> FastAPI:
    return create_app(build())
