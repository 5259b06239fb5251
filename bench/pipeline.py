"""`make bench-pipeline`: 45,000 products from the upstream event to active offers on Allegro.

The whole platform runs as separate processes, as `make run` and the end-to-end tests start it
(`mci_testing.platform.stack` under `mci_testing.supervisor`): the Allegro emulator and the five
services, each service on a throw-away database, all on one throw-away vhost. The emulator's
limits are Allegro's scaled by `--scale` (its `rate_limit_scale`: every window and block divided
by it) and every service is told the same factor (`<SERVICE>_ALLEGRO_RATE_LIMIT_SCALE`), so the
services keep their configured shares of the Client ID. This bench plays BigBuy's connector: it
publishes `SupplierProductsChanged` on `mci.upstream` (`supplier.products`, 500 products each, as
the connector sends them); the BigBuy emulator and connector are not started.

Before the clock: a shop connects through the device flow (the demo seller), its prices (rules,
FX rates) are set, its account made ready (shipping price lists, producer, safety text), its
categories selected (the supplier's three roots) and each supplier category mapped to its
Allegro leaf (checked with Allegro). Then one product per leaf goes through the whole way
(warm-up), so pricing knows each category's commission and offers each category's parameters,
as in a shop that has been selling a while; the emulator's counters are reset after it.

The clock starts when the first event is published. Stages, each from that moment: catalog done
(the last product's first CatalogUpdated item for the shop), priced (its first PriceComputed),
first and last offer (OfferPublished / OfferFailed); the run is done when every product catalog
lists for the shop has settled in offers: live, refused with a reason, or waiting for stock, as
`Platform.settled` counts them, or, heavier than the heaviest shipping band, waiting for the
price pricing does not compute for it. Its floor is the least time the emulator's configured, scaled
limits allow for the creates sent and every call answered (all services), read from
`/__admin/config` and `/__admin/counters` as bench/offers.py does. 429s, duplicates (SKUs on
Allegro more than once) and offers by state (ours, and the emulator's ACTIVE) are read at the
end. Writes bench/results/pipeline.json.

    make bench-pipeline   (or: .venv/bin/python bench/pipeline.py --count 45000 --scale 1)

Scale 1 (Allegro's own pace, about an hour for 45,000) by default: at a higher scale the 2 cores,
not the limits, set the pace, and the ratios say nothing about the platform's scheduling.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import os
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import orjson
from prometheus_client.parser import text_string_to_metric_families

from allegro_emulator.seed import (
    SUPPLIER_CATEGORIES,
    CatalogueSpec,
    allegro_presence,
    supplier_product,
)
from mci_testing import infra
from mci_testing.bench import (
    ROOT,
    answered,
    calls_by_operation,
    load_average,
    message_of,
    per_second,
    unshadow,
    write_results,
)
from mci_testing.platform import (
    WEIGHT_BANDS,
    Platform,
    Ports,
    Shop,
    environment,
    stack,
    wait_for,
)
from mci_testing.supervisor import Supervisor
from shared.events import SupplierProduct, SupplierProductsChanged
from shared.messaging.topology import QueueSpec, declare_queue, events

unshadow(__file__)  # bench/catalog.py would hide the catalog package the seed files' writer reads
seedfiles = importlib.import_module("mci_testing.seedfiles")
SUPPLIER_PRODUCTS = importlib.import_module("catalog.consumer").SUPPLIER_PRODUCTS
RESULTS = ROOT / "bench" / "results" / "pipeline.json"
SERVICES = {
    "auth": "AUTH",
    "catalog": "CATALOG",
    "pricing": "PRICING",
    "offers": "OFFERS",
    "orders": "ORDERS",
}
PRODUCTS = 45_000  # the run; a smaller one says how long this one would take
PER_EVENT = 500  # the BigBuy connector's products_per_event
TARGET_RATIO = 1.2  # creation's 1.1 (bench-offers) with room for catalog and pricing ahead
# Rows of the seeded catalogue the warm-up takes its products from: far from the measured ones.
WARM_UP_FROM = 900_000
SHOP = Shop("bench-shop", "demo-seller", "", ("allegro-pl", "allegro-cz", "allegro-sk"))


def record(row: int, at: datetime) -> SupplierProduct:
    """Row `row` of the seeded supplier catalogue (the one the emulator's Allegro catalogue
    matches by EAN) as the connector would send it."""
    spec = CatalogueSpec()
    return SupplierProduct.model_validate(
        {**seedfiles.as_supplier_record(supplier_product(spec, row)), "updated_at": at}
    )


def warm_up_rows() -> list[int]:
    """One row per Allegro leaf: on Allegro once, in stock, within the heaviest shipping band."""
    spec = CatalogueSpec()
    wanted = set(SUPPLIER_CATEGORIES)
    rows: list[int] = []
    for row in range(WARM_UP_FROM, WARM_UP_FROM + 100_000):
        p = supplier_product(spec, row)
        leaf = p["allegro_category_id"]
        if (
            leaf in wanted
            and allegro_presence(spec, row) == 1
            and p["stock"]
            and p["weight_kg"] <= float(WEIGHT_BANDS[-1])
        ):
            wanted.discard(leaf)
            rows.append(row)
            if not wanted:
                return rows
    raise RuntimeError(f"no warm-up product for the leaves {sorted(wanted)}")


def batches(rows: list[int]) -> list[aio_pika.Message]:
    at = datetime.now(UTC)
    return [
        message_of(
            SupplierProductsChanged(products=[record(r, at) for r in rows[i : i + PER_EVENT]]),
            "bigbuy",  # as the connector publishes them
        )
        for i in range(0, len(rows), PER_EVENT)
    ]


@dataclass
class Probe:
    """When each SKU was first seen in each stage's events (clock of `time.perf_counter`)."""

    account_id: str
    catalogued: dict[str, float] = field(default_factory=dict)
    priced: dict[str, float] = field(default_factory=dict)
    outcomes: dict[str, tuple[str, float]] = field(default_factory=dict)
    repeated: int = 0

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        now = time.perf_counter()
        body = orjson.loads(message.body)
        kind, data = body["type"], body["data"]
        if data.get("account_id") != self.account_id:
            return
        if kind == "CatalogUpdated":
            for item in data["items"]:
                self.catalogued.setdefault(item["sku"], now)
        elif kind == "PriceComputed":
            for item in data["items"]:
                self.priced.setdefault(item["sku"], now)
        else:
            sku = str(data["sku"])
            if sku in self.outcomes:
                self.repeated += 1
            else:
                self.outcomes[sku] = (kind, now)


