"""Accounts, their Allegro tokens, connection attempts and operator API keys: pure rules."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, get_args

from shared.errors import InvalidFields, Problem
from shared.security import OperatorRole

# Allegro's marketplaces a seller account can be based on, with their currency.
MARKETPLACES: dict[str, str] = {
    "allegro-pl": "PLN",
    "allegro-cz": "CZK",
    "allegro-sk": "EUR",
    "allegro-hu": "HUF",
}
ROLES: tuple[str, ...] = get_args(OperatorRole)
_ALIAS = re.compile(r"^[\w][\w .\-]{0,63}$")


class AccountStatus(StrEnum):
    NEEDS_CONNECTION = "needs_connection"
    CONNECTED = "connected"
    REFRESH_FAILED = "refresh_failed"


class AttemptStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    DENIED = "denied"
    EXPIRED = "expired"
    FAILED = "failed"


class Flow(StrEnum):
    AUTHORIZATION_CODE = "authorization_code"
    DEVICE = "device"


# An OAuth callback whose state is unknown or stale is a malformed request, not a bad field.
BAD_REQUEST_CODES = frozenset({"invalid_state", "expired_state"})


class InvalidInput(InvalidFields, ValueError):
    """One problem of a request's value (`shared.errors.InvalidFields`, the body every service
    answers with); a ValueError too, so pydantic validators can raise it."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__([Problem(field, code, message)])
        self.field = field
        if code in BAD_REQUEST_CODES:
            self.status = 400


def validate_alias(alias: str) -> str:
    alias = alias.strip()
    if not _ALIAS.match(alias):
        raise InvalidInput(
            "invalid_alias",
            "an alias is 1-64 letters, digits, spaces, dots, dashes or underscores",
            "alias",
        )
    return alias


def validate_marketplace(marketplace: str) -> str:
    if marketplace not in MARKETPLACES:
        raise InvalidInput(
            "unknown_marketplace",
            f"unknown marketplace {marketplace!r}; one of {', '.join(MARKETPLACES)}",
            "base_marketplace",
        )
    return marketplace


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    scope: str

    @classmethod
    def from_oauth(cls, body: dict[str, Any], now: datetime) -> TokenPair:
        return cls(
            access_token=str(body["access_token"]),
            refresh_token=str(body["refresh_token"]),
            access_expires_at=now + timedelta(seconds=int(body.get("expires_in", 0))),
            scope=str(body.get("scope", "")),
        )


def needs_refresh(access_expires_at: datetime, now: datetime, ahead: timedelta) -> bool:
    """Refresh ahead of expiry, so a caller never gets a token about to die mid-batch."""
    return access_expires_at - now <= ahead


# --- PKCE (RFC 7636, S256) ----------------------------------------------------------------------


def new_code_verifier() -> str:
    return secrets.token_urlsafe(64)[:96]


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_state() -> str:
    return secrets.token_urlsafe(24)


# --- operator API keys --------------------------------------------------------------------------

API_KEY_PREFIX = "mcik_"


@dataclass(frozen=True)
class NewApiKey:
    key_id: str
    secret: str

    @property
    def full(self) -> str:
        return f"{API_KEY_PREFIX}{self.key_id}_{self.secret}"


def new_api_key() -> NewApiKey:
    return NewApiKey(secrets.token_hex(6), secrets.token_urlsafe(32))


def parse_api_key(full: str) -> tuple[str, str] | None:
    if not full.startswith(API_KEY_PREFIX):
        return None
    key_id, sep, secret = full[len(API_KEY_PREFIX) :].partition("_")
    return (key_id, secret) if sep and key_id and secret else None


def hash_secret(secret: str) -> str:
    # The secret is 256 random bits: a plain digest is enough (no password stretching needed).
    return hashlib.sha256(secret.encode()).hexdigest()


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput("unknown_role", f"role is one of {', '.join(ROLES)}", "role")
    return role
