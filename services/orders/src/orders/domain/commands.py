"""Typed commands and queries of the orders service (frozen dataclasses, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.pagination import PageRequest


@dataclass(frozen=True)
class ClaimDueAccount:
    """Take the connected account whose poll is due longest, for `lease_seconds`."""

    lease_seconds: float


@dataclass(frozen=True)
class ClaimedAccount:
    account_id: str
    event_cursor: str | None
    failures: int


@dataclass(frozen=True)
class FetchedForm:
    """A checkout form named by the events read, as GET answered it (None: it is gone, e.g.
    replaced by a combined payment); `event_types`: the types of its events in this page."""

    checkout_form_id: str
    form: dict[str, Any] | None
    event_types: tuple[str, ...]
    last_event_id: str


@dataclass(frozen=True)
class StoreOrderEvents:
    """Store what one page of order events said and move the cursor, in one transaction;
    `cursor_before` is where the page was read from (the cursor moves only from there)."""

    account_id: str
    cursor_before: str | None
    cursor_after: str
    forms: list[FetchedForm]


@dataclass(frozen=True)
class PollSucceeded:
    account_id: str
    next_poll_in_seconds: float


@dataclass(frozen=True)
class PollFailed:
    account_id: str
    error: str
    backoff_seconds: float


@dataclass(frozen=True)
class TokensFailed:
    """No usable token for the account: it stops being polled until reconnected."""

    account_id: str
    reason: str


@dataclass(frozen=True)
class ListCheckoutForms:
    page: PageRequest
    account_id: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class GetCheckoutForm:
    checkout_form_id: str


@dataclass(frozen=True)
class ListAccounts:
    page: PageRequest = field(default_factory=PageRequest)
