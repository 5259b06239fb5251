"""What an operator asks of pricing, as typed messages: each is handled by one function of
`pricing.handlers` taking `(message, uow)`. Commands change state; queries only read."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pricing.domain.categories import CategoryRow
from pricing.domain.fees import FeeRule
from pricing.domain.fx import FxRate
from shared.pagination import PageRequest

# --- commands --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaveRules:
    account_id: str
    document: dict[str, Any]
    by: str


@dataclass(frozen=True)
class AddRule:
    account_id: str
    rule: dict[str, Any]
    by: str


@dataclass(frozen=True)
class DeleteRule:
    account_id: str
    rule_id: str
    by: str


@dataclass(frozen=True)
class SetFxRates:
    account_id: str
    rates: Sequence[FxRate]
    by: str


@dataclass(frozen=True)
class SetFeeTable:
    account_id: str
    document: dict[str, Any]
    by: str


@dataclass(frozen=True)
class ApplyFeeSamples:
    account_id: str
    sampled: Sequence[FeeRule]
    by: str


@dataclass(frozen=True)
class SaveCategories:
    """Categories read from Allegro's tree; `resolved`: the categories whose chain they complete."""

    rows: Sequence[CategoryRow]
    resolved: Sequence[str]


@dataclass(frozen=True)
class RepriceCategories:
    account_id: str
    categories: Sequence[str]


@dataclass(frozen=True)
class ExpireCategories:
    """Read the chains of an account's categories again (Allegro moved or renamed some)."""

    account_id: str


@dataclass(frozen=True)
class DecideHold:
    account_id: str
    hold_id: uuid.UUID
    confirm: bool
    by: str


# --- queries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GetRules:
    account_id: str


@dataclass(frozen=True)
class ListRuleVersions:
    account_id: str
    page: PageRequest = field(default_factory=PageRequest)


@dataclass(frozen=True)
class Simulate:
    account_id: str
    rules: dict[str, Any]
    sample: int | None


@dataclass(frozen=True)
class ListFxRates:
    account_id: str
    page: PageRequest = field(default_factory=PageRequest)


@dataclass(frozen=True)
class GetFeeTable:
    account_id: str


@dataclass(frozen=True)
class SelectionCategories:
    account_id: str
    limit: int


@dataclass(frozen=True)
class CategoriesToResolve:
    ttl_seconds: float
    limit: int


@dataclass(frozen=True)
class FreshCategories:
    ttl_seconds: float


@dataclass(frozen=True)
class CalibrationPlan:
    account_id: str
    max_categories: int = 500


@dataclass(frozen=True)
class GetPrices:
    account_id: str
    sku: str


@dataclass(frozen=True)
class Explain:
    account_id: str
    sku: str
    marketplace_id: str


@dataclass(frozen=True)
class ListHolds:
    account_id: str
    status: str | None
    page: PageRequest = field(default_factory=PageRequest)
