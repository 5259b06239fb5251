"""Variations (BigBuy's products with `attributes: true`): each variation its own SKU and EAN,
grouped under its parent, the parent's content shared, the variation's attribute values
recorded and sent on. On the real database and broker."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from catalog.consumer import SUPPLIER_PRODUCTS
from mci_testing.infra import wait_until
from shared.events import Money, SupplierProduct, SupplierProductsChanged

from .conftest import Catalog, publish

HEADER = (
    "ID;CATEGORY;NAME;ATTRIBUTE1;ATTRIBUTE2;VALUE1;VALUE2;DESCRIPTION;BRAND;FEATURE;PRICE;"
    "PVP_BIGBUY;PVD;IVA;VIDEO;EAN13;WIDTH;HEIGHT;DEPTH;WEIGHT;STOCK;DATE_ADD;DATE_UPD;IMAGE1;"
    "IMAGE2;IMAGE3;IMAGE4;IMAGE5;IMAGE6;IMAGE7;IMAGE8;CONDITION;INTRASTAT"
)
DESCRIPTION = (
    '"<p>Lekka koszulka sportowa z oddychającej dzianiny.</p><ul><li>100% poliester</li></ul>"'
)
IMAGES = "https://cdnbigbuy.com/images/Z7000002_01.jpg;https://cdnbigbuy.com/images/Z7000002_02.jpg;;;;;;"


def ean13(first12: str) -> str:
    weighted = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return first12 + str(-weighted % 10)


EANS = {"S": ean13("840000000001"), "M": ean13("840000000002"), "L": ean13("840000000003")}


def variation_row(size: str, cost: str, stock: int) -> str:
    return (
        f"Z7000002-{size};2491,2493,2510;Koszulka sportowa Z7000002;Rozmiar;Kolor;{size};Czarny;"
        f"{DESCRIPTION};4321;;24.90;14.90;{cost};21;0;{EANS[size]};25;3;30;0.32;{stock};"
        f"2025-04-01 10:00:00;2026-11-20 06:00:00;{IMAGES};NEW;61091000"
    )


SIMPLE = (
    'K0000001;2491,2493,2510;Bidon sportowy 750 ml;;;;;"<p>Bidon.</p>";4321;;9.90;5.90;2.10;21;0;'
    f"{ean13('840000000009')};8;25;8;0.12;40;2025-04-01 10:00:00;2026-11-20 06:00:00;"
    "https://cdnbigbuy.com/images/K0000001_01.jpg;;;;;;;;NEW;39241000"
)
# BigBuy's product CSV: one row per variation, no row for the parent, which is not sold.
FILE = (
    "\ufeff"
    + "\n".join(
        [
            HEADER,
            variation_row("S", "6.10", 12),
            variation_row("M", "6.10", 0),
            variation_row("L", "6.40", 7),
            SIMPLE,
        ]
    )
    + "\n"
).encode()


async def test_a_parent_and_three_variations_from_bigbuy_s_file(catalog: Catalog) -> None:
    imported = await catalog.import_bytes("bigbuy", FILE)
    assert imported.status_code == 200, imported.text
    assert imported.json()["valid"] == 4 and imported.json()["invalid"] == 0

    medium = (await catalog.http.get("/products/Z7000002-M")).json()
    assert medium["kind"] == "variation" and medium["parent_sku"] == "Z7000002"
    assert medium["ean"] == EANS["M"] and medium["stock"] == 0
    assert medium["variation"] == {"Rozmiar": "M", "Kolor": "Czarny"}
    group = medium["group"]
    assert group["parent_sku"] == "Z7000002" and group["varies_by"] == ["Rozmiar", "Kolor"]
    assert [v["sku"] for v in group["variations"]] == ["Z7000002-L", "Z7000002-M", "Z7000002-S"]
    assert {v["sku"]: v["ean"] for v in group["variations"]} == {
        f"Z7000002-{size}": ean for size, ean in EANS.items()
    }
    assert group["variations"][0]["cost"] == {"amount": "6.40", "currency": "EUR"}
    # The parent's content, shared by its variations.
    assert group["shared"]["description"].startswith("<p>Lekka koszulka")
    assert group["shared"]["images"][0].endswith("Z7000002_01.jpg")
    assert group["shared"]["supplier_category"] == "2491 > 2493 > 2510"

    # The parent is not a product of its own; its SKU shows the group.
    parent = await catalog.http.get("/products/Z7000002")
    assert parent.status_code == 200 and parent.json()["kind"] == "parent"
    assert len(parent.json()["group"]["variations"]) == 3
    simple = (await catalog.http.get("/products/K0000001")).json()
    assert simple["kind"] == "product" and simple["parent_sku"] is None
    assert simple["group"] is None and simple["variation"] == {}
    assert (await catalog.http.get("/products/Z7000003")).status_code == 404

    # Each variation is its own item, with its group and values for Allegro's parameters.
    await catalog.save_selection({"categories": ["2491"]})
    items = await catalog.latest()
    assert set(items) == {"Z7000002-S", "Z7000002-M", "Z7000002-L", "K0000001"}
    small = items["Z7000002-S"]
    assert small["listed"] and small["ean"] == EANS["S"]
    assert small["parent_sku"] == "Z7000002"
    assert small["variation"] == {"Rozmiar": "S", "Kolor": "Czarny"}
    assert items["K0000001"]["parent_sku"] is None and items["K0000001"]["variation"] == {}

    # The same file again changes nothing.
    again = await catalog.import_bytes("bigbuy", FILE)
    assert again.json()["changed"] == 0


async def test_variations_from_the_connector_and_bad_groups(
    catalog: Catalog, amqp_url: str
) -> None:
    at = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    records = [
        SupplierProduct(
            sku=f"S0400{n}",
            updated_at=at,
            ean=ean13(f"84000000010{n}"),
            title=f"Bluza z kapturem - {colour}",
            description="<p>Bluza z kapturem.</p>",
            images=["https://cdnbigbuy.com/images/S0400_01.jpg"],
            category_path="Sport > Odzież",
            brand="Adidas",
            weight_kg=None,
            cost=Money(amount="12.50", currency="EUR"),
            stock=3,
            attributes={"bigbuy_id": "4000", "Kolor": colour},
            parent_sku="S0400",
            variation={"Kolor": colour},
        )
        for n, colour in enumerate(["Czarny", "Szary", "Granatowy"], start=1)
    ]
    await publish(amqp_url, SupplierProductsChanged(products=records))

    async def consumed() -> bool:
        found = await catalog.scalar(
            "SELECT count(*) FROM inbox WHERE consumer = :c", c=SUPPLIER_PRODUCTS.name
        )
        return bool(found == 1)

    await wait_until(consumed, within=60)
    parent = (await catalog.http.get("/products/S0400")).json()
    assert parent["group"]["varies_by"] == ["Kolor"]
    assert [v["variation"]["Kolor"] for v in parent["group"]["variations"]] == [
        "Czarny",
        "Szary",
        "Granatowy",
    ]

    # A variation needs its parent, and cannot be its own.
    lines = [
        {
            "sku": "V-1",
            "title": "Bluza",
            "cost": {"amount": "1", "currency": "EUR"},
            "variation": {"Kolor": "Czarny"},
        },
        {
            "sku": "V-2",
            "title": "Bluza",
            "cost": {"amount": "1", "currency": "EUR"},
            "parent_sku": "V-2",
            "variation": {"Kolor": "Czarny"},
        },
        {
            "sku": "V-3",
            "title": "Bluza",
            "cost": {"amount": "1", "currency": "EUR"},
            "parent_sku": "V",
            "variation": ["Czarny"],
        },
    ]
    response = await catalog.import_bytes(
        "jsonl", b"".join(orjson.dumps(line) + b"\n" for line in lines)
    )
    errors = {(e["sku"], e["field"]) for e in response.json()["errors"]}
    assert errors == {("V-1", "parent_sku"), ("V-2", "parent_sku"), ("V-3", "variation")}
