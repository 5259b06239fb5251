"""Per-row validation of supplier records: the first thing that touches an import's row.

A row is a dict of raw values (strings from CSV, JSON values from JSON Lines) under the
product's field names. `validate_row` returns either a `ProductRecord` or the row's errors, each
naming the field and the reason, so an import can report every bad row and apply the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import nh3

from catalog.domain.description import sanitise_description
from catalog.domain.ean import is_valid_gtin
from catalog.domain.model import CATEGORY_SEPARATOR, ProductRecord
from catalog.domain.selection import normalise_category
from catalog.domain.titles import shorten_title

MAX_LENGTH = {
    "sku": 64,
    "ean": 14,
    "title": 500,
    "description": 100_000,
    "category_path": 500,
    "brand": 120,
    "cost_currency": 3,
    "rrp_currency": 3,
}
MAX_IMAGES = 16
MAX_ATTRIBUTES = 100
MAX_VARIATION_ATTRIBUTES = 10  # BigBuy's variations differ by one or two (size, colour)
MAX_STOCK = 10_000_000
MAX_WEIGHT_KG = Decimal("2000")
MAX_PRICE = Decimal("10000000")
# ISO 4217 codes a European supplier plausibly invoices in; anything else is a typo.
CURRENCIES = frozenset(
    [
        "PLN",
        "EUR",
        "CZK",
        "HUF",
        "USD",
        "GBP",
        "CHF",
        "SEK",
        "NOK",
        "DKK",
        "RON",
        "BGN",
        "UAH",
        "CNY",
        "JPY",
        "CAD",
        "AUD",
        "TRY",
    ]
)
FULL_REQUIRED = ("sku", "title", "cost_amount", "cost_currency")
# Allegro's condition parameter (11323, "Stan"): "Nowy" and "Używany". A refurbished item is
# sold as used (with its grade in the description), never as new.
CONDITION_PARAMETER = "11323"
CONDITION_NEW = "11323_1"
CONDITION_USED = "11323_2"
# `1.234,56` and `1,234.56`: thousands separators, told apart from a decimal point by the other
# separator after them or by a second group (`1.234` alone is 1.234, `1.234.567` a million).
_THOUSANDS_DOT = re.compile(r"[-+]?\d{1,3}((\.\d{3})+,\d+|(\.\d{3}){2,})")
_THOUSANDS_COMMA = re.compile(r"[-+]?\d{1,3}((,\d{3})+\.\d+|(,\d{3}){2,})")
_NO_DATE = "0000-00-00"  # MySQL's zero date, BigBuy's "never"


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    sku: str | None
    field: str
    reason: str
    # Machine-readable: "required" and "invalid_value" here; the import readers add theirs
    # (catalog.parsers: bad_encoding, nul_byte, unbalanced_quote, ...).
    code: str = "invalid_value"

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "sku": self.sku,
            "field": self.field,
            "code": self.code,
            "reason": self.reason,
        }


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else str(value)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str):
        value = _text(value)
        if _THOUSANDS_DOT.fullmatch(value):
            value = value.replace(".", "")
        elif _THOUSANDS_COMMA.fullmatch(value):
            value = value.replace(",", "")
        value = value.replace(",", ".")
    result = Decimal(value)
    if not result.is_finite():
        raise InvalidOperation
    return result


def parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        text = _text(value).replace("Z", "+00:00")
        parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def allegro_condition(supplier_condition: str) -> str:
    """BigBuy's `NEW`, `REFURBISHED_A`/`_B`/`_C`, `USED`, ... as Allegro's condition value."""
    return CONDITION_NEW if supplier_condition.strip().upper() == "NEW" else CONDITION_USED


def normalise_ean(value: Any) -> str | None:
    """BigBuy and others send "", "0" or a number for a missing or numeric EAN."""
    if _blank(value):
        return None
    text = _text(value)
    if text.endswith(".0"):
        text = text[:-2]
    if set(text) == {"0"}:
        return None
    return text.zfill(13) if text.isdigit() and len(text) == 12 else text  # UPC-A -> GTIN-13


def validate_row(
    raw: dict[str, Any],
    line: int,
    default_time: datetime,
    *,
    require_full: bool = True,
) -> ProductRecord | list[RowError]:
    errors: list[RowError] = []
    sku_raw = raw.get("sku")
    sku = None if _blank(sku_raw) else _text(sku_raw)

    def error(name: str, reason: str) -> None:
        code = "required" if reason == "required" else "invalid_value"
        errors.append(RowError(line, sku, name, reason, code))

    fields: dict[str, Any] = {}
    if require_full:
        for name in FULL_REQUIRED:
            if _blank(raw.get(name)):
                error(name, "required")
    if sku is None:
        if not require_full:
            error("sku", "required")
        return errors
    if len(sku) > MAX_LENGTH["sku"] or any(c.isspace() for c in sku):
        error("sku", f"must be at most {MAX_LENGTH['sku']} characters without spaces")

    received: dict[str, str | None] = {}
    for name in ("title", "description", "brand", "category_path"):
        if name not in raw:
            continue
        value = raw[name]
        if name == "category_path" and isinstance(value, list):
            value = CATEGORY_SEPARATOR.join(_text(v) for v in value if not _blank(v))
        if _blank(value):
            if require_full or name in ("description", "brand", "category_path"):
                fields[name] = None
            continue
        text = _text(value)
        if name == "category_path":
            text = normalise_category(text)  # "A>B" and "A > B " are one category
        if len(text) > MAX_LENGTH[name]:
            error(name, f"longer than {MAX_LENGTH[name]} characters")
        elif name == "title":
            fields[name] = shorten_title(text)
            received["title"] = text if fields[name] != text else None
        elif name == "description":
            fields[name] = sanitise_description(text)
            # The source is kept for audit where markup was changed (plain text is only
            # wrapped in paragraphs, and can be read back from them).
            changed = nh3.is_html(text) and fields[name] != text
            received["description"] = text if changed else None
        else:
            fields[name] = text

    if "ean" in raw:
        ean = normalise_ean(raw["ean"])
        if ean is not None and not is_valid_gtin(ean):
            # Allegro would refuse the code, not the product: drop the code, keep the product
            # (flag invalid_ean), and keep what was sent.
            fields["ean"] = None
            received["ean"] = _text(raw["ean"])[:100]
        else:
            fields["ean"] = ean
            received["ean"] = None
    if received:
        fields["received"] = received

    if "images" in raw:
        images = raw["images"]
        if isinstance(images, str):
            images = [u for u in images.split("|")]
        if not isinstance(images, list):
            error("images", "must be a list of URLs")
        else:
            urls = [_text(u) for u in images if not _blank(u)]
            bad = [u for u in urls if not u.startswith(("http://", "https://")) or len(u) > 1000]
            if bad:
                error("images", f"not an http(s) URL: {bad[0][:80]}")
            elif len(urls) > MAX_IMAGES:
                error("images", f"more than {MAX_IMAGES} images")
            else:
                fields["images"] = urls

    if "attributes" in raw:
        attributes = raw["attributes"]
        if _blank(attributes):
            fields["attributes"] = {}
        elif not isinstance(attributes, dict):
            error("attributes", "must be an object of names to values")
        elif len(attributes) > MAX_ATTRIBUTES:
            error("attributes", f"more than {MAX_ATTRIBUTES} attributes")
        else:
            kept = {_text(k): _text(v) for k, v in attributes.items() if not _blank(v)}
            if "condition" in kept:
                kept[CONDITION_PARAMETER] = allegro_condition(kept["condition"])
            fields["attributes"] = kept

    if require_full and "parent_sku" in raw and _blank(raw["parent_sku"]):
        fields["parent_sku"] = None  # a full row without a parent: a product of its own
    if require_full and "variation" in raw and _blank(raw["variation"]):
        fields["variation"] = {}
    if "parent_sku" in raw and not _blank(raw["parent_sku"]):
        parent = _text(raw["parent_sku"])
        if len(parent) > MAX_LENGTH["sku"] or any(c.isspace() for c in parent):
            error("parent_sku", f"must be at most {MAX_LENGTH['sku']} characters without spaces")
        elif parent == sku:
            error("parent_sku", "a product cannot be a variation of itself")
        else:
            fields["parent_sku"] = parent
    if "variation" in raw and not _blank(raw["variation"]):
        variation = raw["variation"]
        if not isinstance(variation, dict) or len(variation) > MAX_VARIATION_ATTRIBUTES:
            error(
                "variation",
                f"must be an object of at most {MAX_VARIATION_ATTRIBUTES} attribute names"
                " to values",
            )
        else:
            fields["variation"] = {
                _text(k): _text(v) for k, v in variation.items() if not _blank(v)
            }
    if require_full and fields.get("variation") and not fields.get("parent_sku"):
        error("parent_sku", "required with variation: the parent the values tell apart")

    if "weight_kg" in raw and _blank(raw["weight_kg"]) and require_full:
        fields["weight_kg"] = None  # kept, flagged needs_weight
    elif "weight_kg" in raw and not _blank(raw["weight_kg"]):
        try:
            weight = _decimal(raw["weight_kg"])
        except (InvalidOperation, ValueError, TypeError):
            error("weight_kg", "not a number")
        else:
            if weight == 0:
                fields["weight_kg"] = None  # "no weight" in BigBuy's files: kept, needs_weight
            elif weight < 0 or weight > MAX_WEIGHT_KG:
                error("weight_kg", f"must be positive and at most {MAX_WEIGHT_KG} kg")
            elif int(weight.as_tuple().exponent) < -6:
                # A milligram is precision enough; "1e-999999999" would overflow PostgreSQL's
                # numeric and fail the import's whole chunk.
                error("weight_kg", "more than 6 decimal places")
            else:
                fields["weight_kg"] = weight

    for kind in ("cost", "rrp"):
        amount_name, currency_name = f"{kind}_amount", f"{kind}_currency"
        has_amount = amount_name in raw and not _blank(raw[amount_name])
        if not has_amount:
            continue
        try:
            amount = _decimal(raw[amount_name])
        except (InvalidOperation, ValueError, TypeError):
            error(amount_name, "not a number")
            continue
        if int(amount.as_tuple().exponent) < -4:
            error(amount_name, "more than 4 decimal places")
            continue
        if amount <= 0 or amount > MAX_PRICE:
            error(amount_name, "must be positive")
            continue
        currency = _text(raw.get(currency_name) or "").upper()
        if currency not in CURRENCIES:
            error(currency_name, "not a known ISO 4217 currency code" if currency else "required")
            continue
        fields[amount_name] = amount
        fields[currency_name] = currency

    if "stock" in raw and not _blank(raw["stock"]):
        try:
            stock_value = _decimal(raw["stock"])
            if stock_value != stock_value.to_integral_value():
                raise ValueError
        except (InvalidOperation, ValueError, TypeError):
            error("stock", "not a whole number")
        else:
            # Compared as a Decimal first: int("1e999999999") would take minutes and gigabytes.
            if stock_value < 0 or stock_value > MAX_STOCK:
                error("stock", "must be between 0 and 10,000,000")
            else:
                fields["stock"] = int(stock_value)
    elif require_full and "stock" in raw:
        fields["stock"] = 0  # an empty stock cell in a full row: none in stock

    updated_at = default_time
    explicit = False
    if not _blank(raw.get("updated_at")) and not _text(raw["updated_at"]).startswith(_NO_DATE):
        try:
            updated_at = parse_time(raw["updated_at"])
            explicit = True
        except (ValueError, TypeError):
            error("updated_at", "not an ISO 8601 date and time")

    if errors:
        return errors
    return ProductRecord(sku, updated_at, fields, explicit)
