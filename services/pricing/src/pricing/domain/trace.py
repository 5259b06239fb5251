"""The figures one price was computed from: what the engine records and the explanation reads.

A `Trace` holds only this price's own figures (amounts as strings, as they are explained);
the rules, rates and fee table they were computed with are the run's context snapshot, so
`pricing.domain.explanation` rebuilds the labelled chain from the two.

Stored traces (`prices.explanation`, one per marketplace, millions of them) keep their compact
keys: `STORED_KEYS` is the one place that maps a field to its stored key, so the rows written
before this type existed still read back.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(slots=True)
class Trace:
    # the product's cost
    cost: str | None = None
    cost_currency: str | None = None
    # the rule (or the RRP fallback) that set the price
    rule_id: str | None = None
    fixed_amount: str | None = None
    fallback: str | None = None  # "rrp" when no rule matched
    rrp: str | None = None
    rrp_currency: str | None = None
    rrp_with_vat: str | None = None  # the RRP plus VAT, when it is taken as ex-VAT
    # strategy, VAT and fees, in the cost currency
    net: str | None = None
    gross: str | None = None
    fee_rule: str | None = None
    fee_match: str | None = None  # how the row was found (fees.Match); "assumed": no category
    allegro_category: str | None = None  # the mapped Allegro category priced with
    category_chain: str | None = None  # its parent chain, root first, ids joined by ">"
    commission: str | None = None
    promoted_surcharge: str | None = None
    listing_fee: str | None = None
    unit_fee: str | None = None
    extra_share: str | None = None
    # shipping
    shipping_included: str | None = None
    buyer_delivery: str | None = None  # in the commission base, paid by the buyer
    band_max_kg: str | None = None
    free_delivery: bool | None = None  # set when a free-delivery threshold decided it
    own_bands: bool | None = None  # the marketplace's own bands (else the common ones)
    price_before_fx: str | None = None
    # FX, rounding, ceiling and floor, in the marketplace currency
    converted: str | None = None
    raised_to_minimum: bool | None = None
    rounded: str | None = None
    ceiling: str | None = None
    capped: str | None = None
    floor: str | None = None
    # why there is no price
    unpriced_reason: str | None = None
    unpriced_detail: str | None = None

    def as_stored(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, key in _STORED_ITEMS:  # runs for every price of a run: kept plain
            value = getattr(self, name)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> Trace:
        return cls(**{FIELD_OF[key]: value for key, value in stored.items() if key in FIELD_OF})


# field -> stored key (short: a whole-account run stores ~180,000 traces).
STORED_KEYS: dict[str, str] = {
    "cost": "w",
    "cost_currency": "cur",
    "rule_id": "r",
    "fixed_amount": "fa",
    "fallback": "fb",
    "rrp": "rrp",
    "rrp_currency": "rc",
    "rrp_with_vat": "rv",
    "net": "n",
    "gross": "g",
    "fee_rule": "fr",
    "fee_match": "fm",
    "allegro_category": "ac",
    "category_chain": "cc",
    "commission": "c",
    "promoted_surcharge": "ps",
    "listing_fee": "lf",
    "unit_fee": "uf",
    "extra_share": "x",
    "shipping_included": "s",
    "buyer_delivery": "bd",
    "band_max_kg": "b",
    "free_delivery": "fd",
    "own_bands": "ob",
    "price_before_fx": "p",
    "converted": "fx",
    "raised_to_minimum": "mn",
    "rounded": "a",
    "ceiling": "ce",
    "capped": "ca",
    "floor": "f",
    "unpriced_reason": "u",
    "unpriced_detail": "d",
}
FIELD_OF = {key: name for name, key in STORED_KEYS.items()}
_STORED_ITEMS = tuple(STORED_KEYS.items())
assert set(STORED_KEYS) == {f.name for f in fields(Trace)}, "every field has a stored key"
