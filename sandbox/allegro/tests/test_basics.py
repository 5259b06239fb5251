"""The transport rules every Allegro resource shares, and the read-only resources."""

from __future__ import annotations

import httpx
import pytest

from allegro_emulator.seed import CatalogueSpec, ean_for_row

from .conftest import MEDIA, Api, Server


def test_me_answers_the_seller(api: Api) -> None:
    response = api.get("/me")
    assert response.status_code == 200
    assert response.json()["baseMarketplace"] == {"id": "allegro-pl"}
    assert response.headers["content-type"] == MEDIA
    assert response.headers["trace-id"]


def test_wrong_accept_gives_406(api: Api) -> None:
    response = api.get("/me", headers={"Accept": "application/json"}, validate="response")
    assert response.status_code == 406
    assert response.json()["errors"][0]["code"] == "NotAcceptableException"


def test_wrong_content_type_gives_415(api: Api) -> None:
    response = httpx.post(
        api.base_url + "/sale/shipping-rates",
        headers={
            "Accept": MEDIA,
            "Content-Type": "application/json",
            "Authorization": f"Bearer {api.token}",
        },
        content=b"{}",
    )
    assert response.status_code == 415


def test_missing_token_gives_401_auth_error(api: Api) -> None:
    response = api.with_token(None).get("/me")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_offer_events_401_is_plain_json(api: Api) -> None:
    # The spec gives this resource's 401 as application/json, unlike the others.
    response = api.with_token("nope").get("/sale/offer-events")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"


def test_marketplaces_list_the_four(api: Api) -> None:
    body = api.get("/marketplaces").json()
    currencies = {m["id"]: m["currencies"]["base"]["code"] for m in body["marketplaces"]}
    assert currencies == {
        "allegro-pl": "PLN",
        "allegro-cz": "CZK",
        "allegro-sk": "EUR",
        "allegro-hu": "HUF",
    }


@pytest.mark.usefixtures("allegro_defaults")
def test_category_tree_and_parameters(api: Api) -> None:
    roots = api.get("/sale/categories").json()["categories"]
    assert {c["name"] for c in roots} >= {"Dom i Ogród", "Elektronika", "Sport i turystyka"}
    children = api.get("/sale/categories", params={"parent.id": "4230"}).json()["categories"]
    assert any(c["leaf"] for c in children)
    assert api.get("/sale/categories/4231").json()["leaf"] is True
    params = api.get("/sale/categories/4231/parameters").json()["parameters"]
    assert any(p["id"] == "11323" and p["required"] for p in params)
    assert api.get("/sale/categories/4231/product-parameters").status_code == 200
    assert api.get("/sale/categories/nope").status_code == 404


def test_matching_categories(api: Api) -> None:
    found = api.get("/sale/matching-categories", params={"name": "Laptop Dell 15"}).json()
    assert found["matchingCategories"][0]["id"] == "4231"


def test_products_by_gtin_found_missing_and_ambiguous(api: Api, server: Server) -> None:
    spec = server.emu.catalogue
    outcomes: dict[int, str] = {}
    from allegro_emulator.seed import allegro_presence

    for row in range(200):
        outcomes.setdefault(allegro_presence(spec, row), ean_for_row(spec, row))
    assert set(outcomes) == {0, 1, 2}
    for count, ean in outcomes.items():
        body = api.get("/sale/products", params={"phrase": ean, "mode": "GTIN"}).json()
        assert len(body["products"]) == count
    product = api.get("/sale/products", params={"phrase": outcomes[1], "mode": "GTIN"}).json()[
        "products"
    ][0]
    full = api.get(f"/sale/products/{product['id']}").json()
    assert any(p["id"] == "225693" and p["values"] == [outcomes[1]] for p in full["parameters"])
    assert api.get("/sale/products/00000000-0000-4000-a000-000000000000").status_code == 404


def test_delivery_methods_and_carriers(api: Api) -> None:
    methods = api.get("/sale/delivery-methods").json()["deliveryMethods"]
    assert {m["destinationCountry"] for m in methods} == {"PL", "CZ", "SK", "HU"}
    carriers = api.get("/order/carriers").json()["carriers"]
    assert {"id": "INPOST", "name": "InPost"} in carriers


def test_seed_catalogue_is_deterministic() -> None:
    spec = CatalogueSpec(seed=7, size=50)
    from allegro_emulator.seed import is_valid_ean13, supplier_catalogue

    first, second = list(supplier_catalogue(spec)), list(supplier_catalogue(spec))
    assert first == second and len(first) == 50
    assert all(is_valid_ean13(p["ean"]) for p in first)
    assert len({p["ean"] for p in first}) == 50
    assert all(0.05 <= p["weight_kg"] <= 40 for p in first)


def test_seed_is_light_to_import_and_has_its_own_taxonomy() -> None:
    import json
    import subprocess
    import sys

    code = "import sys, allegro_emulator.seed; print('fastapi' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    lines = subprocess.run(
        [sys.executable, "-m", "allegro_emulator.seed", "--size", "3"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 3 and rows[0]["category"][0] in (
        "Home & Garden",
        "Sports & Outdoors",
        "Electronics",
    )


def test_products_added_to_the_catalogue_are_found_by_gtin(api: Api, server: Server) -> None:
    """A supplier whose EANs are not the seeded catalogue's (BigBuy's) gets Allegro products
    for them through the admin API, in the category given, idempotently."""
    ean = "8400000000017"
    assert (
        api.get("/sale/products", params={"phrase": ean, "mode": "GTIN"}).json()["products"] == []
    )
    from allegro_emulator.seed import LEAF_CATEGORIES

    leaf = LEAF_CATEGORIES[3]
    body = {"products": [{"ean": ean, "name": "Kubek termiczny 450 ml", "categoryId": leaf}]}
    added = server.admin.post("/catalogue/products", json=body)
    assert added.status_code == 201 and added.json()["added"] == 1
    again = server.admin.post("/catalogue/products", json=body)
    assert again.json()["added"] == 0
    [product] = api.get("/sale/products", params={"phrase": ean, "mode": "GTIN"}).json()["products"]
    assert product["category"]["id"] == leaf
    full = api.get(f"/sale/products/{product['id']}").json()
    assert any(p["id"] == "225693" and p["values"] == [ean] for p in full["parameters"])
    refused = server.admin.post("/catalogue/products", json={"products": [{"ean": ean}]})
    assert refused.status_code == 422
