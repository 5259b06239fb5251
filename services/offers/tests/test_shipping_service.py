"""Shipping price lists over HTTP: the offers service on a throw-away PostgreSQL database, Allegro
the emulator over real HTTP. Every test uses its own emulator seller and account.

Configured (PUT) and refused with a code per problem; applied: each list created once, reused,
updated in place, found by its name when our row was lost; the list of a weight (band
boundaries); the readiness items.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from mci_testing.app import running_app
from mci_testing.emulator import EmulatorHandle, start_emulator
from mci_testing.fixtures import MakeDatabase
from offers.main import MIGRATIONS, build
from offers.settings import Settings
from offers.shipping import price_list_for, shipping_readiness
from shared.accounts import StaticAccounts
from shared.allegro.tokens import StaticTokens
from shared.db import create_engine
from shared.security import issue_token
from shared.service import create_app

ALLEGRO_HEADERS = {
    "Accept": "application/vnd.allegro.public.v1+json",
    "Content-Type": "application/vnd.allegro.public.v1+json",
}


@dataclass
class Seller:
    account: str
    token: str  # the seller's Allegro token, to look at Allegro as the seller

    def allegro(self, emulator: EmulatorHandle) -> httpx.Client:
        headers = {**ALLEGRO_HEADERS, "Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=emulator.url, headers=headers, timeout=30)


@dataclass
class Service:
    http: httpx.AsyncClient
    viewer: dict[str, str]
    emulator: EmulatorHandle
    tokens: StaticTokens
    accounts: StaticAccounts
    database_url: str

    def seller(self) -> Seller:
        """A new emulator seller (with its `default` list) and its account here."""
        login = self.emulator.new_seller()["login"]
        token = self.emulator.token_for(login)["access_token"]
        account = self.accounts.add(f"acct-{uuid.uuid4().hex[:8]}")
        self.tokens.tokens[account] = token
        return Seller(account, token)

    def lists_on_allegro(self, seller: Seller) -> list[dict[str, Any]]:
        with seller.allegro(self.emulator) as api:
            response = api.get("/sale/shipping-rates")
        response.raise_for_status()
        rates: list[dict[str, Any]] = response.json()["shippingRates"]
        return rates

    def list_on_allegro(self, seller: Seller, list_id: str) -> dict[str, Any]:
        with seller.allegro(self.emulator) as api:
            response = api.get(f"/sale/shipping-rates/{list_id}")
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    def create_lists_on_allegro(self, seller: Seller, count: int, method_id: str) -> None:
        """Lists the seller made elsewhere (by hand, another tool)."""
        with seller.allegro(self.emulator) as api:
            for i in range(count):
                response = api.post(
                    "/sale/shipping-rates",
                    json={
                        "name": f"own list {i}",
                        "rates": [
                            {
                                "deliveryMethod": {"id": method_id},
                                "maxQuantityPerPackage": 1,
                                "firstItemRate": {"amount": "9.99", "currency": "PLN"},
                                "nextItemRate": {"amount": "0.00", "currency": "PLN"},
                            }
                        ],
                    },
                )
                assert response.status_code == 201, response.text

    async def methods(self, account: str) -> dict[str, dict[str, Any]]:
        """Allegro's delivery methods as the service lists them, by id."""
        found: dict[str, dict[str, Any]] = {}
        after = None
        while True:
            params: dict[str, Any] = {"limit": 3, **({"after": after} if after else {})}
            page = await self.http.get(
                f"/accounts/{account}/shipping/delivery-methods", params=params
            )
            assert page.status_code == 200, page.text
            body = page.json()
            found.update({m["id"]: m for m in body["items"]})
            after = body["next"]
            if after is None:
                return found

    async def put(self, account: str, document: dict[str, Any]) -> httpx.Response:
        return await self.http.put(f"/accounts/{account}/shipping", json=document)

    async def apply(self, account: str) -> dict[str, Any]:
        response = await self.http.post(f"/accounts/{account}/shipping/apply")
        assert response.status_code == 200, response.text
        applied: dict[str, Any] = response.json()
        return applied

    async def price_list(self, account: str, **params: Any) -> dict[str, Any]:
        response = await self.http.get(f"/accounts/{account}/shipping/price-list", params=params)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def readiness(self, account: str) -> list[str]:
        response = await self.http.get(f"/accounts/{account}/shipping/readiness")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["ready"] is (body["missing"] == [])
        return [m["code"] for m in body["missing"]]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    handle = start_emulator(catalogue_size=50)
    yield handle
    handle.server.should_exit = True


