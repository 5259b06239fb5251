"""`make bench-offers`: offers published, repriced and restocked for one account at Allegro's
rate-limit floor: the issue's 45,000 by default (about 45 minutes; `--count 5000` for a short
run).

The emulator runs as its own process (`python -m allegro_emulator`) with Allegro's limits
scaled by `--scale` (`rate_limit_scale`: every limit's window and block divided by it, so the
run takes minutes and the ratios hold); the offers service runs as its own process (this file
with `--serve`: `offers.main.build` with the seller's token, no auth service here) on a
throw-away database and vhost, told the same factor (`OFFERS_ALLEGRO_RATE_LIMIT_SCALE`, and its
read-back delay divided by it). The seller gets its after-sales settings and shipping price list
from the emulator, the readiness check creates its responsible producer.

The first three phases are each against their floor: the least time the emulator's configured,
scaled limits allow for the work the phase sent, read from its `/__admin/config` and
`/__admin/counters` (never assumed here); 429s are read from the emulator too.

- Creation: from the first CatalogUpdated (250 items each, then their PriceComputed, as catalog
  and pricing send them) published on mci.events to the last OfferPublished / OfferFailed in a
  queue bound to them. Floor: the creates sent (`POST /sale/product-offers`, the seller's
  limit) or, if it binds, every call on the Client ID's limit. Duplicates: SKUs on Allegro more
  than once.
- Repricing: PriceComputed with a new price for every live offer, to the moment the last offer's
  price changed on the emulator (its task's `finishedAt` in the price-change commands), once
  every offer's price there is the new one. Floor: the offer changes those commands carried at
  the price-change limit, or the calls at the Client ID's.
- Stock: CatalogUpdated (a new revision) with a new stock for every live offer, the same way on
  the quantity-change commands; and per offer, its stock change published -> the task that
  applied it scheduled (the command carrying it accepted with 201), p95.
- Single stock changes: 40 changes one at a time on the settled account, each its own
  CatalogUpdated, to its command accepted, p95 (target 5 s): what a sale or a supplier's update
  waits when nothing else is queued.

Between phases the service settles (read-backs done, nothing to send) off the clock.
Writes bench/results/offers.json.

    make bench-offers     (or: .venv/bin/python bench/offers.py --count 45000 --scale 1)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from allegro_emulator.seed import CatalogueSpec, allegro_presence, supplier_product
from mci_testing import infra
from mci_testing.bench import (
    ROOT,
    answered,
    calls_by_operation,
    load_average,
    message_of,
    per_second,
    percentile,
    serve,
    spawn_emulator,
    spawn_service,
    stop,
    write_results,
)
from mci_testing.emulator import SAFETY_INFORMATION, catalog_item, responsible_producer
from shared.db import create_engine
from shared.events import CatalogItem, CatalogUpdated, Money, PriceComputed, PricedItem
from shared.messaging.topology import QueueSpec, declare_queue, events
from shared.security import issue_token

RESULTS = ROOT / "bench" / "results" / "offers.json"
MEDIA = "application/vnd.allegro.public.v1+json"
ACCOUNT = "bench-shop"
MARKETPLACE = "allegro-pl"
BATCH = 250
TARGET_RATIO = 1.10
FIRST_PRICE = Decimal("49.90")
# The new prices, by SKU in turn: Allegro's command gives one value to all its offers, so
# several values exercise the grouping (commands stay full: 45,000 offers in 4 values).
NEW_PRICES = (Decimal("54.90"), Decimal("59.90"), Decimal("64.90"), Decimal("69.90"))
FIRST_STOCK = 10
NEW_STOCK = 7
# Stock changes sent one at a time at the end; "a stock change reaches Allegro in seconds".
SINGLE_CHANGES = 40
SINGLE_CHANGE_TARGET = 5.0
PRODUCER = responsible_producer("Fabryka Benchmarkowa", "Fabryka Benchmarkowa sp. z o.o.")
SAFETY = SAFETY_INFORMATION


def products(count: int) -> list[CatalogItem]:
    """The first `count` supplier products of the emulator's catalogue whose EAN matches one
    Allegro product (the catalog service withdraws the others before they reach offers)."""
    spec = CatalogueSpec()
    items: list[CatalogItem] = []
    row = 0
    while len(items) < count:
        if allegro_presence(spec, row) == 1:
            items.append(
                catalog_item(supplier_product(spec, row), f"SKU-{row:07d}", stock=FIRST_STOCK)
            )
        row += 1
    return items


@dataclass
class Probe:
    """Every OfferPublished / OfferFailed: which SKU, when."""

    outcomes: dict[str, str] = field(default_factory=dict)
    last: float = 0.0
    repeated: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        body = orjson.loads(message.body)
        sku = str(body["data"]["sku"])
        if sku in self.outcomes:
            self.repeated += 1
        self.outcomes[sku] = str(body["type"])
        self.last = time.perf_counter()
        self.changed.set()

    async def wait_for(self, count: int, within: float) -> None:
        deadline = time.perf_counter() + within
        while len(self.outcomes) < count:
            self.changed.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"only {len(self.outcomes)} of {count} offers settled")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 30))


@dataclass
class Run:
    """What the phases share: the emulator (admin API, and its public API as the seller), the
    service's database, the broker."""

    admin: httpx.AsyncClient
    allegro: httpx.AsyncClient
    database: AsyncEngine
    exchange: aio_pika.abc.AbstractExchange
    probe: Probe
    items: list[CatalogItem]
    login: str
    scale: float

    def live(self) -> list[CatalogItem]:
        """The products whose offer went live in the creation phase."""
        return [i for i in self.items if self.probe.outcomes.get(i.sku) == "OfferPublished"]


