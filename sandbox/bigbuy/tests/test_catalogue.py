"""The catalogue lists: 0-based pages, short last page, own orders, joins, seeded traits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bigbuy_emulator import seed

from .bb_helpers import SPEC
from .conftest import Server

PRODUCT_LISTS = [
    "products",
    "productsinformation",
    "productsimages",
    "productsstockbyhandlingdays",
    "productprices",
]


def pages(bb: httpx.Client, name: str, size: int, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of a list until a short one, as a BigBuy client reads it."""
    out = []
    page = 0
    while True:
        response = bb.get(
            f"/catalog/{name}.json", params={"page": page, "pageSize": size, **params}
        )
        assert response.status_code == 200, response.text
        out.append(response.json())
        if len(out[-1]) < size:
            return out
        page += 1


def test_auth_status_and_the_bearer_key(bb: httpx.Client, server: Server) -> None:
    ok = bb.get("/user/auth/status.json")
    assert ok.status_code == 200 and ok.content == b""
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "test-key"}):
        refused = httpx.get(f"{server.url}/rest/user/auth/status.json", headers=headers)
        assert refused.status_code == 401 and refused.json() == {"message": "Invalid Token"}
    # Every path ends in .json.
    assert bb.get("/catalog/products").status_code == 404


@pytest.mark.parametrize("name", PRODUCT_LISTS)
def test_every_list_pages_from_zero_and_ends_with_a_short_page(bb: httpx.Client, name: str) -> None:
    params = {"isoCode": "pl"} if name == "productsinformation" else {}
    got = pages(bb, name, 700, **params)
    assert [len(p) for p in got] == [700, 700, 700, 700, 200]
    ids = [record["id"] for page in got for record in page]
    assert sorted(ids) == list(range(seed.PRODUCT_ID_BASE, seed.PRODUCT_ID_BASE + SPEC.size))
    beyond = bb.get(f"/catalog/{name}.json", params={"page": 5, "pageSize": 700, **params})
    assert beyond.json() == []


def test_lists_come_in_different_orders_so_clients_join_on_id(bb: httpx.Client) -> None:
    first_pages = {}
    for name in PRODUCT_LISTS:
        params: dict[str, str | int] = {"page": 0, "pageSize": 100, "isoCode": "en"}
        first_pages[name] = [r["id"] for r in bb.get(f"/catalog/{name}.json", params=params).json()]
    orders = {tuple(ids) for ids in first_pages.values()}
    assert len(orders) == len(PRODUCT_LISTS)
    overlap = set(first_pages["products"]) & set(first_pages["productsinformation"])
    assert len(overlap) < 20
    # Joined on id across all pages, every product has its text, images, stock and prices.
    joined: dict[int, dict[str, Any]] = {}
    for name in PRODUCT_LISTS:
        for page in pages(bb, name, 1000, isoCode="en"):
            for record in page:
                joined.setdefault(record["id"], {})[name] = record
    assert len(joined) == SPEC.size and all(len(parts) == 5 for parts in joined.values())
    sample = joined[seed.PRODUCT_ID_BASE + 42]
    assert sample["products"]["sku"] == sample["productsinformation"]["sku"]
    assert sample["productprices"]["wholesalePrice"] == sample["products"]["wholesalePrice"]


def test_page_size_limit_and_bad_parameters(bb: httpx.Client) -> None:
    assert len(bb.get("/catalog/products.json?page=0&pageSize=10000").json()) == SPEC.size
    too_big = bb.get("/catalog/products.json?page=0&pageSize=10001")
    assert too_big.status_code == 400 and too_big.json()["code"] == 400
    assert bb.get("/catalog/products.json?page=x&pageSize=10").status_code == 400
    assert bb.get("/catalog/productsinformation.json?isoCode=xx").status_code == 400


