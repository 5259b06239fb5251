"""`make bench-offers`: 45,000 offers published for one account at Allegro's rate-limit floor.

The emulator runs as its own process (`python -m allegro_emulator`) with Allegro's limits
scaled by `--scale` (`rate_limit_scale`: every limit's window and block divided by it, so the
run takes minutes and the ratios hold); the offers service runs as its own process (this file
with `--serve`: `offers.main.build` with the seller's token, no auth service here) on a
throw-away database and vhost, told the same factor (`OFFERS_ALLEGRO_RATE_LIMIT_SCALE`). The
seller gets its after-sales settings and shipping price list from the emulator, the readiness
check creates its responsible producer.

Creation: the clock starts when the first CatalogUpdated (250 items each, then their
PriceComputed, as catalog and pricing send them) is published on mci.events and stops when the
last OfferPublished / OfferFailed has arrived in a queue bound to them. Its floor is the least
time the emulator's configured, scaled limits allow for the same work: the creates sent
(`POST /sale/product-offers`, Allegro's per-seller limit) and, if it binds, every call on the
Client ID's limit; read from the emulator's `/__admin/config` and `/__admin/counters`, never
assumed here. 429s and duplicates (SKUs on Allegro more than once) are read from the emulator.

Repricing all offers and changing stock on all of them are phases of their own (`PHASES`),
measured by batch commands that are not on this branch yet: until then they are written as
`not_measured`, never as a number. Writes bench/results/offers.json.

    make bench-offers     (or: .venv/bin/python bench/offers.py --count 45000 --scale 4)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sys
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

from allegro_emulator.seed import CatalogueSpec, allegro_presence, supplier_product
from mci_testing import infra
from shared.events import (
    CatalogItem,
    CatalogUpdated,
    Envelope,
    Event,
    Money,
    PriceComputed,
    PricedItem,
)
from shared.messaging.topology import QueueSpec, declare_queue, events
from shared.security import issue_token

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "offers.json"
ACCOUNT = "bench-shop"
BATCH = 250
TARGET_RATIO = 1.10
PRODUCER = {
    "name": "Fabryka Benchmarkowa",
    "producerData": {
        "tradeName": "Fabryka Benchmarkowa sp. z o.o.",
        "address": {
            "countryCode": "PL",
            "street": "ul. Fabryczna 1",
            "postalCode": "60-001",
            "city": "Poznań",
        },
        "contact": {"email": "gpsr@fabryka.example"},
    },
}
SAFETY = "Chronić przed dziećmi. Instrukcja w języku polskim w opakowaniu."


def serve(port: int, pairs: list[str]) -> None:
    """The offers service (API and worker) with a fixed Allegro token; settings from OFFERS_*."""
    import uvicorn

    # Run as a script, this file's folder comes first on the path and its name hides the
    # offers package.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    from offers.main import build
    from shared.allegro.tokens import StaticTokens
    from shared.service import create_app

    tokens = dict(pair.split("=", 1) for pair in pairs)
    app = create_app(build(allegro_tokens=StaticTokens(tokens)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def wait_ready(url: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer 200")
            await asyncio.sleep(0.2)


def products(count: int) -> list[CatalogItem]:
    """The first `count` supplier products of the emulator's catalogue whose EAN matches one
    Allegro product (the catalog service withdraws the others before they reach offers)."""
    spec = CatalogueSpec()
    items: list[CatalogItem] = []
    row = 0
    while len(items) < count:
        if allegro_presence(spec, row) == 1:
            p = supplier_product(spec, row)
            items.append(
                CatalogItem(
                    sku=f"SKU-{row:07d}",
                    revision=1,
                    listed=True,
                    ean=p["ean"],
                    title=p["name"],
                    images=p["images"],
                    allegro_category_id=p["allegro_category_id"],
                    brand=p["brand"],
                    weight_kg=Decimal(str(p["weight_kg"])),
                    stock=10,
                )
            )
        row += 1
    return items


def envelope_of(event: Event, source: str) -> aio_pika.Message:
    envelope = Envelope(
        type=event.event_type,
        source=source,
        correlation_id=str(uuid.uuid4()),
        data=event.model_dump(mode="json"),
    )
    return aio_pika.Message(
        orjson.dumps(envelope.model_dump(mode="json")),
        message_id=str(envelope.id),
        type=envelope.type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


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
    """What the phases share: the emulator's admin API, the service, the broker."""

    admin: httpx.AsyncClient
    service: httpx.AsyncClient
    exchange: aio_pika.abc.AbstractExchange
    probe: Probe
    items: list[CatalogItem]
    login: str
    scale: float


