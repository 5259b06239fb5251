"""Unit tests of the catalog's domain: no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from catalog.domain.ean import ean13_check_digit, is_valid_ean13, is_valid_gtin
from catalog.domain.items import REASONS, WAIVABLE, decide, item_content, item_hash
from catalog.domain.model import Product, ProductRecord, content_hash, merge
from catalog.domain.screening import DEFAULT_RULES, Screen, ScreeningRule
from catalog.domain.selection import Selection
from catalog.domain.stock import available_stock
from catalog.domain.titles import ALLEGRO_TITLE_MAX, shorten_title
from catalog.domain.validation import (
    CONDITION_NEW,
    CONDITION_USED,
    RowError,
    normalise_ean,
    validate_row,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def full_row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "sku": "SKU-1",
        "ean": "5901234123457",
        "title": "Sekator Fiskars",
        "cost_amount": "12.50",
        "cost_currency": "PLN",
        "weight_kg": "0.4",
        "stock": "5",
    }
    row.update(over)
    return row


class TestEan:
    def test_check_digit(self) -> None:
        assert ean13_check_digit("590123412345") == "7"
        assert is_valid_ean13("5901234123457")
        assert not is_valid_ean13("5901234123458")
        assert not is_valid_ean13("590123412345")
        assert not is_valid_ean13("59012341234a7")

    def test_missing_forms(self) -> None:
        assert normalise_ean("") is None
        assert normalise_ean("0") is None
        assert normalise_ean(" ") is None
        assert normalise_ean("012345678905") == "0012345678905"  # UPC-A as GTIN-13


class TestGtin:
    @pytest.mark.parametrize(
        "code",
        [
            "96385074",  # EAN-8
            "036000291452",  # UPC-A
            "5901234123457",  # EAN-13
            "15901234123454",  # GTIN-14 (an outer case of 5901234123457)
        ],
    )
    def test_every_gtin_length_with_a_good_check_digit_is_valid(self, code: str) -> None:
        assert is_valid_gtin(code)
        assert not is_valid_gtin(code[:-1] + str((int(code[-1]) + 1) % 10))

    def test_other_lengths_and_non_digits_are_not(self) -> None:
        assert not is_valid_gtin("1234567")
        assert not is_valid_gtin("590123412345711")
        assert not is_valid_gtin("5901234l23457")
        assert not is_valid_gtin("５９０１２３４１２３４５７")  # full-width digits

    def test_a_bad_check_digit_drops_the_ean_not_the_product(self) -> None:
        record = validate_row(full_row(ean="5901234123458"), 2, T0)
        assert isinstance(record, ProductRecord)
        product = merge(None, record, "test").product
        assert product.ean is None
        assert product.received == {"ean": "5901234123458"}
        assert "invalid_ean" in product.flags
        # The next good EAN clears the flag; the record that carries no EAN leaves it.
        fixed = validate_row(
            {"sku": "SKU-1", "ean": "96385074"}, 3, T0 + timedelta(1), require_full=False
        )
        assert isinstance(fixed, ProductRecord)
        product = merge(product, fixed, "test").product
        assert product.ean == "96385074" and product.flags == []

    def test_ean8_and_gtin14_are_kept_as_sent(self) -> None:
        for code in ("96385074", "15901234123454"):
            record = validate_row(full_row(ean=code), 2, T0)
            assert isinstance(record, ProductRecord) and record.fields["ean"] == code


class TestLenientFields:
    @pytest.mark.parametrize("weight", ["0", "0,000", "", None])
    def test_no_weight_keeps_the_product_flagged(self, weight: object) -> None:
        record = validate_row(full_row(weight_kg=weight), 2, T0)
        assert isinstance(record, ProductRecord)
        product = merge(None, record, "test").product
        assert product.weight_kg is None and product.flags == ["needs_weight"]

    def test_zero_dates_are_empty(self) -> None:
        record = validate_row(full_row(updated_at="0000-00-00 00:00:00"), 2, T0)
        assert isinstance(record, ProductRecord)
        assert record.updated_at == T0 and not record.explicit_time

    @pytest.mark.parametrize(
        ("text", "value"),
        [
            ("1.234,56", "1234.56"),
            ("1,234.56", "1234.56"),
            ("24,90", "24.90"),
            ("2.345.678,9", "2345678.9"),
            ("1.234", "1.234"),
            ("1,234", "1.234"),
            ("1.234.567", "1234567"),
        ],
    )
    def test_thousands_separators(self, text: str, value: str) -> None:
        record = validate_row(full_row(cost_amount=text), 2, T0)
        assert isinstance(record, ProductRecord)
        assert record.fields["cost_amount"] == Decimal(value)

    @pytest.mark.parametrize(
        ("condition", "allegro"),
        [
            ("NEW", CONDITION_NEW),
            ("REFURBISHED_A", CONDITION_USED),
            ("REFURBISHED_B", CONDITION_USED),
        ],
    )
    def test_refurbished_is_sold_as_used_never_new(self, condition: str, allegro: str) -> None:
        record = validate_row(full_row(attributes={"condition": condition}), 2, T0)
        assert isinstance(record, ProductRecord)
        assert record.fields["attributes"] == {"condition": condition, "11323": allegro}


class TestTitles:
    LONG = (
        "Krzesło biurowe ergonomiczne z regulacją wysokości i podłokietnikami, siatkowe oparcie,"
        " czarne"
    )

    def test_a_long_title_is_cut_at_a_word_boundary_and_flagged(self) -> None:
        short = shorten_title(self.LONG)
        assert len(short) <= ALLEGRO_TITLE_MAX
        assert self.LONG.startswith(short)
        assert short == "Krzesło biurowe ergonomiczne z regulacją wysokości i podłokietnikami"
        record = validate_row(full_row(title=self.LONG), 2, T0)
        assert isinstance(record, ProductRecord)
        product = merge(None, record, "test").product
        assert product.title == short
        assert product.received == {"title": self.LONG}
        assert product.flags == ["title_shortened"]

    def test_short_titles_and_one_long_word(self) -> None:
        assert shorten_title("Sekator  Fiskars ") == "Sekator Fiskars"
        assert shorten_title("x" * 90) == "x" * 75  # no boundary: a hard cut
        # Trailing separators go: no title ends in " -" or "(".
        assert shorten_title("A" * 60 + " - " + "B" * 30) == "A" * 60


class TestValidation:
    def test_a_good_row_becomes_a_record(self) -> None:
        record = validate_row(full_row(), 2, T0)
        assert isinstance(record, ProductRecord)
        assert record.fields["cost_amount"] == Decimal("12.50")
        assert record.fields["stock"] == 5
        assert not record.explicit_time

    @pytest.mark.parametrize(
        ("over", "field", "reason"),
        [
            ({"title": ""}, "title", "required"),
            ({"sku": ""}, "sku", "required"),
            ({"weight_kg": "-1"}, "weight_kg", "positive"),
            ({"weight_kg": "heavy"}, "weight_kg", "not a number"),
            ({"weight_kg": "1e-999999999"}, "weight_kg", "decimal places"),
            ({"cost_amount": "0"}, "cost_amount", "positive"),
            ({"cost_currency": "ZZZ"}, "cost_currency", "ISO 4217"),
            ({"rrp_amount": "10", "rrp_currency": ""}, "rrp_currency", "required"),
            ({"stock": "2.5"}, "stock", "whole number"),
            ({"stock": "-3"}, "stock", "between"),
            ({"stock": "1e999999999"}, "stock", "between"),  # never made an int
            ({"title": "x" * 501}, "title", "longer than"),
            ({"sku": "A B"}, "sku", "without spaces"),
            ({"images": ["ftp://x"]}, "images", "URL"),
            ({"updated_at": "yesterday"}, "updated_at", "ISO 8601"),
        ],
    )
    def test_each_bad_field_is_named_with_its_reason(
        self, over: dict[str, object], field: str, reason: str
    ) -> None:
        errors = validate_row(full_row(**over), 7, T0)
        assert isinstance(errors, list)
        assert any(e.field == field and reason in e.reason and e.line == 7 for e in errors), errors

    def test_all_errors_of_a_row_are_reported(self) -> None:
        errors = validate_row(full_row(stock="x", weight_kg="-1"), 3, T0)
        assert isinstance(errors, list)
        assert {e.field for e in errors} == {"stock", "weight_kg"}
        assert all(isinstance(e, RowError) and e.sku == "SKU-1" for e in errors)

    def test_partial_records_need_only_a_sku(self) -> None:
        record = validate_row({"sku": "S", "stock": 3}, 1, T0, require_full=False)
        assert isinstance(record, ProductRecord)
        assert record.fields == {"stock": 3}


class TestMerge:
    def record(self, at: datetime, **fields: object) -> ProductRecord:
        return ProductRecord("SKU-1", at, dict(fields))

    def test_an_older_record_never_overwrites_a_newer_one(self) -> None:
        first = merge(None, self.record(T0 + timedelta(hours=2), title="new", stock=5), "up")
        late = merge(first.product, self.record(T0 + timedelta(hours=1), title="old"), "up")
        assert not late.needs_write
        assert late.product.title == "new"

    def test_partial_updates_touch_only_their_group(self) -> None:
        full = merge(
            None,
            self.record(T0, title="t", stock=5, cost_amount=Decimal(1), cost_currency="PLN"),
            "up",
        ).product
        stock_only = merge(full, self.record(T0 + timedelta(hours=1), stock=2), "up")
        assert stock_only.content_changed
        assert stock_only.product.stock == 2 and stock_only.product.title == "t"
        # A full record older than the stock update but newer than the content still lands,
        # except for its stale stock.
        late_full = merge(
            stock_only.product,
            self.record(T0 + timedelta(minutes=30), title="t2", stock=9),
            "up",
        )
        assert late_full.product.title == "t2" and late_full.product.stock == 2

    def test_the_same_content_again_changes_nothing(self) -> None:
        first = merge(None, self.record(T0, title="t"), "a").product
        again = merge(first, ProductRecord("SKU-1", T0 + timedelta(1), {"title": "t"}, False), "b")
        assert not again.needs_write
        assert again.product.source == "a"

    def test_hash_ignores_times_and_source(self) -> None:
        a = Product("S", title="x", source="a", content_at=T0)
        b = Product("S", title="x", source="b", content_at=T0 + timedelta(1))
        assert content_hash(a) == content_hash(b)
        assert content_hash(a) != content_hash(Product("S", title="y"))


def product(**over: object) -> Product:
    base = Product(
        "SKU-1",
        title="Sekator Fiskars",
        brand="Fiskars",
        category_path="Home & Garden > Garden > Garden Tools",
        cost_amount=Decimal("10"),
        cost_currency="PLN",
        stock=4,
        ean="5901234123457",
        images=["https://img.example/1.jpg"],
        weight_kg=Decimal("0.4"),
        attributes={
            "gpsr_name": "Fiskars Finland Oy Ab",
            "gpsr_address": "Hämeenkatu 7, 10900 Hanko, Finland",
            "gpsr_contact": "product.safety@fiskars.com",
        },
    )
    for k, v in over.items():
        setattr(base, k, v)
    return base


class TestSelection:
    def test_category_subtree_and_brand(self) -> None:
        sel = Selection.from_dict({"include": {"categories": ["Home & Garden > Garden"]}})
        assert sel.selects(product())
        assert not sel.selects(product(category_path="Home & Garden > Gardening"))
        assert not sel.selects(product(category_path="Home & Garden"))
        by_brand = Selection.from_dict({"include": {"brands": ["fiskars"]}})
        assert by_brand.selects(product())

    def test_precedence(self) -> None:
        sel = Selection.from_dict(
            {
                "include": {"categories": ["Home & Garden"], "skus": ["SKU-2"]},
                "exclude": {"brands": ["Fiskars"], "skus": ["SKU-3"]},
            }
        )
        assert not sel.selects(product())  # excluded brand
        assert sel.selects(product(sku="SKU-2"))  # an included SKU beats an excluded brand
        assert not sel.selects(product(sku="SKU-3", brand="Gardena"))  # an excluded SKU wins
        assert sel.selects(product(brand="Gardena"))

    def test_empty_selection_selects_nothing(self) -> None:
        assert not Selection().selects(product())


class TestScreening:
    screen = Screen(ScreeningRule(i, k, p, r) for i, (k, p, r) in enumerate(DEFAULT_RULES, 1))

    def test_keyword_on_whole_words_and_prefixes(self) -> None:
        blocked = self.screen.blocked(product(title="Zestaw fajerwerków Max"))
        assert blocked is not None and "Pyrotechnics" in blocked.reason
        assert self.screen.blocked(product(title="Nóż kuchenny Pro")) is None
        assert self.screen.blocked(product(title="Gaz pieprzowy 50 ml")) is not None
        # "cbd" must not match inside another word
        assert self.screen.blocked(product(title="Abcbdx lampka")) is None

    def test_category_and_brand_rules(self) -> None:
        screen = Screen(
            [
                ScreeningRule(1, "category", "Home & Garden > Garden", "garden banned"),
                ScreeningRule(2, "brand", "ACME", "brand banned"),
            ]
        )
        blocked = screen.blocked(product())
        assert blocked is not None and blocked.rule_id == 1
        other = product(category_path="Electronics", brand="acme")
        assert (b := screen.blocked(other)) is not None and b.reason == "brand banned"

    def test_screened_products_are_not_listed(self) -> None:
        sel = Selection.from_dict({"include": {"brands": ["Fiskars"]}})
        decision = decide(product(title="Papierosy Fiskars"), sel, self.screen)
        assert not decision.listed and decision.reason == "prohibited"
        assert decide(product(cost_amount=None), sel, self.screen).reason == "incomplete"
        assert decide(product(), sel, self.screen).listed


class TestListability:
    """Listable means Allegro would take it: every blocking reason, at once."""

    sel = Selection.from_dict({"include": {"brands": ["Fiskars"]}})
    screen = Screen([ScreeningRule(1, "keyword", "kastet*", "weapons")])

    def test_a_complete_mapped_product_is_listed(self) -> None:
        assert decide(product(), self.sel, self.screen, mapped=True).listed

    def test_every_reason_at_once(self) -> None:
        bare = product(
            title="Kastet stalowy",
            images=[],
            ean=None,
            weight_kg=None,
            cost_amount=None,
            attributes={},
        )
        decision = decide(bare, self.sel, self.screen, mapped=False, over_cap=True)
        assert not decision.listed
        assert decision.reasons == (
            "prohibited",
            "incomplete",
            "no_image",
            "no_ean",
            "no_weight",
            "missing_gpsr",
            "no_category",
            "over_cap",
        )
        assert all(REASONS[r] for r in decision.reasons)  # each has its plain words

    def test_an_account_may_waive_what_allegro_lets_it(self) -> None:
        unmapped = decide(product(ean=None), self.sel, self.screen, mapped=False)
        assert unmapped.reasons == ("no_ean", "no_category")
        waived = decide(
            product(ean=None),
            self.sel,
            self.screen,
            mapped=False,
            waived=frozenset({"no_ean", "no_category"}),
        )
        assert waived.listed
        # Screening is never waived.
        prohibited = decide(
            product(title="Kastet"), self.sel, self.screen, waived=WAIVABLE, mapped=True
        )
        assert prohibited.reasons == ("prohibited",)


class TestStock:
    def test_only_reservations_after_the_supplier_count_are_subtracted(self) -> None:
        reservations = [(2, T0 - timedelta(hours=1)), (3, T0 + timedelta(hours=1))]
        assert available_stock(10, T0, reservations) == 7
        assert available_stock(2, T0, reservations) == 0
        assert available_stock(None, T0, reservations) is None

    def test_a_count_soon_after_a_sale_does_not_include_it_yet(self) -> None:
        sold = [(2, T0 - timedelta(minutes=5))]
        assert available_stock(10, T0, sold) == 8  # default lag: 10 minutes
        assert available_stock(10, T0, sold, timedelta(minutes=1)) == 10


def test_item_hash_follows_content() -> None:
    a = item_content(product(), "1521", 4)
    assert item_hash(a) == item_hash(item_content(product(), "1521", 4))
    assert item_hash(a) != item_hash(item_content(product(), "1521", 3))
    assert item_hash(a) != item_hash(item_content(product(), None, 4))


def test_the_suppliers_handling_days_become_the_items_own_field() -> None:
    attributes = {"gpsr_name": "Fiskars Finland Oy Ab"}
    assert (
        item_content(product(attributes={**attributes, "handling_days": "3"}), "1", 4)[
            "handling_days"
        ]
        == 3
    )
    # Absent or not whole days: no field at all, so the item's hash is the one it had before.
    for odd in ({}, {"handling_days": ""}, {"handling_days": "2.5"}, {"handling_days": "²"}):
        content = item_content(product(attributes={**attributes, **odd}), "1", 4)
        assert "handling_days" not in content


def test_category_names_may_hold_slashes() -> None:
    sel = Selection.from_dict({"include": {"categories": ["Electronics > TV / Audio"]}})
    assert sel.selects(product(category_path="Electronics > TV / Audio > Headphones"))
    assert not sel.selects(product(category_path="Electronics > TV"))


def test_category_paths_are_normalised_on_the_way_in() -> None:
    record = validate_row(full_row(category_path="Home & Garden>Garden >  Tools "), 2, T0)
    assert isinstance(record, ProductRecord)
    assert record.fields["category_path"] == "Home & Garden > Garden > Tools"
