"""The pricing domain without I/O: BigBuy's examples, the reference's vectors, rounding,
precedence, fees, floors, ceilings, bad input and the circuit breaker."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from typing import Any

import pytest

from pricing.domain.engine import PricingEngine, apply_strategy
from pricing.domain.errors import InvalidInput
from pricing.domain.fees import DEFAULT_MARKETPLACE_FEES, FeeRule, FeeTable, MarketplaceFees
from pricing.domain.fx import FxRate, FxTable
from pricing.domain.marketplaces import MARKETPLACE_IDS, round_down, round_up
from pricing.domain.rules import Breaker, Product, RuleSet
from pricing.domain.runs import Move, summarize, trips

DAY = date(2026, 11, 26)
FX = FxTable(
    [
        FxRate("EUR", "PLN", D("4.30"), "test ECB", DAY),
        FxRate("EUR", "CZK", D("25.0"), "test ECB", DAY),
        FxRate("EUR", "HUF", D("390"), "test ECB", DAY),
    ]
)
NO_FEES = FeeTable(
    rules=(FeeRule("default", rate=D(0)),),
    marketplaces={m: MarketplaceFees(promoted_share=D(0)) for m in MARKETPLACE_IDS},
)


def flat_fees(rate: str, minimum: str = "0") -> FeeTable:
    return FeeTable(
        rules=(FeeRule("default", rate=D(rate), minimum=D(minimum)),),
        marketplaces=dict(DEFAULT_MARKETPLACE_FEES),
    )


def product(cost: str = "20.00", currency: str = "EUR", **kw: Any) -> Product:
    return Product(
        sku=kw.pop("sku", "SKU-1"), revision=1, cost=D(cost), cost_currency=currency, **kw
    )


def rules(**doc: Any) -> RuleSet:
    doc.setdefault("shipping", {"free_delivery": False, "bands": []})
    return RuleSet.parse(doc)


def margin(pct: str, **doc: Any) -> RuleSet:
    return rules(rules=[{"scope": "price_band", "band": {"min": "0"}, "percentage": pct}], **doc)


# --- BigBuy's worked examples (pricing.md rows 1-3) ----------------------------------------


@pytest.mark.parametrize(
    ("cost", "pct", "strategy", "expected"),
    [
        ("20", "40", "margin", "28.00"),
        ("20", "40", "profit", "33.33"),
        ("1", "99", "margin", "1.99"),
        ("1", "99", "profit", "100.00"),
    ],
)
def test_bigbuy_worked_examples(cost: str, pct: str, strategy: str, expected: str) -> None:
    assert apply_strategy(D(cost), D(pct), strategy) == D(expected)
    assert str(apply_strategy(D(cost), D(pct), strategy)) == expected


def test_bigbuy_profit_figures_are_the_difference_to_cost() -> None:
    assert apply_strategy(D(20), D(40), "margin") - 20 == D("8.00")
    assert apply_strategy(D(20), D(40), "profit") - 20 == D("13.33")


# --- the reference's vectors (rows 4-10) ----------------------------------------------------


def test_row4_price_band_profit_30_plus_pl_vat() -> None:
    rs = rules(
        strategy="profit",
        rules=[{"scope": "price_band", "band": {"min": "0", "max": "10"}, "percentage": "30"}],
        vat_regime="origin",
    )
    out = PricingEngine(rs, NO_FEES, FX).price(product("8.00"), "allegro-sk")
    assert out.amount == D("14.06")
    assert [s["net"] for s in out.chain if s["step"] == "strategy"] == ["11.43"]


@pytest.mark.parametrize(("strategy", "expected"), [("margin", "34.44"), ("profit", "41.00")])
def test_rows5_and_6_plus_pl_vat(strategy: str, expected: str) -> None:
    rs = margin("40", strategy=strategy, vat_regime="origin")
    assert PricingEngine(rs, NO_FEES, FX).price(product(), "allegro-sk").amount == D(expected)


def test_row7_cz_vat_21() -> None:
    out = PricingEngine(margin("40"), NO_FEES, FX).price(product(), "allegro-cz")
    vat = next(s for s in out.chain if s["step"] == "vat")
    assert (vat["country"], vat["rate_pct"], vat["gross"]) == ("CZ", "21", "33.88")


def test_row8_commission_aware_10_percent() -> None:
    rs = margin("40", vat_regime="origin")
    out = PricingEngine(rs, flat_fees("0.10"), FX).price(product(), "allegro-sk")
    assert out.amount == D("38.27")


def test_row9_pln_at_4_30_ending_99() -> None:
    rs = margin("40", rounding={"PLN": {"ending": "0.99"}})
    out = PricingEngine(rs, NO_FEES, FX).price(product(), "allegro-pl")
    fx = next(s for s in out.chain if s["step"] == "fx")
    assert fx["amount"] == "148.09"
    assert fx["rates"][0]["source"] == "test ECB"
    assert fx["rates"][0]["as_of"] == "2026-11-26"
    assert out.amount == D("148.99")


def test_row10_czk_whole_crowns() -> None:
    rs = margin("40", vat_regime="origin")
    out = PricingEngine(rs, NO_FEES, FX).price(product(), "allegro-cz")
    assert out.amount == D("861")
    assert str(out.amount) == "861"


# --- rounding rules per currency -------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "ending", "expected"),
    [
        ("10.001", "PLN", None, "10.01"),
        ("10.00", "PLN", None, "10.00"),
        ("148.092", "PLN", "0.99", "148.99"),
        ("148.995", "PLN", "0.99", "149.99"),
        ("12.341", "EUR", None, "12.35"),
        ("12.341", "EUR", "0.90", "12.90"),
        ("860.01", "CZK", None, "861"),
        ("861", "CZK", "9", "869"),
        ("870", "CZK", "9", "879"),
        ("12181", "HUF", None, "12185"),
        ("12180", "HUF", None, "12180"),
        ("12180.5", "HUF", None, "12185"),
        ("12181", "HUF", "90", "12190"),
        ("12191", "HUF", "90", "12290"),
    ],
)
def test_round_up_per_currency(
    amount: str, currency: str, ending: str | None, expected: str
) -> None:
    result = round_up(D(amount), currency, D(ending) if ending else None)
    assert str(result) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "ending", "expected"),
    [
        ("149.50", "PLN", "0.99", "148.99"),
        ("12189", "HUF", None, "12185"),
        ("868.9", "CZK", "9", "859"),
    ],
)
def test_round_down_under_a_ceiling(
    amount: str, currency: str, ending: str | None, expected: str
) -> None:
    assert str(round_down(D(amount), currency, D(ending) if ending else None)) == expected


def test_huf_prices_end_in_0_or_5_and_czk_has_no_decimals() -> None:
    engine = PricingEngine(margin("37"), FeeTable(), FX)
    for cost in ("3.17", "19.99", "123.45", "999.99"):
        out = engine.price_all(product(cost))
        assert out["allegro-hu"].amount is not None and out["allegro-hu"].amount % 5 == 0
        assert out["allegro-cz"].amount is not None
        assert out["allegro-cz"].amount == out["allegro-cz"].amount.to_integral_value()
        assert out["allegro-pl"].amount is not None
        assert -out["allegro-pl"].amount.as_tuple().exponent == 2  # type: ignore[operator]


@pytest.mark.parametrize(("currency", "ending"), [("HUF", "3"), ("CZK", "0.99"), ("PLN", "0.999")])
def test_an_ending_the_currency_cannot_show_is_rejected(currency: str, ending: str) -> None:
    with pytest.raises(InvalidInput) as err:
        rules(rounding={currency: {"ending": ending}})
    assert err.value.code == "invalid_rounding"


def test_pln_minimum_price_is_one_zloty() -> None:
    out = PricingEngine(margin("0"), NO_FEES, FX).price(product("0.05"), "allegro-pl")
    assert out.amount == D("1.00")


# --- precedence ------------------------------------------------------------------------------

SCOPED = [
    {"id": "band", "scope": "price_band", "band": {"min": "0", "max": "100"}, "percentage": "10"},
    {"id": "brand", "scope": "brand", "value": "Sony", "percentage": "20"},
    {"id": "cat", "scope": "category", "value": "Electronics", "percentage": "30"},
    {"id": "subcat", "scope": "category", "value": "Electronics > Audio", "percentage": "35"},
    {"id": "sku", "scope": "product", "value": "SKU-1", "percentage": "40"},
    {
        "id": "sku-hu",
        "scope": "product",
        "value": "SKU-1",
        "percentage": "45",
        "marketplace": "allegro-hu",
    },
]


def rule_for(prod: Product, marketplace: str = "allegro-pl", **doc: Any) -> str | None:
    out = PricingEngine(rules(rules=SCOPED, **doc), NO_FEES, FX).price(prod, marketplace)
    return out.rule_id


def test_precedence_product_category_brand_band() -> None:
    full = {"brand": "Sony", "supplier_category": "Electronics > Audio > Speakers"}
    assert rule_for(product(**full)) == "sku"
    assert rule_for(product(**full), "allegro-hu") == "sku-hu"  # marketplace-specific first
    assert rule_for(product(sku="other", **full)) == "subcat"  # deepest subtree
    assert rule_for(product(sku="o", brand="Sony", supplier_category="Electronics/TV")) == "cat"
    assert rule_for(product(sku="o", brand="sony ", supplier_category="Garden")) == "brand"
    assert rule_for(product(sku="o", brand="LG", supplier_category="Garden")) == "band"


def test_price_band_is_judged_on_the_cost() -> None:
    assert rule_for(product("99.99", sku="o")) == "band"
    out = PricingEngine(rules(rules=SCOPED, fallback="none"), NO_FEES, FX).price(
        product("100", sku="o"), "allegro-pl"
    )
    assert out.amount is None and out.reason == "no_rule"


def test_fallback_rrp_and_default_rule() -> None:
    prod = product("10", sku="o", rrp=D("30"), rrp_currency="EUR")
    rrp = PricingEngine(rules(), NO_FEES, FX).price(prod, "allegro-pl")
    assert rrp.amount == D("129.00") and rrp.rule_id is None
    assert any(s.get("fallback") == "rrp" for s in rrp.chain)
    default = rules(fallback="default_rule", default_rule={"percentage": "50"})
    out = PricingEngine(default, NO_FEES, FX).price(prod, "allegro-sk")
    assert out.rule_id == "default:" and out.amount == D("18.45")  # 15.00 x 1.23


def test_fixed_amount_is_added_to_the_net_price() -> None:
    rs = rules(
        rules=[
            {
                "scope": "brand",
                "value": "X",
                "percentage": "10",
                "fixed_amount": {"amount": "4.30", "currency": "PLN"},
            }
        ],
        vat_regime="origin",
    )
    out = PricingEngine(rs, NO_FEES, FX).price(product("10", brand="X"), "allegro-sk")
    assert out.amount == D("14.76")  # (11.00 + 1.00) x 1.23


# --- fees, shipping, FX ----------------------------------------------------------------------


def commission_step(out: Any) -> dict[str, str]:
    return dict(next(s for s in out.chain if s["step"] == "commission"))


def test_commission_is_recovered_so_the_seller_nets_the_gross() -> None:
    table = FeeTable()
    engine = PricingEngine(margin("20"), table, FX)
    prod = product("1500", "PLN", supplier_category="Electronics > Computers > Laptops")
    out = engine.price(prod, "allegro-pl")
    assert out.amount is not None
    fee = table.rule_for(None, prod.path)
    assert fee.key == "Electronics > Computers > Laptops"
    gross = D("1800.00") * D("1.23")
    assert out.amount > D(2000)  # above the laptop tier threshold
    assert out.amount - fee.commission(out.amount) >= gross
    assert out.amount - fee.commission(out.amount) - gross < D("0.02")


def test_minimum_commission_applies_to_cheap_items() -> None:
    engine = PricingEngine(margin("0"), flat_fees("0.10", minimum="1.00"), FX)
    out = engine.price(product("2.00", "PLN"), "allegro-pl")
    assert commission_step(out)["commission"] == "1.00"
    assert out.amount == D("3.46")  # 2.46 gross + 1.00


def test_promoted_offers_pay_the_surcharge() -> None:
    rs = margin("0", promoted=True)
    out = PricingEngine(rs, flat_fees("0.10"), FX).price(product("100", "PLN"), "allegro-pl")
    step = commission_step(out)
    assert D(step["promoted_surcharge"]) == (D(step["commission"]) * D("0.75")).quantize(D("0.01"))
    # P = 123 / (1 - 0.175)
    assert out.amount == D("149.10")


def test_listing_fee_above_10000_pln() -> None:
    engine = PricingEngine(margin("0"), flat_fees("0"), FX)
    cheap = engine.price(product("8000", "PLN"), "allegro-pl")
    dear = engine.price(product("9000", "PLN"), "allegro-pl")
    assert "listing_fee" not in commission_step(cheap)
    assert commission_step(dear)["listing_fee"] == "1.00"
    assert dear.amount == D("11071.00")


def test_commission_base_includes_the_buyers_delivery_cost() -> None:
    bands = [{"max_weight_kg": "5", "cost": {"amount": "20", "currency": "PLN"}}]
    rs = rules(
        rules=[{"scope": "brand", "value": "X", "percentage": "0"}],
        shipping={"free_delivery": False, "bands": bands},
    )
    out = PricingEngine(rs, flat_fees("0.10"), FX).price(
        product("100", "PLN", brand="X", weight_kg=D("1")), "allegro-pl"
    )
    # P = 123 + 0.1 (P + 20)  =>  P = 125 / 0.9
    assert out.amount == D("138.89")
    assert commission_step(out)["base_includes_buyer_delivery"] == "20.00"


def test_free_delivery_puts_the_weight_bands_shipping_in_the_price() -> None:
    bands = [
        {"max_weight_kg": "1", "cost": {"amount": "10", "currency": "PLN"}},
        {"max_weight_kg": "5", "cost": {"amount": "20", "currency": "PLN"}},
    ]
    rs = rules(
        rules=[{"scope": "brand", "value": "X", "percentage": "0"}],
        shipping={"free_delivery": True, "bands": bands},
    )
    engine = PricingEngine(rs, flat_fees("0.10"), FX)
    light = engine.price(product("100", "PLN", brand="X", weight_kg=D("0.5")), "allegro-pl")
    heavy = engine.price(product("100", "PLN", brand="X", weight_kg=D("3")), "allegro-pl")
    assert light.amount == D("147.78")  # (123 + 10) / 0.9
    assert heavy.amount == D("158.89")  # (123 + 20) / 0.9
    none = engine.price(product("100", "PLN", brand="X", weight_kg=D("40")), "allegro-pl")
    assert none.amount is None and none.reason == "no_shipping_band"


def test_fx_cross_rate_via_eur_and_missing_rate() -> None:
    engine = PricingEngine(margin("0", vat_regime="origin"), NO_FEES, FX)
    out = engine.price(product("43", "PLN"), "allegro-cz")
    fx = next(s for s in out.chain if s["step"] == "fx")
    assert [r["pair"] for r in fx["rates"]] == ["EUR/PLN", "EUR/CZK"]
    assert out.amount == D("308")  # 43 x 1.23 / 4.30 x 25 = 307.5
    bare = PricingEngine(margin("0"), NO_FEES, FxTable())
    missing = bare.price(product("10"), "allegro-pl")
    assert missing.amount is None and missing.reason == "missing_fx_rate"


def test_the_chain_lists_every_step_in_order() -> None:
    out = PricingEngine(margin("40"), FeeTable(), FX).price(product(), "allegro-pl")
    steps = [s["step"] for s in out.chain]
    assert steps == [
        "cost",
        "rule",
        "strategy",
        "vat",
        "commission",
        "shipping",
        "fx",
        "rounding",
        "floor",
    ]


# --- floors and ceilings ---------------------------------------------------------------------


def test_a_price_below_break_even_is_not_published_nor_clamped() -> None:
    prod = product("50", sku="o", rrp=D("40"), rrp_currency="EUR")
    out = PricingEngine(rules(), FeeTable(), FX).price(prod, "allegro-pl")
    assert out.amount is None
    assert out.reason == "below_floor"
    assert out.floor is not None and out.floor > D("40") * D("4.30")


def test_floor_policy_min_margin() -> None:
    rs = margin("5", floor={"min_margin_pct": "10"})
    out = PricingEngine(rs, NO_FEES, FX).price(product(), "allegro-sk")
    assert out.amount is None and out.reason == "below_floor"
    ok = PricingEngine(margin("10", floor={"min_margin_pct": "10"}), NO_FEES, FX)
    priced = ok.price(product(), "allegro-sk")
    assert priced.amount == priced.floor == D("27.06")  # 22.00 x 1.23


def test_zero_margin_prices_exactly_at_break_even() -> None:
    out = PricingEngine(margin("0"), FeeTable(), FX).price(product(), "allegro-pl")
    assert out.amount == out.floor


def test_ceiling_caps_at_rrp_and_a_ceiling_below_the_floor_unprices() -> None:
    rs = margin("100", ceiling={"rrp_factor": "1"})
    engine = PricingEngine(rs, NO_FEES, FX)
    capped = engine.price(product("20", rrp=D("40"), rrp_currency="EUR"), "allegro-sk")
    assert capped.amount == D("40.00")
    assert any(s["step"] == "ceiling" and s["applied"] for s in capped.chain)
    low = engine.price(product("20", rrp=D("21"), rrp_currency="EUR"), "allegro-sk")
    assert low.amount is None and low.reason == "below_floor"


# --- bad rule input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "code"),
    [
        ({"rules": [{"scope": "brand", "value": "X", "percentage": "-5"}]}, "negative_percentage"),
        (
            {
                "strategy": "profit",
                "rules": [{"scope": "brand", "value": "X", "percentage": "100"}],
            },
            "profit_percentage_too_high",
        ),
        (
            {
                "rules": [
                    {
                        "scope": "brand",
                        "value": "X",
                        "fixed_amount": {"amount": "1", "currency": "XYZ"},
                    }
                ]
            },
            "unknown_currency",
        ),
        (
            {
                "rules": [
                    {"scope": "brand", "value": "X", "percentage": "5", "marketplace": "allegro-de"}
                ]
            },
            "unknown_marketplace",
        ),
        ({"rules": [{"scope": "brand", "value": "X"}]}, "missing_amount"),
        ({"rules": [{"scope": "season", "value": "X", "percentage": "5"}]}, "unknown_scope"),
        (
            {
                "rules": [
                    {"scope": "brand", "value": "X", "percentage": "5"},
                    {"scope": "brand", "value": "x ", "percentage": "6"},
                ]
            },
            "duplicate_rule",
        ),
        (
            {
                "rules": [
                    {"scope": "price_band", "band": {"min": "0", "max": "10"}, "percentage": "5"},
                    {"scope": "price_band", "band": {"min": "5"}, "percentage": "6"},
                ]
            },
            "overlapping_bands",
        ),
        ({"strategy": "markup"}, "unknown_strategy"),
        ({"rules": [{"scope": "brand", "value": "X", "percentage": "abc"}]}, "not_a_number"),
    ],
)
def test_bad_rules_are_rejected_with_a_code(doc: dict[str, Any], code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        RuleSet.parse(doc)
    assert err.value.code == code


def test_profit_99_is_fine_and_margin_over_100_is_fine() -> None:
    RuleSet.parse(
        {"strategy": "profit", "rules": [{"scope": "brand", "value": "X", "percentage": "99.9"}]}
    )
    RuleSet.parse(
        {"strategy": "margin", "rules": [{"scope": "brand", "value": "X", "percentage": "250"}]}
    )


def test_rule_set_round_trips_through_its_document() -> None:
    rs = rules(rules=SCOPED, ceiling={"rrp_factor": "1.2"}, rounding={"HUF": {"ending": "90"}})
    assert RuleSet.parse(rs.as_dict()) == rs


def test_fee_table_validation() -> None:
    with pytest.raises(InvalidInput) as err:
        FeeTable.parse({"rules": [{"key": "x", "rate": "1.5"}]})
    assert err.value.code == "invalid_rate"
    with pytest.raises(InvalidInput) as err:
        FeeTable.parse({"currency": "XXX"})
    assert err.value.code == "unknown_currency"
    table = FeeTable.parse(FeeTable().as_dict())
    assert table.rules == FeeTable().rules


# --- circuit breaker -------------------------------------------------------------------------


def test_breaker_trips_on_a_big_share_of_big_moves() -> None:
    breaker = Breaker(max_share=D("0.2"), max_change_pct=D("25"), min_items=10)
    calm = [Move(f"s{i}", "allegro-pl", D(100), D(110)) for i in range(100)]
    stats = summarize(calm, breaker)
    assert stats.changed == 100 and stats.big_moves == 0 and not trips(stats, breaker)
    wild = calm[:70] + [Move(f"w{i}", "allegro-pl", D(100), D(150)) for i in range(30)]
    stats = summarize(wild, breaker)
    assert stats.big_moves == 30 and trips(stats, breaker)
    assert stats.distribution[">= 25%"] == 30 and stats.distribution["5% .. 10%"] == 0
    assert stats.distribution["10% .. 25%"] == 70
    new = [Move(f"n{i}", "allegro-pl", None, D(1)) for i in range(100)]
    assert not trips(summarize(new, breaker), breaker)  # first prices are not moves
    small = [Move(f"x{i}", "allegro-pl", D(100), D(300)) for i in range(5)]
    assert not trips(summarize(small, breaker), breaker)  # below min_items


def test_the_wire_form_of_price_computed_is_the_contracts() -> None:
    from pricing.handlers import Priced, _PriceComputedWire, _wire_item
    from shared.events import PriceComputed

    engine = PricingEngine(margin("40"), FeeTable(), FX)
    priced = Priced(product(), engine.price_all(product()))
    unpriced = Priced(
        product(sku="X", weight_kg=None),
        PricingEngine(margin("40", shipping={"free_delivery": True}), FeeTable(), FX).price_all(
            product(sku="X")
        ),
    )
    wire = _PriceComputedWire.model_construct(
        account_id="a", items=[_wire_item(priced, 3), _wire_item(unpriced, 3)]
    )
    parsed = PriceComputed.model_validate(wire.model_dump(mode="json"))
    assert type(wire).event_type == "PriceComputed" and type(wire).routing_key == "price.computed"
    first, second = parsed.items
    assert first.prices["allegro-sk"].amount == priced.outcomes["allegro-sk"].amount == D("41.50")
    assert first.prices["allegro-cz"].currency == "CZK"
    assert first.rule_id is not None and first.breakdown == {"rule_version": 3}
    assert second.prices == {} and second.unpriced["allegro-pl"] == "no_shipping_band"


def test_a_stored_trace_expands_to_the_same_chain_from_its_context_snapshot() -> None:
    rs = margin(
        "40", promoted=True, rounding={"HUF": {"ending": "90"}}, ceiling={"rrp_factor": "3"}
    )
    engine = PricingEngine(rs, FeeTable(), FX)
    outcomes = engine.price_all(product(rrp=D("60"), rrp_currency="EUR"))
    context_id, document = engine.snapshot()
    restored = PricingEngine.from_snapshot(document)
    assert restored.snapshot()[0] == context_id  # same context, same id
    for mid, outcome in outcomes.items():
        assert restored.chain(mid, outcome.trace) == outcome.chain
    other = PricingEngine(margin("41"), FeeTable(), FX)
    assert other.snapshot()[0] != context_id


@pytest.mark.parametrize(
    "doc",
    [
        {"floor": "10"},
        {"shipping": {"bands": ["heavy"]}},
        {"circuit_breaker": {"min_items": "many"}},
        {"rounding": {"PLN": "0.99"}},
        {"rules": "all of them"},
        ["not", "an", "object"],
    ],
)
def test_a_rule_set_of_the_wrong_shape_is_refused_not_crashed(doc: Any) -> None:
    with pytest.raises(InvalidInput) as err:
        RuleSet.parse(doc)
    assert err.value.code in ("invalid_document", "invalid_rule")


@pytest.mark.parametrize("doc", [{"marketplaces": ["allegro-pl"]}, {"rules": "x"}, [1]])
def test_a_fee_table_of_the_wrong_shape_is_refused_not_crashed(doc: Any) -> None:
    with pytest.raises(InvalidInput) as err:
        FeeTable.parse(doc)
    assert err.value.code in ("invalid_document", "invalid_fee_rule")


def test_sampled_commissions_interpolate_and_the_solver_recovers_them() -> None:
    sampled = FeeRule(
        "4231",
        "fee-preview",
        points=((D(100), D(3)), (D(2000), D(60)), (D(5000), D("105"))),
    )
    assert sampled.commission(D(1000)) == D(30)  # 3 + 57/1900 x 900
    assert sampled.commission(D(8000)) == D(150)  # the last segment extended
    table = FeeTable(rules=(FeeRule("default", rate=D("0.17")), sampled))
    engine = PricingEngine(margin("0"), table, FX)
    for cost in ("50", "1200", "4500"):
        out = engine.price(product(cost, "PLN", allegro_category_id="4231"), "allegro-pl")
        assert out.amount is not None
        gross = D(cost) * D("1.23")
        assert D(0) <= out.amount - sampled.commission(out.amount) - gross < D("0.02")
    parsed = FeeTable.parse(table.as_dict())
    assert parsed.rule_for("4231", ()).points == sampled.points
    with pytest.raises(InvalidInput) as err:
        FeeTable.parse({"rules": [{"key": "x", "points": [["10", "1"], ["5", "2"]]}]})
    assert err.value.code == "invalid_points"


def test_fees_no_price_can_recover_leave_the_product_unpriced_with_a_reason() -> None:
    greedy = FeeTable(
        rules=(FeeRule("default", rate=D("0.60")),),
        marketplaces={m: MarketplaceFees() for m in MARKETPLACE_IDS},
    )
    out = PricingEngine(margin("40", promoted=True), greedy, FX).price(product(), "allegro-sk")
    assert out.amount is None and out.reason == "fees_unrecoverable"  # 0.6 x 1.75 > 1
    assert out.chain[-1]["step"] == "unpriced"


def test_a_trace_stored_in_the_compact_form_reads_back_with_its_names() -> None:
    from pricing.domain.trace import Trace

    stored = {"w": "10.00", "cur": "EUR", "r": "all", "f": "55.00", "mn": True, "d": ""}
    trace = Trace.from_stored(stored)
    assert (trace.cost, trace.cost_currency, trace.rule_id, trace.floor) == (
        "10.00",
        "EUR",
        "all",
        "55.00",
    )
    assert trace.raised_to_minimum is True and trace.unpriced_detail == ""
    assert trace.as_stored() == stored