async def publish(run: Run, messages: list[tuple[aio_pika.Message, str]]) -> list[float]:
    """Publish in order (confirmed); when each message left, as `time.time()`."""
    sent: list[float] = []
    for message, routing_key in messages:
        sent.append(time.time())
        await run.exchange.publish(message, routing_key=routing_key)
    return sent


async def settled(run: Run, within: float = 1800) -> float:
    """Until the service has no step pending and nothing to send (read-backs done, commands
    finished); the seconds it took."""
    started = time.monotonic()
    query = sa.text(
        "SELECT count(*) FILTER (WHERE work IS NOT NULL OR sync_command_id IS NOT NULL)"
        " FROM offers WHERE account_id = :a"
    )
    while True:
        async with run.database.connect() as conn:
            pending = int(await conn.scalar(query, {"a": ACCOUNT}) or 0)
        if pending == 0:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise TimeoutError(f"{pending} offers still pending after {within:.0f} s")
        await asyncio.sleep(1.0)


async def commands(run: Run, kind: str) -> dict[str, int]:
    """The seller's commands of `kind` on the emulator: id -> tasks (offers it carried)."""
    state = (await run.admin.get("/state", params={"login": run.login})).json()
    return {
        c["id"]: int(c["tasks"])
        for s in state["sellers"]
        for c in s["commands"]
        if c["kind"] == kind
    }


COMMAND_PATHS = {
    "price": "/sale/offer-price-change-commands",
    "quantity": "/sale/offer-quantity-change-commands",
}


async def tasks_of(run: Run, kind: str, ids: list[str]) -> list[dict[str, Any]]:
    """Every task of these commands, read as the seller reads them (`GET .../tasks`)."""
    found: list[dict[str, Any]] = []
    for command_id in ids:
        answer = await run.allegro.get(
            f"{COMMAND_PATHS[kind]}/{command_id}/tasks", params={"limit": 1000}
        )
        answer.raise_for_status()
        found += answer.json()["tasks"]
    return found


