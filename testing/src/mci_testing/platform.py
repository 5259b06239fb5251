"""The whole platform as local processes, and the scenario that drives it to a sale.

`make run` (deploy/local/devstack.py) and the end-to-end tests (tests/e2e) use the same stack
(`stack`) and the same steps (`Platform`), so what the demo shows is what the test proves:
BigBuy's catalogue comes in through the connector, a shop connects through the device flow,
its account is made ready, categories are selected, mapped and priced, offers go live on
Allegro, buyers order, the orders go to BigBuy, ship, and the tracking reaches Allegro.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import httpx

from mci_testing.infra import free_port
from mci_testing.supervisor import ProcessSpec

SERVICES = ("auth", "catalog", "pricing", "offers", "orders")
# The BigBuy emulator's development key (the connector's default, refused outside development).
BIGBUY_KEY = "bigbuy-emulator-key"
ADMIN_READY = "/__admin/config"
# The connector's BIGBUY_MAX_HANDLING_DAYS: slower warehouse rows are not counted as stock.
MAX_HANDLING_DAYS = 3


@dataclass(frozen=True)
class Ports:
    allegro_emulator: int = 8400
    bigbuy_emulator: int = 8410
    auth: int = 8001
    catalog: int = 8002
    pricing: int = 8003
    offers: int = 8004
    orders: int = 8005
    bigbuy: int = 8006  # the BigBuy connector

    @classmethod
    def free(cls) -> Ports:
        """Ports free now: a test's stack never meets `make run`'s or another test's."""
        names = [f.name for f in fields(cls)]
        while len(ports := {free_port() for _ in names}) < len(names):
            pass  # the same port handed out twice: ask again
        return cls(**dict(zip(names, sorted(ports), strict=True)))

    def url(self, name: str) -> str:
        """The URL of a process by its name in `stack` (e.g. `allegro-emulator`, `bigbuy`)."""
        return f"http://127.0.0.1:{getattr(self, name.replace('-', '_'))}"


def environment(ports: Ports, admin_key: str, base: Mapping[str, str]) -> dict[str, str]:
    """What every process of the stack is started with (each service reads its own prefix)."""
    env = dict(base)
    env.setdefault("ENVIRONMENT", "development")
    env.update(
        {
            "AUTH_BOOTSTRAP_ADMIN_KEY": admin_key,
            "ALLEGRO_API_URL": ports.url("allegro-emulator"),
            "ALLEGRO_AUTH_URL": ports.url("allegro-emulator"),
            "MCI_AUTH_URL": ports.url("auth"),
            "BIGBUY_API_URL": ports.url("bigbuy-emulator") + "/rest",
            "BIGBUY_API_KEY": BIGBUY_KEY,
            # A demo's pace: orders and tracking looked at every few seconds, not every 30 min.
            "BIGBUY_ORDER_POLL_INTERVAL_SECONDS": "1",
            "BIGBUY_TRACKING_POLL_INTERVAL_SECONDS": "2",
            "BIGBUY_RETRY_AFTER_ERROR_SECONDS": "2",
            "ORDERS_ORDER_POLL_INTERVAL_SECONDS": "1",
            "OFFERS_VERIFY_AFTER_SECONDS": "2",
            "OFFERS_READINESS_RECHECK_SECONDS": "5",
            "OFFERS_PUBLISH_BACKOFF_SECONDS": "1",
            # BigBuy's emulator ships a paid order a few seconds after payment, not a day.
            "BIGBUY_EMULATOR_PROCESSING_AFTER_SECONDS": "1",
            "BIGBUY_EMULATOR_SHIPPED_AFTER_SECONDS": "3",
            "BIGBUY_EMULATOR_IN_STOCK_SHARE": "0.8",
        }
    )
    return env


