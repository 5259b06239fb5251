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
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson

from pricing.domain import explanation
from pricing.domain.fees import FeeRule, FeeTable, MarketplaceFees
from pricing.domain.fx import Conversion, FxRate, FxTable, MissingRate
from pricing.domain.marketplaces import (
    CENT,
    MARKETPLACES,
    ONE,
    ZERO,
    Marketplace,
    cents,
    round_down,
    round_up,
)
from pricing.domain.rules import HUNDRED, Product, Rule, RuleSet, Shipping
from pricing.domain.trace import Trace

TOLERANCE = Decimal("1e-9")
SNAP = Decimal("1e-9")  # far below any currency's step, far above 28-digit noise
PREVIEW_LABEL = "fee-preview "  # label of a fee row sampled from Allegro, then its time


@dataclass
class Outcome:
    """A price (or the reason there is none) and its compact trace.

    The trace holds only the figures of this price; `chain` expands it into the labelled
    explanation with the rules, rates and fee table it was computed with. Stored traces are
    expanded the same way from the snapshot of that context.
    """

    marketplace_id: str
    currency: str
    amount: Decimal | None = None
    reason: str | None = None  # why there is no price
    rule_id: str | None = None
    floor: Decimal | None = None
    trace: Trace = field(default_factory=Trace)
    engine: PricingEngine | None = field(default=None, repr=False, compare=False)

    @property
    def priced(self) -> bool:
        return self.amount is not None

    @property
    def chain(self) -> list[dict[str, Any]]:
        assert self.engine is not None
        return self.engine.chain(self.marketplace_id, self.trace)


def exact_strategy(cost: Decimal, percentage: Decimal, strategy: str) -> Decimal:
    """BigBuy's formulas: margin = cost x (1 + P); profit = cost / (1 - P). Unrounded: the
    chain rounds once, at the end."""
    share = percentage / HUNDRED
    if strategy == "profit":
        if share >= ONE:
            raise ValueError("a profit percentage must be below 100")
        return cost / (ONE - share)
    return cost * (ONE + share)


def apply_strategy(cost: Decimal, percentage: Decimal, strategy: str) -> Decimal:
    """The net as BigBuy shows it: half-up to the cent (28.00, 33.33)."""
    return cents(exact_strategy(cost, percentage, strategy))


