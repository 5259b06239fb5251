"""Contract: every answer has exactly the fields and JSON types docs/bigbuy.md records for it.

A shape is {field: allowed types}; a nested list of records is checked against its own shape.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bigbuy_emulator import seed

from .bb_helpers import order_body, simple_rows, sku
from .conftest import Server

NUM = (int, float)
STR = (str,)
OPT_STR = (str, type(None))
Shape = dict[str, Any]

PRODUCT: Shape = {
    "id": (int,), "sku": STR, "ean13": OPT_STR, "manufacturer": (int,), "taxonomy": (int,),
    "category": (int,), "weight": NUM, "height": NUM, "width": NUM, "depth": NUM,
    "wholesalePrice": NUM, "retailPrice": NUM, "inShopsPrice": NUM,
    "priceLargeQuantities": [{"id": (int,), "quantity": (int,), "price": NUM}],
    "taxRate": (int,), "taxId": (int,), "canon": (float, type(None)), "active": (int,),
    "condition": STR, "logisticClass": STR, "intrastat": OPT_STR, "partNumber": OPT_STR,
    "video": STR, "attributes": (bool,), "categories": (bool,), "images": (bool,),
    "tags": (bool,), "dateAdd": STR, "dateUpd": STR, "dateUpdDescription": OPT_STR,
    "dateUpdImages": OPT_STR, "dateUpdStock": OPT_STR, "dateUpdProperties": OPT_STR,
    "dateUpdCategories": OPT_STR,
}  # fmt: skip
INFORMATION: Shape = {
    "id": (int,), "sku": STR, "name": STR, "description": STR, "url": STR, "isoCode": STR,
    "dateUpdDescription": STR,
}  # fmt: skip
IMAGES: Shape = {
    "id": (int,),
    "images": [
        {
            "id": (int,),
            "isCover": (bool,),
            "name": STR,
            "url": STR,
            "position": (int,),
            "logo": (bool,),
            "whiteBackground": (bool,),
            "energyEfficiency": (int,),
            "gpsrLabel": (bool,),
            "gpsrWarning": (bool,),
        }
    ],
}
STOCK: Shape = {
    "id": (int,),
    "sku": STR,
    "stocks": [
        {
            "quantity": (int,),
            "minHandlingDays": (int,),
            "maxHandlingDays": (int,),
            "warehouse": (int,),
        }
    ],
}
PRICES: Shape = {"id": (int,), "sku": STR, "wholesalePrice": NUM, "retailPrice": NUM,
                 "inShopsPrice": NUM}  # fmt: skip
TIERED_PRICES: Shape = {**PRICES, "priceLargeQuantities": PRODUCT["priceLargeQuantities"]}
TAXONOMY: Shape = {"id": (int,), "name": STR, "url": STR, "parentTaxonomy": (int,),
                   "dateAdd": STR, "dateUpd": STR, "urlImages": STR, "isoCode": STR}  # fmt: skip
MANUFACTURER: Shape = {"id": (int,), "name": STR, "urlImage": STR, "reference": (int,)}
VARIATION: Shape = {
    "id": (int,), "product": (int,), "sku": STR, "ean13": OPT_STR, "extraWeight": NUM,
    "wholesalePrice": NUM, "retailPrice": NUM, "inShopsPrice": NUM, "width": NUM,
    "height": NUM, "depth": NUM, "priceLargeQuantities": (list, type(None)),
    "logisticClass": STR,
}  # fmt: skip
VARIATION_LINK: Shape = {"id": (int,), "attributes": [{"id": (int,)}]}
ATTRIBUTE: Shape = {"id": (int,), "attributeGroup": (int,), "name": STR, "isoCode": STR}
ATTRIBUTE_GROUP: Shape = {"id": (int,), "name": STR, "isoCode": STR}
PRODUCT_TAXONOMY: Shape = {"id": (int,), "taxonomy": (int,), "product": (int,)}
LANGUAGE: Shape = {"name": STR, "isoCode": STR}
COMPLIANCE: Shape = {
    "id": (int,),
    "sku": STR,
    "generalProductSafetyRegulations": [
        {
            "name": STR,
            "countryIsoCode": STR,
            "address": STR,
            "contact": STR,
            "webSite": STR,
            "safetyWarnings": (list,),
        }
    ],
    "productComplianceDocuments": (list,),
}
CARRIER: Shape = {
    "id": STR,
    "name": STR,
    "shippingServices": [{"id": STR, "delay": STR, "name": STR, "pod": (bool,)}],
}
ORDER: Shape = {
    "id": STR, "internalReference": STR, "dateAdd": STR, "totalPaidTaxIncl": NUM,
    "totalPaidTaxExcl": NUM, "totalShippingTaxExcl": NUM, "totalShippingTaxIncl": NUM,
    "status": STR, "carriers": [{"id": STR, "name": STR, "price": NUM}],
    "shippingAddress": (dict,),
    "products": [{"id": STR, "reference": STR, "quantity": (int,), "name": STR,
                  "priceTaxIncl": NUM, "priceTaxExcl": NUM}],
}  # fmt: skip
CHECK: Shape = {"totalWithoutTaxesAndWithoutShippingCost": NUM, "totalWithoutTaxes": NUM,
                "total": NUM}  # fmt: skip
TRACKING: Shape = {
    "id": (int,),
    "reference": STR,
    "trackings": [
        {
            "trackingNumber": STR,
            "statusDescription": STR,
            "statusDate": STR,
            "carrier": {"id": STR},
            "descriptionTranslated": STR,
        }
    ],
}


def conforms(value: Any, shape: Any, where: str = "$") -> None:
    if isinstance(shape, tuple):
        # bool is an int in Python, not in JSON: keep them apart.
        assert isinstance(value, shape) and not (isinstance(value, bool) and bool not in shape), (
            f"{where}: {value!r} is not {shape}"
        )
    elif isinstance(shape, list):
        assert isinstance(value, list), f"{where}: not a list"
        for i, item in enumerate(value):
            conforms(item, shape[0], f"{where}[{i}]")
    else:
        assert isinstance(value, dict), f"{where}: not an object"
        assert set(value) == set(shape), f"{where}: fields {sorted(set(value) ^ set(shape))}"
        for key, sub in shape.items():
            conforms(value[key], sub, f"{where}.{key}")


LISTS = [
    ("/catalog/products.json?pageSize=3000", PRODUCT),
    ("/catalog/new-products.json?pageSize=3000", PRODUCT),
    ("/catalog/productsinformation.json?isoCode=pl&pageSize=3000", INFORMATION),
    ("/catalog/productsimages.json?pageSize=3000", IMAGES),
    ("/catalog/productsstockbyhandlingdays.json?pageSize=3000", STOCK),
    ("/catalog/productprices.json?pageSize=3000", PRICES),
    ("/catalog/productprices.json?pageSize=3000&includePriceLargeQuantities", TIERED_PRICES),
    ("/catalog/productstaxonomies.json?pageSize=3000", PRODUCT_TAXONOMY),
    ("/catalog/taxonomies.json?isoCode=pl", TAXONOMY),
    ("/catalog/manufacturers.json?pageSize=1000", MANUFACTURER),
    ("/catalog/productsvariations.json?pageSize=3000", VARIATION),
    ("/catalog/productsvariationsstockbyhandlingdays.json?pageSize=3000", STOCK),
    ("/catalog/productvariationprices.json?pageSize=3000", PRICES),
    ("/catalog/variations.json?pageSize=3000", VARIATION_LINK),
    ("/catalog/attributes.json?isoCode=pl", ATTRIBUTE),
    ("/catalog/attributegroups.json?isoCode=pl", ATTRIBUTE_GROUP),
    ("/catalog/languages.json", LANGUAGE),
    ("/shipping/carriers.json", CARRIER),
    (
        "/shipping/lowest-shipping-costs-by-country/CZ.json",
        {"reference": STR, "cost": OPT_STR, "carrierId": STR, "carrierName": STR},
    ),
]


@pytest.mark.parametrize(("path", "shape"), LISTS, ids=[p for p, _ in LISTS])
def test_lists_have_the_recorded_fields(bb: httpx.Client, path: str, shape: Shape) -> None:
    answer = bb.get(path)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    records = answer.json()
    assert records
    conforms(records, [shape])


def test_single_items_have_the_recorded_fields(bb: httpx.Client) -> None:
    pid = seed.PRODUCT_ID_BASE + 5  # a parent with variations
    conforms(bb.get(f"/catalog/product/{pid}.json").json(), PRODUCT)
    conforms(bb.get(f"/catalog/productinformation/{pid}.json?isoCode=es").json(), [INFORMATION])
    all_languages = bb.get(f"/catalog/productinformationalllanguages/{pid}.json").json()
    conforms(all_languages, [INFORMATION])
    conforms(bb.get(f"/catalog/productimages/{pid}.json").json(), IMAGES)
    conforms(bb.get(f"/catalog/productstockbyhandlingdays/{pid}.json").json(), STOCK)
    variations = bb.get(f"/catalog/productvariations/{pid}.json").json()
    conforms(variations, [VARIATION])
    vid = variations[0]["id"]
    conforms(bb.get(f"/catalog/productvariationsstockbyhandlingdays/{vid}.json").json(), STOCK)
    conforms(bb.get(f"/catalog/variation/{vid}.json").json(), VARIATION_LINK)
    conforms(bb.get(f"/catalog/manufacturer/{seed.manufacturer_id(3)}.json").json(), MANUFACTURER)
    with_data = next(r for r in range(100) if seed.compliance(seed.CatalogueSpec(), r))
    compliance = bb.get(f"/catalog/productcompliance/{seed.PRODUCT_ID_BASE + with_data}.json")
    conforms(compliance.json(), COMPLIANCE)


def test_order_answers_have_the_recorded_fields(bb: httpx.Client, server: Server) -> None:
    reference = sku(simple_rows(1)[0])
    server.admin("PUT", f"/stock/{reference}", {"quantity": 3})
    body = order_body([(reference, 1)])
    conforms(bb.post("/order/check.json", json=body).json(), CHECK)
    created = bb.post("/order/create.json", json=body)
    order_id = created.headers["Location"].rsplit("/", 1)[1]
    conforms(bb.get(f"/order/{order_id}.json").json(), ORDER)
    conforms(bb.get("/order/orderstatuses.json").json(), [{"id": (int,), "name": STR}])
    conforms(bb.get("/order/reference/ALG-0001.json").json(), {"id": STR, "totalPaidTaxIncl": STR})
    conforms(bb.get("/user/purse.json").json(), STR)
    server.admin("POST", "/clock", {"advanceSeconds": 2 * 86_400})
    conforms(bb.get(f"/tracking/order/{order_id}.json").json(), TRACKING)
    note = {
        "reference": STR,
        "order": STR,
        "status": STR,
        "carrier": STR,
        "numberOfPackages": (int,),
        "products": [{"reference": STR, "quantity": (int,)}],
    }
    conforms(bb.get(f"/order/delivery-notes/{order_id}.json").json(), [note])
    track = {"track": {"orders": [{"id": int(order_id)}]}}
    conforms(bb.post("/tracking/orders.json", json=track).json(), [TRACKING])
    conforms(bb.get("/tracking/carriers.json").json(), [{"id": STR, "name": STR}])


def test_error_bodies_have_the_recorded_fields(bb: httpx.Client, server: Server) -> None:
    conforms(bb.get("/catalog/product/1.json").json(), {"code": (int,), "message": STR})
    refused = bb.post("/order/check.json", json=order_body([("Q0000001", 1)]))
    conforms(refused.json(), {"code": STR, "message": STR})
    assert set(json.loads(refused.json()["message"])) == {"info", "data"}
    invalid = bb.post("/order/check.json", json={"order": {}})
    conforms(invalid.json(), {"code": (int,), "message": STR, "errors": (dict,)})
    assert "children" in invalid.json()["errors"]
