"""An account's pricing rules: strategy, scoped rules and their precedence, fallback, floor
policy, ceiling, shipping, rounding and the circuit breaker's thresholds.

Precedence (first match wins; pricing.md's proposal): product > category (deepest subtree
first) > brand > cost price band > the default rule > the fallback. Within one scope a rule
for the marketplace being priced beats a rule for every marketplace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal

from pricing.domain.errors import InvalidInput, Problem
from pricing.domain.fees import category_path
from pricing.domain.marketplaces import (
    MARKETPLACES,
    ZERO,
    check_currency,
    check_ending,
    check_marketplace,
)

Strategy = Literal["margin", "profit"]
Scope = Literal["product", "category", "brand", "price_band", "default"]
SCOPES: tuple[str, ...] = ("product", "category", "brand", "price_band")
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Rule:
    id: str
    scope: Scope
    value: str | None = None  # sku, category path, brand
    band_min: Decimal | None = None  # cost price band [min, max), in band_currency
    band_max: Decimal | None = None
    band_currency: str = "EUR"
    percentage: Decimal = ZERO  # 40 means 40 %
    fixed_amount: Decimal = ZERO  # added to the net price, in fixed_currency
    fixed_currency: str = "EUR"
    marketplace: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "scope": self.scope}
        if self.value is not None:
            out["value"] = self.value
        if self.scope == "price_band":
            out["band"] = {
                "min": None if self.band_min is None else str(self.band_min),
                "max": None if self.band_max is None else str(self.band_max),
                "currency": self.band_currency,
            }
        out["percentage"] = str(self.percentage)
        out["fixed_amount"] = {"amount": str(self.fixed_amount), "currency": self.fixed_currency}
        out["marketplace"] = self.marketplace
        return out

    def in_band(self, cost: Decimal) -> bool:
        low = self.band_min if self.band_min is not None else ZERO
        return cost >= low and (self.band_max is None or cost < self.band_max)


@dataclass(frozen=True)
class ShippingBand:
    max_weight_kg: Decimal
    cost: Decimal
    currency: str = "PLN"

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_weight_kg": str(self.max_weight_kg),
            "cost": {"amount": str(self.cost), "currency": self.currency},
        }


@dataclass(frozen=True)
class Shipping:
    """How one marketplace's delivery is priced: weight bands (in the marketplace's currency
    when they are its own), free delivery always, or free from an order amount."""

    bands: tuple[ShippingBand, ...]
    free_delivery: bool
    free_from: Decimal | None = None  # in the marketplace's currency; None: no threshold
    own_bands: bool = False  # False: the common bands, converted

    def band(self, weight_kg: Decimal | None) -> ShippingBand | None:
        if weight_kg is None:
            return None
        for band in self.bands:
            if weight_kg <= band.max_weight_kg:
                return band
        return None


@dataclass(frozen=True)
class MarketShipping:
    """An operator's per-marketplace shipping settings; None keeps the common setting."""

    bands: tuple[ShippingBand, ...] | None = None
    free_delivery: bool | None = None
    free_from: Decimal | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.bands is not None:
            out["bands"] = [b.as_dict() for b in self.bands]
        if self.free_delivery is not None:
            out["free_delivery"] = self.free_delivery
        if self.free_from is not None:
            out["free_delivery_from"] = str(self.free_from)
        return out


DEFAULT_BANDS: tuple[ShippingBand, ...] = (
    ShippingBand(Decimal("1"), Decimal("11.99")),
    ShippingBand(Decimal("5"), Decimal("14.99")),
    ShippingBand(Decimal("10"), Decimal("18.99")),
    ShippingBand(Decimal("30"), Decimal("29.99")),
)


@dataclass(frozen=True)
class Breaker:
    """Hold a run that would move more than `max_share` of its prices by more than
    `max_change_pct` % (only runs of at least `min_items` priced products)."""

    max_share: Decimal = Decimal("0.20")
    max_change_pct: Decimal = Decimal("25")
    min_items: int = 20
    enabled: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "max_share": str(self.max_share),
            "max_change_pct": str(self.max_change_pct),
            "min_items": self.min_items,
        }