def moment(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def on_allegro(run: Run) -> dict[str, list[dict[str, Any]]]:
    """The seller's offers on the emulator by external id (SKU)."""
    state = (await run.admin.get("/state", params={"login": run.login})).json()
    found: dict[str, list[dict[str, Any]]] = {}
    for seller in state["sellers"]:
        for offer in seller["offers"]:
            found.setdefault(str((offer.get("external") or {}).get("id")), []).append(offer)
    return found


async def skus_by_offer_id(run: Run) -> dict[str, str]:
    """The seller's offers on the emulator: Allegro's offer id -> SKU (a task names the offer)."""
    return {str(o["id"]): sku for sku, offers in (await on_allegro(run)).items() for o in offers}


async def until_sent(run: Run, column_matches: str, wanted: dict[str, str], within: float) -> int:
    """Until every SKU of `wanted` has its value sent (per the service's database) or is held
    after a failure; the held ones' count."""
    query = sa.text(
        "SELECT count(*) FILTER (WHERE " + column_matches + "),"
        " count(*) FILTER (WHERE o.sync_due_at = 'infinity')"
        " FROM offers o JOIN unnest(CAST(:skus AS text[]), CAST(:values AS text[])) AS w(sku, v)"
        " ON o.sku = w.sku WHERE o.account_id = :a"
    )
    params = {"a": ACCOUNT, "skus": list(wanted), "values": list(wanted.values())}
    deadline = time.monotonic() + within
    while True:
        async with run.database.connect() as conn:
            done, held = (await conn.execute(query, params)).one()
        if int(done) + int(held) >= len(wanted):
            return int(held)
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {done} of {len(wanted)} changes sent, {held} held")
        await asyncio.sleep(0.5)


def load_note(before: str) -> str:
    return f"load average before {before}, after {load_average()} ({os.cpu_count()} cores)"


async def creation(run: Run) -> list[dict[str, Any]]:
    load_before = load_average()
    await run.admin.delete("/counters")
    prices = {MARKETPLACE: Money(amount=FIRST_PRICE, currency="PLN")}
    messages: list[tuple[aio_pika.Message, str]] = []
    for first in range(0, len(run.items), BATCH):
        chunk = run.items[first : first + BATCH]
        catalog = CatalogUpdated(account_id=ACCOUNT, items=chunk)
        priced = PriceComputed(
            account_id=ACCOUNT,
            items=[PricedItem(sku=i.sku, catalog_revision=1, prices=prices) for i in chunk],
        )
        messages += [
            (message_of(catalog, "catalog"), catalog.routing_key),
            (message_of(priced, "pricing"), priced.routing_key),
        ]
    started = time.perf_counter()
    await publish(run, messages)
    published = time.perf_counter() - started
    # Generous: a loaded machine may take several times the floor; the figure says so.
    await run.probe.wait_for(len(run.items), within=3600)
    took = run.probe.last - started
    counters = (await run.admin.get("/counters")).json()
    config = (await run.admin.get("/config")).json()
    creates = answered(counters, "/sale/product-offers")
    post_floor = creates / per_second(config, "product-offers:POST")
    calls = answered(counters)
    client_floor = calls / per_second(config, "client")
    floor = max(post_floor, client_floor)
    binding = "the seller's POST limit" if post_floor >= client_floor else "the Client ID limit"
    found = await on_allegro(run)
    duplicates = sum(len(o) - 1 for o in found.values() if len(o) > 1)
    outcomes = Counter(run.probe.outcomes.values())
    post_limit = config["rate_limits"]["product-offers:POST"]
    load = load_note(load_before)
    return [
        {
            "figure": "creation_time_over_floor",
            "value": round(took / floor, 3),
            "unit": "ratio",
            "target": TARGET_RATIO,
            "better": "lower",
            "note": f"{len(run.items)} products -> last OfferPublished/OfferFailed in"
            f" {took:.1f} s; floor {floor:.1f} s ({binding}): {creates} creates at"
            f" {post_limit['limit']}/{post_limit['window_seconds']:g} s x scale"
            f" {config['rate_limit_scale']:g} = {per_second(config, 'product-offers:POST'):.1f}/s"
            f" (POST floor {post_floor:.1f} s), {calls} calls on the Client ID at"
            f" {per_second(config, 'client'):.1f}/s (floor {client_floor:.1f} s); events"
            f" published in {published:.1f} s; {outcomes.get('OfferPublished', 0)} published,"
            f" {outcomes.get('OfferFailed', 0)} failed; {load}",
        },
        {
            "figure": "creation_rate",
            "value": round(creates / took, 1),
            "unit": "offers/s",
            "target": None,
            "note": "creates per second over the run (scaled Allegro); calls answered: "
            + calls_by_operation(counters)
            + f"; {load}",
        },
        {
            "figure": "creation_429s",
            "value": int(counters["tooManyRequests"]),
            "unit": "responses",
            "target": 0,
            "better": "lower",
            "note": "429s the emulator sent during creation (its limits are Allegro's, scaled);"
            f" {load}",
        },
        {
            "figure": "creation_duplicates",
            "value": duplicates,
            "unit": "offers",
            "target": 0,
            "better": "lower",
            "note": f"offers on Allegro beyond one per SKU ({len(found)} SKUs on Allegro;"
            f" {run.probe.repeated} outcome events repeated for a SKU); {load}",
        },
    ]


@dataclass
class Changed:
    """One phase of batch commands, measured: what the figures are made of."""

    took: float
    floor: float
    binding: str
    changes: int
    commands: int
    calls: int
    too_many: int
    held: int
    wrong_on_allegro: int
    published_in: float
    settle: float
    detail: str


async def command_phase(
    run: Run,
    kind: str,
    messages: list[tuple[aio_pika.Message, str]],
    column_matches: str,
    wanted: dict[str, str],
    on_allegro_matches: Callable[[dict[str, Any], str], bool],
) -> tuple[Changed, list[dict[str, Any]], list[float]]:
    """Publish the phase's events, wait until every change is sent, and measure it against the
    floor of `kind`'s command limit; also the tasks and the publish times (for latencies)."""
    settle = await settled(run)
    before = await commands(run, kind)
    await run.admin.delete("/counters")
    started = time.time()
    sent_at = await publish(run, messages)
    published_in = time.time() - started
    held = await until_sent(run, column_matches, wanted, within=3600)
    counters = (await run.admin.get("/counters")).json()
    config = (await run.admin.get("/config")).json()
    new = {i: n for i, n in (await commands(run, kind)).items() if i not in before}
    tasks = await tasks_of(run, kind, list(new))
    done = [t for t in tasks if t["status"] == "SUCCESS"]
    took = max(moment(t["finishedAt"]) for t in done) - started if done else float("nan")
    # What the service takes to start: the events handled and the first command planned.
    first = min(moment(t["scheduledAt"]) for t in done) - started if done else float("nan")
    changes = sum(new.values())
    limit = f"offer-changes:{kind}:minute"
    change_floor = changes / per_second(config, limit)
    # A limit of a longer window (an hour's) binds only past what one such window holds.
    hour = config["rate_limits"].get(f"offer-changes:{kind}:hour")
    hour_floor = (
        (changes - hour["limit"]) / per_second(config, f"offer-changes:{kind}:hour")
        if hour and changes > hour["limit"]
        else 0.0
    )
    calls = answered(counters)
    client_floor = calls / per_second(config, "client")
    floor, binding = max(
        (change_floor, f"the {kind}-change limit"),
        (hour_floor, f"the hourly {kind}-change limit"),
        (client_floor, "the Client ID limit"),
    )
    found = await on_allegro(run)
    wrong = sum(
        1
        for sku, value in wanted.items()
        if not any(on_allegro_matches(o, value) for o in found.get(sku, []))
    )
    spec = config["rate_limits"][limit]
    detail = (
        f"{changes} offer changes in {len(new)} commands ({len(tasks) - len(done)} tasks"
        f" failed), at {spec['limit']}/{spec['window_seconds']:g} s x scale"
        f" {config['rate_limit_scale']:g} = {per_second(config, limit):.1f}/s (floor"
        f" {change_floor:.1f} s), the first accepted {first:.1f} s after the first event;"
        f" {calls} calls on the Client ID at"
        f" {per_second(config, 'client'):.1f}/s (floor {client_floor:.1f} s); calls answered: "
        + calls_by_operation(counters)
    )
    measured = Changed(
        took,
        floor,
        binding,
        changes,
        len(new),
        calls,
        int(counters["tooManyRequests"]),
        held,
        wrong,
        published_in,
        settle,
        detail,
    )
    return measured, done, sent_at


def phase_figures(name: str, what: str, phase: Changed, load: str) -> list[dict[str, Any]]:
    return [
        {
            "figure": f"{name}_time_over_floor",
            "value": round(phase.took / phase.floor, 3),
            "unit": "ratio",
            "target": TARGET_RATIO,
            "better": "lower",
            "note": f"{what} -> the last offer changed on the emulator (its task's finishedAt)"
            f" in {phase.took:.1f} s; floor {phase.floor:.1f} s ({phase.binding}):"
            f" {phase.detail}; events published in {phase.published_in:.1f} s;"
            f" {phase.wrong_on_allegro} offers without the new value on the emulator after it,"
            f" {phase.held} changes held after a failure; the service settled"
            f" {phase.settle:.1f} s before the phase (off the clock); {load}",
        },
        {
            "figure": f"{name}_429s",
            "value": phase.too_many,
            "unit": "responses",
            "target": 0,
            "better": "lower",
            "note": f"429s the emulator sent during {name.replace('_', ' ')}; {load}",
        },
    ]


async def repricing(run: Run) -> list[dict[str, Any]]:
    """A new price for every live offer (PriceComputed) to the last one changed on Allegro."""
    load_before = load_average()
    live = run.live()
    price_of = {i.sku: NEW_PRICES[n % len(NEW_PRICES)] for n, i in enumerate(live)}
    messages = []
    for first in range(0, len(live), BATCH):
        chunk = live[first : first + BATCH]
        priced = PriceComputed(
            account_id=ACCOUNT,
            items=[
                PricedItem(
                    sku=i.sku,
                    catalog_revision=1,
                    prices={MARKETPLACE: Money(amount=price_of[i.sku], currency="PLN")},
                )
                for i in chunk
            ],
        )
        messages.append((message_of(priced, "pricing"), priced.routing_key))

    def has_price(offer: dict[str, Any], value: str) -> bool:
        price = (offer.get("sellingMode") or {}).get("price") or {}
        return Decimal(str(price.get("amount", "0"))) == Decimal(value)

    phase, _, _ = await command_phase(
        run,
        "price",
        messages,
        f"(o.sent_prices -> '{MARKETPLACE}' ->> 'amount')::numeric = w.v::numeric",
        {sku: str(p) for sku, p in price_of.items()},
        has_price,
    )
    what = f"PriceComputed for {len(live)} live offers ({len(NEW_PRICES)} new prices)"
    return phase_figures("repricing", what, phase, load_note(load_before))


async def stock_update(run: Run) -> list[dict[str, Any]]:
    """A new stock for every live offer (CatalogUpdated, a new revision) to the last one changed
    on Allegro; and per offer, its change published -> its command accepted."""
    load_before = load_average()
    live = run.live()
    messages = []
    skus_of: list[list[str]] = []
    for first in range(0, len(live), BATCH):
        chunk = [
            i.model_copy(update={"revision": 2, "stock": NEW_STOCK})
            for i in live[first : first + BATCH]
        ]
        catalog = CatalogUpdated(account_id=ACCOUNT, items=chunk)
        messages.append((message_of(catalog, "catalog"), catalog.routing_key))
        skus_of.append([i.sku for i in chunk])

    def stocked(offer: dict[str, Any], value: str) -> bool:
        return int((offer.get("stock") or {}).get("available", -1)) == int(value)

    phase, done, sent_at = await command_phase(
        run,
        "quantity",
        messages,
        "o.sent_stock = w.v::int",
        {i.sku: str(NEW_STOCK) for i in live},
        stocked,
    )
    published = {sku: at for skus, at in zip(skus_of, sent_at, strict=True) for sku in skus}
    sku_of = await skus_by_offer_id(run)
    accepted: dict[str, float] = {}
    for task in done:
        sku = sku_of.get(str(task["offer"]["id"]))
        if sku in published:
            at = moment(task["scheduledAt"])
            accepted[sku] = min(at, accepted.get(sku, at))
    latencies = [accepted[sku] - published[sku] for sku in accepted]
    what = (
        f"CatalogUpdated (revision 2, stock {FIRST_STOCK} -> {NEW_STOCK})"
        f" for {len(live)} live offers"
    )
    load = load_note(load_before)
    figures = phase_figures("stock_update", what, phase, load)
    figures.append(
        {
            "figure": "stock_change_to_command_accepted_p95",
            "value": round(percentile(latencies, 0.95), 2) if latencies else None,
            "unit": "s",
            "target": None,
            "note": f"per offer: its CatalogUpdated published -> the quantity command whose task"
            f" applied it accepted by the emulator (the task's scheduledAt, the PUT's 201);"
            f" {len(latencies)} offers, p50 {percentile(latencies, 0.5):.1f} s, max"
            f" {max(latencies):.1f} s: all changes arrive at once, so the later ones wait for"
            f" the command budget (the floor), not for the service; {load}"
            if latencies
            else "no task applied a stock change",
        }
    )
    return figures


async def single_stock_changes(run: Run) -> list[dict[str, Any]]:
    """One stock change at a time on the settled account (a sale, a supplier's update): each
    CatalogUpdated published -> the quantity command carrying it accepted by the emulator, with
    nothing else queued, so the latency is the service's own (its gather, plan and PUT)."""
    load_before = load_average()
    await settled(run)
    before = await commands(run, "quantity")
    chosen = run.live()[:SINGLE_CHANGES]
    published: dict[str, float] = {}
    for n, item in enumerate(chosen):
        stock = NEW_STOCK + 1 + n % 3
        change = CatalogUpdated(
            account_id=ACCOUNT,
            items=[item.model_copy(update={"revision": 3, "stock": stock})],
        )
        [published[item.sku]] = await publish(
            run, [(message_of(change, "catalog"), change.routing_key)]
        )
        await until_sent(run, "o.sent_stock = w.v::int", {item.sku: str(stock)}, within=120)
        await asyncio.sleep(1.0)  # apart: each change is alone in its command
    new = [i for i in await commands(run, "quantity") if i not in before]
    tasks = await tasks_of(run, "quantity", new)
    sku_of = await skus_by_offer_id(run)
    accepted: dict[str, float] = {}
    applied: dict[str, float] = {}
    for task in tasks:
        sku = sku_of.get(str(task["offer"]["id"]))
        if sku in published and task["status"] == "SUCCESS":
            accepted[sku] = moment(task["scheduledAt"]) - published[sku]
            applied[sku] = moment(task["finishedAt"]) - published[sku]
    latencies = list(accepted.values())
    on_allegro_p95 = percentile(list(applied.values()), 0.95) if applied else float("nan")
    load = load_note(load_before)
    return [
        {
            "figure": "single_stock_change_to_command_accepted_p95",
            "value": round(percentile(latencies, 0.95), 2) if latencies else None,
            "unit": "s",
            "target": SINGLE_CHANGE_TARGET,
            "better": "lower",
            "note": f"{len(chosen)} stock changes one at a time, each its own CatalogUpdated"
            f" on the settled account of {len(run.live())} live offers -> the quantity command"
            f" carrying it accepted by the emulator (the task's scheduledAt): {len(latencies)}"
            f" measured, p50 {percentile(latencies, 0.5):.2f} s, max {max(latencies):.2f} s;"
            f" applied on the emulator (finishedAt) p95 {on_allegro_p95:.2f} s;"
            f" {len(new)} commands; {load}"
            if latencies
            else "no task applied a single stock change",
        }
    ]


PHASES: list[Callable[[Run], Awaitable[list[dict[str, Any]]]]] = [
    creation,
    repricing,
    stock_update,
    single_stock_changes,
]


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    when = datetime.now(UTC).isoformat(timespec="seconds")
    items = products(args.count)
    emulator, base = await spawn_emulator(
        {
            "ALLEGRO_EMULATOR_RATE_LIMIT_SCALE": str(args.scale),
            # Events of offers are not read here: no need to keep them.
            "ALLEGRO_EMULATOR_DUPLICATE_EVENT_SHARE": "0",
        }
    )
    service: asyncio.subprocess.Process | None = None
    connection: aio_pika.abc.AbstractRobustConnection | None = None
    figures: list[dict[str, Any]] = []
    try:
        admin = httpx.AsyncClient(base_url=f"{base}/__admin", timeout=300)
        login = (
            await admin.post(
                "/sellers", json={"login": f"bench-{uuid.uuid4().hex[:8]}", "prerequisites": True}
            )
        ).json()["login"]
        token = (await admin.post("/tokens", json={"login": login})).json()["access_token"]
        seller = httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {token}", "Accept": MEDIA},
            timeout=60,
        )
        secret = secrets.token_urlsafe(32)
        async with infra.Throwaway() as env:
            database = await env.database("bench_offers")
            service, service_url = await spawn_service(
                __file__,
                {ACCOUNT: token},
                {
                    "OFFERS_DATABASE_URL": database,
                    "OFFERS_AMQP_URL": env.amqp_url,
                    "OFFERS_ALLEGRO_API_URL": base,
                    "OFFERS_ALLEGRO_AUTH_URL": base,
                    "OFFERS_ALLEGRO_RATE_LIMIT_SCALE": str(args.scale),
                    # The read-back after publication, in the emulator's scaled time.
                    "OFFERS_VERIFY_AFTER_SECONDS": str(60.0 / args.scale),
                    # The only service calling Allegro here: the Client ID is all its own.
                    "OFFERS_ALLEGRO_CLIENT_SHARE": "1.0",
                    "OFFERS_KNOWN_ACCOUNTS": json.dumps([ACCOUNT]),
                    # Drift from Allegro's offer events is not measured here.
                    "OFFERS_OFFER_EVENTS_ENABLED": "false",
                    "OFFERS_LOG_LEVEL": "WARNING",
                    "MCI_SERVICE_TOKEN_SECRET": secret,
                },
            )
            engine = create_engine(database, pool_size=2, application_name="bench-offers")
            connection = await aio_pika.connect_robust(env.amqp_url)
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=1000)
            probe = Probe()
            queue = await declare_queue(
                channel, QueueSpec("bench.offers", events("offer.published", "offer.failed"))
            )
            await queue.consume(probe.on_message, no_ack=True)  # a probe: no ack to wait for
            publishing = await connection.channel(publisher_confirms=True)
            exchange = await publishing.get_exchange("mci.events")
            operator = issue_token(secret, "bench", "operator", ttl_seconds=7200)
            async with httpx.AsyncClient(
                base_url=service_url,
                headers={"Authorization": f"Bearer {operator}"},
                timeout=120,
            ) as http:
                ready = await http.post(
                    f"/accounts/{ACCOUNT}/readiness",
                    json={
                        "create_missing": True,
                        "responsible_producer": PRODUCER,
                        "safety_information": SAFETY,
                    },
                )
                if ready.json().get("readiness") != "ready":
                    raise RuntimeError(f"the bench account is not ready: {ready.text}")
            state = Run(admin, seller, engine, exchange, probe, items, login, args.scale)
            try:
                for phase in PHASES:
                    figures += await phase(state)
            finally:
                await engine.dispose()
                await admin.aclose()
                await seller.aclose()
                await stop(service)  # before its database and vhost go
    finally:
        if connection is not None:
            await connection.close()
        await stop(service, emulator)
    figures[0]["note"] += f"; run {when}"
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    # The issue's 45,000: about 45 minutes at Allegro's own pace (scale 1), the only one this
    # 2-core machine follows; `--count 5000` for a run of a few minutes.
    parser.add_argument("--count", type=int, default=45_000, help="products to publish")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="the emulator's rate_limit_scale (and ours)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--serve", nargs="+", metavar=("PORT", "ACCOUNT=TOKEN"))
    args = parser.parse_args()
    if args.serve:
        serve("offers", int(args.serve[0]), args.serve[1:])
        return
    results = asyncio.run(run(args))
    write_results(args.output, results)


if __name__ == "__main__":
    main()
