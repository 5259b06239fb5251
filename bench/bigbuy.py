"""`make bench-bigbuy`: a 100,000-product BigBuy catalogue ingested through BigBuy's API.

The BigBuy emulator runs as its own process (`python -m bigbuy_emulator`) with BigBuy's limits
and every window shortened by `--scale` (10: an hour lasts 6 minutes), so the figure keeps
BigBuy's proportions in less time. The connector's catalogue scheduler runs in this process on
a throw-away database, on the system clock, from an empty database until the first full refresh
is joined and its SupplierProductsChanged events are committed to the outbox.

The floor is the earliest the limits let the last call go: for each list, the calls it needs
(its pages, plus the empty page that tells the end when the last page is full) fill
ceil(calls / limit) windows, the first opened by the first call, so its last call cannot go
before (windows - 1) x window; the slowest list sets the floor (the rate floor, calls / limit x
window, is in the note too). Writes bench/results/bigbuy.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bigbuy_connector import scheduler
from bigbuy_connector.client import BigBuyClient, documented_limit, endpoint_key
from bigbuy_connector.clock import SystemClock
from bigbuy_connector.deps import BigBuyDeps, DatabaseBudgets
from bigbuy_connector.domain import catalogue as cat
from bigbuy_connector.main import MIGRATIONS
from bigbuy_connector.settings import Settings
from bigbuy_emulator import seed
from mci_testing import infra
from shared.db import create_engine, migrate
from shared.uow import UnitsOfWork

RESULTS = Path(__file__).parent / "results" / "bigbuy.json"
TARGET_RATIO = 1.2
KEY = "bench-key-3f9a1c7e5b2d4086"
PAGE_SIZE = 10_000


def rows_of(name: str, size: int) -> int:
    """How many rows each list has for a catalogue of `size` products."""
    if name in ("products", "information", "images", "stock"):
        return size
    if name in ("variations", "variation_stock", "variation_attributes"):
        return seed.variations_total(size)
    return 1  # attributes, groups, taxonomies, manufacturers: one short page


def floor_seconds(size: int, window: float) -> tuple[float, float, str]:
    """(the earliest the last call may go, the rate floor, which list sets them)."""
    worst, rate, which = 0.0, 0.0, ""
    for spec in cat.FULL_LISTS:
        calls = rows_of(spec.name, size) // PAGE_SIZE + 1
        limit, _ = documented_limit(endpoint_key(spec.path))
        seconds = (math.ceil(calls / limit) - 1) * window
        if (seconds, calls / limit) > (worst, rate):
            worst, rate = seconds, calls / limit * window
            which = f"{spec.name}: {calls} calls at {limit} per window"
    return worst, rate, which


def start_emulator(port: int, size: int, scale: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BIGBUY_EMULATOR_API_KEY": KEY}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bigbuy_emulator",
            "--port",
            str(port),
            "--catalogue-size",
            str(size),
            "--rate-limit-scale",
            str(scale),
        ],
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the BigBuy emulator did not start")


async def run(size: int, scale: float) -> dict[str, Any]:
    port = infra.free_port()
    emulator = start_emulator(port, size, scale)
    try:
        async with infra.Throwaway() as env:
            database = await env.database("bigbuy_bench")
            await migrate(MIGRATIONS, database)
            settings = Settings(
                database_url=database,
                api_url=f"http://127.0.0.1:{port}/rest",
                api_key=KEY,
                page_size=PAGE_SIZE,
                gpsr_enabled=False,
            )
            engine = create_engine(database, pool_size=4)
            units = UnitsOfWork(engine, "bigbuy")
            clock = SystemClock()
            client = BigBuyClient(
                settings.api_url,
                KEY,
                DatabaseBudgets(units),
                clock,
                margin=settings.rate_limit_margin_seconds,
            )
            deps = BigBuyDeps(units=units, client=client, clock=clock, settings=settings)
            started = time.monotonic()
            try:
                while True:
                    wait = await scheduler.step(deps, "bench")
                    async with engine.connect() as conn:
                        done = (
                            await conn.execute(
                                sa.text("SELECT count(*) FROM refresh_runs WHERE status = 'done'")
                            )
                        ).scalar_one()
                    if done:
                        break
                    if wait > 0:
                        await asyncio.sleep(wait)
                elapsed = time.monotonic() - started
                async with engine.connect() as conn:
                    products = (
                        await conn.execute(sa.text("SELECT count(*) FROM products"))
                    ).scalar_one()
                    events = (
                        await conn.execute(
                            sa.text(
                                "SELECT count(*) FROM outbox"
                                " WHERE routing_key = 'supplier.products'"
                            )
                        )
                    ).scalar_one()
            finally:
                await client.aclose()
                await engine.dispose()
        async with httpx.AsyncClient(timeout=10) as admin:
            counters = (await admin.get(f"http://127.0.0.1:{port}/__admin/counters")).json()
    finally:
        emulator.terminate()
        emulator.wait(10)
    window = 3600.0 / scale
    floor, rate_floor, bottleneck = floor_seconds(size, window)
    return {
        "elapsed": elapsed,
        "floor": floor,
        "rate_floor": rate_floor,
        "bottleneck": bottleneck,
        "window": window,
        "products": products,
        "events": events,
        "rate_limited": counters["rateLimited"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--scale", type=float, default=10.0, help="BigBuy's windows divided by")
    args = parser.parse_args()
    result = asyncio.run(run(args.size, args.scale))
    ratio = result["elapsed"] / result["floor"] if result["floor"] else math.inf
    results = [
        {
            "figure": f"BigBuy catalogue ingest, {args.size:,} products, time against its floor",
            "value": round(ratio, 3),
            "unit": "x floor",
            "target": TARGET_RATIO,
            "ratio": round(TARGET_RATIO / ratio, 3),
            "better": "lower",
            "note": (
                f"{result['elapsed']:.1f} s against a floor of {result['floor']:.1f} s"
                f" (rate floor {result['rate_floor']:.1f} s, ratio"
                f" {result['elapsed'] / result['rate_floor']:.3f};"
                f" {result['bottleneck']}, window {result['window']:.0f} s = BigBuy's hour"
                f" / {args.scale:g}); pages of {PAGE_SIZE:,}; {result['products']:,} SKUs"
                f" (variations their own) in {result['events']} SupplierProductsChanged events"
                f" committed; {result['rate_limited']} answers 429; load average"
                f" {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores after the run"
            ),
        }
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    if result["rate_limited"]:
        sys.exit("BigBuy answered 429: the limits were exceeded")


if __name__ == "__main__":
    main()
