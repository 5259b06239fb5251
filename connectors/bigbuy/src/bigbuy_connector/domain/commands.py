"""Typed commands and queries of the BigBuy connector."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shared.pagination import PageRequest

# --- rate budgets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TakeBudget:
    endpoint: str
    now: float
    limit: int
    window: float


@dataclass(frozen=True)
class RecordBudget:
    endpoint: str
    limit: int
    remaining: int
    reset_at: float


@dataclass(frozen=True)
class BudgetSpent:
    endpoint: str
    reset_at: float


@dataclass(frozen=True)
class BudgetAvailableAt:
    endpoint: str
    now: float


@dataclass(frozen=True)
class ListBudgets:
    pass


# --- catalogue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimScheduler:
    holder: str
    now: float
    lease_seconds: float


@dataclass(frozen=True)
class PlanRuns:
    """Open the refreshes that are due; answer the open ones with their unfinished lists."""

    now: float
    full_interval: float
    stock_interval: float


@dataclass(frozen=True)
class PendingList:
    name: str
    next_page: int
    retry_at: float


@dataclass(frozen=True)
class OpenRun:
    run_id: int
    kind: str
    started_at: float
    pending: list[PendingList]


@dataclass(frozen=True)
class SavePage:
    run_id: int
    list_name: str
    page: int
    rows: list[Any]
    last: bool


@dataclass(frozen=True)
class PageFailed:
    run_id: int
    list_name: str
    error: str
    retry_at: float


@dataclass(frozen=True)
class FinishRun:
    """Join the run's lists, send what changed upstream, close the run: one transaction."""

    run_id: int
    now: float
    max_handling_days: int
    products_per_event: int
    language: str = "en"


@dataclass(frozen=True)
class ListRuns:
    page: PageRequest


@dataclass(frozen=True)
class NextWithoutCompliance:
    pass


@dataclass(frozen=True)
class SaveCompliance:
    product_id: int
    data: Any
    now: float


@dataclass(frozen=True)
class ProductIdOf:
    sku: str


# --- orders ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimOrder:
    now: float
    lease_seconds: float


@dataclass(frozen=True)
class MarkSending:
    order_id: str
    cost_total: Decimal
    sale_total: Decimal | None


@dataclass(frozen=True)
class OrderOutcome:
    """What one attempt ended in: a state and the columns it sets; stock corrections go
    upstream with it (out of stock)."""

    order_id: str
    state: str | None  # None: stays as it is (a `sending` order stays `sending`)
    values: dict[str, Any] = field(default_factory=dict)
    stock_corrections: dict[str, int] = field(default_factory=dict)
    now: float = 0.0


@dataclass(frozen=True)
class ListOrders:
    page: PageRequest
    state: str | None


@dataclass(frozen=True)
class GetOrder:
    order_id: str


@dataclass(frozen=True)
class Resend:
    order_id: str
    now: float
    address: dict[str, str] | None = None
    accept_loss: bool = False


@dataclass(frozen=True)
class ReleaseWaiting:
    """The wallet holds `balance` EUR: let the oldest waiting orders it covers go out."""

    balance: Decimal
    now: float


@dataclass(frozen=True)
class WalletSummary:
    balance: Decimal | None


@dataclass(frozen=True)
class SentOrders:
    limit: int


@dataclass(frozen=True)
class Shipped:
    order_id: str
    carrier_id: str
    carrier_name: str
    tracking_number: str
    bigbuy_status: str | None


@dataclass(frozen=True)
class StatusSeen:
    order_id: str
    bigbuy_status: str