async def prepare(platform: Platform, shop: Shop, cap: int) -> None:
    """The shop connected, priced, ready, its categories selected and mapped."""
    shop.account_id = await platform.connect(shop.alias, shop.login)
    await platform.price(shop)
    ready = await platform.make_ready(shop)
    if ready["readiness"] != "ready":
        raise RuntimeError(f"the shop is not ready: {ready}")
    account = shop.account_id
    # The seeded products carry no GPSR data: they list under the producer readiness made.
    # The default cap (45,000) would hold the last products back behind the warm-up's.
    await platform.send(
        "PUT",
        "catalog",
        f"/accounts/{account}/listing",
        {"not_blocking": ["missing_gpsr"], "product_cap": cap},
    )
    roots = sorted({path[0] for path in SUPPLIER_CATEGORIES.values()})
    shop.categories = tuple(roots)
    await platform.send(
        "PUT", "catalog", f"/accounts/{account}/selection", {"include": {"categories": roots}}
    )
    for leaf, path in SUPPLIER_CATEGORIES.items():
        await platform.request(
            "PUT",
            "catalog",
            f"/category-mappings?check_as={account}",
            {"supplier_category": " > ".join(path), "allegro_category_id": leaf},
        )


async def warm_up(platform: Platform, shop: Shop, exchange: aio_pika.abc.AbstractExchange) -> int:
    """One product per leaf through the whole way; returns how many offers it left."""
    for message in batches(warm_up_rows()):
        await exchange.publish(message, routing_key=SupplierProductsChanged.routing_key)
    await platform.send("POST", "offers", f"/accounts/{shop.account_id}/publication/pause")
    listable = await platform.publish(shop)  # prices settled (no assumed commission), resumed
    await platform.wait_published(shop, listable, within=600)
    return listable