# Each program of the stack that is a service (`--role`), by its process name.
SERVICE_MODULES = {**{name: name for name in SERVICES}, "bigbuy": "bigbuy_connector"}
# The environment prefix of each service's settings.
SETTINGS_PREFIX = {name: name.upper() for name in SERVICE_MODULES}


def stack(
    ports: Ports,
    bigbuy_products: int,
    *,
    workers: Mapping[str, int] | None = None,
    bigbuy_rate_limit_scale: float | None = None,
) -> list[ProcessSpec]:
    """Both emulators, the five services and the BigBuy connector, in start order (auth first:
    the others ask it about API keys and tokens).

    Each service is one process (`--role all`: API, outbox relay, consumers and background
    loops), or, with `workers` (process name -> port), two as deployed: the API (`--role api`,
    which migrates) on the service's port and `<name>-worker` (`--role worker`: the relay,
    the consumers and the loops) on its own port, started after it.

    BigBuy's hourly limits would make a demo wait hours: the emulator runs without them, or with
    every window `bigbuy_rate_limit_scale` times shorter. Without limits it sends no
    X-RateLimit headers, so the connector keeps to BigBuy's documented budgets (ten stock lists
    an hour): after its first ten refreshes a stock change waits the rest of the hour. Scaled,
    the headers come and stock keeps flowing."""
    limits = (
        ("--no-rate-limits",)
        if bigbuy_rate_limit_scale is None
        else ("--rate-limit-scale", str(bigbuy_rate_limit_scale))
    )
    specs = [
        ProcessSpec("allegro-emulator", "allegro_emulator", ports.allegro_emulator, ADMIN_READY),
        ProcessSpec(
            "bigbuy-emulator",
            "bigbuy_emulator",
            ports.bigbuy_emulator,
            ADMIN_READY,
            args=("--catalogue-size", str(bigbuy_products), *limits),
        ),
    ]
    for name, module in SERVICE_MODULES.items():
        port = getattr(ports, name)
        if workers is None:
            specs.append(ProcessSpec(name, module, port))
            continue
        specs.append(ProcessSpec(name, module, port, args=("--role", "api")))
        specs.append(
            ProcessSpec(
                worker_of(name),
                module,
                workers[worker_of(name)],
                args=("--role", "worker"),
                env={f"{SETTINGS_PREFIX[name]}_RUN_MIGRATIONS": "false"},
            )
        )
    return specs


def worker_of(service: str) -> str:
    """The process name of a service's worker when the stack runs the roles apart."""
    return f"{service}-worker"


# --- the scenario ---------------------------------------------------------------------------
DEMO_RULES: dict[str, Any] = {
    "strategy": "margin",
    "rules": [
        {"scope": "price_band", "band": {"min": "0", "max": "10"}, "percentage": "45"},
        {"scope": "price_band", "band": {"min": "10", "max": "100"}, "percentage": "35"},
        {"scope": "price_band", "band": {"min": "100"}, "percentage": "22"},
    ],
    "fallback": "rrp",
    "floor": {"min_margin_pct": "2"},
    # What BigBuy charges for one parcel (EUR with its 21 % VAT, by weight) is in the price:
    # below it the connector would refuse every order as a loss.
    "shipping": {
        "free_delivery": True,
        "bands": [
            {"max_weight_kg": kg, "cost": {"amount": eur, "currency": "EUR"}}
            for kg, eur in (
                ("2", "10.38"),
                ("5", "16.71"),
                ("10", "24.08"),
                ("20", "35.70"),
                ("31.5", "49.85"),
            )
        ],
    },
}
DEMO_RATES = {
    "rates": [
        {"base": "EUR", "quote": quote, "rate": rate, "source": "demo", "as_of": "2026-11-26"}
        for quote, rate in (("PLN", "4.2875"), ("CZK", "25.21"), ("HUF", "391.40"))
    ]
}
PRODUCER = {
    "name": "BigBuy",
    "producerData": {
        "tradeName": "BigBuy S.L.",
        "address": {
            "countryCode": "ES",
            "street": "Pol. Ind. Les Moles, C/ Les Moles 2",
            "postalCode": "46160",
            "city": "Llíria",
        },
        "contact": {"email": "gpsr@bigbuy.example", "phoneNumber": "+34 961 000 000"},
    },
}
SAFETY = "Używać zgodnie z instrukcją. Przechowywać poza zasięgiem dzieci."
SHIPPING_CURRENCY = {"PL": "PLN", "CZ": "CZK", "SK": "EUR", "HU": "HUF"}
SHIPPING_PRICE = {"PL": "9.99", "CZ": "120.00", "SK": "5.50", "HU": "1990.00"}
# Allegro's shipping price lists: BigBuy's parcel bands (heavier products: no_shipping_band).
WEIGHT_BANDS = ("2", "5", "10", "20", "31.5")


