"""Per-row validation of supplier records: the first thing that touches an import's row.

A row is a dict of raw values (strings from CSV, JSON values from JSON Lines) under the
product's field names. `validate_row` returns either a `ProductRecord` or the row's errors, each
naming the field and the reason, so an import can report every bad row and apply the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from catalog.domain.ean import is_valid_ean13
from catalog.domain.model import CATEGORY_SEPARATOR, ProductRecord
from catalog.domain.selection import normalise_category

MAX_LENGTH = {
    "sku": 64,
    "ean": 13,
    "title": 500,
    "description": 100_000,
    "category_path": 500,
    "brand": 120,
    "cost_currency": 3,
    "rrp_currency": 3,
}
MAX_IMAGES = 16
MAX_ATTRIBUTES = 100
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
    result = Decimal(_text(value).replace(",", ".") if isinstance(value, str) else value)
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
        else:
            fields[name] = text

    if "ean" in raw:
        ean = normalise_ean(raw["ean"])
        if ean is not None and not is_valid_ean13(ean):
            error("ean", "not a valid EAN-13 (13 digits with a correct check digit)")
        else:
            fields["ean"] = ean

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
            fields["attributes"] = {
                _text(k): _text(v) for k, v in attributes.items() if not _blank(v)
            }

    if "weight_kg" in raw and not _blank(raw["weight_kg"]):
        try:
            weight = _decimal(raw["weight_kg"])
        except (InvalidOperation, ValueError, TypeError):
            error("weight_kg", "not a number")
        else:
            if weight <= 0 or weight > MAX_WEIGHT_KG:
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
    if not _blank(raw.get("updated_at")):
        try:
            updated_at = parse_time(raw["updated_at"])
            explicit = True
        except (ValueError, TypeError):
            error("updated_at", "not an ISO 8601 date and time")

    if errors:
        return errors
    return ProductRecord(sku, updated_at, fields, explicit)
