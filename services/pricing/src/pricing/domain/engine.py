"""The price of one product on one marketplace, and the chain that explains it.

cost -> rule -> strategy -> VAT -> commission -> shipping -> FX -> rounding -> (ceiling) -> floor

Everything up to FX is in the product's cost currency (table amounts and shipping costs are
converted into it); FX converts to the marketplace's currency; rounding is up to the currency's
unit (and the operator's ending). The floor is the break-even price (cost + VAT + commission +
shipping when included, at cost x (1 + floor.min_margin_pct)); a price below it is not
published: the outcome carries the reason instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pricing.domain.fees import FeeRule, FeeTable, MarketplaceFees
from pricing.domain.fx import Conversion, FxTable, MissingRate
from pricing.domain.marketplaces import (
    MARKETPLACES,
    ONE,
    ZERO,
    Marketplace,
    cents,
    round_down,
    round_up,
    unit_of,
)
from pricing.domain.rules import HUNDRED, Product, Rule, RuleSet

TOLERANCE = Decimal("1e-9")


@dataclass
class Outcome:
    marketplace_id: str
    currency: str
    amount: Decimal | None = None
    reason: str | None = None  # why there is no price
    rule_id: str | None = None
    floor: Decimal | None = None
    chain: list[dict[str, Any]] = field(default_factory=list)

    @property
    def priced(self) -> bool:
        return self.amount is not None


def apply_strategy(cost: Decimal, percentage: Decimal, strategy: str) -> Decimal:
    """BigBuy's formulas: margin = cost x (1 + P); profit = cost / (1 - P). Half-up cents."""
    share = percentage / HUNDRED
    if strategy == "profit":
        if share >= ONE:
            raise ValueError("a profit percentage must be below 100")
        return cents(cost / (ONE - share))
    return cents(cost * (ONE + share))


def _s(value: Decimal) -> str:
    return str(cents(value))


