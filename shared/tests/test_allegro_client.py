"""The shared Allegro client against the emulator over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mci_testing.emulator import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    EmulatorHandle,
    start_emulator,
)
from mci_testing.fixtures import MakeDatabase
from mci_testing.ledger import MIGRATIONS as LEDGER_MIGRATIONS
from shared.allegro import AllegroClient, AllegroError, AllegroSettings, AllegroUnavailable
from shared.allegro.client import endpoint_class, upload_url_for
from shared.allegro.errors import OAuthError, RateLimited
from shared.allegro.limiter import Limit, MemoryBudgets, PostgresBudgets
from shared.db import create_engine


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    handle = start_emulator(
        catalogue_size=5_000,
        rate_limits_enabled=False,
        async_offer_share=1.0,
        operation_seconds=0.2,
    )
    yield handle
    handle.server.should_exit = True


@pytest.fixture
def seller(emulator: EmulatorHandle) -> dict[str, str]:
    me = emulator.new_seller()
    return {"login": me["login"], "token": emulator.token_for(me["login"])["access_token"]}


@pytest.fixture
async def client(emulator: EmulatorHandle) -> AsyncIterator[AllegroClient]:
    emulator.admin("DELETE", "/faults")
    settings = AllegroSettings(
        api_url=emulator.url,
        auth_url=emulator.url,
        client_id=DEMO_CLIENT_ID,
        backoff_base=0.01,
        block_seconds=2.0,
    )
    client = AllegroClient(settings)
    yield client
    await client.aclose()
    emulator.admin("DELETE", "/faults")


def calls(emulator: EmulatorHandle) -> int:
    return int(emulator.admin("GET", "/counters")["total"])


async def test_a_call_carries_allegros_media_type_and_the_token(
    client: AllegroClient, seller: dict[str, str]
) -> None:
    me = await client.get("/me", token=seller["token"])
    assert me["login"] == seller["login"]


async def test_allegro_errors_are_typed_with_their_code(
    client: AllegroClient, seller: dict[str, str]
) -> None:
    with pytest.raises(AllegroError) as caught:
        await client.get("/sale/product-offers/999999999", token=seller["token"])
    assert caught.value.status == 404
    assert caught.value.codes
    assert caught.value.errors[0].message


class CountedBudgets(MemoryBudgets):
    """Memory budgets that keep the key of every turn taken."""

    def __init__(self) -> None:
        super().__init__()
        self.turns: list[str] = []
        self.limits: dict[str, Limit] = {}

    async def reserve(
        self, key: str, limit: Limit, amount: float = 1.0, max_wait: float | None = None
    ) -> tuple[bool, float]:
        granted, wait = await super().reserve(key, limit, amount, max_wait)
        if granted:
            self.turns.append(key)
            self.limits[key] = limit
        return granted, wait


async def test_a_finished_operation_is_followed_through_its_303_with_the_token(
    emulator: EmulatorHandle, seller: dict[str, str]
) -> None:
    counted = CountedBudgets()
    settings = AllegroSettings(
        api_url=emulator.url, auth_url=emulator.url, client_id=DEMO_CLIENT_ID
    )
    async with contextlib.AsyncExitStack() as stack:
        client = AllegroClient(settings, budgets=counted)
        stack.push_async_callback(client.aclose)
        await follow_an_operation(client, emulator, seller, counted)


async def follow_an_operation(
    client: AllegroClient, emulator: EmulatorHandle, seller: dict[str, str], counted: CountedBudgets
) -> None:
    ean = next(
        row["ean"]
        for row in emulator.admin("GET", "/catalogue/sample?n=200")["rows"]
        if row["allegroProducts"] == 1
    )
    # Allegro publishes only with GPSR data: a responsible producer and safety information.
    producer = await client.post(
        "/sale/responsible-producers",
        {
            "name": "SKU-303 producer",
            "producerData": {
                "tradeName": "Producer sp. z o.o.",
                "address": {
                    "countryCode": "PL",
                    "street": "ul. Testowa 1",
                    "postalCode": "00-001",
                    "city": "Warszawa",
                },
                "contact": {"email": "gpsr@producer.example"},
            },
        },
        token=seller["token"],
    )
    body = {
        "productSet": [
            {
                "product": {"id": ean, "idType": "GTIN"},
                "responsibleProducer": {"type": "ID", "id": producer.json()["id"]},
                "safetyInformation": {"type": "TEXT", "description": "Keep away from children."},
            }
        ],
        "parameters": [{"id": "11323", "valuesIds": ["11323_1"]}],
        "sellingMode": {"price": {"amount": "49.99", "currency": "PLN"}},
        "stock": {"available": 3, "unit": "UNIT"},
        "publication": {"status": "ACTIVE"},
        "external": {"id": "SKU-303"},
    }
    accepted = await client.post("/sale/product-offers", body, token=seller["token"])
    assert accepted.status_code == 202
    operation = accepted.headers["location"].removeprefix(emulator.url)
    await asyncio.sleep(0.5)
    before, turns = calls(emulator), len(counted.turns)
    offer = await client.get(operation, token=seller["token"])
    assert offer["external"]["id"] == "SKU-303"
    # The operation's 303 and the offer it points to: two calls on Allegro's Client ID limit,
    # each a turn of the Client ID budget.
    assert calls(emulator) - before == 2
    client_turns = [k for k in counted.turns[turns:] if k.startswith("client:")]
    assert len(client_turns) == 2
    # Allegro counts the Client ID in a sliding minute and blocks the whole app past it: a
    # burst of more than a second's worth on top of a minute at the budget's rate would pass
    # it (the budget keeps 10 % of the limit free).
    client_id = counted.limits[client_turns[0]]
    assert client_id.capacity <= client_id.per_second * 1.0


async def test_5xx_is_retried_with_backoff_until_it_passes_or_gives_up(
    client: AllegroClient, emulator: EmulatorHandle, seller: dict[str, str]
) -> None:
    emulator.admin("PUT", "/faults", {"errorShare": 1.0, "errorStatus": 503, "pathPrefix": "/me"})
    before = calls(emulator)
    with pytest.raises(AllegroUnavailable) as caught:
        await client.get("/me", token=seller["token"])
    assert caught.value.status == 503
    assert calls(emulator) - before == client.settings.max_retries + 1

    emulator.admin("PUT", "/faults", {"errorShare": 0.5, "errorStatus": 500, "pathPrefix": "/me"})
    for _ in range(5):  # each succeeds within its retries (0.5 ** 5 per call to fail)
        assert (await client.get("/me", token=seller["token"]))["login"] == seller["login"]


async def test_a_non_idempotent_post_is_not_retried_after_a_5xx(
    client: AllegroClient, emulator: EmulatorHandle, seller: dict[str, str]
) -> None:
    emulator.admin("PUT", "/faults", {"errorShare": 1.0, "pathPrefix": "/sale/product-offers"})
    before = calls(emulator)
    with pytest.raises(AllegroUnavailable):
        await client.post("/sale/product-offers", {}, token=seller["token"])
    assert calls(emulator) - before == 1


async def test_timeouts_are_retried(emulator: EmulatorHandle, seller: dict[str, str]) -> None:
    emulator.admin(
        "PUT", "/faults", {"timeoutShare": 1.0, "timeoutSeconds": 2, "pathPrefix": "/me"}
    )
    settings = AllegroSettings(
        api_url=emulator.url, timeout_seconds=0.3, backoff_base=0.01, max_retries=2
    )
    client = AllegroClient(settings)
    try:
        before = calls(emulator)
        with pytest.raises(AllegroUnavailable):
            await client.get("/me", token=seller["token"])
        await asyncio.sleep(2.5)  # the emulator counts a hung request when it ends
        assert calls(emulator) - before == 3
    finally:
        emulator.admin("DELETE", "/faults")
        await client.aclose()


async def test_a_429_storm_pauses_every_call_on_the_key(
    client: AllegroClient, emulator: EmulatorHandle, seller: dict[str, str]
) -> None:
    emulator.admin("PUT", "/faults", {"forced429": 1})
    before = calls(emulator)
    started = time.monotonic()
    results = await asyncio.gather(
        *(client.get("/me", token=seller["token"]) for _ in range(20)), return_exceptions=True
    )
    elapsed = time.monotonic() - started
    # The first call met the 429; all twenty waited out the ~2 s block, then passed.
    assert all(isinstance(r, dict) for r in results), results
    assert elapsed >= client.settings.block_seconds * 0.9
    counters = emulator.admin("GET", "/counters")
    assert counters["tooManyRequests"] >= 1
    assert calls(emulator) - before <= 20 + client.settings.max_concurrency


async def test_no_call_goes_out_while_the_key_is_blocked(
    client: AllegroClient, emulator: EmulatorHandle, seller: dict[str, str]
) -> None:
    emulator.admin("PUT", "/faults", {"forced429": 100})
    client.settings = AllegroSettings(**{**client.settings.__dict__, "max_retries": 0})
    with pytest.raises(RateLimited):
        await client.get("/me", token=seller["token"])
    after_429 = calls(emulator)
    waiting = [asyncio.create_task(client.get("/me", token=seller["token"])) for _ in range(10)]
    await asyncio.sleep(1.0)
    assert calls(emulator) == after_429, "a call went out during the pause"
    emulator.admin("DELETE", "/faults")
    results = await asyncio.gather(*waiting)
    assert all(r["login"] == seller["login"] for r in results)


async def test_oauth_errors_keep_oauths_words(client: AllegroClient) -> None:
    with pytest.raises(OAuthError) as caught:
        await client.oauth_token(
            {"grant_type": "refresh_token", "refresh_token": "never-issued"}, DEMO_CLIENT_SECRET
        )
    assert caught.value.error == "invalid_grant"


async def test_image_uploads_go_to_allegros_upload_host(
    emulator: EmulatorHandle, seller: dict[str, str]
) -> None:
    # The API URL leads nowhere (404 from an unknown path): only the upload host answers.
    settings = AllegroSettings(api_url=emulator.url + "/nowhere", upload_url=emulator.url)
    client = AllegroClient(settings)
    try:
        answer = await client.post(
            "/sale/images", {"url": "https://cdn.example/1.jpg"}, token=seller["token"]
        )
        assert answer.status_code == 201
        assert answer.json()["location"].startswith("https://a.allegroimg.com/")
        with pytest.raises(AllegroError):
            await client.get("/me", token=seller["token"])
    finally:
        await client.aclose()
    assert upload_url_for("https://api.allegro.pl") == "https://upload.allegro.pl"
    assert (
        upload_url_for("https://api.allegro.pl.allegrosandbox.pl")
        == "https://upload.allegro.pl.allegrosandbox.pl"
    )
    assert upload_url_for("http://127.0.0.1:8400") == "http://127.0.0.1:8400"


def test_endpoint_classes() -> None:
    assert endpoint_class("GET", "/sale/product-offers/123") == "product-offers:GET"
    assert endpoint_class("PATCH", "/sale/product-offers/123") == "product-offers:PATCH"
    assert endpoint_class("PUT", "/sale/offer-price-change-commands/abc") == "price-commands"
    assert endpoint_class("GET", "/me") == "other"


async def test_a_memory_budget_paces_calls_to_its_rate() -> None:
    budgets = MemoryBudgets()
    limit = Limit(per_minute=600, burst_seconds=10)  # 10/s, a bucket of ten seconds' worth
    for _ in range(100):
        assert await budgets.take("k", limit) == 0
    wait = await budgets.take("k", limit)
    assert 0.05 < wait <= 0.11
    # A call bigger than the bucket waits for a full bucket instead of forever.
    assert await budgets.take("big", limit, 5000) == 0


async def test_a_per_second_resource_gets_no_minute_long_burst() -> None:
    budgets = MemoryBudgets()
    limit = Limit(per_minute=5 * 60, burst_seconds=1)  # matching-categories: 5/s
    taken = [await budgets.take("m", limit) for _ in range(6)]
    assert taken[:5] == [0, 0, 0, 0, 0]
    assert taken[5] > 0


async def test_a_reservation_bigger_than_the_bucket_is_charged_whole() -> None:
    budgets = MemoryBudgets()
    limit = Limit(per_minute=600)  # 10/s, a bucket of one second's worth: 10
    granted, wait = await budgets.reserve("cmd", limit, 50)
    assert granted and 3.9 < wait <= 4.0  # 40 more than the bucket, at 10 a second
    granted, after = await budgets.reserve("cmd", limit, 1)
    assert granted and after > wait  # the next caller waits behind the whole command


def test_commands_at_the_command_budget_never_pass_allegros_sliding_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A long run of commands of mixed sizes, each sent when its reservation says (plus up to
    half a second of jitter), counted the way Allegro counts offer changes (the emulator's
    sliding minute): nothing is refused, and the run goes at about the budget's rate."""
    from allegro_emulator.config import EmulatorConfig
    from allegro_emulator.rate_limits import RateLimiter
    from shared.allegro.client import LARGEST_COMMAND

    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])  # the budgets' clock
    allegro = RateLimiter(EmulatorConfig())
    budgets = MemoryBudgets()
    limit = Limit(AllegroSettings().seller_limits["price-commands"])
    rng = random.Random(7)
    sent = 0
    start = clock[0]
    for round_ in range(40):
        if round_ and round_ % 10 == 0:
            clock[0] += 120  # idle: the bucket fills again, and the next burst starts full
        # Eight commands reserved at once (the sync's concurrency), the last of a plan smaller.
        sizes = [LARGEST_COMMAND] * 7 + [rng.randint(1, LARGEST_COMMAND)]
        turns = []
        for size in sizes:
            granted, wait = asyncio.run(budgets.reserve("seller:a:price-commands", limit, size))
            assert granted
            turns.append((clock[0] + wait + rng.uniform(0, 0.5), size))
        for at, size in sorted(turns):
            clock[0] = max(clock[0], at)
            allegro.check("offer-changes:price", "seller-a", clock[0], size)  # 429 if past
            sent += size
    busy = clock[0] - start - 3 * 120
    assert sent / busy * 60 > 0.9 * 9000  # not slowed below the budget either