SETTLED = ("active", "inactive", "not_listable", "failed", "ended")


async def settled(platform: Platform, shop: Shop, listable: int, unshippable: set[str]) -> int:
    """`Platform.settled`, and a product heavier than the heaviest shipping band waiting for a
    price counts as settled too: pricing computes none for it (no_shipping_band), so offers
    holds it waiting for one. The waiting offers are read only once nothing else is to do."""
    progress = await platform.progress(shop)
    by_state = progress["by_state"]
    done = sum(int(by_state.get(state, 0)) for state in SETTLED)
    waiting = int(by_state.get("waiting", 0))
    if not waiting or done + waiting < listable:
        return done
    for offer in await platform.offers(shop, "waiting"):
        items = {w["item"] for w in offer["waiting_for"]}
        # An offer waiting on nothing cannot be stored (offers' constraint); were one read, it
        # would not be settled.
        if items and (
            items <= {"stock"} or (items <= {"stock", "price"} and offer["sku"] in unshippable)
        ):
            done += 1
    return done


async def measure(
    platform: Platform,
    shop: Shop,
    exchange: aio_pika.abc.AbstractExchange,
    probe: Probe,
    rows: list[int],
    warm: int,
    within: float,
) -> dict[str, Any]:
    messages = batches(rows)
    spec = CatalogueSpec()
    products = [supplier_product(spec, r) for r in rows]
    skus = {p["sku"] for p in products}
    heaviest = float(WEIGHT_BANDS[-1])
    unshippable = {p["sku"] for p in products if p["weight_kg"] > heaviest}
    await platform.send("DELETE", "allegro-emulator", "/__admin/counters")
    offers_calls_before = await offers_allegro_calls(platform)
    consumed_before = await catalog_consumed(platform)
    started = time.perf_counter()
    for message in messages:
        await exchange.publish(message, routing_key=SupplierProductsChanged.routing_key)
    published = time.perf_counter() - started

    # Catalog is done when it has settled every message sent (handled, or dead-lettered with a
    # reason): its CatalogUpdated are in its outbox then, and what it lists is final. Not a
    # quiet minute of CatalogUpdated: catalog handles up to a batch of messages in one
    # transaction, and a 45,000-product run once saw none for over a minute mid-import, took
    # the 1,500 listed by then for the whole and ended after 92 s.
    async def catalogued() -> bool:
        return await catalog_consumed(platform) - consumed_before >= len(messages)

    await wait_for("catalog to take in every SupplierProductsChanged", catalogued, within, 1)
    listable = await platform.listable(shop)

    async def all_settled() -> bool:
        return await settled(platform, shop, listable, unshippable) >= listable

    await wait_for("every listable product settled in offers", all_settled, within, interval=3)
    ours = [t for sku, t in probe.catalogued.items() if sku in skus]
    priced = [t for sku, t in probe.priced.items() if sku in skus]
    outcomes = [t for sku, (_, t) in probe.outcomes.items() if sku in skus]
    catalog_done = max(ours) - started
    priced_done = (max(priced) - started) if priced else float("nan")
    first_offer = (min(outcomes) - started) if outcomes else float("nan")
    last_offer = (max(outcomes) - started) if outcomes else float("nan")
    took = max(catalog_done, priced_done if priced else 0.0, last_offer if outcomes else 0.0)
    return {
        "took": took,
        "offers_calls_before": offers_calls_before,
        "published": published,
        "catalog_done": catalog_done,
        "priced": priced_done,
        "first_offer": first_offer,
        "last_offer": last_offer,
        "skus": skus,
        "listable": listable - warm,
        "not_catalogued": len(skus - probe.catalogued.keys()),
        "unshippable": len(unshippable),
    }


