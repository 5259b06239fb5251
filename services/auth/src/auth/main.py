"""Composition root of the auth service: app factory and `python -m auth`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from auth import handlers
from auth.api import build_router
from auth.consumer import SUBSCRIPTIONS
from auth.crypto import TokenCipher
from auth.handlers import Auth
from auth.settings import Settings
from shared.allegro.factory import allegro_client
from shared.security import InvalidToken, Principal, is_signed_token, verify_token
from shared.service import ServiceDefinition, ServiceRuntime, create_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class AuthService:
    """Holds the use cases' dependencies once the runtime has its engine."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._auth: Auth | None = None

    def get(self) -> Auth:
        if self._auth is None:
            raise RuntimeError("the auth service has not started")
        return self._auth

    async def start(self, runtime: ServiceRuntime) -> None:
        assert runtime.engine is not None
        self._auth = Auth(
            engine=runtime.engine,
            cipher=TokenCipher(
                self.settings.token_encryption_keys.get_secret_value(),
                development=self.settings.environment == "development",
            ),
            # auth owns the tokens: its client asks no one for them.
            allegro=allegro_client(self.settings, runtime.engine, tokens_from_auth=False),
            settings=self.settings,
        )
        await handlers.install_bootstrap_key(self._auth)

    async def stop(self, runtime: ServiceRuntime) -> None:
        if self._auth is not None:
            await self._auth.allegro.aclose()

    async def background(self, runtime: ServiceRuntime) -> None:
        await handlers.background(self.get())

    async def resolve(self, credential: str) -> Principal:
        """auth checks API keys against its own table (other services ask it over HTTP)."""
        if credential.startswith("mcik_"):
            principal = await handlers.resolve_api_key(self.get(), credential)
            if principal is None:
                raise InvalidToken("unknown or revoked API key")
            return principal
        if is_signed_token(credential):
            return verify_token(self.settings.service_token_secret.get_secret_value(), credential)
        raise InvalidToken("unknown kind of credential")


def build(settings: Settings | None = None) -> ServiceDefinition:
    service = AuthService(settings or Settings())
    definition = ServiceDefinition(
        settings=service.settings,
        migrations_dir=MIGRATIONS,
        subscriptions=SUBSCRIPTIONS,
        routers=[build_router(service.get, service.settings)],
        title="mci auth: Allegro account connections (OAuth) and operator API keys",
        on_start=service.start,
        on_stop=service.stop,
        background=[service.background],
        principal_resolver=service.resolve,
    )
    return definition


def app() -> FastAPI:
    return create_app(build())
