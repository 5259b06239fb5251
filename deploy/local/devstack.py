"""`make run`: the whole platform on this machine, on the embedded default, through to a sale.

Starts the Allegro emulator, the BigBuy emulator, the five services and the BigBuy connector as
supervised processes against the local PostgreSQL and RabbitMQ (each service creates and
migrates its own database), waits until every one is ready, then drives the demo with live
progress (`mci_testing.platform`, the same steps the end-to-end test takes): BigBuy's
catalogue in through the connector, a shop connected through the device flow, its account made
ready, categories selected, mapped and priced, offers published on allegro.pl with CZ and SK
prices, buyers' orders sent to BigBuy, shipped, and the tracking written to Allegro. Prints a
summary, then keeps the stack up until Ctrl-C and stops it cleanly. Logs: .run/<name>.log.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import secrets
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mci_testing import platform as stack_platform
from mci_testing.infra import drop_database
from mci_testing.platform import Platform, Ports, Shop, stack
from mci_testing.supervisor import ProcessFailed, ProcessSpec, Supervisor
from shared.db import migrate
from shared.settings import DEFAULT_DATABASE_ADMIN_URL

REPO = Path(__file__).resolve().parents[2]
LOGS = REPO / ".run"
EMULATOR_PORT = int(os.environ.get("ALLEGRO_EMULATOR_PORT", "8400"))


PORTS = Ports(allegro_emulator=EMULATOR_PORT)
# The catalogue BigBuy's emulator serves: `make run` a few thousand products, `make run-check`
# a few hundred so it stays about a minute or two.
RUN_PRODUCTS = int(os.environ.get("MCI_DEMO_PRODUCTS", "3000"))
CHECK_PRODUCTS = int(os.environ.get("MCI_DEMO_CHECK_PRODUCTS", "300"))
DEMO_ORDERS = 10
DATABASES = [f"mci_{name}" for name in ("auth", "catalog", "pricing", "offers", "orders", "bigbuy")]


@dataclass
class Component:
    name: str
    module: str
    port: int
    ready_path: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# The Allegro emulator and the five services: what docker-compose also runs (tests/deploy).
COMPONENTS = [
    Component("emulator", "allegro_emulator", EMULATOR_PORT, "/__admin/config"),
    *(
        Component(name, name, getattr(PORTS, name), "/health/ready")
        for name in ("auth", "catalog", "pricing", "offers", "orders")
    ),
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


def local_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("ENVIRONMENT", "development")
    admin_key = env.get("AUTH_BOOTSTRAP_ADMIN_KEY") or (
        development_admin_key() if env["ENVIRONMENT"] == "development" else ""
    )
    if not admin_key:
        raise RuntimeError("outside development, set AUTH_BOOTSTRAP_ADMIN_KEY for the demo")
    return stack_platform.environment(PORTS, admin_key, env)


def environment() -> dict[str, str]:
    """The settings every process of `make run` gets (docker-compose mirrors them)."""
    return local_environment()


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
    )


async def watch(
    console: Console,
    description: str,
    total: int,
    done: Any,
    within: float,
) -> int:
    """A bar with rate and ETA while `done()` (an awaitable count) climbs to `total`."""
    started = time.monotonic()
    count = 0
    with progress_bar(console) as bar:
        task = bar.add_task(description, total=max(total, 1), rate="")
        while time.monotonic() - started < within:
            count = await done()
            rate = count / max(time.monotonic() - started, 0.001) * 60
            bar.update(task, completed=min(count, total), rate=f"{rate:,.0f}/min")
            if count >= total:
                break
            await asyncio.sleep(1)
    return count


async def demo(platform: Platform, console: Console, products: int) -> dict[str, Any]:
    """The demo through to a sale; returns what the summary and `make run-check` look at."""
    say = console.print
    say(f"[bold]1. BigBuy's catalogue ({products} products) in through the connector")

    async def in_catalog() -> int:
        return await platform.catalogue_in()

    # Variations are SKUs of their own and parents with variations are not sent: about as
    # many SKUs as products; the refresh is done when the count stops moving.
    await watch(console, "products in catalog", products, in_catalog, within=600)
    await platform.wait_catalogue_settled()
    say(f"  {await platform.catalogue_in()} SKUs in catalog")

    say("[bold]2. the shop demo-shop connects (device flow, approved on the emulator)")
    shop = Shop("demo-shop", "demo-seller", "", ("allegro-pl", "allegro-cz", "allegro-sk"))
    shop.account_id = await platform.connect(shop.alias, shop.login)
    say(f"  account {shop.account_id} connected as Allegro's demo-seller")

    say("[bold]3. account readiness: return policy, warranty, shipping price lists, producer")
    readiness = await platform.make_ready(shop)
    for item in readiness["items"]:
        say(f"  {item['item']:<22} {item['status']}")

    say("[bold]4. prices, selection and category mapping")
    await platform.price(shop)
    roots = await platform.supplier_roots()
    await platform.select_and_map(shop, roots)
    say(f"  selected {', '.join(roots)}; mapped to Allegro's best suggested categories")
    with console.status("waiting for the selection and its prices to settle"):
        listable = await platform.publish(shop)
    say(f"  {listable} products listable, priced; publication resumed")

    say("[bold]5. offers published on allegro.pl with CZ and SK prices")

    async def settled() -> int:
        return await platform.settled(shop)

    await watch(console, "offers settled", listable, settled, within=900)

    say(f"[bold]6. buyers order ({DEMO_ORDERS}); to BigBuy, shipped, tracking to Allegro")
    active = await platform.offers(shop, "active")
    forms = [await platform.buy(o["offer_id"]) for o in active[:DEMO_ORDERS]]

    async def tracked() -> int:
        return len(await platform.shipped_on_allegro(shop.login))

    await watch(console, "tracking on Allegro", len(forms), tracked, within=300)
    return {"shop": shop, "forms": forms}


async def summary(platform: Platform, console: Console, shop: Shop) -> tuple[int, int]:
    """Tables: offers by state per marketplace, not listable by reason, the orders' way."""
    progress = await platform.progress(shop)
    offers = Table(title="offers by state")
    offers.add_column("offers' state")
    offers.add_column("count", justify="right")
    for state, count in sorted(progress["by_state"].items()):
        offers.add_row(state, str(count))
    console.print(offers)
    marketplaces = Table(title="on Allegro, by marketplace (Allegro's state)")
    marketplaces.add_column("marketplace")
    marketplaces.add_column("state")
    marketplaces.add_column("count", justify="right")
    for marketplace, states in sorted(progress["by_marketplace"].items()):
        for state, count in sorted(states.items()):
            marketplaces.add_row(marketplace, state, str(count))
    console.print(marketplaces)

    reasons = Table(title="not listable, by reason")
    reasons.add_column("where")
    reasons.add_column("reason")
    reasons.add_column("products", justify="right")
    blocked = await platform.get("catalog", f"/accounts/{shop.account_id}/not-listable", limit=1)
    for reason, count in sorted(blocked["by_reason"].items()):
        reasons.add_row("catalog", reason, str(count))
    for reason, count in sorted(
        Counter(
            (o.get("reason") or {}).get("code", "?")
            for o in await platform.offers(shop, "not_listable")
        ).items()
    ):
        reasons.add_row("offers", reason, str(count))
    console.print(reasons)

    imported = await platform.pages("orders", "/orders", account_id=shop.account_id)
    supplier = await platform.supplier_orders()
    shipped = await platform.shipped_on_allegro(shop.login)
    orders = Table(title="orders")
    orders.add_column("imported from Allegro", justify="right")
    orders.add_column("sent to BigBuy", justify="right")
    orders.add_column("tracking on Allegro", justify="right")
    sent = [o for o in supplier if o.get("bigbuy_order_id")]
    orders.add_row(str(len(imported)), str(len(sent)), str(len(shipped)))
    console.print(orders)

    nxt = Table(title="where to look next")
    nxt.add_column("what")
    nxt.add_column("where")
    for what, where in (
        ("each service's docs", "services/*/README.md, connectors/bigbuy/README.md"),
        ("the CLI", ".venv/bin/mci --help (finds the key in .run/bootstrap-admin-key)"),
        ("the console", f"{CONSOLE.url} (log in with the key below)"),
        ("logs", str(LOGS)),
        *((name, platform.url(name)) for name in ("auth", "catalog", "pricing", "offers")),
        ("orders", platform.url("orders")),
        ("BigBuy connector", platform.url("bigbuy")),
    ):
        nxt.add_row(what, where)
    console.print(nxt)
    active = int(progress["by_state"].get("active", 0))
    return active, len(shipped)