def test_ids_point_into_taxonomies_and_manufacturers(bb: httpx.Client) -> None:
    taxonomies = {t["id"]: t for t in bb.get("/catalog/taxonomies.json?isoCode=pl").json()}
    roots = bb.get("/catalog/taxonomies.json?isoCode=pl&firstLevel=1").json()
    assert roots and all(t["parentTaxonomy"] == 0 for t in roots)
    brands = {m["id"] for page in pages(bb, "manufacturers", 50) for m in page}
    assert len(brands) == seed.MANUFACTURER_COUNT
    products = bb.get("/catalog/products.json?page=0&pageSize=3000").json()
    for product in products:
        assert product["manufacturer"] in brands
        leaf = taxonomies[product["taxonomy"]]
        # Walking parentTaxonomy from the leaf reaches a root.
        while leaf["parentTaxonomy"]:
            leaf = taxonomies[leaf["parentTaxonomy"]]
        assert leaf["id"] in {r["id"] for r in roots}
    assert bb.get(f"/catalog/manufacturer/{next(iter(brands))}.json").json()["id"] in brands


def test_parent_taxonomy_filters_every_product_list(bb: httpx.Client) -> None:
    sport = 19756
    got = [r["id"] for page in pages(bb, "products", 500, parentTaxonomy=sport) for r in page]
    expected = {
        seed.PRODUCT_ID_BASE + row
        for row in range(SPEC.size)
        if sport in seed.taxonomy_path(seed.leaf_of(SPEC, row))
    }
    assert set(got) == expected and len(got) == len(expected) and 0 < len(got) < SPEC.size
    stock = [
        r["id"]
        for page in pages(bb, "productsstockbyhandlingdays", 500, parentTaxonomy=sport)
        for r in page
    ]
    assert set(stock) == expected


def test_the_seeded_traits_the_platform_must_handle(bb: httpx.Client) -> None:
    products = bb.get("/catalog/products.json?page=0&pageSize=3000").json()
    eans = [p["ean13"] for p in products]
    lengths = {len(e) for e in eans if e and e != "0"}
    assert lengths == {8, 13, 14}
    assert all(seed.is_valid_gtin(e) for e in eans if e and e != "0")
    assert {None, "", "0"} <= set(eans)
    assert len({e for e in eans if e and e != "0"}) == len([e for e in eans if e and e != "0"])
    assert {"NEW", "REFURBISHED_B"} == {p["condition"] for p in products}
    assert {0, 1} == {p["active"] for p in products}
    assert any(p["weight"] == 0 for p in products)
    assert any(p["weight"] == 1 and p["width"] == 1 for p in products)
    info = bb.get("/catalog/productsinformation.json?isoCode=pl&page=0&pageSize=3000").json()
    assert all(i["isoCode"] == "pl" and i["description"].startswith("<p>") for i in info)
    assert any(len(i["name"]) > 75 for i in info)
    stock = bb.get("/catalog/productsstockbyhandlingdays.json?page=0&pageSize=3000").json()
    warehouses = {row["warehouse"] for s in stock for row in s["stocks"]}
    assert warehouses == {1, 2, 3}
    bands = {(row["minHandlingDays"], row["maxHandlingDays"]) for s in stock for row in s["stocks"]}
    assert {(0, 1), (1, 2)} < bands
    in_stock = sum(1 for s in stock if sum(r["quantity"] for r in s["stocks"]))
    assert 0 < in_stock < len(stock)


def test_variations_hang_under_their_parents(bb: httpx.Client) -> None:
    variations = [v for page in pages(bb, "productsvariations", 400) for v in page]
    assert len(variations) == seed.variations_total(SPEC.size)
    parents = {v["product"] for v in variations}
    products = {p["id"]: p for p in bb.get("/catalog/products.json?pageSize=3000").json()}
    assert all(products[pid]["attributes"] is True for pid in parents)
    assert sum(p["attributes"] for p in products.values()) == len(parents)
    parent = min(parents)
    mine = bb.get(f"/catalog/productvariations/{parent}.json").json()
    assert {v["id"] for v in mine} == {v["id"] for v in variations if v["product"] == parent}
    assert all(v["sku"].startswith(products[parent]["sku"] + "-") for v in mine)
    # Variation stock rows use the variation id; the parent's row is their sum.
    stock = {
        s["id"]: s
        for page in pages(bb, "productsvariationsstockbyhandlingdays", 1000)
        for s in page
    }
    assert set(stock) == {v["id"] for v in variations}
    parent_stock = bb.get(f"/catalog/productstockbyhandlingdays/{parent}.json").json()
    total = sum(r["quantity"] for v in mine for r in stock[v["id"]]["stocks"])
    assert sum(r["quantity"] for r in parent_stock["stocks"]) == total
    links = bb.get(f"/catalog/variation/{mine[0]['id']}.json").json()
    attribute_ids = {a["id"] for a in bb.get("/catalog/attributes.json?isoCode=en").json()}
    assert links["attributes"][0]["id"] in attribute_ids
    prices = [p for page in pages(bb, "productvariationprices", 1000) for p in page]
    assert {p["id"] for p in prices} == set(stock)


