"""pricing's handlers on a fake unit of work: the fast unit tier (no PostgreSQL, no broker).

The same handlers run on the real database in test_service.py; here each use case's decisions
are checked in milliseconds.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest

from mci_testing.fake_uow import FakeUnitOfWork
from pricing import handlers
from pricing.domain import commands as c
from pricing.domain.categories import CategoryRow
from pricing.domain.errors import InvalidInput
from pricing.domain.fx import FxRate
from pricing.repository import PricingRepository
from shared.errors import Conflict, NotFound
from shared.events import CatalogItem, CatalogUpdated, Money, PriceComputed

from .fakes import FakePricingRepository

RULES = {
    "strategy": "margin",
    "rules": [{"id": "all", "scope": "price_band", "band": {"min": "0"}, "percentage": "40"}],
    "vat_regime": "origin",
    "shipping": {"free_delivery": False, "bands": []},
}
RATES = [
    {"base": "EUR", "quote": q, "rate": r, "source": "test", "as_of": "2026-11-26"}
    for q, r in (("PLN", "4.30"), ("CZK", "25.0"), ("HUF", "390"))
]


@pytest.fixture
def store() -> FakePricingRepository:
    return FakePricingRepository()


@pytest.fixture
def uow(store: FakePricingRepository) -> FakeUnitOfWork:
    return FakeUnitOfWork({PricingRepository: store}, source="pricing")


def item(
    sku: str, cost: str, revision: int = 1, *, listed: bool = True, category: str | None = None
) -> CatalogItem:
    return CatalogItem(
        sku=sku,
        revision=revision,
        listed=listed,
        allegro_category_id=category,
        brand="Acme",
        supplier_category="Home & Garden > Kitchen",
        cost=Money(amount=Decimal(cost), currency="EUR"),
        weight_kg=Decimal("0.5"),
        ean="5901234123457",
        title=sku,
    )


def priced_account(store: FakePricingRepository) -> str:
    account = f"acct-{uuid.uuid4().hex[:6]}"
    store.add_rules(account, RULES)
    store.fx[account] = RATES
    return account


class TestCatalogUpdated:
    async def test_new_items_are_priced_and_emitted(
        self, store: FakePricingRepository, uow: FakeUnitOfWork
    ) -> None:
        account = priced_account(store)

        await handlers.catalog_updated(
            CatalogUpdated(account_id=account, items=[item("A", "10.00"), item("B", "20.00")]),
            uow,
        )

        [event] = uow.events
        assert isinstance(event, PriceComputed)
        assert sorted(i["sku"] for i in event.model_dump()["items"]) == ["A", "B"]
        assert store.prices[(account, "A")].prices["allegro-pl"]

    async def test_an_older_revision_changes_nothing_and_emits_nothing(
        self, store: FakePricingRepository, uow: FakeUnitOfWork
    ) -> None:
        account = priced_account(store)
        await handlers.catalog_updated(
            CatalogUpdated(account_id=account, items=[item("A", "10.00", revision=2)]), uow
        )
        before = store.prices[(account, "A")]
        uow.events.clear()

        await handlers.catalog_updated(
            CatalogUpdated(account_id=account, items=[item("A", "99.00", revision=1)]), uow
        )

        assert uow.events == []
        assert store.prices[(account, "A")] == before

    async def test_a_withdrawn_item_loses_its_price(
        self, store: FakePricingRepository, uow: FakeUnitOfWork
    ) -> None:
        account = priced_account(store)
        await handlers.catalog_updated(
            CatalogUpdated(account_id=account, items=[item("A", "10.00")]), uow
        )

        await handlers.catalog_updated(
            CatalogUpdated(account_id=account, items=[item("A", "10.00", 2, listed=False)]), uow
        )

        assert (account, "A") not in store.prices


class TestAllegroCategories:
    """A mapped product is priced with the assumed (highest) commission until its category's
    chain is read from Allegro, then repriced with its group's (164.55 PLN, not 178.43: the
    test_domain case of a garden tool)."""

    async def test_a_product_is_repriced_once_its_chain_is_known(
        self, store: FakePricingRepository, uow: FakeUnitOfWork
    ) -> None:
        account = priced_account(store)
        await handlers.catalog_updated(
            CatalogUpdated(account_id=account, items=[item("RAKE", "20.00", category="1521")]),
            uow,
        )
        assert store.prices[(account, "RAKE")].prices["allegro-pl"] == "178.43"
        uow.events.clear()
        rows = [
            CategoryRow("1521", "1520", "Narzędzia ogrodowe", True),
            CategoryRow("1520", "5", "Ogród", False),
            CategoryRow("5", None, "Dom i Ogród", False),
        ]

        accounts = await handlers.save_categories(c.SaveCategories(rows, ["1521"]), uow)
        assert accounts == [account]
        run = await handlers.reprice_categories(c.RepriceCategories(account, ["1521"]), uow)

        assert run["kind"] == "categories" and run["changed_products"] == 1
        assert store.prices[(account, "RAKE")].prices["allegro-pl"] == "164.55"
        [event] = uow.events
        assert isinstance(event, PriceComputed)
        assert event.model_dump()["items"][0]["prices"]["allegro-pl"]["amount"] == "164.55"

    async def test_a_category_allegro_does_not_know_stays_assumed(
        self, store: FakePricingRepository, uow: FakeUnitOfWork
    ) -> None:
        account = priced_account(store)
        await handlers.catalog_updated(
            CatalogUpdated(account_id=account, items=[item("X", "20.00", category="404404")]),
            uow,
        )
        uow.events.clear()
        gone = [CategoryRow("404404", None, None, False, found=False)]
        await handlers.save_categories(c.SaveCategories(gone, ["404404"]), uow)
        run = await handlers.reprice_categories(c.RepriceCategories(account, ["404404"]), uow)
        assert run["changed_products"] == 0 and uow.events == []
        assert store.prices[(account, "X")].prices["allegro-pl"] == "178.43"


class TestHolds:
    async def test_an_unknown_hold_is_not_found(self, uow: FakeUnitOfWork) -> None:
        with pytest.raises(NotFound):
            await handlers.decide(c.DecideHold("acct", uuid.uuid4(), True, "ops"), uow)

    async def test_rejecting_a_rules_hold_rejects_its_version_and_prices_nothing(
        self, store: FakePricingRepository, uow: FakeUnitOfWork
    ) -> None:
        account = priced_account(store)
        version = store.add_rules(account, RULES, status="pending")
        hold_id = await store.create_hold(account, "rules", {}, "ops", rule_version=version)

        result = await handlers.decide(c.DecideHold(account, hold_id, False, "ops"), uow)

        assert result == {"hold": str(hold_id), "status": "rejected"}
        assert [r.status for r in store.rule_sets[account]] == ["active", "rejected"]
        assert uow.events == []
        with pytest.raises(Conflict):
            await handlers.decide(c.DecideHold(account, hold_id, True, "ops"), uow)


class TestRulesAndRates:
    async def test_deleting_an_unknown_rule_is_not_found_and_saves_nothing(
        self, store: FakePricingRepository, uow: FakeUnitOfWork
    ) -> None:
        account = priced_account(store)
        with pytest.raises(NotFound):
            await handlers.delete_rule(c.DeleteRule(account, "nope", "ops"), uow)
        assert len(store.rule_sets[account]) == 1

    async def test_a_bad_rate_is_refused_before_anything_is_saved(
        self, store: FakePricingRepository, uow: FakeUnitOfWork
    ) -> None:
        bad = FxRate("EUR", "XYZ", Decimal("1"), "test", date(2026, 11, 26))
        with pytest.raises(InvalidInput) as refused:
            await handlers.set_fx_rates(c.SetFxRates("acct", [bad], "ops"), uow)
        assert refused.value.code == "unknown_currency"
        assert refused.value.details[0]["field"] == "rates.0.quote"
        assert store.fx == {}
