"""The console against the real services: auth, catalog, pricing, offers, orders and the BigBuy
connector served over HTTP on throw-away databases and the run's vhost (mci_testing.served, as
the CLI's and the API-wide tests do), the Allegro and BigBuy emulators over HTTP, the console in
front of them, and Debian's chromium driven by Playwright (no browser download: `make tools`
installs the package).

A second console points offers at a closed port, as a down service.
Screenshots of the main pages go to console/screenshots/ (git-ignored).
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.async_api import BrowserContext, Page, async_playwright, expect

from mci_console.app import create_app
from mci_console.settings import ConsoleSettings
from mci_testing.bigbuy import BigBuyEmulatorHandle, start_bigbuy_emulator
from mci_testing.emulator import EmulatorHandle, start_emulator
from mci_testing.fixtures import MakeAmqpUrl, MakeDatabase
from mci_testing.infra import free_port
from mci_testing.scheduling import close_when_leaving
from mci_testing.served import Served, serve
from shared.allegro.tokens import StaticTokens

SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
WAIT_MS = 180_000  # the longest any page or expectation is waited for
# The Allegro app the console's tests register with the emulator: its redirect URI is the
# console's own callback page.
CLIENT_ID = "console-tests"
CLIENT_SECRET = "console-tests-client-secret-0123456789abcdef"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Stack:
    services: dict[str, Served]
    emulator: EmulatorHandle
    bigbuy: BigBuyEmulatorHandle
    console: str
    degraded_console: str  # the same console with offers down
    keys: dict[str, str]  # role -> a real API key of that role
    closed: str  # a URL nothing listens on (offers, for the degraded console)
    amqp_url: str  # the services' broker vhost
    shops: dict[str, dict[str, Any]] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return self.services[service].url

    def http(self, service: str, role: str = "admin") -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url(service),
            headers={"Authorization": f"Bearer {self.keys[role]}"},
            timeout=60,
        )

    async def new_shop(self, label: str) -> dict[str, Any]:
        """A shop auth knows (not connected to Allegro)."""
        async with self.http("auth") as auth:
            made = await auth.post("/accounts", json={"alias": f"{label}-{uuid.uuid4().hex[:6]}"})
        assert made.status_code == 201, made.text
        account: dict[str, Any] = made.json()
        return account

    async def connected_shop(self, label: str) -> dict[str, Any]:
        """A shop connected through OAuth to a new emulator seller, approved headlessly."""
        login = self.emulator.new_seller()["login"]
        alias = f"{label}-{uuid.uuid4().hex[:6]}"
        async with self.http("auth") as auth:
            account = (await auth.post("/accounts", json={"alias": alias})).json()
            started = await auth.post(f"/accounts/{account['id']}/connect/authorization-code")
            query = dict(httpx.URL(started.json()["authorize_url"]).params)
            approval = self.emulator.admin(
                "POST",
                "/oauth/authorize",
                {
                    "clientId": query["client_id"],
                    "redirectUri": query["redirect_uri"],
                    "login": login,
                    "codeChallenge": query["code_challenge"],
                    "codeChallengeMethod": "S256",
                    "state": query["state"],
                },
            )
            callback = httpx.URL(approval["redirectUrl"])
            done = await auth.get("/accounts/oauth/callback", params=dict(callback.params))
        assert done.status_code == 200, done.text
        return {**done.json(), "login": login}

    def active_offer(self, login: str) -> str:
        """An active offer of the seller on the emulator (what a buyer can buy)."""
        return self.emulator.active_offer(login, stock=50)


def serve_console(settings: ConsoleSettings) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True, name="console")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the console did not start")
        time.sleep(0.05)
    return server, thread


@pytest.fixture(scope="session")
def console_emulator() -> Iterator[EmulatorHandle]:
    # Offers are created at once (no 202 operation, no qualification wait): a publication is
    # watched to its end in a few seconds.
    handle = start_emulator(catalogue_size=50, async_offer_share=0, qualification_seconds=0)
    yield handle
    handle.server.should_exit = True


@pytest.fixture(scope="session")
def console_bigbuy() -> Iterator[BigBuyEmulatorHandle]:
    # Limits off: the connector runs on the system clock, the emulator on its own.
    handle = start_bigbuy_emulator(catalogue_size=500, rate_limits_enabled=False)
    yield handle
    handle.server.should_exit = True


@pytest.fixture(scope="session")
async def stack(
    make_database: MakeDatabase,
    make_amqp_url: MakeAmqpUrl,
    console_emulator: EmulatorHandle,
    console_bigbuy: BigBuyEmulatorHandle,
) -> AsyncIterator[Stack]:
    amqp_url = make_amqp_url("console")
    console_port = free_port()
    console_url = f"http://127.0.0.1:{console_port}"
    callback = f"{console_url}/oauth/callback"
    console_emulator.admin(
        "POST",
        "/clients",
        {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "redirectUris": [callback]},
    )
    running: dict[str, Served] = {}
    servers: list[uvicorn.Server] = []
    try:
        emulator = console_emulator.url
        auth = running["auth"] = serve(
            "auth",
            await make_database("console_auth"),
            amqp_url,
            emulator,
            None,
            settings={
                "allegro_client_id": CLIENT_ID,
                "allegro_client_secret": CLIENT_SECRET,
                "oauth_redirect_uri": callback,
                # The BigBuy connector checks the operators' keys at auth like the services;
                # auth's default callers are the platform services only.
                "introspection_callers": ["catalog", "pricing", "offers", "orders", "bigbuy"],
            },
        )
        # catalog asks auth for the shops' Allegro tokens (coverage reports), as in production.
        running["catalog"] = serve(
            "catalog",
            await make_database("console_catalog"),
            amqp_url,
            emulator,
            auth.url,
            settings={"allegro_client_id": CLIENT_ID},
        )
        running["pricing"] = serve(
            "pricing",
            await make_database("console_pricing"),
            amqp_url,
            emulator,
            auth.url,
            build={"allegro_tokens": StaticTokens({})},
        )
        running["orders"] = serve(
            "orders",
            await make_database("console_orders"),
            amqp_url,
            emulator,
            auth.url,
            settings={"allegro_client_id": CLIENT_ID, "order_poll_interval_seconds": 0.5},
        )
        running["offers"] = serve(
            "offers",
            await make_database("console_offers"),
            amqp_url,
            emulator,
            auth.url,
            settings={
                "publish_poll_interval_seconds": 0.2,
                "publish_backoff_seconds": 0.3,
                "publish_backoff_max_seconds": 1.0,
                "verify_after_seconds": 1.0,
                # Allegro's offer events read often: a seller's edit shows up as drift soon.
                "offer_events_poll_interval_seconds": 0.5,
            },
        )
        running["bigbuy"] = serve(
            "bigbuy_connector",
            await make_database("console_bigbuy"),
            amqp_url,
            emulator,
            auth.url,
            settings={
                "api_url": console_bigbuy.rest_url,
                "api_key": console_bigbuy.key,
                "catalogue_enabled": False,
                "gpsr_enabled": False,
                "order_poll_interval_seconds": 0.3,
                # Orders waiting on the wallet go out when an operator sends them again.
                "wallet_poll_interval_seconds": 3600.0,
                "tracking_poll_interval_seconds": 3600.0,
            },
        )
        keys: dict[str, str] = {}
        async with httpx.AsyncClient(base_url=auth.url, headers=auth.headers("admin")) as http:
            for role in ("viewer", "operator", "admin"):
                made = await http.post("/api-keys", json={"name": f"console {role}", "role": role})
                assert made.status_code == 201, made.text
                keys[role] = made.json()["api_key"]
        closed = f"http://127.0.0.1:{free_port()}"
        settings = ConsoleSettings(
            http_port=console_port,
            auth_url=auth.url,
            catalog_url=running["catalog"].url,
            pricing_url=running["pricing"].url,
            offers_url=running["offers"].url,
            orders_url=running["orders"].url,
            bigbuy_url=running["bigbuy"].url,
            oauth_redirect_uri=callback,
        )
        servers.append(serve_console(settings)[0])
        degraded = settings.model_copy(update={"http_port": free_port(), "offers_url": closed})
        servers.append(serve_console(degraded)[0])
        yield Stack(
            running,
            console_emulator,
            console_bigbuy,
            console_url,
            f"http://127.0.0.1:{degraded.http_port}",
            keys,
            closed,
            amqp_url,
        )
    finally:
        for server in servers:
            server.should_exit = True
        for handle in running.values():
            handle.server.should_exit = True
        for handle in running.values():
            handle.thread.join(timeout=30)


def chromium_executable(search_path: str | None = None) -> str:
    """Debian's chromium on PATH; the test fails naming `make tools` without it."""
    found = shutil.which("chromium", path=search_path)
    if found is None:
        pytest.fail(
            "chromium is not installed: run `make tools` (it installs Debian's chromium package)",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserContext]:
    """Debian's chromium, headless, on a fresh profile; never a downloaded browser."""
    chromium = chromium_executable()
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            accept_downloads=True,
            viewport={"width": 1400, "height": 1000},
        )
        # Upper bounds of waiting on a shared, busy machine (a page that is right sooner
        # passes sooner); the device flow waits for auth's next poll of Allegro (5 s). The
        # whole stack runs in this one process: with another test worker beside it, a page
        # once took over 60 s to draw, so the bound is well past that.
        context.set_default_timeout(WAIT_MS)
        expect.set_options(timeout=WAIT_MS)
        yield context
        await context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keeps each phase's report on the test, so `page` knows whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