@pytest.fixture
async def budget_engine(make_database: MakeDatabase) -> AsyncIterator[AsyncEngine]:
    url = await make_database("budget", LEDGER_MIGRATIONS)
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.exec_driver_sql(
            "CREATE TABLE allegro_rate_budget (key text PRIMARY KEY, tokens float NOT NULL,"
            " updated_at timestamptz NOT NULL, blocked_until timestamptz)"
        )
    yield engine
    await engine.dispose()


async def test_a_block_set_by_one_replica_holds_every_replica(budget_engine: AsyncEngine) -> None:
    one, other = PostgresBudgets(budget_engine), PostgresBudgets(budget_engine)
    limit = Limit(per_minute=6000)
    assert await one.take("client:x", limit) == 0
    await one.block("client:x", 5)
    assert await other.take("client:x", limit) > 4


PROBE = """
import asyncio, sys, time, json
from shared.allegro.limiter import Limit, PostgresBudgets, acquire
from shared.db import create_engine
async def main():
    engine = create_engine(sys.argv[1])
    budgets = PostgresBudgets(engine)
    stamps = []
    deadline = time.time() + float(sys.argv[2])
    while time.time() < deadline:
        await acquire(budgets, "client:shared", Limit(per_minute=120, burst_seconds=60))
        stamps.append(time.time())
    print(json.dumps(stamps))
asyncio.run(main())
"""