@pytest.fixture(scope="module")
async def service(
    make_database: MakeDatabase, amqp_url: str, emulator: EmulatorHandle
) -> AsyncIterator[Service]:
    database_url = await make_database("offers_shipping", MIGRATIONS)
    settings = Settings(
        database_url=database_url,
        amqp_url=amqp_url,
        run_migrations=False,
        allegro_api_url=emulator.url,
        allegro_auth_url=emulator.url,
    )
    tokens, accounts = StaticTokens({}), StaticAccounts()
    secret = settings.service_token_secret.get_secret_value()
    app = create_app(build(settings, allegro_tokens=tokens, accounts=accounts))
    async with running_app(app) as http:
        http.headers["Authorization"] = f"Bearer {issue_token(secret, 'ops', 'operator')}"
        viewer = {"Authorization": f"Bearer {issue_token(secret, 'look', 'viewer')}"}
        yield Service(http, viewer, emulator, tokens, accounts, database_url)


def by_country(methods: dict[str, dict[str, Any]], country: str, weight: bool) -> str:
    """A prepaid method to `country`, with or without max package weight support."""
    return next(
        str(m["id"])
        for m in methods.values()
        if m["destination_country"] == country
        and m["payment_policy"] == "IN_ADVANCE"
        and m["max_package_weight_supported"] is weight
    )


@dataclass(frozen=True)
class Methods:
    pl_locker: str  # no max package weight
    pl_courier: str  # with max package weight
    cz: str
    sk: str
    hu: str

    @property
    def all(self) -> list[str]:
        return [self.pl_locker, self.pl_courier, self.cz, self.sk, self.hu]

    @property
    def pl(self) -> list[str]:
        return [self.pl_locker, self.pl_courier]


async def methods_of(service: Service, account: str) -> Methods:
    found = await service.methods(account)
    return Methods(
        pl_locker=by_country(found, "PL", False),
        pl_courier=by_country(found, "PL", True),
        cz=by_country(found, "CZ", True),
        sk=by_country(found, "SK", False),
        hu=by_country(found, "HU", True),
    )


def money(amount: str, currency: str = "PLN") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def document(m: Methods, bands: list[str], **changes: Any) -> dict[str, Any]:
    """PL locker and courier, a method to each of CZ, SK, HU; PL and the shared set."""
    doc: dict[str, Any] = {
        "delivery_methods": m.all,
        "bands": [
            {
                "max_kg": max_kg,
                "prices": {
                    m.pl_locker: money(f"{9 + i}.99"),
                    m.pl_courier: money(f"{14 + i}.99"),
                    m.cz: money(f"{120 + 10 * i}.00", "CZK"),
                    m.sk: money(f"{5 + i}.50", "EUR"),
                    m.hu: money(f"{1990 + 100 * i}.00", "HUF"),
                },
            }
            for i, max_kg in enumerate(bands)
        ],
        "handling_time": "PT24H",
        "destination_sets": ["PL", "PL-CZ-SK-HU"],
        "free_delivery": {},
    }
    doc.update(changes)
    return doc


# --- configuration ---------------------------------------------------------------------------