class _Unpriced(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass
class Solved:
    price: Decimal
    commission: Decimal
    surcharge: Decimal
    listing_fee: Decimal
    unit_fee: Decimal
    extra: Decimal


class PricingEngine:
    """Prices products with one account's rules, fee table and rates (no I/O)."""

    def __init__(self, rules: RuleSet, fees: FeeTable, fx: FxTable) -> None:
        self.rules = rules
        self.fees = fees
        self.fx = fx
        self._fee_rules: dict[tuple[str | None, str | None], FeeRule] = {}
        self._describe: dict[tuple[str, str], dict[str, Any]] = {}

    def fee_rule(self, product: Product) -> FeeRule:
        key = (product.allegro_category_id, product.supplier_category)
        rule = self._fee_rules.get(key)
        if rule is None:
            rule = self.fees.rule_for(product.allegro_category_id, product.path)
            self._fee_rules[key] = rule
        return rule

    def describe(self, conv: Conversion) -> dict[str, Any]:
        key = (conv.source_currency, conv.target_currency)
        out = self._describe.get(key)
        if out is None:
            out = self._describe[key] = conv.describe()
        return out

    def conversion(self, source: str, target: str) -> Conversion:
        try:
            return self.fx.conversion(source, target)
        except MissingRate as exc:
            raise _Unpriced("missing_fx_rate", str(exc)) from None

    def price_all(self, product: Product) -> dict[str, Outcome]:
        return {mid: self.price(product, mid) for mid in MARKETPLACES}

    def price(self, product: Product, marketplace_id: str) -> Outcome:
        market = MARKETPLACES[marketplace_id]
        out = Outcome(marketplace_id, market.currency)
        try:
            self._price(product, market, out)
        except _Unpriced as exc:
            out.amount = None
            out.reason = exc.reason
            out.chain.append({"step": "unpriced", "reason": exc.reason, "detail": exc.detail})
        return out

    # --- the chain ------------------------------------------------------------------------

    def _price(self, product: Product, market: Marketplace, out: Outcome) -> None:
        chain = out.chain
        if product.cost is None or product.cost_currency is None:
            raise _Unpriced("missing_cost", "the catalogue item has no cost")
        cost, currency = product.cost, product.cost_currency
        chain.append({"step": "cost", "amount": str(cost), "currency": currency})
        to_market = self.conversion(currency, market.currency)
        vat = market.vat_rate if self.rules.vat_regime == "destination" else Decimal("0.23")
        fee_rule = self.fee_rule(product)
        mfees = self.fees.for_marketplace(market.id)
        ending = self.rules.endings.get(market.currency)

        def cost_in(target: str) -> Decimal | None:
            try:
                return cost * self.fx.conversion(currency, target).factor
            except MissingRate:
                return None

        rule = self.rules.resolve(product, market.id, cost_in)
        floor_exact = self._floor(product, market, vat, fee_rule, mfees, to_market)
        if rule is None:
            price = self._fallback(product, market, to_market, ending, chain)
        else:
            price = self._by_rule(
                product, market, rule, vat, fee_rule, mfees, to_market, ending, chain
            )
            out.rule_id = rule.id
        price = self._ceiling(product, market, price, ending, chain)
        floor = round_up(floor_exact, market.currency)
        out.floor = floor
        ok = price >= floor
        chain.append(
            {
                "step": "floor",
                "floor": str(floor),
                "min_margin_pct": str(self.rules.floor_min_margin_pct),
                "ok": ok,
            }
        )
        if not ok:
            raise _Unpriced("below_floor", f"{price} {market.currency} < floor {floor}")
        out.amount = price

    def _fallback(
        self,
        product: Product,
        market: Marketplace,
        to_market: Conversion,
        ending: Decimal | None,
        chain: list[dict[str, Any]],
    ) -> Decimal:
        if self.rules.fallback != "rrp":
            raise _Unpriced("no_rule", "no rule matches and the fallback is none")
        if product.rrp is None or product.rrp_currency is None:
            raise _Unpriced("missing_rrp", "no rule matches and the item has no RRP")
        chain.append({"step": "rule", "rule_id": None, "fallback": "rrp", "rrp": str(product.rrp)})
        conv = self.conversion(product.rrp_currency, market.currency)
        amount = product.rrp * conv.factor
        chain.append({"step": "fx", **self.describe(conv), "amount": _s(amount)})
        return self._round(amount, market, ending, chain)

    def _by_rule(
        self,
        product: Product,
        market: Marketplace,
        rule: Rule,
        vat: Decimal,
        fee_rule: FeeRule,
        mfees: MarketplaceFees,
        to_market: Conversion,
        ending: Decimal | None,
        chain: list[dict[str, Any]],
    ) -> Decimal:
        assert product.cost is not None and product.cost_currency is not None
        currency = product.cost_currency
        fixed = ZERO
        if rule.fixed_amount:
            fixed = rule.fixed_amount * self.conversion(rule.fixed_currency, currency).factor
        chain.append(
            {
                "step": "rule",
                "rule_id": rule.id,
                "scope": rule.scope,
                "value": rule.value,
                "percentage": str(rule.percentage),
                "fixed_amount": _s(fixed),
                "marketplace": rule.marketplace,
            }
        )
        net = apply_strategy(product.cost, rule.percentage, self.rules.strategy) + cents(fixed)
        chain.append({"step": "strategy", "strategy": self.rules.strategy, "net": str(net)})
        gross = net * (ONE + vat)
        chain.append(
            {
                "step": "vat",
                "country": market.country if self.rules.vat_regime == "destination" else "PL",
                "rate_pct": str((vat * HUNDRED).normalize()),
                "gross": _s(gross),
            }
        )
        shipped, buyer_pays, band = self._shipping(product, currency)
        solved = self._solve(gross + shipped, buyer_pays, fee_rule, mfees, currency, to_market)
        step: dict[str, Any] = {
            "step": "commission",
            "fee_rule": fee_rule.key,
            "fee_source": self.fees.source,
            "commission": _s(solved.commission),
        }
        for name, value in (
            ("promoted_surcharge", solved.surcharge),
            ("listing_fee", solved.listing_fee),
            ("unit_fee", solved.unit_fee),
            ("extra_share", solved.extra),
            ("base_includes_buyer_delivery", buyer_pays),
        ):
            if value:
                step[name] = _s(value)
        chain.append(step)
        chain.append(
            {
                "step": "shipping",
                "free_delivery": self.rules.free_delivery,
                "band_max_kg": None if band is None else str(band),
                "included": _s(shipped),
                "price": _s(solved.price),
            }
        )
        amount = solved.price * to_market.factor
        chain.append({"step": "fx", **self.describe(to_market), "amount": _s(amount)})
        return self._round(amount, market, ending, chain)

    def _round(
        self,
        amount: Decimal,
        market: Marketplace,
        ending: Decimal | None,
        chain: list[dict[str, Any]],
    ) -> Decimal:
        price = round_up(amount, market.currency, ending)
        step: dict[str, Any] = {
            "step": "rounding",
            "rule": f"up to {unit_of(market.currency)} {market.currency}",
            "ending": None if ending is None else str(ending),
        }
        if market.minimum_price is not None and price < market.minimum_price:
            price = round_up(market.minimum_price, market.currency, ending)
            step["raised_to_minimum"] = str(market.minimum_price)
        step["amount"] = str(price)
        chain.append(step)
        return price

    def _ceiling(
        self,
        product: Product,
        market: Marketplace,
        price: Decimal,
        ending: Decimal | None,
        chain: list[dict[str, Any]],
    ) -> Decimal:
        factor = self.rules.ceiling_rrp_factor
        if factor is None or product.rrp is None or product.rrp_currency is None:
            return price
        cap = product.rrp * factor * self.conversion(product.rrp_currency, market.currency).factor
        if price <= cap:
            chain.append({"step": "ceiling", "ceiling": _s(cap), "applied": False})
            return price
        capped = round_down(cap, market.currency, ending)
        chain.append(
            {"step": "ceiling", "ceiling": _s(cap), "applied": True, "amount": str(capped)}
        )
        return capped

    def _shipping(self, product: Product, currency: str) -> tuple[Decimal, Decimal, Decimal | None]:
        """(included in the price, paid by the buyer, band) in the cost currency."""
        band = self.rules.shipping_band(product.weight_kg)
        if band is None:
            if self.rules.free_delivery:
                raise _Unpriced(
                    "no_shipping_band",
                    f"free delivery needs a weight band (weight {product.weight_kg} kg)",
                )
            return ZERO, ZERO, None
        cost = band.cost * self.conversion(band.currency, currency).factor
        if self.rules.free_delivery:
            return cost, ZERO, band.max_weight_kg
        return ZERO, cost, band.max_weight_kg

    def _floor(
        self,
        product: Product,
        market: Marketplace,
        vat: Decimal,
        fee_rule: FeeRule,
        mfees: MarketplaceFees,
        to_market: Conversion,
    ) -> Decimal:
        assert product.cost is not None and product.cost_currency is not None
        net = product.cost * (ONE + self.rules.floor_min_margin_pct / HUNDRED)
        shipped, buyer_pays, _ = self._shipping(product, product.cost_currency)
        solved = self._solve(
            net * (ONE + vat) + shipped,
            buyer_pays,
            fee_rule,
            mfees,
            product.cost_currency,
            to_market,
        )
        return solved.price * to_market.factor

    def _solve(
        self,
        base: Decimal,
        buyer_pays: Decimal,
        fee_rule: FeeRule,
        mfees: MarketplaceFees,
        currency: str,
        to_market: Conversion,
    ) -> Solved:
        """The price P with P = base + k x commission(P + delivery) + fees + extra x P.

        commission() is piecewise linear and P - k c(P) - e P increases strictly, so the root
        is unique: try each linear piece and keep the one that is consistent.
        """
        scale = self.conversion(self.fees.currency, currency).factor
        k = ONE + (mfees.promoted_share if self.rules.promoted else ZERO)
        e = mfees.extra_rate
        unit_fee = mfees.unit_fee / to_market.factor if mfees.unit_fee else ZERO
        listing = ZERO
        price, commission = self._root(base + unit_fee, buyer_pays, fee_rule, scale, k, e)
        threshold = mfees.listing_threshold
        if threshold is not None and mfees.listing_fee and price > threshold * scale:
            listing = mfees.listing_fee * mfees.listing_cycles * scale
            price, commission = self._root(
                base + unit_fee + listing, buyer_pays, fee_rule, scale, k, e
            )
        return Solved(
            price=price,
            commission=commission,
            surcharge=commission * (k - ONE),
            listing_fee=listing,
            unit_fee=unit_fee,
            extra=price * e,
        )

    @staticmethod
    def _root(
        base: Decimal,
        delivery: Decimal,
        fee_rule: FeeRule,
        scale: Decimal,
        k: Decimal,
        e: Decimal,
    ) -> tuple[Decimal, Decimal]:
        for a, b in fee_rule.linear_pieces(scale):
            price = (base + k * (a + b * delivery)) / (ONE - e - k * b)
            commission = fee_rule.commission(price + delivery, scale)
            if abs(commission - (a + b * (price + delivery))) <= TOLERANCE * max(ONE, price):
                return price, commission
        # Unreachable for a continuous table; iterate to be safe.
        price = base
        for _ in range(100):
            commission = fee_rule.commission(price + delivery, scale)
            price = (base + k * commission) / (ONE - e)
        return price, fee_rule.commission(price + delivery, scale)
