"""The auth service's dependencies and the errors its use cases raise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from auth.crypto import TokenCipher
from auth.settings import Settings
from shared.allegro import AllegroClient
from shared.uow import UnitOfWork


@dataclass
class Auth:
    engine: AsyncEngine
    cipher: TokenCipher
    allegro: AllegroClient
    settings: Settings

    @property
    def client_secret(self) -> str:
        return self.settings.allegro_client_secret.get_secret_value()


class AccountNotFound(LookupError):
    pass


class AccountUnavailable(Exception):
    """The account has no usable tokens; `status` says why (needs_connection, refresh_failed)."""

    def __init__(self, status: str, reason: str | None) -> None:
        super().__init__(reason or status)
        self.status = status
        self.reason = reason


class Conflict(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class AllegroRefused(Exception):
    """Allegro's OAuth server or API refused a step; `code` is Allegro's error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def now() -> datetime:
    return datetime.now(UTC)


def unit_of_work_on(conn: AsyncConnection) -> UnitOfWork:
    """The outbox of a transaction a use case opened itself (auth does not use UnitsOfWork yet)."""
    return UnitOfWork(conn, "auth")