def per_second(config: dict[str, Any], name: str) -> float:
    """A configured limit of the emulator as calls per second, its scale applied."""
    spec = config["rate_limits"][name]
    return float(spec["limit"]) / float(spec["window_seconds"]) * float(config["rate_limit_scale"])


def post_calls(counters: dict[str, Any], operation: str, method: str = "POST") -> int:
    """Calls the emulator answered on `operation` (429s are not work: they were refused)."""
    return sum(
        r["count"]
        for r in counters["requests"]
        if r["operation"] == operation and r["method"] == method and r["status"] != 429
    )


async def creation(run: Run) -> list[dict[str, Any]]:
    await run.admin.delete("/counters")
    prices = {"allegro-pl": Money(amount=Decimal("49.90"), currency="PLN")}
    messages: list[tuple[aio_pika.Message, str]] = []
    for first in range(0, len(run.items), BATCH):
        chunk = run.items[first : first + BATCH]
        catalog = CatalogUpdated(account_id=ACCOUNT, items=chunk)
        priced = PriceComputed(
            account_id=ACCOUNT,
            items=[PricedItem(sku=i.sku, catalog_revision=1, prices=prices) for i in chunk],
        )
        messages += [
            (envelope_of(catalog, "catalog"), catalog.routing_key),
            (envelope_of(priced, "pricing"), priced.routing_key),
        ]
    started = time.perf_counter()
    for message, routing_key in messages:
        await run.exchange.publish(message, routing_key=routing_key)
    published = time.perf_counter() - started
    # Generous: a loaded machine may take several times the floor; the figure says so.
    await run.probe.wait_for(len(run.items), within=3600)
    took = run.probe.last - started
    counters = (await run.admin.get("/counters")).json()
    config = (await run.admin.get("/config")).json()
    creates = post_calls(counters, "/sale/product-offers")
    post_floor = creates / per_second(config, "product-offers:POST")
    calls = sum(r["count"] for r in counters["requests"] if r["status"] != 429)
    client_floor = calls / per_second(config, "client")
    floor = max(post_floor, client_floor)
    binding = "the seller's POST limit" if post_floor >= client_floor else "the Client ID limit"
    state = (await run.admin.get("/state", params={"login": run.login})).json()
    on_allegro = Counter(
        (o.get("external") or {}).get("id") for s in state["sellers"] for o in s["offers"]
    )
    duplicates = sum(n - 1 for n in on_allegro.values() if n > 1)
    outcomes = Counter(run.probe.outcomes.values())
    reads = {
        f"{r['method']} {r['operation']}": r["count"]
        for r in counters["requests"]
        if r["status"] != 429 and r["method"] == "GET"
    }
    post_limit = config["rate_limits"]["product-offers:POST"]
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
            f" {outcomes.get('OfferFailed', 0)} failed",
        },
        {
            "figure": "creation_rate",
            "value": round(creates / took, 1),
            "unit": "offers/s",
            "target": None,
            "note": "creates per second over the run (scaled Allegro); reads answered: "
            + ", ".join(f"{k}: {v}" for k, v in sorted(reads.items())),
        },
        {
            "figure": "creation_429s",
            "value": int(counters["tooManyRequests"]),
            "unit": "responses",
            "target": 0,
            "better": "lower",
            "note": "429s the emulator sent during creation (its limits are Allegro's, scaled)",
        },
        {
            "figure": "creation_duplicates",
            "value": duplicates,
            "unit": "offers",
            "target": 0,
            "better": "lower",
            "note": f"offers on Allegro beyond one per SKU ({len(on_allegro)} SKUs on Allegro;"
            f" {run.probe.repeated} outcome events repeated for a SKU)",
        },
    ]


NOT_ON_BRANCH = "batch commands not on this branch"


async def repricing(run: Run) -> list[dict[str, Any]]:
    """Every offer's price changed (PriceComputed of a new revision) to the last price command
    done: against the floor of Allegro's price-change commands. Needs the batch-command sync."""
    return [{"figure": "repricing_time_over_floor", "not_measured": NOT_ON_BRANCH}]


