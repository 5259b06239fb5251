"""Composition root of the orders service: app factory and `python -m orders`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from orders.api import router
from orders.consumer import SUBSCRIPTIONS
from orders.deps import OrdersDeps
from orders.poller import import_orders
from orders.settings import Settings
from orders.writeback import write_back
from shared.allegro import TokenProvider
from shared.service import Dependencies, ServiceDefinition, ServiceRuntime, create_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def build(
    settings: Settings | None = None, allegro_tokens: TokenProvider | None = None
) -> ServiceDefinition:
    """`allegro_tokens`: where Allegro access tokens come from (default: the auth service)."""

    async def dependencies(runtime: ServiceRuntime) -> Dependencies:
        return await OrdersDeps.build(runtime, allegro_tokens)

    return ServiceDefinition(
        settings=settings or Settings(),
        migrations_dir=MIGRATIONS,
        subscriptions=SUBSCRIPTIONS,
        routers=[router],
        dependencies=dependencies,
        background=[import_orders, write_back],
        title="mci orders: order import, fulfilment hand-off, tracking back to Allegro",
    )


def app() -> FastAPI:
    return create_app(build())
