"""What auth's routes and use cases need beyond their messages: built at start, closed at stop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from auth.crypto import TokenCipher
from auth.settings import Settings
from shared.allegro import AllegroClient
from shared.allegro.factory import allegro_client
from shared.service import ServiceRuntime, dependencies_of
from shared.uow import UnitsOfWork


@dataclass(frozen=True)
class AuthDeps:
    units: UnitsOfWork
    cipher: TokenCipher  # tokens and PKCE/device secrets are stored encrypted
    allegro: AllegroClient  # Allegro's OAuth server and /me
    settings: Settings

    @property
    def client_secret(self) -> str:
        return self.settings.allegro_client_secret.get_secret_value()

    @classmethod
    async def build(cls, runtime: ServiceRuntime, settings: Settings) -> AuthDeps:
        assert runtime.engine is not None
        return cls(
            units=UnitsOfWork(runtime.engine, settings.service_name),
            cipher=TokenCipher(
                settings.token_encryption_keys.get_secret_value(),
                development=settings.environment == "development",
            ),
            # auth owns the tokens: its client asks no one for them.
            allegro=allegro_client(settings, runtime.engine, tokens_from_auth=False),
            settings=settings,
        )

    async def aclose(self) -> None:
        await self.allegro.aclose()


Deps = Annotated[AuthDeps, Depends(dependencies_of(AuthDeps))]