async def test_delivery_methods_are_allegros_with_an_enabled_flag(service: Service) -> None:
    seller = service.seller()
    before = await service.methods(seller.account)
    assert len(before) >= 5 and not any(m["enabled"] for m in before.values())
    m = await methods_of(service, seller.account)
    assert before[m.cz]["currency"] == "CZK" and before[m.cz]["marketplace"] == "allegro-cz"
    saved = await service.put(seller.account, document(m, ["1", "5"]))
    assert saved.status_code == 200, saved.text
    after = await service.methods(seller.account)
    assert {i for i, method in after.items() if method["enabled"]} == set(m.all)
    # Viewers read; writing takes an operator; an account auth does not know is a 404.
    config = await service.http.get(f"/accounts/{seller.account}/shipping", headers=service.viewer)
    assert config.status_code == 200
    assert config.json()["configuration"]["bands"][0]["max_kg"] == "1"
    refused = await service.http.put(
        f"/accounts/{seller.account}/shipping", json=document(m, ["1"]), headers=service.viewer
    )
    assert refused.status_code == 403
    unknown = await service.http.get("/accounts/nobody-here/shipping")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_account"


def _unknown_method(m: Methods) -> dict[str, Any]:
    doc = document(m, ["1"])
    doc["delivery_methods"] = [*m.all, "00000000-0000-4000-8000-000000000000"]
    return doc


def _wrong_currency(m: Methods) -> dict[str, Any]:
    doc = document(m, ["1", "5"])
    doc["bands"][1]["prices"][m.cz] = money("5.00", "PLN")  # a CZ method is priced in CZK
    return doc


def _missing_price(m: Methods) -> dict[str, Any]:
    doc = document(m, ["1"])
    del doc["bands"][0]["prices"][m.pl_courier]
    return doc


def _no_method_to_hu(m: Methods) -> dict[str, Any]:
    doc = document(m, ["1"], delivery_methods=[*m.pl, m.cz, m.sk])
    del doc["bands"][0]["prices"][m.hu]
    return doc


REFUSALS = {
    "unknown_delivery_method": (_unknown_method, "bogus"),
    "unsorted_bands": (lambda m: document(m, ["5", "1"]), "bands[1].max_kg"),
    "duplicate_band": (lambda m: document(m, ["1", "2", "2"]), "bands[2].max_kg"),
    "wrong_currency": (_wrong_currency, "currency"),
    "missing_price": (_missing_price, "prices"),
    "invalid_handling_time": (lambda m: document(m, ["1"], handling_time="P6D"), "handling_time"),
    "no_method_for_destination": (
        _no_method_to_hu,
        "HU",
    ),
    "free_delivery_shared_list": (
        lambda m: document(m, ["1"], free_delivery={"allegro-pl": money("199.00")}),
        "CZ",
    ),
}


@pytest.mark.parametrize("code", sorted(REFUSALS))
async def test_an_invalid_configuration_is_refused_with_its_code(
    service: Service, code: str
) -> None:
    seller = service.seller()
    m = await methods_of(service, seller.account)
    make, hint = REFUSALS[code]
    doc = make(m)
    if code == "unknown_delivery_method":
        hint = doc["delivery_methods"][-1]
    response = await service.put(seller.account, doc)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert any(d["code"] == code and hint in (d["field"] + d["reason"]) for d in error["details"])
    # Nothing was saved.
    stored = await service.http.get(f"/accounts/{seller.account}/shipping")
    assert stored.status_code == 404
    assert stored.json()["error"]["code"] == "shipping_not_configured"


