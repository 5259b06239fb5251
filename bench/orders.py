"""`make bench-orders`: orders imported from Allegro (the emulator) while buyers keep buying.

The emulator runs as its own process (`python -m allegro_emulator`, rate limits on) with three
sellers, each with active offers; its buyer simulator places paid orders at a steady rate across
them (`PUT /__admin/buyer`). The orders service runs as its own process (this file with
`--serve`: `orders.main.build` with the sellers' tokens, since there is no auth service here)
on a throw-away database and vhost, told of the three accounts by AccountConnected events.

Figures: OrderReceived per second arriving on the broker while the buyers buy (after a warm-up),
and the latency from an order's payment (`payment.finishedAt`, the emulator's clock, which is
this machine's) to its OrderReceived arriving in a queue bound to `order.received` (p50, p95).
Targets: >= 100 orders/s sustained; p95 <= the polling interval + 1 s. Every order placed must
arrive exactly once. Writes bench/results/orders.json.

    make bench-orders     (or: .venv/bin/python bench/orders.py --rate 120 --seconds 60)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import time
import uuid
from datetime import datetime
from typing import Any

import aio_pika
import httpx
import orjson
import sqlalchemy as sa

from mci_testing import infra
from mci_testing.bench import (
    ROOT,
    load_average,
    message_of,
    percentile,
    serve,
    spawn_emulator,
    spawn_service,
    stop,
    write_results,
)
from mci_testing.emulator import RESPONSIBLE_PRODUCER
from shared.db import create_engine
from shared.events import AccountConnected
from shared.messaging.topology import QueueSpec, declare_queue, events

RESULTS = ROOT / "bench" / "results" / "orders.json"
MEDIA = "application/vnd.allegro.public.v1+json"
ACCOUNTS = 3
TARGET_RATE = 100.0


def seller_with_offers(admin: httpx.Client, base: str, offers: int) -> tuple[str, str]:
    """A new emulator seller with `offers` active offers of ample stock: (login, token)."""
    login = admin.post("/sellers", json={"login": f"bench-{uuid.uuid4().hex[:8]}"}).json()["login"]
    token = admin.post("/tokens", json={"login": login}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": MEDIA, "Content-Type": MEDIA}
    rows = admin.get("/catalogue/sample", params={"n": 500}).json()["rows"]
    eans = [r["ean"] for r in rows if r["allegroProducts"] == 1]
    with httpx.Client(base_url=base, headers=headers, timeout=30) as api:
        api.post("/sale/responsible-producers", json=RESPONSIBLE_PRODUCER).raise_for_status()
        for n in range(offers):
            body = {
                "productSet": [
                    {
                        "product": {"id": eans[n], "idType": "GTIN"},
                        "responsibleProducer": {
                            "type": "NAME",
                            "name": RESPONSIBLE_PRODUCER["name"],
                        },
                        "safetyInformation": {"type": "TEXT", "description": "Chronić."},
                    }
                ],
                "parameters": [{"id": "11323", "valuesIds": ["11323_1"]}],
                "sellingMode": {"price": {"amount": "49.90", "currency": "PLN"}},
                "stock": {"available": 99_999, "unit": "UNIT"},
                "publication": {"status": "ACTIVE"},
                "external": {"id": f"SKU-{login}-{n}"},
            }
            api.post("/sale/product-offers", json=body).raise_for_status()
    return login, token


class Probe:
    """Every OrderReceived: when it arrived, when it was paid."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.paid: dict[str, float] = {}
        self.duplicates = 0
        self.changed = asyncio.Event()

    async def all_of(self, orders: set[str]) -> None:
        while not orders <= self.arrived.keys():
            self.changed.clear()
            await self.changed.wait()

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        now = time.time()
        data = orjson.loads(message.body)["data"]
        order = str(data["order_id"])
        if order in self.arrived:
            self.duplicates += 1
        else:
            self.arrived[order] = now
            paid = data.get("paid_at")
            if paid:
                self.paid[order] = datetime.fromisoformat(paid).timestamp()
        self.changed.set()


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    load_before = load_average()
    emulator, base = await spawn_emulator({"ALLEGRO_EMULATOR_ASYNC_OFFER_SHARE": "0"})
    service: asyncio.subprocess.Process | None = None
    connection: aio_pika.abc.AbstractRobustConnection | None = None
    try:
        with httpx.Client(base_url=f"{base}/__admin", timeout=60) as setup:
            sellers = [seller_with_offers(setup, base, args.offers) for _ in range(ACCOUNTS)]
        admin = httpx.AsyncClient(base_url=f"{base}/__admin", timeout=60)
        accounts = {f"bench-shop-{n}": seller for n, seller in enumerate(sellers)}
        async with infra.Throwaway() as env:
            database = await env.database("bench_orders")
            service, _ = await spawn_service(
                __file__,
                {a: token for a, (_, token) in accounts.items()},
                {
                    "ORDERS_DATABASE_URL": database,
                    "ORDERS_AMQP_URL": env.amqp_url,
                    "ORDERS_ALLEGRO_API_URL": base,
                    "ORDERS_ALLEGRO_AUTH_URL": base,
                    "ORDERS_LOG_LEVEL": "WARNING",
                    "ORDERS_ORDER_POLL_INTERVAL_SECONDS": str(args.poll_interval),
                    "MCI_SERVICE_TOKEN_SECRET": secrets.token_urlsafe(32),
                },
            )
            connection = await aio_pika.connect_robust(env.amqp_url)
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=1000)
            probe = Probe()
            queue = await declare_queue(
                channel, QueueSpec("bench.orders-received", events("order.received"))
            )
            await queue.consume(probe.on_message, no_ack=True)  # a probe: no ack to wait for
            publish = await connection.channel(publisher_confirms=True)
            exchange = await publish.get_exchange("mci.events")
            for account in accounts:
                event = AccountConnected(
                    account_id=account,
                    alias=account,
                    base_marketplace="allegro-pl",
                    allegro_user_id="1",
                )
                await exchange.publish(message_of(event, "bench"), routing_key=event.routing_key)
            await asyncio.sleep(2)  # the accounts are known and polled (nothing to import yet)
            await admin.delete("/counters")
            started = time.time()
            await admin.put("/buyer", json={"ordersPerMinute": args.rate * 60})
            await asyncio.sleep(args.seconds)
            await admin.put("/buyer", json={"ordersPerMinute": 0})
            stopped = time.time()
            placed: set[str] = set()
            for login, _ in sellers:
                state = (await admin.get("/state", params={"login": login})).json()
                placed |= {f["id"] for s in state["sellers"] for f in s["checkoutForms"]}
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(probe.all_of(placed), args.drain)
            drained = time.time()
            counters = (await admin.get("/counters")).json()
            await admin.aclose()
            await stop(service)  # before its database and vhost go
            engine = create_engine(database)
            async with engine.connect() as conn:
                rows = await conn.execute(
                    sa.text(
                        "SELECT id, received_at FROM checkout_forms WHERE received_at IS NOT NULL"
                    )
                )
                stored = {str(r[0]): r[1].timestamp() for r in rows}
            await engine.dispose()
    finally:
        if connection is not None:
            await connection.close()
        await stop(service, emulator)

    missing = len(placed - probe.arrived.keys())
    steady_from = started + args.warmup
    steady = [t for o, t in probe.arrived.items() if o in placed and steady_from <= t <= stopped]
    rate = len(steady) / (stopped - steady_from)
    latencies = [probe.arrived[o] - probe.paid[o] for o in placed if o in probe.paid]
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    # Where the time goes: payment -> stored with its outbox row (the import), then -> on the
    # broker (relay, RabbitMQ, this process's consumer).
    imported = [stored[o] - probe.paid[o] for o in placed if o in stored and o in probe.paid]
    relayed = [probe.arrived[o] - stored[o] for o in placed if o in stored and o in probe.arrived]
    split = (
        f"payment -> stored p50 {percentile(imported, 0.5):.2f} s, p95"
        f" {percentile(imported, 0.95):.2f} s; stored -> on the broker p50"
        f" {percentile(relayed, 0.5):.2f} s, p95 {percentile(relayed, 0.95):.2f} s"
    )
    latency_target = args.poll_interval + 1.0
    calls = {
        f"{r['method']} {r['operation']}": r["count"]
        for r in counters["requests"]
        if r["operation"].startswith("/order/")
    }
    calls_total = sum(calls.values())
    offered = len(placed) / (stopped - started)
    page_size = os.environ.get("ORDERS_ORDER_EVENTS_PAGE_SIZE", "1000 (the default)")
    note = (
        f"{len(placed)} orders placed by the emulator's buyer simulator at {offered:.0f}/s"
        f" across {ACCOUNTS} accounts for {args.seconds:.0f} s; the service in its own process"
        f" (poll interval {args.poll_interval} s, pages of {page_size} events, forms read"
        f" through the list); load average before: {load_before}"
    )
    return [
        {
            "figure": "orders_imported_rate",
            "value": round(rate, 1),
            "unit": "orders/s",
            "target": TARGET_RATE,
            "ratio": round(rate / TARGET_RATE, 2),
            "note": f"OrderReceived arriving on the broker per second between {args.warmup:.0f} s"
            f" after the buyers started and their stop; {note}",
        },
        {
            "figure": "payment_to_order_received_p50",
            "value": round(p50, 2),
            "unit": "s",
            "target": latency_target,
            "ratio": round(latency_target / p50, 2),
            "note": "payment.finishedAt -> OrderReceived in a queue bound to order.received",
        },
        {
            "figure": "payment_to_order_received_p95",
            "value": round(p95, 2),
            "unit": "s",
            "target": latency_target,
            "ratio": round(latency_target / p95, 2),
            "note": f"max {max(latencies):.2f} s; target: the polling interval + 1 s; {split}",
        },
        {
            "figure": "orders_lost_or_doubled",
            "value": missing + probe.duplicates,
            "unit": "orders",
            "target": 0,
            "better": "lower",
            "note": f"{missing} placed orders without OrderReceived {args.drain:.0f} s after the"
            f" buyers stopped (all in {drained - stopped:.1f} s), {probe.duplicates} received"
            " twice (the emulator duplicates 5% of READY_FOR_PROCESSING events)",
        },
        {
            "figure": "allegro_calls_per_order",
            "value": round(calls_total / max(1, len(placed)), 3),
            "unit": "calls",
            "target": None,
            "note": "order API calls the emulator answered, per order placed: "
            + ", ".join(f"{k}: {v}" for k, v in sorted(calls.items())),
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=120.0, help="orders placed per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long buyers buy")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--drain", type=float, default=60.0)
    parser.add_argument("--offers", type=int, default=3, help="active offers per seller")
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--serve", nargs="+", metavar=("PORT", "ACCOUNT=TOKEN"))
    args = parser.parse_args()
    if args.serve:
        serve("orders", int(args.serve[0]), args.serve[1:])
        return
    results = asyncio.run(run(args))
    write_results(RESULTS, results)


if __name__ == "__main__":
    main()