async def run(keep_running: bool) -> int:
    console = Console()
    env = local_environment()
    products = RUN_PRODUCTS if keep_running else CHECK_PRODUCTS
    specs: list[ProcessSpec] = [
        *stack(PORTS, products),
        ProcessSpec(CONSOLE.name, CONSOLE.module, CONSOLE.port, CONSOLE.ready_path),
    ]
    if "ALLEGRO_API_URL" not in os.environ:
        # The emulators start empty, so an earlier run's offers, orders and refreshes would
        # point at nothing: the demo starts from fresh databases (each service migrates its own).
        admin_url = os.environ.get("DATABASE_ADMIN_URL", DEFAULT_DATABASE_ADMIN_URL)
        for name in DATABASES:
            await drop_database(admin_url, name)
        console.print(f"fresh demo databases: {', '.join(DATABASES)}")
    supervisor = Supervisor(LOGS, env)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    platform = Platform(PORTS, env["AUTH_BOOTSTRAP_ADMIN_KEY"])
    try:
        for spec in specs:
            with console.status(f"starting {spec.name} on {spec.url}"):
                await asyncio.to_thread(supervisor.start, spec)
            console.print(f"started {spec.name:<17} {spec.url}  log .run/{spec.name}.log")
        scenario = asyncio.create_task(demo(platform, console, products))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({scenario, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not scenario.done():
            scenario.cancel()
            console.print("stopped by Ctrl-C")
            return 130
        result = scenario.result()
        active, tracked = await summary(platform, console, result["shop"])
        console.print(f"operator API key for this local stack: {env['AUTH_BOOTSTRAP_ADMIN_KEY']}")
        if not keep_running:
            if active == 0 or tracked == 0:
                console.print("[red]run-check failed: no active offer or no tracking on Allegro")
                return 1
            console.print("[green]run-check: offers active and tracking on Allegro")
            return 0
        console.print("Ctrl-C stops it; logs in .run/")
        await stopped
        return 0
    except (ProcessFailed, TimeoutError, RuntimeError, httpx.HTTPError) as exc:
        console.print(f"[red]{exc}")
        dead = supervisor.dead()
        if dead:
            console.print(f"[red]exited: {', '.join(dead)} (see their logs in .run/)")
        return 1
    finally:
        await platform.close()
        with console.status("stopping every process"):
            await asyncio.to_thread(supervisor.stop_all)


async def migrate_all() -> int:
    """Create and migrate every service's database (what each service also does at start)."""
    for component in [*COMPONENTS[1:], Component("bigbuy", "bigbuy_connector", 0, "")]:
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
