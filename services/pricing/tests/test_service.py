"""The pricing service on real PostgreSQL and RabbitMQ: CatalogUpdated in, PriceComputed out
through the outbox, only on a change; idempotent; recompute on a rule change; circuit breaker.

One running service per module on a throw-away database and the run's vhost, a probe queue on
price.computed, an operator token; every test uses its own account.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mci_testing.app import running_app
from mci_testing.bus import Bus, Probe, envelope_of
from mci_testing.emulator import EmulatorHandle, start_emulator
from mci_testing.fixtures import MakeDatabase
from mci_testing.infra import lock_waits, wait_until
from pricing import handlers
from pricing.domain import commands as c
from pricing.domain.categories import CategoryRow
from pricing.domain.fx import FxRate
from pricing.main import MIGRATIONS, build
from pricing.repository import PricingRepository
from pricing.settings import Settings
from shared.accounts import StaticAccounts
from shared.allegro.tokens import StaticTokens
from shared.db import create_engine
from shared.events import CatalogItem, CatalogUpdated, Envelope, Money, PriceComputed
from shared.security import issue_token
from shared.service import create_app
from shared.uow import UnitOfWork, unit_of_work


@dataclass
class Prices:
    """The PriceComputed items the service published, per account (over the harness's probe)."""

    probe: Probe

    def items(self, account: str) -> list[dict[str, Any]]:
        return [
            item
            for data in self.probe.of("PriceComputed", account_id=account)
            for item in data["items"]
        ]

    def skus(self, account: str) -> list[str]:
        return [item["sku"] for item in self.items(account)]

    async def wait_for(self, account: str, count: int, within: float = 30) -> None:
        await self.probe.wait_until(lambda _: len(self.items(account)) >= count, within)


@dataclass
class Service:
    http: httpx.AsyncClient
    probe: Prices
    bus: Bus
    token: str
    database_url: str
    allegro_tokens: StaticTokens
    emulator: EmulatorHandle

    async def publish(self, envelope: Envelope) -> None:
        await self.bus.publish_envelope(envelope, CatalogUpdated.routing_key)

    async def catalog(self, account: str, items: list[CatalogItem]) -> Envelope:
        envelope = catalog_envelope(account, items)
        await self.publish(envelope)
        return envelope


def catalog_envelope(account: str, items: list[CatalogItem]) -> Envelope:
    return envelope_of(CatalogUpdated(account_id=account, items=items), source="catalog")


def item(
    sku: str,
    cost: str,
    revision: int = 1,
    *,
    listed: bool = True,
    brand: str = "Acme",
    category: str = "Home & Garden > Kitchen",
    rrp: str | None = None,
    weight: str = "0.5",
    category_id: str | None = None,
) -> CatalogItem:
    return CatalogItem(
        sku=sku,
        revision=revision,
        listed=listed,
        brand=brand,
        supplier_category=category,
        cost=Money(amount=Decimal(cost), currency="EUR"),
        rrp=Money(amount=Decimal(rrp), currency="EUR") if rrp else None,
        weight_kg=Decimal(weight),
        allegro_category_id=category_id,
        ean="5901234123457",
        title=sku,
    )


RATES = {
    "rates": [
        {"base": "EUR", "quote": "PLN", "rate": "4.30", "source": "test", "as_of": "2026-11-26"},
        {"base": "EUR", "quote": "CZK", "rate": "25.0", "source": "test", "as_of": "2026-11-26"},
        {"base": "EUR", "quote": "HUF", "rate": "390", "source": "test", "as_of": "2026-11-26"},
    ]
}


# The accounts the service knows (auth is not running here): each test makes its own.
ACCOUNTS = StaticAccounts()


def new_account() -> str:
    return ACCOUNTS.add(f"acct-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    handle = start_emulator(catalogue_size=500)
    yield handle
    handle.server.should_exit = True


@pytest.fixture(scope="module")
async def service(
    make_database: MakeDatabase, amqp_url: str, emulator: EmulatorHandle
) -> AsyncIterator[Service]:
    database_url = await make_database("pricing", MIGRATIONS)
    settings = Settings(
        database_url=database_url,
        amqp_url=amqp_url,
        run_migrations=False,
        outbox_poll_interval_seconds=0.2,
        allegro_api_url=emulator.url,
        allegro_auth_url=emulator.url,
        category_poll_seconds=0.2,
    )
    allegro_tokens = StaticTokens({})
    app = create_app(build(settings, allegro_tokens=allegro_tokens, accounts=ACCOUNTS))
    bus = await Bus.open(amqp_url)
    prices = Prices(await bus.probe(PriceComputed.routing_key))
    token = issue_token(settings.service_token_secret.get_secret_value(), "ops", "operator")
    async with running_app(app) as http:
        http.headers["Authorization"] = f"Bearer {token}"
        yield Service(http, prices, bus, token, database_url, allegro_tokens, emulator)
    await bus.close()


MARGIN_40: dict[str, Any] = {
    "strategy": "margin",
    "rules": [{"id": "all", "scope": "price_band", "band": {"min": "0"}, "percentage": "40"}],
    "vat_regime": "origin",
    "shipping": {"free_delivery": False, "bands": []},
}


def fee_table(*rules: dict[str, str]) -> dict[str, Any]:
    """A fee table of these commission rules and no other fee on any marketplace."""
    return {
        "rules": list(rules),
        "marketplaces": {
            m: {"promoted_share": "0", "unit_fee": "0", "extra_rate": "0", "listing_fee": "0"}
            for m in ("allegro-pl", "allegro-cz", "allegro-sk", "allegro-hu")
        },
    }


async def setup_account(svc: Service, rules: dict[str, Any] | None = None) -> str:
    account = new_account()
    assert (await svc.http.put(f"/accounts/{account}/fx-rates", json=RATES)).status_code == 200
    fees = fee_table({"key": "default", "rate": "0"})
    assert (await svc.http.put(f"/accounts/{account}/fee-table", json=fees)).status_code == 200
    response = await svc.http.put(f"/accounts/{account}/rules", json=rules or MARGIN_40)
    assert response.status_code == 200, response.text
    return account


def latest(svc: Service, account: str, sku: str) -> dict[str, Any]:
    return [i for i in svc.probe.items(account) if i["sku"] == sku][-1]


async def test_catalog_updated_in_price_computed_out_with_explanation(service: Service) -> None:
    account = await setup_account(service)
    await service.catalog(account, [item("A", "20.00"), item("B", "8.00")])
    await service.probe.wait_for(account, 2)
    a = latest(service, account, "A")
    assert a["catalog_revision"] == 1
    assert a["rule_id"] == "all"
    # Row 5 of the reference: 20 EUR, margin 40, + 23 % VAT = 34.44 EUR; x 4.30 = 148.09 PLN
    assert a["prices"]["allegro-sk"] == {"amount": "34.44", "currency": "EUR"}
    assert a["prices"]["allegro-pl"] == {"amount": "148.10", "currency": "PLN"}
    assert a["prices"]["allegro-cz"] == {"amount": "861", "currency": "CZK"}
    assert int(a["prices"]["allegro-hu"]["amount"]) % 5 == 0
    explained = await service.http.get(f"/accounts/{account}/prices/A/allegro-pl")
    assert explained.status_code == 200, explained.text
    body = explained.json()
    assert body["amount"] == "148.10" and body["rule_id"] == "all"
    assert [s["step"] for s in body["chain"]] == [
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
    assert body["chain"][6]["rates"][0]["source"] == "test"
    overview = (await service.http.get(f"/accounts/{account}/prices/A")).json()
    assert overview["marketplaces"]["allegro-cz"] == {
        "amount": "861",
        "currency": "CZK",
        "reason": None,
        "rule_id": "all",
        "floor": "615",
    }
    missing = await service.http.get(f"/accounts/{account}/prices/NOPE/allegro-pl")
    assert missing.status_code == 404
    bad = await service.http.get(f"/accounts/{account}/prices/A/allegro-de")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_marketplace"


async def test_price_computed_only_when_a_price_changes_and_never_from_an_older_revision(
    service: Service,
) -> None:
    account = await setup_account(service)
    await service.catalog(account, [item("A", "20.00"), item("B", "8.00")])
    await service.probe.wait_for(account, 2)
    # Same cost at a newer revision (e.g. a title change): no price moves, nothing is sent.
    await service.catalog(account, [item("A", "20.00", revision=2)])
    # An older revision with another cost arrives late: ignored.
    await service.catalog(account, [item("B", "99.00", revision=0)])
    await service.catalog(account, [item("MARK", "5.00")])  # a marker behind both
    await service.probe.wait_for(account, 3)
    assert service.probe.skus(account) == ["A", "B", "MARK"]
    explained = (await service.http.get(f"/accounts/{account}/prices/A/allegro-sk")).json()
    assert explained["catalog_revision"] == 2
    b = (await service.http.get(f"/accounts/{account}/prices/B/allegro-sk")).json()
    assert b["catalog_revision"] == 1 and b["amount"] == "13.78"  # 8 x 1.4 x 1.23
    # A cost change moves the price: sent, with the revision it priced.
    await service.catalog(account, [item("A", "30.00", revision=3)])
    await service.probe.wait_for(account, 4)
    a = latest(service, account, "A")
    assert a["catalog_revision"] == 3 and a["prices"]["allegro-sk"]["amount"] == "51.66"
    # Leaving the selection withdraws the price (offers ends the offer on CatalogUpdated).
    await service.catalog(account, [item("B", "8.00", revision=5, listed=False)])
    await service.catalog(account, [item("MARK2", "5.00")])
    await service.probe.wait_for(account, 5)
    gone = await service.http.get(f"/accounts/{account}/prices/B/allegro-sk")
    assert gone.status_code == 404


async def test_a_redelivered_message_is_priced_once(service: Service) -> None:
    account = await setup_account(service)
    envelope = catalog_envelope(account, [item("A", "20.00")])
    await service.publish(envelope)
    await service.publish(envelope)
    await service.catalog(account, [item("MARK", "5.00")])
    await service.probe.wait_for(account, 2)
    await asyncio.sleep(0.3)
    assert sorted(service.probe.skus(account)) == ["A", "MARK"]
    engine = create_engine(service.database_url)
    async with engine.connect() as conn:
        count = await conn.scalar(
            sa.text("SELECT count(*) FROM inbox WHERE message_id = :id"), {"id": envelope.id}
        )
    await engine.dispose()
    assert count == 1


async def test_a_saved_rule_change_recomputes_the_whole_selection(service: Service) -> None:
    account = await setup_account(service)
    await service.catalog(account, [item(f"S{i}", f"{10 + i}.00") for i in range(12)])
    await service.probe.wait_for(account, 12)
    rules = {**MARGIN_40, "rules": [{**MARGIN_40["rules"][0], "percentage": "45"}]}
    response = await service.http.put(f"/accounts/{account}/rules", json=rules)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "active" and body["run"]["changed_products"] == 12
    await service.probe.wait_for(account, 24)
    s0 = latest(service, account, "S0")
    assert s0["prices"]["allegro-sk"]["amount"] == "17.84"  # 10 x 1.45 = 14.50 x 1.23
    current = (await service.http.get(f"/accounts/{account}/rules")).json()
    assert current["version"] == body["version"]
    assert current["rules"]["rules"][0]["percentage"] == "45"
    # An unchanged save recomputes but sends nothing.
    again = (await service.http.put(f"/accounts/{account}/rules", json=rules)).json()
    assert again["run"]["changed_products"] == 0 and again["run"]["events"] == 0


async def test_circuit_breaker_holds_a_big_move_until_confirmed(service: Service) -> None:
    account = await setup_account(service)
    await service.catalog(account, [item(f"S{i}", "10.00") for i in range(30)])
    await service.probe.wait_for(account, 30)
    doubled = {**MARGIN_40, "rules": [{**MARGIN_40["rules"][0], "percentage": "200"}]}
    held = await service.http.put(f"/accounts/{account}/rules", json=doubled)
    assert held.status_code == 200, held.text
    body = held.json()
    assert body["status"] == "pending" and body["run"]["status"] == "held"
    assert body["run"]["big_moves"] == 120
    hold_id = body["run"]["hold_id"]
    holds = (await service.http.get(f"/accounts/{account}/holds")).json()["items"]
    assert [h["id"] for h in holds] == [hold_id]
    assert holds[0]["kind"] == "rules" and holds[0]["stats"]["changed"] == 120
    # Nothing moved: the old rules still price, nothing was sent.
    rules_now = (await service.http.get(f"/accounts/{account}/rules")).json()
    assert rules_now["rules"]["rules"][0]["percentage"] == "40"
    assert rules_now["pending_versions"] == [body["version"]]
    sk = (await service.http.get(f"/accounts/{account}/prices/S0/allegro-sk")).json()
    assert sk["amount"] == "17.22"
    # The operator confirms: the rules activate and the prices go out.
    confirmed = await service.http.post(f"/accounts/{account}/holds/{hold_id}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["run"]["changed_products"] == 30
    await service.probe.wait_for(account, 60)
    assert latest(service, account, "S0")["prices"]["allegro-sk"]["amount"] == "36.90"
    assert (await service.http.get(f"/accounts/{account}/rules")).json()["version"] == body[
        "version"
    ]
    again = await service.http.post(f"/accounts/{account}/holds/{hold_id}/confirm")
    assert again.status_code == 409
    # A second big move, rejected: the rules and prices stay.
    halved = {**MARGIN_40, "rules": [{**MARGIN_40["rules"][0], "percentage": "0"}]}
    second = (await service.http.put(f"/accounts/{account}/rules", json=halved)).json()
    assert second["status"] == "pending"
    rejected = await service.http.post(
        f"/accounts/{account}/holds/{second['run']['hold_id']}/reject"
    )
    assert rejected.status_code == 200
    versions = (await service.http.get(f"/accounts/{account}/rules/versions")).json()["items"]
    assert versions[0]["status"] == "rejected"
    assert (await service.http.get(f"/accounts/{account}/rules")).json()["version"] == body[
        "version"
    ]


async def test_a_catalogue_batch_that_moves_too_much_is_held(service: Service) -> None:
    account = await setup_account(service)
    await service.catalog(account, [item(f"S{i}", "10.00") for i in range(25)])
    await service.probe.wait_for(account, 25)
    await service.catalog(account, [item(f"S{i}", "100.00", revision=2) for i in range(25)])

    async def held() -> bool:
        return bool((await service.http.get(f"/accounts/{account}/holds")).json()["items"])

    await wait_until(held, within=20)
    [hold] = (await service.http.get(f"/accounts/{account}/holds")).json()["items"]
    assert hold["kind"] == "catalog" and hold["skus"] == 25
    assert len(service.probe.items(account)) == 25
    confirmed = await service.http.post(f"/accounts/{account}/holds/{hold['id']}/confirm")
    assert confirmed.status_code == 200
    await service.probe.wait_for(account, 50)
    s0 = latest(service, account, "S0")
    assert s0["catalog_revision"] == 2 and s0["prices"]["allegro-sk"]["amount"] == "172.20"


async def test_simulation_previews_without_saving(service: Service) -> None:
    account = await setup_account(service)
    await service.catalog(
        account,
        [item(f"S{i}", "10.00") for i in range(10)] + [item("CHEAP", "10.00", rrp="5.00")],
    )
    await service.probe.wait_for(account, 11)
    draft = {
        **MARGIN_40,
        "fallback": "rrp",
        "rules": [
            {"id": f"p{i}", "scope": "product", "value": f"S{i}", "percentage": "50"}
            for i in range(5)
        ],
    }
    response = await service.http.post(f"/accounts/{account}/simulations", json={"rules": draft})
    assert response.status_code == 200, response.text
    sim = response.json()
    assert sim["products"] == 11
    # S0-S4 move up 7 % (40 % -> 50 %); S5-S9 fall back to an RRP they do not have; CHEAP's
    # RRP is below its break-even.
    assert sim["distribution"]["5% .. 10%"] == 5 * 4
    assert sim["unpriced"] == {"missing_rrp": 5 * 4, "below_floor": 4}
    assert {b["sku"] for b in sim["below_floor"]} == {"CHEAP"}
    assert sim["newly_unpriced"] == 6 * 4
    # Nothing saved, nothing sent.
    assert (await service.http.get(f"/accounts/{account}/rules")).json()["rules"]["rules"][0][
        "id"
    ] == "all"
    await asyncio.sleep(0.3)
    assert len(service.probe.items(account)) == 11
    sample = await service.http.post(
        f"/accounts/{account}/simulations", json={"rules": draft, "sample": 3}
    )
    assert sample.json()["products"] == 3


# --- the operator API: clear 422s, roles, fee table, FX feed -----------------------------------


async def error_of(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_bad_rules_are_refused_with_clear_codes(service: Service) -> None:
    account = new_account()
    url = f"/accounts/{account}/rules"
    brand = {"scope": "brand", "value": "X"}
    cases = [
        ({"rules": [{**brand, "percentage": "-1"}]}, "negative_percentage"),
        (
            {"strategy": "profit", "rules": [{**brand, "percentage": "100"}]},
            "profit_percentage_too_high",
        ),
        (
            {"strategy": "profit", "rules": [{**brand, "percentage": "120"}]},
            "profit_percentage_too_high",
        ),
        (
            {"rules": [{**brand, "fixed_amount": {"amount": "2", "currency": "ABC"}}]},
            "unknown_currency",
        ),
        (
            {"rules": [{**brand, "percentage": "5", "marketplace": "allegro-de"}]},
            "unknown_marketplace",
        ),
        ({"rounding": {"HUF": {"ending": "7"}}}, "invalid_rounding"),
    ]
    for document, code in cases:
        response = await service.http.put(url, json=document)
        assert await error_of(response) == (422, code), response.text
        assert response.json()["error"]["details"][0]["code"] == code
    added = await service.http.post(f"{url}/items", json={**brand, "percentage": "-3"})
    assert await error_of(added) == (422, "negative_percentage")
    assert (await service.http.get(url)).json()["version"] is None  # nothing was saved
    sim = await service.http.post(
        f"/accounts/{account}/simulations",
        json={"rules": {"strategy": "profit", "rules": [{**brand, "percentage": "100"}]}},
    )
    assert await error_of(sim) == (422, "profit_percentage_too_high")


async def test_rules_crud_by_rule(service: Service) -> None:
    account = await setup_account(service)
    url = f"/accounts/{account}/rules"
    added = await service.http.post(
        f"{url}/items", json={"id": "sony", "scope": "brand", "value": "Sony", "percentage": "10"}
    )
    assert added.status_code == 200, added.text
    ids = [r["id"] for r in (await service.http.get(url)).json()["rules"]["rules"]]
    assert ids == ["all", "sony"]
    assert (await service.http.delete(f"{url}/items/sony")).status_code == 200
    ids = [r["id"] for r in (await service.http.get(url)).json()["rules"]["rules"]]
    assert ids == ["all"]
    assert (await service.http.delete(f"{url}/items/sony")).status_code == 404


async def test_fx_rates_unknown_currency_and_feed_import(service: Service) -> None:
    account = new_account()
    url = f"/accounts/{account}/fx-rates"
    bad = {
        "rates": [
            {"base": "EUR", "quote": "XYZ", "rate": "1", "source": "s", "as_of": "2026-11-26"}
        ]
    }
    assert await error_of(await service.http.put(url, json=bad)) == (422, "unknown_currency")
    negative = {
        "rates": [
            {"base": "EUR", "quote": "PLN", "rate": "-4", "source": "s", "as_of": "2026-11-26"}
        ]
    }
    assert await error_of(await service.http.put(url, json=negative)) == (
        422,
        "non_positive_rate",
    )
    feed = "base,quote,rate,as_of\nEUR,PLN,4.2875,2026-11-26\nEUR,QQQ,1,2026-11-26\nEUR,CZK,x,y\n"
    imported = await service.http.post(
        f"{url}/import", params={"source": "ECB eurofxref"}, content=feed.encode()
    )
    assert imported.status_code == 200, imported.text
    body = imported.json()
    assert body["saved"] == 1
    assert [(r["line"], r["code"]) for r in body["rejected"]] == [
        (3, "unknown_currency"),
        (4, "unreadable_row"),
    ]
    rates = (await service.http.get(url)).json()
    assert rates["next"] is None
    assert rates["items"] == [
        {
            "base": "EUR",
            "quote": "PLN",
            "rate": "4.2875",
            "source": "ECB eurofxref",
            "as_of": "2026-11-26",
        }
    ]
    none = await service.http.post(f"{url}/import", content=b"garbage\n")
    assert await error_of(none) == (422, "no_valid_rates")


async def test_fee_table_defaults_update_and_validation(service: Service) -> None:
    account = new_account()
    url = f"/accounts/{account}/fee-table"
    table = (await service.http.get(url)).json()
    assert table["source"] == "table:default" and table["currency"] == "PLN"
    laptops = next(r for r in table["rules"] if r["key"] == "4231")
    assert (laptops["rate"], laptops["threshold"], laptops["fixed_above"]) == ("0.03", "2000", "60")
    assert table["marketplaces"]["allegro-pl"]["listing_threshold"] == "10000"
    assert table["marketplaces"]["allegro-hu"]["extra_rate"] == "0.045"
    # Unmapped products pay the highest rate of the table: "Other"'s 17 %, the top minimum.
    assert (table["assumed"]["rate"], table["assumed"]["minimum"]) == ("0.17", "1.00")
    bad = await service.http.put(url, json={"rules": [{"key": "x", "rate": "-0.1"}]})
    assert await error_of(bad) == (422, "invalid_rate")
    unknown = await service.http.put(url, json={"marketplaces": {"allegro-xx": {}}})
    assert await error_of(unknown) == (422, "unknown_marketplace")
    table["rules"].append({"key": "1521", "label": "garden tools by id", "rate": "0.02"})
    saved = await service.http.put(url, json=table)
    assert saved.status_code == 200, saved.text
    keys = [r["key"] for r in (await service.http.get(url)).json()["rules"]]
    assert "1521" in keys
    twice = await service.http.put(url, json=table)
    assert twice.status_code == 200
    table["rules"].append({"key": "1521", "rate": "0.03"})
    assert await error_of(await service.http.put(url, json=table)) == (422, "duplicate_key")


async def test_roles_are_enforced(service: Service) -> None:
    account = new_account()
    anonymous = await service.http.get(f"/accounts/{account}/rules", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    viewer = issue_token(Settings().service_token_secret.get_secret_value(), "someone", "viewer")
    headers = {"Authorization": f"Bearer {viewer}"}
    assert (
        await service.http.get(f"/accounts/{account}/rules", headers=headers)
    ).status_code == 200
    put = await service.http.put(f"/accounts/{account}/rules", json={}, headers=headers)
    assert put.status_code == 403


async def test_a_rate_change_recomputes_and_old_explanations_keep_their_context(
    service: Service,
) -> None:
    account = await setup_account(service)
    await service.catalog(account, [item("A", "20.00")])
    await service.probe.wait_for(account, 1)
    before = (await service.http.get(f"/accounts/{account}/prices/A/allegro-pl")).json()
    assert before["amount"] == "148.10"
    rates = {
        "rates": [
            {
                "base": "EUR",
                "quote": "PLN",
                "rate": "4.50",
                "source": "NBP table",
                "as_of": "2026-11-27",
            }
        ]
    }
    response = await service.http.put(f"/accounts/{account}/fx-rates", json=rates)
    assert response.status_code == 200, response.text
    assert response.json()["run"]["kind"] == "fx"
    await service.probe.wait_for(account, 2)
    a = latest(service, account, "A")
    assert a["prices"]["allegro-pl"]["amount"] == "154.98"  # 34.44 x 4.50
    assert a["prices"]["allegro-sk"]["amount"] == "34.44"  # EUR: unchanged
    after = (await service.http.get(f"/accounts/{account}/prices/A/allegro-pl")).json()
    fx = next(s for s in after["chain"] if s["step"] == "fx")
    assert fx["rates"][0] == {
        "pair": "EUR/PLN",
        "rate": "4.50",
        "source": "NBP table",
        "as_of": "2026-11-27",
    }
    assert after["context_id"] != before["context_id"]
    # A fee table change recomputes too; the explanation names the account's table.
    fees = {"rules": [{"key": "default", "rate": "0.10"}]}
    assert (await service.http.put(f"/accounts/{account}/fee-table", json=fees)).status_code == 200
    await service.probe.wait_for(account, 3)
    commission = next(
        s
        for s in (await service.http.get(f"/accounts/{account}/prices/A/allegro-sk")).json()[
            "chain"
        ]
        if s["step"] == "commission"
    )
    assert commission["fee_source"] == "table:account" and commission["commission"] != "0.00"


# --- fee-preview calibration against the Allegro emulator -------------------------------------


async def test_fee_preview_calibration_samples_each_category_and_reprices(
    service: Service,
) -> None:
    account = await setup_account(service)
    seller = service.emulator.new_seller()
    service.allegro_tokens.tokens[account] = service.emulator.token_for(seller["login"])[
        "access_token"
    ]
    await service.catalog(
        account,
        [
            item("LAPTOP", "450.00", category_id="4231"),
            item("LAPTOP2", "900.00", category_id="4231"),
            item("RAKE", "10.00", category_id="1521"),
        ],
    )
    await service.probe.wait_for(account, 3)
    before = latest(service, account, "LAPTOP")["prices"]["allegro-pl"]["amount"]
    response = await service.http.post(f"/accounts/{account}/fee-table/calibrate", json={})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["calibrated"] == ["4231", "1521"] and body["failed"] == []
    assert body["run"]["changed_products"] == 3
    table = (await service.http.get(f"/accounts/{account}/fee-table")).json()
    laptops = next(r for r in table["rules"] if r["key"] == "4231")
    assert laptops["label"].startswith("fee-preview ") and len(laptops["points"]) == 10
    # The emulator's laptop formula: 3 % up to 2,000 PLN, then 60 + 1.5 %.
    assert dict(map(tuple, laptops["points"]))["1000"] == "30.00"
    await service.probe.wait_for(account, 6)
    price = Decimal(latest(service, account, "LAPTOP")["prices"]["allegro-pl"]["amount"])
    assert price != Decimal(before)
    explained = (await service.http.get(f"/accounts/{account}/prices/LAPTOP/allegro-pl")).json()
    step = next(s for s in explained["chain"] if s["step"] == "commission")
    assert step["fee_rule"] == "4231" and step["fee_source"].startswith("preview@")
    # What Allegro charges at the published price leaves the seller the gross it aimed at.
    async with httpx.AsyncClient(base_url=service.emulator.url) as allegro:
        preview = await allegro.post(
            "/pricing/offer-fee-preview",
            json={
                "offer": {
                    "name": "check",
                    "category": {"id": "4231"},
                    "sellingMode": {"price": {"amount": str(price), "currency": "PLN"}},
                },
                "marketplaceId": "allegro-pl",
            },
            headers={
                "Authorization": f"Bearer {service.allegro_tokens.tokens[account]}",
                "Accept": "application/vnd.allegro.public.v1+json",
                "Content-Type": "application/vnd.allegro.public.v1+json",
            },
        )
    assert preview.status_code == 200, preview.text
    charged = sum(
        Decimal(c["fee"]["amount"])
        for c in preview.json()["commissions"]
        if c["type"] == "commissionFee"
    )
    gross_pln = Decimal("450") * Decimal("1.4") * Decimal("1.23") * Decimal("4.30")
    assert abs(price - charged - gross_pln) < Decimal("0.05")


async def test_calibration_needs_a_connected_account_and_categories(service: Service) -> None:
    account = await setup_account(service)
    url = f"/accounts/{account}/fee-table/calibrate"
    nothing = await service.http.post(url, json={})
    assert nothing.status_code == 422 and nothing.json()["error"]["code"] == "no_categories"
    await service.catalog(account, [item("LAPTOP", "450.00", category_id="4231")])
    await service.probe.wait_for(account, 1)
    refused = await service.http.post(url, json={})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "account_unavailable"
    bad = await service.http.post(url, json={"prices": ["-1", "10"]})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_prices"


async def test_an_older_rule_version_never_overwrites_a_newer_price_at_the_same_revision(
    service: Service,
) -> None:
    account = new_account()
    engine = create_engine(service.database_url)
    context = uuid.uuid4()

    async def save(rule_version: int, revision: int, amount: str) -> None:
        async with engine.begin() as conn:
            row = ("S", revision, f'{{"allegro-sk": "{amount}"}}'.encode(), b"{}", b"{}")
            await PricingRepository(conn).save_prices(account, rule_version, context, [row])

    async def stored() -> str:
        async with engine.connect() as conn:
            stored = await PricingRepository(conn).stored_prices(account, ["S"])
            return stored["S"].prices["allegro-sk"]

    try:
        await save(rule_version=2, revision=5, amount="10.00")
        await save(rule_version=1, revision=5, amount="9.00")  # a late batch of older rules
        assert await stored() == "10.00"
        await save(rule_version=2, revision=4, amount="8.00")  # an older catalogue revision
        assert await stored() == "10.00"
        await save(rule_version=1, revision=6, amount="11.00")  # a newer revision wins
        assert await stored() == "11.00"
    finally:
        await engine.dispose()


HIGHER_MARGIN = {**MARGIN_40, "rules": [{**MARGIN_40["rules"][0], "percentage": "60"}]}
DEARER_EURO = [FxRate.from_dict({**r, "rate": "4.50"}) for r in RATES["rates"][:1]]
HIGHER_FEES = fee_table({"key": "default", "rate": "0.10"})
# Each change of a pricing input, as its operator command makes it: (uow, account) -> run.
INPUT_CHANGES: dict[str, Callable[[UnitOfWork, str], Awaitable[dict[str, Any]]]] = {
    "rules": lambda uow, a: handlers.save_rules(c.SaveRules(a, HIGHER_MARGIN, "ops"), uow),
    "fx": lambda uow, a: handlers.set_fx_rates(c.SetFxRates(a, DEARER_EURO, "ops"), uow),
    "fees": lambda uow, a: handlers.set_fee_table(c.SetFeeTable(a, HIGHER_FEES, "ops"), uow),
}


async def changes_made_by_a_recompute(engine: AsyncEngine, account: str) -> int:
    """Prices a full recompute now would change: 0 when every stored price stands on the
    current inputs."""
    async with unit_of_work(engine, "pricing") as uow:
        run = await handlers.recompute(uow, account, "check", "test", force=True)
    return run.stats.changed


@pytest.mark.parametrize("change", INPUT_CHANGES)
async def test_a_catalogue_batch_racing_a_pricing_input_change_is_priced_with_the_new_input(
    service: Service, change: str
) -> None:
    """A CatalogUpdated handled while rules, fees or FX rates are being changed (the change
    reprices the item's older revision) ends priced with the new input, not the old one."""
    account = await setup_account(service)
    await service.catalog(account, [item("S", "10.00")])
    await service.probe.wait_for(account, 1)
    engine = create_engine(service.database_url)
    saved, release = asyncio.Event(), asyncio.Event()

    async def change_and_wait() -> dict[str, Any]:
        async with unit_of_work(engine, "pricing") as uow:
            found = await INPUT_CHANGES[change](uow, account)
            saved.set()
            await release.wait()  # the change not committed yet
        return found

    async def newer_revision() -> None:
        async with unit_of_work(engine, "pricing") as uow:
            newer = CatalogUpdated(account_id=account, items=[item("S", "10.00", revision=2)])
            await handlers.catalog_updated(newer, uow)

    async def waits_on_a_lock() -> bool:
        return await lock_waits(engine) > 0

    try:
        changing = asyncio.create_task(change_and_wait())
        await saved.wait()
        pricing = asyncio.create_task(newer_revision())
        await wait_until(waits_on_a_lock, within=30)
        release.set()
        assert (await changing)["run"]["status"] == "applied"
        await pricing
        async with engine.connect() as conn:
            revision = await conn.scalar(
                sa.text("SELECT catalog_revision FROM prices WHERE account_id = :a AND sku = 'S'"),
                {"a": account},
            )
        assert revision == 2
        assert await changes_made_by_a_recompute(engine, account) == 0
    finally:
        release.set()
        await engine.dispose()


async def test_a_category_repricing_racing_a_catalogue_batch_prices_the_newer_revision(
    service: Service,
) -> None:
    """Allegro's chain of a category becomes known while a CatalogUpdated of one of its
    products (priced with the old, unknown chain) is not committed: the category repricing
    waits for it and reprices the newer revision with the chain."""
    account = await setup_account(service)
    fees = fee_table({"key": "default", "rate": "0"}, {"key": "77001", "rate": "0.10"})
    assert (await service.http.put(f"/accounts/{account}/fee-table", json=fees)).status_code == 200
    await service.catalog(account, [item("S", "10.00", category_id="77003")])
    await service.probe.wait_for(account, 1)
    engine = create_engine(service.database_url)
    priced, release = asyncio.Event(), asyncio.Event()
    chain = [CategoryRow("77003", "77001", "Leaf", True), CategoryRow("77001", None, "Top", False)]

    async def newer_revision_held_open() -> None:
        async with unit_of_work(engine, "pricing") as uow:
            newer = item("S", "10.00", revision=2, category_id="77003")
            await handlers.catalog_updated(CatalogUpdated(account_id=account, items=[newer]), uow)
            priced.set()
            await release.wait()

    async def reprice_with_the_chain() -> None:
        async with unit_of_work(engine, "pricing") as uow:
            await handlers.save_categories(c.SaveCategories(chain, ["77003"]), uow)
        async with unit_of_work(engine, "pricing") as uow:
            await handlers.reprice_categories(c.RepriceCategories(account, ["77003"]), uow)

    async def waits_on_a_lock() -> bool:
        return await lock_waits(engine) > 0

    try:
        batch = asyncio.create_task(newer_revision_held_open())
        await priced.wait()
        repricing = asyncio.create_task(reprice_with_the_chain())
        await wait_until(waits_on_a_lock, within=30)
        release.set()
        await batch
        await repricing
        explained = (await service.http.get(f"/accounts/{account}/prices/S/allegro-pl")).json()
        step = next(s for s in explained["chain"] if s["step"] == "commission")
        assert explained["catalog_revision"] == 2
        assert step["fee_rule"] == "77001" and step["assumed_fee"] is False
        assert await changes_made_by_a_recompute(engine, account) == 0
    finally:
        release.set()
        await engine.dispose()


async def test_a_newer_rule_save_supersedes_a_held_one(service: Service) -> None:
    account = await setup_account(service)
    await service.catalog(account, [item(f"S{i}", "10.00") for i in range(10)])
    await service.probe.wait_for(account, 10)
    tripled = {**MARGIN_40, "rules": [{**MARGIN_40["rules"][0], "percentage": "300"}]}
    held = (await service.http.put(f"/accounts/{account}/rules", json=tripled)).json()
    assert held["status"] == "pending"
    nudged = {**MARGIN_40, "rules": [{**MARGIN_40["rules"][0], "percentage": "41"}]}
    applied = (await service.http.put(f"/accounts/{account}/rules", json=nudged)).json()
    assert applied["status"] == "active"
    holds = (await service.http.get(f"/accounts/{account}/holds", params={"status": ""})).json()[
        "items"
    ]
    assert [(h["id"], h["status"]) for h in holds] == [(held["run"]["hold_id"], "superseded")]
    late = await service.http.post(f"/accounts/{account}/holds/{held['run']['hold_id']}/confirm")
    assert late.status_code == 409
    versions = {
        v["version"]: v["status"]
        for v in (await service.http.get(f"/accounts/{account}/rules/versions")).json()["items"]
    }
    assert versions[held["version"]] == "superseded"
    assert versions[applied["version"]] == "active"


async def test_lists_page_by_cursor(service: Service) -> None:
    account = await setup_account(service)
    for percentage in ("41", "42"):
        rules = {**MARGIN_40, "rules": [{**MARGIN_40["rules"][0], "percentage": percentage}]}
        assert (await service.http.put(f"/accounts/{account}/rules", json=rules)).is_success
    url = f"/accounts/{account}/rules/versions"
    everything = (await service.http.get(url)).json()
    assert everything["next"] is None and len(everything["items"]) == 3
    paged: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = (await service.http.get(url, params=params)).json()
        paged += [v["version"] for v in page["items"]]
        if page["next"] is None:
            break
        params["after"] = page["next"]
    assert paged == [v["version"] for v in everything["items"]]
    assert paged == sorted(paged, reverse=True)
    assert await error_of(await service.http.get(url, params={"after": "x"})) == (
        422,
        "invalid_cursor",
    )
    holds = f"/accounts/{account}/holds"
    assert await error_of(await service.http.get(holds, params={"after": "x"})) == (
        422,
        "invalid_cursor",
    )
    rates = (await service.http.get(f"/accounts/{account}/fx-rates", params={"limit": 2})).json()
    assert len(rates["items"]) == 2 and rates["next"] == "EUR/HUF"
    rest = (
        await service.http.get(f"/accounts/{account}/fx-rates", params={"after": rates["next"]})
    ).json()
    assert [(r["base"], r["quote"]) for r in rest["items"]] == [("EUR", "PLN")]


# --- commission from the Allegro category (issue 11) -----------------------------------------


async def connected_account(svc: Service) -> str:
    """An account with the test rates, margin 40 % (PL VAT everywhere), the default fee table
    and an Allegro token (the emulator's) for reading categories and fee-preview."""
    account = new_account()
    assert (await svc.http.put(f"/accounts/{account}/fx-rates", json=RATES)).status_code == 200
    response = await svc.http.put(f"/accounts/{account}/rules", json=MARGIN_40)
    assert response.status_code == 200, response.text
    seller = svc.emulator.new_seller()
    svc.allegro_tokens.tokens[account] = svc.emulator.token_for(seller["login"])["access_token"]
    return account


async def price_of(svc: Service, account: str, sku: str) -> str | None:
    items = [i for i in svc.probe.items(account) if i["sku"] == sku]
    return items[-1]["prices"]["allegro-pl"]["amount"] if items else None


async def test_the_commission_follows_the_allegro_category_chain(service: Service) -> None:
    """A garden tool mapped to Allegro's 1521 (Narzędzia ogrodowe < Ogród < Dom i Ogród) pays
    Home & Garden's 10 % once the worker has read the chain from Allegro: 164.55 PLN (see
    test_domain: 34.44 EUR / 0.90 x 4.30); the unmapped one pays the assumed 17 %: 178.43."""
    account = await connected_account(service)
    await service.catalog(
        account, [item("RAKE", "20.00", category_id="1521"), item("LOOSE", "20.00")]
    )

    async def repriced() -> bool:
        return await price_of(service, account, "RAKE") == "164.55"

    await wait_until(repriced, within=30)
    assert await price_of(service, account, "LOOSE") == "178.43"
    explained = (await service.http.get(f"/accounts/{account}/prices/RAKE/allegro-pl")).json()
    step = next(s for s in explained["chain"] if s["step"] == "commission")
    assert step["fee_rule"] == "5" and step["matched_by"] == "allegro_group"
    assert step["assumed_fee"] is False and step["fee_source"] == "table:default"
    assert step["category_chain"] == [
        {"id": "5", "name": "Dom i Ogród"},
        {"id": "1520", "name": "Ogród"},
        {"id": "1521", "name": "Narzędzia ogrodowe"},
    ]
    loose = (await service.http.get(f"/accounts/{account}/prices/LOOSE/allegro-pl")).json()
    step = next(s for s in loose["chain"] if s["step"] == "commission")
    assert step["assumed_fee"] is True and step["allegro_category_id"] is None
    # The chains are cached: an operator can have them read again.
    refreshed = await service.http.post(f"/accounts/{account}/fee-table/categories/refresh")
    assert refreshed.status_code == 200 and refreshed.json()["expired"] == 3
    async with create_engine(service.database_url).connect() as db:

        async def read_again() -> bool:
            stale = await db.scalar(
                sa.text(
                    "SELECT count(*) FROM allegro_categories"
                    " WHERE id IN ('1521', '1520', '5') AND fetched_at = '-infinity'"
                )
            )
            await db.rollback()
            return bool(stale == 0)

        await wait_until(read_again, within=30)


async def test_the_calibration_check_reports_each_group_and_flags_disagreements(
    service: Service,
) -> None:
    account = await connected_account(service)
    await service.catalog(account, [item("RAKE", "20.00", category_id="1521")])

    async def repriced() -> bool:
        return await price_of(service, account, "RAKE") == "164.55"

    await wait_until(repriced, within=30)
    url = f"/accounts/{account}/fee-table/calibration-check"
    response = await service.http.post(url, json={})
    assert response.status_code == 200, response.text
    report = response.json()
    groups = {g["group"]: g for g in report["groups"]}
    home = groups["5"]
    assert (home["status"], home["sample_category_id"], home["sample_from"]) == (
        "agrees",
        "1521",
        "selection",
    )
    assert home["samples"] == [
        {"price": "100", "ours": "10.00", "allegro": "10.00", "agrees": True},
        {"price": "2500", "ours": "250.00", "allegro": "250.00", "agrees": True},
    ]
    # No product in the group: a leaf found down Allegro's tree stands for it.
    sports = groups["3919"]
    assert (sports["status"], sports["sample_category_id"], sports["sample_from"]) == (
        "agrees",
        "3921",
        "allegro_tree",
    )
    laptops = groups["4231"]
    assert laptops["status"] == "agrees"
    assert laptops["samples"][1] == {  # 60 + 1.5 % x 500
        "price": "2500",
        "ours": "67.50",
        "allegro": "67.50",
        "agrees": True,
    }
    # Phones: every leaf under 4226 has a deeper row, so nothing stands for the group itself.
    assert groups["4226"]["status"] == "no_sample"
    assert report["summary"]["disagree"] == []
    assert report["summary"]["agree"] == 10

    # The operator's table now disagrees with Allegro on Home & Garden, and names a category
    # Allegro does not have.
    table = (await service.http.get(f"/accounts/{account}/fee-table")).json()
    for row in table["rules"]:
        if row["key"] == "5":
            row["rate"] = "0.12"
    table["rules"].append({"key": "987654", "label": "a typo", "rate": "0.05"})
    assert (await service.http.put(f"/accounts/{account}/fee-table", json=table)).status_code == 200
    report = (await service.http.post(url, json={"prices": ["100"]})).json()
    groups = {g["group"]: g for g in report["groups"]}
    assert groups["5"]["status"] == "disagrees"
    assert groups["5"]["samples"] == [
        {"price": "100", "ours": "12.00", "allegro": "10.00", "agrees": False}
    ]
    assert groups["987654"]["status"] == "unknown_category"
    assert report["summary"]["disagree"] == ["5"]
    assert "987654" in report["summary"]["not_checked"]

    bad = await service.http.post(url, json={"prices": ["0"]})
    assert await error_of(bad) == (422, "invalid_prices")
    stranger = new_account()  # no token: Allegro's tree cannot be read for it
    refused = await service.http.post(f"/accounts/{stranger}/fee-table/calibration-check", json={})
    assert await error_of(refused) == (409, "account_unavailable")


async def test_a_marketplaces_own_category_is_stored_resolved_and_priced(service: Service) -> None:
    """allegro_category_ids overrides the category on allegro-sk: a helmet (3921, under
    Sport i turystyka, 11 %) there, a garden tool (1521, Dom i Ogród, 10 %) elsewhere.

    allegro-sk: 20 EUR x 1.4 x 1.23 = 34.44 EUR / 0.89 = 38.6966 -> 38.70 EUR.
    allegro-pl: 34.44 / 0.90 x 4.30 = 164.55 PLN.
    """
    account = await connected_account(service)
    odd = item("ODD", "20.00", category_id="1521").model_copy(
        update={"allegro_category_ids": {"allegro-sk": "3921"}}
    )
    await service.catalog(account, [odd])

    async def repriced() -> bool:
        items = [i for i in service.probe.items(account) if i["sku"] == "ODD"]
        return bool(items) and items[-1]["prices"]["allegro-sk"]["amount"] == "38.70"

    await wait_until(repriced, within=30)
    assert await price_of(service, account, "ODD") == "164.55"
    sk = (await service.http.get(f"/accounts/{account}/prices/ODD/allegro-sk")).json()
    step = next(s for s in sk["chain"] if s["step"] == "commission")
    assert (step["fee_rule"], step["allegro_category_id"]) == ("3919", "3921")
    assert [c["id"] for c in step["category_chain"]] == ["3919", "3920", "3921"]


async def test_one_accounts_token_resolves_a_category_for_every_account(service: Service) -> None:
    """Allegro has one category tree: an account without a token (it is skipped) gets its
    products repriced once another account's token has read the chain of their category
    (1523 Grille i akcesoria < Ogród < Dom i Ogród: 10 %, 164.55 PLN as in test_domain)."""
    without = await setup_account(service, MARGIN_40)
    fees = {"rules": [{"key": "default", "rate": "0.17"}, {"key": "5", "rate": "0.10"}]}
    put = await service.http.put(f"/accounts/{without}/fee-table", json=fees)
    assert put.status_code == 200, put.text
    await service.catalog(without, [item("GRILL", "20.00", category_id="1523")])
    await service.probe.wait_for(without, 1)
    # Nobody could read 1523's chain yet: the assumed (highest) commission, 17 %.
    assert await price_of(service, without, "GRILL") == "178.43"
    with_token = await connected_account(service)
    await service.catalog(with_token, [item("GRILL", "20.00", category_id="1523")])

    async def both_repriced() -> bool:
        return (
            await price_of(service, without, "GRILL") == "164.55"
            and await price_of(service, with_token, "GRILL") == "164.55"
        )

    await wait_until(both_repriced, within=30)
