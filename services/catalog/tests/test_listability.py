"""Listable means Allegro would take it, per account: every reason that blocks publication at
once, in plain words, and counted by reason. On the real database and broker."""

from __future__ import annotations

import orjson

from .conftest import Catalog

CATEGORY = "Home & Garden > Garden > Garden Tools"


def record(sku: str, **over: object) -> bytes:
    base: dict[str, object] = {
        "sku": sku,
        "ean": "5901234123457",
        "title": "Sekator Fiskars Pro",
        "images": ["https://img.example/1.jpg"],
        "category_path": CATEGORY,
        "brand": "Fiskars",
        "weight_kg": "0.4",
        "cost": {"amount": "20", "currency": "PLN"},
        "stock": 5,
        # The responsible producer's data (GPSR), as the BigBuy connector sends it.
        "attributes": {
            "gpsr_name": "Fiskars Finland Oy Ab",
            "gpsr_address": "Hämeenkatu 7, 10900 Hanko, Finland",
            "gpsr_contact": "product.safety@fiskars.com",
        },
    }
    return orjson.dumps(base | over) + b"\n"


async def test_every_blocking_reason_at_once_and_counted(catalog: Catalog) -> None:
    lines = [
        record("OK-1"),
        record("NO-IMG", images=[]),
        record("NO-EAN", ean=""),
        record("NO-WEIGHT", weight_kg="0"),
        record("BARE", images=[], ean="", weight_kg=""),
        record("KASTET", title="Kastet stalowy", images=[]),
        record("NO-GPSR", attributes={"condition": "NEW"}),
    ]
    await catalog.import_bytes("jsonl", lines)
    # This account lists only what Allegro would take: the mapping is required again.
    policy = await catalog.http.put(f"/accounts/{catalog.account}/listing", json={})
    assert policy.status_code == 200 and policy.json()["not_blocking"] == []
    await catalog.save_selection({"brands": ["Fiskars"]})
    assert not any(i["listed"] for i in (await catalog.latest()).values())  # nothing mapped

    report = (await catalog.http.get(f"/accounts/{catalog.account}/not-listable")).json()
    reasons = {p["sku"]: p["reasons"] for p in report["items"]}
    assert reasons["OK-1"] == ["no_category"]
    assert reasons["BARE"] == ["no_image", "no_ean", "no_weight", "no_category"]
    assert reasons["KASTET"] == ["prohibited", "no_image", "no_category"]
    assert reasons["NO-GPSR"] == ["missing_gpsr", "no_category"]
    bare = next(p for p in report["items"] if p["sku"] == "BARE")
    assert bare["in_words"][0].startswith("no image")
    assert report["by_reason"] == {
        "no_category": 7,
        "no_image": 3,
        "no_ean": 2,
        "no_weight": 2,
        "missing_gpsr": 1,
        "prohibited": 1,
    }

    mapped = await catalog.http.put(
        "/category-mappings", json={"supplier_category": CATEGORY, "allegro_category_id": "1521"}
    )
    assert mapped.status_code == 200, mapped.text
    latest = await catalog.latest()
    assert latest["OK-1"]["listed"] and latest["OK-1"]["allegro_category_id"] == "1521"
    assert "NO-IMG" not in latest or not latest["NO-IMG"]["listed"]

    preview = await catalog.http.post(
        f"/accounts/{catalog.account}/selection/preview",
        json={"include": {"brands": ["Fiskars"]}},
    )
    counts = preview.json()
    assert counts["counts"]["to_list"] == 1
    assert counts["cap"] == {"product_cap": 45_000, "to_list": 1, "over_cap": 0}  # the default
    assert counts["not_listable_by_reason"] == {
        "prohibited": 1,
        "no_image": 3,
        "no_ean": 2,
        "no_weight": 2,
        "missing_gpsr": 1,
    }

    # An account may waive what Allegro lets it (never screening): NO-EAN is listed then.
    waived = await catalog.http.put(
        f"/accounts/{catalog.account}/listing", json={"not_blocking": ["no_ean"]}
    )
    assert waived.json()["emitted_items"] == 1
    assert (await catalog.latest())["NO-EAN"]["listed"]
    bad = await catalog.http.put(
        f"/accounts/{catalog.account}/listing", json={"not_blocking": ["prohibited"]}
    )
    assert bad.status_code == 422 and "error" in bad.json()


