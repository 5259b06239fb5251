"""What is asked of auth, as typed messages: each is handled by one function of `auth.handlers`
taking `(message, uow)`. Commands change state; queries only read."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from auth.domain.model import AttemptStatus
from shared.pagination import PageRequest

# --- accounts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateAccount:
    alias: str
    base_marketplace: str


@dataclass(frozen=True)
class ResetCredentials:
    account_id: str


@dataclass(frozen=True)
class DeleteAccount:
    account_id: str


@dataclass(frozen=True)
class GetAccount:
    account_id: str


@dataclass(frozen=True)
class ListAccounts:
    page: PageRequest


@dataclass(frozen=True)
class ListExpiringAccounts:
    before: datetime


# --- connecting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddAttempt:
    """A new pending connection attempt of an account; `values` are its columns (secrets
    already encrypted)."""

    account_id: str
    values: dict[str, Any]


@dataclass(frozen=True)
class OpenCallback:
    """Allegro's redirect back: the attempt its `state` names, finished at once on an error."""

    state: str
    code: str | None
    error: str | None


@dataclass(frozen=True)
class FinishAttempt:
    attempt_id: uuid.UUID
    account_id: str
    status: AttemptStatus
    error: str | None
    code: str | None


@dataclass(frozen=True)
class SchedulePoll:
    attempt_id: uuid.UUID
    interval: int


@dataclass(frozen=True)
class LinkAccount:
    """Tokens in hand and the Allegro user they belong to: check, store, announce."""

    attempt_id: uuid.UUID
    account_id: str
    access_token: str  # encrypted
    refresh_token: str  # encrypted
    access_expires_at: datetime
    scope: str
    me: dict[str, Any]


@dataclass(frozen=True)
class ClaimDeviceAttempts:
    lease_seconds: float


# --- tokens ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshTokens:
    """A valid token pair for the account, refreshed under the token row's lock if needed.

    It carries how to reach Allegro and the cipher because this one use case calls Allegro
    inside its unit of work, on purpose (see handlers.tokens.refresh_under_lock).
    """

    account_id: str
    force: bool
    ahead: timedelta
    decrypt: Callable[[str], str]
    encrypt: Callable[[str], str]
    exchange: Callable[[str], Awaitable[dict[str, Any]]]  # refresh token -> OAuth answer


@dataclass(frozen=True)
class RotateSecrets:
    rotate: Callable[[str], str]  # ciphertext under any key -> under the current key


# --- operator API keys -----------------------------------------------------------------------


@dataclass(frozen=True)
class CreateApiKey:
    name: str
    role: str


@dataclass(frozen=True)
class RevokeApiKey:
    key_id: str


@dataclass(frozen=True)
class ListApiKeys:
    page: PageRequest


@dataclass(frozen=True)
class ResolveApiKey:
    api_key: str


@dataclass(frozen=True)
class InstallBootstrapKey:
    """The configured bootstrap key (id, secret), or None when none is configured."""

    key: tuple[str, str] | None
