"""BigBuy's reference lists from the upstream exchange: the connector's
SupplierReferenceListsChanged, at BigBuy's real sizes, on the real broker and database."""

from __future__ import annotations

import uuid
from typing import Any

from catalog.consumer import SUPPLIER_REFERENCE_LISTS
from mci_testing.infra import wait_until
from shared.events import SupplierReferenceListsChanged

from .conftest import Catalog, publish
from .test_reference_names import BODY

# BigBuy's sizes: thousands of taxonomies, tens of thousands of manufacturers.
TAXONOMY_COUNT = 5_000
MANUFACTURER_COUNT = 30_000


def lists(renamed: dict[int, str] | None = None) -> SupplierReferenceListsChanged:
    """The connector's whole lists: the ids the test file uses among thousands of others."""
    named = {2399: "Home & Garden", 2403: "Garden", 17088: "Weapons", 99999: "Solar lamps"}
    taxonomies: list[dict[str, Any]] = [
        {"id": i, "name": named.get(i, f"Category {i}"), "parentTaxonomy": 0 if i < 2400 else 2399}
        for i in sorted({*range(20_000, 20_000 + TAXONOMY_COUNT - len(named)), *named})
    ]
    brands = {4321: "Fiskars", 777: "Solaris", **(renamed or {})}
    manufacturers: list[dict[str, Any]] = [
        {"id": i, "name": brands.get(i, f"Manufacturer {i}")}
        for i in sorted({*range(100_000, 100_000 + MANUFACTURER_COUNT - len(brands)), *brands})
    ]
    # One bad row in each list is skipped; the rest applies.
    taxonomies.append({"id": "x1", "name": "Not an id", "parentTaxonomy": 0})
    manufacturers.append({"id": 5, "name": ""})
    return SupplierReferenceListsChanged(
        language="en", taxonomies=taxonomies, manufacturers=manufacturers
    )


async def consumed(catalog: Catalog, count: int) -> None:
    async def done() -> bool:
        found = await catalog.scalar(
            "SELECT count(*) FROM inbox WHERE consumer = :c", c=SUPPLIER_REFERENCE_LISTS.name
        )
        return bool(found >= count)

    await wait_until(done, within=120)


async def test_lists_from_the_connector_name_flag_and_screen(
    catalog: Catalog, amqp_url: str
) -> None:
    imported = await catalog.import_bytes("bigbuy", BODY)
    assert imported.status_code == 200, imported.text
    await catalog.save_selection({"categories": ["2399"]})
    before = await catalog.latest()
    assert before["K-1"]["listed"] and before["K-1"]["supplier_category"] == "2399 > 17088"
    k3 = (await catalog.http.get("/products/K-3")).json()
    assert {"unknown_category", "unknown_brand"} <= set(k3["flags"])

    event = lists()
    message_id = await publish(amqp_url, event)
    await consumed(catalog, 1)

    counts = (await catalog.http.get("/reference")).json()
    assert counts == {"taxonomies": TAXONOMY_COUNT, "manufacturers": MANUFACTURER_COUNT}
    after = await catalog.latest()
    # Screening sees the resolved name: the seeded "Weapons" category rule withdraws K-1.
    assert after["K-1"]["listed"] is False
    assert after["K-2"]["listed"] is True
    assert after["K-2"]["supplier_category"] == "Home & Garden > Garden"
    assert after["K-2"]["brand"] == "Fiskars"
    not_listable = (await catalog.http.get(f"/accounts/{catalog.account}/not-listable")).json()
    k1 = next(p for p in not_listable["items"] if p["sku"] == "K-1")
    assert "prohibited" in k1["reasons"]
    k3 = (await catalog.http.get("/products/K-3")).json()
    assert k3["supplier_category"] == "2399 > 99999"  # the ids are kept
    assert k3["supplier_category_name"] == "Home & Garden > Solar lamps"
    assert k3["brand_name"] == "Solaris"
    assert "unknown_category" not in k3["flags"] and "unknown_brand" not in k3["flags"]
    items_after_first = len(await catalog.items())

    # The same message again (a redelivery) is not applied twice; a later list renaming one
    # manufacturer re-sends only the products of that manufacturer.
    await publish(amqp_url, event, message_id)
    await publish(amqp_url, lists(renamed={4321: "Fiskars Garden"}))
    await consumed(catalog, 2)
    items = await catalog.items()
    resent = items[items_after_first:]
    assert {i["sku"] for i in resent} == {"K-2"}
    assert resent[0]["brand"] == "Fiskars Garden"
    assert (
        await catalog.scalar(
            "SELECT count(*) FROM inbox WHERE consumer = :c", c=SUPPLIER_REFERENCE_LISTS.name
        )
        == 2
    )


async def test_unchanged_lists_change_nothing(catalog: Catalog, amqp_url: str) -> None:
    await catalog.import_bytes("bigbuy", BODY)
    await catalog.save_selection({"categories": ["2399"]})
    await publish(amqp_url, lists())
    await consumed(catalog, 1)
    emitted = len(await catalog.items())
    # The connector sends whole lists; the same lists under a new message change no name.
    await publish(amqp_url, lists(), uuid.uuid4())
    await consumed(catalog, 2)
    assert len(await catalog.items()) == emitted