def _s(value: Decimal) -> str:
    return str(value.quantize(CENT, ROUND_HALF_UP))


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
    """What one product needs on the marketplaces that share its Allegro category."""

    fee_rule: FeeRule | None  # scaled into the cost currency
    pieces: list[tuple[Decimal, Decimal]]
    match: str
    leaf: str | None
    chain: str | None  # root first, ">"-joined
    # The same on every marketplace: formatted once.
    cost: str = ""
    currency: str = ""
    # rule id -> (net, net shown, fixed amount shown)
    nets: dict[str, tuple[Decimal, str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Delivery:
    """Delivery on one marketplace, in the cost currency: what the price includes (free
    delivery) or what the buyer pays (in the commission base)."""

    shipped: Decimal
    buyer_pays: Decimal
    band: Decimal | None
    free: bool


def snap(amount: Decimal) -> Decimal:
    """Drop the noise a non-terminating rate leaves in the 28th digit (10 / 4.30 x 4.30 =
    9.999...9) before the one rounding of a price: rounding *up* would turn it into a grosz."""
    return amount.quantize(SNAP)


class PricingEngine:
    """Prices products with one account's rules, fee table and rates (no I/O)."""

    def __init__(self, rules: RuleSet, fees: FeeTable, fx: FxTable) -> None:
        self.rules = rules
        self.fees = fees
        self.fx = fx
        self._fee_rules: dict[
            tuple[str | None, tuple[str, ...] | None, str | None], tuple[FeeRule, str]
        ] = {}
        self._scaled: dict[tuple[str, str], tuple[FeeRule, list[tuple[Decimal, Decimal]]]] = {}
        self._describe: dict[tuple[str, str], dict[str, Any]] = {}
        self._markets: dict[tuple[str, str], _Market] = {}
        self._shipping = {mid: rules.shipping_for(mid) for mid in MARKETPLACES}
        self._min_margin = str(rules.floor_min_margin_pct)
        self._snapshot: tuple[uuid.UUID, dict[str, Any]] | None = None

    def snapshot(self) -> tuple[uuid.UUID, dict[str, Any]]:
        """The context as a document, and an id that is the same for the same context."""
        if self._snapshot is None:
            document = {
                "rules": self.rules.as_dict(),
                "fees": self.fees.as_dict(),
                "fx": [r.as_dict() for r in self.fx.rates],
            }
            digest = hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS))
            self._snapshot = (uuid.UUID(bytes=digest.digest()[:16]), document)
        return self._snapshot

    @classmethod
    def from_snapshot(cls, document: dict[str, Any]) -> PricingEngine:
        fees = document["fees"]
        return cls(
            RuleSet.parse(document["rules"]),
            FeeTable.parse(fees, source=fees.get("source", "table:account")),
            FxTable([FxRate.from_dict(r) for r in document["fx"]]),
        )

    def fee_rule(self, product: Product, leaf: str | None = None) -> tuple[FeeRule, str]:
        """The fee row of `product` in Allegro category `leaf`, and how it was found."""
        leaf = leaf if leaf is not None else product.allegro_category_id
        chain = product.chains.get(leaf) if leaf else None
        key = (leaf, chain, product.supplier_category)
        found = self._fee_rules.get(key)
        if found is None:
            found = self._fee_rules[key] = self.fees.resolve(leaf, chain, product.path)
        return found

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
            scaled = replace(
                rule,
                threshold=None if rule.threshold is None else rule.threshold * scale,
                fixed_above=rule.fixed_above * scale,
                cap=None if rule.cap is None else rule.cap * scale,
                minimum=rule.minimum * scale,
                points=tuple((p * scale, f * scale) for p, f in rule.points),
            )
            cached = self._scaled[key] = (scaled, scaled.linear_pieces(ONE))
        return cached

    def _item(self, product: Product, currency: str, leaf: str | None) -> _Item:
        rule, match = self.fee_rule(product, leaf)
        scaled = self._scaled_rule(rule, currency)
        chain = product.chains.get(leaf) if leaf else None
        return _Item(
            fee_rule=None if scaled is None else scaled[0],
            pieces=[] if scaled is None else scaled[1],
            match=match,
            leaf=leaf,
            chain=None if chain is None else ">".join(reversed(chain)),
            cost=str(product.cost),
            currency=currency,
        )

    def price_all(self, product: Product) -> dict[str, Outcome]:
        items: dict[str | None, _Item] = {}
        resolved: list[Rule | None] | None = None
        if product.cost_currency is not None:
            leaf = product.allegro_category_id
            items[leaf] = self._item(product, product.cost_currency, leaf)
            for other in product.allegro_category_ids.values():
                if other not in items:
                    items[other] = self._item(product, product.cost_currency, other)
            if not self.rules.per_marketplace:
                # One resolution serves every marketplace when no rule names one.
                resolved = [self.rules.resolve(product, "", self._cost_in(product))]
        return {
            mid: self.price(product, mid, items.get(product.category_on(mid)), resolved)
            for mid in MARKETPLACES
        }

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
        out = Outcome(marketplace_id, market.currency, engine=self)
        try:
            self._price(product, marketplace_id, out, item, resolved)
        except _Unpriced as exc:
            out.amount = None
            out.reason = exc.reason
            out.trace.unpriced_reason = exc.reason
            out.trace.unpriced_detail = exc.detail
        return out

    # --- pricing, recording the trace -------------------------------------------------------

    def _price(
        self,
        product: Product,
        marketplace_id: str,
        out: Outcome,
        item: _Item | None,
        resolved: list[Rule | None] | None,
    ) -> None:
        trace = out.trace
        if product.cost is None or product.cost_currency is None:
            raise _Unpriced("missing_cost", "the catalogue item has no cost")
        cost, currency = product.cost, product.cost_currency
        trace.cost = str(cost)
        trace.cost_currency = currency
        ctx = self._market(marketplace_id, currency)
        if ctx.to_market is None:
            raise _Unpriced("missing_fx_rate", ctx.missing)
        if item is None:
            item = self._item(product, currency, product.category_on(marketplace_id))
        if item.fee_rule is None:
            raise _Unpriced("missing_fx_rate", f"no rate {self.fees.currency}->{currency}")
        plan = self._shipping[marketplace_id]
        band_cost, band_kg = self._band(product, currency, plan)
        if plan.own_bands:
            trace.own_bands = True
        if resolved is not None:
            rule = resolved[0]
        else:
            rule = self.rules.resolve(product, marketplace_id, self._cost_in(product))
        paid = _Delivery(ZERO, band_cost or ZERO, band_kg, False)
        free = _Delivery(band_cost or ZERO, ZERO, band_kg, True)
        if plan.free_delivery:
            delivery = free
        elif plan.free_from is None:
            delivery = paid
        else:
            # Free from an amount: the buyer pays delivery below it. Judged on the price with
            # the buyer paying delivery: above it, delivery is free and goes into the price,
            # which only raises it, so the decision stays true.
            amount = self._amount(product, rule, ctx, item, trace, paid)
            delivery = free if snap(amount) >= plan.free_from else paid
            trace.free_delivery = delivery.free
        if delivery.free and band_cost is None:
            where = "" if not plan.own_bands else f" of {marketplace_id}"
            raise _Unpriced(
                "no_shipping_band",
                f"free delivery needs a weight band{where} (weight {product.weight_kg} kg)",
            )
        net_floor = cost * (ONE + self.rules.floor_min_margin_pct / HUNDRED)
        floor_price = self._solve_price(
            net_floor * (ONE + ctx.vat) + delivery.shipped, item, ctx, delivery
        )
        price = self._round(self._amount(product, rule, ctx, item, trace, delivery), ctx, trace)
        if rule is not None:
            out.rule_id = rule.id
        price = self._ceiling(product, ctx, price, trace)
        currency_out = ctx.market.currency
        floor = round_up(snap(floor_price * ctx.to_market.factor), currency_out)
        out.floor = floor
        trace.floor = str(floor)
        if price < floor:
            raise _Unpriced("below_floor", f"{price} {currency_out} < floor {floor}")
        out.amount = price

    def _amount(
        self,
        product: Product,
        rule: Rule | None,
        ctx: _Market,
        item: _Item,
        trace: Trace,
        delivery: _Delivery,
    ) -> Decimal:
        """The price in the marketplace's currency before its one rounding."""
        if rule is None:
            return self._fallback(product, ctx, trace, item, delivery)
        return self._by_rule(product, rule, ctx, item, trace, delivery)

    def _fallback(
        self, product: Product, ctx: _Market, trace: Trace, item: _Item, delivery: _Delivery
    ) -> Decimal:
        if self.rules.fallback != "rrp":
            raise _Unpriced("no_rule", "no rule matches and the fallback is none")
        if product.rrp is None or product.rrp_currency is None:
            raise _Unpriced("missing_rrp", "no rule matches and the item has no RRP")
        trace.fallback = "rrp"
        trace.rrp = str(product.rrp)
        trace.rrp_currency = product.rrp_currency
        self._fee_trace(item, trace)
        self._delivery_trace(delivery, trace)
        rrp = product.rrp
        if not self.rules.rrp_includes_vat:
            rrp = rrp * (ONE + ctx.vat)
            trace.rrp_with_vat = _s(rrp)
        conv = self.conversion(product.rrp_currency, ctx.market.currency)
        amount = rrp * conv.factor
        trace.converted = _s(amount)
        return amount

    def _fee_trace(self, item: _Item, trace: Trace) -> None:
        assert item.fee_rule is not None
        trace.fee_rule = item.fee_rule.key
        trace.fee_match = item.match
        trace.allegro_category = item.leaf
        trace.category_chain = item.chain

    @staticmethod
    def _delivery_trace(delivery: _Delivery, trace: Trace) -> None:
        trace.shipping_included = _s(delivery.shipped)
        trace.buyer_delivery = _s(delivery.buyer_pays) if delivery.buyer_pays else None
        trace.band_max_kg = None if delivery.band is None else str(delivery.band)

    def _by_rule(
        self,
        product: Product,
        rule: Rule,
        ctx: _Market,
        item: _Item,
        trace: Trace,
        delivery: _Delivery,
    ) -> Decimal:
        assert product.cost is not None and product.cost_currency is not None
        assert ctx.to_market is not None and item.fee_rule is not None
        trace.rule_id = rule.id
        cached = item.nets.get(rule.id)
        if cached is None:
            # Exact: the strategy's net plus the fixed amount, converted, unrounded (a fixed
            # 10 PLN stays 10 PLN after conversion back); shown to the cent.
            fixed = ZERO
            if rule.fixed_amount:
                fixed = (
                    rule.fixed_amount
                    * self.conversion(rule.fixed_currency, product.cost_currency).factor
                )
            net = exact_strategy(product.cost, rule.percentage, self.rules.strategy) + fixed
            cached = item.nets[rule.id] = (net, _s(net), _s(fixed) if rule.fixed_amount else "")
        net = cached[0]
        trace.net = cached[1]
        trace.fixed_amount = cached[2] or None
        gross = net * (ONE + ctx.vat)
        trace.gross = _s(gross)
        solved = self._solve(gross + delivery.shipped, item, ctx, delivery)
        self._fee_trace(item, trace)
        trace.commission = _s(solved.commission)
        trace.promoted_surcharge = _s(solved.surcharge) if solved.surcharge else None
        trace.listing_fee = _s(solved.listing_fee) if solved.listing_fee else None
        trace.unit_fee = _s(solved.unit_fee) if solved.unit_fee else None
        trace.extra_share = _s(solved.extra) if solved.extra else None
        trace.cost, trace.cost_currency = item.cost, item.currency
        self._delivery_trace(delivery, trace)
        trace.price_before_fx = _s(solved.price)
        amount = solved.price * ctx.to_market.factor
        trace.converted = _s(amount)
        return amount

    def _round(self, amount: Decimal, ctx: _Market, trace: Trace) -> Decimal:
        market = ctx.market
        price = round_up(snap(amount), market.currency, ctx.ending)
        if market.minimum_price is not None and price < market.minimum_price:
            price = round_up(market.minimum_price, market.currency, ctx.ending)
            trace.raised_to_minimum = True
        trace.rounded = str(price)
        return price

    def _ceiling(self, product: Product, ctx: _Market, price: Decimal, trace: Trace) -> Decimal:
        factor = self.rules.ceiling_rrp_factor
        if factor is None or product.rrp is None or product.rrp_currency is None:
            return price
        market = ctx.market
        # The RRP as a consumer price (with VAT unless it includes it already), like the fallback.
        rrp = product.rrp if self.rules.rrp_includes_vat else product.rrp * (ONE + ctx.vat)
        cap = rrp * factor * self.conversion(product.rrp_currency, market.currency).factor
        trace.ceiling = _s(cap)
        if price <= cap:
            return price
        capped = round_down(snap(cap), market.currency, ctx.ending)
        trace.capped = str(capped)
        return capped

    # --- what the explanation reads of the context ------------------------------------------

    def chain(self, marketplace_id: str, trace: Trace) -> list[dict[str, Any]]:
        """The labelled explanation of a trace this engine's context produced."""
        return explanation.chain(self, marketplace_id, trace)

    def rule_by_id(self, rule_id: str) -> Rule | None:
        for rule in self.rules.rules:
            if rule.id == rule_id:
                return rule
        default = self.rules.default_rule
        return default if default is not None and default.id == rule_id else None

    def fee_label(self, key: str) -> str:
        if key == "assumed":
            return self.fees.assumed.label
        for rule in self.fees.rules:
            if rule.key == key:
                return rule.label
        return ""

    def fee_source(self, key: str) -> str:
        """`preview@<when>` for a row sampled from Allegro's fee-preview, else the table's."""
        for rule in self.fees.rules:
            if rule.key == key and rule.points and rule.label.startswith(PREVIEW_LABEL):
                return "preview@" + rule.label[len(PREVIEW_LABEL) :]
        return self.fees.source

    def describe_pair(self, source: str, target: str) -> dict[str, Any]:
        try:
            return self.describe(self.fx.conversion(source, target))
        except MissingRate:
            return {"from": source, "to": target, "rate": None, "rates": []}

    def vat_step(self, marketplace_id: str, cost_currency: str) -> dict[str, Any]:
        return self._market(marketplace_id, cost_currency).vat_step

    @property
    def min_margin_pct(self) -> str:
        return self._min_margin

    def _band(
        self, product: Product, currency: str, plan: Shipping
    ) -> tuple[Decimal | None, Decimal | None]:
        """The product's weight-band cost on a marketplace, in the cost currency (None: no
        band fits), and the band's weight."""
        band = plan.band(product.weight_kg)
        if band is None:
            return None, None
        cost = band.cost
        if band.currency != currency:
            cost = cost * self.conversion(band.currency, currency).factor
        return cost, band.max_weight_kg

    def _solve_price(
        self, base: Decimal, item: _Item, ctx: _Market, delivery: _Delivery
    ) -> Decimal:
        """The price only (the floor): the common case inline, the rest through _solve.

        Common case: the plain rate applies (no tier, minimum, cap or listing fee in play).
        """
        rule = item.fee_rule
        assert rule is not None
        if rule.points:
            return self._solve(base, item, ctx, delivery).price
        k, e, paid = ctx.k, ctx.mfees.extra_rate, delivery.buyer_pays
        denominator = ONE - e - k * rule.rate
        if denominator <= 0:
            return self._solve(base, item, ctx, delivery).price
        price = (base + ctx.unit_fee + k * rule.rate * paid) / denominator
        commission = rule.rate * (price + paid)
        if (
            (rule.threshold is None or price + paid <= rule.threshold)
            and commission >= rule.minimum
            and (rule.cap is None or commission <= rule.cap)
            and (ctx.listing_threshold is None or price <= ctx.listing_threshold)
        ):
            return price
        return self._solve(base, item, ctx, delivery).price

    def _solve(self, base: Decimal, item: _Item, ctx: _Market, delivery: _Delivery) -> Solved:
        """The price P with P = base + k x commission(P + delivery) + fees + extra x P.

        commission() is piecewise linear and P - k c(P) - e P increases strictly, so the root
        is unique: try each linear piece and keep the one that is consistent.
        """
        assert item.fee_rule is not None
        k, e = ctx.k, ctx.mfees.extra_rate
        listing = ZERO
        paid = delivery.buyer_pays
        price, commission = self._root(base + ctx.unit_fee, item, k, e, paid)
        if ctx.listing_threshold is not None and price > ctx.listing_threshold:
            listing = ctx.listing_fee
            price, commission = self._root(base + ctx.unit_fee + listing, item, k, e, paid)
        return Solved(
            price=price,
            commission=commission,
            surcharge=commission * (k - ONE),
            listing_fee=listing,
            unit_fee=ctx.unit_fee,
            extra=price * e,
        )

    @staticmethod
    def _root(
        base: Decimal, item: _Item, k: Decimal, e: Decimal, delivery: Decimal
    ) -> tuple[Decimal, Decimal]:
        fee_rule = item.fee_rule
        assert fee_rule is not None
        for a, b in item.pieces:
            denominator = ONE - e - k * b
            if denominator <= 0:
                continue  # fees grow as fast as the price on this piece: no price recovers them
            price = (base + k * (a + b * delivery)) / denominator
            if price < 0:
                continue
            commission = fee_rule.commission(price + delivery)
            if abs(commission - (a + b * (price + delivery))) <= TOLERANCE * max(ONE, price):
                return price, commission
        raise _Unpriced(
            "fees_unrecoverable",
            f"fee row {fee_rule.key}: no price covers the fees (promoted x{k}, extra {e})",
        )
