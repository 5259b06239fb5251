"""Catalogue in, against the BigBuy emulator over HTTP on its own clock: every list paged and
joined on ids, records as the catalog takes them, only changes sent, limits never exceeded over
a simulated day, a restart mid-refresh resuming where it stopped, soft errors survived."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bigbuy_connector import scheduler
from bigbuy_connector.deps import BigBuyDeps
from mci_testing.bigbuy import BigBuyEmulatorHandle

from .conftest import MakeDeps, outbox, scalar

HOUR = 3600.0


async def run_steps(
    deps: BigBuyDeps,
    until: Callable[[], Awaitable[bool]],
    max_steps: int = 2_000,
    holder: str = "test-holder",
) -> int:
    """Step the scheduler, sleeping on the emulator's clock as it asks, until `until()`."""
    for n in range(max_steps):
        wait = await scheduler.step(deps, holder)
        if await until():
            return n + 1
        if wait > 0:
            await deps.clock.sleep(wait)
    raise AssertionError(f"not reached in {max_steps} steps")


def runs_done(database: str, count: int = 1, kind: str = "full") -> Callable[[], Awaitable[bool]]:
    async def done() -> bool:
        n = await scalar(
            database,
            "SELECT count(*) FROM refresh_runs WHERE status = 'done' AND kind = :k",
            k=kind,
        )
        return bool(n >= count)

    return done


def whole(emulator: BigBuyEmulatorHandle, path: str, **params: Any) -> list[dict[str, Any]]:
    """A whole list read directly (limits must be off), to compare with."""
    response = httpx.get(
        f"{emulator.rest_url}/catalog/{path}.json",
        params={"pageSize": 0, **params},
        headers={"Authorization": f"Bearer {emulator.key}"},
        timeout=60,
    )
    response.raise_for_status()
    body: list[dict[str, Any]] = response.json()
    return body


def rejected(emulator: BigBuyEmulatorHandle) -> int:
    return int(emulator.counters()["rateLimited"])


