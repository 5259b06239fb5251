"""The explanation chain of one price, from its trace and the context it was computed with:

cost -> rule -> strategy -> VAT -> commission -> shipping -> FX -> rounding -> (ceiling) -> floor
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pricing.domain.marketplaces import MARKETPLACES, unit_of
from pricing.domain.trace import Trace

if TYPE_CHECKING:
    from pricing.domain.engine import PricingEngine


def chain(engine: PricingEngine, marketplace_id: str, trace: Trace) -> list[dict[str, Any]]:
    """Labelled steps, from a trace `engine`'s context produced (or its stored snapshot)."""
    market = MARKETPLACES[marketplace_id]
    rules = engine.rules
    steps: list[dict[str, Any]] = []
    if trace.cost is not None:
        steps.append({"step": "cost", "amount": trace.cost, "currency": trace.cost_currency})
    if trace.fallback == "rrp":
        assert trace.rrp_currency is not None
        steps.append(
            {
                "step": "rule",
                "rule_id": None,
                "fallback": "rrp",
                "rrp": trace.rrp,
                "rrp_includes_vat": rules.rrp_includes_vat,
            }
        )
        if trace.rrp_with_vat is not None:
            vat = engine.vat_step(marketplace_id, trace.rrp_currency)
            steps.append({**vat, "gross": trace.rrp_with_vat})
        steps.append(
            {
                "step": "fx",
                **engine.describe_pair(trace.rrp_currency, market.currency),
                "amount": trace.converted,
            }
        )
    elif trace.rule_id is not None:
        assert trace.cost_currency is not None and trace.fee_rule is not None
        rule = engine.rule_by_id(trace.rule_id)
        steps.append(
            {
                "step": "rule",
                "rule_id": trace.rule_id,
                "scope": None if rule is None else rule.scope,
                "value": None if rule is None else rule.value,
                "percentage": None if rule is None else str(rule.percentage),
                "fixed_amount": trace.fixed_amount or "0.00",
                "marketplace": None if rule is None else rule.marketplace,
            }
        )
        steps.append({"step": "strategy", "strategy": rules.strategy, "net": trace.net})
        steps.append({**engine.vat_step(marketplace_id, trace.cost_currency), "gross": trace.gross})
        commission: dict[str, Any] = {
            "step": "commission",
            **fee_group(engine, trace),
            "commission": trace.commission,
        }
        for name, value in (
            ("promoted_surcharge", trace.promoted_surcharge),
            ("listing_fee", trace.listing_fee),
            ("unit_fee", trace.unit_fee),
            ("extra_share", trace.extra_share),
            ("base_includes_buyer_delivery", trace.buyer_delivery),
        ):
            if value is not None:
                commission[name] = value
        steps.append(commission)
        plan = rules.shipping_for(marketplace_id)
        shipping: dict[str, Any] = {
            "step": "shipping",
            "free_delivery": plan.free_delivery
            if trace.free_delivery is None
            else trace.free_delivery,
            "bands": marketplace_id if trace.own_bands else "common",
            "band_max_kg": trace.band_max_kg,
            "included": trace.shipping_included,
            "price": trace.price_before_fx,
        }
        if plan.free_from is not None:
            shipping["free_delivery_from"] = str(plan.free_from)
        steps.append(shipping)
        steps.append(
            {
                "step": "fx",
                **engine.describe_pair(trace.cost_currency, market.currency),
                "amount": trace.converted,
            }
        )
    if trace.rounded is not None:
        ending = rules.endings.get(market.currency)
        rounding: dict[str, Any] = {
            "step": "rounding",
            "rule": f"up to {unit_of(market.currency)} {market.currency}",
            "ending": None if ending is None else str(ending),
        }
        if trace.raised_to_minimum:
            rounding["raised_to_minimum"] = str(market.minimum_price)
        rounding["amount"] = trace.rounded
        steps.append(rounding)
    if trace.ceiling is not None:
        ceiling: dict[str, Any] = {
            "step": "ceiling",
            "ceiling": trace.ceiling,
            "applied": trace.capped is not None,
        }
        if trace.capped is not None:
            ceiling["amount"] = trace.capped
        steps.append(ceiling)
    if trace.floor is not None:
        steps.append(
            {
                "step": "floor",
                "floor": trace.floor,
                "min_margin_pct": engine.min_margin_pct,
                "ok": trace.unpriced_reason != "below_floor",
            }
        )
    if trace.unpriced_reason is not None:
        steps.append(
            {
                "step": "unpriced",
                "reason": trace.unpriced_reason,
                "detail": trace.unpriced_detail or "",
            }
        )
    return steps


def fee_group(engine: PricingEngine, trace: Trace) -> dict[str, Any]:
    """Which commission row priced this, why, and through which Allegro categories."""
    key = trace.fee_rule or "assumed"
    out: dict[str, Any] = {
        "fee_rule": key,
        "fee_group": engine.fee_label(key),
        "fee_source": engine.fee_source(key),
        # Stored before the category chain existed: those traces name only their row.
        "matched_by": trace.fee_match,
        "allegro_category_id": trace.allegro_category,
        "category_chain": None if trace.category_chain is None else trace.category_chain.split(">"),
        "assumed_fee": trace.fee_match == "assumed",
    }
    return out
