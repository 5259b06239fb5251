"""Composition root of the orders service: app factory and `python -m orders`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from orders.api import router
from orders.consumer import SUBSCRIPTIONS
from orders.settings import Settings
from shared.service import ServiceDefinition, create_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def build(settings: Settings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings or Settings(),
        migrations_dir=MIGRATIONS,
        subscriptions=SUBSCRIPTIONS,
        routers=[router],
        title="mci orders: order import, fulfilment hand-off, tracking back to Allegro",
    )


def app() -> FastAPI:
    return create_app(build())