def test_compliance_for_most_products_and_404_for_the_rest(bb: httpx.Client) -> None:
    answers = [
        bb.get(f"/catalog/productcompliance/{seed.PRODUCT_ID_BASE + row}.json") for row in range(40)
    ]
    statuses = [a.status_code for a in answers]
    assert 200 in statuses and 404 in statuses
    assert statuses.count(200) > statuses.count(404)
    found = next(a.json() for a in answers if a.status_code == 200)
    regulation = found["generalProductSafetyRegulations"][0]
    assert regulation["name"] and regulation["address"] and "@" in regulation["contact"]


def test_single_items_and_unknown_ids(bb: httpx.Client) -> None:
    pid = seed.PRODUCT_ID_BASE + 7
    assert bb.get(f"/catalog/product/{pid}.json").json()["id"] == pid
    [info] = bb.get(f"/catalog/productinformation/{pid}.json?isoCode=pl").json()
    assert info["isoCode"] == "pl" and info["id"] == pid
    assert bb.get(f"/catalog/productimages/{pid}.json").json()["images"][0]["isCover"] is True
    missing = bb.get(f"/catalog/product/{seed.PRODUCT_ID_BASE + SPEC.size}.json")
    assert missing.status_code == 404 and missing.json()["code"] == 404
    assert len(bb.get("/catalog/languages.json").json()) == 24
    assert bb.get("/catalog/categories.json").json() == []


def test_a_large_catalogue_is_computed_lazily(bb: httpx.Client, server: Server) -> None:
    server.admin("PUT", "/config", {"catalogue_size": 100_000})
    last = bb.get("/catalog/products.json?page=9&pageSize=10000").json()
    assert len(last) == 10_000 and last[-1]["id"] == seed.PRODUCT_ID_BASE + 99_999
    assert bb.get("/catalog/products.json?page=10&pageSize=10000").json() == []
    # Nothing was stored for it: the state holds overrides only.
    assert server.admin("GET", "/items/199999")["sku"] == last[-1]["sku"]


def test_the_same_seed_gives_the_same_catalogue() -> None:
    again = seed.CatalogueSpec(seed=7, size=3_000, in_stock_share=0.4)
    other = seed.CatalogueSpec(seed=8, size=3_000, in_stock_share=0.4)
    assert [seed.product(SPEC, r) for r in range(50)] == [seed.product(again, r) for r in range(50)]
    assert seed.product(SPEC, 3)["sku"] != seed.product(other, 3)["sku"]


def test_new_products_are_the_newest_ids_added_in_the_last_week(bb: httpx.Client) -> None:
    newest = bb.get("/catalog/new-products.json?page=0&pageSize=1000").json()
    rows = seed.new_rows(SPEC)
    assert sorted(p["id"] for p in newest) == [seed.PRODUCT_ID_BASE + r for r in rows]
    assert [p["id"] for p in newest] != sorted(p["id"] for p in newest)  # its own order
    everything = bb.get("/catalog/products.json?pageSize=3000").json()
    newest_date = max(p["dateAdd"] for p in everything)
    cutoff = min(p["dateAdd"] for p in newest)
    older = [p for p in everything if p["id"] not in {n["id"] for n in newest}]
    assert all(p["dateAdd"] < cutoff for p in older)
    assert newest_date[:10] >= cutoff[:10]


def test_product_information_in_all_languages(bb: httpx.Client) -> None:
    pid = seed.PRODUCT_ID_BASE + 11
    records = bb.get(f"/catalog/productinformationalllanguages/{pid}.json").json()
    assert [r["isoCode"] for r in records] == ["es", "en", "pl", "cs", "sk", "hu"]
    assert len({r["name"] for r in records}) >= 3  # es, en and pl texts differ
