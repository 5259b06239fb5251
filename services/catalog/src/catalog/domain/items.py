"""What an account is told about a product: listed or not (and why), and the item's content."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from catalog.domain.description import allegro_sections
from catalog.domain.model import Product
from catalog.domain.names import NO_NAMES, Names
from catalog.domain.screening import Blocked, Screen
from catalog.domain.selection import Selection


@dataclass(frozen=True, slots=True)
class Decision:
    listed: bool
    reason: str | None = None  # not_selected | prohibited | incomplete
    blocked: Blocked | None = None


NOT_SELECTED = Decision(False, "not_selected")
LISTED = Decision(True)
INCOMPLETE = Decision(False, "incomplete")


def decide(
    product: Product, selection: Selection, screen: Screen, names: Names = NO_NAMES
) -> Decision:
    """Listed or not. Selection and screening see the product with its supplier ids named
    (`names`); a selection saved with the ids still selects it."""
    named = names.resolve(product)
    if not selection.selects(named) and (named is product or not selection.selects(product)):
        return NOT_SELECTED
    blocked = screen.blocked(named)
    if blocked is not None:
        return Decision(False, "prohibited", blocked)
    if not product.title or product.cost_amount is None:
        return INCOMPLETE
    return LISTED


def _money(amount: Any, currency: str | None) -> dict[str, str] | None:
    if amount is None or currency is None:
        return None
    return {"amount": str(amount), "currency": currency}


def item_content(
    product: Product,
    allegro_category_id: str | None,
    stock: int | None,
    per_marketplace: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The CatalogItem fields except sku, revision and listed (JSON-ready)."""
    return {
        "ean": product.ean,
        "title": product.title,
        "description": product.description,
        "description_sections": allegro_sections(product.description),
        "images": list(product.images),
        "supplier_category": product.category_path,
        "allegro_category_id": allegro_category_id,
        "allegro_category_ids": dict(per_marketplace or {}),
        "brand": product.brand,
        "weight_kg": None if product.weight_kg is None else str(product.weight_kg),
        "cost": _money(product.cost_amount, product.cost_currency),
        "rrp": _money(product.rrp_amount, product.rrp_currency),
        "stock": stock,
        "attributes": dict(product.attributes),
    }


def item_hash(content: dict[str, Any]) -> str:
    return hashlib.blake2b(
        orjson.dumps(content, option=orjson.OPT_SORT_KEYS), digest_size=16
    ).hexdigest()
