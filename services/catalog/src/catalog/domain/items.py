"""What an account is told about a product: listed or not (and why), and the item's content."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from catalog.domain.description import allegro_sections
from catalog.domain.gpsr import missing_gpsr
from catalog.domain.model import Product
from catalog.domain.names import NO_NAMES, Names
from catalog.domain.screening import Blocked, Screen
from catalog.domain.selection import Selection

# Why a selected product cannot go to Allegro, in plain words (reports and previews).
REASONS = {
    "prohibited": "prohibited or restricted on Allegro (see the screening rule)",
    "incomplete": "no title or no cost price",
    "no_image": "no image: Allegro needs at least one photo",
    "no_ean": "no EAN: no Allegro catalogue product to attach the offer to",
    "no_weight": "no weight: no shipping price list can be chosen",
    "missing_gpsr": "no GPSR data (the manufacturer's name, postal address and contact), which"
    " Allegro requires on every offer of a new product: wait for the BigBuy connector to read"
    " the product's compliance data, send it as the gpsr_name, gpsr_address and gpsr_contact"
    " attributes, or let this shop list it under its own responsible producer (listing"
    " settings)",
    "no_category": "its supplier category is not mapped to an Allegro category",
    "over_cap": "over the account's product cap",
}


@dataclass(frozen=True, slots=True)
class Decision:
    listed: bool
    reason: str | None = None  # not_selected, or the first of `reasons`
    blocked: Blocked | None = None
    reasons: tuple[str, ...] = ()  # every reason that blocks publication, at once


# What an account may choose to list anyway (e.g. while mapping categories, selling products
# Allegro's catalogue lacks under its own parameters, or under the account's own responsible
# producer for GPSR); screening and the cap are not.
WAIVABLE = frozenset({"no_image", "no_ean", "no_weight", "missing_gpsr", "no_category"})

# Products one Allegro shop may offer (the seed's limit); per account, configurable.
DEFAULT_PRODUCT_CAP = 45_000

NOT_SELECTED = Decision(False, "not_selected")
LISTED = Decision(True)


def blocking_reasons(product: Product, *, mapped: bool | None = None) -> list[str]:
    """What Allegro would refuse (besides screening). `mapped` None: the mapping is not
    known where this is asked, so it does not block."""
    reasons = []
    if not product.title or product.cost_amount is None:
        reasons.append("incomplete")
    if not product.images:
        reasons.append("no_image")
    if not product.ean:
        reasons.append("no_ean")
    if not product.weight_kg:
        reasons.append("no_weight")
    if missing_gpsr(product):
        reasons.append("missing_gpsr")
    if mapped is False:
        reasons.append("no_category")
    return reasons


def decide(
    product: Product,
    selection: Selection,
    screen: Screen,
    names: Names = NO_NAMES,
    *,
    mapped: bool | None = None,
    over_cap: bool = False,
    waived: frozenset[str] = frozenset(),
) -> Decision:
    """Listed or not, with every reason it is not. Selection and screening see the product
    with its supplier ids named (`names`); a selection saved with the ids still selects it."""
    named = names.resolve(product)
    if not selection.selects(named) and (named is product or not selection.selects(product)):
        return NOT_SELECTED
    blocked = screen.blocked(named)
    reasons = ["prohibited"] if blocked is not None else []
    reasons += [r for r in blocking_reasons(product, mapped=mapped) if r not in waived]
    if over_cap:
        reasons.append("over_cap")
    if reasons:
        return Decision(False, reasons[0], blocked, tuple(reasons))
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
    content = {
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
    if product.parent_sku:  # only for variations: other items' hashes stay as they were
        content["parent_sku"] = product.parent_sku
        content["variation"] = dict(product.variation)
    days = handling_days(product.attributes)
    if days is not None:  # only when known: other items' hashes stay as they were
        content["handling_days"] = days
    return content


def handling_days(attributes: dict[str, str]) -> int | None:
    """The supplier's handling days (`attributes.handling_days`, whole days), None if absent or
    not a whole number of days."""
    text = (attributes.get("handling_days") or "").strip()
    return int(text) if text.isascii() and text.isdigit() else None


def item_hash(content: dict[str, Any]) -> str:
    return hashlib.blake2b(
        orjson.dumps(content, option=orjson.OPT_SORT_KEYS), digest_size=16
    ).hexdigest()
