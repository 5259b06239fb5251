"""The pure rules: available stock and handling days, images, category paths, what changed,
the order body, a loss, BigBuy's refusals as states."""

from __future__ import annotations

from decimal import Decimal

from bigbuy_connector.domain import catalogue as cat
from bigbuy_connector.domain import orders as o


def test_stock_counts_only_rows_within_the_handling_limit() -> None:
    rows = [
        {"quantity": 3, "minHandlingDays": 0, "maxHandlingDays": 1},
        {"quantity": 2, "minHandlingDays": 1, "maxHandlingDays": 2},
        {"quantity": 9, "minHandlingDays": 5, "maxHandlingDays": 10},
        {"quantity": 0, "minHandlingDays": 2, "maxHandlingDays": 3},
    ]
    assert cat.available(rows, 3) == (5, 2)
    assert cat.available(rows, 10) == (14, 10)
    assert cat.available(rows, 0) == (0, None)


def test_images_cover_first_then_by_position() -> None:
    images = [
        {"url": "b", "isCover": False, "position": 2},
        {"url": "c", "isCover": True, "position": 3},
        {"url": "a", "isCover": False, "position": 1},
    ]
    assert cat.image_urls(images) == ["c", "a", "b"]


def test_category_path_walks_up_to_the_root_and_stops_on_a_cycle() -> None:
    tree = {
        1: {"name": "Dom", "parentTaxonomy": 0},
        2: {"name": "Kuchnia", "parentTaxonomy": 1},
        3: {"name": "Noże", "parentTaxonomy": 2},
        8: {"name": "Pętla", "parentTaxonomy": 9},
        9: {"name": "Pętla 2", "parentTaxonomy": 8},
    }
    assert cat.category_path(3, tree) == "Dom > Kuchnia > Noże"
    assert cat.category_path(8, tree) == "Pętla 2 > Pętla"
    assert cat.category_path(404, tree) is None


def test_money_and_ean_and_weight_as_bigbuy_sends_them() -> None:
    assert cat.money(24.9) == {"amount": "24.90", "currency": "EUR"}
    assert cat.money("125.40") == {"amount": "125.40", "currency": "EUR"}
    assert cat.money(None) is None
    assert [cat.ean(v) for v in (None, "", "0", "000", "8400000000079")] == [
        None,
        None,
        None,
        None,
        "8400000000079",
    ]
    assert cat.weight(0) is None and cat.weight("1.500") == "1.5"


def test_only_changed_fields_are_reported() -> None:
    old = {"sku": "A", "title": "T", "stock": 1, "attributes": {"x": "1"}}
    assert cat.changes(old, {**old, "stock": 2}) == {"stock": 2}
    assert cat.changes(old, dict(old)) == {}
    assert cat.changes(None, old) == {"title": "T", "stock": 1, "attributes": {"x": "1"}}


def test_a_stock_refresh_keeps_the_content_and_zeroes_inactive_products() -> None:
    record = {"sku": "A", "title": "T", "stock": 1, "attributes": {"handling_days": "1", "b": "2"}}
    fresh = {"stock": 4, "handling_days": "", "cost": {"amount": "1.00", "currency": "EUR"}}
    updated = cat.apply_stock_and_prices(record, fresh)
    assert updated["stock"] == 4 and updated["title"] == "T"
    assert updated["attributes"] == {"b": "2"}
    assert cat.apply_stock_and_prices(record, fresh, active=False)["stock"] == 0


ORDER = {
    "order_id": "ALG-1",
    "buyer": {"email": "b@example.pl", "firstName": "Jan", "phoneNumber": "+48600"},
    "delivery": {
        "address": {
            "firstName": "Anna",
            "lastName": "Nowak",
            "street": "Ogrodowa 1",
            "city": "Kraków",
            "zipCode": "30-001",
            "countryCode": "PL",
        }
    },
    "lines": [{"sku": "S1", "quantity": 1}, {"sku": "S1", "quantity": 2}],
    "total": {"amount": "43.00", "currency": "PLN"},
}


def test_the_order_body_names_the_allegro_order_and_merges_lines() -> None:
    built = o.order_body(ORDER, None, language="pl", payment_method="moneybox", carriers=["gls"])
    body = built.body["order"]
    assert body["internalReference"] == "ALG-1"
    assert body["products"] == [{"reference": "S1", "quantity": 3}]
    assert body["shippingAddress"]["phone"] == "+48600"  # the buyer's when delivery has none
    assert built.problems == []
    long = o.order_body(
        ORDER, {"address": "x" * 71}, language="pl", payment_method="moneybox", carriers=[]
    )
    assert long.problems == [{"field": "shippingAddress.address", "problem": "over 70 characters"}]


def test_a_corrected_postcode_is_checked_against_its_countrys_format() -> None:
    good = {**o.shipping_address(ORDER), "postcode": "30-001"}
    assert o.corrected_address_problems(good) == []
    assert o.corrected_address_problems({**good, "postcode": "30001"}) == [
        {"field": "shippingAddress.postcode", "problem": "not a postcode of PL (like 00-001)"}
    ]
    assert o.corrected_address_problems({**good, "country": "CZ", "postcode": "110 00"}) == []
    assert o.corrected_address_problems({**good, "country": "NL", "postcode": "1011AB"}) == []
    # A country without a known format takes any postcode, as BigBuy does.
    assert o.corrected_address_problems({**good, "country": "BE", "postcode": "x"}) == []
    # The buyer's own address is left to BigBuy (its ER004 carries its example).
    assert o.address_problems({**good, "postcode": "30001"}) == []


def test_a_loss_is_a_cost_above_what_the_sale_brings_in_eur() -> None:
    sale = o.sale_in_eur(ORDER, {"PLN": Decimal("4.30")})
    assert sale == Decimal("10.00")
    assert o.is_loss(Decimal("10.01"), sale)
    assert not o.is_loss(Decimal("10.00"), sale)
    assert o.is_loss(Decimal("1"), o.sale_in_eur(ORDER, {}))  # unknown currency: held


def test_refusals_become_states_the_operator_acts_on() -> None:
    assert o.state_for_error("ER003") == o.OUT_OF_STOCK
    assert o.state_for_error("ER005") == o.WAITING_WALLET
    assert o.state_for_error("ER004") == o.BAD_ADDRESS
    assert o.state_for_error("400", ["shippingAddress.postcode"]) == o.BAD_ADDRESS
    assert o.state_for_error("ER010") == o.CARRIER_UNAVAILABLE
    assert o.state_for_error("ER013") == o.FAILED
    assert o.order_id_from("/rest/order/5501234", None) == "5501234"
    assert o.order_id_from(None, {"order_id": 7}) == "7"