async def test_free_delivery_on_pl_lists_alone_is_accepted_and_applied(service: Service) -> None:
    seller = service.seller()
    m = await methods_of(service, seller.account)
    doc = document(
        m,
        ["1"],
        delivery_methods=m.pl,
        destination_sets=["PL"],
        free_delivery={"allegro-pl": money("199.00")},
    )
    doc["bands"][0]["prices"] = {i: doc["bands"][0]["prices"][i] for i in m.pl}
    saved = await service.put(seller.account, doc)
    assert saved.status_code == 200, saved.text
    assert saved.json()["configuration"]["free_delivery"] == {"allegro-pl": money("199.00")}
    wrong = {**doc, "free_delivery": {"allegro-pl": money("199.00", "EUR")}}
    refused = await service.put(seller.account, wrong)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "wrong_currency"

    # Applied to Allegro's delivery settings of allegro-pl; the seller's own join policy and
    # abroad threshold stay as they were.
    with seller.allegro(service.emulator) as api:
        own = {
            "marketplace": {"id": "allegro-pl"},
            "abroadFreeDelivery": money("500.00"),
            "joinPolicy": {"strategy": "SUM"},
        }
        assert api.put("/sale/delivery-settings", json=own).status_code == 200

    def settings_on_allegro() -> dict[str, Any]:
        with seller.allegro(service.emulator) as api:
            found = api.get("/sale/delivery-settings", params={"marketplace.id": "allegro-pl"})
        found.raise_for_status()
        body: dict[str, Any] = found.json()
        return body

    applied = await service.apply(seller.account)
    assert applied["free_delivery"] == [{"marketplace": "allegro-pl", "action": "set"}]
    on_allegro = settings_on_allegro()
    assert on_allegro["freeDelivery"] == money("199.00")
    assert on_allegro["joinPolicy"] == {"strategy": "SUM"}
    assert on_allegro["abroadFreeDelivery"] == money("500.00")
    again = await service.apply(seller.account)
    assert again["free_delivery"] == [{"marketplace": "allegro-pl", "action": "unchanged"}]
    # No threshold any more: cleared on Allegro, the rest kept.
    assert (await service.put(seller.account, {**doc, "free_delivery": {}})).status_code == 200
    cleared = await service.apply(seller.account)
    assert cleared["free_delivery"] == [{"marketplace": "allegro-pl", "action": "cleared"}]
    on_allegro = settings_on_allegro()
    assert "freeDelivery" not in on_allegro and on_allegro["joinPolicy"] == {"strategy": "SUM"}
    assert (await service.apply(seller.account))["free_delivery"] == []


async def test_a_family_past_allegros_250_lists_is_refused(service: Service) -> None:
    seller = service.seller()  # has Allegro's `default` list
    m = await methods_of(service, seller.account)
    service.create_lists_on_allegro(seller, 240, m.pl_courier)
    # 5 bands x 2 destination sets = 10 new lists: 241 + 10 = 251.
    refused = await service.put(seller.account, document(m, ["1", "2", "3", "4", "5"]))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "shipping_rates_limit"
    assert "5 bands x 2 destination sets = 10" in error["message"]
    assert "241 + 10 = 251 > 250" in error["message"]
    # 4 x 2 = 8: 249, accepted, with the arithmetic in the answer.
    saved = await service.put(seller.account, document(m, ["1", "2", "3", "5"]))
    assert saved.status_code == 200, saved.text
    assert saved.json()["lists"] == {
        "bands": 4,
        "destination_sets": 2,
        "needed": 8,
        "new": 8,
        "existing": 241,
        "total_after": 249,
        "limit": 250,
    }
    # Lists made on Allegro meanwhile: the apply checks again and creates nothing.
    service.create_lists_on_allegro(seller, 2, m.pl_courier)
    late = await service.http.post(f"/accounts/{seller.account}/shipping/apply")
    assert late.status_code == 409 and late.json()["error"]["code"] == "shipping_rates_limit"
    assert len(service.lists_on_allegro(seller)) == 243


# --- apply -----------------------------------------------------------------------------------


