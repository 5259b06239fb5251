"""catalog's handlers on a fake unit of work: the fast unit tier (no PostgreSQL, no broker).

The same handlers run on the real database in the service tests (test_selection.py,
test_ingestion.py, ...); here each use case's decisions are checked in milliseconds.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from catalog.domain import commands as c
from catalog.domain.model import Product
from catalog.domain.selection import Selection
from catalog.handlers import coverage, events, imports, mappings, products, screening, selection
from mci_testing.fake_uow import FakeUnitOfWork
from shared.errors import Conflict, Invalid, NotFound
from shared.events import Money, OrderLine, OrderReceived
from shared.pagination import PageRequest

from .fakes import FakeAccounts, FakeImports, FakeProducts, FakeRules, FakeStock, repositories

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def product(sku: str, stock: int | None = 5) -> Product:
    """A product Allegro would take, once its category is mapped."""
    return Product(
        sku=sku,
        title=f"Product {sku}",
        category_path="Garden",
        cost_amount=Decimal("10"),
        cost_currency="EUR",
        ean="5901234123457",
        images=["https://img.example/1.jpg"],
        weight_kg=Decimal("0.4"),
        stock=stock,
        stock_at=T0,
        attributes={"gpsr_name": "Acme", "gpsr_address": "1 Main St", "gpsr_contact": "a@b.eu"},
    )


class TestProducts:
    async def test_a_page_of_products_ends_with_a_cursor_only_when_more_exist(self) -> None:
        store = FakeProducts(*(product(f"P-{n}") for n in range(5)))
        uow = FakeUnitOfWork(repositories(products=store))
        first = await products.list_products(c.ListProducts(PageRequest(None, 3)), uow)
        assert [p["sku"] for p in first.items] == ["P-0", "P-1", "P-2"] and first.next == "P-2"
        rest = await products.list_products(c.ListProducts(PageRequest(first.next, 3)), uow)
        assert [p["sku"] for p in rest.items] == ["P-3", "P-4"] and rest.next is None

    async def test_an_unknown_product_is_not_found(self) -> None:
        with pytest.raises(NotFound):
            await products.get_product(c.GetProduct("NOPE"), FakeUnitOfWork(repositories()))

    async def test_available_stock_is_the_supplier_stock_less_the_pending_reservations(
        self,
    ) -> None:
        stock = FakeStock()
        stock.lag = timedelta(hours=2)
        stock.reservations["P-1"] = [(2, T0 + timedelta(minutes=30))]  # newer than the figure
        uow = FakeUnitOfWork(repositories(products=FakeProducts(product("P-1")), stock=stock))
        view = await products.get_product(c.GetProduct("P-1"), uow)
        assert view["stock"] == 5 and view["available_stock"] == 3
        assert view["reservations"][0]["pending"] is True

    async def test_a_title_for_an_unknown_product_is_not_found_and_nothing_is_emitted(
        self,
    ) -> None:
        uow = FakeUnitOfWork(repositories())
        with pytest.raises(NotFound):
            await products.set_title(c.SetTitle("NOPE", "A title", "op"), uow)
        assert uow.events == []


class TestImports:
    async def test_bad_rows_page_by_their_number(self) -> None:
        import_id = uuid.uuid4()
        store = FakeImports()
        store.stored_errors[import_id] = [{"seq": n, "line": n + 2} for n in range(3)]
        uow = FakeUnitOfWork(repositories(imports=store))
        first = await imports.import_errors(
            c.ListImportErrors(import_id, PageRequest(None, 2)), uow
        )
        assert [e["seq"] for e in first.items] == [0, 1] and first.next == "1"
        rest = await imports.import_errors(
            c.ListImportErrors(import_id, PageRequest(first.next, 2)), uow
        )
        assert [e["seq"] for e in rest.items] == [2] and rest.next is None

    @pytest.mark.parametrize("cursor", ["nope", "2026-11-01T12:00:00~x", "2026-11-01~" + "0" * 32])
    async def test_a_report_cursor_the_list_cannot_read_is_invalid(self, cursor: str) -> None:
        with pytest.raises(Invalid) as caught:
            await imports.list_imports(
                c.ListImports(None, PageRequest(cursor, 10)), FakeUnitOfWork(repositories())
            )
        assert caught.value.code == "invalid_cursor"
        assert caught.value.details == [{"field": "after"}]


class TestSelection:
    async def test_a_patch_replaces_one_part_and_keeps_the_other(self) -> None:
        accounts = FakeAccounts()
        accounts.saved["shop"] = Selection.from_dict(
            {"include": {"brands": ["acme"]}, "exclude": {"skus": ["X-1"]}}
        )
        uow = FakeUnitOfWork(repositories(accounts=accounts))
        changes = {"include": {"categories": ["Garden"], "brands": [], "skus": []}}
        result = await selection.patch_selection(c.PatchSelection("shop", changes, "op"), uow)
        assert result["selection"]["include"]["categories"] == ["Garden"]
        assert result["selection"]["exclude"]["skus"] == ["X-1"]
        assert accounts.saved["shop"].as_dict() == result["selection"]
        assert result["emitted_items"] == 0 and uow.events == []  # no products: nothing to say

    async def test_the_preview_shows_a_page_of_what_would_be_listed(self) -> None:
        store = FakeProducts(*(product(f"P-{n}") for n in range(4)))
        rules = FakeRules()
        rules.mappings[("Garden", "")] = ("111", "manual")
        uow = FakeUnitOfWork(repositories(products=store, rules=rules))
        everything = Selection.from_dict({"include": {"skus": [f"P-{n}" for n in range(4)]}})
        query = c.PreviewSelection("shop", everything, PageRequest("P-0", 2))
        found = await selection.preview_selection(query, uow)
        assert found["counts"]["to_list"] == 4 and found["counts"]["entering"] == 4
        assert [p["sku"] for p in found["items"]] == ["P-1", "P-2"] and found["next"] == "P-2"


class TestScreeningAndMappings:
    async def test_deleting_an_unknown_rule_is_not_found(self) -> None:
        with pytest.raises(NotFound):
            await screening.delete_rule(c.DeleteScreeningRule(7), FakeUnitOfWork(repositories()))

    @pytest.mark.parametrize(
        ("handler", "query"),
        [
            (screening.list_rules, c.ListScreeningRules(PageRequest("x", 10))),
            (screening.list_rules, c.ListScreeningRules(PageRequest("9" * 10, 10))),
            (mappings.list_mappings, c.ListMappings(PageRequest("no slash", 10))),
        ],
    )
    async def test_a_cursor_the_list_cannot_read_is_invalid(self, handler: Any, query: Any) -> None:
        with pytest.raises(Invalid) as caught:
            await handler(query, FakeUnitOfWork(repositories()))
        assert caught.value.code == "invalid_cursor"

    async def test_accepting_suggestions_maps_each_category_to_its_best_one(self) -> None:
        rules = FakeRules()
        rules.suggestions = {
            "Garden": [{"allegro_category_id": "111"}, {"allegro_category_id": "222"}],
            "Toys": [],
        }
        uow = FakeUnitOfWork(repositories(rules=rules))
        command = c.AcceptSuggestions(["Garden", "Toys", "Tools"])
        result = await mappings.accept_suggestions(command, uow)
        assert result["accepted"] == {"Garden": "111"}
        assert result["without_suggestion"] == ["Toys", "Tools"]
        assert rules.mappings == {("Garden", ""): ("111", "suggested")}


class TestCoverage:
    async def test_without_a_selection_to_assess_the_request_conflicts(self) -> None:
        with pytest.raises(Conflict) as caught:
            await coverage.selection_to_assess(
                c.StartCoverage("shop", None), FakeUnitOfWork(repositories())
            )
        assert caught.value.code == "no_selection"
        assert caught.value.details == [{"account_id": "shop"}]


class TestOrders:
    async def test_an_order_cancelled_before_it_arrived_reserves_nothing(self) -> None:
        stock = FakeStock()
        stock.cancelled.add("o-1")
        uow = FakeUnitOfWork(repositories(stock=stock))
        price = Money(amount=Decimal("10"), currency="PLN")
        order = OrderReceived(
            account_id="shop",
            order_id="o-1",
            marketplace_id="allegro-pl",
            buyer={},
            delivery={},
            lines=[OrderLine(sku="P-1", offer_id="1", quantity=1, unit_price=price)],
            total=price,
            revision="r1",
        )
        await events.order_received(order, uow)  # FakeStock.reserve would fail the test
        assert uow.events == []
