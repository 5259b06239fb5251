"""Composition root of the BigBuy connector: app factory and `python -m bigbuy_connector`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from bigbuy_connector.api import router
from bigbuy_connector.clock import Clock
from bigbuy_connector.consumer import SUBSCRIPTIONS
from bigbuy_connector.deps import BigBuyDeps
from bigbuy_connector.scheduler import refresh_catalogue
from bigbuy_connector.sender import send_orders
from bigbuy_connector.settings import Settings
from shared.service import Dependencies, ServiceDefinition, ServiceRuntime, create_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def build(settings: Settings | None = None, clock: Clock | None = None) -> ServiceDefinition:
    """`clock`: the time the limits and schedules run on (default: the system's)."""

    async def dependencies(runtime: ServiceRuntime) -> Dependencies:
        return await BigBuyDeps.build(runtime, clock)

    return ServiceDefinition(
        settings=settings or Settings(),
        migrations_dir=MIGRATIONS,
        subscriptions=SUBSCRIPTIONS,
        routers=[router],
        dependencies=dependencies,
        background=[refresh_catalogue, send_orders],
        title="mci bigbuy: BigBuy's catalogue in, orders out, tracking back",
    )


def app() -> FastAPI:
    return create_app(build())
