"""Typed commands and queries of the orders service (frozen dataclasses, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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
    """The operator's search; every filter optional, newest imported first."""

    page: PageRequest
    account_id: str | None = None
    status: str | None = None
    marketplace_id: str | None = None
    buyer_login: str | None = None
    sku: str | None = None
    bought_from: datetime | None = None
    bought_to: datetime | None = None


@dataclass(frozen=True)
class GetCheckoutForm:
    checkout_form_id: str


@dataclass(frozen=True)
class ListAccounts:
    page: PageRequest = field(default_factory=PageRequest)


@dataclass(frozen=True)
class StoreCheckoutForm:
    """One checkout form read on its own (a re-import, or a re-read after a stale revision):
    stored as a page of events would store it, the cursor untouched."""

    account_id: str
    form: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class RetryImport:
    """Poll a failing account again now (its failures forgotten)."""

    account_id: str
    requested_by: str


@dataclass(frozen=True)
class ListFailedImports:
    page: PageRequest = field(default_factory=PageRequest)


# --- tracking back -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestFulfillmentStatus:
    """Set a checkout form's fulfillment status on Allegro (an operator or fulfilment)."""

    checkout_form_id: str
    status: str
    requested_by: str


@dataclass(frozen=True)
class ClaimWriteBack:
    lease_seconds: float


@dataclass(frozen=True)
class ClaimedWriteBack:
    id: int
    account_id: str
    checkout_form_id: str
    kind: str  # shipment | fulfillment_status
    fulfillment_status: str
    waybill: str | None
    carrier: str | None
    line_items: list[str]
    shipment_id: str | None
    attempts: int  # including this one
    revision: str | None  # the checkout form's revision as last stored


@dataclass(frozen=True)
class ShipmentAdded:
    write_back_id: int
    checkout_form_id: str
    shipment_id: str
    carrier_id: str
    carrier_name: str | None


@dataclass(frozen=True)
class WriteBackDone:
    write_back_id: int
    checkout_form_id: str
    fulfillment_status: str
    revision_retries: int


@dataclass(frozen=True)
class WriteBackFailed:
    """`retry_in_seconds` None: given up (an operator may retry it); else tried again then."""

    write_back_id: int
    checkout_form_id: str
    error: str
    retry_in_seconds: float | None


@dataclass(frozen=True)
class RetryWriteBack:
    write_back_id: int
    requested_by: str


@dataclass(frozen=True)
class ListWriteBacks:
    page: PageRequest
    state: str | None = None
    checkout_form_id: str | None = None
