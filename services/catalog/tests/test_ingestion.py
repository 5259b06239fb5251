"""Ingestion: the upstream consumer and the bulk imports, on the real database and broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import aio_pika
import orjson

from catalog.consumer import SUPPLIER_PRODUCTS
from mci_testing.infra import wait_until
from mci_testing.seedfiles import bigbuy_lines, csv_lines, jsonl_lines, seed_products
from shared.events import (
    CatalogItem,
    CatalogUpdated,
    Money,
    SupplierProduct,
    SupplierProductsChanged,
)

from .conftest import Catalog, publish

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def supplier(sku: str, at: datetime, **fields: object) -> SupplierProduct:
    return SupplierProduct.model_validate({"sku": sku, "updated_at": at, **fields})


def full(
    sku: str, at: datetime, title: str = "Sekator Fiskars Pro", stock: int = 5
) -> SupplierProduct:
    return supplier(
        sku,
        at,
        ean="5901234123457",
        title=title,
        category_path="Home & Garden > Garden > Garden Tools",
        brand="Fiskars",
        weight_kg=Decimal("0.4"),
        cost=Money(amount=Decimal("20.00"), currency="PLN"),
        rrp=Money(amount=Decimal("49.99"), currency="PLN"),
        stock=stock,
        images=["https://cdn.example/1.jpg"],
        attributes={"colour": "red"},
    )


async def test_upstream_records_flow_out_as_catalog_updated(
    catalog: Catalog, amqp_url: str
) -> None:
    await catalog.save_selection({"categories": ["Home & Garden"]})
    # A consumer of catalog.updated, as pricing and offers are.
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(f"test.catalog-{uuid.uuid4().hex[:6]}", exclusive=True)
    await queue.bind(CatalogUpdated.exchange, CatalogUpdated.routing_key)
    received: list[dict[str, object]] = []

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        body = orjson.loads(message.body)
        if body["data"]["account_id"] == catalog.account:
            received.extend(body["data"]["items"])
        await message.ack()

    await queue.consume(on_message)
    try:
        # The supplier's handling days (BigBuy's slowest warehouse holding the stock) travel
        # as an attribute and come out as the item's own field, for the offer's delivery time.
        record = full("UP-1", T0).model_copy(
            update={"attributes": {"colour": "red", "handling_days": "2"}}
        )
        await publish(amqp_url, SupplierProductsChanged(products=[record]))

        async def arrived() -> bool:
            return any(i["sku"] == "UP-1" for i in received)

        await wait_until(arrived, within=20)
        item = next(i for i in received if i["sku"] == "UP-1")
        assert item["listed"] is True and item["title"] == "Sekator Fiskars Pro"
        assert item["cost"] == {"amount": "20.00", "currency": "PLN"}
        assert item["stock"] == 5 and item["brand"] == "Fiskars"
        assert item["handling_days"] == 2
        assert CatalogItem.model_validate(item).handling_days == 2
    finally:
        await connection.close()


async def test_upstream_is_idempotent_and_order_tolerant(catalog: Catalog, amqp_url: str) -> None:
    await catalog.save_selection({"brands": ["Fiskars"]})
    first = await publish(amqp_url, SupplierProductsChanged(products=[full("UP-2", T0)]))
    await publish(amqp_url, SupplierProductsChanged(products=[full("UP-2", T0)]), first)  # dup
    stock_later = SupplierProductsChanged(
        products=[supplier("UP-2", T0 + timedelta(hours=2), stock=1)]
    )
    await publish(amqp_url, stock_later)
    # Arrives last but is older than both: its title lands (newer than the content), its stock
    # (older than the stock update) does not.
    await publish(
        amqp_url,
        SupplierProductsChanged(
            products=[full("UP-2", T0 + timedelta(hours=1), title="Nowy", stock=50)]
        ),
    )
    # And a record older than everything changes nothing at all.
    await publish(
        amqp_url, SupplierProductsChanged(products=[full("UP-2", T0 - timedelta(1), title="Stary")])
    )

    async def settled() -> bool:
        consumed = await catalog.scalar(
            "SELECT count(*) FROM inbox WHERE consumer = :c", c=SUPPLIER_PRODUCTS.name
        )
        return bool(consumed == 4)

    await wait_until(settled, within=20)
    items = await catalog.items()
    revisions = [i["revision"] for i in items]
    assert len(items) == 3 and revisions == sorted(revisions)  # created, stock 1, title Nowy
    held = (await catalog.latest())["UP-2"]
    assert held["title"] == "Nowy" and held["stock"] == 1
    product = (await catalog.http.get("/products/UP-2")).json()
    assert product["title"] == "Nowy" and product["stock"] == 1 and product["source"] == "upstream"
    assert product["updated_at"] == (T0 + timedelta(hours=2)).isoformat()


async def test_jsonl_import_reports_bad_rows_and_applies_the_rest(catalog: Catalog) -> None:
    good = list(jsonl_lines(seed_products(20_000, 0, 50)))
    bad_ean = orjson.loads(good[3])
    bad_ean["ean"] = bad_ean["ean"][:-1] + str((int(bad_ean["ean"][-1]) + 1) % 10)
    no_title = orjson.loads(good[4])
    del no_title["title"]
    negative = orjson.loads(good[5])
    negative["weight_kg"] = "-2"
    negative["cost"] = {"amount": "10", "currency": "XXX"}
    lines = [
        *good[:3],
        orjson.dumps(bad_ean) + b"\n",
        orjson.dumps(no_title) + b"\n",
        orjson.dumps(negative) + b"\n",
        b"{not json\n",
        *good[6:],
    ]
    response = await catalog.import_bytes("jsonl", lines)
    assert response.status_code == 200, response.text
    report = response.json()
    # A bad EAN check digit drops the code, not the product (flagged invalid_ean).
    assert report["rows"] == 51 and report["valid"] == 48 and report["invalid"] == 3
    errors = {(e["line"], e["field"]) for e in report["errors"]}
    assert errors == {
        (5, "title"),
        (6, "weight_kg"),
        (6, "cost_currency"),
        (7, "line"),
    }
    assert all(e["reason"] for e in report["errors"])
    assert await catalog.scalar("SELECT count(*) FROM products") == 48
    flagged = (await catalog.http.get(f"/products/{bad_ean['sku']}")).json()
    assert flagged["ean"] is None and flagged["flags"] == ["invalid_ean"]
    assert flagged["received"] == {"ean": bad_ean["ean"]}
    stored = (await catalog.http.get(f"/imports/{report['import_id']}/errors")).json()["items"]
    assert {(e["line"], e["field"]) for e in stored} == errors
    kept = (await catalog.http.get(f"/imports/{report['import_id']}")).json()
    assert kept["status"] == "done" and kept["invalid"] == 3 and kept["valid"] == 48


async def test_reimporting_the_same_file_changes_and_emits_nothing(catalog: Catalog) -> None:
    await catalog.save_selection({"categories": ["Electronics", "Home & Garden"]})
    body = b"".join(csv_lines(seed_products(20_000, 0, 400)))
    first = (await catalog.import_bytes("csv", body)).json()
    assert first["valid"] == 400 and first["changed"] == 400 and first["emitted_items"] > 0
    events_before = await catalog.events()
    received_before = await catalog.scalar("SELECT max(received_at) FROM products")
    second = (await catalog.import_bytes("csv", body)).json()
    assert second["valid"] == 400 and second["changed"] == 0 and second["emitted_items"] == 0
    assert await catalog.events() == events_before
    assert await catalog.scalar("SELECT max(received_at) FROM products") == received_before
    # Events are batches of at most a few hundred items.
    assert all(1 <= len(e["items"]) <= 250 for e in events_before)
    exposed = (await catalog.http.get("/metrics")).text
    assert 'mci_catalog_import_rows_total{format="csv",result="valid"}' in exposed
    assert 'mci_catalog_items_emitted_total{listed="true"}' in exposed


async def test_bigbuy_csv_as_shipped(catalog: Catalog) -> None:
    lines = list(bigbuy_lines(seed_products(20_000, 0, 20)))
    assert lines[0].startswith(b"\xef\xbb\xbfID;CATEGORY;NAME")
    header = lines[0].decode("utf-8-sig").strip().split(";")
    cells = lines[1].decode().rstrip("\n").split(";")
    sku_0 = cells[0]
    # A quoted description spanning lines, an EAN of "0", a variation attribute.
    row = dict(zip(header, lines[2].decode().rstrip("\n").split(";"), strict=False))
    row["DESCRIPTION"] = '"<p>Linia 1;\nlinia ""2""</p>"'
    row["EAN13"] = "0"
    lines[2] = (";".join(row[h] for h in header) + "\n").encode()
    response = await catalog.import_bytes("bigbuy", lines)
    report = response.json()
    assert response.status_code == 200 and report["invalid"] == 0 and report["valid"] == 20, report
    p0 = (await catalog.http.get(f"/products/{sku_0}")).json()
    assert p0["cost"]["currency"] == "EUR" and p0["ean"] is not None
    assert p0["attributes"]["Colour"] and p0["attributes"]["vat_rate"] == "21"
    assert p0["updated_at"] == "2026-11-20T06:00:00+00:00"
    assert len(p0["images"]) >= 1
    p1 = (await catalog.http.get(f"/products/{row['ID']}")).json()
    assert p1["ean"] is None
    # The quoted field spanning lines is read whole; HTML whitespace is one space.
    assert p1["description"] == '<p>Linia 1; linia "2"</p>'
    assert p1["supplier_category"] == row["CATEGORY"].replace(",", " > ")
    # Not BigBuy's file at all: a clear 422.
    wrong = await catalog.import_bytes("bigbuy", b"sku,title\nA,B\n")
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "bad_file"


async def test_imports_need_an_operator(catalog: Catalog) -> None:
    response = await catalog.http.post(
        "/imports", params={"format": "jsonl"}, content=b"", headers={"Authorization": ""}
    )
    assert response.status_code == 401


async def test_import_is_streamed_in_chunks(catalog: Catalog) -> None:
    """A body arriving in small pieces (split mid-line and mid-character) parses the same."""
    body = b"".join(bigbuy_lines(seed_products(20_000, 0, 30)))

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 97):
            yield body[i : i + 97]
            await asyncio.sleep(0)

    response = await catalog.http.post(
        "/imports",
        params={"format": "bigbuy"},
        content=pieces(),
        timeout=60,
    )
    assert response.json()["valid"] == 30, response.text


async def test_rejected_upstream_records_are_reported_and_the_rest_applied(
    catalog: Catalog, amqp_url: str
) -> None:
    bad = supplier("UP-BAD", T0, stock=-3)  # a negative stock
    message_id = await publish(amqp_url, SupplierProductsChanged(products=[full("UP-OK", T0), bad]))

    async def reported() -> bool:
        return (await catalog.http.get(f"/imports/{message_id}")).status_code == 200

    await wait_until(reported, within=20)
    report = (await catalog.http.get(f"/imports/{message_id}")).json()
    assert report["format"] == "upstream" and report["valid"] == 1 and report["invalid"] == 1
    errors = (await catalog.http.get(f"/imports/{message_id}/errors")).json()["items"]
    assert [(e["line"], e["sku"], e["field"]) for e in errors] == [(2, "UP-BAD", "stock")]
    assert (await catalog.http.get("/products/UP-OK")).status_code == 200
    assert (await catalog.http.get("/products/UP-BAD")).status_code == 404
    listed = (await catalog.http.get("/imports", params={"format": "upstream"})).json()
    assert [r["id"] for r in listed["items"]] == [str(message_id)]
