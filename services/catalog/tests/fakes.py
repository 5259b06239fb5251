"""In-memory catalog repositories: what the handler unit tests run on (no PostgreSQL).

Each holds what the tested handlers read and write; a method no test needed yet is absent,
so a handler reaching for it fails the test loudly.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from catalog.domain.model import Product
from catalog.domain.names import Names
from catalog.domain.screening import ScreeningRule
from catalog.domain.selection import Selection
from catalog.domain.stock import DEFAULT_LAG
from catalog.repository import (
    AccountRepository,
    CapPolicy,
    ImportRepository,
    ProductRepository,
    RuleRepository,
    StockRepository,
)


class FakeProducts:
    def __init__(self, *products: Product) -> None:
        self.products = {p.sku: p for p in products}
        self.titles: dict[str, str] = {}

    async def load(self, skus: Sequence[str], *, lock: bool = False) -> dict[str, Product]:
        return {s: self.products[s] for s in skus if s in self.products}

    async def page(
        self,
        after: str | None,
        limit: int,
        category: str | None = None,
        *,
        share_lock: bool = False,
    ) -> list[Product]:
        skus = sorted(s for s in self.products if s > (after or ""))
        return [self.products[s] for s in skus[:limit]]

    async def title_overrides(self, skus: Sequence[str]) -> dict[str, str]:
        return {s: self.titles[s] for s in skus if s in self.titles}

    async def variations_of(self, parent_sku: str, limit: int) -> list[Product]:
        skus = sorted(s for s, p in self.products.items() if p.parent_sku == parent_sku)
        return [self.products[s] for s in skus[:limit]]


class FakeAccounts:
    def __init__(self) -> None:
        self.saved: dict[str, Selection] = {}
        self.listed: dict[str, set[str]] = {}

    async def selections(self, account_ids: Sequence[str] | None = None) -> dict[str, Selection]:
        return {a: s for a, s in self.saved.items() if account_ids is None or a in account_ids}

    async def selection(self, account_id: str) -> Selection | None:
        return self.saved.get(account_id)

    async def save_selection(self, account_id: str, selection: Selection, by: str) -> None:
        self.saved[account_id] = selection

    async def waived_reasons(
        self, account_ids: Sequence[str] | None = None
    ) -> dict[str, frozenset[str]]:
        return {}

    async def listed_skus(self, account_id: str) -> set[str]:
        return self.listed.get(account_id, set())

    async def cap_policy(self, account_id: str) -> CapPolicy:
        return CapPolicy()


class FakeRules:
    def __init__(self) -> None:
        self.rules: dict[int, ScreeningRule] = {}
        self.mappings: dict[tuple[str, str], tuple[str, str]] = {}  # -> (allegro id, source)
        self.suggestions: dict[str, list[dict[str, Any]]] = {}

    async def screening_rules(self) -> list[ScreeningRule]:
        return list(self.rules.values())

    async def delete_screening_rule(self, rule_id: int) -> bool:
        return self.rules.pop(rule_id, None) is not None

    async def category_mappings(self) -> dict[tuple[str, str], str]:
        return {key: allegro_id for key, (allegro_id, _) in self.mappings.items()}

    async def names(self) -> Names:
        return Names()

    async def suggestions_of(self, categories: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        return {c: self.suggestions[c] for c in categories if c in self.suggestions}

    async def map_categories(
        self, mapped: dict[str, str], *, marketplace: str = "", source: str
    ) -> None:
        for category, allegro_id in mapped.items():
            self.mappings[(category, marketplace)] = (allegro_id, source)


class FakeStock:
    def __init__(self) -> None:
        self.reservations: dict[str, list[tuple[int, datetime]]] = {}
        self.cancelled: set[str] = set()
        self.lag: timedelta = DEFAULT_LAG

    async def open_reservations(self, skus: Sequence[str]) -> dict[str, list[tuple[int, datetime]]]:
        return {s: self.reservations[s] for s in skus if s in self.reservations}

    async def reservation_lag(self) -> timedelta:
        return self.lag

    async def is_cancelled(self, order_id: str) -> bool:
        return order_id in self.cancelled

    async def reserve(
        self, order_id: str, account_id: str, at: datetime, quantities: dict[str, int]
    ) -> list[str]:
        raise AssertionError("nothing is reserved for this order")


class FakeImports:
    def __init__(self) -> None:
        self.stored_errors: dict[uuid.UUID, list[dict[str, Any]]] = {}

    async def errors(self, import_id: uuid.UUID, after: int, limit: int) -> list[dict[str, Any]]:
        return [e for e in self.stored_errors.get(import_id, []) if e["seq"] > after][:limit]

    async def reports(
        self, format: str | None, limit: int, before: tuple[datetime, uuid.UUID] | None = None
    ) -> list[dict[str, Any]]:
        return []


def repositories(
    products: FakeProducts | None = None,
    accounts: FakeAccounts | None = None,
    rules: FakeRules | None = None,
    stock: FakeStock | None = None,
    imports: FakeImports | None = None,
) -> dict[object, object]:
    """The fakes by the repository class a handler asks its unit of work for."""
    return {
        ProductRepository: products or FakeProducts(),
        AccountRepository: accounts or FakeAccounts(),
        RuleRepository: rules or FakeRules(),
        StockRepository: stock or FakeStock(),
        ImportRepository: imports or FakeImports(),
    }
