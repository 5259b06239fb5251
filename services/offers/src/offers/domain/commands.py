"""Typed commands and queries of the offers service (frozen dataclasses, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.pagination import PageRequest

# --- what is wanted: the catalogue's and pricing's values, and where they move an offer -------


@dataclass(frozen=True)
class Content:
    """A catalogue revision of one offer's product (`content` None: withdrawn)."""

    sku: str
    content: dict[str, Any] | None
    revision: int
    listed: bool
    stock: int


@dataclass(frozen=True)
class Prices:
    """One offer's prices per marketplace, computed from a catalogue revision."""

    sku: str
    prices: dict[str, Any]
    unpriced: dict[str, str]
    revision: int


@dataclass(frozen=True)
class Move:
    """An offer's new state (None: it stays; a transition is recorded when it changes), why,
    what it waits for and the worker's next step."""

    sku: str
    from_state: str | None
    to_state: str | None
    cause: str
    waiting_for: tuple[str, ...] = ()
    work: str | None = None
    reason: dict[str, Any] | None = None


# --- the worker's steps (offers/publisher.py calls Allegro between them) ----------------------


@dataclass(frozen=True)
class ClaimOffers:
    """Take up to `limit` offers whose next step is due, for `lease_seconds`."""

    limit: int
    lease_seconds: float
    # False: no read-only steps (operation polls, read-backs), whose budget is full.
    reads: bool = True


@dataclass(frozen=True)
class ClaimedOffer:
    account_id: str
    sku: str
    state: str
    work: str
    offer_id: str | None
    operation_url: str | None
    attempts: int
    claimed_until: Any  # the claim's token: the outcome is stored only while it holds
    listed: bool
    stock: int
    content: dict[str, Any] | None
    catalog_revision: int
    prices: dict[str, Any]
    unpriced: dict[str, str]
    price_revision: int


@dataclass(frozen=True)
class Outcome:
    """What a worker step ended with, stored if the claim still holds.

    `state` None keeps the state; `work` None means nothing more is due; `sent` records what
    Allegro now holds (revisions, prices, stock, shipping list)."""

    account_id: str
    sku: str
    claimed_until: Any
    state: str | None
    cause: str
    work: str | None = None
    due_in_seconds: float = 0.0
    reason: dict[str, Any] | None = None
    offer_id: str | None = None
    allegro_status: str | None = None
    marketplaces: dict[str, Any] | None = None
    operation_url: str | None = None
    sent: dict[str, Any] | None = None
    not_sent: dict[str, str] | None = None
    reset_attempts: bool = False
    # The attempt does not count towards the offer's limit: Allegro's rate (a 429, or no
    # budget in time) says nothing about the offer.
    uncounted: bool = False
    # A history entry beside the outcome, its state unchanged (`reason`'s shape): images
    # Allegro refused, the offer went on without them.
    note: dict[str, Any] | None = None


@dataclass(frozen=True)
class OfferRepaired:
    """A drift repair put the offer in a state; the state machine takes it on from there.
    `start_over`: the offer is judged as a new one (Allegro lost it: checked and created
    again, or waiting for what it lacks)."""

    account_id: str
    sku: str
    cause: str
    start_over: bool = False


@dataclass(frozen=True)
class ClaimReadinessCheck:
    lease_seconds: float


@dataclass(frozen=True)
class ReadinessClaim:
    """A readiness check granted: its account and its number (a check granted later has a
    larger one; its result is not overwritten by one with a smaller number)."""

    account_id: str
    number: int


@dataclass(frozen=True)
class BeginReadinessCheck:
    account_id: str
    lease_seconds: float


@dataclass(frozen=True)
class ReadinessFound:
    """A readiness check's result: the items, and the ids recorded for each found one; stored
    only if no check granted later (`ReadinessClaim.number`) was stored first. Without a
    number: as of now."""

    account_id: str
    items: list[dict[str, Any]]
    ids: dict[str, str | None]
    recheck_in_seconds: float
    check_number: int | None = None


@dataclass(frozen=True)
class AccountNotConnected:
    """No usable token: publication stops until the account is connected and re-checked."""

    account_id: str
    reason: str