async def test_the_preview_shows_the_count_against_the_account_s_cap(catalog: Catalog) -> None:
    await catalog.import_bytes("jsonl", [record(f"S-{i}") for i in range(5)])
    capped = await catalog.http.put(
        f"/accounts/{catalog.account}/listing",
        json={"not_blocking": ["no_category"], "product_cap": 3},
    )
    assert capped.status_code == 200 and capped.json()["product_cap"] == 3
    got = (await catalog.http.get(f"/accounts/{catalog.account}/listing")).json()
    assert got["product_cap"] == 3 and got["not_blocking"] == ["no_category"]
    preview = await catalog.http.post(
        f"/accounts/{catalog.account}/selection/preview",
        json={"include": {"brands": ["Fiskars"]}},
    )
    assert preview.json()["cap"] == {"product_cap": 3, "to_list": 5, "over_cap": 2}
    zero = await catalog.http.put(f"/accounts/{catalog.account}/listing", json={"product_cap": 0})
    assert zero.status_code == 422


async def test_products_past_the_cap_are_not_listed_chosen_by_the_account_s_order(
    catalog: Catalog,
) -> None:
    # Margins (RRP - cost) 50, 40, 30, 20, 10; stock the other way round.
    lines = [
        record(f"S-{i}", rrp={"amount": str(70 - 10 * i), "currency": "PLN"}, stock=i + 1)
        for i in range(5)
    ]
    await catalog.import_bytes("jsonl", lines)
    listing = f"/accounts/{catalog.account}/listing"
    policy = {"not_blocking": ["no_category"], "product_cap": 3, "cap_order": "margin"}
    assert (await catalog.http.put(listing, json=policy)).status_code == 200
    await catalog.save_selection({"brands": ["Fiskars"]})

    async def listed() -> set[str]:
        return {s for s, item in (await catalog.latest()).items() if item["listed"]}

    assert await listed() == {"S-0", "S-1", "S-2"}  # the highest margins
    report = (await catalog.http.get(f"/accounts/{catalog.account}/not-listable")).json()
    assert {p["sku"]: p["reasons"] for p in report["items"]} == {
        "S-3": ["over_cap"],
        "S-4": ["over_cap"],
    }
    assert report["by_reason"] == {"over_cap": 2}

    changed = await catalog.http.put(listing, json=policy | {"cap_order": "stock"})
    assert changed.json()["cap_order"] == "stock" and changed.json()["emitted_items"] == 4
    assert await listed() == {"S-2", "S-3", "S-4"}  # the most stock
    priority = policy | {"cap_order": "priority", "priority": ["S-4", "S-0", "S-1"]}
    await catalog.http.put(listing, json=priority)
    assert await listed() == {"S-4", "S-0", "S-1"}

    # A product leaving the selection frees its place for the next in order.
    await catalog.save_selection({"brands": ["Fiskars"]}, exclude={"skus": ["S-0"]})
    assert await listed() == {"S-4", "S-1", "S-2"}
    # A new product of a higher rank takes the place of the lowest.
    await catalog.http.put(listing, json=policy)
    await catalog.import_bytes("jsonl", [record("S-9", rrp={"amount": "500", "currency": "PLN"})])
    assert await listed() == {"S-9", "S-1", "S-2"}
    # A larger cap lists them all again.
    await catalog.http.put(listing, json=policy | {"product_cap": 10})
    assert await listed() == {"S-9", "S-1", "S-2", "S-3", "S-4"}
