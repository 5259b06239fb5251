"""A BigBuy product file as BigBuy ships it, through the import API, on the real database and
broker: the cases issue 11 names (EAN-8 and GTIN-14, a bad check digit, weight 0, zero dates,
`1.234,56`, refurbished items, long titles), the operator's title per SKU, and the operator's
search by SKU, EAN or title."""

from __future__ import annotations

from decimal import Decimal

from .conftest import Catalog

HEADER = "ID;CATEGORY;NAME;BRAND;PVD;PVP_BIGBUY;IVA;EAN13;WEIGHT;STOCK;DATE_UPD;IMAGE1;CONDITION"
LONG = (
    "Krzesło biurowe ergonomiczne z regulacją wysokości i podłokietnikami, siatkowe oparcie, czarne"
)
ROWS = [
    # sku; category; name; brand; pvd; pvp; iva; ean; weight; stock; date; image; condition
    "S-EAN8;Home;Mini lampka;Acme;5,10;9,90;21;96385074;0,2;4;2026-11-02 10:00:00;https://i/1.jpg;NEW",
    "S-GTIN14;Home;Karton kubków;Acme;24,00;39,90;21;15901234123454;3;1;0000-00-00 00:00:00;;NEW",
    "S-BADEAN;Home;Kubek;Acme;2,00;4,90;21;5901234123458;0,3;9;2026-11-02 10:00:00;;NEW",
    "S-NOWEIGHT;Home;Dywan;Acme;1.234,56;1.999,00;21;5901234123457;0;2;2026-11-02 10:00:00;;NEW",
    "S-REFURB;Electronics;Laptop odnowiony;Acme;300,00;499,00;21;;2,1;1;2026-11-02 10:00:00;;"
    "REFURBISHED_B",
    f"S-LONG;Home;{LONG};Acme;50,00;99,00;21;5901234123457;7,5;3;2026-11-02 10:00:00;https://i/2.jpg;NEW",
]
BODY = ("\ufeff" + "\n".join([HEADER, *ROWS]) + "\n").encode()


async def test_a_realistic_bigbuy_file_keeps_every_product_and_flags_what_it_dropped(
    catalog: Catalog,
) -> None:
    report = (await catalog.import_bytes("bigbuy", BODY)).json()
    assert report["valid"] == 6 and report["invalid"] == 0, report

    async def product(sku: str) -> dict[str, object]:
        response = await catalog.http.get(f"/products/{sku}")
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    assert (await product("S-EAN8"))["ean"] == "96385074"
    gtin14 = await product("S-GTIN14")
    assert gtin14["ean"] == "15901234123454"
    assert gtin14["updated_at"] is not None  # the zero date read as "no date": the import's
    bad = await product("S-BADEAN")
    assert bad["ean"] is None and bad["flags"] == ["invalid_ean"]
    assert bad["received"] == {"ean": "5901234123458"}
    heavy = await product("S-NOWEIGHT")
    assert heavy["weight_kg"] is None and heavy["flags"] == ["needs_weight"]
    assert heavy["cost"] == {"amount": "1234.56", "currency": "EUR"}
    assert Decimal(heavy["rrp"]["amount"]) == Decimal("1999")  # type: ignore[index]
    refurbished = await product("S-REFURB")
    assert refurbished["attributes"]["11323"] == "11323_2"  # type: ignore[index]
    assert refurbished["attributes"]["condition"] == "REFURBISHED_B"  # type: ignore[index]
    long = await product("S-LONG")
    assert long["title"] == "Krzesło biurowe ergonomiczne z regulacją wysokości i podłokietnikami"
    assert long["flags"] == ["title_shortened"]
    assert long["received"] == {"title": LONG}


async def test_the_operator_sets_a_title_per_sku(catalog: Catalog) -> None:
    await catalog.import_bytes("bigbuy", BODY)
    await catalog.save_selection({"skus": ["S-LONG"]})
    assert (await catalog.latest())["S-LONG"]["title"].startswith("Krzesło biurowe")

    title = "Krzesło biurowe ergonomiczne, siatkowe oparcie, czarne"
    response = await catalog.http.put("/products/S-LONG/title", json={"title": title})
    assert response.status_code == 200, response.text
    assert response.json()["emitted_items"] == 1
    assert (await catalog.latest())["S-LONG"]["title"] == title
    assert (await catalog.http.get("/products/S-LONG")).json()["operator_title"] == title
    # A re-import of the supplier's title does not undo it.
    await catalog.import_bytes("bigbuy", BODY.replace(b"czarne", b"czarne XL"))
    assert (await catalog.latest())["S-LONG"]["title"] == title

    too_long = await catalog.http.put("/products/S-LONG/title", json={"title": "x" * 76})
    assert too_long.status_code == 422 and "error" in too_long.json()
    blank = await catalog.http.put("/products/S-LONG/title", json={"title": "   "})
    assert blank.status_code == 422
    unknown = await catalog.http.put("/products/NOPE/title", json={"title": "A title"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"

    removed = await catalog.http.delete("/products/S-LONG/title")
    assert removed.status_code == 200 and removed.json()["emitted_items"] == 1
    assert (await catalog.latest())["S-LONG"]["title"].startswith("Krzesło biurowe ergonomiczne z")


async def test_the_operator_finds_products_by_sku_ean_or_words_of_the_title(
    catalog: Catalog,
) -> None:
    await catalog.import_bytes("bigbuy", BODY)
    retitled = await catalog.http.put(
        "/products/S-REFURB/title", json={"title": "Notebook odnowiony 14 cali"}
    )
    assert retitled.status_code == 200, retitled.text

    async def found(q: str, **params: str | int) -> list[str]:
        answer = await catalog.http.get("/products", params={"q": q, **params})
        assert answer.status_code == 200, answer.text
        return [p["sku"] for p in answer.json()["items"]]

    assert await found("S-EAN8") == ["S-EAN8"]
    assert await found("96385074") == ["S-EAN8"]
    # Two products carry this EAN; both, in SKU order, a page at a time.
    assert await found("5901234123457") == ["S-LONG", "S-NOWEIGHT"]
    first = (await catalog.http.get("/products", params={"q": "5901234123457", "limit": 1})).json()
    assert [p["sku"] for p in first["items"]] == ["S-LONG"]
    assert await found("5901234123457", after=first["next"]) == ["S-NOWEIGHT"]
    # Words of the supplier's title, any case; the operator's title too.
    assert await found("kubk") == ["S-GTIN14"]
    assert await found("KUBEK") == ["S-BADEAN"]
    assert await found("  biurowe   ergonomiczne ") == ["S-LONG"]
    assert await found("notebook") == ["S-REFURB"]
    # LIKE's wildcards are read as the characters they are.
    assert await found("_") == []
    assert await found("%") == []
    assert await found("S-EAN") == []  # a SKU is matched whole

    blank = await catalog.http.get("/products", params={"q": "   "})
    assert blank.status_code == 422 and blank.json()["error"]["code"] == "invalid_search"
    mixed = await catalog.http.get("/products", params={"q": "kubek", "category": "Home"})
    assert mixed.status_code == 422 and mixed.json()["error"]["code"] == "invalid_search"
