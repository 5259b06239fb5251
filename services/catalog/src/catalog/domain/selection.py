"""What an account publishes: include/exclude rules by category subtree, brand and SKU.

Precedence, most specific first: an excluded SKU is never selected; an included SKU is selected
(even inside an excluded category or brand); otherwise a product is selected when it matches an
included category subtree or brand and no excluded one. Category rules name a supplier category
path and cover its whole subtree; brand rules ignore case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from catalog.domain.model import CATEGORY_SEPARATOR, Product


def normalise_category(path: str) -> str:
    parts = [p.strip() for p in path.split(">")]
    return CATEGORY_SEPARATOR.join(p for p in parts if p)


def in_subtree(path: str | None, roots: frozenset[str]) -> bool:
    if not path or not roots:
        return False
    if path in roots:
        return True
    parts = path.split(CATEGORY_SEPARATOR)
    return any(CATEGORY_SEPARATOR.join(parts[:i]) in roots for i in range(1, len(parts)))


@dataclass(frozen=True)
class Rules:
    categories: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Rules:
        data = data or {}
        return cls(
            frozenset(normalise_category(c) for c in data.get("categories", []) if c.strip()),
            frozenset(b.strip().lower() for b in data.get("brands", []) if b.strip()),
            frozenset(s.strip() for s in data.get("skus", []) if s.strip()),
        )

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "categories": sorted(self.categories),
            "brands": sorted(self.brands),
            "skus": sorted(self.skus),
        }

    def matches_group(self, product: Product) -> bool:
        brand = (product.brand or "").lower()
        return in_subtree(product.category_path, self.categories) or (
            bool(brand) and brand in self.brands
        )


@dataclass(frozen=True)
class Selection:
    include: Rules = field(default_factory=Rules)
    exclude: Rules = field(default_factory=Rules)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Selection:
        data = data or {}
        return cls(Rules.from_dict(data.get("include")), Rules.from_dict(data.get("exclude")))

    def as_dict(self) -> dict[str, Any]:
        return {"include": self.include.as_dict(), "exclude": self.exclude.as_dict()}

    def selects(self, product: Product) -> bool:
        if product.sku in self.exclude.skus:
            return False
        if product.sku in self.include.skus:
            return True
        return self.include.matches_group(product) and not self.exclude.matches_group(product)
