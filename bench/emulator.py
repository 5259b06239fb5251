"""Throughput of the Allegro emulator: one uvicorn worker, rate limits off, with the strict
validation on (category parameters, GPSR; offers are created with a responsible producer).

Starts `python -m allegro_emulator` in a subprocess, seeds a seller with offers through the
admin API, then drives the offers and commands paths with a multi-process, keep-alive,
raw-socket HTTP/1.1 load generator (so the generator is not the bottleneck the way an httpx
client would be). Writes bench/results/emulator.json.

    make bench-emulator        (or: .venv/bin/python bench/emulator.py --seconds 5)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "emulator.json"
MEDIA = "application/vnd.allegro.public.v1+json"
TARGET = 1500.0
PRODUCER = {
    "name": f"bench-{uuid.uuid4().hex[:8]}",
    "producerData": {
        "tradeName": "Bench Producer",
        "address": {
            "countryCode": "PL",
            "street": "ul. Testowa 1",
            "postalCode": "00-001",
            "city": "Warszawa",
        },
        "contact": {"email": "bench@example.com"},
    },
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def request_bytes(method: str, path: str, token: str, body: bytes | None = None) -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {MEDIA}\r\n"
        f"Authorization: Bearer {token}\r\n"
    )
    if body is not None:
        head += f"Content-Type: {MEDIA}\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + (body or b"")


# A scenario builds the next request from a running number (commands need fresh UUIDs).
Builder = Callable[[int], bytes]


def make_builder(name: str, token: str, offer_ids: list[str]) -> Builder:
    def get_offer(n: int) -> bytes:
        return request_bytes("GET", f"/sale/product-offers/{offer_ids[n % len(offer_ids)]}", token)

    def patch_offer(n: int) -> bytes:
        body = json.dumps({"stock": {"available": 50 + n % 50}}).encode()
        return request_bytes(
            "PATCH", f"/sale/product-offers/{offer_ids[n % len(offer_ids)]}", token, body
        )

    def list_offers(n: int) -> bytes:
        return request_bytes("GET", f"/sale/offers?offer.id={offer_ids[n % len(offer_ids)]}", token)

    def price_command(n: int) -> bytes:
        offers = [{"id": offer_ids[(n + k) % len(offer_ids)]} for k in range(10)]
        body = json.dumps(
            {
                "modification": {
                    "type": "FIXED_PRICE",
                    "price": {"amount": f"{50 + n % 50}.99", "currency": "PLN"},
                },
                "offerCriteria": [{"type": "CONTAINS_OFFERS", "offers": offers}],
            }
        ).encode()
        return request_bytes(
            "PUT", f"/sale/offer-price-change-commands/{uuid.uuid4()}", token, body
        )

    def quantity_command(n: int) -> bytes:
        offers = [{"id": offer_ids[(n + k) % len(offer_ids)]} for k in range(10)]
        body = json.dumps(
            {
                "modification": {"changeType": "FIXED", "value": 100 + n % 50},
                "offerCriteria": [{"type": "CONTAINS_OFFERS", "offers": offers}],
            }
        ).encode()
        return request_bytes(
            "PUT", f"/sale/offer-quantity-change-commands/{uuid.uuid4()}", token, body
        )

    builders: dict[str, Builder] = {
        "GET /sale/product-offers/{offerId}": get_offer,
        "PATCH /sale/product-offers/{offerId}": patch_offer,
        "GET /sale/offers?offer.id=": list_offers,
        "PUT /sale/offer-price-change-commands/{commandId} (10 offers)": price_command,
        "PUT /sale/offer-quantity-change-commands/{commandId} (10 offers)": quantity_command,
    }
    return builders[name]


async def _connection(
    port: int, build: Builder, start: int, stride: int, until: float
) -> tuple[int, int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = errors = 0
    n = start
    try:
        while time.monotonic() < until:
            writer.write(build(n))
            n += stride
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            if status >= 400:
                errors += 1
            done += 1
    finally:
        writer.close()
    return done, errors


def _worker(args: tuple[int, str, str, list[str], int, int, float, int]) -> tuple[int, int]:
    port, name, token, offer_ids, index, connections, until, workers = args
    build = make_builder(name, token, offer_ids)

    async def run() -> tuple[int, int]:
        results = await asyncio.gather(
            *[
                _connection(port, build, index + workers * c, workers * connections, until)
                for c in range(connections)
            ]
        )
        return sum(r[0] for r in results), sum(r[1] for r in results)

    return asyncio.run(run())


def measure(
    port: int,
    name: str,
    token: str,
    offer_ids: list[str],
    seconds: float,
    workers: int,
    connections: int,
) -> tuple[float, int]:
    until = time.monotonic() + seconds + 0.5  # workers start within the extra half second
    started = time.monotonic()
    with multiprocessing.Pool(workers) as pool:
        results = pool.map(
            _worker,
            [
                (port, name, token, offer_ids, i, connections, until, workers)
                for i in range(workers)
            ],
        )
    elapsed = time.monotonic() - started
    total, errors = sum(r[0] for r in results), sum(r[1] for r in results)
    return total / elapsed, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 2)))
    parser.add_argument("--connections", type=int, default=16, help="per worker process")
    parser.add_argument("--offers", type=int, default=300)
    parser.add_argument("--only", help="run only scenarios whose name contains this text")
    args = parser.parse_args()

    port = free_port()
    env = {
        **os.environ,
        "ALLEGRO_EMULATOR_ASYNC_OFFER_SHARE": "0",
        "ALLEGRO_EMULATOR_QUALIFICATION_SECONDS": "0",
        "ALLEGRO_EMULATOR_LATE_VALIDATION_SHARE": "0",
    }
    server = subprocess.Popen(
        [
            *os.environ.get("EMULATOR_LAUNCHER", sys.executable).split(),
            "-m",
            "allegro_emulator",
            "--port",
            str(port),
            "--no-rate-limits",
        ],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        admin = httpx.Client(base_url=base + "/__admin", timeout=30)
        deadline = time.monotonic() + 20
        while True:
            try:
                admin.get("/config")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        token = admin.post("/tokens", json={"login": "demo-seller"}).json()["access_token"]
        api = httpx.Client(
            base_url=base,
            timeout=30,
            headers={"Accept": MEDIA, "Content-Type": MEDIA, "Authorization": f"Bearer {token}"},
        )
        sys.path.insert(0, str(ROOT / "sandbox" / "allegro" / "src"))
        from allegro_emulator.seed import CatalogueSpec, allegro_presence, ean_for_row

        spec = CatalogueSpec()
        rows = (r for r in range(100_000) if allegro_presence(spec, r) == 1)
        # Publication needs GPSR data: a responsible producer and safety information.
        producer = api.post("/sale/responsible-producers", content=json.dumps(PRODUCER))
        producer.raise_for_status()
        safety = {
            "responsibleProducer": {"type": "ID", "id": producer.json()["id"]},
            "safetyInformation": {"type": "TEXT", "description": "Keep away from children."},
        }
        offer_ids = []
        for _ in range(args.offers):
            body = {
                "productSet": [
                    {"product": {"id": ean_for_row(spec, next(rows)), "idType": "GTIN"}, **safety}
                ],
                "parameters": [{"id": "11323", "valuesIds": ["11323_1"]}],
                "sellingMode": {"price": {"amount": "99.99", "currency": "PLN"}},
                "stock": {"available": 100, "unit": "UNIT"},
                "publication": {"status": "ACTIVE"},
            }
            response = api.post("/sale/product-offers", content=json.dumps(body))
            response.raise_for_status()
            offer_ids.append(response.json()["id"])

        results = []
        scenarios = [
            "GET /sale/product-offers/{offerId}",
            "PATCH /sale/product-offers/{offerId}",
            "GET /sale/offers?offer.id=",
            "PUT /sale/offer-price-change-commands/{commandId} (10 offers)",
            "PUT /sale/offer-quantity-change-commands/{commandId} (10 offers)",
        ]
        for name in [s for s in scenarios if not args.only or args.only in s]:
            # The machine may be shared: the 1-minute load average before each run goes in the note.
            load = os.getloadavg()[0]
            rate, errors = measure(
                port, name, token, offer_ids, args.seconds, args.workers, args.connections
            )
            print(f"{name}: {rate:,.0f} req/s ({errors} errors)")
            results.append(
                {
                    "figure": f"emulator throughput, {name}",
                    "value": round(rate, 1),
                    "unit": "req/s",
                    "target": TARGET,
                    "ratio": round(rate / TARGET, 3),
                    "note": f"one uvicorn worker, rate limits off, {args.workers} load processes"
                    f" x {args.connections} keep-alive connections, {args.seconds:g} s,"
                    f" {errors} error responses, load average {load:.2f} on"
                    f" {os.cpu_count()} cores before the run",
                }
            )
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