async def test_apply_creates_once_then_reuses_then_updates_in_place(service: Service) -> None:
    seller = service.seller()
    m = await methods_of(service, seller.account)
    assert (await service.put(seller.account, document(m, ["1", "5"]))).status_code == 200
    before = len(service.lists_on_allegro(seller))
    first = await service.apply(seller.account)
    assert (first["created"], first["updated"], first["unchanged"]) == (4, 0, 0)
    names = sorted(item["name"] for item in first["lists"])
    assert names == [
        "mci 0-1 kg PL",
        "mci 0-1 kg PL CZ SK HU",
        "mci 1-5 kg PL",
        "mci 1-5 kg PL CZ SK HU",
    ]
    on_allegro = service.lists_on_allegro(seller)
    assert len(on_allegro) == before + 4
    ids = {item["name"]: item["id"] for item in first["lists"]}
    # What Allegro holds: PL methods only on the PL list; the shared list reaches allegro-cz;
    # a max package weight (the band's) only where the method supports it.
    pl_heavy = service.list_on_allegro(seller, ids["mci 1-5 kg PL"])
    rates = {r["deliveryMethod"]["id"]: r for r in pl_heavy["rates"]}
    assert set(rates) == set(m.pl)
    assert rates[m.pl_courier]["maxPackageWeight"] == {"value": "5.000", "unit": "KILOGRAM"}
    assert "maxPackageWeight" not in rates[m.pl_locker]
    assert rates[m.pl_courier]["firstItemRate"] == money("15.99")
    shared = next(x for x in on_allegro if x["id"] == ids["mci 0-1 kg PL CZ SK HU"])
    assert {"id": "allegro-cz"} in shared["marketplaces"]
    shared_rates = service.list_on_allegro(seller, ids["mci 0-1 kg PL CZ SK HU"])["rates"]
    assert {r["firstItemRate"]["currency"] for r in shared_rates} == {"PLN", "CZK", "EUR", "HUF"}

    second = await service.apply(seller.account)
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 4)
    assert {i["name"]: i["id"] for i in second["lists"]} == ids
    assert len(service.lists_on_allegro(seller)) == before + 4

    changed = document(m, ["1", "5"])
    changed["bands"][1]["prices"][m.pl_courier] = money("17.49")
    assert (await service.put(seller.account, changed)).status_code == 200
    third = await service.apply(seller.account)
    assert (third["created"], third["updated"], third["unchanged"]) == (0, 2, 2)
    assert {i["name"]: i["id"] for i in third["lists"]} == ids
    assert len(service.lists_on_allegro(seller)) == before + 4
    updated = service.list_on_allegro(seller, ids["mci 1-5 kg PL"])
    prices = {r["deliveryMethod"]["id"]: r["firstItemRate"] for r in updated["rates"]}
    assert prices[m.pl_courier] == money("17.49")

    # A band's bounds change: the slot's list is renamed in place, no list is added.
    moved = document(m, ["2", "5"])
    assert (await service.put(seller.account, moved)).status_code == 200
    fourth = await service.apply(seller.account)
    assert fourth["created"] == 0
    assert len(service.lists_on_allegro(seller)) == before + 4
    renamed = {i["name"]: i["id"] for i in fourth["lists"]}
    assert renamed["mci 0-2 kg PL"] == ids["mci 0-1 kg PL"]
    assert service.list_on_allegro(seller, renamed["mci 2-5 kg PL"])["name"] == "mci 2-5 kg PL"


async def test_a_list_whose_row_was_lost_is_found_by_name(service: Service) -> None:
    seller = service.seller()
    m = await methods_of(service, seller.account)
    assert (await service.put(seller.account, document(m, ["1", "5"]))).status_code == 200
    # The first apply crashed after Allegro created "mci 0-1 kg PL", before our commit: the list
    # is on Allegro, we have no row.
    with seller.allegro(service.emulator) as api:
        created = api.post(
            "/sale/shipping-rates",
            json={
                "name": "mci 0-1 kg PL",
                "rates": [
                    {
                        "deliveryMethod": {"id": m.pl_locker},
                        "maxQuantityPerPackage": 1,
                        "firstItemRate": money("9.99"),
                        "nextItemRate": money("0.00"),
                    }
                ],
            },
        )
    assert created.status_code == 201
    before = len(service.lists_on_allegro(seller))
    first = await service.apply(seller.account)
    assert (first["created"], first["found"]) == (3, 1)
    found = next(i for i in first["lists"] if i["name"] == "mci 0-1 kg PL")
    assert found["id"] == created.json()["id"] and found["action"] == "found"
    assert len(service.lists_on_allegro(seller)) == before + 3
    # Brought to the configuration in place: both PL methods now.
    rates = service.list_on_allegro(seller, found["id"])["rates"]
    assert {r["deliveryMethod"]["id"] for r in rates} == set(m.pl)

    # Our row lost after a later apply: found again, not created twice.
    engine = create_engine(service.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "DELETE FROM shipping_price_lists WHERE account_id = :a"
                    " AND name = 'mci 1-5 kg PL CZ SK HU'"
                ),
                {"a": seller.account},
            )
    finally:
        await engine.dispose()
    again = await service.apply(seller.account)
    assert again["created"] == 0 and again["found"] == 1
    assert {i["name"]: i["id"] for i in again["lists"]} == {
        i["name"]: i["id"] for i in first["lists"]
    }
    assert len(service.lists_on_allegro(seller)) == before + 3