def products_sent(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        for product in event["products"]:
            out.setdefault(product["sku"], []).append(product)
    return out


async def test_full_refresh_joins_every_list_into_records(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps, database: str
) -> None:
    emulator.reset(rate_limits_enabled=False, catalogue_size=300)
    products = {p["id"]: p for p in whole(emulator, "products")}
    names = {i["id"]: i["name"] for i in whole(emulator, "productsinformation", isoCode="pl")}
    taxonomies = {t["id"]: t for t in whole(emulator, "taxonomies", isoCode="pl")}
    brands = {m["id"]: m["name"] for m in whole(emulator, "manufacturers")}
    images = {i["id"]: i["images"] for i in whole(emulator, "productsimages")}
    variations = whole(emulator, "productsvariations")
    emulator.reset(catalogue_size=300)  # limits on from here

    deps = make_deps(page_size=100, gpsr_enabled=False, max_handling_days=3)
    await run_steps(deps, runs_done(database))

    sent = products_sent(await outbox(database, "supplier.products"))
    parents = {v["product"] for v in variations}
    simple = [p for p in products.values() if p["id"] not in parents]
    assert set(sent) == {p["sku"] for p in simple} | {v["sku"] for v in variations}
    assert not parents & {p["id"] for p in products.values() if p["sku"] in sent}

    for product in simple[:40]:
        record = sent[product["sku"]][0]
        item = emulator.admin("GET", f"/items/{product['id']}")
        accepted = [s for s in item["stocks"] if s["maxHandlingDays"] <= 3 and s["quantity"]]
        assert record.get("stock", 0) == (
            sum(s["quantity"] for s in accepted) if product["active"] == 1 else 0
        )
        if accepted and product["active"] == 1:
            days = max(s["maxHandlingDays"] for s in accepted)
            assert record["attributes"]["handling_days"] == str(days)
        assert record["title"] == names[product["id"]]
        assert record["brand"] == brands[product["manufacturer"]]
        assert Decimal(record["cost"]["amount"]) == Decimal(str(product["wholesalePrice"]))
        assert record["cost"]["currency"] == "EUR"
        path = [taxonomies[product["taxonomy"]]["name"]]
        parent = taxonomies[product["taxonomy"]]["parentTaxonomy"]
        while parent:
            path.insert(0, taxonomies[parent]["name"])
            parent = taxonomies[parent]["parentTaxonomy"]
        assert record["category_path"] == " > ".join(path)
        cover = [i["url"] for i in images[product["id"]] if i["isCover"]]
        assert record["images"][0] == cover[0]
        assert len(record["images"]) == len(images[product["id"]])
        assert record["attributes"]["bigbuy_id"] == str(product["id"])

    (lists,) = await outbox(database, "supplier.reference-lists")
    assert lists["language"] == "pl"
    assert {t["id"]: t["name"] for t in lists["taxonomies"]} == {
        i: t["name"] for i, t in taxonomies.items()
    }
    assert {m["id"]: m["name"] for m in lists["manufacturers"]} == brands

    variation = variations[0]
    record = sent[variation["sku"]][0]
    assert record["attributes"]["parent_sku"] == products[variation["product"]]["sku"]
    # The group, for catalog: the parent and the values that tell the variation apart.
    assert record["parent_sku"] == products[variation["product"]]["sku"]
    assert record["variation"] and all(record["variation"].values())
    assert record["title"].endswith(", ".join(record["variation"].values()))
    assert Decimal(record["cost"]["amount"]) == Decimal(str(variation["wholesalePrice"]))
    assert record["title"].startswith(names[variation["product"]] + " - ")
    assert rejected(emulator) == 0


@pytest.mark.slow
async def test_only_changes_are_sent_and_stock_refreshes_between_full_ones(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps, database: str
) -> None:
    emulator.reset(catalogue_size=200)
    deps = make_deps(page_size=100, gpsr_enabled=False, full_refresh_interval_seconds=8 * HOUR)
    await run_steps(deps, runs_done(database))
    first = products_sent(await outbox(database, "supplier.products"))
    sku = next(
        s
        for s, p in first.items()
        if p[0].get("stock", 0) == 0
        and "-" not in s
        and (item := emulator.admin("GET", f"/items/{s}"))["active"] == 1
        and item["warehouse"] == 1
    )
    stocked = emulator.admin("PUT", f"/stock/{sku}", {"quantity": 7})
    emulator.admin("PUT", f"/prices/{sku}", {"wholesalePrice": 12.34})

    await run_steps(deps, runs_done(database, 1, "stock"))
    events = await outbox(database, "supplier.products")
    later = products_sent(events[len(await _first_count(first, events)) :])
    assert set(later) == {sku}
    (change,) = later[sku]
    assert change["stock"] == 7
    assert change["cost"] == {"amount": "12.34", "currency": "EUR"}
    assert change.get("title") is None  # only what changed travels
    # The units sit in the warehouse's first handling-days row: its days travel with the stock
    # (in the attributes, whole, as catalog reads them for the offer's handling time).
    assert change["attributes"]["handling_days"] == str(stocked["stocks"][0]["maxHandlingDays"])
    assert first[sku][0].get("attributes", {}).get("handling_days") is None  # none without stock

    # Nothing changed since: the next full refresh sends nothing.
    before = len(await outbox(database, "supplier.products"))
    await run_steps(deps, runs_done(database, 2, "full"), max_steps=5_000)
    assert len(await outbox(database, "supplier.products")) == before
    assert len(await outbox(database, "supplier.reference-lists")) == 1  # unchanged: not again
    assert rejected(emulator) == 0


async def _first_count(
    first: dict[str, list[dict[str, Any]]], events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The events of the first refresh (they cover each first SKU once)."""
    seen = 0
    out = []
    for event in events:
        if seen >= len(first):
            break
        out.append(event)
        seen += len(event["products"])
    return out


@pytest.mark.slow
async def test_limits_are_never_exceeded_over_a_simulated_day(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps, database: str
) -> None:
    emulator.reset(catalogue_size=400)
    deps = make_deps(page_size=100, gpsr_enabled=False, full_refresh_interval_seconds=8 * HOUR)
    start = deps.clock.now()

    async def a_day_passed() -> bool:
        return deps.clock.now() - start >= 24 * HOUR

    await run_steps(deps, a_day_passed, max_steps=20_000)
    assert rejected(emulator) == 0
    requests = emulator.counters()["requests"]
    stock_calls = sum(
        sum(statuses.values())
        for key, statuses in requests.items()
        if key == "catalog/productsstockbyhandlingdays"
    )
    # 5 pages a refresh, 10 calls an hour: stock is read about twice an hour all day long.
    assert stock_calls >= 10 * 20
    assert await scalar(database, "SELECT count(*) FROM refresh_runs WHERE kind = 'full'") == 3
    assert await scalar(database, "SELECT count(*) FROM refresh_runs WHERE kind = 'stock'") >= 30


async def test_a_restart_mid_refresh_resumes_without_reading_pages_again(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps, database: str
) -> None:
    emulator.reset(catalogue_size=300)
    first = make_deps(page_size=100, gpsr_enabled=False)

    async def some_pages_read() -> bool:
        n = await scalar(database, "SELECT count(*) FROM run_pages")
        return bool(n >= 8)

    await run_steps(first, some_pages_read)
    requests_before = dict(emulator.counters()["requests"])
    pages_before = await scalar(database, "SELECT count(*) FROM run_pages")
    await first.aclose()

    # A new process on the same database: same run, same budgets, the next pages only.
    second = make_deps(page_size=100, gpsr_enabled=False)
    await run_steps(second, runs_done(database), holder="another-holder-after-lease")
    assert await scalar(database, "SELECT count(*) FROM refresh_runs") == 1
    requests = emulator.counters()["requests"]
    products_calls = sum(requests["catalog/products"].values())
    # 300 products in pages of 100: 4 calls in all, none repeated after the restart.
    assert products_calls == 4, requests
    assert pages_before >= 8
    assert requests_before
    assert rejected(emulator) == 0


async def test_soft_errors_are_errors_and_the_refresh_still_completes(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps, database: str
) -> None:
    emulator.reset(catalogue_size=200, quirk_soft_error_share=0.3, random_seed=3)
    deps = make_deps(page_size=100, gpsr_enabled=False, retry_after_error_seconds=60)
    await run_steps(deps, runs_done(database), max_steps=5_000)
    errors = await scalar(database, "SELECT sum(errors) FROM run_lists")
    assert errors > 0  # soft errors were seen, counted, and their pages read again
    sent = products_sent(await outbox(database, "supplier.products"))
    products = await scalar(database, "SELECT count(*) FROM products")
    assert len(sent) == products > 200  # every SKU, the variations' too
    assert rejected(emulator) == 0


@pytest.mark.slow
async def test_gpsr_data_is_read_one_product_at_a_time_and_sent_upstream(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps, database: str
) -> None:
    emulator.reset(catalogue_size=60)
    deps = make_deps(page_size=100, gpsr_enabled=True)
    await run_steps(deps, runs_done(database))
    in_stock = await scalar(
        database,
        "SELECT count(DISTINCT product_id) FROM products WHERE (record->>'stock')::int > 0",
    )

    async def all_read() -> bool:
        return bool(await scalar(database, "SELECT count(*) FROM compliance") >= in_stock)

    await run_steps(deps, all_read)
    with_data = await scalar(database, "SELECT count(*) FROM compliance WHERE data IS NOT NULL")
    assert 0 < with_data <= in_stock
    sent = [
        p
        for event in await outbox(database, "supplier.products")
        for p in event["products"]
        if "gpsr_name" in (p.get("attributes") or {})
    ]
    assert sent and all(p["attributes"]["gpsr_address"] for p in sent)
    assert rejected(emulator) == 0
    calls = emulator.counters()["requests"]["catalog/productcompliance/{}"]
    assert sum(calls.values()) == in_stock  # each product once, 404s included
