"""The price of one product on one marketplace, and the chain that explains it.

cost -> rule -> strategy -> VAT -> commission -> shipping -> FX -> rounding -> (ceiling) -> floor

Everything up to FX is in the product's cost currency (table amounts and shipping costs are
converted into it); FX converts to the marketplace's currency; rounding is up to the currency's
unit (and the operator's ending). The floor is the break-even price (cost + VAT + commission +
shipping when included, at cost x (1 + floor.min_margin_pct)); a price below it is not
published: the outcome carries the reason instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
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


@dataclass
class _Market:
    """What one (marketplace, cost currency) pair needs, computed once per engine."""

    market: Marketplace
    vat: Decimal
    vat_step: dict[str, Any]
    mfees: MarketplaceFees
    ending: Decimal | None
    to_market: Conversion | None
    missing: str  # why to_market is None
    scale: Decimal | None  # fee-table currency -> cost currency
    k: Decimal
    unit_fee: Decimal
    listing_threshold: Decimal | None
    listing_fee: Decimal


@dataclass
class _Item:
    """What one product needs, computed once for all marketplaces."""

    fee_rule: FeeRule | None  # scaled into the cost currency
    pieces: list[tuple[Decimal, Decimal]]
    shipped: Decimal
    buyer_pays: Decimal
    band: Decimal | None
    shipping_error: _Unpriced | None


class PricingEngine:
    """Prices products with one account's rules, fee table and rates (no I/O)."""

    def __init__(self, rules: RuleSet, fees: FeeTable, fx: FxTable) -> None:
        self.rules = rules
        self.fees = fees
        self.fx = fx
        self._fee_rules: dict[tuple[str | None, str | None], FeeRule] = {}
        self._scaled: dict[tuple[str, str], tuple[FeeRule, list[tuple[Decimal, Decimal]]]] = {}
        self._describe: dict[tuple[str, str], dict[str, Any]] = {}
        self._markets: dict[tuple[str, str], _Market] = {}
        self._min_margin = str(rules.floor_min_margin_pct)

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

    def _market(self, marketplace_id: str, currency: str) -> _Market:
        key = (marketplace_id, currency)
        ctx = self._markets.get(key)
        if ctx is not None:
            return ctx
        market = MARKETPLACES[marketplace_id]
        destination = self.rules.vat_regime == "destination"
        vat = market.vat_rate if destination else Decimal("0.23")
        mfees = self.fees.for_marketplace(market.id)
        to_market: Conversion | None = None
        missing = ""
        try:
            to_market = self.fx.conversion(currency, market.currency)
        except MissingRate as exc:
            missing = str(exc)
        scale: Decimal | None = None
        with contextlib.suppress(MissingRate):
            scale = self.fx.conversion(self.fees.currency, currency).factor
        unit_fee = ZERO
        if mfees.unit_fee and to_market is not None:
            unit_fee = mfees.unit_fee / to_market.factor
        ctx = _Market(
            market=market,
            vat=vat,
            vat_step={
                "step": "vat",
                "country": market.country if destination else "PL",
                "rate_pct": str((vat * HUNDRED).normalize()),
            },
            mfees=mfees,
            ending=self.rules.endings.get(market.currency),
            to_market=to_market,
            missing=missing,
            scale=scale,
            k=ONE + (mfees.promoted_share if self.rules.promoted else ZERO),
            unit_fee=unit_fee,
            listing_threshold=None
            if mfees.listing_threshold is None or not mfees.listing_fee or scale is None
            else mfees.listing_threshold * scale,
            listing_fee=mfees.listing_fee * mfees.listing_cycles * (scale or ZERO),
        )
        self._markets[key] = ctx
        return ctx

    def _scaled_rule(
        self, rule: FeeRule, currency: str
    ) -> tuple[FeeRule, list[tuple[Decimal, Decimal]]] | None:
        key = (rule.key, currency)
        cached = self._scaled.get(key)
        if cached is None:
            try:
                scale = self.fx.conversion(self.fees.currency, currency).factor
            except MissingRate:
                return None
            scaled = FeeRule(
                rule.key,
                rule.label,
                rule.rate,
                None if rule.threshold is None else rule.threshold * scale,
                rule.fixed_above * scale,
                rule.rate_above,
                None if rule.cap is None else rule.cap * scale,
                rule.minimum * scale,
            )
            cached = self._scaled[key] = (scaled, scaled.linear_pieces(ONE))
        return cached

    def _item(self, product: Product, currency: str) -> _Item:
        scaled = self._scaled_rule(self.fee_rule(product), currency)
        error: _Unpriced | None = None
        shipped = buyer_pays = ZERO
        band_kg: Decimal | None = None
        try:
            shipped, buyer_pays, band_kg = self._shipping(product, currency)
        except _Unpriced as exc:
            error = exc
        return _Item(
            fee_rule=None if scaled is None else scaled[0],
            pieces=[] if scaled is None else scaled[1],
            shipped=shipped,
            buyer_pays=buyer_pays,
            band=band_kg,
            shipping_error=error,
        )

    def price_all(self, product: Product) -> dict[str, Outcome]:
        item = None
        resolved: list[Rule | None] | None = None
        if product.cost_currency is not None:
            item = self._item(product, product.cost_currency)
            if not self.rules.per_marketplace:
                # One resolution serves every marketplace when no rule names one.
                resolved = [self.rules.resolve(product, "", self._cost_in(product))]
        return {mid: self.price(product, mid, item, resolved) for mid in MARKETPLACES}

    def _cost_in(self, product: Product) -> Callable[[str], Decimal | None]:
        cost, currency = product.cost, product.cost_currency

        def cost_in(target: str) -> Decimal | None:
            if cost is None or currency is None:
                return None
            if target == currency:
                return cost
            try:
                return cost * self.fx.conversion(currency, target).factor
            except MissingRate:
                return None

        return cost_in

    def price(
        self,
        product: Product,
        marketplace_id: str,
        item: _Item | None = None,
        resolved: list[Rule | None] | None = None,
    ) -> Outcome:
        market = MARKETPLACES[marketplace_id]
        out = Outcome(marketplace_id, market.currency)
        try:
            self._price(product, marketplace_id, out, item, resolved)
        except _Unpriced as exc:
            out.amount = None
            out.reason = exc.reason
            out.chain.append({"step": "unpriced", "reason": exc.reason, "detail": exc.detail})
        return out

    # --- the chain ------------------------------------------------------------------------

    def _price(
        self,
        product: Product,
        marketplace_id: str,
        out: Outcome,
        item: _Item | None,
        resolved: list[Rule | None] | None,
    ) -> None:
        chain = out.chain
        if product.cost is None or product.cost_currency is None:
            raise _Unpriced("missing_cost", "the catalogue item has no cost")
        cost, currency = product.cost, product.cost_currency
        chain.append({"step": "cost", "amount": str(cost), "currency": currency})
        ctx = self._market(marketplace_id, currency)
        if ctx.to_market is None:
            raise _Unpriced("missing_fx_rate", ctx.missing)
        if item is None:
            item = self._item(product, currency)
        if item.fee_rule is None:
            raise _Unpriced("missing_fx_rate", f"no rate {self.fees.currency}->{currency}")
        if item.shipping_error is not None:
            raise item.shipping_error
        if resolved is not None:
            rule = resolved[0]
        else:
            rule = self.rules.resolve(product, marketplace_id, self._cost_in(product))
        net_floor = cost * (ONE + self.rules.floor_min_margin_pct / HUNDRED)
        floor_solved = self._solve(net_floor * (ONE + ctx.vat) + item.shipped, item, ctx)
        if rule is None:
            price = self._fallback(product, ctx, chain)
        else:
            price = self._by_rule(product, rule, ctx, item, chain)
            out.rule_id = rule.id
        price = self._ceiling(product, ctx, price, chain)
        currency_out = ctx.market.currency
        floor = round_up(floor_solved.price * ctx.to_market.factor, currency_out)
        out.floor = floor
        ok = price >= floor
        chain.append(
            {"step": "floor", "floor": str(floor), "min_margin_pct": self._min_margin, "ok": ok}
        )
        if not ok:
            raise _Unpriced("below_floor", f"{price} {currency_out} < floor {floor}")
        out.amount = price

    def _fallback(self, product: Product, ctx: _Market, chain: list[dict[str, Any]]) -> Decimal:
        if self.rules.fallback != "rrp":
            raise _Unpriced("no_rule", "no rule matches and the fallback is none")
        if product.rrp is None or product.rrp_currency is None:
            raise _Unpriced("missing_rrp", "no rule matches and the item has no RRP")
        chain.append({"step": "rule", "rule_id": None, "fallback": "rrp", "rrp": str(product.rrp)})
        conv = self.conversion(product.rrp_currency, ctx.market.currency)
        amount = product.rrp * conv.factor
        chain.append({"step": "fx", **self.describe(conv), "amount": _s(amount)})
        return self._round(amount, ctx, chain)

    def _by_rule(
        self,
        product: Product,
        rule: Rule,
        ctx: _Market,
        item: _Item,
        chain: list[dict[str, Any]],
    ) -> Decimal:
        assert product.cost is not None and product.cost_currency is not None
        assert ctx.to_market is not None and item.fee_rule is not None
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
        gross = net * (ONE + ctx.vat)
        chain.append({**ctx.vat_step, "gross": _s(gross)})
        solved = self._solve(gross + item.shipped, item, ctx)
        step: dict[str, Any] = {
            "step": "commission",
            "fee_rule": item.fee_rule.key,
            "fee_source": self.fees.source,
            "commission": _s(solved.commission),
        }
        for name, value in (
            ("promoted_surcharge", solved.surcharge),
            ("listing_fee", solved.listing_fee),
            ("unit_fee", solved.unit_fee),
            ("extra_share", solved.extra),
            ("base_includes_buyer_delivery", item.buyer_pays),
        ):
            if value:
                step[name] = _s(value)
        chain.append(step)
        chain.append(
            {
                "step": "shipping",
                "free_delivery": self.rules.free_delivery,
                "band_max_kg": None if item.band is None else str(item.band),
                "included": _s(item.shipped),
                "price": _s(solved.price),
            }
        )
        amount = solved.price * ctx.to_market.factor
        chain.append({"step": "fx", **self.describe(ctx.to_market), "amount": _s(amount)})
        return self._round(amount, ctx, chain)

    def _round(self, amount: Decimal, ctx: _Market, chain: list[dict[str, Any]]) -> Decimal:
        market = ctx.market
        price = round_up(amount, market.currency, ctx.ending)
        step: dict[str, Any] = {
            "step": "rounding",
            "rule": f"up to {unit_of(market.currency)} {market.currency}",
            "ending": None if ctx.ending is None else str(ctx.ending),
        }
        if market.minimum_price is not None and price < market.minimum_price:
            price = round_up(market.minimum_price, market.currency, ctx.ending)
            step["raised_to_minimum"] = str(market.minimum_price)
        step["amount"] = str(price)
        chain.append(step)
        return price

    def _ceiling(
        self, product: Product, ctx: _Market, price: Decimal, chain: list[dict[str, Any]]
    ) -> Decimal:
        factor = self.rules.ceiling_rrp_factor
        if factor is None or product.rrp is None or product.rrp_currency is None:
            return price
        market = ctx.market
        cap = product.rrp * factor * self.conversion(product.rrp_currency, market.currency).factor
        if price <= cap:
            chain.append({"step": "ceiling", "ceiling": _s(cap), "applied": False})
            return price
        capped = round_down(cap, market.currency, ctx.ending)
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
        cost = band.cost
        if band.currency != currency:
            cost = cost * self.conversion(band.currency, currency).factor
        if self.rules.free_delivery:
            return cost, ZERO, band.max_weight_kg
        return ZERO, cost, band.max_weight_kg

    def _solve(self, base: Decimal, item: _Item, ctx: _Market) -> Solved:
        """The price P with P = base + k x commission(P + delivery) + fees + extra x P.

        commission() is piecewise linear and P - k c(P) - e P increases strictly, so the root
        is unique: try each linear piece and keep the one that is consistent.
        """
        assert item.fee_rule is not None
        k, e = ctx.k, ctx.mfees.extra_rate
        listing = ZERO
        price, commission = self._root(base + ctx.unit_fee, item, k, e)
        if ctx.listing_threshold is not None and price > ctx.listing_threshold:
            listing = ctx.listing_fee
            price, commission = self._root(base + ctx.unit_fee + listing, item, k, e)
        return Solved(
            price=price,
            commission=commission,
            surcharge=commission * (k - ONE),
            listing_fee=listing,
            unit_fee=ctx.unit_fee,
            extra=price * e,
        )

    @staticmethod
    def _root(base: Decimal, item: _Item, k: Decimal, e: Decimal) -> tuple[Decimal, Decimal]:
        fee_rule = item.fee_rule
        assert fee_rule is not None
        delivery = item.buyer_pays
        for a, b in item.pieces:
            price = (base + k * (a + b * delivery)) / (ONE - e - k * b)
            commission = fee_rule.commission(price + delivery)
            if abs(commission - (a + b * (price + delivery))) <= TOLERANCE * max(ONE, price):
                return price, commission
        # Unreachable for a continuous table; iterate to be safe.
        price = base
        for _ in range(100):
            commission = fee_rule.commission(price + delivery)
            price = (base + k * commission) / (ONE - e)
        return price, fee_rule.commission(price + delivery)