async def test_apply_without_a_configuration_or_during_another_is_a_conflict(
    service: Service,
) -> None:
    seller = service.seller()
    response = await service.http.post(f"/accounts/{seller.account}/shipping/apply")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "shipping_not_configured"
    m = await methods_of(service, seller.account)
    assert (await service.put(seller.account, document(m, ["1"]))).status_code == 200
    before = len(service.lists_on_allegro(seller))
    # Another replica's apply holds the account.
    engine = create_engine(service.database_url)
    hold = sa.text(
        "UPDATE shipping_configurations SET apply_claimed_until = now() + make_interval(secs => :s)"
        " WHERE account_id = :a"
    )
    try:
        async with engine.begin() as conn:
            await conn.execute(hold, {"a": seller.account, "s": 600})
        busy = await service.http.post(f"/accounts/{seller.account}/shipping/apply")
        assert busy.status_code == 409 and busy.json()["error"]["code"] == "apply_in_progress"
        assert len(service.lists_on_allegro(seller)) == before
        # Its hold ran out (it crashed): the account is free again.
        async with engine.begin() as conn:
            await conn.execute(hold, {"a": seller.account, "s": -1})
    finally:
        await engine.dispose()
    assert (await service.apply(seller.account))["created"] == 2


# --- what offers ask ---------------------------------------------------------------------------


async def test_the_list_of_a_weight_at_the_band_boundaries(service: Service) -> None:
    seller = service.seller()
    m = await methods_of(service, seller.account)
    assert (await service.put(seller.account, document(m, ["1", "5"]))).status_code == 200
    none_yet = await service.price_list(seller.account, weight_kg="0.5")
    assert none_yet["id"] is None and "not applied" in none_yet["reason"]
    applied = {i["name"]: i["id"] for i in (await service.apply(seller.account))["lists"]}
    light, heavy = applied["mci 0-1 kg PL"], applied["mci 1-5 kg PL"]

    async def list_id(weight: str | None, *marketplaces: str) -> str | None:
        params: dict[str, Any] = {"marketplace": list(marketplaces) or ["allegro-pl"]}
        if weight is not None:
            params["weight_kg"] = weight
        found: str | None = (await service.price_list(seller.account, **params))["id"]
        return found

    assert await list_id("0.001") == light
    assert await list_id("1") == light  # exactly the max weight: that band
    assert await list_id("1.001") == heavy  # just above: the next band
    assert await list_id("5") == heavy
    assert await list_id("1", "allegro-pl", "allegro-cz") == applied["mci 0-1 kg PL CZ SK HU"]
    above = await service.price_list(seller.account, weight_kg="5.001")
    assert above["id"] is None and "above the last weight band (5 kg)" in above["reason"]
    missing = await service.price_list(seller.account)
    assert missing["id"] is None and "no weight" in missing["reason"]

    # The function the offer pipeline calls, on a plain connection.
    engine = create_engine(service.database_url)
    try:
        async with engine.connect() as conn:
            assert await price_list_for(conn, seller.account, Decimal("1"), {"allegro-pl"}) == light
            assert (
                await price_list_for(conn, seller.account, Decimal("1.001"), {"allegro-pl"})
                == heavy
            )
            assert (
                await price_list_for(conn, seller.account, Decimal("5.001"), {"allegro-pl"}) is None
            )
            assert await price_list_for(conn, seller.account, None, {"allegro-pl"}) is None
    finally:
        await engine.dispose()


