"""`make run`: the whole platform on this machine, on the embedded default.

Starts the Allegro emulator and the five services as processes against the local PostgreSQL and
RabbitMQ (each service creates and migrates its own database), waits until every one is ready,
runs the demo scenario, then keeps the stack up until Ctrl-C and stops it cleanly.
Logs go to .run/<name>.log.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from shared.db import migrate

REPO = Path(__file__).resolve().parents[2]
LOGS = REPO / ".run"
EMULATOR_PORT = int(os.environ.get("ALLEGRO_EMULATOR_PORT", "8400"))


@dataclass
class Component:
    name: str
    module: str
    port: int
    ready_path: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


COMPONENTS = [
    Component("emulator", "allegro_emulator", EMULATOR_PORT, "/__admin/config"),
    Component("auth", "auth", 8001, "/health/ready"),
    Component("catalog", "catalog", 8002, "/health/ready"),
    Component("pricing", "pricing", 8003, "/health/ready"),
    Component("offers", "offers", 8004, "/health/ready"),
    Component("orders", "orders", 8005, "/health/ready"),
]
# The operator console (console/README.md): started after the services, not one of them.
CONSOLE = Component("console", "mci_console", 8009, "/health")


def development_admin_key() -> str:
    """The admin key `make run` starts auth with: made on this machine, kept in .run/ (not in git).

    Its id is auth's DEVELOPMENT_BOOTSTRAP_KEY_ID, which auth refuses outside development.
    """
    from auth.settings import DEVELOPMENT_BOOTSTRAP_KEY_ID

    path = LOGS / "bootstrap-admin-key"
    if path.exists():
        return path.read_text().strip()
    LOGS.mkdir(exist_ok=True)
    key = f"mcik_{DEVELOPMENT_BOOTSTRAP_KEY_ID}_{secrets.token_urlsafe(32)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("ENVIRONMENT", "development")
    if env["ENVIRONMENT"] == "development":
        env.setdefault("AUTH_BOOTSTRAP_ADMIN_KEY", development_admin_key())
    env.setdefault("ALLEGRO_API_URL", f"http://127.0.0.1:{EMULATOR_PORT}")
    env.setdefault("ALLEGRO_AUTH_URL", f"http://127.0.0.1:{EMULATOR_PORT}")
    return env


async def start(component: Component, env: dict[str, str]) -> asyncio.subprocess.Process:
    LOGS.mkdir(exist_ok=True)
    log = (LOGS / f"{component.name}.log").open("ab")
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        component.module,
        "--port",
        str(component.port),
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


async def wait_ready(component: Component, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 90
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(
                    f"{component.name} exited ({process.returncode}); see .run/{component.name}.log"
                )
            try:
                if (await http.get(component.url + component.ready_path)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError(f"{component.name} not ready after 90 s; see .run/{component.name}.log")


async def demo() -> None:
    """The end-to-end demo on the emulator; each service adds its steps as it lands."""
    emulator = COMPONENTS[0].url
    auth = COMPONENTS[1].url
    admin_key = environment().get("AUTH_BOOTSTRAP_ADMIN_KEY")
    if not admin_key:
        raise RuntimeError("outside development, set AUTH_BOOTSTRAP_ADMIN_KEY for the demo")
    admin = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(timeout=30, headers=admin) as http:
        for component in COMPONENTS[1:]:
            ready = (await http.get(component.url + "/health/ready")).json()
            print(f"  {component.name:<8} {component.url}  ready: {ready['checks']}")

        print("connecting the demo shop (seller demo-seller on the emulator) through OAuth:")
        accounts = (await http.get(f"{auth}/accounts", params={"limit": 1000})).json()["items"]
        account = next((a for a in accounts if a["alias"] == "demo-shop"), None)
        if account is None:
            account = (
                (await http.post(f"{auth}/accounts", json={"alias": "demo-shop"}))
                .raise_for_status()
                .json()
            )
        # The emulator starts empty each run, so the shop is linked afresh every time.
        await http.post(f"{auth}/accounts/{account['id']}/reset")
        start = await http.post(f"{auth}/accounts/{account['id']}/connect/authorization-code")
        query = dict(httpx.URL(start.raise_for_status().json()["authorize_url"]).params)
        print(f"  authorize URL: {start.json()['authorize_url'][:90]}...")
        # The seller's approval on Allegro's page, done headlessly by the emulator.
        approval = await http.post(
            f"{emulator}/__admin/oauth/authorize",
            json={
                "clientId": query["client_id"],
                "redirectUri": query["redirect_uri"],
                "login": "demo-seller",
                "codeChallenge": query["code_challenge"],
                "codeChallengeMethod": "S256",
                "state": query["state"],
            },
        )
        callback = httpx.URL(approval.raise_for_status().json()["redirectUrl"])
        account = (
            (await http.get(f"{auth}/accounts/oauth/callback", params=dict(callback.params)))
            .raise_for_status()
            .json()
        )
        print(
            f"  account {account['alias']}: {account['status']} as Allegro user "
            f"{account['allegro_login']} ({account['allegro_user_id']}),"
            f" token valid until {account['access_expires_at']}"
        )
        await demo_catalogue_and_prices(http, account["id"])
        print(f"  operator API key for this local stack: {admin['Authorization'][7:]}")
        print(f"  operator console: {CONSOLE.url} (log in with that key)")


DEMO_PRODUCTS = 500
DEMO_CATEGORIES = ["Home & Garden", "Sports & Outdoors", "Electronics"]
DEMO_RULES: dict[str, Any] = {
    "strategy": "margin",
    "rules": [
        {"scope": "price_band", "band": {"min": "0", "max": "10"}, "percentage": "45"},
        {"scope": "price_band", "band": {"min": "10", "max": "100"}, "percentage": "35"},
        {"scope": "price_band", "band": {"min": "100"}, "percentage": "22"},
    ],
    "fallback": "rrp",
    "floor": {"min_margin_pct": "2"},
    "shipping": {"free_delivery": True},
}
DEMO_RATES = {
    "rates": [
        {"base": "EUR", "quote": quote, "rate": rate, "source": "demo", "as_of": "2026-11-26"}
        for quote, rate in (("PLN", "4.2875"), ("CZK", "25.21"), ("HUF", "391.40"))
    ]
}


async def demo_catalogue_and_prices(http: httpx.AsyncClient, account_id: str) -> None:
    """Catalogue in, a selection for the shop, prices per marketplace, Allegro coverage."""
    catalog, pricing = COMPONENTS[2].url, COMPONENTS[3].url
    seedfiles = importlib.import_module("mci_testing.seedfiles")
    # The emulator's Allegro catalogue is generated from the same seed, so EANs match.
    body = b"".join(seedfiles.jsonl_lines(seedfiles.seed_products(1_000_000, 0, DEMO_PRODUCTS)))
    imported = (
        (await http.post(f"{catalog}/imports", params={"format": "jsonl"}, content=body))
        .raise_for_status()
        .json()
    )
    print(
        f"imported the demo catalogue: {imported['valid']} valid rows,"
        f" {imported['invalid']} rejected with their reasons"
    )
    prices = f"{pricing}/accounts/{account_id}"
    (await http.put(f"{prices}/fx-rates", json=DEMO_RATES)).raise_for_status()
    (await http.put(f"{prices}/rules", json=DEMO_RULES)).raise_for_status()
    # The seed carries no GPSR data (BigBuy's product compliance): the demo shop lists under
    # its own responsible producer, so its products are not held back for it.
    waived = await http.put(
        f"{catalog}/accounts/{account_id}/listing", json={"not_blocking": ["missing_gpsr"]}
    )
    waived.raise_for_status()
    selection = await http.put(
        f"{catalog}/accounts/{account_id}/selection",
        json={"include": {"categories": DEMO_CATEGORIES}},
    )
    print(f"selected for demo-shop: {selection.raise_for_status().json()}")
    # A product is listable only once its category is mapped to an Allegro category: take
    # Allegro's best suggestion for each (as an operator would after reviewing them).
    suggested = await http.post(
        f"{catalog}/accounts/{account_id}/category-suggestions/unmapped", json={"limit": 50}
    )
    categories = [
        found["supplier_category"]
        for found in suggested.raise_for_status().json()["categories"]
        if found.get("suggestions")
    ]
    accepted = await http.post(
        f"{catalog}/category-mappings/accept-suggestions",
        json={"supplier_categories": categories},
    )
    mapped = accepted.raise_for_status().json()["accepted"]
    print(f"mapped {len(mapped)} supplier categories to Allegro's (best suggestion each)")
    page = (await http.get(f"{catalog}/products", params={"limit": 5})).json()
    sku = page["items"][-1]["sku"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        explained = await http.get(f"{prices}/prices/{sku}/allegro-pl")
        if explained.status_code == 200:
            print(f"priced from CatalogUpdated -> PriceComputed; {sku} on allegro-pl:")
            print("  " + json.dumps(explained.json(), default=str)[:600] + " ...")
            break
        await asyncio.sleep(0.5)
    else:
        print(f"  {sku} has no price yet: see .run/pricing.log")
    coverage = await http.post(f"{catalog}/accounts/{account_id}/coverage")
    report_id = coverage.raise_for_status().json()["report_id"]
    print("coverage of the selection on Allegro's catalogue (EAN lookups, rate-limited):")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        report = (await http.get(f"{catalog}/coverage/{report_id}")).json()
        if report["status"] != "running":
            print(f"  {report['status']}: {report['counts']}")
            break
        await asyncio.sleep(2)
    else:
        print(f"  still running ({report.get('progress')}): GET {catalog}/coverage/{report_id}")


async def run(keep_running: bool) -> int:
    env = environment()
    processes: list[tuple[Component, asyncio.subprocess.Process]] = []
    try:
        for component in COMPONENTS:
            process = await start(component, env)
            processes.append((component, process))
            await wait_ready(component, process)
            print(f"started {component.name} on {component.url}", flush=True)
        console = await start(CONSOLE, env)
        processes.append((CONSOLE, console))
        await wait_ready(CONSOLE, console)
        print(f"started the operator console on {CONSOLE.url}", flush=True)
        print("the platform is up:")
        await demo()
        if keep_running:
            print("Ctrl-C stops it; logs in .run/", flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
        return 0
    finally:
        for _, process in reversed(processes):
            if process.returncode is None:
                process.terminate()
        for _, process in processes:
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()


async def migrate_all() -> int:
    """Create and migrate every service's database (what each service also does at start)."""
    for component in COMPONENTS[1:]:
        main = importlib.import_module(f"{component.module}.main")
        definition = main.build()
        await migrate(definition.migrations_dir, definition.settings.database_url)
        print(f"migrated {definition.settings.database_name}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="devstack")
    parser.add_argument(
        "command",
        choices=["run", "check", "migrate"],
        help="run: start and keep up; check: start, demo, stop; migrate: databases only",
    )
    args = parser.parse_args()
    if args.command == "migrate":
        sys.exit(asyncio.run(migrate_all()))
    sys.exit(asyncio.run(run(keep_running=args.command == "run")))


if __name__ == "__main__":
    main()
