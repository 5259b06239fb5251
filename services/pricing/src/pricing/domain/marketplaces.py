"""Allegro's marketplaces: currency, VAT of the destination country, price format, rounding.

Rounding is always *up* to the currency's unit (allegro-fees.md section 4: never below the
computed floor), then optionally up to an operator-chosen ending (".99", "9", "90").
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from pricing.domain.errors import InvalidInput, Problem

CENT = Decimal("0.01")
ONE = Decimal(1)
ZERO = Decimal(0)


@dataclass(frozen=True)
class Marketplace:
    id: str
    country: str
    currency: str
    vat_rate: Decimal  # fraction, 0.23
    minimum_price: Decimal | None = None


MARKETPLACES: dict[str, Marketplace] = {
    "allegro-pl": Marketplace("allegro-pl", "PL", "PLN", Decimal("0.23"), Decimal("1.00")),
    "allegro-cz": Marketplace("allegro-cz", "CZ", "CZK", Decimal("0.21")),
    "allegro-sk": Marketplace("allegro-sk", "SK", "EUR", Decimal("0.23")),
    "allegro-hu": Marketplace("allegro-hu", "HU", "HUF", Decimal("0.27")),
}
MARKETPLACE_IDS: tuple[str, ...] = tuple(MARKETPLACES)

# The smallest price step Allegro accepts per currency: CZK whole crowns, HUF ending in 0 or 5.
UNITS: dict[str, Decimal] = {
    "PLN": CENT,
    "EUR": CENT,
    "CZK": ONE,
    "HUF": Decimal(5),
}
# Currencies a cost, an RRP, a fixed amount or a rate may be expressed in (ISO 4217).
KNOWN_CURRENCIES = frozenset(
    {"PLN", "EUR", "CZK", "HUF", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "RON", "BGN"}
)


def check_currency(code: str, field: str) -> list[Problem]:
    if code in KNOWN_CURRENCIES:
        return []
    return [Problem(field, "unknown_currency", f"unknown currency {code!r}")]


def check_marketplace(marketplace_id: str, field: str) -> list[Problem]:
    if marketplace_id in MARKETPLACES:
        return []
    known = ", ".join(MARKETPLACE_IDS)
    return [
        Problem(field, "unknown_marketplace", f"unknown marketplace {marketplace_id!r} ({known})")
    ]


def require_marketplace(marketplace_id: str) -> Marketplace:
    problems = check_marketplace(marketplace_id, "marketplace_id")
    if problems:
        raise InvalidInput(problems)
    return MARKETPLACES[marketplace_id]


def unit_of(currency: str) -> Decimal:
    return UNITS.get(currency, CENT)


def exponent_of(currency: str) -> Decimal:
    return ONE if unit_of(currency) >= ONE else CENT


def ceil_to(amount: Decimal, unit: Decimal) -> Decimal:
    return (amount / unit).to_integral_value(ROUND_CEILING) * unit


def floor_to(amount: Decimal, unit: Decimal) -> Decimal:
    return (amount / unit).to_integral_value(ROUND_FLOOR) * unit


def cents(amount: Decimal) -> Decimal:
    """A displayed money figure: half-up to the cent, as BigBuy shows its examples."""
    return amount.quantize(CENT, ROUND_HALF_UP)


def ending_modulus(ending: Decimal) -> Decimal:
    """'0.99' repeats every 1, '9' every 10, '90' or '49' every 100."""
    whole = int(ending)
    return ONE if whole == 0 else Decimal(10) ** len(str(whole))


def check_ending(currency: str, ending: Decimal, field: str) -> list[Problem]:
    unit = unit_of(currency)
    if ending < 0 or ending % unit != 0:
        return [
            Problem(
                field,
                "invalid_rounding",
                f"ending {ending} is not a valid {currency} price ending (step {unit})",
            )
        ]
    return []


_EXPONENTS: dict[str, Decimal] = {c: (ONE if u >= ONE else CENT) for c, u in UNITS.items()}


def round_up(amount: Decimal, currency: str, ending: Decimal | None = None) -> Decimal:
    """Smallest valid price >= amount (with the ending, if one is set)."""
    unit = UNITS.get(currency, CENT)
    if ending is None:
        if unit == CENT:
            return amount.quantize(CENT, ROUND_CEILING)
        return (amount / unit).to_integral_value(ROUND_CEILING) * unit
    price = ceil_to(amount, unit)
    if ending is not None:
        modulus = ending_modulus(ending)
        candidate = floor_to(price, modulus) + ending
        if candidate < price:
            candidate += modulus
        price = candidate
    return price.quantize(exponent_of(currency))


def round_down(amount: Decimal, currency: str, ending: Decimal | None = None) -> Decimal:
    """Largest valid price <= amount (with the ending, if one is set): used under a ceiling."""
    price = floor_to(amount, unit_of(currency))
    if ending is not None:
        modulus = ending_modulus(ending)
        candidate = floor_to(price, modulus) + ending
        if candidate > price:
            candidate -= modulus
        price = candidate
    return price.quantize(exponent_of(currency))
