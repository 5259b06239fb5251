"""Composition root of the auth service: app factory and `python -m auth`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from auth import handlers
from auth.api import router
from auth.consumer import SUBSCRIPTIONS
from auth.deps import AuthDeps
from auth.domain import commands as c
from auth.settings import Settings
from shared.security import InvalidToken, Principal, is_signed_token, verify_token
from shared.service import Dependencies, ServiceDefinition, ServiceRuntime, create_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class AuthService:
    """What the runtime calls beyond routes: the dependencies (and the bootstrap key), the
    worker, credentials."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._runtime: ServiceRuntime | None = None

    def get(self) -> AuthDeps:
        deps = None if self._runtime is None else self._runtime.dependencies
        if not isinstance(deps, AuthDeps):
            raise RuntimeError("the auth service has not started")
        return deps

    async def dependencies(self, runtime: ServiceRuntime) -> Dependencies:
        """Build the dependencies, then install the configured bootstrap key with them: the
        runtime serves nothing (and retries the whole step) until both are done."""
        self._runtime = runtime
        deps = await AuthDeps.build(runtime, self.settings)
        try:
            await deps.units.handle(handlers.install_bootstrap_key, handlers.bootstrap_key_of(deps))
        except BaseException:
            await deps.aclose()  # the retry builds them afresh
            raise
        return deps

    async def background(self, runtime: ServiceRuntime) -> None:
        await handlers.background(self.get())

    async def resolve(self, credential: str) -> Principal:
        """auth checks API keys against its own table (other services ask it over HTTP)."""
        if credential.startswith("mcik_"):
            principal = await self.get().units.read(
                handlers.resolve_api_key, c.ResolveApiKey(credential)
            )
            if principal is None:
                raise InvalidToken("unknown or revoked API key")
            return principal
        if is_signed_token(credential):
            return verify_token(self.settings.service_token_secret.get_secret_value(), credential)
        raise InvalidToken("unknown kind of credential")


def build(settings: Settings | None = None) -> ServiceDefinition:
    service = AuthService(settings or Settings())
    return ServiceDefinition(
        settings=service.settings,
        migrations_dir=MIGRATIONS,
        subscriptions=SUBSCRIPTIONS,
        routers=[router],
        dependencies=service.dependencies,
        title="mci auth: Allegro account connections (OAuth) and operator API keys",
        background=[service.background],
        principal_resolver=service.resolve,
    )


def app() -> FastAPI:
    return create_app(build())
