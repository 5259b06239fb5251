"""Selection, screening and category mapping, through the API, on the real database."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from mci_testing.seedfiles import as_supplier_record, jsonl_lines, seed_products

from .conftest import Catalog

SIZE = 20_000  # the session emulator's catalogue
COUNT = 300


def seed(count: int = COUNT) -> list[Any]:
    return list(seed_products(SIZE, 0, count))


async def test_preview_then_save_emits_entering_and_leaving(catalog: Catalog) -> None:
    products = seed()
    assert (await catalog.import_bytes("jsonl", jsonl_lines(iter(products)))).status_code == 200
    home = {p["sku"] for p in products if p["category"][0] == "Home & Garden"}
    electronics = {
        p["sku"] for p in products if p["category"][0] == "Electronics" and p["brand"] != "Samsung"
    }
    body = {"include": {"categories": ["Home & Garden"]}, "exclude": {}}
    response = await catalog.http.post(
        f"/accounts/{catalog.account}/selection/preview", json=body, params={"limit": 10}
    )
    preview = response.json()
    assert preview["counts"]["to_list"] == len(home) == preview["counts"]["entering"]
    assert preview["counts"]["leaving"] == 0 and preview["counts"]["unmapped"] == len(home)
    assert len(preview["items"]) == 10 and preview["next"] == preview["items"][-1]["sku"]
    assert all(p["sku"] in home for p in preview["items"])
    assert sum(preview["by_category"].values()) == len(home)
    assert await catalog.events() == []  # a preview changes nothing

    saved = await catalog.save_selection(body["include"])
    assert saved["emitted_items"] == len(home) == saved["listed"]
    latest = await catalog.latest()
    assert {s for s, i in latest.items() if i["listed"]} == home

    # Switch to electronics without Samsung: home leaves (listed=false), electronics enters.
    preview2 = (
        await catalog.http.post(
            f"/accounts/{catalog.account}/selection/preview",
            json={"include": {"categories": ["Electronics"]}, "exclude": {"brands": ["samsung"]}},
        )
    ).json()
    assert preview2["counts"]["leaving"] == len(home)
    assert preview2["counts"]["entering"] == len(electronics)
    await catalog.save_selection({"categories": ["Electronics"]}, {"brands": ["samsung"]})
    latest = await catalog.latest()
    assert {s for s, i in latest.items() if i["listed"]} == electronics
    left = [i for s, i in latest.items() if s in home]
    assert len(left) == len(home) and not any(i["listed"] for i in left)
    assert all(i["title"] is None for i in left)  # a withdrawal carries no content
    # Saving the same selection again emits nothing.
    count = len(await catalog.items())
    again = await catalog.save_selection({"categories": ["Electronics"]}, {"brands": ["samsung"]})
    assert again["emitted_items"] == 0 and len(await catalog.items()) == count
    selection = (await catalog.http.get(f"/accounts/{catalog.account}/selection")).json()
    assert selection["selection"]["exclude"]["brands"] == ["samsung"]
    assert selection["listed"] == len(electronics)


async def test_only_accounts_selecting_a_product_hear_of_it(catalog: Catalog) -> None:
    products = seed(100)
    await catalog.import_bytes("jsonl", jsonl_lines(iter(products)))
    await catalog.save_selection({"skus": [products[0]["sku"]]})
    other = await catalog.http.put(
        "/accounts/other-shop/selection", json={"include": {"skus": [products[1]["sku"]]}}
    )
    assert other.json()["emitted_items"] == 1
    assert set(await catalog.latest()) == {products[0]["sku"]}
    assert set(await catalog.latest("other-shop")) == {products[1]["sku"]}
    # A change of product 0 reaches only the account that lists it.
    changed = as_supplier_record(products[0]) | {"stock": 777}
    await catalog.import_bytes("jsonl", orjson.dumps(changed) + b"\n")
    assert (await catalog.latest())[products[0]["sku"]]["stock"] == 777
    assert len(await catalog.items("other-shop")) == 1


async def test_prohibited_products_are_screened_with_the_blocking_rule(catalog: Catalog) -> None:
    products = seed(100)
    cigarettes = as_supplier_record(products[0]) | {
        "sku": "BAD-1",
        "title": "E-papierosy Fiskars zestaw startowy",
    }
    # An exception phrase (seeded by migration 0006) keeps an allowed use of a blocked word.
    stones = as_supplier_record(products[0]) | {"sku": "OK-1", "title": "Whisky stones, 9 pcs"}
    lines = [*jsonl_lines(iter(products)), *(orjson.dumps(r) + b"\n" for r in (cigarettes, stones))]
    await catalog.import_bytes("jsonl", lines)
    roots = ["Home & Garden", "Sports & Outdoors", "Electronics"]
    saved = await catalog.save_selection({"categories": roots})
    assert saved["emitted_items"] == 101
    assert "BAD-1" not in await catalog.latest()
    assert (await catalog.latest())["OK-1"]["listed"]
    screened = (await catalog.http.get(f"/accounts/{catalog.account}/screened")).json()
    assert screened["total"] == 1
    assert screened["items"][0]["sku"] == "BAD-1"
    assert "e-cigarettes" in screened["items"][0]["rule"]["reason"]

    # A new rule withdraws what is already listed, with listed=false.
    brand = products[1]["brand"]
    rule = await catalog.http.post(
        "/screening/rules",
        json={"kind": "brand", "pattern": brand, "reason": "brand owner forbids marketplaces"},
    )
    assert rule.status_code == 201
    of_brand = {p["sku"] for p in products if p["brand"] == brand}
    assert rule.json()["emitted_items"] == len(of_brand)
    latest = await catalog.latest()
    assert not any(latest[s]["listed"] for s in of_brand)
    listed = (await catalog.http.get("/screening/rules", params={"limit": 1000})).json()
    rules = listed["items"]
    assert listed["next"] is None  # every rule is on this page
    assert any(r["pattern"] == "kastet*" for r in rules)  # the seeded defaults
    assert any(r["kind"] == "exception" and r["pattern"] == "whisky stones" for r in rules)
    # Removing it lists them again.
    removed = await catalog.http.delete(f"/screening/rules/{rule.json()['id']}")
    assert removed.json()["emitted_items"] == len(of_brand)
    latest = await catalog.latest()
    assert all(latest[s]["listed"] for s in of_brand)
    forbidden = await catalog.http.post(
        "/screening/rules",
        json={"kind": "brand", "pattern": "X", "reason": "r"},
        headers={"Authorization": "Bearer nope"},
    )
    assert forbidden.status_code == 401


async def test_category_mapping_suggestions_and_manual_mapping(catalog: Catalog) -> None:
    products = seed(200)
    await catalog.import_bytes("jsonl", jsonl_lines(iter(products)))
    await catalog.save_selection({"categories": ["Home & Garden"]})
    tools = "Home & Garden > Garden > Garden Tools"
    truth = {p["allegro_category_id"] for p in products if " > ".join(p["category"]) == tools}
    assert truth == {"1521"}
    unmapped = await catalog.pages("/category-mappings/unmapped")
    assert tools in {c["category_path"] for c in unmapped}

    response = await catalog.http.post(
        f"/accounts/{catalog.account}/category-suggestions",
        json={"supplier_category": tools},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    suggestion = response.json()
    assert suggestion["cached"] is False
    best = suggestion["suggestions"][0]
    assert best["allegro_category_id"] == "1521"
    assert "catalogue-product-by-ean" in best["sources"]
    lookups = await catalog.scalar("SELECT count(*) FROM ean_lookups")
    again = (
        await catalog.http.post(
            f"/accounts/{catalog.account}/category-suggestions", json={"supplier_category": tools}
        )
    ).json()
    assert again["cached"] is True and again["suggestions"] == suggestion["suggestions"]
    assert await catalog.scalar("SELECT count(*) FROM ean_lookups") == lookups

    before = len(await catalog.items())
    mapped = await catalog.http.put(
        "/category-mappings", json={"supplier_category": tools, "allegro_category_id": "1521"}
    )
    in_tools = {p["sku"] for p in products if " > ".join(p["category"]) == tools}
    assert mapped.json()["emitted_items"] == len(in_tools)
    new_items = (await catalog.items())[before:]
    assert {i["sku"] for i in new_items} == in_tools
    assert all(i["allegro_category_id"] == "1521" for i in new_items)
    mappings = (await catalog.http.get("/category-mappings")).json()["items"]
    assert mappings[0]["supplier_category"] == tools and mappings[0]["source"] == "manual"
    unmapped = await catalog.pages("/category-mappings/unmapped")
    assert tools not in {c["category_path"] for c in unmapped}


async def test_unmapped_categories_page_largest_first(catalog: Catalog) -> None:
    products = seed(200)
    await catalog.import_bytes("jsonl", jsonl_lines(iter(products)))
    held = Counter(" > ".join(p["category"]) for p in products)
    assert len(held) > 7  # several pages of 3

    pages = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        response = await catalog.http.get("/category-mappings/unmapped", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page["items"])
        if page["next"] is None:
            break
        params["after"] = page["next"]
    read = [c for items in pages for c in items]
    assert all(len(items) == 3 for items in pages[:-1]) and 1 <= len(pages[-1]) <= 3
    # Every category once, with its count, largest first; the pages join into the one list.
    assert {c["category_path"]: c["products"] for c in read} == held and len(read) == len(held)
    counts = [c["products"] for c in read]
    assert counts == sorted(counts, reverse=True)
    whole = (await catalog.http.get("/category-mappings/unmapped", params={"limit": 1000})).json()
    assert whole["items"] == read and whole["next"] is None

    bad = await catalog.http.get("/category-mappings/unmapped", params={"after": "many/x"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"


async def test_a_marketplace_can_override_the_mapping(catalog: Catalog) -> None:
    products = seed(60)
    await catalog.import_bytes("jsonl", jsonl_lines(iter(products)))
    await catalog.save_selection({"categories": ["Electronics"]})
    phones = "Electronics > Mobile Phones > Smartphones"
    in_phones = {p["sku"] for p in products if " > ".join(p["category"]) == phones}
    assert in_phones
    await catalog.http.put(
        "/category-mappings", json={"supplier_category": phones, "allegro_category_id": "4227"}
    )
    cz = await catalog.http.put(
        "/category-mappings",
        json={
            "supplier_category": phones,
            "allegro_category_id": "4229",
            "marketplace": "allegro-cz",
        },
    )
    assert cz.json()["emitted_items"] == len(in_phones)
    latest = await catalog.latest()
    for sku in in_phones:
        assert latest[sku]["allegro_category_id"] == "4227"
        assert latest[sku]["allegro_category_ids"] == {"allegro-cz": "4229"}


async def test_a_mapping_can_be_checked_with_allegro(catalog: Catalog) -> None:
    body = {"supplier_category": "Home & Garden > Kitchen > Cookware", "allegro_category_id": ""}
    params = {"check_as": catalog.account}
    for category_id, problem in (("1540", "is not a leaf"), ("999999", "does not exist")):
        response = await catalog.http.put(
            "/category-mappings",
            json=body | {"allegro_category_id": category_id},
            params=params,
        )
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "not_a_leaf_category" and problem in error["message"]
    assert (await catalog.http.get("/category-mappings")).json()["items"] == []
    ok = await catalog.http.put(
        "/category-mappings", json=body | {"allegro_category_id": "1541"}, params=params
    )
    assert ok.status_code == 200 and ok.json()["allegro_category_name"] == "Garnki i patelnie"


async def test_preview_pages_through_the_products(catalog: Catalog) -> None:
    products = seed(120)
    await catalog.import_bytes("jsonl", jsonl_lines(iter(products)))
    body = {"include": {"categories": ["Electronics"]}}
    url = f"/accounts/{catalog.account}/selection/preview"
    first = (await catalog.http.post(url, json=body, params={"limit": 10})).json()
    second = (
        await catalog.http.post(url, json=body, params={"limit": 10, "after": first["next"]})
    ).json()
    skus = [p["sku"] for p in first["items"] + second["items"]]
    expected = sorted(p["sku"] for p in products if p["category"][0] == "Electronics")[:20]
    assert skus == expected
    assert first["counts"] == second["counts"]


async def test_suggestions_for_unmapped_categories_can_be_accepted(catalog: Catalog) -> None:
    products = seed(150)
    await catalog.import_bytes("jsonl", jsonl_lines(iter(products)))
    await catalog.save_selection({"categories": ["Sports & Outdoors"]})
    response = await catalog.http.post(
        f"/accounts/{catalog.account}/category-suggestions/unmapped",
        json={"limit": 3},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    suggested = response.json()["categories"]
    assert len(suggested) == 3
    truth = {" > ".join(p["category"]): p["allegro_category_id"] for p in products}
    for entry in suggested:
        assert entry["suggestions"][0]["allegro_category_id"] == truth[entry["supplier_category"]]
    names = [e["supplier_category"] for e in suggested]
    accepted = await catalog.http.post(
        "/category-mappings/accept-suggestions",
        json={"supplier_categories": [*names, "No > Such > Category"]},
    )
    result = accepted.json()
    assert result["accepted"] == {n: truth[n] for n in names}
    assert result["without_suggestion"] == ["No > Such > Category"]
    sports = {
        p["sku"]: truth[" > ".join(p["category"])]
        for p in products
        if p["category"][0] == "Sports & Outdoors" and " > ".join(p["category"]) in names
    }
    assert result["emitted_items"] == len(sports)
    latest = await catalog.latest()
    assert all(latest[sku]["allegro_category_id"] == cid for sku, cid in sports.items())
    mappings = (await catalog.http.get("/category-mappings")).json()["items"]
    assert {m["source"] for m in mappings} == {"suggested"}
