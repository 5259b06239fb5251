"""Category parameters: each leaf its own set, and offer and product writes checked against it."""

from __future__ import annotations

from typing import Any

import pytest

from allegro_emulator.seed import LEAF_CATEGORIES, allegro_products_for_gtin

from .conftest import Api, Server
from .helpers import SAFETY, create_offer, offer_body, settled


def _params(api: Api, category: str) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = api.get(f"/sale/categories/{category}/parameters").json()[
        "parameters"
    ]
    return params


def _body_and_category(server: Server, **kw: Any) -> tuple[dict[str, Any], str]:
    body = offer_body(server, **kw)
    ean = body["productSet"][0]["product"]["id"]
    category: str = allegro_products_for_gtin(server.emu.catalogue, ean)[0]["category"]["id"]
    return body, category


def _first(params: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    return next(p for p in params if all(p.get(k) == v for k, v in match.items()))


def test_each_leaf_has_its_own_parameters_valid_by_the_spec(api: Api, schemas: Any) -> None:
    sets = set()
    for leaf in LEAF_CATEGORIES:
        params = _params(api, leaf)
        for param in params:
            schemas.validate_discriminated("CategoryParameter", param)
        assert {"integer", "float", "string", "dictionary"} >= {p["type"] for p in params}
        assert _first(params, id="11323")["required"] is True
        assert any(p["requiredForProduct"] for p in params if p["id"] not in ("225693", "248811"))
        sets.add(tuple(p["id"] for p in params))
        product = api.get(f"/sale/categories/{leaf}/product-parameters").json()["parameters"]
        for param in product:
            schemas.validate_discriminated("CategoryProductParameter", param)
        by_id = {p["id"]: p for p in params}
        assert {p["id"] for p in product} == {
            p["id"] for p in params if p["options"]["describesProduct"]
        }
        assert all(p["required"] == by_id[p["id"]]["requiredForProduct"] for p in product)
    assert len(sets) > 5  # leaves differ
    assert _params(api, "4230") == []  # not a leaf
    every = [p for leaf in LEAF_CATEGORIES for p in _params(api, leaf)]
    assert {p["type"] for p in every} == {"integer", "float", "string", "dictionary"}
    assert any(p.get("requiredIf") and p.get("displayedIf") for p in every)
    assert any((p.get("restrictions") or {}).get("range") for p in every)
    assert any(p["unit"] for p in every if p["type"] in ("integer", "float"))


def _refused(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = api.call("POST", "/sale/product-offers", json_body=body, validate="response")
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["errors"][0]
    assert error["userMessage"] and error["path"].startswith(("parameters", "productSet"))
    return error


def test_unknown_parameter_id_is_refused(api: Api, server: Server) -> None:
    body, category = _body_and_category(server)
    body["parameters"].append({"id": "999999", "values": ["x"]})
    error = _refused(api, body)
    assert error["code"] == "ParameterIdNotFoundException"
    assert error["metadata"] == {"categoryId": category, "parameterId": "999999"}
    assert error["path"] == "parameters[1]"


def test_value_outside_the_dictionary_is_refused(api: Api, server: Server) -> None:
    body, _ = _body_and_category(server)
    body["parameters"] = [{"id": "11323", "valuesIds": ["11323_9"]}]
    error = _refused(api, body)
    assert error["code"] == "InvalidDictionaryParameter"
    assert error["metadata"]["parameterId"] == "11323"
    assert error["metadata"]["dictionaryValue"] == "11323_9"
    body["parameters"] = [{"id": "11323", "values": ["Odnowiony"]}]
    assert _refused(api, body)["code"] == "DictionaryParameterValueNotFound"


@pytest.mark.parametrize(
    ("kind", "value", "code"),
    [
        ("integer", "abc", "ParameterCategoryException"),
        ("integer", "1.5", "ParameterCategoryException"),
        ("integer", "99999999", "VALIDATION_ERROR"),
        ("float", "-5", "VALIDATION_ERROR"),
        ("float", "1.23456", "VALIDATION_ERROR"),
        ("string", "x" * 200, "VALIDATION_ERROR"),
    ],
)
def test_wrong_type_or_out_of_range_is_refused(
    api: Api, server: Server, kind: str, value: str, code: str
) -> None:
    leaf = next(
        leaf
        for leaf in LEAF_CATEGORIES
        if any(p["type"] == kind and not p["restrictions"].get("range") for p in _params(api, leaf))
    )
    target = next(
        p for p in _params(api, leaf) if p["type"] == kind and not p["restrictions"].get("range")
    )
    for skip in range(200):
        body, category = _body_and_category(server)
        if category == leaf:
            break
        # Spend the EAN counter until an offer of that leaf comes up.
        assert skip < 199
    body["parameters"].append({"id": target["id"], "values": [value]})
    error = _refused(api, body)
    assert error["code"] == code
    assert error["metadata"]["parameterId"] == target["id"]


def test_a_valid_parameter_of_every_type_is_kept(api: Api, server: Server) -> None:
    body, category = _body_and_category(server)
    body["parameters"] = [
        _valid(p) for p in _params(api, category) if p["id"] not in ("225693", "248811")
    ]
    offer = create_offer_from(api, body)
    assert offer["parameters"] == body["parameters"]


def create_offer_from(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    return settled(api, api.post("/sale/product-offers", body))


def test_required_parameter_missing_stops_publication_not_a_draft(api: Api, server: Server) -> None:
    body, _ = _body_and_category(server, parameters=[])
    error = _refused(api, body)
    assert error["code"] == "MissingRequiredParameters"
    assert error["metadata"]["parameterId"] == "11323"
    draft = create_offer_from(api, {**body, "publication": {"status": "INACTIVE"}})
    assert draft["validation"]["errors"][0]["code"] == "MissingRequiredParameters"


@pytest.mark.usefixtures("allegro_defaults")
def test_required_if_follows_the_condition(api: Api, server: Server) -> None:
    used = [{"id": "11323", "valuesIds": ["11323_2"]}]
    body, _ = _body_and_category(server, parameters=used)
    error = _refused(api, body)
    assert error["code"] == "MissingRequiredParameters"
    assert error["metadata"]["parameterId"] == "248467"  # Stan opakowania, for used items only
    packaging = {"id": "248467", "valuesIds": ["248467_1"]}
    body, _ = _body_and_category(server, parameters=[*used, packaging])
    create_offer_from(api, body)
    create_offer(api, server)  # a new item needs no packaging condition


def test_dependent_dictionary_values_need_their_value(api: Api, server: Server) -> None:
    packaging = _first(_params(api, "4231"), id="248467")
    assert packaging["options"]["dependsOnParameterId"] == "11323"
    assert packaging["dictionary"][1]["dependsOnValueIds"] == ["11323_2"]
    new_with_replacement = [
        {"id": "11323", "valuesIds": ["11323_1"]},
        {"id": "248467", "valuesIds": ["248467_2"]},  # "zastępcze": for used items only
    ]
    body, _ = _body_and_category(server, parameters=new_with_replacement)
    error = _refused(api, body)
    assert error["metadata"]["parameterId"] == "248467"
    assert error["metadata"]["dictionaryValue"] == "248467_2"
    body["parameters"][1] = {"id": "248467", "valuesIds": ["248467_1"]}  # combinable with any
    create_offer_from(api, body)


def test_new_product_needs_its_required_for_product_parameters(api: Api, server: Server) -> None:
    params = _params(api, "1521")
    required = [p["id"] for p in params if p["requiredForProduct"]]
    assert set(required) == {"225693", "248811", "224017"}
    product: dict[str, Any] = {
        "name": "Sekator testowy nowy model",
        "category": {"id": "1521"},
        "images": ["https://a.allegroimg.com/original/new/2.jpg"],
        "parameters": [{"id": "225693", "values": ["5901234123471"]}],
    }
    body = offer_body(server, productSet=[{"product": product, **SAFETY}])
    errors = api.call("POST", "/sale/product-offers", json_body=body, validate="response").json()[
        "errors"
    ]
    assert {e["code"] for e in errors} == {"MissingRequiredParameters"}
    assert {e["metadata"]["parameterId"] for e in errors} == {"248811", "224017"}
    assert all(e["path"] == "productSet[0].product.parameters" for e in errors)
    product["parameters"] += [{"id": "248811", "values": ["Fiskars"]}, {"id": "224017"}]
    error = _refused(api, body)
    assert error["code"] == "IncompleteParameterDefinition"
    assert error["path"] == "productSet[0].product.parameters[2]"
    product["parameters"][2] = {"id": "224017", "values": ["FX-1"]}
    create_offer_from(api, body)


def _valid(param: dict[str, Any]) -> dict[str, Any]:
    r = param["restrictions"]
    if param["type"] == "dictionary":
        return {"id": param["id"], "valuesIds": [param["dictionary"][0]["id"]]}
    if param["type"] == "string":
        return {"id": param["id"], "values": ["x" * max(3, r.get("minLength", 0))]}
    if r.get("range"):
        return {"id": param["id"], "rangeValue": {"from": str(r["min"]), "to": str(r["max"])}}
    return {"id": param["id"], "values": [str(r["min"])]}


def test_patch_is_checked_and_unfilled_parameters_lists_new_requirements(
    api: Api, server: Server
) -> None:
    for _ in range(50):  # an offer whose category has a parameter it leaves empty
        offer = create_offer(api, server)
        category = offer["category"]["id"]
        given = {p["id"] for p in offer["parameters"]} | {
            p["id"] for p in offer["productSet"][0]["product"]["parameters"]
        }
        empty = [
            p for p in _params(api, category) if p["id"] not in given and not p.get("requiredIf")
        ]
        if empty:
            break
    pid = empty[0]["id"]
    path = f"/sale/product-offers/{offer['id']}"
    bad = api.call(
        "PATCH",
        path,
        json_body={"parameters": [{"id": "11323", "valuesIds": ["nope"]}]},
        validate="response",
    )
    assert (
        bad.status_code == 422 and bad.json()["errors"][0]["code"] == "InvalidDictionaryParameter"
    )
    assert api.get("/sale/offers/unfilled-parameters").json()["offers"] == []
    change = f"/categories/{category}/parameters/{pid}"
    assert server.admin.put(change, json={"requirementPlanned": True}).status_code == 200
    try:
        planned = {"parameterType": "REQUIREMENT_PLANNED"}
        soon = api.get("/sale/offers/unfilled-parameters", params=planned).json()
        assert soon["offers"] == [
            {"id": offer["id"], "parameters": [{"id": pid}], "category": {"id": category}}
        ]
        required = {"parameterType": "REQUIRED"}
        assert api.get("/sale/offers/unfilled-parameters", params=required).json()["offers"] == []
        scheduled = api.get("/sale/category-parameters-scheduled-changes").json()
        mine = [c for c in scheduled["scheduledChanges"] if c["category"]["id"] == category]
        assert [(c["type"], c["parameter"]["id"]) for c in mine] == [("REQUIREMENT_CHANGE", pid)]
        # Allegro's planned requirement applies from scheduledFor on (30 days by default).
        server.emu.clock_offset = 31 * 86400
        fresh = server.admin.post("/tokens", json={"login": api.login}).json()["access_token"]
        later = api.with_token(fresh)
        now_required = later.get("/sale/offers/unfilled-parameters", params=required).json()
        assert [o["id"] for o in now_required["offers"]] == [offer["id"]]
        assert _first(_params(later, category), id=pid)["required"] is True
        server.emu.clock_offset = 0.0
        api = later  # a new token pair replaces the seller's old one
        server.admin.put(change, json={"required": True})
        assert _first(_params(api, category), id=pid)["required"] is True
        listed = api.get("/sale/offers/unfilled-parameters", params={"offer.id": offer["id"]})
        assert listed.json()["totalCount"] == 1
        # A PATCH is validated against the whole offer: the new requirement bites.
        stock = api.call("PATCH", path, json_body={"stock": {"available": 3}}, validate="response")
        assert stock.status_code == 422
        assert stock.json()["errors"][0]["metadata"]["parameterId"] == pid
        filled = [*offer["parameters"], _valid(empty[0])]
        assert api.patch(path, {"parameters": filled}).status_code == 200
        assert api.get("/sale/offers/unfilled-parameters").json()["offers"] == []
    finally:
        server.emu.clock_offset = 0.0
        server.admin.put(change, json={"required": False, "requirementPlanned": False})