async def test_readiness_says_what_is_missing_and_how_to_fix_it(service: Service) -> None:
    seller = service.seller()
    response = await service.http.get(f"/accounts/{seller.account}/shipping/readiness")
    missing = response.json()["missing"]
    assert [i["code"] for i in missing] == ["shipping_not_configured"]
    assert f"PUT /accounts/{seller.account}/shipping" in missing[0]["message"]
    m = await methods_of(service, seller.account)
    assert (await service.put(seller.account, document(m, ["1"]))).status_code == 200
    assert await service.readiness(seller.account) == ["shipping_not_applied"]
    await service.apply(seller.account)
    assert await service.readiness(seller.account) == []
    # A newer configuration is not applied yet.
    assert (await service.put(seller.account, document(m, ["2"]))).status_code == 200
    assert await service.readiness(seller.account) == ["shipping_not_applied"]
    await service.apply(seller.account)
    assert await service.readiness(seller.account) == []
    # A recorded list Allegro does not have (lists cannot be deleted there, so: an id that
    # never was Allegro's stands in for one Allegro lost).
    engine = create_engine(service.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "UPDATE shipping_price_lists SET allegro_id = 'gone-' || band"
                    " WHERE account_id = :a AND destination_set = 'PL'"
                ),
                {"a": seller.account},
            )
        async with engine.connect() as conn:
            items = await shipping_readiness(conn, seller.account)  # without Allegro: unseen
            assert items == []
    finally:
        await engine.dispose()
    response = await service.http.get(f"/accounts/{seller.account}/shipping/readiness")
    missing = response.json()["missing"]
    assert [i["code"] for i in missing] == ["shipping_list_missing"]
    assert "gone-0" in missing[0]["message"] and "/shipping/apply" in missing[0]["message"]
    # The apply finds the list by its name again.
    repaired = await service.apply(seller.account)
    assert repaired["found"] == 1 and repaired["created"] == 0
    assert await service.readiness(seller.account) == []


async def test_malformed_documents_are_422_not_500(service: Service) -> None:
    seller = service.seller()
    m = await methods_of(service, seller.account)
    good = document(m, ["1"])
    bad_amount = document(m, ["1"])
    bad_amount["bands"][0]["prices"][m.pl_courier]["amount"] = "NaN"
    huge = document(m, ["1"])
    huge["bands"][0]["max_kg"] = "1e400"
    for doc in (
        bad_amount,
        huge,
        {**good, "typo": 1},
        {k: v for k, v in good.items() if k != "bands"},
        {**good, "bands": [{**good["bands"][0], "max_quantity_per_package": 0}]},
    ):
        response = await service.put(seller.account, doc)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "validation_failed"
    odd = await service.http.get(
        f"/accounts/{seller.account}/shipping/price-list", params={"weight_kg": "heavy"}
    )
    assert odd.status_code == 422
    negative = await service.price_list(seller.account, weight_kg="-1")
    assert negative["id"] is None and negative["reason"]
    unknown = await service.price_list(seller.account, weight_kg="1", marketplace="allegro-de")
    assert unknown["id"] is None and unknown["reason"]


async def test_an_allegro_failure_is_a_502_and_frees_the_account(service: Service) -> None:
    seller = service.seller()
    m = await methods_of(service, seller.account)
    assert (await service.put(seller.account, document(m, ["1"]))).status_code == 200
    before = len(service.lists_on_allegro(seller))
    service.emulator.admin(
        "PUT",
        "/faults",
        {"errorShare": 1, "errorStatus": 500, "pathPrefix": "/sale/shipping-rates"},
    )
    try:
        failed = await service.http.post(f"/accounts/{seller.account}/shipping/apply")
    finally:
        service.emulator.admin("DELETE", "/faults")
    assert failed.status_code == 502 and failed.json()["error"]["code"] == "allegro_error"
    assert len(service.lists_on_allegro(seller)) == before
    assert await service.readiness(seller.account) == ["shipping_not_applied"]
    # Not held by the failed apply: the next one runs.
    assert (await service.apply(seller.account))["created"] == 2
    assert await service.readiness(seller.account) == []
