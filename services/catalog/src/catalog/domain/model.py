"""The supplier product, how records merge into it, and its content hash. Pure: no I/O.

A product's fields fall into three groups, each with its own supplier update time: content
(ean, title, description, images, category, brand, weight, attributes), price (cost, rrp) and
stock. A record (full or partial) changes a group only if it carries a field of that group and
is newer than the group's time, so an old record arriving late never overwrites newer data,
while a late full record still cannot undo a newer stock-only update.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

CONTENT_FIELDS = (
    "ean",
    "title",
    "description",
    "images",
    "category_path",
    "brand",
    "weight_kg",
    "attributes",
    "parent_sku",
    "variation",
    "received",
)
PRICE_FIELDS = ("cost_amount", "cost_currency", "rrp_amount", "rrp_currency")
STOCK_FIELDS = ("stock",)
GROUPS: dict[str, tuple[str, ...]] = {
    "content": CONTENT_FIELDS,
    "price": PRICE_FIELDS,
    "stock": STOCK_FIELDS,
}
ALL_FIELDS = CONTENT_FIELDS + PRICE_FIELDS + STOCK_FIELDS
CATEGORY_SEPARATOR = " > "


@dataclass(frozen=True, slots=True)
class ProductRecord:
    """What a source says about one product at `updated_at`: only the fields it carries."""

    sku: str
    updated_at: datetime
    fields: dict[str, Any]
    explicit_time: bool = True  # False: the import had no update time and used its own clock


@dataclass(slots=True)
class Product:
    sku: str
    ean: str | None = None
    title: str | None = None
    description: str | None = None
    images: list[str] = field(default_factory=list)
    category_path: str | None = None
    brand: str | None = None
    weight_kg: Decimal | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    # A variation (BigBuy: a product with attributes): its parent's SKU, which is not sold by
    # itself, and the attribute values that tell it from its siblings ({"Rozmiar": "M"}).
    parent_sku: str | None = None
    variation: dict[str, str] = field(default_factory=dict)
    cost_amount: Decimal | None = None
    cost_currency: str | None = None
    rrp_amount: Decimal | None = None
    rrp_currency: str | None = None
    stock: int | None = None
    # A field's value as the supplier sent it, where we stored something else: a rejected
    # `ean`, a shortened `title`, an HTML `description` before sanitising (audit, and flags).
    received: dict[str, str] = field(default_factory=dict)
    content_at: datetime | None = None
    price_at: datetime | None = None
    stock_at: datetime | None = None
    source: str = ""
    content_hash: str = ""

    def group_time(self, group: str) -> datetime | None:
        value: datetime | None = getattr(self, f"{group}_at")
        return value

    @property
    def updated_at(self) -> datetime | None:
        times = [t for t in (self.content_at, self.price_at, self.stock_at) if t is not None]
        return max(times) if times else None

    @property
    def flags(self) -> list[str]:
        """What import noticed and let through: the product is kept, a person may act."""
        out = []
        if "ean" in self.received:
            out.append("invalid_ean")
        if "title" in self.received:
            out.append("title_shortened")
        if not self.weight_kg:
            out.append("needs_weight")
        return out

    @property
    def root_category(self) -> str | None:
        return self.category_path.split(CATEGORY_SEPARATOR)[0] if self.category_path else None


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value.normalize()) if value == value.to_integral() else str(value)
    if isinstance(value, dict):
        return sorted((str(k), str(v)) for k, v in value.items())
    return value


_LATER_FIELDS = frozenset({"received", "parent_sku", "variation"})


def content_hash(product: Product) -> str:
    """A digest of everything a product says (not of when or from where it was said)."""
    # Fields added later are left out while empty, so hashes from before them still hold.
    values = [
        _canonical(getattr(product, name))
        for name in ALL_FIELDS
        if name not in _LATER_FIELDS or getattr(product, name)
    ]
    return hashlib.blake2b(orjson.dumps(values), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Merge:
    product: Product
    content_changed: bool  # the hash moved: write and let the selections see it
    times_moved: bool  # only update times moved: write to keep the order guard, emit nothing

    @property
    def needs_write(self) -> bool:
        return self.content_changed or self.times_moved


def merge(
    current: Product | None, record: ProductRecord, source: str, *, wins_ties: bool = False
) -> Merge:
    """Apply `record` to `current` (None: a new product), group by group, newest wins.

    `wins_ties`: a record as old as the held group still wins (a later row of the same import
    file, where the file's order says which is newer).
    """
    base = current if current is not None else Product(sku=record.sku)
    changes: dict[str, Any] = {}
    for group, names in GROUPS.items():
        present = [n for n in names if n in record.fields]
        if not present:
            continue
        held = base.group_time(group)
        if held is not None and (
            record.updated_at < held or (record.updated_at == held and not wins_ties)
        ):
            continue
        for name in present:
            changes[name] = record.fields[name]
        if "received" in changes:
            # Per field: a record that carries a field settles that field's entry only.
            merged_received = {**base.received, **changes["received"]}
            changes["received"] = {k: v for k, v in merged_received.items() if v is not None}
        changes[f"{group}_at"] = record.updated_at
    if not changes:
        return Merge(base, False, False)
    merged = replace(base, **changes)
    merged.content_hash = content_hash(merged)
    changed = current is None or merged.content_hash != base.content_hash
    if changed:
        merged.source = source
        return Merge(merged, True, False)
    if record.explicit_time:
        merged.source = base.source
        return Merge(merged, False, True)
    return Merge(base, False, False)
