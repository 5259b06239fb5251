"""`make bench-catalog`: catalog ingestion speed, memory, and time to the last CatalogUpdated.

Runs the catalog service as its own process (`python -m catalog`) on a throw-away database and
vhost, and streams files generated from the emulator's seeded supplier catalogue over HTTP:

(a) 45,000 products as JSON Lines, with a selection that lists them all: rows/s of the import,
    and the time from the first byte sent until the last CatalogUpdated item is consumed from
    the broker (target: under 30 s);
(b) 45,000 other products as our CSV, the same figures;
(c) the JSON Lines file of (a) again: nothing changes, nothing is emitted;
(d) 1,000,000 products (CSV) into a fresh service and database: rows/s and the service
    process's peak RSS (VmHWM; target: under 500 MB).

Writes bench/results/catalog.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx

from mci_testing import infra
from mci_testing.bench import unshadow
from shared.events import CatalogUpdated
from shared.security import issue_token

RESULTS = Path(__file__).parent / "results" / "catalog.json"
unshadow(__file__)  # this script, bench/catalog.py, would hide the `catalog` package
seedfiles = importlib.import_module("mci_testing.seedfiles")
SEED_SIZE = 1_000_000
ROOTS = ["Home & Garden", "Sports & Outdoors", "Electronics"]
ACCOUNT = "bench-shop"


def write_file(path: Path, lines: Iterator[bytes]) -> int:
    with path.open("wb") as out:
        for line in lines:
            out.write(line)
    return path.stat().st_size


async def file_chunks(path: Path, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Service:
    """The catalog service in its own process."""

    def __init__(self, database_url: str, amqp_url: str) -> None:
        self.port = infra_free_port()
        env = {
            **os.environ,
            "CATALOG_DATABASE_URL": database_url,
            "CATALOG_AMQP_URL": amqp_url,
            "CATALOG_LOG_LEVEL": "WARNING",
            "CATALOG_OUTBOX_POLL_INTERVAL_SECONDS": "0.1",
            "CATALOG_KNOWN_ACCOUNTS": f'["{ACCOUNT}"]',  # no auth here to ask
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "catalog", "--port", str(self.port)], env=env
        )
        self.url = f"http://127.0.0.1:{self.port}"
        secret = os.environ.get("MCI_SERVICE_TOKEN_SECRET", "changeme")
        self.headers = {"Authorization": f"Bearer {issue_token(secret, 'bench', 'operator', 3600)}"}

    async def ready(self) -> None:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/health/ready")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError("the catalog service did not become ready")

    async def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=3600) as http:
            response = await http.request(
                method, f"{self.url}{path}", headers=self.headers, **kwargs
            )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stop(self) -> float:
        peak = peak_rss_mb(self.process.pid)
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        return peak


def infra_free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ItemCounter:
    """A consumer of catalog.updated counting the items one account is told about."""

    def __init__(self) -> None:
        self.items = 0
        self.last_at = 0.0

    async def start(self, amqp_url: str) -> None:
        self.connection = await aio_pika.connect_robust(amqp_url)
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=64)
        exchange = await channel.declare_exchange(
            CatalogUpdated.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue("bench.catalog-updated", exclusive=True)
        await queue.bind(exchange, CatalogUpdated.routing_key)
        await queue.consume(self.on_message)

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        data = json.loads(message.body)["data"]
        if data["account_id"] == ACCOUNT:
            self.items += len(data["items"])
            self.last_at = time.monotonic()
        await message.ack()

    async def wait_for(self, count: int, within: float = 600) -> float:
        deadline = time.monotonic() + within
        while self.items < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.items} of {count} items arrived")
            await asyncio.sleep(0.05)
        return self.last_at


async def timed_import(service: Service, path: Path, fmt: str) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    report = await service.call(
        "POST", "/imports", params={"format": fmt}, content=file_chunks(path)
    )
    return report, started


async def main(args: argparse.Namespace) -> None:
    env = await infra.Throwaway().start()
    amqp = env.amqp_url
    results: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    try:
        n = args.count
        print(f"writing files ({n:,} JSONL, {n:,} CSV, {args.big:,} CSV) in {work}", flush=True)
        jsonl = work / "products.jsonl"
        csv_small = work / "products.csv"
        csv_big = work / "products-big.csv"
        write_file(jsonl, seedfiles.jsonl_lines(seedfiles.seed_products(SEED_SIZE, 0, n)))
        write_file(csv_small, seedfiles.csv_lines(seedfiles.seed_products(SEED_SIZE, n, 2 * n)))
        big = seedfiles.seed_products(SEED_SIZE, 0, args.big)
        big_bytes = write_file(csv_big, seedfiles.csv_lines(big))

        db_a = await env.database("catalog_a")
        counter = ItemCounter()
        await counter.start(amqp)
        service = Service(db_a, amqp)
        try:
            await service.ready()
            await service.call(
                "PUT", f"/accounts/{ACCOUNT}/selection", json={"include": {"categories": ROOTS}}
            )
            # The two 45,000-row files are 90,000 products for one account: a cap above that
            # keeps both figures about import and emission, not about withdrawing past a cap.
            # The seed carries no GPSR data: the shop lists under its own responsible producer.
            await service.call(
                "PUT",
                f"/accounts/{ACCOUNT}/listing",
                json={"product_cap": 100_000, "not_blocking": ["missing_gpsr"]},
            )
            # Listable needs a category mapping: map every seed category to its Allegro leaf,
            # so the selection lists them all through the full listability check.
            seed = importlib.import_module("allegro_emulator.seed")
            for leaf, path in seed.SUPPLIER_CATEGORIES.items():
                await service.call(
                    "PUT",
                    "/category-mappings",
                    json={"supplier_category": " > ".join(path), "allegro_category_id": leaf},
                )
            for label, path, fmt in (("jsonl", jsonl, "jsonl"), ("csv", csv_small, "csv")):
                before = counter.items
                report, started = await timed_import(service, path, fmt)
                ingested = time.monotonic() - started
                assert report["valid"] == n and report["invalid"] == 0, report
                last = await counter.wait_for(before + report["emitted_items"])
                to_last = last - started
                print(
                    f"{label}: {n:,} rows ingested in {ingested:.1f} s, last CatalogUpdated"
                    f" consumed after {to_last:.1f} s ({report['emitted_items']:,} items)",
                    flush=True,
                )
                results += [
                    {
                        "figure": f"import_{label}_45k_rows_per_second",
                        "value": round(n / ingested),
                        "unit": "rows/s",
                        "target": round(n / 30),
                        "ratio": round(n / ingested / (n / 30), 2),
                        "note": "validated, merged, written and CatalogUpdated in the outbox",
                    },
                    {
                        "figure": f"import_{label}_45k_until_last_catalog_updated",
                        "value": round(to_last, 2),
                        "unit": "s",
                        "target": 30,
                        "ratio": round(30 / to_last, 2),
                        "note": f"{report['emitted_items']} items for one account's selection,"
                        " from the first byte sent to the last item consumed from the broker",
                    },
                ]
            before = counter.items
            report, started = await timed_import(service, jsonl, "jsonl")
            again = time.monotonic() - started
            await asyncio.sleep(1)
            assert report["changed"] == 0 and counter.items == before, report
            results.append(
                {
                    "figure": "reimport_jsonl_45k_unchanged_rows_per_second",
                    "value": round(n / again),
                    "unit": "rows/s",
                    "target": round(n / 30),
                    "ratio": round(n / again / (n / 30), 2),
                    "note": "the same file again: 0 changed, 0 items emitted",
                }
            )
        finally:
            peak_a = service.stop()
            await counter.connection.close()
        results.append(
            {
                "figure": "service_peak_rss_45k_runs",
                "value": round(peak_a),
                "unit": "MB",
                "target": 500,
                "ratio": round(500 / peak_a, 2),
                "note": "VmHWM of the service process over the three 45k imports",
            }
        )

        db_b = await env.database("catalog_b")
        service = Service(db_b, amqp)
        try:
            await service.ready()
            report, started = await timed_import(service, csv_big, "csv")
            elapsed = time.monotonic() - started
            assert report["valid"] == args.big, report
        finally:
            peak_b = service.stop()
        print(
            f"csv {args.big:,} rows ({big_bytes / 1e6:.0f} MB) in {elapsed:.1f} s,"
            f" peak RSS {peak_b:.0f} MB",
            flush=True,
        )
        results += [
            {
                "figure": "import_csv_1m_rows_per_second",
                "value": round(args.big / elapsed),
                "unit": "rows/s",
                "target": None,
                "note": f"{args.big} rows, {big_bytes / 1e6:.0f} MB, streamed; no selection"
                " (ingestion alone)",
            },
            {
                "figure": "import_csv_1m_peak_rss",
                "value": round(peak_b),
                "unit": "MB",
                "target": 500,
                "ratio": round(500 / peak_b, 2),
                "note": "VmHWM of the service process during the 1M-row import",
            },
        ]
    finally:
        await env.close()
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--count", type=int, default=45_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    asyncio.run(main(parser.parse_args()))
