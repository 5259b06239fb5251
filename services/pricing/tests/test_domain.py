"""The pricing domain without I/O: BigBuy's examples, the reference's vectors, rounding,
precedence, fees, floors, ceilings, bad input and the circuit breaker."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from typing import Any

import orjson
import pytest

from pricing.domain.categories import GroupCheck, samples_from_selection
from pricing.domain.engine import PricingEngine, apply_strategy
from pricing.domain.errors import InvalidInput
from pricing.domain.fees import (
    DEFAULT_MARKETPLACE_FEES,
    FeeRule,
    FeeTable,
    MarketplaceFees,
    category_path,
)
from pricing.domain.fx import FxRate, FxTable
from pricing.domain.marketplaces import MARKETPLACE_IDS, round_down, round_up
from pricing.domain.rules import Breaker, Product, RuleSet
from pricing.domain.runs import Move, summarize, trips
from pricing.domain.trace import Trace

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
    """BigBuy's RRP is taken ex-VAT by default: 30 EUR x 1.23 (PL VAT) = 36.90 EUR x 4.30 =
    158.67 PLN; with `rrp.includes_vat` it is a consumer price as it is: 30 x 4.30 = 129.00."""
    prod = product("10", sku="o", rrp=D("30"), rrp_currency="EUR")
    rrp = PricingEngine(rules(), NO_FEES, FX).price(prod, "allegro-pl")
    assert rrp.amount == D("158.67") and rrp.rule_id is None
    rule_step = next(s for s in rrp.chain if s.get("fallback") == "rrp")
    assert rule_step["rrp_includes_vat"] is False
    vat = next(s for s in rrp.chain if s["step"] == "vat")
    assert (vat["rate_pct"], vat["gross"]) == ("23", "36.90")
    gross = PricingEngine(rules(rrp={"includes_vat": True}), NO_FEES, FX).price(prod, "allegro-pl")
    assert gross.amount == D("129.00")
    assert not any(s["step"] == "vat" for s in gross.chain)
    hu = PricingEngine(rules(), NO_FEES, FX).price(prod, "allegro-hu")
    assert hu.amount == D("14860")  # 30 x 1.27 x 390 = 14,859.0 HUF, up to a multiple of 5
    with pytest.raises(InvalidInput) as bad:
        rules(rrp={"includes_vat": "yes"})
    assert bad.value.code == "not_a_boolean"
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


ELECTRONICS = "42540aec-367a-4e5e-b411-17c09b08e41f"
LAPTOPS = ("4231", "4230", ELECTRONICS)  # Laptopy < Komputery < Elektronika
GARDEN_TOOLS = ("1521", "1520", "5")  # Narzędzia ogrodowe < Ogród < Dom i Ogród


def commission_step(out: Any) -> dict[str, Any]:
    return dict(next(s for s in out.chain if s["step"] == "commission"))


def test_commission_is_recovered_so_the_seller_nets_the_gross() -> None:
    table = FeeTable()
    engine = PricingEngine(margin("20"), table, FX)
    prod = product("1500", "PLN", allegro_category_id="4231", chains={"4231": LAPTOPS})
    out = engine.price(prod, "allegro-pl")
    assert out.amount is not None
    fee, matched = table.resolve("4231", LAPTOPS)
    assert (fee.key, matched) == ("4231", "category")
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
    """The RRP is ex-VAT by default: the ceiling is 40 EUR x 1.23 = 49.20 EUR on allegro-sk,
    and 20 EUR at margin 120 % (44.00 x 1.23 = 54.12 EUR) is capped there. Taken with VAT
    (`rrp.includes_vat`), the ceiling is the RRP itself, 40.00. An RRP of 19 EUR (23.37 with VAT)
    is under the break-even 20 x 1.23 = 24.60: not published."""
    rs = margin("120", ceiling={"rrp_factor": "1"})
    engine = PricingEngine(rs, NO_FEES, FX)
    capped = engine.price(product("20", rrp=D("40"), rrp_currency="EUR"), "allegro-sk")
    assert capped.amount == D("49.20")
    assert any(s["step"] == "ceiling" and s["applied"] for s in capped.chain)
    gross = margin("120", ceiling={"rrp_factor": "1"}, rrp={"includes_vat": True})
    with_vat = PricingEngine(gross, NO_FEES, FX).price(
        product("20", rrp=D("40"), rrp_currency="EUR"), "allegro-sk"
    )
    assert with_vat.amount == D("40.00")
    low = engine.price(product("20", rrp=D("19"), rrp_currency="EUR"), "allegro-sk")
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
    assert parsed.resolve("4231", None)[0].points == sampled.points
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


# --- issue 11: commission from the Allegro category ------------------------------------------


def mapped(cost: str, category: str | None, chain: tuple[str, ...] | None, **kw: Any) -> Product:
    chains = {category: chain} if category and chain else {}
    return product(cost, allegro_category_id=category, chains=chains, **kw)


def test_a_home_and_garden_product_pays_its_groups_rate_not_other() -> None:
    """Narzędzia ogrodowe (1521) < Ogród (1520) < Dom i Ogród (5): the "5" row, 10 %.

    20 EUR, margin 40 % -> 28.00 EUR net, + 23 % PL VAT = 34.44 EUR gross.
    Home & Garden: P = 34.44 / (1 - 0.10) = 38.2667 EUR x 4.30 = 164.5467 -> 164.55 PLN.
    At Other's 17 %: 34.44 / 0.83 = 41.4940 EUR x 4.30 = 178.4241 -> 178.43 PLN.
    """
    engine = PricingEngine(margin("40"), FeeTable(), FX)
    home = engine.price(mapped("20", "1521", GARDEN_TOOLS), "allegro-pl")
    assert home.amount == D("164.55")
    step = commission_step(home)
    assert (step["fee_rule"], step["matched_by"], step["assumed_fee"]) == (
        "5",
        "allegro_group",
        False,
    )
    assert step["fee_group"] == "Dom i Ogród (Home & Garden)"
    assert step["category_chain"] == ["5", "1520", "1521"]
    assert step["allegro_category_id"] == "1521"
    # Unmapped: the table's highest rate, marked as assumed.
    unmapped = engine.price(mapped("20", None, None), "allegro-pl")
    assert unmapped.amount == D("178.43")
    step = commission_step(unmapped)
    assert (step["fee_rule"], step["matched_by"], step["assumed_fee"]) == (
        "assumed",
        "assumed",
        True,
    )


def test_a_sports_product_by_hand() -> None:
    """Kaski rowerowe (3921) < Rowery i akcesoria (3920) < Sport i turystyka (3919): 11 %.

    50 EUR, margin 25 % -> 62.50 EUR net; + 23 % PL VAT = 76.875 EUR gross.
    P = 76.875 / (1 - 0.11) = 86.37640 EUR; x 4.30 = 371.41854 -> 371.42 PLN.
    The commission 0.11 x 86.37640 = 9.50140 EUR: 76.875 + 9.5014 = 86.3764, the gross is kept.
    On allegro-cz (21 % VAT, 25.0 CZK/EUR, + the 5 CZK unit fee = 0.20 EUR):
    62.50 x 1.21 = 75.625; P = (75.625 + 0.20) / 0.89 = 85.19663 EUR x 25 = 2129.92 -> 2130 CZK.
    """
    helmet = mapped("50", "3921", ("3921", "3920", "3919"))
    engine = PricingEngine(margin("25"), FeeTable(), FX)
    pl = engine.price(helmet, "allegro-pl")
    assert pl.amount == D("371.42")
    assert commission_step(pl)["commission"] == "9.50"
    assert engine.price(helmet, "allegro-cz").amount == D("2130")


def test_a_mapped_category_whose_chain_is_unknown_is_assumed_and_one_without_a_group_is_other() -> (
    None
):
    table = FeeTable()
    assert table.resolve("1521", None) == (table.assumed, "assumed")
    assert table.resolve("9999", ("9999", "77")) == (table.default_rule, "other")
    assert table.resolve("4231", LAPTOPS)[0].key == "4231"
    assert table.resolve("4242", ("4242", "4240", ELECTRONICS))[0].key == "4240"
    # Elektronika itself has no row: a category straight under it pays Other.
    assert table.resolve("4299", ("4299", ELECTRONICS))[1] == "other"


def test_the_assumed_row_charges_at_least_any_row_of_the_table() -> None:
    table = FeeTable.parse(
        {
            "rules": [
                {"key": "default", "rate": "0.10"},
                {"key": "5", "rate": "0.08", "minimum": "2"},
                {
                    "key": "7",
                    "rate": "0.12",
                    "threshold": "50",
                    "fixed_above": "6",
                    "rate_above": "0.15",
                },
            ]
        }
    )
    assumed = table.assumed
    assert (assumed.rate, assumed.minimum) == (D("0.15"), D("2"))
    for base in (D("1"), D("10"), D("50"), D("80"), D("1000")):
        assert all(assumed.commission(base) >= r.commission(base) for r in table.rules)


def test_an_operators_supplier_category_row_wins_over_the_allegro_group() -> None:
    """An operator's explicit row (supplier path) beats the default group; a row keyed by the
    mapped category itself (an operator's or a fee-preview sample) beats both."""
    table = FeeTable.parse(
        {
            "rules": [
                {"key": "default", "rate": "0.17"},
                {"key": "5", "rate": "0.10"},
                {"key": "Home & Garden > Garden", "rate": "0.07"},
                {"key": "1521", "rate": "0.05"},
                {"key": "2609", "scope": "supplier_category", "rate": "0.06"},
            ]
        }
    )
    garden = category_path("Home & Garden > Garden > Garden Tools")
    rule, matched = table.resolve("1522", ("1522", "1520", "5"), garden)
    assert (rule.key, matched) == ("Home & Garden > Garden", "supplier_category")
    rule, matched = table.resolve("1521", GARDEN_TOOLS, garden)
    assert (rule.key, matched) == ("1521", "category")
    # Unmapped but named by the operator: the operator's row, not the assumed one.
    assert table.resolve(None, None, garden)[1] == "supplier_category"
    # A BigBuy numeric category id is a supplier row only when the row says so.
    assert table.resolve(None, None, ("2609",))[0].key == "2609"
    assert FeeRule("2609").kind == "allegro_category"
    with pytest.raises(InvalidInput) as bad:
        FeeTable.parse({"rules": [{"key": "x", "scope": "brand", "rate": "0.1"}]})
    assert bad.value.code == "unknown_scope"


def test_a_marketplaces_own_category_prices_that_marketplace() -> None:
    """allegro_category_ids overrides the category on one marketplace: a phone mapped to
    Smartfony (4.5 %) on allegro-pl and, say, to an accessories category on allegro-sk."""
    smartphones = ("4227", "4226", ELECTRONICS)
    chargers = ("4228", "4226", ELECTRONICS)
    phone = product(
        "100",
        allegro_category_id="4227",
        allegro_category_ids={"allegro-sk": "4228"},
        chains={"4227": smartphones, "4228": chargers},
    )
    outs = PricingEngine(margin("0"), FeeTable(), FX).price_all(phone)
    assert commission_step(outs["allegro-pl"])["fee_rule"] == "4227"
    assert commission_step(outs["allegro-sk"])["fee_rule"] == "4228"
    assert commission_step(outs["allegro-cz"])["fee_rule"] == "4227"


def test_a_stored_trace_names_its_group_and_chain_after_a_round_trip() -> None:
    engine = PricingEngine(margin("40"), FeeTable(), FX)
    out = engine.price(mapped("20", "1521", GARDEN_TOOLS), "allegro-pl")
    stored = Trace.from_stored(orjson.loads(orjson.dumps(out.trace.as_stored())))
    again = PricingEngine.from_snapshot(engine.snapshot()[1]).chain("allegro-pl", stored)
    assert again == out.chain


# --- issue 11: exact decimals, one rounding at the end ----------------------------------------


def test_a_fixed_profit_in_pln_is_added_in_pln_after_conversion() -> None:
    """20 EUR x 4.30 = 86.00 PLN + 10 PLN profit = 96.00 PLN x 1.23 = 118.08 PLN.

    Rounding the converted 10 PLN to 2.33 EUR first gave (20 + 2.33) x 1.23 x 4.30 = 118.11.
    """
    rs = margin("0")
    rs = rules(
        rules=[
            {
                "scope": "price_band",
                "band": {"min": "0"},
                "percentage": "0",
                "fixed_amount": {"amount": "10", "currency": "PLN"},
            }
        ]
    )
    out = PricingEngine(rs, NO_FEES, FX).price(product("20"), "allegro-pl")
    assert out.amount == D("118.08")
    rule = next(s for s in out.chain if s["step"] == "rule")
    assert rule["fixed_amount"] == "2.33"  # shown to the cent, computed exact


def test_a_capped_commission_does_not_round_up_a_grosz_from_fx_noise() -> None:
    """8 %, at most 100 PLN (the Automotive shape). 1,000 EUR, margin 10 % -> 1,100 EUR net,
    x 1.23 = 1,353.00 EUR = 5,817.90 PLN; the capped commission adds exactly 100 PLN:
    5,917.90 PLN. The cap converted to EUR (100 / 4.30) and back left 5,917.900...01, which
    rounding up turned into 5,917.91."""
    table = FeeTable(
        rules=(FeeRule("default", "capped", D("0.08"), cap=D("100")),),
        marketplaces={m: MarketplaceFees(promoted_share=D(0)) for m in MARKETPLACE_IDS},
    )
    # Mapped to a category without a group row: "Other", the capped row (unmapped, the assumed
    # row would be 8 % uncapped).
    car_part = mapped("1000", "77", ("77",))
    out = PricingEngine(margin("10"), table, FX).price(car_part, "allegro-pl")
    assert out.amount == D("5917.90")
    assert commission_step(out)["commission"] == "23.26"  # 100 PLN in EUR, shown to the cent
    assert out.floor == D("5389.00")  # 1,000 x 1.23 x 4.30 + 100: the same one rounding


# --- issue 11: shipping per marketplace, free delivery from an amount -----------------------


def test_a_marketplaces_own_bands_are_in_its_currency() -> None:
    """allegro-cz with its own band (99 CZK up to 1 kg) and free delivery; the others keep the
    common settings (no free delivery).

    20 EUR, margin 40 % + 23 % (origin) = 34.44 EUR; + 99 CZK / 25.0 = 3.96 EUR = 38.40 EUR
    x 25.0 = 960 CZK. allegro-pl: 34.44 x 4.30 = 148.092 -> 148.10 PLN (the buyer pays delivery).
    """
    rs = margin(
        "40",
        vat_regime="origin",
        shipping={
            "free_delivery": False,
            "bands": [],
            "marketplaces": {
                "allegro-cz": {
                    "free_delivery": True,
                    "bands": [{"max_weight_kg": "1", "cost": {"amount": "99", "currency": "CZK"}}],
                }
            },
        },
    )
    engine = PricingEngine(rs, NO_FEES, FX)
    light = product(weight_kg=D("0.5"))
    cz = engine.price(light, "allegro-cz")
    assert cz.amount == D("960")
    shipping = next(s for s in cz.chain if s["step"] == "shipping")
    assert (shipping["bands"], shipping["free_delivery"], shipping["included"]) == (
        "allegro-cz",
        True,
        "3.96",
    )
    assert engine.price(light, "allegro-pl").amount == D("148.10")
    heavy = engine.price(product(weight_kg=D("3")), "allegro-cz")
    assert heavy.reason == "no_shipping_band" and "allegro-cz" in (
        heavy.trace.unpriced_detail or ""
    )
    with pytest.raises(InvalidInput) as bad:
        margin(
            "40",
            shipping={
                "marketplaces": {
                    "allegro-hu": {
                        "bands": [
                            {"max_weight_kg": "1", "cost": {"amount": "3", "currency": "EUR"}}
                        ]
                    }
                }
            },
        )
    assert bad.value.code == "band_currency_mismatch"


def test_free_delivery_from_an_amount_per_marketplace() -> None:
    """allegro-pl: a 15 PLN band up to 5 kg, free delivery from 100 PLN; flat 10 % commission
    on the price plus the delivery the buyer pays.

    40 PLN cost -> 49.20 gross; the buyer pays: P = 49.20 + 0.1 (P + 15) -> P = 50.70 / 0.9 =
    56.333 -> 56.34 PLN, under 100: delivery stays the buyer's.
    80 PLN cost -> 98.40 gross; the buyer paying would give (98.40 + 1.50) / 0.9 = 111.00 >= 100,
    so delivery is free and in the price: P = (98.40 + 15) / 0.9 = 126.00 PLN.
    """
    rs = rules(
        rules=[{"scope": "brand", "value": "X", "percentage": "0"}],
        shipping={
            "free_delivery": False,
            "bands": [],
            "marketplaces": {
                "allegro-pl": {
                    "bands": [{"max_weight_kg": "5", "cost": {"amount": "15", "currency": "PLN"}}],
                    "free_delivery_from": "100",
                }
            },
        },
    )
    table = FeeTable(
        rules=(FeeRule("default", rate=D("0.10")),),
        marketplaces={m: MarketplaceFees(promoted_share=D(0)) for m in MARKETPLACE_IDS},
    )
    engine = PricingEngine(rs, table, FX)
    cheap = engine.price(product("40", "PLN", brand="X", weight_kg=D("1")), "allegro-pl")
    dear = engine.price(product("80", "PLN", brand="X", weight_kg=D("1")), "allegro-pl")
    assert cheap.amount == D("56.34")
    assert dear.amount == D("126.00")
    cheap_step = next(s for s in cheap.chain if s["step"] == "shipping")
    dear_step = next(s for s in dear.chain if s["step"] == "shipping")
    assert (cheap_step["free_delivery"], cheap_step["included"]) == (False, "0.00")
    assert commission_step(cheap)["base_includes_buyer_delivery"] == "15.00"
    assert (dear_step["free_delivery"], dear_step["included"], dear_step["free_delivery_from"]) == (
        True,
        "15.00",
        "100",
    )
    assert RuleSet.parse(rs.as_dict()) == rs


# --- the calibration check's comparison ------------------------------------------------------


def test_the_check_compares_our_row_with_allegros_commission_rounded_up() -> None:
    laptops = FeeTable().by_id("4231")
    assert laptops is not None
    check = GroupCheck(laptops, "4231", "selection")
    check.add(D("100"), D("3.00"))  # 3 %
    check.add(D("2500"), D("67.50"))  # 60 + 1.5 % x 500
    assert check.status == "agrees"
    check.add(D("1000"), D("45.00"))
    assert check.status == "disagrees"
    assert check.as_dict()["samples"][-1] == {
        "price": "1000",
        "ours": "30.00",
        "allegro": "45.00",
        "agrees": False,
    }
    table = FeeTable()
    plan = samples_from_selection(table, ["1521", "4231", "1522"], {"1521": GARDEN_TOOLS})
    by_group = {s.rule.key: s for s in plan}
    assert by_group["5"].category_id == "1521" and by_group["5"].source == "selection"
    assert by_group["4231"].category_id is None  # its chain is not known yet
    assert list(by_group)[-1] == "default"
