from __future__ import annotations

from catalog.seedfiles import jsonl_lines, seed_products

from .conftest import Catalog


async def test_import_then_select(catalog: Catalog) -> None:
    response = await catalog.import_bytes("jsonl", jsonl_lines(seed_products(20_000, 0, 300)))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["valid"] == 300, report
    saved = await catalog.save_selection({"categories": ["Home & Garden"]})
    print(saved)
    items = await catalog.items()
    assert items and all(i["supplier_category"].startswith("Home & Garden") for i in items)