def counter_total(exposition: str, name: str, keep: Callable[[dict[str, str]], bool]) -> int:
    """The sum of a counter's samples (`<name>_total`) whose labels `keep` takes, from a
    service's /metrics text."""
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(exposition)
            if family.name == name
            for sample in family.samples
            if sample.name == f"{name}_total" and keep(sample.labels)
        )
    )


def allegro_calls(exposition: str) -> int:
    """The Allegro calls a service made that Allegro answered (not 429), from its /metrics."""
    return counter_total(
        exposition,
        "mci_allegro_requests",
        lambda labels: labels.get("status") != "429" and labels.get("endpoint_class") != "oauth",
    )


async def catalog_consumed(platform: Platform) -> int:
    """The upstream product messages catalog has settled so far: handled (or a duplicate) or
    dead-lettered; one it will retry is not settled yet."""
    return counter_total(
        (await platform.http.get(platform.url("catalog") + "/metrics")).text,
        "mci_messages_consumed",
        lambda labels: (
            labels.get("queue") == SUPPLIER_PRODUCTS.name and labels.get("result") != "retried"
        ),
    )


async def offers_allegro_calls(platform: Platform) -> int:
    """The Allegro calls offers made so far that Allegro answered."""
    return allegro_calls((await platform.http.get(platform.url("offers") + "/metrics")).text)


