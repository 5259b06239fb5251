"""Allegro's seller fees: commission per category (a configurable table), minimum, cap, tiers,
the promoted-offer surcharge, a per-unit fee, an extra share of the price (HU retail tax slot)
and the listing fee above a price threshold (allegro-fees.md sections 1 and 7).

Allegro charges by *its* category, so a row is found through the product's mapped Allegro
category and that category's parent chain (`FeeTable.resolve`): the leaf's own row, then an
operator's supplier-category row, then the deepest group row on the chain, then "Other". A
product without a usable Allegro category pays the table's highest rate (`assumed`), so nothing
goes out under its true floor by accident.

All table amounts are gross, in the table's currency (PLN by default). The commission base is
the price plus the delivery cost the buyer pays (allegro-fees.md 1.1(d)).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from pricing.domain.errors import InvalidInput, Problem
from pricing.domain.marketplaces import ZERO, check_currency, check_marketplace

# Allegro's category ids are opaque strings, in practice digits or UUIDs (allegro-api.md 3).
_ALLEGRO_ID = re.compile(r"^(\d+|[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})$")
Scope = Literal["default", "allegro_category", "supplier_category"]
# How a product's row was found (the explanation's `matched_by`).
Match = Literal["category", "supplier_category", "allegro_group", "other", "assumed"]


@dataclass(frozen=True)
class FeeRule:
    """`rate` of the base up to `threshold`, then `fixed_above` + `rate_above` x the part above;
    at most `cap`, at least `minimum`."""

    key: str  # "default", an Allegro category id, or a supplier category path prefix
    label: str = ""
    rate: Decimal = ZERO
    threshold: Decimal | None = None
    fixed_above: Decimal = ZERO
    rate_above: Decimal = ZERO
    cap: Decimal | None = None
    minimum: Decimal = ZERO

    # Sampled commissions (price, fee) in ascending price, e.g. from Allegro's fee-preview: the
    # commission is the line through the two neighbouring samples (the end segments extended).
    points: tuple[tuple[Decimal, Decimal], ...] = ()
    # What `key` names; "" infers it: "default", an Allegro id (digits or a UUID), else a
    # supplier path. BigBuy's own category ids are digits too: such a row says its scope.
    scope: str = ""

    @property
    def kind(self) -> Scope:
        if self.key == "default":
            return "default"
        if self.scope in ("allegro_category", "supplier_category"):
            return self.scope  # type: ignore[return-value]
        return "allegro_category" if _ALLEGRO_ID.match(self.key.strip()) else "supplier_category"

    def commission(self, base: Decimal, scale: Decimal = Decimal(1)) -> Decimal:
        """The commission on `base`; table amounts are multiplied by `scale` (currency)."""
        if self.points:
            return self._sampled(base, scale)
        if self.threshold is not None and base > self.threshold * scale:
            fee = self.fixed_above * scale + self.rate_above * (base - self.threshold * scale)
        else:
            fee = self.rate * base
        if self.cap is not None:
            fee = min(fee, self.cap * scale)
        return max(fee, self.minimum * scale)

    def _segments(self, scale: Decimal) -> list[tuple[Decimal, Decimal, Decimal]]:
        """(upper price bound, a, b) per segment: fee = a + b x price below the bound."""
        out = []
        pts = self.points
        for (p0, f0), (p1, f1) in itertools.pairwise(pts):
            slope = (f1 - f0) / (p1 - p0)
            out.append((p1 * scale, (f0 - slope * p0) * scale, slope))
        return out

    def _sampled(self, base: Decimal, scale: Decimal) -> Decimal:
        segments = self._segments(scale)
        for upper, a, b in segments:
            if base <= upper:
                return max(a + b * base, ZERO)
        _, a, b = segments[-1]
        return a + b * base

    def linear_pieces(self, scale: Decimal) -> list[tuple[Decimal, Decimal]]:
        """Every (a, b) such that commission(B) = a + b*B on some interval of B; the usual
        ones (the rates) first, so the solver mostly succeeds on its first try."""
        if self.points:
            return [(a, b) for _, a, b in self._segments(scale)] + [(ZERO, ZERO)]
        pieces = [(ZERO, self.rate)]
        if self.threshold is not None:
            pieces.append(
                (
                    self.fixed_above * scale - self.rate_above * self.threshold * scale,
                    self.rate_above,
                )
            )
        pieces.append((self.minimum * scale, ZERO))
        if self.cap is not None:
            pieces.append((self.cap * scale, ZERO))
        return pieces

    def problems(self, where: str) -> list[Problem]:
        out: list[Problem] = []
        for name in ("rate", "rate_above"):
            value: Decimal = getattr(self, name)
            if not ZERO <= value < 1:
                out.append(Problem(f"{where}.{name}", "invalid_rate", "a rate is in [0, 1)"))
        for name in ("fixed_above", "minimum"):
            if getattr(self, name) < 0:
                out.append(Problem(f"{where}.{name}", "negative_amount", "must be >= 0"))
        if self.threshold is not None and self.threshold <= 0:
            out.append(Problem(f"{where}.threshold", "invalid_threshold", "must be > 0"))
        if self.cap is not None and self.cap < self.minimum:
            out.append(Problem(f"{where}.cap", "invalid_cap", "the cap is below the minimum"))
        if not self.key.strip():
            out.append(Problem(f"{where}.key", "missing_key", "a fee row names its category"))
        if self.scope not in ("", "allegro_category", "supplier_category"):
            out.append(
                Problem(
                    f"{where}.scope",
                    "unknown_scope",
                    "a fee row's scope is allegro_category or supplier_category",
                )
            )
        if self.points:
            prices = [p for p, _ in self.points]
            if len(prices) < 2 or any(b <= a for a, b in itertools.pairwise(prices)):
                out.append(
                    Problem(f"{where}.points", "invalid_points", "2+ samples, ascending prices")
                )
            elif any(f < 0 for _, f in self.points) or any(
                not ZERO <= b < 1 for _, _, b in self._segments(Decimal(1))
            ):
                out.append(
                    Problem(
                        f"{where}.points",
                        "invalid_points",
                        "fees >= 0 and growing by less than the price between samples",
                    )
                )
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "rate": str(self.rate),
            "threshold": None if self.threshold is None else str(self.threshold),
            "fixed_above": str(self.fixed_above),
            "rate_above": str(self.rate_above),
            "cap": None if self.cap is None else str(self.cap),
            "minimum": str(self.minimum),
            **({"points": [[str(p), str(f)] for p, f in self.points]} if self.points else {}),
            **({"scope": self.scope} if self.scope else {}),
        }


@dataclass(frozen=True)
class MarketplaceFees:
    promoted_share: Decimal = Decimal("0.75")  # commissionFeatureFee = 0.75 x commission
    extra_rate: Decimal = ZERO  # a share of the price (e.g. HU retail tax 4.5 %)
    unit_fee: Decimal = ZERO  # per unit sold, in the marketplace's currency (CZ 5 CZK)
    listing_fee: Decimal = ZERO  # per 10-day cycle, table currency, above listing_threshold
    listing_threshold: Decimal | None = None
    listing_cycles: int = 1  # how many cycles the price recovers

    def as_dict(self) -> dict[str, Any]:
        return {
            "promoted_share": str(self.promoted_share),
            "extra_rate": str(self.extra_rate),
            "unit_fee": str(self.unit_fee),
            "listing_fee": str(self.listing_fee),
            "listing_threshold": None
            if self.listing_threshold is None
            else str(self.listing_threshold),
            "listing_cycles": self.listing_cycles,
        }


def _d(text: str) -> Decimal:
    return Decimal(text)


# Seeded from allegro-fees.md section 7 (2022 schedule), keyed by Allegro category id: a group
# row covers its whole subtree (the deepest row on a category's parent chain wins). The ids are
# those of the category tree the platform is developed against (the emulator's, whose
# departments carry Allegro's own ids: 5, 3919, 42540aec-...); the calibration check
# (POST /fee-table/calibration-check) reports a group whose id or rate Allegro does not confirm.
# Departments without a row here (Automotive, Fashion, Beauty, ...) pay "Other" until an
# operator adds their row: the highest rate, so never under-recovered.


def _accessories(key: str, name: str) -> FeeRule:
    """Accessories: 12 % up to 50 PLN, then 6 + 8 % of the part above (min 0.50)."""
    label = f"{name}: accessories, 12 % up to 50 then 6 + 8 %"
    return FeeRule(key, label, _d("0.12"), _d("50"), _d("6"), _d("0.08"), minimum=_d("0.50"))


DEFAULT_RULES: tuple[FeeRule, ...] = (
    FeeRule("default", "Other (Pozostałe): a category without a group row", _d("0.17")),
    FeeRule("5", "Dom i Ogród (Home & Garden)", _d("0.10"), minimum=_d("0.50")),
    FeeRule("3919", "Sport i turystyka (Sports & Travel)", _d("0.11"), minimum=_d("0.50")),
    FeeRule("4226", "Telefony i akcesoria (Phones)", _d("0.06"), minimum=_d("1.00")),
    FeeRule("4227", "Smartfony (Smartphones)", _d("0.045"), minimum=_d("1.00")),
    _accessories("4228", "Ładowarki"),
    _accessories("4229", "Etui"),
    FeeRule("4230", "Komputery (Computers)", _d("0.095"), minimum=_d("1.00")),
    FeeRule(
        "4231",
        "Laptopy: 3 % up to 2,000 then 60 + 1.5 %",
        _d("0.03"),
        _d("2000"),
        _d("60"),
        _d("0.015"),
        minimum=_d("1.00"),
    ),
    FeeRule("4232", "Monitory (Monitors)", _d("0.04"), minimum=_d("1.00")),
    _accessories("4233", "Myszki"),
    FeeRule("4240", "RTV i AGD (audio, video, appliances)", _d("0.09"), minimum=_d("0.50")),
    FeeRule("4241", "Telewizory (TVs)", _d("0.03"), minimum=_d("1.00")),
)
DEFAULT_MARKETPLACE_FEES: dict[str, MarketplaceFees] = {
    "allegro-pl": MarketplaceFees(listing_fee=_d("1.00"), listing_threshold=_d("10000")),
    "allegro-cz": MarketplaceFees(unit_fee=_d("5")),
    "allegro-sk": MarketplaceFees(),
    "allegro-hu": MarketplaceFees(extra_rate=_d("0.045")),
}


def _path(text: str) -> tuple[str, ...]:
    for sep in (">", "/", "|"):
        if sep in text:
            return tuple(p.strip().casefold() for p in text.split(sep) if p.strip())
    return (text.strip().casefold(),) if text.strip() else ()


@lru_cache(maxsize=8192)
def category_path(text: str | None) -> tuple[str, ...]:
    """A supplier category as its path of lower-case segments ('A > B', 'A/B' alike)."""
    return _path(text) if text else ()


def highest(rules: tuple[FeeRule, ...]) -> FeeRule:
    """A row charging at least what any formula row of `rules` charges on any base: the highest
    rate (a continuous tier never charges more than its higher rate) and the highest minimum,
    no cap. Sampled rows are left out: their samples are not a formula to bound."""
    formulas = [r for r in rules if not r.points] or [FeeRule("default", rate=_d("0.17"))]
    return FeeRule(
        "assumed",
        "highest rate of the table: no usable Allegro category",
        max(max(r.rate, r.rate_above) for r in formulas),
        minimum=max(r.minimum for r in formulas),
    )


@dataclass(frozen=True)
class FeeTable:
    rules: tuple[FeeRule, ...] = DEFAULT_RULES
    marketplaces: dict[str, MarketplaceFees] = field(
        default_factory=lambda: dict(DEFAULT_MARKETPLACE_FEES)
    )
    currency: str = "PLN"
    source: str = "table:default"
    _by_id: dict[str, FeeRule] = field(default_factory=dict, compare=False, repr=False)
    _by_path: dict[tuple[str, ...], FeeRule] = field(
        default_factory=dict, compare=False, repr=False
    )
    _assumed: list[FeeRule] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        for rule in self.rules:
            if rule.kind == "allegro_category":
                self._by_id.setdefault(rule.key.strip(), rule)
            elif rule.kind == "supplier_category":
                self._by_path.setdefault(category_path(rule.key), rule)
        self._assumed.append(highest(self.rules))

    @property
    def default_rule(self) -> FeeRule:
        for rule in self.rules:
            if rule.key == "default":
                return rule
        return FeeRule("default", "Other", _d("0.17"))

    @property
    def assumed(self) -> FeeRule:
        return self._assumed[0]

    def by_id(self, category_id: str) -> FeeRule | None:
        return self._by_id.get(category_id)

    def for_marketplace(self, marketplace_id: str) -> MarketplaceFees:
        return self.marketplaces.get(marketplace_id, MarketplaceFees())

    def resolve(
        self,
        allegro_category_id: str | None,
        chain: tuple[str, ...] | None,
        path: tuple[str, ...] = (),
    ) -> tuple[FeeRule, Match]:
        """The row that prices a product, and how it was found.

        1. the mapped Allegro category's own row (an operator's or a fee-preview sample);
        2. an operator's supplier-category row (deepest prefix): explicit rules win;
        3. the deepest group row on the Allegro parent chain (`chain`: leaf first, root last);
        4. "Other" (`default`) when the chain is known and has no group row;
        5. `assumed` (the highest rate) when the product has no Allegro category, or its chain
           is not known (yet): never under the true floor by accident.
        """
        if allegro_category_id:
            rule = self._by_id.get(allegro_category_id)
            if rule is not None:
                return rule, "category"
        for depth in range(len(path), 0, -1):
            rule = self._by_path.get(path[:depth])
            if rule is not None:
                return rule, "supplier_category"
        if not allegro_category_id or not chain:
            return self.assumed, "assumed"
        for category_id in chain[1:]:
            rule = self._by_id.get(category_id)
            if rule is not None:
                return rule, "allegro_group"
        return self.default_rule, "other"

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "source": self.source,
            "rules": [r.as_dict() for r in self.rules],
            "marketplaces": {k: v.as_dict() for k, v in self.marketplaces.items()},
        }

    @classmethod
    def parse(cls, document: dict[str, Any], source: str = "table:account") -> FeeTable:
        """Validate an operator's table; raises InvalidInput listing every problem."""
        if not isinstance(document, dict):
            raise InvalidInput([Problem("body", "invalid_document", "a fee table is an object")])
        try:
            return cls._parse(document, source)
        except (AttributeError, TypeError, ValueError) as exc:  # a part of the wrong shape
            raise InvalidInput(
                [Problem("body", "invalid_document", f"a part has the wrong shape: {exc}")]
            ) from None

    @classmethod
    def _parse(cls, document: dict[str, Any], source: str) -> FeeTable:
        problems: list[Problem] = []
        currency = str(document.get("currency", "PLN"))
        problems += check_currency(currency, "currency")
        rules: list[FeeRule] = []
        keys: set[str] = set()
        for i, raw in enumerate(document.get("rules") or []):
            where = f"rules.{i}"
            try:
                rule = FeeRule(
                    key=str(raw["key"]),
                    label=str(raw.get("label", "")),
                    rate=Decimal(str(raw.get("rate", "0"))),
                    threshold=_opt(raw.get("threshold")),
                    fixed_above=Decimal(str(raw.get("fixed_above", "0"))),
                    rate_above=Decimal(str(raw.get("rate_above", "0"))),
                    cap=_opt(raw.get("cap")),
                    minimum=Decimal(str(raw.get("minimum", "0"))),
                    points=tuple(
                        (Decimal(str(p)), Decimal(str(f))) for p, f in raw.get("points") or ()
                    ),
                    scope=str(raw.get("scope") or ""),
                )
            except (KeyError, ArithmeticError, TypeError, ValueError) as exc:
                problems.append(Problem(where, "invalid_fee_rule", f"unreadable: {exc!r}"))
                continue
            if rule.key in keys:
                problems.append(Problem(f"{where}.key", "duplicate_key", f"{rule.key} twice"))
            keys.add(rule.key)
            problems += rule.problems(where)
            rules.append(rule)
        if "default" not in keys:
            rules.insert(0, FeeRule("default", "Other", _d("0.17")))
        markets = dict(DEFAULT_MARKETPLACE_FEES)
        for mid, raw in (document.get("marketplaces") or {}).items():
            where = f"marketplaces.{mid}"
            problems += check_marketplace(mid, where)
            try:
                changes: dict[str, Any] = {
                    k: (int(v) if k == "listing_cycles" else _opt(v))
                    for k, v in raw.items()
                    if k in MarketplaceFees.__dataclass_fields__
                }
                fees = replace(markets.get(mid, MarketplaceFees()), **changes)
            except (ArithmeticError, TypeError, ValueError) as exc:
                problems.append(Problem(where, "invalid_fee_settings", f"unreadable: {exc!r}"))
                continue
            if fees.promoted_share is None or fees.promoted_share < 0:
                problems.append(Problem(where, "invalid_rate", "promoted_share must be >= 0"))
            if fees.extra_rate is None or not ZERO <= fees.extra_rate < 1:
                problems.append(Problem(where, "invalid_rate", "extra_rate is in [0, 1)"))
            for name in ("unit_fee", "listing_fee"):
                value = getattr(fees, name)
                if value is None or value < 0:
                    problems.append(Problem(f"{where}.{name}", "negative_amount", "must be >= 0"))
            markets[mid] = fees
        if problems:
            raise InvalidInput(problems)
        return cls(tuple(rules), markets, currency, source)


def _opt(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))
