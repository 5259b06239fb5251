"""The errors auth's use cases raise, and the clock they read."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.errors import Conflict, DomainError, NotFound

__all__ = [
    "AccountNotFound",
    "AllegroRefused",
    "Conflict",
    "ConnectionFailed",
    "TokensUnavailable",
    "now",
]


class AccountNotFound(NotFound, LookupError):
    def __init__(self, account_id: str) -> None:
        super().__init__("no such account", code="unknown_account")
        self.account_id = account_id


class TokensUnavailable(Conflict):
    """The account has no usable tokens; the code says why (needs_connection, refresh_failed)."""

    def __init__(self, account_status: str, reason: str | None) -> None:
        super().__init__(reason or account_status, code=account_status)
        self.account_status = account_status
        self.reason = reason


class ConnectionFailed(DomainError):
    """The OAuth callback arrived but the account was not connected (the attempt says why)."""

    status = 400
    default_code = "connection_failed"


class AllegroRefused(DomainError):
    """Allegro's OAuth server or API refused a step done on the caller's behalf (502)."""

    status = 502
    default_code = "allegro_refused"

    def __init__(self, allegro_code: str, message: str) -> None:
        super().__init__(f"Allegro refused: {allegro_code} {message}")
        self.allegro_code = allegro_code


def now() -> datetime:
    return datetime.now(UTC)
