"""A real Prometheus scrapes the running services and the broker, and answers for their series.

catalog, auth, orders and the BigBuy connector run as their own processes on throw-away databases
and a vhost of their own. catalog imports a small catalogue (import rows, outbox, CatalogUpdated
published), consumes one upstream batch (messages consumed, handler latency) and dead-letters one
malformed message (DLQ depth); auth connects an account on the Allegro emulator through OAuth
(Allegro calls by endpoint class and status, limiter waits); orders imports that seller's paid
order from the emulator with auth's token (orders imported); the BigBuy connector, on the BigBuy
emulator with an almost empty wallet, takes an Allegro order that BigBuy refuses for lack of funds
(supplier orders by state, orders waiting for the wallet, the wallet's balance). A Prometheus
server (Debian's `prometheus`, from `make tools`) scrapes them every second, and RabbitMQ's own
exporter (the rabbitmq_prometheus plugin, which `make tools` enables on a local broker) for the
queue depths, with the platform's alert rules loaded. The test asks its HTTP API for each series
and for the DLQ and wallet alerts, which must be pending or firing on the real series; then every
query of the Grafana dashboard must parse and name only series this Prometheus really holds, so
no panel watches a metric that does not exist. A 429 is not provoked here; the promtool unit test
covers that alert. offers is not started here (see deploy/README.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import aio_pika
import httpx
import pytest
import yaml

from mci_testing.bigbuy import BigBuyEmulatorHandle, start_bigbuy_emulator
from mci_testing.emulator import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    SAFETY_INFORMATION,
    EmulatorHandle,
    catalog_item,
    responsible_producer,
    start_emulator,
)
from mci_testing.fixtures import MakeAmqpUrl, MakeDatabase
from mci_testing.infra import free_port, vhost_of, wait_until
from mci_testing.seedfiles import jsonl_lines, seed_products
from shared.events import (
    CatalogUpdated,
    Envelope,
    Money,
    OrderReceived,
    PriceComputed,
    PricedItem,
    SupplierProduct,
    SupplierProductsChanged,
)
from shared.security import issue_token

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
# RabbitMQ's exporter on a local broker (rabbitmq_prometheus plugin); compose's image has it.
RABBITMQ_METRICS = os.environ.get("MCI_RABBITMQ_METRICS_ADDRESS", "127.0.0.1:15692")
ACCOUNT = "acc-live-prometheus"
PRODUCTS = 40


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        pytest.fail("prometheus is missing: run `make tools` (as root it installs it)")
    return found


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_service(
    module: str, port: int, env: dict[str, str], log: IO[bytes]
) -> subprocess.Popen[bytes]:
    # Popen returns at once (the process runs on its own); only waiting on it would block.
    return subprocess.Popen(
        [sys.executable, "-m", module, "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def live_amqp_url(make_amqp_url: MakeAmqpUrl) -> str:
    """A vhost of this test's own: other tests' in-process services consume the run's vhost,
    and a competing consumer there would take the messages meant for the service under test."""
    return make_amqp_url("live")


def admin_headers() -> dict[str, str]:
    secret = os.environ.get("MCI_SERVICE_TOKEN_SECRET", "changeme")
    return {"Authorization": f"Bearer {issue_token(secret, 'live-test', 'admin', 3600)}"}


@asynccontextmanager
async def running(
    name: str,
    env: dict[str, str],
    tmp_path: Path,
    module: str | None = None,
    ready_path: str = "/health/ready",
) -> AsyncIterator[str]:
    """`python -m <module>` (default: the service's name) on a free port until ready; its log
    in tmp_path/<name>.log."""
    port = free_port()
    log_path = tmp_path / f"{name}.log"
    log = log_path.open("wb")
    process = start_service(
        module or name, port, {**os.environ, "ENVIRONMENT": "development", **env}, log
    )
    url = f"http://127.0.0.1:{port}"
    try:

        async def ready() -> bool:
            assert process.poll() is None, log_path.read_text()
            async with httpx.AsyncClient(timeout=2) as http:
                try:
                    return (await http.get(f"{url}{ready_path}")).status_code == 200
                except httpx.HTTPError:
                    return False

        await wait_until(ready, within=90, interval=0.3)
        yield url
    finally:
        stop(process)
        log.close()


@pytest.fixture
async def catalog(
    make_database: MakeDatabase, live_amqp_url: str, tmp_path: Path
) -> AsyncIterator[str]:
    env = {
        "CATALOG_DATABASE_URL": await make_database("catalog_live_prometheus"),
        "CATALOG_AMQP_URL": live_amqp_url,
        "CATALOG_LOG_LEVEL": "WARNING",
        "CATALOG_OUTBOX_POLL_INTERVAL_SECONDS": "0.2",
        "CATALOG_KNOWN_ACCOUNTS": f'["{ACCOUNT}"]',  # no auth to ask which accounts exist
    }
    async with running("catalog", env, tmp_path) as url:
        yield url


@pytest.fixture
async def auth(
    make_database: MakeDatabase, live_amqp_url: str, tmp_path: Path
) -> AsyncIterator[tuple[str, EmulatorHandle]]:
    emulator = start_emulator(catalogue_size=1_000)
    env = {
        "AUTH_DATABASE_URL": await make_database("auth_live_prometheus"),
        "AUTH_AMQP_URL": live_amqp_url,
        "AUTH_LOG_LEVEL": "WARNING",
        "ALLEGRO_API_URL": emulator.url,
        "ALLEGRO_AUTH_URL": emulator.url,
        "ALLEGRO_CLIENT_ID": DEMO_CLIENT_ID,
        "ALLEGRO_CLIENT_SECRET": DEMO_CLIENT_SECRET,
    }
    try:
        async with running("auth", env, tmp_path) as url:
            yield url, emulator
    finally:
        emulator.server.should_exit = True


@pytest.fixture
async def orders(
    make_database: MakeDatabase,
    live_amqp_url: str,
    tmp_path: Path,
    auth: tuple[str, EmulatorHandle],
) -> AsyncIterator[str]:
    """orders imports the connected seller's paid orders from the Allegro emulator, asking auth
    for the seller's token, as in production."""
    auth_url, emulator = auth
    env = {
        "ORDERS_DATABASE_URL": await make_database("orders_live_prometheus"),
        "ORDERS_AMQP_URL": live_amqp_url,
        "ORDERS_LOG_LEVEL": "WARNING",
        "ORDERS_AUTH_URL": auth_url,
        "ALLEGRO_API_URL": emulator.url,
        "ALLEGRO_AUTH_URL": emulator.url,
        "ALLEGRO_CLIENT_ID": DEMO_CLIENT_ID,
        "ORDERS_ORDER_POLL_INTERVAL_SECONDS": "0.5",
    }
    async with running("orders", env, tmp_path) as url:
        yield url


@pytest.fixture
async def offers(
    make_database: MakeDatabase,
    live_amqp_url: str,
    tmp_path: Path,
    auth: tuple[str, EmulatorHandle],
) -> AsyncIterator[str]:
    """offers publishes on the Allegro emulator with the connected seller's token from auth;
    it counts its offers by state every half second (the gauge's timer)."""
    auth_url, emulator = auth
    env = {
        "OFFERS_DATABASE_URL": await make_database("offers_live_prometheus"),
        "OFFERS_AMQP_URL": live_amqp_url,
        "OFFERS_LOG_LEVEL": "WARNING",
        "OFFERS_AUTH_URL": auth_url,
        "ALLEGRO_API_URL": emulator.url,
        "ALLEGRO_AUTH_URL": emulator.url,
        "ALLEGRO_CLIENT_ID": DEMO_CLIENT_ID,
        "OFFERS_OUTBOX_POLL_INTERVAL_SECONDS": "0.2",
        "OFFERS_PUBLISH_POLL_INTERVAL_SECONDS": "0.2",
        "OFFERS_VERIFY_AFTER_SECONDS": "1",
        "OFFERS_STATE_METRICS_INTERVAL_SECONDS": "0.5",
    }
    async with running("offers", env, tmp_path) as url:
        yield url


@pytest.fixture
async def console(tmp_path: Path, catalog: str) -> AsyncIterator[str]:
    """The operator console, proxying to catalog."""
    env = {"CONSOLE_CATALOG_URL": catalog, "CONSOLE_LOG_LEVEL": "WARNING"}
    async with running("console", env, tmp_path, "mci_console", ready_path="/health") as url:
        yield url


@pytest.fixture
async def bigbuy(
    make_database: MakeDatabase, live_amqp_url: str, tmp_path: Path
) -> AsyncIterator[tuple[str, BigBuyEmulatorHandle]]:
    """The BigBuy connector on the BigBuy emulator, its wallet nearly empty: an order goes to
    BigBuy's check and is refused for lack of funds. No catalogue refresh (not measured here)."""
    emulator = start_bigbuy_emulator(catalogue_size=1_000)
    emulator.admin("PUT", "/wallet", {"balance": "1.00"})
    env = {
        "BIGBUY_DATABASE_URL": await make_database("bigbuy_live_prometheus"),
        "BIGBUY_AMQP_URL": live_amqp_url,
        "BIGBUY_LOG_LEVEL": "WARNING",
        "BIGBUY_API_URL": emulator.rest_url,
        "BIGBUY_API_KEY": emulator.key,
        "BIGBUY_CATALOGUE_ENABLED": "false",
        "BIGBUY_GPSR_ENABLED": "false",
        "BIGBUY_ORDER_POLL_INTERVAL_SECONDS": "0.2",
        "BIGBUY_WALLET_POLL_INTERVAL_SECONDS": "1",
        "BIGBUY_TRACKING_POLL_INTERVAL_SECONDS": "3600",
    }
    try:
        async with running("bigbuy", env, tmp_path, module="bigbuy_connector") as url:
            yield url, emulator
    finally:
        emulator.server.should_exit = True


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Prometheus server; the test writes its config (targets) before asking it to load."""
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text("global: {scrape_interval: 1s}\n", encoding="utf-8")
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            prometheus_binary(),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}", config
    finally:
        stop(process)
        log.close()


def scrape(
    config: Path,
    services: dict[str, str],
    vhost: str,
    others: dict[str, dict[str, str]] | None = None,
) -> None:
    """Point Prometheus at the running services (job mci, label service), at `others` (job ->
    service -> URL: the console, the emulators) and at RabbitMQ's exporter for the queues of
    `vhost` (job rabbitmq, as deploy/prometheus/prometheus.yml has it), with alerts.yml
    loaded."""
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(ALERTS)],
                "scrape_configs": [
                    {
                        "job_name": "mci",
                        "static_configs": [
                            {"targets": [url.removeprefix("http://")], "labels": {"service": name}}
                            for name, url in services.items()
                        ],
                    },
                    *(
                        {
                            "job_name": job,
                            "static_configs": [
                                {
                                    "targets": [url.removeprefix("http://")],
                                    "labels": {"service": name},
                                }
                                for name, url in targets.items()
                            ],
                        }
                        for job, targets in (others or {}).items()
                    ),
                    {
                        "job_name": "rabbitmq",
                        "metrics_path": "/metrics/detailed",
                        "params": {
                            "vhost": [vhost],
                            "family": ["queue_coarse_metrics", "queue_consumer_count"],
                        },
                        "static_configs": [
                            {"targets": [RABBITMQ_METRICS], "labels": {"service": "rabbitmq"}}
                        ],
                    },
                ],
            }
        ),
        encoding="utf-8",
    )


def rabbitmq_exporter_reachable() -> None:
    try:
        httpx.get(f"http://{RABBITMQ_METRICS}/metrics", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.fail(
            f"RabbitMQ's Prometheus exporter is not answering on {RABBITMQ_METRICS} ({exc!r}):"
            " run `make tools` (as root it enables the rabbitmq_prometheus plugin), or set"
            " MCI_RABBITMQ_METRICS_ADDRESS"
        )


async def prometheus_ready(http: httpx.AsyncClient, base: str) -> None:
    async def ready() -> bool:
        try:
            return (await http.get(f"{base}/-/ready")).status_code == 200
        except httpx.HTTPError:
            return False

    await wait_until(ready, within=60, interval=0.3)
    (await http.post(f"{base}/-/reload")).raise_for_status()


def log_tail(path: Path) -> str:
    """The end of a service's log, without the relay's retry noise."""
    if not path.exists():
        return ""
    lines = path.read_text(errors="replace").splitlines()
    return "\n".join(line for line in lines if "outbox_publish_failed" not in line)[-4000:]


async def wait_for_series(
    http: httpx.AsyncClient,
    base: str,
    expectations: dict[str, float | None],
    service_log: Path | None = None,
) -> None:
    """Poll Prometheus until every query has a result (at least the given value)."""
    missing: dict[str, float | None] = {}

    async def every_series_there() -> bool:
        missing.clear()
        for promql, at_least in expectations.items():
            result = await query(http, base, promql)
            value = float(result[0]["value"][1]) if result else None
            if value is None or (at_least is not None and value < at_least):
                missing[promql] = value
        return not missing

    try:
        # Generous: on a loaded 2-core machine a scrape plus the handling can take a while.
        await wait_until(every_series_there, within=120, interval=0.5)
    except AssertionError:
        tail = "" if service_log is None else await asyncio.to_thread(log_tail, service_log)
        pytest.fail(f"series missing or below expectation: {missing}\nservice log:\n{tail}")


async def publish(
    amqp_url: str,
    body: bytes,
    message_id: str,
    exchange_name: str = "mci.upstream",
    routing_key: str = "supplier.products",
    message_type: str = "SupplierProductsChanged",
) -> None:
    """Publish as a peer would: by default to mci.upstream as the upstream catalogue system."""
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(exchange_name)
        await exchange.publish(
            aio_pika.Message(
                body,
                message_id=message_id,
                type=message_type,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key,
        )


def upstream_batch() -> Envelope:
    product = SupplierProduct.model_validate(
        {
            "sku": "LIVE-1",
            "updated_at": datetime(2026, 11, 20, 6, 0, tzinfo=UTC),
            "ean": "5901234123457",
            "title": "Sekator Fiskars Pro",
            "category_path": "Home & Garden > Garden > Garden Tools",
            "brand": "Fiskars",
            "weight_kg": Decimal("0.4"),
            "cost": Money(amount=Decimal("20.00"), currency="PLN"),
            "rrp": Money(amount=Decimal("49.99"), currency="PLN"),
            "stock": 5,
        }
    )
    event = SupplierProductsChanged(products=[product])
    envelope = Envelope(
        type=event.event_type,
        source="live-test",
        correlation_id=str(uuid.uuid4()),
        data=event.model_dump(mode="json"),
    )
    return envelope


async def query(http: httpx.AsyncClient, base: str, promql: str) -> list[dict[str, Any]]:
    response = await http.get(f"{base}/api/v1/query", params={"query": promql})
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def catalog_work(http: httpx.AsyncClient, url: str, amqp_url: str) -> None:
    """Work that moves catalog's series: an import, a CatalogUpdated, an upstream batch handled
    and a malformed message dead-lettered."""
    # A queue bound to catalog.updated, as pricing's and offers' are: the relay publishes
    # mandatory, and an event no queue takes is returned (and counted as such), not confirmed.
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    events = await channel.get_exchange("mci.events")
    listener = await channel.declare_queue(f"live-test.{uuid.uuid4().hex[:8]}", durable=True)
    await listener.bind(events, "catalog.updated")
    await connection.close()

    # No Allegro here to map categories: the account waives the mapping (and the GPSR data the
    # test products lack) so its products are listed (and CatalogUpdated goes out).
    waived = await http.put(
        f"{url}/accounts/{ACCOUNT}/listing",
        json={"not_blocking": ["no_category", "missing_gpsr"]},
    )
    waived.raise_for_status()
    selection = await http.put(
        f"{url}/accounts/{ACCOUNT}/selection",
        json={"include": {"categories": ["Home & Garden", "Sports & Outdoors", "Electronics"]}},
    )
    selection.raise_for_status()
    body = b"".join(jsonl_lines(seed_products(1_000_000, 0, PRODUCTS)))
    imported = await http.post(f"{url}/imports", params={"format": "jsonl"}, content=body)
    imported.raise_for_status()
    assert imported.json()["valid"] == PRODUCTS
    batch = upstream_batch()
    await publish(amqp_url, batch.model_dump_json().encode(), str(batch.id))
    await publish(amqp_url, b"not an envelope", str(uuid.uuid4()))

    async def dead_lettered() -> bool:
        depths = await http.get(f"{url}/admin/dlq")
        depths.raise_for_status()
        return bool(depths.json().get("catalog.supplier-products"))

    await wait_until(dead_lettered, within=60, interval=0.3)
    assert (await http.get(f"{url}/no-such-page/LIVE-1")).status_code == 404


async def connect_account(
    http: httpx.AsyncClient, url: str, emulator: EmulatorHandle
) -> tuple[str, str]:
    """auth connects a shop through OAuth on the emulator: the token exchange and GET /me go
    through the Allegro client. Returns the account's id and the seller's login."""
    seller = emulator.new_seller()
    account = (await http.post(f"{url}/accounts", json={"alias": "live-shop"})).json()
    start = await http.post(f"{url}/accounts/{account['id']}/connect/authorization-code")
    start.raise_for_status()
    query_params = dict(httpx.URL(start.json()["authorize_url"]).params)
    approval = await http.post(
        f"{emulator.url}/__admin/oauth/authorize",
        json={
            "clientId": query_params["client_id"],
            "redirectUri": query_params["redirect_uri"],
            "login": seller["login"],
            "codeChallenge": query_params["code_challenge"],
            "codeChallengeMethod": "S256",
            "state": query_params["state"],
        },
    )
    callback = httpx.URL(approval.raise_for_status().json()["redirectUrl"])
    connected = await http.get(f"{url}/accounts/oauth/callback", params=dict(callback.params))
    connected.raise_for_status()
    assert connected.json()["status"] == "connected", connected.json()
    return str(account["id"]), str(seller["login"])


async def buyer_pays(emulator: EmulatorHandle, login: str) -> None:
    """A buyer buys and pays an offer of the connected seller: orders imports the checkout
    form (orders imported)."""
    offer_id = await asyncio.to_thread(emulator.active_offer, login)
    await asyncio.to_thread(emulator.paid_order, offer_id)


PRODUCER = responsible_producer()
SAFETY = SAFETY_INFORMATION
OFFERS = 3
SETTLED = {"active", "inactive", "not_listable", "failed"}


async def publish_event(amqp_url: str, event: CatalogUpdated | PriceComputed) -> None:
    envelope = Envelope(
        type=event.event_type,
        source="live-test",
        correlation_id=str(uuid.uuid4()),
        data=event.model_dump(mode="json"),
    )
    await publish(
        amqp_url,
        envelope.model_dump_json().encode(),
        str(envelope.id),
        exchange_name="mci.events",
        routing_key=event.routing_key,
        message_type=event.event_type,
    )


async def offers_work(
    http: httpx.AsyncClient, url: str, amqp_url: str, emulator: EmulatorHandle, account: str
) -> dict[str, int]:
    """The connected account made ready on the emulator (its producer and safety text given),
    then a few products with a catalogue item and a price each, as catalog and pricing publish
    them: offers creates them on the emulator. Returns the offers per settled state."""
    answer = await http.post(
        f"{url}/accounts/{account}/readiness",
        json={
            "create_missing": True,
            "responsible_producer": PRODUCER,
            "safety_information": SAFETY,
        },
    )
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    assert found["readiness"] == "ready", found
    rows = await asyncio.to_thread(emulator.admin, "GET", "/catalogue/sample?n=200")
    chosen = [r for r in rows["rows"] if r["allegroProducts"] == 1][:OFFERS]
    skus = [f"LIVE-OFFER-{n}" for n in range(len(chosen))]
    items = [catalog_item(row, sku) for sku, row in zip(skus, chosen, strict=True)]
    await publish_event(amqp_url, CatalogUpdated(account_id=account, items=items))
    price = {"allegro-pl": Money(amount=Decimal("49.90"), currency="PLN")}
    await publish_event(
        amqp_url,
        PriceComputed(
            account_id=account,
            items=[PricedItem(sku=sku, catalog_revision=1, prices=price) for sku in skus],
        ),
    )
    states: dict[str, str] = {}

    async def settled() -> bool:
        for sku in skus:
            answer = await http.get(f"{url}/accounts/{account}/offers/{sku}")
            if answer.status_code == 200:
                states[sku] = answer.json()["state"]
        return len(states) == len(skus) and set(states.values()) <= SETTLED

    await wait_until(settled, within=90, interval=0.5)
    counts: dict[str, int] = {}
    for state in states.values():
        counts[state] = counts.get(state, 0) + 1
    assert counts.get("active"), f"no offer went live: {states}"
    return counts


def sellable_sku(emulator: BigBuyEmulatorHandle) -> str:
    """A simple active product of the emulator's seed, in stock in warehouse 1."""
    for product_id in range(100000, 100400):
        item = emulator.admin("GET", f"/items/{product_id}")
        simple = item["active"] == 1 and not item["variations"] and item["warehouse"] == 1
        if simple and item["available"] >= 1:
            return str(item["sku"])
    raise AssertionError("no sellable product in the BigBuy emulator's seed")


async def bigbuy_work(url: str, amqp_url: str, emulator: BigBuyEmulatorHandle) -> None:
    """An Allegro order reaches the connector (order.received on mci.events, as orders
    publishes it) and goes to BigBuy, which refuses it for lack of funds."""
    event = OrderReceived(
        account_id=ACCOUNT,
        order_id=str(uuid.uuid4()),
        marketplace_id="allegro-pl",
        buyer={"id": "1", "login": "kupujacy", "email": "buyer@example.pl"},
        delivery={
            "address": {
                "firstName": "Anna",
                "lastName": "Nowak",
                "street": "ul. Przykładowa 5/2",
                "city": "Kraków",
                "zipCode": "30-001",
                "countryCode": "PL",
                "phoneNumber": "+48500100200",
            },
            "method": {"id": "m", "name": "Kurier"},
            "pickup_point": None,
            "cost": {"amount": "0", "currency": "PLN"},
            "smart": False,
        },
        lines=[
            {
                "sku": await asyncio.to_thread(sellable_sku, emulator),
                "offer_id": "1770000",
                "quantity": 1,
                "unit_price": {"amount": "2000.00", "currency": "PLN"},
            }
        ],
        total={"amount": "2000.00", "currency": "PLN"},
        revision="r1",
    )
    envelope = Envelope(
        type=event.event_type,
        source="live-test",
        correlation_id=str(uuid.uuid4()),
        data=event.model_dump(mode="json"),
    )
    await publish(
        amqp_url,
        envelope.model_dump_json().encode(),
        str(envelope.id),
        exchange_name="mci.events",
        routing_key="order.received",
        message_type=event.event_type,
    )


def dashboard_queries() -> dict[str, str]:
    """Every panel query of the provisioned dashboards, Grafana's variables filled in as a
    dashboard showing all services would: `panel title (dashboard)` -> PromQL."""
    queries: dict[str, str] = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for panel in dashboard["panels"]:
            for number, target in enumerate(panel.get("targets", [])):
                expr = str(target["expr"])
                for variable, value in (("$__rate_interval", "1m"), ("$service", ".*")):
                    expr = expr.replace(variable, value)
                queries[f"{panel['title']} #{number} ({path.name})"] = expr
    return queries


METRIC_NAME = re.compile(r"\b([a-z_:][a-z0-9_:]*)\s*(?:\{|\[|\)|$)")
PROMQL_WORDS = frozenset(
    {"sum", "max", "min", "avg", "count", "rate", "irate", "increase", "histogram_quantile"}
    | {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless"}
)


def metric_names(expr: str) -> set[str]:
    """The series a PromQL expression reads (label matchers and functions left out)."""
    without_matchers = re.sub(r"\{[^}]*\}", "{}", expr)
    without_groupings = re.sub(r"\b(?:by|without)\s*\([^)]*\)", "", without_matchers)
    return {name for name in METRIC_NAME.findall(without_groupings) if name not in PROMQL_WORDS}


def test_metric_names_reads_the_series_of_a_query() -> None:
    assert metric_names(
        "histogram_quantile(0.95, sum by (queue, le) "
        '(rate(mci_message_handler_duration_seconds_bucket{service=~".*"}[1m])))'
    ) == {"mci_message_handler_duration_seconds_bucket"}
    assert metric_names('up{job=~"mci|allegro-emulator"}') == {"up"}
    assert metric_names("sum(rate(a_total[1m])) / sum(rate(b_count[1m]))") == {"a_total", "b_count"}


async def test_prometheus_scrapes_the_key_series_of_the_running_platform(
    catalog: str,
    auth: tuple[str, EmulatorHandle],
    orders: str,
    offers: str,
    bigbuy: tuple[str, BigBuyEmulatorHandle],
    console: str,
    prometheus: tuple[str, Path],
    live_amqp_url: str,
) -> None:
    auth_url, emulator = auth
    bigbuy_url, bigbuy_emulator = bigbuy
    base, config = prometheus
    rabbitmq_exporter_reachable()
    services = {
        "catalog": catalog,
        "auth": auth_url,
        "orders": orders,
        "offers": offers,
        "bigbuy": bigbuy_url,
    }
    others = {
        "console": {"console": console},
        "emulators": {"emulator": emulator.url, "bigbuy-emulator": bigbuy_emulator.url},
    }
    scrape(config, services, vhost_of(live_amqp_url), others)
    async with httpx.AsyncClient(timeout=30, headers=admin_headers()) as http:
        await prometheus_ready(http, base)
        await catalog_work(http, catalog, live_amqp_url)
        account, login = await connect_account(http, auth_url, emulator)
        offer_states = await offers_work(http, offers, live_amqp_url, emulator, account)
        await buyer_pays(emulator, login)
        await bigbuy_work(bigbuy_url, live_amqp_url, bigbuy_emulator)
        # Through the console's proxy, as the operator's pages call the services.
        proxied = await http.get(f"{console}/api/catalog/accounts/{ACCOUNT}/selection")
        assert proxied.status_code == 200, proxied.text

        expectations: dict[str, float | None] = {
            'up{job="mci",service="catalog"} == 1': None,
            'up{job="mci",service="auth"} == 1': None,
            'sum(mci_catalog_import_rows_total{format="jsonl",result="valid"})': PRODUCTS,
            "sum(mci_messages_published_total"
            '{routing_key="catalog.updated",result="confirmed"})': 1,
            'sum(mci_messages_consumed_total{queue="catalog.supplier-products"})': 2,
            'sum(mci_message_handler_duration_seconds_count{queue="catalog.supplier-products"})': 1,
            # exactly the malformed one: the valid batch was handled
            'mci_dlq_messages{queue="catalog.supplier-products",service="catalog"} == 1': None,
            'mci_messages_consumed_total{queue="catalog.supplier-products",result="handled"}': 1,
            'mci_outbox_pending_messages{service="catalog"}': None,
            # by route template: no series per account, and none per unknown path
            'mci_http_requests_total{service="catalog",method="PUT",'
            'route="/accounts/{account_id}/selection",status="200"}': 1,
            'mci_http_requests_total{service="catalog",route="unmatched",status="404"}': 1,
            '(count(mci_http_requests_total{route=~".*LIVE-1.*|.*acc-live.*"}) or vector(0))'
            " == 0": None,
            'mci_outbox_oldest_pending_age_seconds{service="catalog"}': None,
            # the broker's own view of the same dead letter, and of the consumers
            'rabbitmq_detailed_queue_messages{queue="catalog.supplier-products.dlq"} == 1': None,
            'rabbitmq_detailed_queue_consumers{queue="catalog.supplier-products"}': 1,
            'sum(mci_allegro_requests_total{service="auth",endpoint_class="oauth"})': 1,
            'sum(mci_allegro_requests_total{service="auth",status="200"})': 2,
            'mci_allegro_limiter_wait_seconds_count{service="auth"}': 1,
            'mci_allegro_requests_in_flight{service="auth"} == 0': None,
            'mci_allegro_rate_limited_total{service="auth",scope="client"} == 0': None,
            'sum(mci_messages_published_total{routing_key="account.connected"})': 1,
            # orders imported: the paid checkout form handed off as OrderReceived
            'up{job="mci",service="orders"} == 1': None,
            'sum(mci_orders_handed_off_total{service="orders",event="OrderReceived"})': 1,
            'mci_orders_import_lag_seconds_count{service="orders"}': 1,
            # supplier orders: the Allegro order consumed, sent to BigBuy's check, refused for
            # lack of funds and held; the wallet's balance as the connector read it
            'up{job="mci",service="bigbuy"} == 1': None,
            'mci_messages_consumed_total{queue="bigbuy.orders",result="handled"}': 1,
            'mci_supplier_orders_total{service="bigbuy",state="waiting_wallet"}': 1,
            'mci_supplier_orders_waiting_wallet{service="bigbuy"} == 1': None,
            'mci_supplier_wallet_balance{service="bigbuy",currency="EUR"} == 1': None,
            'rabbitmq_detailed_queue_consumers{queue="bigbuy.orders"}': 1,
            # offers: by state and base marketplace, as the worker counted them, and the
            # publication rate's counter; the emulator saw the creates
            'up{job="mci",service="offers"} == 1': None,
            'mci_offers_offers{service="offers",state="active",marketplace="allegro-pl"}'
            f" == {offer_states['active']}": None,
            # catalog's import reached offers too (acc-live-prometheus: never ready, waiting)
            'mci_offers_offers{service="offers",state="waiting",marketplace="allegro-pl"}': 1,
            'mci_offers_offers{service="offers",state="failed",marketplace="allegro-pl"}'
            f" == {offer_states.get('failed', 0)}": None,
            'sum(mci_offers_published_total{service="offers",marketplace="allegro-pl"})': (
                offer_states["active"]
            ),
            'sum(mci_offers_steps_total{service="offers"})': OFFERS,
            # the relay sent each OfferPublished, confirmed once orders' directory queue took it
            'sum(mci_messages_published_total{service="offers",routing_key="offer.published",'
            'result="confirmed"})': offer_states["active"],
            'sum(mci_messages_consumed_total{queue="orders.offers",result="handled"})': (
                offer_states["active"]
            ),
            'sum(allegro_emulator_requests_total{service="emulator",method="POST",'
            'operation="/sale/product-offers"})': offer_states["active"],
            'allegro_emulator_too_many_requests_total{service="emulator"} == 0': None,
            # the BigBuy emulator: the connector's order check; the console: by route template
            'sum(bigbuy_emulator_requests_total{service="bigbuy-emulator"})': 1,
            'bigbuy_emulator_too_many_requests_total{service="bigbuy-emulator"} == 0': None,
            'up{job="console",service="console"} == 1': None,
            'mci_http_requests_total{service="console",method="GET",'
            'route="/api/{service}/{path:path}",status="200"}': 1,
            '(count(mci_http_requests_total{service="console",route=~".*acc-live.*"})'
            " or vector(0)) == 0": None,
        }
        await wait_for_series(http, base, expectations)

        # What each running process really exposes, its children included, passes promtool's
        # naming lint (the definitions of every service: test_prometheus.py).
        promtool = shutil.which("promtool")
        if promtool is None:
            pytest.fail("promtool is missing: run `make tools` (as root it installs it)")
        scraped = {**services, **{n: u for targets in others.values() for n, u in targets.items()}}
        for name, url in scraped.items():
            exposition = (await http.get(f"{url}/metrics")).text
            lint = await asyncio.to_thread(
                subprocess.run,
                [promtool, "check", "metrics"],
                input=exposition,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert lint.returncode == 0, (name, lint.stdout + lint.stderr)

        # The platform's own rules are loaded, and the DLQ alert matches the real series.
        rules = (await http.get(f"{base}/api/v1/rules")).json()["data"]["groups"]
        loaded = {r["name"] for g in rules for r in g["rules"]}
        assert "MciDeadLetterQueueNotEmpty" in loaded
        assert len(loaded) == len(
            [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
        )

        async def dlq_alert() -> bool:
            alerts = (await http.get(f"{base}/api/v1/alerts")).json()["data"]["alerts"]
            return any(
                a["labels"]["alertname"] == "MciDeadLetterQueueNotEmpty"
                and a["labels"].get("queue") == "catalog.supplier-products"
                and a["state"] in {"pending", "firing"}
                for a in alerts
            )

        await wait_until(dlq_alert, within=30, interval=0.5)

        async def wallet_alerts() -> bool:
            alerts = (await http.get(f"{base}/api/v1/alerts")).json()["data"]["alerts"]
            active = {
                a["labels"]["alertname"] for a in alerts if a["state"] in {"pending", "firing"}
            }
            return {"MciSupplierWalletLow", "MciSupplierOrdersWaitingForWallet"} <= active

        await wait_until(wallet_alerts, within=30, interval=0.5)

        # Every dashboard query parses and reads only series this Prometheus holds.
        seen = set((await http.get(f"{base}/api/v1/label/__name__/values")).json()["data"])
        queries = dashboard_queries()
        assert queries, "no dashboard panel found"
        unknown: dict[str, set[str]] = {}
        for panel, expr in queries.items():
            await query(http, base, expr)  # a query Prometheus cannot parse fails here
            names = metric_names(expr)
            assert names, f"{panel}: no series found in {expr!r}"
            if names - seen:
                unknown[panel] = names - seen
        assert not unknown, f"dashboard panels on series Prometheus never saw: {unknown}"
