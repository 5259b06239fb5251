"""The emulator's seeded supplier catalogue written in catalog's import formats (tests, the
local demo, benchmarks). Test support, not catalog's runtime: the catalog service never
imports the emulator."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import orjson

from allegro_emulator.seed import CatalogueSpec, supplier_catalogue
from catalog.parsers import BIGBUY_COLUMNS, OUR_CSV_COLUMNS

BIGBUY_HEADER = BIGBUY_COLUMNS

# Our CSV columns as the parser reads them; the seed carries no update times.
OUR_HEADER = [column for column in OUR_CSV_COLUMNS if column != "updated_at"]


def seed_products(
    size: int, start: int = 0, stop: int | None = None, seed: int = 42
) -> Iterator[Any]:
    return supplier_catalogue(CatalogueSpec(seed=seed, size=size), start, stop)


def as_supplier_record(p: Any) -> dict[str, Any]:
    """A seed product in the upstream contract's SupplierProduct shape (without updated_at)."""
    return {
        "sku": p["sku"],
        "ean": p["ean"],
        "title": p["name"],
        "description": p["description"],
        "images": p["images"],
        "category_path": " > ".join(p["category"]),
        "brand": p["brand"],
        "weight_kg": str(p["weight_kg"]),
        "cost": {"amount": p["price"], "currency": "PLN"},
        "rrp": {"amount": p["retail_price"], "currency": "PLN"},
        "stock": p["stock"],
        "attributes": p["attributes"],
    }


def jsonl_lines(products: Iterator[Any]) -> Iterator[bytes]:
    for p in products:
        yield orjson.dumps(as_supplier_record(p)) + b"\n"


def _csv_line(cells: list[Any], delimiter: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerow(cells)
    return buffer.getvalue().encode()


def csv_lines(products: Iterator[Any]) -> Iterator[bytes]:
    yield _csv_line(OUR_HEADER, ",")
    for p in products:
        r = as_supplier_record(p)
        attributes = "|".join(f"{k}={v}" for k, v in r["attributes"].items())
        yield _csv_line(
            [
                r["sku"],
                r["ean"],
                r["title"],
                r["description"],
                "|".join(r["images"]),
                r["category_path"],
                r["brand"],
                r["weight_kg"],
                r["cost"]["amount"],
                "PLN",
                r["rrp"]["amount"],
                "PLN",
                r["stock"],
                attributes,
            ],
            ",",
        )


def bigbuy_lines(products: Iterator[Any], date_upd: str = "2026-11-20 06:00:00") -> Iterator[bytes]:
    """BigBuy's product CSV: `;`, a UTF-8 BOM, upper-case columns, category ids as a path."""
    yield b"\xef\xbb\xbf" + _csv_line(BIGBUY_HEADER, ";")
    for p in products:
        images = (p["images"] + [""] * 8)[:8]
        cells = {
            "ID": p["sku"],
            "CATEGORY": ",".join(p["category"]),
            "NAME": p["name"],
            "ATTRIBUTE1": "Colour",
            "VALUE1": p["attributes"]["colour"],
            "DESCRIPTION": f"<p>{p['description']}</p>",
            "BRAND": p["brand"],
            "PRICE": p["retail_price"],
            "PVP_BIGBUY": p["retail_price"],
            "PVD": p["price"],
            "IVA": "21",
            "VIDEO": "0",
            "EAN13": p["ean"],
            "WEIGHT": str(p["weight_kg"]),
            "STOCK": str(p["stock"]),
            "DATE_ADD": "2025-04-01 10:00:00",
            "DATE_UPD": date_upd,
            "CONDITION": "NEW",
            **{f"IMAGE{i + 1}": url for i, url in enumerate(images)},
        }
        yield _csv_line([cells.get(column, "") for column in BIGBUY_HEADER], ";")
