"""GPSR: a new product without its responsible producer's data (name, postal address,
contact: BigBuy's product compliance data) is not listable, says so in plain words, is
counted in the coverage report, and is listed once the data arrives. On the real database,
broker and Allegro emulator."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from catalog.domain.gpsr import missing_gpsr
from catalog.domain.items import REASONS
from catalog.domain.model import Product
from mci_testing.infra import wait_until
from shared.events import SupplierProduct, SupplierProductsChanged

from .conftest import Catalog, publish

CATEGORY = "Home & Garden > Garden > Garden Tools"
# What the BigBuy connector sends from `productcompliance/{id}` (the first GPSR entry).
COMPLIANCE = {
    "gpsr_name": "Fiskars Finland Oy Ab",
    "gpsr_country": "FI",
    "gpsr_address": "Hämeenkatu 7, 10900 Hanko, Finland",
    "gpsr_contact": "product.safety@fiskars.com",
    "gpsr_website": "https://www.fiskars.com",
    "gpsr_warnings": "Keep out of reach of children. Sharp blade.",
}
BIGBUY = {"bigbuy_id": "90001", "condition": "NEW", "11323": "11323_1", "vat_rate": "21"}


def record(sku: str, attributes: dict[str, str]) -> dict[str, Any]:
    return {
        "sku": sku,
        "ean": "5901234123457",
        "title": f"Sekator Fiskars {sku}",
        "images": ["https://cdnbigbuy.com/images/sekator.jpg"],
        "category_path": CATEGORY,
        "brand": "Fiskars",
        "weight_kg": "0.4",
        "cost": {"amount": "20.00", "currency": "EUR"},
        "rrp": {"amount": "39.90", "currency": "EUR"},
        "stock": 5,
        "attributes": attributes,
        "updated_at": "2026-11-20T06:00:00+00:00",
    }


def test_what_gpsr_data_a_product_needs() -> None:
    full = Product(sku="A", attributes={**BIGBUY, **COMPLIANCE})
    assert missing_gpsr(full) == []
    assert missing_gpsr(Product(sku="B", attributes=BIGBUY)) == ["name", "address", "contact"]
    no_contact = {**BIGBUY, **COMPLIANCE, "gpsr_contact": "  "}
    assert missing_gpsr(Product(sku="C", attributes=no_contact)) == ["contact"]
    # A used product may be declared as marketed before the obligation: not required.
    used = {**BIGBUY, "condition": "USED", "11323": "11323_2"}
    assert missing_gpsr(Product(sku="D", attributes=used)) == []
    # In plain words: what is missing and how to fix it.
    assert "postal address" in REASONS["missing_gpsr"] and "gpsr_contact" in REASONS["missing_gpsr"]


async def test_missing_gpsr_blocks_until_the_compliance_data_arrives(
    catalog: Catalog, amqp_url: str
) -> None:
    rows = [
        record("GP-FULL", {**BIGBUY, **COMPLIANCE}),
        record("GP-NONE", BIGBUY),  # BigBuy answered 404 for its compliance data
        record(
            "GP-NOCONTACT",
            {**BIGBUY, **{k: v for k, v in COMPLIANCE.items() if k != "gpsr_contact"}},
        ),
        record("GP-USED", {**BIGBUY, "condition": "USED", "11323": "11323_2"}),
    ]
    await catalog.import_bytes("jsonl", b"".join(orjson.dumps(r) + b"\n" for r in rows))
    # This account lists only what Allegro would take as it is: GPSR data required again.
    listing = f"/accounts/{catalog.account}/listing"
    policy = await catalog.http.put(listing, json={"not_blocking": ["no_category"]})
    assert policy.status_code == 200, policy.text
    reasons = (await catalog.http.get(listing)).json()["reasons"]
    assert reasons["missing_gpsr"] == REASONS["missing_gpsr"]
    await catalog.save_selection({"brands": ["Fiskars"]})
    latest = await catalog.latest()
    assert {s for s, i in latest.items() if i["listed"]} == {"GP-FULL", "GP-USED"}
    # The data goes on with the item (for Allegro's responsible producer).
    assert latest["GP-FULL"]["attributes"]["gpsr_address"] == COMPLIANCE["gpsr_address"]

    report = (await catalog.http.get(f"/accounts/{catalog.account}/not-listable")).json()
    reasons = {p["sku"]: p for p in report["items"]}
    assert set(reasons) == {"GP-NONE", "GP-NOCONTACT"}
    assert reasons["GP-NONE"]["reasons"] == ["missing_gpsr"]
    assert reasons["GP-NONE"]["in_words"] == [REASONS["missing_gpsr"]]
    assert report["by_reason"] == {"missing_gpsr": 2}
    product = (await catalog.http.get("/products/GP-NOCONTACT")).json()
    assert product["gpsr_missing"] == ["contact"]
    assert product["gpsr"]["name"] == "Fiskars Finland Oy Ab"
    full = (await catalog.http.get("/products/GP-FULL")).json()
    assert full["gpsr_missing"] == [] and full["gpsr"]["country"] == "FI"
    preview = await catalog.http.post(
        f"/accounts/{catalog.account}/selection/preview", json={"include": {"brands": ["Fiskars"]}}
    )
    assert preview.json()["not_listable_by_reason"] == {"missing_gpsr": 2}

    # The coverage report counts them.
    started = await catalog.http.post(f"/accounts/{catalog.account}/coverage")
    assert started.status_code == 202, started.text
    report_id = started.json()["report_id"]

    async def done() -> bool:
        found = (await catalog.http.get(f"/coverage/{report_id}")).json()
        assert found["status"] in ("running", "done"), found
        return bool(found["status"] == "done")

    await wait_until(done, within=120, interval=0.3)
    counts = (await catalog.http.get(f"/coverage/{report_id}")).json()["counts"]
    assert counts["selected"] == 4 and counts["missing_gpsr"] == 2 and counts["listable"] == 2
    assert (await catalog.http.get(f"/coverage/{report_id}")).json()["by_category"][CATEGORY][
        "missing_gpsr"
    ] == 2

    # The connector reads the compliance data later and sends the attributes at once.
    later = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    arrived = SupplierProduct(sku="GP-NONE", attributes={**BIGBUY, **COMPLIANCE}, updated_at=later)
    await publish(amqp_url, SupplierProductsChanged(products=[arrived]))

    async def listed() -> bool:
        return bool((await catalog.latest()).get("GP-NONE", {}).get("listed"))

    await wait_until(listed, within=60)
    assert (await catalog.latest())["GP-NONE"]["attributes"]["gpsr_contact"] == (
        COMPLIANCE["gpsr_contact"]
    )

    # A shop that declares its own responsible producer on Allegro may waive the reason.
    waived = await catalog.http.put(listing, json={"not_blocking": ["no_category", "missing_gpsr"]})
    assert waived.status_code == 200 and waived.json()["emitted_items"] == 1
    assert (await catalog.latest())["GP-NOCONTACT"]["listed"]