def shipping_document(methods: Iterable[Mapping[str, Any]], bands: Sequence[str]) -> dict[str, Any]:
    """A weight-band shipping configuration for offers' `PUT /accounts/{id}/shipping`: of
    `methods` (its `delivery-methods` list), the first prepaid one to each of PL, CZ, SK and
    HU, priced alike in every band up to each of `bands` (kg); lists for PL alone and for the
    four countries."""
    chosen = {
        country: next(
            str(m["id"])
            for m in methods
            if m["destination_country"] == country and m["payment_policy"] == "IN_ADVANCE"
        )
        for country in SHIPPING_CURRENCY
    }
    return {
        "delivery_methods": list(chosen.values()),
        "bands": [
            {
                "max_kg": max_kg,
                "prices": {
                    method: {"amount": SHIPPING_PRICE[c], "currency": SHIPPING_CURRENCY[c]}
                    for c, method in chosen.items()
                },
            }
            for max_kg in bands
        ],
        "handling_time": "PT24H",
        "destination_sets": ["PL", "PL-CZ-SK-HU"],
        "free_delivery": {},
    }


def on_allegro(ean: str, missing_share: int) -> bool:
    """Whether Allegro's catalogue holds a product for this EAN: all but about `missing_share`
    percent, chosen by the EAN alone so a run is repeatable."""
    return int(hashlib.sha256(ean.encode()).hexdigest(), 16) % 100 >= missing_share