async def stock_update(run: Run) -> list[dict[str, Any]]:
    """Every offer's stock changed (CatalogUpdated) to the last quantity command done, and
    the p95 of one stock change to its command accepted. Needs the batch-command sync."""
    return [
        {"figure": "stock_update_time_over_floor", "not_measured": NOT_ON_BRANCH},
        {"figure": "stock_change_to_command_accepted_p95", "not_measured": NOT_ON_BRANCH},
    ]


PHASES: list[Callable[[Run], Awaitable[list[dict[str, Any]]]]] = [
    creation,
    repricing,
    stock_update,
]


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    load_before = os.getloadavg()
    when = datetime.now(UTC).isoformat(timespec="seconds")
    items = products(args.count)
    emulator_port = infra.free_port()
    base = f"http://127.0.0.1:{emulator_port}"
    emulator = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "allegro_emulator",
        "--port",
        str(emulator_port),
        env={
            **os.environ,
            "ALLEGRO_EMULATOR_RATE_LIMIT_SCALE": str(args.scale),
            # Events of offers are not read here: no need to keep them.
            "ALLEGRO_EMULATOR_DUPLICATE_EVENT_SHARE": "0",
        },
        cwd=ROOT,
    )
    service: asyncio.subprocess.Process | None = None
    connection: aio_pika.abc.AbstractRobustConnection | None = None
    figures: list[dict[str, Any]] = []
    try:
        await wait_ready(f"{base}/__admin/config")
        admin = httpx.AsyncClient(base_url=f"{base}/__admin", timeout=300)
        login = (
            await admin.post(
                "/sellers", json={"login": f"bench-{uuid.uuid4().hex[:8]}", "prerequisites": True}
            )
        ).json()["login"]
        token = (await admin.post("/tokens", json={"login": login})).json()["access_token"]
        secret = secrets.token_urlsafe(32)
        async with infra.Throwaway() as env:
            database = await env.database("bench_offers")
            port = infra.free_port()
            service = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--serve",
                str(port),
                f"{ACCOUNT}={token}",
                env={
                    **os.environ,
                    "OFFERS_DATABASE_URL": database,
                    "OFFERS_AMQP_URL": env.amqp_url,
                    "OFFERS_ALLEGRO_API_URL": base,
                    "OFFERS_ALLEGRO_AUTH_URL": base,
                    "OFFERS_ALLEGRO_RATE_LIMIT_SCALE": str(args.scale),
                    # The only service calling Allegro here: the Client ID is all its own.
                    "OFFERS_ALLEGRO_CLIENT_SHARE": "1.0",
                    "OFFERS_KNOWN_ACCOUNTS": json.dumps([ACCOUNT]),
                    "OFFERS_LOG_LEVEL": "WARNING",
                    "MCI_SERVICE_TOKEN_SECRET": secret,
                },
                cwd=ROOT,
            )
            service_url = f"http://127.0.0.1:{port}"
            await wait_ready(f"{service_url}/health/ready")
            connection = await aio_pika.connect_robust(env.amqp_url)
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=1000)
            probe = Probe()
            queue = await declare_queue(
                channel, QueueSpec("bench.offers", events("offer.published", "offer.failed"))
            )
            await queue.consume(probe.on_message, no_ack=True)  # a probe: no ack to wait for
            publish = await connection.channel(publisher_confirms=True)
            exchange = await publish.get_exchange("mci.events")
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
                state = Run(admin, http, exchange, probe, items, login, args.scale)
                for phase in PHASES:
                    figures += await phase(state)
            await admin.aclose()
            service.terminate()  # before its database and vhost go
            await service.wait()
    finally:
        if connection is not None:
            await connection.close()
        for process in (service, emulator):
            if process is not None and process.returncode is None:
                process.terminate()
                await process.wait()
    load_after = os.getloadavg()
    figures[0]["note"] += (
        f"; {when}, load average before {' / '.join(f'{x:.2f}' for x in load_before)},"
        f" after {' / '.join(f'{x:.2f}' for x in load_after)} ({os.cpu_count()} cores)"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=45_000, help="products to publish")
    parser.add_argument(
        "--scale", type=float, default=4.0, help="the emulator's rate_limit_scale (and ours)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--serve", nargs="+", metavar=("PORT", "ACCOUNT=TOKEN"))
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1:])
        return
    results = asyncio.run(run(args))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