async def page(browser: BrowserContext, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A new tab: its own sessionStorage, so no key carries over from another test. When the
    test fails, the page as it was is kept (a screenshot, and its text in the test's output),
    so a wait that ran out says what the page showed instead."""
    tab = await browser.new_page()
    messages: list[str] = []
    tab.on("console", lambda message: messages.append(f"{message.type}: {message.text}"))
    tab.on("pageerror", lambda error: messages.append(f"page error: {error}"))
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        name = f"failed-{request.node.name}"
        await screenshot(tab, name)
        shown = await tab.locator("body").inner_text(timeout=5_000)
        print(f"--- {tab.url}, kept as console/screenshots/{name}.png; the page showed:")
        print(shown[:4_000])
        print("--- the browser's console:", *messages[-50:], sep="\n")
    await tab.close()


async def log_in(page: Page, stack: Stack, role: str, console: str | None = None) -> None:
    await page.goto(console or stack.console)
    await page.get_by_label("API key").fill(stack.keys[role])
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_text(f"role: {role}").wait_for()


async def choose_shop(page: Page, alias: str) -> None:
    await page.locator("#shop").select_option(label=alias)


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """The stack, the browser and the emulators stop after this directory's last test."""
    close_when_leaving(
        Path(__file__).parent,
        item,
        nextitem,
        "stack",
        "browser",
        "console_emulator",
        "console_bigbuy",
    )