async def wait_for(
    what: str,
    check: Callable[[], Awaitable[bool]],
    within: float,
    interval: float = 1.0,
) -> None:
    """Poll `check` until true. The long limits are for a loaded machine, not a speed claim."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached within {within:.0f} s")
        await asyncio.sleep(interval)


async def eventually(
    what: str, check: Callable[[], Awaitable[object]], within: float, interval: float = 2.0
) -> None:
    """Run `check` (assertions) until it passes; past `within`, once more and let it fail with
    its own message. For a state the platform reaches by itself: the long limit is for a loaded
    machine, not a speed claim."""

    async def passes() -> bool:
        try:
            await check()
        except AssertionError:
            return False
        return True

    try:
        await wait_for(what, passes, within, interval)
    except TimeoutError:
        await check()
        raise


@dataclass
class Shop:
    alias: str
    login: str
    account_id: str
    marketplaces: tuple[str, ...]
    categories: tuple[str, ...] = ()


class Platform:
    """The operator's and the buyers' steps, over HTTP only (as a person would with the CLI)."""

    def __init__(self, ports: Ports, admin_key: str) -> None:
        self.ports = ports
        self.http = httpx.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {admin_key}"})

    async def close(self) -> None:
        await self.http.aclose()

    def url(self, name: str) -> str:
        return self.ports.url(name)

    async def request(
        self, method: str, name: str, path: str, json: Any = None, **params: Any
    ) -> Any:
        """One call; a 5xx or a dropped connection is tried again for about 90 s (on a machine
        shared with other test runs PostgreSQL may refuse connections a while: too many clients).
        """
        attempts = 10  # about 90 s in all
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = await self.http.request(
                    method, self.url(name) + path, json=json, params=params or None
                )
            except httpx.TransportError:
                if last:
                    raise
                await asyncio.sleep(min(2**attempt, 15))
                continue
            if response.status_code < 500 or last:
                break
            await asyncio.sleep(min(2**attempt, 15))
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {name}{path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    async def get(self, name: str, path: str, **params: Any) -> Any:
        return await self.request("GET", name, path, **params)

    async def send(self, method: str, name: str, path: str, json: Any = None) -> Any:
        return await self.request(method, name, path, json)

    async def pages(self, name: str, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paginated list (`{items, next}`, `after` + `limit`)."""
        items: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            page = await self.get(
                name,
                path,
                limit=params.pop("limit", 500),
                **params,
                **({"after": after} if after else {}),
            )
            items += page["items"]
            if not (after := page.get("next")):
                return items

    # -- the supplier ----------------------------------------------------------------------
    async def catalogue_in(self) -> int:
        """Products the catalog holds (from the connector's refreshes)."""
        return len(await self.pages("catalog", "/products", limit=1000))

    async def wait_catalogue(self, products: int, within: float = 600) -> None:
        async def arrived() -> bool:
            return await self.catalogue_in() >= products

        await wait_for("the BigBuy catalogue in catalog", arrived, within, interval=2)

    async def wait_catalogue_settled(self, within: float = 600) -> int:
        """Until catalog's product count stops moving (the connector's refresh is done)."""
        seen: list[int] = []

        async def settled() -> bool:
            seen.append(await self.catalogue_in())
            return len(seen) >= 3 and seen[-1] == seen[-3] and seen[-1] > 0

        await wait_for("the BigBuy catalogue in catalog", settled, within, interval=3)
        return seen[-1]

    async def supplier_stock(self, sku: str) -> int:
        """The stock BigBuy holds of one SKU as the connector counts it: the warehouse rows
        shipped within its `max_handling_days` (3), none for an inactive product."""
        item = await self.get("bigbuy-emulator", f"/__admin/items/{sku}")
        if not item["active"]:
            return 0
        return sum(
            int(row["quantity"])
            for row in item["stocks"]
            if int(row["maxHandlingDays"]) <= MAX_HANDLING_DAYS
        )

    async def set_supplier_stock(self, sku: str, quantity: int) -> None:
        """BigBuy's stock of one SKU (all of it in its fastest warehouse row), as when the
        supplier sells out or restocks."""
        await self.send("PUT", "bigbuy-emulator", f"/__admin/stock/{sku}", {"quantity": quantity})

    async def supplier_roots(self) -> list[str]:
        """The supplier's top-level categories as catalog holds them."""
        products = await self.pages("catalog", "/products", limit=1000)
        return sorted(
            {
                str(p["supplier_category"]).split(" > ")[0]
                for p in products
                if p.get("supplier_category")
            }
        )

    # -- a shop ----------------------------------------------------------------------------
    async def connect(self, alias: str, login: str) -> str:
        """The shop's account, connected through the device flow; the emulator approves it as
        the seller would on Allegro's page."""
        accounts = await self.pages("auth", "/accounts")
        found = next((a for a in accounts if a["alias"] == alias), None)
        account = found or await self.send("POST", "auth", "/accounts", {"alias": alias})
        account_id = str(account["id"])
        if found is not None:  # linked to an earlier run's emulator, whose tokens are gone
            await self.send("POST", "auth", f"/accounts/{account_id}/reset")
        flow = await self.send("POST", "auth", f"/accounts/{account_id}/connect/device")
        await self.send(
            "POST",
            "allegro-emulator",
            f"/__admin/oauth/device/{flow['user_code']}/approve",
            {"login": login},
        )

        async def connected() -> bool:
            found = await self.get("auth", f"/accounts/{account_id}")
            return bool(found["status"] == "connected")

        await wait_for(f"{alias} connected", connected, 120)
        return account_id

    async def make_ready(self, shop: Shop, *, create_missing: bool = True) -> dict[str, Any]:
        """Readiness: the return policy, warranty and price lists the seller has, the
        responsible producer created, the safety text, the marketplaces to sell on."""
        await self.shipping(shop)
        result: dict[str, Any] = await self.send(
            "POST",
            "offers",
            f"/accounts/{shop.account_id}/readiness",
            {
                "create_missing": create_missing,
                "responsible_producer": PRODUCER,
                "safety_information": SAFETY,
                "marketplaces": list(shop.marketplaces),
            },
        )
        return result

    async def shipping(self, shop: Shop) -> None:
        """Shipping price lists per weight band, for PL alone and for PL, CZ, SK, HU."""
        path = f"/accounts/{shop.account_id}/shipping"
        methods = await self.pages("offers", f"{path}/delivery-methods", limit=100)
        await self.send("PUT", "offers", path, shipping_document(methods, WEIGHT_BANDS))
        await self.send("POST", "offers", f"{path}/apply")

    async def price(self, shop: Shop) -> None:
        base = f"/accounts/{shop.account_id}"
        await self.send("PUT", "pricing", f"{base}/fx-rates", DEMO_RATES)
        await self.send("PUT", "pricing", f"{base}/rules", DEMO_RULES)

    async def select_and_map(
        self, shop: Shop, categories: list[str], *, missing_share: int = 10
    ) -> dict[str, Any]:
        """Select the categories, have Allegro's catalogue hold the selected EANs (all but
        `missing_share` %, in the category catalog will map to), then map each supplier category
        to Allegro's best suggestion: products become listable only now, with Allegro ready."""
        account = shop.account_id
        shop.categories = tuple(categories)
        # Held until the first prices settle (`publish`): a new product is priced with an
        # assumed commission first, then again once its Allegro category is known, and offers
        # does not yet re-price live offers.
        await self.send("POST", "offers", f"/accounts/{account}/publication/pause")
        # BigBuy's compliance data comes one product at a time (its limit: one call in 5 s), so
        # most products have none yet: the shop lists under the responsible producer its
        # readiness made, and missing GPSR data does not hold its products back.
        await self.send(
            "PUT", "catalog", f"/accounts/{account}/listing", {"not_blocking": ["missing_gpsr"]}
        )
        selection: dict[str, Any] = await self.send(
            "PUT",
            "catalog",
            f"/accounts/{account}/selection",
            {"include": {"categories": categories}},
        )
        suggested = await self.send(
            "POST", "catalog", f"/accounts/{account}/category-suggestions/unmapped", {"limit": 200}
        )
        best = {
            found["supplier_category"]: str(found["suggestions"][0]["allegro_category_id"])
            for found in suggested["categories"]
            if found.get("suggestions")
        }
        products = await self.pages("catalog", "/products", limit=1000)
        known = [
            {
                "ean": p["ean"],
                "name": p["title"],
                "categoryId": best[p["supplier_category"]],
                "brand": p.get("brand"),
            }
            for p in products
            if p.get("ean")
            and p.get("supplier_category") in best
            and on_allegro(p["ean"], missing_share)
        ]
        for start in range(0, len(known), 500):
            await self.send(
                "POST",
                "allegro-emulator",
                "/__admin/catalogue/products",
                {"products": known[start : start + 500]},
            )
        await self.send(
            "POST",
            "catalog",
            "/category-mappings/accept-suggestions",
            {"supplier_categories": sorted(best)},
        )
        return selection

    # -- publication ------------------------------------------------------------------------
    async def progress(self, shop: Shop) -> dict[str, Any]:
        found: dict[str, Any] = await self.get(
            "offers", f"/accounts/{shop.account_id}/publication/progress"
        )
        return found

    async def settled(self, shop: Shop) -> int:
        """Offers with nothing left to do now: live, ended, refused with a reason, or waiting
        only for stock (BigBuy has none: nothing to publish until a restock)."""
        progress = await self.progress(shop)
        done = sum(
            progress["by_state"].get(state, 0)
            for state in ("active", "inactive", "not_listable", "failed", "ended")
        )
        waiting = await self.offers(shop, "waiting") if progress["by_state"].get("waiting") else []
        return int(done) + sum(
            1 for o in waiting if [w["item"] for w in o["waiting_for"]] == ["stock"]
        )

    async def offers(self, shop: Shop, state: str | None = None) -> list[dict[str, Any]]:
        params = {"state": state} if state else {}
        return await self.pages("offers", f"/accounts/{shop.account_id}/offers", **params)

    async def listable(self, shop: Shop) -> int:
        """Products the catalog sends on to offers as listed (the selection minus not-listable)."""
        preview = await self.send(
            "POST",
            "catalog",
            f"/accounts/{shop.account_id}/selection/preview?limit=1",
            {"include": {"categories": list(shop.categories)}},
        )
        return int(preview["cap"]["to_list"])

    async def wait_listable(self, shop: Shop, within: float = 300) -> int:
        """Until the selection's listable count stops moving (the mapping applied)."""
        seen: list[int] = []

        async def stable() -> bool:
            seen.append(await self.listable(shop))
            return len(seen) >= 3 and seen[-1] == seen[-3]

        await wait_for(f"{shop.alias}'s selection", stable, within, interval=2)
        return seen[-1]

    async def wait_priced(self, shop: Shop, listable: int, within: float = 300) -> None:
        """Until offers holds every listable product and each price was computed with the
        commission of its Allegro category (not the assumed one)."""

        async def priced() -> bool:
            offers = await self.offers(shop)
            if len(offers) < listable:
                return False
            for offer in offers:
                response = await self.http.get(
                    self.url("pricing")
                    + f"/accounts/{shop.account_id}/prices/{offer['sku']}/allegro-pl"
                )
                if response.status_code == 404:
                    return False
                steps = response.json().get("chain") or []
                if any(step.get("assumed_fee") for step in steps):
                    return False
            return True

        await wait_for(f"{shop.alias}'s prices", priced, within, interval=3)

    async def publish(self, shop: Shop) -> int:
        """Once the selection and its prices settled, let offers publish; returns how many
        products are listable."""
        listable = await self.wait_listable(shop)
        await self.wait_priced(shop, listable)
        await self.send("POST", "offers", f"/accounts/{shop.account_id}/publication/resume")
        return listable

    async def wait_published(self, shop: Shop, listable: int, within: float = 900) -> None:
        async def done() -> bool:
            return await self.settled(shop) >= listable

        await wait_for(f"{shop.alias}'s offers", done, within, interval=2)

    async def allegro_state(self, login: str) -> dict[str, Any]:
        state = await self.get("allegro-emulator", "/__admin/state", login=login)
        seller: dict[str, Any] = state["sellers"][0]
        return seller

    # -- orders -----------------------------------------------------------------------------
    async def buy(self, offer_id: str) -> dict[str, Any]:
        form: dict[str, Any] = await self.send(
            "POST", "allegro-emulator", "/__admin/orders", {"offerId": offer_id}
        )
        return form

    async def supplier_orders(self) -> list[dict[str, Any]]:
        return await self.pages("bigbuy", "/supplier-orders", limit=500)

    async def shipped_on_allegro(self, login: str) -> dict[str, list[dict[str, Any]]]:
        """Checkout form id -> the shipments (carrier, waybill) written to it on Allegro."""
        seller = await self.allegro_state(login)
        shipments: dict[str, list[dict[str, Any]]] = seller["shipments"]
        return {form_id: found for form_id, found in shipments.items() if found}


def count_by(items: list[dict[str, Any]], key: str) -> Counter[str]:
    return Counter(str(item.get(key)) for item in items)