@dataclass(frozen=True)
class Product:
    """What pricing keeps of a catalogue item."""

    sku: str
    revision: int
    cost: Decimal | None
    cost_currency: str | None
    rrp: Decimal | None = None
    rrp_currency: str | None = None
    brand: str | None = None
    supplier_category: str | None = None
    allegro_category_id: str | None = None
    weight_kg: Decimal | None = None
    listed: bool = True
    path: tuple[str, ...] = field(default=(), compare=False)
    # Per-marketplace overrides of allegro_category_id (CatalogItem.allegro_category_ids).
    allegro_category_ids: dict[str, str] = field(default_factory=dict, compare=False)
    # The Allegro parent chain (leaf first, root last) of each category above that is known;
    # a category missing here is priced with the assumed (highest) commission.
    chains: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)

    def category_on(self, marketplace_id: str) -> str | None:
        return self.allegro_category_ids.get(marketplace_id) or self.allegro_category_id

    @property
    def category_ids(self) -> set[str]:
        out = set(self.allegro_category_ids.values())
        if self.allegro_category_id:
            out.add(self.allegro_category_id)
        return out

    def __post_init__(self) -> None:
        if self.supplier_category and not self.path:
            object.__setattr__(self, "path", category_path(self.supplier_category))


@dataclass(frozen=True)
class RuleSet:
    strategy: Strategy = "margin"
    rules: tuple[Rule, ...] = ()
    fallback: Literal["rrp", "default_rule", "none"] = "rrp"
    default_rule: Rule | None = None
    floor_min_margin_pct: Decimal = ZERO  # floor = break-even at cost x (1 + this %)
    ceiling_rrp_factor: Decimal | None = None  # price <= RRP x factor (converted)
    promoted: bool = False
    free_delivery: bool = False
    shipping_bands: tuple[ShippingBand, ...] = DEFAULT_BANDS
    shipping_markets: dict[str, MarketShipping] = field(default_factory=dict)
    # Whether BigBuy's RRP includes VAT. Default False: BigBuy's prices are ex-VAT (its
    # wholesale price measurably is; its retailPrice most likely too), so the fallback adds the
    # destination VAT to it. True takes the RRP as a consumer price as it is.
    rrp_includes_vat: bool = False
    vat_regime: Literal["destination", "origin"] = "destination"
    endings: dict[str, Decimal] = field(default_factory=dict)  # currency -> ending
    breaker: Breaker = field(default_factory=Breaker)
    _index: dict[tuple[str, str, str | None], Rule] = field(
        default_factory=dict, compare=False, repr=False
    )
    _bands: list[Rule] = field(default_factory=list, compare=False, repr=False)
    per_marketplace: bool = field(default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "per_marketplace", any(r.marketplace is not None for r in self.rules)
        )
        for rule in self.rules:
            if rule.scope == "price_band":
                self._bands.append(rule)
            else:
                self._index[(rule.scope, _norm(rule.scope, rule.value), rule.marketplace)] = rule
        self._bands.sort(key=lambda r: (r.marketplace is None, r.band_min or ZERO))

    def resolve(
        self,
        product: Product,
        marketplace_id: str,
        cost_in: Callable[[str], Decimal | None],
    ) -> Rule | None:
        """The rule that prices `product` on `marketplace_id` (None: the fallback applies)."""
        index = self._index
        if index:
            for mkt in (marketplace_id, None):
                rule = index.get(("product", product.sku, mkt))
                if rule is not None:
                    return rule
            for key in _category_keys(product.path):
                for mkt in (marketplace_id, None):
                    rule = index.get(("category", key, mkt))
                    if rule is not None:
                        return rule
            if product.brand:
                brand = product.brand.strip().casefold()
                for mkt in (marketplace_id, None):
                    rule = index.get(("brand", brand, mkt))
                    if rule is not None:
                        return rule
        for rule in self._bands:
            if rule.marketplace not in (None, marketplace_id):
                continue
            cost = cost_in(rule.band_currency)
            if cost is not None and rule.in_band(cost):
                return rule
        if self.fallback == "default_rule":
            return self.default_rule
        return None

    def shipping_for(self, marketplace_id: str) -> Shipping:
        """One marketplace's shipping: its own settings where set, else the common ones."""
        own = self.shipping_markets.get(marketplace_id) or MarketShipping()
        return Shipping(
            bands=self.shipping_bands if own.bands is None else own.bands,
            free_delivery=self.free_delivery if own.free_delivery is None else own.free_delivery,
            free_from=own.free_from,
            own_bands=own.bands is not None,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "rules": [r.as_dict() for r in self.rules],
            "fallback": self.fallback,
            "default_rule": None if self.default_rule is None else self.default_rule.as_dict(),
            "floor": {"min_margin_pct": str(self.floor_min_margin_pct)},
            "ceiling": None
            if self.ceiling_rrp_factor is None
            else {"rrp_factor": str(self.ceiling_rrp_factor)},
            "promoted": self.promoted,
            "shipping": {
                "free_delivery": self.free_delivery,
                "bands": [b.as_dict() for b in self.shipping_bands],
                **(
                    {"marketplaces": {m: s.as_dict() for m, s in self.shipping_markets.items()}}
                    if self.shipping_markets
                    else {}
                ),
            },
            "rrp": {"includes_vat": self.rrp_includes_vat},
            "vat_regime": self.vat_regime,
            "rounding": {c: {"ending": str(e)} for c, e in self.endings.items()},
            "circuit_breaker": self.breaker.as_dict(),
        }

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> RuleSet:
        """Validate an operator's rule set; raises InvalidInput listing every problem."""
        if not isinstance(doc, dict):
            raise InvalidInput([Problem("body", "invalid_document", "a rule set is an object")])
        try:
            return _Parser(doc).parse()
        except (AttributeError, TypeError, ValueError) as exc:  # a part of the wrong shape
            raise InvalidInput(
                [Problem("body", "invalid_document", f"a part has the wrong shape: {exc}")]
            ) from None