async def test_two_processes_sharing_a_budget_never_exceed_it(
    budget_engine: AsyncEngine, make_database: MakeDatabase
) -> None:
    url = budget_engine.url.render_as_string(hide_password=False)
    probes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", PROBE, url, "4", stdout=asyncio.subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [json.loads((await p.communicate())[0]) for p in probes]
    stamps = sorted(s for out in outputs for s in out)
    assert all(outputs), "both processes got calls through"
    # 2/s with a bucket of 120: in any window of w seconds at most 120 + 2w, across both.
    first = stamps[0]
    for window in (1.0, 2.0, 4.0):
        inside = [s for s in stamps if s - first <= window]
        assert len(inside) <= 120 + 2 * window + 1, (window, len(inside))
    # The two probes start apart on a loaded machine, so the whole run spans more than 4 s.
    assert len(stamps) <= 120 + 2 * (stamps[-1] - first) + 2


async def test_concurrent_first_calls_on_a_new_key_share_one_bucket(
    budget_engine: AsyncEngine,
) -> None:
    budgets = PostgresBudgets(budget_engine)
    limit = Limit(per_minute=60, burst_seconds=5)  # a bucket of 5
    waits = await asyncio.gather(*(budgets.take("seller:new:x", limit) for _ in range(8)))
    assert sorted(w == 0 for w in waits).count(True) == 5


