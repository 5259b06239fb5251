"""The coverage report (against the emulator's catalogue) and stock reservations from orders."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from allegro_emulator.seed import CatalogueSpec, allegro_presence
from catalog.allegro import Lookups
from catalog.consumer import ORDERS
from catalog.domain.selection import Selection
from catalog.handlers.coverage import run_coverage, start_coverage
from mci_testing.emulator import EmulatorHandle
from mci_testing.infra import wait_until
from mci_testing.seedfiles import as_supplier_record, jsonl_lines, seed_products
from shared.allegro import AllegroClient, AllegroSettings, AllegroUnavailable
from shared.allegro.tokens import StaticTokens
from shared.events import Money, OrderCancelled, OrderLine, OrderReceived
from shared.uow import UnitsOfWork

from .conftest import Catalog, publish

SPEC = CatalogueSpec(seed=42, size=20_000)
T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


async def test_coverage_report_by_category_in_the_background(catalog: Catalog) -> None:
    products = list(seed_products(SPEC.size, 0, 400))
    records = [as_supplier_record(p) for p in products]
    records[0] = records[0] | {"ean": ""}  # no EAN: cannot match the catalogue
    records[1] = records[1] | {"title": "Fajerwerki " + records[1]["title"]}  # prohibited
    await catalog.import_bytes("jsonl", b"".join(orjson.dumps(r) + b"\n" for r in records))
    await catalog.save_selection({"categories": ["Home & Garden", "Electronics"]})
    tools = "Home & Garden > Garden > Garden Tools"
    await catalog.http.put(
        "/category-mappings", json={"supplier_category": tools, "allegro_category_id": "1521"}
    )
    selected = [
        (row, p) for row, p in enumerate(products) if p["category"][0] != "Sports & Outdoors"
    ]
    response = await catalog.http.post(f"/accounts/{catalog.account}/coverage")
    assert response.status_code == 202, response.text
    report_id = response.json()["report_id"]

    async def done() -> bool:
        report = (await catalog.http.get(f"/coverage/{report_id}")).json()
        assert report["status"] in ("running", "done"), report
        return bool(report["status"] == "done")

    await wait_until(done, within=60, interval=0.3)
    report = (await catalog.http.get(f"/accounts/{catalog.account}/coverage")).json()
    assert report["report_id"] == report_id
    assert report["progress"]["ratio"] == 1.0
    counts = report["counts"]
    expected = {"matched": 0, "missing": 0, "ambiguous": 0}
    for row, _ in selected:
        if row in (0, 1):
            continue
        presence = allegro_presence(SPEC, row)
        expected[("missing", "matched", "ambiguous")[presence]] += 1
    row0_selected = products[0]["category"][0] != "Sports & Outdoors"
    row1_selected = products[1]["category"][0] != "Sports & Outdoors"
    assert counts["selected"] == len(selected)
    assert counts["prohibited"] == int(row1_selected)
    assert counts["no_ean"] == int(row0_selected)
    assert counts["matched"] == expected["matched"]
    assert counts["ambiguous"] == expected["ambiguous"]
    assert counts["missing"] == expected["missing"] + int(row0_selected)
    assert expected["missing"] > 0 and expected["ambiguous"] >= 0
    in_tools = sum(1 for _, p in selected if " > ".join(p["category"]) == tools)
    assert counts["unmapped"] == counts["selected"] - counts["prohibited"] - in_tools
    by_category = report["by_category"]
    assert sum(c["selected"] for c in by_category.values()) == counts["selected"]
    assert by_category[tools]["unmapped"] == 0
    # The lookups are kept: a second report asks Allegro nothing new.
    lookups = await catalog.scalar("SELECT count(*) FROM ean_lookups")
    assert lookups == counts["matched"] + counts["missing"] + counts["ambiguous"] - counts["no_ean"]


def order(account: str, order_id: str, sku: str, quantity: int, paid_at: datetime) -> OrderReceived:
    return OrderReceived(
        account_id=account,
        order_id=order_id,
        marketplace_id="allegro-pl",
        buyer={},
        delivery={},
        lines=[
            OrderLine(
                sku=sku,
                offer_id="1",
                quantity=quantity,
                unit_price=Money(amount=Decimal("10"), currency="PLN"),
            ),
            OrderLine(
                sku=None,
                offer_id="2",
                quantity=1,
                unit_price=Money(amount=Decimal("1"), currency="PLN"),
            ),
        ],
        total=Money(amount=Decimal("20"), currency="PLN"),
        paid_at=paid_at,
        revision="r1",
    )


async def test_stock_reservations_from_orders(catalog: Catalog, amqp_url: str) -> None:
    product = next(seed_products(SPEC.size, 7, 8))
    record: dict[str, Any] = as_supplier_record(product) | {
        "stock": 5,
        "updated_at": T0.isoformat(),
    }
    sku = record["sku"]
    await catalog.import_bytes("jsonl", orjson.dumps(record) + b"\n")
    await catalog.save_selection({"skus": [sku]})
    assert (await catalog.latest())[sku]["stock"] == 5
    handled = 0

    async def send(event: Any) -> None:
        nonlocal handled
        await publish(amqp_url, event)
        handled += 1

        async def consumed() -> bool:
            n = await catalog.scalar(
                "SELECT count(*) FROM inbox WHERE consumer = :c", c=ORDERS.name
            )
            return bool(n == handled)

        await wait_until(consumed, within=20)

    first = f"o-{uuid.uuid4().hex[:6]}"
    await send(order(catalog.account, first, sku, 2, T0 + timedelta(hours=1)))
    assert (await catalog.latest())[sku]["stock"] == 3
    await send(order(catalog.account, first, sku, 2, T0 + timedelta(hours=1)))  # again
    assert (await catalog.latest())[sku]["stock"] == 3
    view = (await catalog.http.get(f"/products/{sku}")).json()
    assert view["stock"] == 5 and view["available_stock"] == 3

    await send(OrderCancelled(account_id=catalog.account, order_id=first, reason="buyer"))
    assert (await catalog.latest())[sku]["stock"] == 5

    # Another shop sells 4: the stock is the supplier's, shared by every shop.
    second = f"o-{uuid.uuid4().hex[:6]}"
    await send(order("other-shop", second, sku, 4, T0 + timedelta(hours=2)))
    assert (await catalog.latest())[sku]["stock"] == 1
    # The supplier's next count (after the sale) already reflects it: no double subtraction.
    emitted = len(await catalog.items())
    counted = record | {"stock": 1, "updated_at": (T0 + timedelta(hours=3)).isoformat()}
    await catalog.import_bytes("jsonl", orjson.dumps(counted) + b"\n")
    view = (await catalog.http.get(f"/products/{sku}")).json()
    assert view["stock"] == 1 and view["available_stock"] == 1
    assert len(await catalog.items()) == emitted  # the item did not change: nothing sent
    # If orders take 2 hours to reach the supplier's books, that count (1 h after the sale)
    # does not include the sale yet: 1 - 4 -> 0, and the item is sent again.
    lag = await catalog.http.put("/settings/stock", json={"reservation_lag_seconds": 7200})
    assert lag.json()["emitted_items"] == 1
    assert (await catalog.latest())[sku]["stock"] == 0
    assert (await catalog.http.get("/settings/stock")).json() == {"reservation_lag_seconds": 7200}
    await catalog.http.put("/settings/stock", json={"reservation_lag_seconds": 600})
    assert (await catalog.latest())[sku]["stock"] == 1

    # A cancellation that overtakes its order: the late order reserves nothing.
    third = f"o-{uuid.uuid4().hex[:6]}"
    await send(OrderCancelled(account_id=catalog.account, order_id=third, reason="x"))
    await send(order(catalog.account, third, sku, 1, T0 + timedelta(hours=4)))
    assert (await catalog.http.get(f"/products/{sku}")).json()["available_stock"] == 1


class FlakyLookups(Lookups):
    """Allegro goes away after `budget` lookups."""

    def __init__(self, *args: Any, budget: int) -> None:
        super().__init__(*args)
        self.budget = budget

    async def _ask(self, account_id: str, ean: str) -> dict[str, Any]:
        if self.budget <= 0:
            raise AllegroUnavailable(503, [], "GET", "/sale/products")
        self.budget -= 1
        return await super()._ask(account_id, ean)


async def test_a_failed_coverage_report_resumes_where_it_stopped(
    catalog: Catalog, allegro_emulator: EmulatorHandle, seller: dict[str, str]
) -> None:
    products = list(seed_products(SPEC.size, 1000, 1500))
    await catalog.import_bytes("jsonl", jsonl_lines(iter(products)))
    await catalog.save_selection({"categories": ["Electronics"]})
    electronics = [p for p in products if p["category"][0] == "Electronics"]
    client = AllegroClient(
        AllegroSettings(api_url=allegro_emulator.url, auth_url=allegro_emulator.url),
        tokens=StaticTokens({catalog.account: seller["token"]}),
    )
    try:
        units = UnitsOfWork(catalog.engine, "catalog")
        flaky = FlakyLookups(units, client, budget=100)
        selection = Selection.from_dict({"include": {"categories": ["Electronics"]}})
        report_id = await start_coverage(units, catalog.account, selection)
        await run_coverage(units, flaky, report_id)
    finally:
        await client.aclose()
    failed = (await catalog.http.get(f"/coverage/{report_id}")).json()
    assert failed["status"] == "failed" and "AllegroUnavailable" in failed["error"]
    assert 0 < failed["progress"]["processed"] < failed["progress"]["total"]
    assert 0 < failed["counts"]["selected"] < len(electronics)

    resumed = await catalog.http.post(f"/coverage/{report_id}/resume")
    assert resumed.status_code == 202

    async def done() -> bool:
        report = (await catalog.http.get(f"/coverage/{report_id}")).json()
        return bool(report["status"] == "done")

    await wait_until(done, within=60, interval=0.3)
    counts = (await catalog.http.get(f"/coverage/{report_id}")).json()["counts"]
    assert counts["selected"] == len(electronics)  # nothing counted twice, nothing skipped
    presence = [allegro_presence(SPEC, 1000 + i) for i, p in enumerate(products)]
    in_electronics = [n for n, p in zip(presence, products, strict=True) if p in electronics]
    assert counts["matched"] == in_electronics.count(1)
    assert counts["missing"] == in_electronics.count(0)
    assert counts["ambiguous"] == in_electronics.count(2)