async def figures_of(
    platform: Platform, shop: Shop, probe: Probe, run: dict[str, Any], scale: float
) -> list[dict[str, Any]]:
    counters = await platform.get("allegro-emulator", "/__admin/counters")
    config = await platform.get("allegro-emulator", "/__admin/config")
    creates = run["creates"] = answered(counters, "/sale/product-offers")
    calls = answered(counters)
    post_rate, client_rate = per_second(config, "product-offers:POST"), per_second(config, "client")
    post_floor, client_floor = creates / post_rate, calls / client_rate
    floor = max(post_floor, client_floor)
    progress = await platform.progress(shop)
    budget = float(progress["budget_per_minute"])
    # offers' own budgets (its share of the Client ID, the seller's creates), as it runs them.
    creates_budget = float(progress["budgets"]["creates_per_minute"])
    calls_budget = float(progress["budgets"]["client_calls_per_minute"])
    offers_calls = await offers_allegro_calls(platform) - run["offers_calls_before"]
    offers_floor = max(creates / creates_budget * 60, offers_calls / calls_budget * 60)
    binding = "the seller's POST limit" if post_floor >= client_floor else "the Client ID limit"
    skus: set[str] = run["skus"]
    ours = [o for o in await platform.offers(shop) if o["sku"] in skus]
    states = Counter(str(o["state"]) for o in ours)
    waiting = Counter(
        "+".join(sorted(w["item"] for w in o["waiting_for"]))
        for o in ours
        if o["state"] == "waiting"
    )
    reasons = Counter(str((o.get("reason") or {}).get("code")) for o in ours if o.get("reason"))
    seller = await platform.allegro_state(shop.login)
    on_allegro = Counter(str((o.get("external") or {}).get("id")) for o in seller["offers"])
    duplicates = sum(n - 1 for n in on_allegro.values() if n > 1)
    active = sum(
        1
        for o in seller["offers"]
        if str((o.get("external") or {}).get("id")) in skus
        and (o.get("publication") or {}).get("status") == "ACTIVE"
    )
    took = run["took"]
    post = config["rate_limits"]["product-offers:POST"]
    client = config["rate_limits"]["client"]
    busiest = calls_by_operation(counters, most=8)
    stage = "s from the first SupplierProductsChanged published"
    return [
        {
            "figure": "pipeline_time_over_floor",
            "value": round(took / floor, 3),
            "unit": "ratio",
            "target": TARGET_RATIO,
            "ratio": round(TARGET_RATIO / (took / floor), 3),  # below 1: the target missed
            "better": "lower",
            "note": f"{len(skus)} products (SupplierProductsChanged, {PER_EVENT} each) -> every"
            f" listable one settled in {took:.1f} s; floor {floor:.1f} s ({binding}):"
            f" {creates} creates at {post['limit']}/{post['window_seconds']:g} s x scale"
            f" {scale:g} = {post_rate:.1f}/s (POST floor {post_floor:.1f} s), {calls} calls"
            f" answered on the Client ID (every service) at {client['limit']}/"
            f"{client['window_seconds']:g} s x {scale:g} = {client_rate:.1f}/s (floor"
            f" {client_floor:.1f} s); offers' own budget (its share of the Client ID, scaled)"
            f" {budget:.0f} creates/min allows {creates / budget * 60:.1f} s",
        },
        {
            "figure": "pipeline_time_over_offers_budget",
            "value": round(took / offers_floor, 3),
            "unit": "ratio",
            "target": TARGET_RATIO,
            "ratio": round(TARGET_RATIO / (took / offers_floor), 3),
            "better": "lower",
            "note": f"the same {took:.1f} s against the least time offers' own budgets allow for"
            f" its work: {offers_calls} calls of offers answered by Allegro (its"
            f" mci_allegro_requests_total, 429s left out) at its share of the Client ID,"
            f" {calls_budget:.0f}/min scaled, or {creates} creates at its POST budget,"
            f" {creates_budget:.0f}/min scaled: {offers_floor:.1f} s (does offers keep the"
            " budgets it may use busy?)",
        },
        {
            "figure": "pipeline_total",
            "value": round(took, 1),
            "unit": "s",
            "target": None,
            "note": f"the first event published -> the last stage done ({len(skus)} products,"
            f" {run['listable']} listed for the shop by catalog, {run['not_catalogued']} never sent"
            f" on by it; events published in"
            f" {run['published']:.1f} s)",
        },
        {
            "figure": "pipeline_catalog_done",
            "value": round(run["catalog_done"], 1),
            "unit": "s",
            "target": None,
            "note": f"the last product's first CatalogUpdated item for the shop, {stage}",
        },
        {
            "figure": "pipeline_priced",
            "value": round(run["priced"], 1),
            "unit": "s",
            "target": None,
            "note": f"the last listed product's first PriceComputed, {stage}",
        },
        {
            "figure": "pipeline_first_offer",
            "value": round(run["first_offer"], 1),
            "unit": "s",
            "target": None,
            "note": f"the first OfferPublished / OfferFailed, {stage}",
        },
        {
            "figure": "pipeline_last_offer",
            "value": round(run["last_offer"], 1),
            "unit": "s",
            "target": None,
            "note": f"the last OfferPublished / OfferFailed, {stage}; calls answered by"
            f" operation: {busiest}",
        },
        {
            "figure": "pipeline_429s",
            "value": int(counters["tooManyRequests"]),
            "unit": "responses",
            "target": 0,
            "better": "lower",
            "note": "429s the emulator sent during the run (its limits are Allegro's, scaled)",
        },
        {
            "figure": "pipeline_duplicates",
            "value": duplicates,
            "unit": "offers",
            "target": 0,
            "better": "lower",
            "note": f"offers on Allegro beyond one per SKU ({len(on_allegro)} SKUs on Allegro;"
            f" {probe.repeated} outcome events repeated for a SKU)",
        },
        {
            "figure": "pipeline_offers_active",
            "value": active,
            "unit": "offers",
            "target": None,
            "note": "ACTIVE on the emulator at the end; offers' states: "
            + ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
            + "; waiting for: "
            + ", ".join(f"{k} {v}" for k, v in waiting.most_common())
            + "; not listable because: "
            + ", ".join(f"{k} {v}" for k, v in reasons.most_common())
            + f"; {run['unshippable']} products heavier than the heaviest shipping band (pricing"
            " gives them no price: they wait for one)",
        },
    ]


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    load_before = load_average()
    when = datetime.now(UTC).isoformat(timespec="seconds")
    rows = list(range(args.count))
    ports = Ports.free()
    from auth.settings import DEVELOPMENT_BOOTSTRAP_KEY_ID

    admin_key = f"mcik_{DEVELOPMENT_BOOTSTRAP_KEY_ID}_{secrets.token_urlsafe(32)}"
    logs = Path(args.logs or tempfile.mkdtemp(prefix="bench-pipeline-"))
    async with infra.Throwaway() as env:
        base = environment(ports, admin_key, os.environ)
        base["ENVIRONMENT"] = "development"
        base["AMQP_URL"] = env.amqp_url
        # Five services on a PostgreSQL shared with others: 5 (+5 overflow) connections each.
        base.setdefault("MCI_DATABASE_POOL_SIZE", "5")
        for name, prefix in SERVICES.items():
            base[f"{prefix}_DATABASE_URL"] = await env.database(f"pipeline_{name}")
            base[f"{prefix}_AMQP_URL"] = env.amqp_url
            base[f"{prefix}_ALLEGRO_RATE_LIMIT_SCALE"] = str(args.scale)
            base[f"{prefix}_LOG_LEVEL"] = "WARNING"
        specs = [
            dataclasses.replace(s, args=(*s.args, "--rate-limit-scale", str(args.scale)))
            if s.name == "allegro-emulator"
            else s
            for s in stack(ports, 0)
            if not s.name.startswith("bigbuy")  # this bench sends the upstream events itself
        ]
        supervisor = Supervisor(logs, base)
        platform = Platform(ports, admin_key)
        connection: aio_pika.abc.AbstractRobustConnection | None = None
        try:
            for spec in specs:
                await asyncio.to_thread(supervisor.start, spec)
            shop = dataclasses.replace(SHOP)
            await prepare(platform, shop, args.count + 1000)
            connection = await aio_pika.connect_robust(env.amqp_url)
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=1000)
            probe = Probe(shop.account_id)
            keys = ("catalog.updated", "price.computed", "offer.published", "offer.failed")
            queue = await declare_queue(channel, QueueSpec("bench.pipeline", events(*keys)))
            await queue.consume(probe.on_message, no_ack=True)  # a probe: nothing to redo
            publish = await connection.channel(publisher_confirms=True)
            exchange = await publish.get_exchange("mci.upstream")
            warm = await warm_up(platform, shop, exchange)
            print(f"warm-up done ({warm} offers); measuring {args.count} products", flush=True)
            measured = await measure(platform, shop, exchange, probe, rows, warm, args.within)
            figures = await figures_of(platform, shop, probe, measured, args.scale)
            if dead := supervisor.dead():
                raise RuntimeError(f"processes exited during the run: {dead}; logs in {logs}")
        finally:
            if connection is not None:
                await connection.close()
            await platform.close()
            await asyncio.to_thread(supervisor.stop_all)
    figures[0]["note"] += (
        f"; {when}, load average before {load_before}, after {load_average()}"
        f" ({os.cpu_count()} cores, shared with other engineers' runs: re-measure on a quiet"
        " machine)"
    )
    if args.count < PRODUCTS:
        took = measured["took"]
        figures[0]["note"] += (
            f"; {args.count:,} products, not {PRODUCTS:,}: at this run's pace"
            f" ({measured['creates'] / took:.1f} creates/s) {PRODUCTS:,} would take about"
            f" {took * PRODUCTS / args.count / 60:.0f} min, so a run fitting about 15 minutes"
            f" here was chosen (scale {args.scale:g})"
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=PRODUCTS, help="products to publish")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="the emulator's rate_limit_scale (and ours)"
    )
    parser.add_argument("--within", type=float, default=7200, help="seconds before giving up")
    parser.add_argument("--logs", help="the processes' logs (default: a new temporary folder)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = asyncio.run(run(args))
    write_results(args.output, results)


if __name__ == "__main__":
    main()
