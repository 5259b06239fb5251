"""An in-memory PricingRepository: what pricing's handler unit tests run on (no PostgreSQL).

It holds what the tested handlers read and write; a method a test did not need yet raises.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson

from pricing.domain.categories import CategoryRow
from pricing.domain.rules import Product, RuleSet
from pricing.repository import Hold, StoredPrice, StoredRules


class FakePricingRepository:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Product] = {}
        self.prices: dict[tuple[str, str], StoredPrice] = {}
        self.contexts: dict[uuid.UUID, dict[str, Any]] = {}
        self.rule_sets: dict[str, list[StoredRules]] = {}
        self.fees: dict[str, str] = {}
        self.fx: dict[str, list[dict[str, str]]] = {}
        self.holds: dict[uuid.UUID, Hold] = {}
        self.categories: dict[str, CategoryRow] = {}

    async def lock_pricing_inputs(self, account_id: str, *, shared: bool = False) -> None:
        """One unit of work at a time here: nothing to wait for."""

    async def upsert_items(self, account_id: str, items: Sequence[Product]) -> set[str]:
        applied = set()
        for item in items:
            held = self.items.get((account_id, item.sku))
            if held is None or held.revision < item.revision:
                self.items[(account_id, item.sku)] = item
                applied.add(item.sku)
        return applied

    async def delete_prices(self, account_id: str, skus: Sequence[str]) -> None:
        for sku in skus:
            self.prices.pop((account_id, sku), None)

    async def listed_products(
        self, account_id: str, skus: Sequence[str] | None = None, sample: int | None = None
    ) -> list[Product]:
        return await self.attach_chains(
            [
                p
                for (a, sku), p in sorted(self.items.items())
                if a == account_id and p.listed and (skus is None or sku in skus)
            ][:sample]
        )

    async def attach_chains(self, products: list[Product]) -> list[Product]:
        chains = await self.category_chains(sorted({c for p in products for c in p.category_ids}))
        for product in products:
            object.__setattr__(product, "chains", chains)
        return products

    async def category_chains(self, ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for leaf in ids:
            chain: list[str] = []
            row = self.categories.get(leaf)
            while row is not None and row.found:
                chain.append(row.id)
                if row.parent_id is None:
                    out[leaf] = tuple(chain)
                    break
                row = self.categories.get(row.parent_id)
        return out

    async def save_categories(self, rows: Sequence[CategoryRow]) -> None:
        self.categories.update({r.id: r for r in rows})

    async def accounts_using(self, categories: Sequence[str]) -> list[str]:
        return sorted(
            {a for (a, _), p in self.items.items() if p.listed and p.category_ids & set(categories)}
        )

    async def products_in_categories(self, account_id: str, categories: Sequence[str]) -> list[str]:
        return [
            sku
            for (a, sku), p in sorted(self.items.items())
            if a == account_id and p.listed and p.category_ids & set(categories)
        ]

    async def context_sources(
        self, account_id: str
    ) -> tuple[int | None, str | None, str | None, str | None]:
        active = [r for r in self.rule_sets.get(account_id, []) if r.status == "active"]
        rules = active[-1] if active else None
        fx = self.fx.get(account_id)
        return (
            None if rules is None else rules.version,
            None if rules is None else orjson.dumps(rules.document).decode(),
            self.fees.get(account_id),
            None if fx is None else orjson.dumps(fx).decode(),
        )

    async def active_rules(self, account_id: str) -> tuple[int | None, RuleSet]:
        active = [r for r in self.rule_sets.get(account_id, []) if r.status == "active"]
        if not active:
            return None, RuleSet()
        return active[-1].version, RuleSet.parse(active[-1].document)

    async def stored_prices(
        self, account_id: str, skus: Sequence[str] | None = None
    ) -> dict[str, StoredPrice]:
        return {
            sku: stored
            for (a, sku), stored in self.prices.items()
            if a == account_id and (skus is None or sku in skus)
        }

    async def save_context(
        self, account_id: str, context_id: uuid.UUID, document: dict[str, Any]
    ) -> None:
        self.contexts.setdefault(context_id, document)

    async def save_prices(
        self,
        account_id: str,
        rule_version: int | None,
        context_id: uuid.UUID,
        rows: Sequence[tuple[str, int, bytes, bytes, bytes]],
    ) -> None:
        for sku, revision, prices, unpriced, _ in rows:
            held = self.prices.get((account_id, sku))
            if held is None or held.catalog_revision <= revision:
                self.prices[(account_id, sku)] = StoredPrice(
                    revision, orjson.loads(prices), orjson.loads(unpriced)
                )

    async def create_hold(
        self,
        account_id: str,
        kind: str,
        stats: dict[str, Any],
        by: str,
        rule_version: int | None = None,
        skus: Sequence[str] | None = None,
    ) -> uuid.UUID:
        hold = Hold(
            uuid.uuid4(),
            account_id,
            kind,
            "pending",
            rule_version,
            None if skus is None else list(skus),
            stats,
            by,
            datetime.now(UTC),
            None,
            None,
        )
        self.holds[hold.id] = hold
        return hold.id

    async def hold_for_update(self, account_id: str, hold_id: uuid.UUID) -> Hold | None:
        hold = self.holds.get(hold_id)
        return hold if hold is not None and hold.account_id == account_id else None

    async def decide_hold(self, hold_id: uuid.UUID, status: str, by: str) -> None:
        self.holds[hold_id] = replace(
            self.holds[hold_id], status=status, decided_by=by, decided_at=datetime.now(UTC)
        )

    async def set_rule_status(self, account_id: str, version: int, status: str) -> None:
        self.rule_sets[account_id] = [
            replace(r, status=status) if r.version == version else r
            for r in self.rule_sets.get(account_id, [])
        ]

    def add_rules(self, account_id: str, document: dict[str, Any], status: str = "active") -> int:
        versions = self.rule_sets.setdefault(account_id, [])
        version = len(versions) + 1
        versions.append(StoredRules(version, status, document, "test", datetime.now(UTC)))
        return version

    async def save_fx_rates(self, account_id: str, rates: Sequence[Any]) -> None:
        self.fx[account_id] = [r.as_dict() for r in rates]
