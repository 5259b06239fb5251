"""`make bench-pricing`: 45,000 products priced for 4 marketplaces, broker to broker.

The pricing service runs as its own process (`python -m pricing`) on a throw-away database and
vhost, with FX rates and a rule set (scoped rules, free delivery, .99 endings) set through its
API. The clock starts when the first CatalogUpdated (250 items each) is published on mci.events
and stops when the last PriceComputed item has been received from a queue bound to
`price.computed`. A second figure times a saved rule change that recomputes the whole selection.
The products are mapped to Allegro categories (the emulator's tree, whose chains are stored in
pricing's category cache before the run, as its worker would have read them): every price goes
through the commission group of its Allegro category. Writes bench/results/pricing.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import socket
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import orjson
import sqlalchemy as sa

from allegro_emulator.seed import CATEGORIES as ALLEGRO_TREE
from allegro_emulator.seed import SUPPLIER_CATEGORIES
from mci_testing import infra
from shared.db import create_engine
from shared.events import CatalogItem, CatalogUpdated, Envelope, Money
from shared.messaging.topology import QueueSpec, declare_queue, events
from shared.security import issue_token

RESULTS = Path(__file__).parent / "results" / "pricing.json"
MARKETPLACES = 4
TARGET_SECONDS = 10.0
CATEGORIES = [
    "Home & Garden > Garden > Garden Tools",
    "Home & Garden > Kitchen > Cookware",
    "Home & Garden > Lighting",
    "Sports & Outdoors > Cycling > Helmets",
    "Sports & Outdoors > Camping > Tents",
    "Electronics > Mobile Phones > Smartphones",
    "Electronics > Computers > Laptops",
    "Electronics > Computers > Monitors",
    "Electronics > TV & Audio > Televisions",
    "Electronics > TV & Audio > Headphones",
]
# Supplier path -> the Allegro leaf it is mapped to (what catalog's category mapping sends).
ALLEGRO_LEAF = {" > ".join(path): leaf for leaf, path in SUPPLIER_CATEGORIES.items()}
BRANDS = ["Gardena", "Fiskars", "Tefal", "Kross", "Coleman", "Samsung", "Lenovo", "Sony", "LG"]
RULES: dict[str, Any] = {
    "strategy": "margin",
    "rules": [
        {"scope": "price_band", "band": {"min": "0", "max": "10"}, "percentage": "45"},
        {"scope": "price_band", "band": {"min": "10", "max": "100"}, "percentage": "35"},
        {"scope": "price_band", "band": {"min": "100"}, "percentage": "22"},
        {"scope": "category", "value": "Electronics > Computers", "percentage": "12"},
        {"scope": "brand", "value": "Sony", "percentage": "18"},
        {"scope": "product", "value": "SKU-000042", "percentage": "5"},
    ],
    "fallback": "rrp",
    "floor": {"min_margin_pct": "2"},
    "shipping": {"free_delivery": True},
    "rounding": {"PLN": {"ending": "0.99"}, "CZK": {"ending": "9"}, "HUF": {"ending": "90"}},
    # A benchmark run moves every price at once on purpose.
    "circuit_breaker": {"enabled": False},
}
RATES = {
    "rates": [
        {"base": "EUR", "quote": q, "rate": r, "source": "bench", "as_of": "2026-11-26"}
        for q, r in (("PLN", "4.2875"), ("CZK", "25.21"), ("HUF", "391.40"))
    ]
}


def catalogue(count: int, seed: int = 7) -> list[CatalogItem]:
    rng = random.Random(seed)
    items = []
    for n in range(count):
        cost = Decimal(rng.randint(150, 150_000)) / 100
        category = rng.choice(CATEGORIES)
        items.append(
            CatalogItem(
                sku=f"SKU-{n:06d}",
                revision=1,
                listed=True,
                ean=f"590{n:010d}",
                title=f"Product {n}",
                supplier_category=category,
                allegro_category_id=ALLEGRO_LEAF[category],
                brand=rng.choice(BRANDS),
                weight_kg=Decimal(rng.randint(5, 2500)) / 100,
                cost=Money(amount=cost, currency="EUR"),
                rrp=Money(amount=(cost * Decimal("1.9")).quantize(Decimal("0.01")), currency="EUR"),
                stock=rng.randint(0, 50),
            )
        )
    return items


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_account(run_number: int) -> str:
    return f"bench-shop-{run_number}"


async def start_service(
    db: str, amqp: str, secret: str, log_level: str = "WARNING"
) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    env = {
        **os.environ,
        "PRICING_DATABASE_URL": db,
        "PRICING_AMQP_URL": amqp,
        "PRICING_HTTP_PORT": str(port),
        "PRICING_LOG_LEVEL": log_level,
        "MCI_SERVICE_TOKEN_SECRET": secret,
        # No auth here to ask which accounts exist: the runs' accounts (see bench_account).
        "PRICING_KNOWN_ACCOUNTS": json.dumps([bench_account(n) for n in range(1000)]),
    }
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "pricing", env=env)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base) as http:
        for _ in range(300):
            try:
                if (await http.get("/health/ready")).status_code == 200:
                    return process, base
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError("the pricing service did not become ready")


async def store_category_tree(db: str) -> None:
    """Allegro's tree in pricing's cache (its `allegro_categories` table, migrated by the
    service at start), as its worker would have read it: no Allegro runs here. This script's
    name shadows the pricing package, so the rows are written here rather than through it."""
    parents = {parent for _, _, parent, _ in ALLEGRO_TREE if parent}
    engine = create_engine(db)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.text(
                    "INSERT INTO allegro_categories (id, parent_id, name, leaf)"
                    " VALUES (:id, :parent, :name, :leaf)"
                ),
                [
                    {"id": cid, "parent": parent, "name": name, "leaf": cid not in parents}
                    for cid, name, parent, _ in ALLEGRO_TREE
                ],
            )
    finally:
        await engine.dispose()


class Sink:
    """Counts PriceComputed items (and distinct skus) as they arrive."""

    def __init__(self) -> None:
        self.items = 0
        self.last = 0.0
        self.skus: set[str] = set()
        self.priced = 0
        self.changed = asyncio.Event()

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        body = orjson.loads(message.body)
        for item in body["data"]["items"]:
            self.items += 1
            self.priced += len(item["prices"])
            self.skus.add(item["sku"])
        self.last = time.perf_counter()
        await message.ack()
        self.changed.set()

    async def wait_items(self, count: int, within: float = 300) -> None:
        deadline = time.perf_counter() + within
        while self.items < count:
            self.changed.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"only {self.items} of {count} items arrived")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    load_before = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    async with infra.Throwaway() as env:
        amqp = env.amqp_url
        db = await env.database("bench_pricing")
        secret = secrets.token_urlsafe(24)
        process: asyncio.subprocess.Process | None = None
        connection: aio_pika.abc.AbstractRobustConnection | None = None
        try:
            process, base = await start_service(db, amqp, secret, args.service_log_level)
            await store_category_tree(db)
            token = issue_token(secret, "bench", "operator", ttl_seconds=3600)
            connection = await aio_pika.connect_robust(amqp)
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=500)
            sink = Sink()
            queue = await declare_queue(
                channel, QueueSpec("bench.prices", events("price.computed"))
            )
            await queue.consume(sink.on_message)
            items = catalogue(args.count)
            publish = await connection.channel(publisher_confirms=True)
            exchange = await publish.get_exchange("mci.events")
            async with httpx.AsyncClient(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=300
            ) as http:
                runs: list[tuple[float, float, int]] = []
                for run_number in range(args.runs):
                    account = bench_account(run_number)  # a fresh account: every price is new
                    (await http.put(f"/accounts/{account}/fx-rates", json=RATES)).raise_for_status()
                    (await http.put(f"/accounts/{account}/rules", json=RULES)).raise_for_status()
                    bodies = []
                    for first in range(0, len(items), args.batch):
                        event = CatalogUpdated(
                            account_id=account, items=items[first : first + args.batch]
                        )
                        envelope = Envelope(
                            type=event.event_type,
                            source="catalog",
                            correlation_id=str(uuid.uuid4()),
                            data=event.model_dump(mode="json"),
                        )
                        bodies.append(
                            (str(envelope.id), orjson.dumps(envelope.model_dump(mode="json")))
                        )
                    before_run = sink.items
                    priced_before = sink.priced
                    started = time.perf_counter()
                    await asyncio.gather(
                        *(
                            exchange.publish(
                                aio_pika.Message(
                                    body,
                                    message_id=mid,
                                    type="CatalogUpdated",
                                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                ),
                                routing_key="catalog.updated",
                            )
                            for mid, body in bodies
                        )
                    )
                    published_at = time.perf_counter() - started
                    await sink.wait_items(before_run + args.count)
                    runs.append((sink.last - started, published_at, sink.priced - priced_before))
                runs.sort()
                ingest, published, priced_ok = runs[len(runs) // 2]
                all_runs = ", ".join(f"{r[0]:.2f}" for r in runs)

                # A rule change: the whole selection is recomputed and every price moves.
                changed = {
                    **RULES,
                    "rules": [
                        {**r, "percentage": str(Decimal(r["percentage"]) + 3)}
                        for r in RULES["rules"]
                    ],
                }
                before = sink.items
                started = time.perf_counter()
                response = await http.put(f"/accounts/{account}/rules", json=changed)
                response.raise_for_status()
                answered = time.perf_counter() - started
                await sink.wait_items(before + args.count)
                recompute = sink.last - started
                explain = (
                    await http.get(f"/accounts/{account}/prices/SKU-000042/allegro-hu")
                ).json()
        finally:
            if connection is not None:
                await connection.close()
            if process is not None and process.returncode is None:
                process.terminate()
                await process.wait()

    prices = args.count * MARKETPLACES
    return [
        {
            "figure": "catalog_updated_to_price_computed",
            "value": round(ingest, 2),
            "unit": "s",
            "target": TARGET_SECONDS,
            "ratio": round(TARGET_SECONDS / ingest, 2),
            "note": f"{args.count} products x {MARKETPLACES} marketplaces, CatalogUpdated of "
            f"{args.batch} items published on mci.events -> last PriceComputed item received "
            f"(service in its own process: consumer, pricing, outbox, relay); {priced_ok} "
            f"prices published, {prices - priced_ok} unpriced with a reason; median of "
            f"{args.runs} runs ({all_runs} s), load average before: {load_before}",
        },
        {
            "figure": "catalog_updated_to_price_computed_rate",
            "value": round(args.count / ingest),
            "unit": "items/s",
            "target": round(args.count / TARGET_SECONDS),
            "ratio": round(args.count / ingest / (args.count / TARGET_SECONDS), 2),
            "note": f"products per second ({round(prices / ingest)} prices/s)",
        },
        {
            "figure": "catalog_publish",
            "value": round(published, 2),
            "unit": "s",
            "target": None,
            "note": "where the time goes: publishing the CatalogUpdated messages (confirmed)",
        },
        {
            "figure": "rule_change_recompute",
            "value": round(recompute, 2),
            "unit": "s",
            "target": TARGET_SECONDS,
            "ratio": round(TARGET_SECONDS / recompute, 2),
            "note": f"PUT rules (answered after {answered:.2f} s: prices stored and events in "
            f"the outbox) -> last of {args.count} PriceComputed items received",
        },
        {
            "figure": "explained_sample",
            "value": explain.get("amount"),
            "unit": "HUF",
            "target": None,
            "note": f"SKU-000042 on allegro-hu, rule {explain.get('rule_id')}, "
            f"{len(explain.get('chain', []))} explanation steps",
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=45_000)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--service-log-level", default="WARNING")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = asyncio.run(run(args))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