@lru_cache(maxsize=8192)
def _category_keys(path: tuple[str, ...]) -> tuple[str, ...]:
    """'a > b > c', 'a > b', 'a': the deepest subtree first."""
    return tuple(" > ".join(path[:depth]) for depth in range(len(path), 0, -1))


def _norm(scope: str, value: str | None) -> str:
    if value is None:
        return ""
    if scope == "category":
        return " > ".join(category_path(value))
    if scope == "brand":
        return value.strip().casefold()
    return value


class _Parser:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def fail(self, where: str, code: str, reason: str) -> None:
        self.problems.append(Problem(where, code, reason))

    def dec(self, value: Any, where: str, default: Decimal | None = None) -> Decimal | None:
        if value is None:
            return default
        try:
            result = Decimal(str(value))
        except (InvalidOperation, ValueError):
            self.fail(where, "not_a_number", f"{value!r} is not a decimal number")
            return default
        if not result.is_finite():
            self.fail(where, "not_a_number", f"{value!r} is not a finite number")
            return default
        return result

    def parse(self) -> RuleSet:
        doc = self.doc
        strategy = doc.get("strategy", "margin")
        if strategy not in ("margin", "profit"):
            self.fail("strategy", "unknown_strategy", "strategy is 'margin' or 'profit'")
            strategy = "margin"
        rules: list[Rule] = []
        seen: dict[tuple[str, str, str | None], str] = {}
        for i, raw in enumerate(doc.get("rules") or []):
            rule = self.rule(raw, f"rules.{i}", strategy)
            if rule is None:
                continue
            if rule.scope != "price_band":
                key = (rule.scope, _norm(rule.scope, rule.value), rule.marketplace)
                if key in seen:
                    self.fail(f"rules.{i}", "duplicate_rule", f"same scope as rule {seen[key]}")
                seen[key] = rule.id
            rules.append(rule)
        self.check_bands(rules)
        ids = [r.id for r in rules]
        for rid in {r for r in ids if ids.count(r) > 1}:
            self.fail("rules", "duplicate_rule_id", f"rule id {rid!r} is used twice")
        fallback = doc.get("fallback", "rrp")
        if fallback not in ("rrp", "default_rule", "none"):
            self.fail("fallback", "unknown_fallback", "fallback is rrp, default_rule or none")
            fallback = "rrp"
        default_rule = None
        if doc.get("default_rule") is not None:
            default_rule = self.rule(
                {**doc["default_rule"], "scope": "default"}, "default_rule", strategy
            )
        if fallback == "default_rule" and default_rule is None:
            self.fail("default_rule", "missing_default_rule", "fallback default_rule needs one")
        floor = doc.get("floor") or {}
        min_margin = self.dec(floor.get("min_margin_pct"), "floor.min_margin_pct", ZERO) or ZERO
        if min_margin < 0:
            self.fail("floor.min_margin_pct", "negative_percentage", "must be >= 0")
        ceiling = doc.get("ceiling") or {}
        factor = self.dec(ceiling.get("rrp_factor"), "ceiling.rrp_factor")
        if factor is not None and factor <= 0:
            self.fail("ceiling.rrp_factor", "invalid_ceiling", "the RRP factor must be > 0")
        shipping = doc.get("shipping") or {}
        bands = self.bands(shipping.get("bands"))
        markets = self.market_shipping(shipping.get("marketplaces") or {})
        rrp = doc.get("rrp") or {}
        includes_vat = rrp.get("includes_vat", False)
        if not isinstance(includes_vat, bool):
            self.fail("rrp.includes_vat", "not_a_boolean", "includes_vat is true or false")
            includes_vat = False
        vat_regime = doc.get("vat_regime", "destination")
        if vat_regime not in ("destination", "origin"):
            self.fail("vat_regime", "unknown_vat_regime", "destination (OSS) or origin")
            vat_regime = "destination"
        endings: dict[str, Decimal] = {}
        for currency, spec in (doc.get("rounding") or {}).items():
            where = f"rounding.{currency}"
            if currency not in {m.currency for m in MARKETPLACES.values()}:
                self.problems += check_currency(currency, where) or [
                    Problem(where, "unknown_currency", f"no marketplace sells in {currency}")
                ]
                continue
            ending = self.dec((spec or {}).get("ending"), f"{where}.ending")
            if ending is not None:
                self.problems += check_ending(currency, ending, f"{where}.ending")
                endings[currency] = ending
        breaker = self.breaker(doc.get("circuit_breaker") or {})
        if self.problems:
            raise InvalidInput(self.problems)
        return RuleSet(
            strategy=strategy,
            rules=tuple(rules),
            fallback=fallback,
            default_rule=default_rule,
            floor_min_margin_pct=min_margin,
            ceiling_rrp_factor=factor,
            promoted=bool(doc.get("promoted", False)),
            free_delivery=bool(shipping.get("free_delivery", False)),
            shipping_bands=bands,
            shipping_markets=markets,
            rrp_includes_vat=includes_vat,
            vat_regime=vat_regime,
            endings=endings,
            breaker=breaker,
        )

    def rule(self, raw: Any, where: str, strategy: str) -> Rule | None:
        if not isinstance(raw, dict):
            self.fail(where, "invalid_rule", "a rule is an object")
            return None
        before = len(self.problems)
        scope = raw.get("scope")
        if scope not in (*SCOPES, "default"):
            self.fail(f"{where}.scope", "unknown_scope", f"scope is one of {', '.join(SCOPES)}")
            return None
        value = raw.get("value")
        if scope in ("product", "category", "brand") and not (
            isinstance(value, str) and value.strip()
        ):
            self.fail(f"{where}.value", "missing_value", f"a {scope} rule names its {scope}")
        pct = self.dec(raw.get("percentage"), f"{where}.percentage")
        fixed_raw = raw.get("fixed_amount")
        fixed_currency = "EUR"
        fixed = None
        if isinstance(fixed_raw, dict):
            fixed = self.dec(fixed_raw.get("amount"), f"{where}.fixed_amount.amount")
            fixed_currency = str(fixed_raw.get("currency", "EUR"))
            self.problems += check_currency(fixed_currency, f"{where}.fixed_amount.currency")
        elif fixed_raw is not None:
            fixed = self.dec(fixed_raw, f"{where}.fixed_amount")
        if pct is None and fixed is None:
            self.fail(where, "missing_amount", "a rule sets a percentage and/or a fixed amount")
        if pct is not None and pct < 0:
            self.fail(f"{where}.percentage", "negative_percentage", "a percentage must be >= 0")
        if pct is not None and strategy == "profit" and pct >= HUNDRED:
            self.fail(
                f"{where}.percentage",
                "profit_percentage_too_high",
                "a profit (margin on the selling price) must be below 100 %",
            )
        if fixed is not None and fixed < 0:
            self.fail(f"{where}.fixed_amount", "negative_amount", "a fixed amount must be >= 0")
        marketplace = raw.get("marketplace")
        if marketplace is not None:
            self.problems += check_marketplace(str(marketplace), f"{where}.marketplace")
        band_min = band_max = None
        band_currency = "EUR"
        if scope == "price_band":
            band = raw.get("band") or {}
            band_min = self.dec(band.get("min"), f"{where}.band.min", ZERO)
            band_max = self.dec(band.get("max"), f"{where}.band.max")
            band_currency = str(band.get("currency", "EUR"))
            self.problems += check_currency(band_currency, f"{where}.band.currency")
            if band_min is not None and band_min < 0:
                self.fail(f"{where}.band.min", "invalid_band", "a band starts at >= 0")
            if band_max is not None and band_min is not None and band_max <= band_min:
                self.fail(f"{where}.band", "invalid_band", "a band's max is above its min")
        if len(self.problems) > before:
            return None
        rid = raw.get("id") or _rule_id(scope, value, band_min, band_max, marketplace)
        return Rule(
            id=str(rid),
            scope=scope,
            value=value if scope != "price_band" else None,
            band_min=band_min,
            band_max=band_max,
            band_currency=band_currency,
            percentage=pct or ZERO,
            fixed_amount=fixed or ZERO,
            fixed_currency=fixed_currency,
            marketplace=marketplace,
        )

    def check_bands(self, rules: list[Rule]) -> None:
        bands = [r for r in rules if r.scope == "price_band"]
        for i, a in enumerate(bands):
            for b in bands[i + 1 :]:
                if a.marketplace != b.marketplace or a.band_currency != b.band_currency:
                    continue
                a_hi = a.band_max if a.band_max is not None else Decimal("Infinity")
                b_hi = b.band_max if b.band_max is not None else Decimal("Infinity")
                if (a.band_min or ZERO) < b_hi and (b.band_min or ZERO) < a_hi:
                    self.fail("rules", "overlapping_bands", f"bands {a.id} and {b.id} overlap")

    def market_shipping(self, raw: dict[str, Any]) -> dict[str, MarketShipping]:
        out: dict[str, MarketShipping] = {}
        for mid, spec in raw.items():
            where = f"shipping.marketplaces.{mid}"
            problems = check_marketplace(mid, where)
            if problems:
                self.problems += problems
                continue
            spec = spec or {}
            currency = MARKETPLACES[mid].currency
            bands = None
            if spec.get("bands") is not None:
                bands = self.bands(spec["bands"], f"{where}.bands", currency)
            free = spec.get("free_delivery")
            if free is not None and not isinstance(free, bool):
                self.fail(f"{where}.free_delivery", "not_a_boolean", "true or false")
                free = None
            free_from = self.dec(spec.get("free_delivery_from"), f"{where}.free_delivery_from")
            if free_from is not None and free_from < 0:
                self.fail(f"{where}.free_delivery_from", "negative_amount", "must be >= 0")
            out[mid] = MarketShipping(bands, free, free_from)
        return out

    def bands(
        self, raw: Any, at: str = "shipping.bands", currency_of_market: str | None = None
    ) -> tuple[ShippingBand, ...]:
        if raw is None:
            return DEFAULT_BANDS
        out: list[ShippingBand] = []
        for i, band in enumerate(raw):
            where = f"{at}.{i}"
            weight = self.dec(band.get("max_weight_kg"), f"{where}.max_weight_kg")
            cost_raw = band.get("cost") or {}
            cost = self.dec(cost_raw.get("amount"), f"{where}.cost.amount")
            currency = str(cost_raw.get("currency", currency_of_market or "PLN"))
            self.problems += check_currency(currency, f"{where}.cost.currency")
            if currency_of_market is not None and currency != currency_of_market:
                self.fail(
                    f"{where}.cost.currency",
                    "band_currency_mismatch",
                    f"a marketplace's bands are in its currency ({currency_of_market})",
                )
                continue
            if weight is None or weight <= 0:
                self.fail(f"{where}.max_weight_kg", "invalid_band", "a weight band is > 0 kg")
                continue
            if cost is None or cost < 0:
                self.fail(f"{where}.cost", "negative_amount", "a shipping cost is >= 0")
                continue
            out.append(ShippingBand(weight, cost, currency))
        out.sort(key=lambda b: b.max_weight_kg)
        return tuple(out)

    def breaker(self, raw: dict[str, Any]) -> Breaker:
        base = Breaker()
        share = self.dec(raw.get("max_share"), "circuit_breaker.max_share", base.max_share)
        change = self.dec(
            raw.get("max_change_pct"), "circuit_breaker.max_change_pct", base.max_change_pct
        )
        if share is None or not ZERO <= share <= 1:
            self.fail("circuit_breaker.max_share", "invalid_share", "a share is in [0, 1]")
            share = base.max_share
        if change is None or change < 0:
            self.fail("circuit_breaker.max_change_pct", "negative_percentage", "must be >= 0")
            change = base.max_change_pct
        return Breaker(
            max_share=share,
            max_change_pct=change,
            min_items=int(raw.get("min_items", base.min_items)),
            enabled=bool(raw.get("enabled", True)),
        )


def _rule_id(
    scope: str,
    value: str | None,
    band_min: Decimal | None,
    band_max: Decimal | None,
    marketplace: str | None,
) -> str:
    key = _norm(scope, value) if scope != "price_band" else f"{band_min}-{band_max or ''}"
    return f"{scope}:{key}" + (f"@{marketplace}" if marketplace else "")