async def test_a_shared_budget_reserves_turns_in_order_and_refuses_past_the_wait_allowed(
    budget_engine: AsyncEngine,
) -> None:
    budgets = PostgresBudgets(budget_engine)
    limit = Limit(per_minute=60, burst_seconds=2)  # a bucket of 2, one token a second
    assert await budgets.reserve("seller:r:x", limit) == (True, 0.0)
    assert await budgets.reserve("seller:r:x", limit) == (True, 0.0)
    granted, wait = await budgets.reserve("seller:r:x", limit)  # the bucket goes below zero
    assert granted and 0.5 < wait <= 1.0
    # A turn later than the caller can wait for is not taken: the next one is no later.
    refused, too_long = await budgets.reserve("seller:r:x", limit, max_wait=0.5)
    assert not refused and 1.5 < too_long <= 2.0
    granted, later = await budgets.reserve("seller:r:x", limit, max_wait=5.0)
    assert granted and 1.5 < later <= 2.0
    await budgets.block("seller:r:x", 30)
    blocked, left = await budgets.reserve("seller:r:x", limit)
    assert not blocked and 29 < left <= 30


async def test_reservations_made_together_share_one_statement_and_keep_their_turns(
    budget_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    budgets = PostgresBudgets(budget_engine)
    statements = 0
    reserve = budgets._reserve

    async def counted(*args: Any) -> tuple[bool, bool, float]:
        nonlocal statements
        statements += 1
        return await reserve(*args)

    monkeypatch.setattr(budgets, "_reserve", counted)
    limit = Limit(per_minute=60, burst_seconds=2)  # a bucket of 2, one token a second
    answers = await asyncio.gather(*(budgets.reserve("seller:t:x", limit) for _ in range(6)))
    # The first alone; the five that came while it ran, in one statement.
    assert statements == 2
    assert all(granted for granted, _ in answers)
    for (_, wait), turn in zip(answers, (0, 0, 1, 2, 3, 4), strict=True):
        assert turn - 0.5 < wait <= turn or wait == turn == 0, answers
    # Charged whole: the next caller's turn is after all six.
    _, later = await budgets.reserve("seller:t:x", limit)
    assert 4.5 < later <= 5.0
    # One caller of a batch that cannot wait for its turn is refused alone.
    first, hurried, third = await asyncio.gather(
        budgets.reserve("seller:t:x", limit),
        budgets.reserve("seller:t:x", limit, max_wait=0.5),
        budgets.reserve("seller:t:x", limit),
    )
    assert (first[0], hurried[0], third[0]) == (True, False, True)
    assert 5.5 < hurried[1] <= 7.0 and 6.0 < third[1] <= 7.0
