"""Composition root of the auth service: app factory and `python -m auth`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from auth.api import router
from auth.consumer import SUBSCRIPTIONS
from auth.settings import Settings
from shared.service import ServiceDefinition, create_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def build(settings: Settings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        settings=settings or Settings(),
        migrations_dir=MIGRATIONS,
        subscriptions=SUBSCRIPTIONS,
        routers=[router],
        title="mci auth: Allegro account connections (OAuth) and operator API keys",
    )


def app() -> FastAPI:
    return create_app(build())