@dataclass(frozen=True)
class GetAccount:
    account_id: str


@dataclass(frozen=True)
class SaveReadinessInput:
    """What the operator gives for GPSR before a re-check (None keeps the stored value)."""

    account_id: str
    producer_data: dict[str, Any] | None
    safety_information: str | None
    marketplaces: list[str] | None


@dataclass(frozen=True)
class SaveCategoryParameters:
    category_id: str
    parameters: list[dict[str, Any]]


@dataclass(frozen=True)
class GetImages:
    """The account's uploads of these supplier image URLs."""

    account_id: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class SaveImages:
    """New uploads: (supplier URL, Allegro location, expires at)."""

    account_id: str
    uploaded: tuple[tuple[str, str, Any], ...]


@dataclass(frozen=True)
class SaveImageRefusals:
    """Uploads Allegro refused for the image itself: (supplier URL, its answer, when)."""

    account_id: str
    refused: tuple[tuple[str, str, Any], ...]


@dataclass(frozen=True)
class GetCategoryParameters:
    category_id: str
    max_age_seconds: float


# --- operator commands and queries ------------------------------------------------------------


@dataclass(frozen=True)
class SetPaused:
    account_id: str
    paused: bool
    by: str


@dataclass(frozen=True)
class RetryOffers:
    account_id: str
    states: tuple[str, ...]
    skus: tuple[str, ...] | None
    by: str


@dataclass(frozen=True)
class ListOffers:
    account_id: str
    page: PageRequest = field(default_factory=PageRequest)
    state: str | None = None


@dataclass(frozen=True)
class GetOffer:
    account_id: str
    sku: str


@dataclass(frozen=True)
class ListImageRefusals:
    """The image URLs whose upload Allegro refused; each is tried again `retry_seconds` after
    its refusal."""

    account_id: str
    retry_seconds: float
    page: PageRequest = field(default_factory=PageRequest)


@dataclass(frozen=True)
class ForgetImageRefusals:
    """The supplier fixed these images (None: every refused one): upload them again at once."""

    account_id: str
    sources: tuple[str, ...] | None
    by: str


@dataclass(frozen=True)
class GetProgress:
    account_id: str
    window_seconds: float
    creates_per_minute: float  # the seller's budget of POST /sale/product-offers
    calls_per_minute: float  # this service's share of the Client ID's


@dataclass(frozen=True)
class PlanPublication:
    """The offers a dry run looks at (read only)."""

    account_id: str
    limit: int


# --- the price and stock sync (offers/sync.py calls Allegro between them) ---------------------


@dataclass(frozen=True)
class PlanSync:
    """Gather up to `limit` out-of-sync offers into commands of at most `per_command`."""

    limit: int
    per_command: int


@dataclass(frozen=True)
class ClaimCommands:
    limit: int
    lease_seconds: float


@dataclass(frozen=True)
class ClaimedCommand:
    """A batch command to send or poll, held until `claimed_until` (its claim's token)."""

    command_id: str
    account_id: str
    kind: str
    marketplace: str | None
    value: dict[str, Any]
    status: str
    attempts: int
    claimed_until: Any
    offer_ids: tuple[str, ...]


@dataclass(frozen=True)
class CommandLater:
    """The command goes on later: `status` sent (Allegro has it) or new (send it again)."""

    command: ClaimedCommand
    status: str
    due_in_seconds: float
    reset_attempts: bool = False


@dataclass(frozen=True)
class CommandFinished:
    """Allegro's report and tasks of a completed command (or, with `refused`, the error that
    refused the whole command)."""

    command: ClaimedCommand
    task_count: dict[str, Any]
    tasks: list[dict[str, Any]]
    max_attempts: int
    backoff_seconds: float
    backoff_max_seconds: float
    refused: dict[str, Any] | None = None


@dataclass(frozen=True)
class RetrySync:
    account_id: str
    skus: tuple[str, ...] | None


@dataclass(frozen=True)
class CountOffersByState:
    """How many offers are in each state, per base marketplace of their accounts (metrics)."""


@dataclass(frozen=True)
class StateCount:
    state: str
    marketplace: str
    offers: int
