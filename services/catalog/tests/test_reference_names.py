"""BigBuy's ids become names: taxonomies and manufacturers imported as lists of their own,
resolved for screening, selection and the items sent on; unknown ids flagged, not named by
their number. On the real database and broker."""

from __future__ import annotations

import orjson

from catalog.domain.model import Product
from catalog.domain.names import Names, read_list

from .conftest import Catalog

HEADER = "ID;CATEGORY;NAME;BRAND;PVD;PVP_BIGBUY;EAN13;WEIGHT;STOCK;DATE_UPD;IMAGE1;CONDITION"
ROWS = [
    "K-1;2399,17088;Nóż myśliwski składany;4321;10,00;19,90;5901234123457;0,3;5;2026-11-02 10:00:00;https://i/1.jpg;NEW",
    "K-2;2399,2403;Sekator ogrodowy;4321;8,00;15,90;96385074;0,4;5;2026-11-02 10:00:00;https://i/2.jpg;NEW",
    "K-3;2399,99999;Lampka solarna;777;3,00;6,90;;0,1;5;2026-11-02 10:00:00;;NEW",
]
BODY = ("\ufeff" + "\n".join([HEADER, *ROWS]) + "\n").encode()
TAXONOMIES = [  # BigBuy's API shape
    {"id": 2399, "name": "Home & Garden", "parentTaxonomy": 0, "isoCode": "en", "url": "x"},
    {"id": 2403, "name": "Garden", "parentTaxonomy": 2399, "isoCode": "en"},
    {"id": 17088, "name": "Weapons", "parentTaxonomy": 2399, "isoCode": "en"},
]


def test_unknown_ids_stay_numbers_and_are_flagged() -> None:
    names = Names({"2399": {"pl": "Dom i ogród", "en": "Home & Garden"}}, {"4321": "Fiskars"})
    product = Product(sku="S", category_path="2399 > 17088", brand="4321")
    named = names.resolve(product)
    assert named.category_path == "Home & Garden > 17088" and named.brand == "Fiskars"
    assert names.flags(product) == ["unknown_category"]
    assert names.flags(Product(sku="S", category_path="2399", brand="9")) == ["unknown_brand"]
    # A category or brand that is a name is not an id: nothing to resolve, nothing to flag.
    assert names.flags(Product(sku="S", category_path="Garden", brand="Acme")) == []


def test_bad_list_rows_are_row_errors() -> None:
    rows, errors = read_list(
        [{"id": "1", "name": "A"}, {"id": "x", "name": "B"}, {"id": "2", "name": ""}],
        taxonomies=False,
    )
    assert [r.id for r in rows] == ["1"]
    assert [(e.line, e.field) for e in errors] == [(2, "id"), (3, "name")]


async def test_lists_resolve_names_for_screening_and_items(catalog: Catalog) -> None:
    await catalog.import_bytes("bigbuy", BODY)
    await catalog.save_selection({"categories": ["2399"]})
    before = await catalog.latest()
    # Without the lists the weapons category is only a number: nothing blocks it.
    assert before["K-1"]["listed"] and before["K-1"]["supplier_category"] == "2399 > 17088"
    flags = (await catalog.http.get("/products/K-3")).json()["flags"]
    assert "unknown_category" in flags and "unknown_brand" in flags

    taxonomies = await catalog.http.put(
        "/reference/taxonomies", params={"format": "json"}, content=orjson.dumps(TAXONOMIES)
    )
    assert taxonomies.status_code == 200, taxonomies.text
    assert taxonomies.json()["stored"] == 3
    csv_body = b"id;name;urlImage\n4321;Fiskars;\nabc;Bad;\n"
    manufacturers = await catalog.http.put(
        "/reference/manufacturers", params={"format": "csv"}, content=csv_body
    )
    assert manufacturers.status_code == 200, manufacturers.text
    assert manufacturers.json()["stored"] == 1
    assert manufacturers.json()["errors"][0]["line"] == 3

    after = await catalog.latest()
    # The category rule "Weapons" (seeded) now matches the resolved name: withdrawn.
    assert not after["K-1"]["listed"]
    assert after["K-2"]["supplier_category"] == "Home & Garden > Garden"
    assert after["K-2"]["brand"] == "Fiskars"
    k3 = (await catalog.http.get("/products/K-3")).json()
    assert k3["supplier_category"] == "2399 > 99999"  # the ids are kept
    assert k3["supplier_category_name"] == "Home & Garden > 99999"
    assert "unknown_category" in k3["flags"] and "unknown_brand" in k3["flags"]
    k2 = (await catalog.http.get("/products/K-2")).json()
    assert k2["brand"] == "4321" and k2["brand_name"] == "Fiskars" and k2["flags"] == []

    # A renamed category is re-resolved: the item goes out again with the new name.
    renamed = [{"id": 2403, "name": "Garden tools", "parentTaxonomy": 2399}]
    await catalog.http.put("/reference/taxonomies", content=orjson.dumps(renamed))
    assert (await catalog.latest())["K-2"]["supplier_category"] == "Home & Garden > Garden tools"
    # Polish names merge beside the English ones (English is preferred for rules).
    polish = [{"id": 2403, "name": "Ogród", "parentTaxonomy": 2399}]
    await catalog.http.put(
        "/reference/taxonomies", params={"language": "pl"}, content=orjson.dumps(polish)
    )
    assert (await catalog.latest())["K-2"]["supplier_category"] == "Home & Garden > Garden tools"

    bad = await catalog.http.put("/reference/taxonomies", content=b"{not json")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_file"
    counts = (await catalog.http.get("/reference")).json()
    assert counts == {"taxonomies": 3, "manufacturers": 1}


async def test_suggestions_search_allegro_for_the_name_not_the_id(catalog: Catalog) -> None:
    row = "S-1;2399,2403;Qwerty Zxcvb;4321;8,00;15,90;;0,4;5;2026-11-02 10:00:00;;NEW"
    await catalog.import_bytes("bigbuy", ("\ufeff" + HEADER + "\n" + row + "\n").encode())
    path = "2399 > 2403"

    async def suggest() -> list[str]:
        response = await catalog.http.post(
            f"/accounts/{catalog.account}/category-suggestions",
            json={"supplier_category": path, "refresh": True},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        return [s["allegro_category_id"] for s in response.json()["suggestions"]]

    assert await suggest() == []  # "2403" is never sent to Allegro as a word
    polish = [
        {"id": 2399, "name": "Dom i ogród", "parentTaxonomy": 0},
        {"id": 2403, "name": "Narzędzia ogrodowe", "parentTaxonomy": 2399},
    ]
    stored = await catalog.http.put(
        "/reference/taxonomies", params={"language": "pl"}, content=orjson.dumps(polish)
    )
    assert stored.status_code == 200
    assert "1521" in await suggest()  # Allegro's "Narzędzia ogrodowe", found by the name
