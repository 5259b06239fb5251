"""What the offers service sends to Allegro and where, against the vendored spec
(sandbox/allegro/spec): every path and method it calls exists, and its request bodies are valid
for the operations' request schemas (discriminated subtypes checked against their mapping)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from offers import allegro
from offers.domain import listing, sync
from offers.domain.shipping import HANDLING_TIMES

from .samples import ACCOUNT, DEFINITIONS, ITEM, PRICES

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "sandbox" / "allegro" / "spec" / "allegro-public-api.yaml"
ALLEGRO_MODULE = ROOT / "services" / "offers" / "src" / "offers" / "allegro.py"
MEDIA = "application/vnd.allegro.public.v1+json"
CALL = re.compile(r'client\.(get|post|patch|request)\(\s*(?:"(GET)",\s*)?f?"(/[^"]*)"')


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    with SPEC.open() as handle:
        found: dict[str, Any] = yaml.load(handle, Loader=yaml.CSafeLoader)
    return found


def validate(spec: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    registry: Registry[Any] = Registry().with_resource(
        "urn:spec", Resource.from_contents(spec, default_specification=DRAFT4)
    )
    ref = schema["$ref"].replace("#/", "urn:spec#/")
    OAS30Validator({"$ref": ref}, registry=registry).validate(value)


def request_schema(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec["paths"][path][method]["requestBody"]["content"][MEDIA]["schema"]
    return schema


def template(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path)) + "$")


def test_every_path_called_is_in_the_spec_with_its_method(spec: dict[str, Any]) -> None:
    calls = CALL.findall(ALLEGRO_MODULE.read_text(encoding="utf-8"))
    assert len(calls) >= 10
    for method, explicit, path in calls:
        verb = (explicit or method).lower()
        concrete = re.sub(r"\{[^}]*\}", "x", path)
        matching = [p for p in spec["paths"] if template(p).match(concrete)]
        assert matching, f"{path} is not in the spec"
        assert any(verb in spec["paths"][p] for p in matching), f"{verb} {path}"


def test_the_created_offer_is_a_valid_request(spec: dict[str, Any]) -> None:
    draft = listing.product_offer_body(
        "SKU-1", ITEM, 4, PRICES, {}, ACCOUNT, "rates-1", DEFINITIONS, "P2D"
    )
    assert draft.body is not None
    validate(spec, request_schema(spec, "/sale/product-offers", "post"), draft.body)
    # The handling times we send are the ones the spec's delivery lists (its text, no enum).
    delivery = spec["components"]["schemas"]["DeliveryProductOfferRequest"]["properties"]
    listed = re.findall(r"\b(PT0S|PT24H|P\d+D)\b", delivery["handlingTime"]["description"])
    assert tuple(listed) == HANDLING_TIMES
    element = draft.body["productSet"][0]
    schemas = spec["components"]["schemas"]
    producer = schemas["ProductSetElementResponsibleProducerRequest"]["discriminator"]
    validate(
        spec,
        {"$ref": producer["mapping"][element["responsibleProducer"]["type"]]},
        element["responsibleProducer"],
    )
    assert element["safetyInformation"]["type"] in str(
        schemas["ProductSetElementSafetyInformationRequest"]
    )


@pytest.mark.parametrize(
    "body",
    [
        {"publication": {"status": "ENDED"}},
        {"publication": {"status": "ACTIVE"}, "stock": {"available": 3, "unit": "UNIT"}},
        {"delivery": {"handlingTime": "P7D"}},
        {"images": ["https://a.allegroimg.com/original/12068b/359d04074521b79df1b2807a6727"]},
    ],
)
def test_ending_and_reactivating_are_valid_edits(spec: dict[str, Any], body: Any) -> None:
    validate(spec, request_schema(spec, "/sale/product-offers/{offerId}", "patch"), body)


@pytest.mark.parametrize(
    ("kind", "marketplace", "value"),
    [
        (sync.PRICE, "allegro-pl", {"amount": "49.90", "currency": "PLN"}),
        (sync.PRICE, "allegro-cz", {"amount": "290", "currency": "CZK"}),
        (sync.QUANTITY, None, {"quantity": 7}),
        (sync.PUBLICATION, None, {"action": sync.END}),
        (sync.PUBLICATION, None, {"action": sync.ACTIVATE}),
    ],
)
def test_batch_commands_are_valid_requests_on_their_paths(
    spec: dict[str, Any], kind: str, marketplace: str | None, value: dict[str, Any]
) -> None:
    base = allegro.COMMAND_PATHS[kind]
    assert "get" in spec["paths"][base + "/{commandId}"]
    assert "get" in spec["paths"][base + "/{commandId}/tasks"]
    body = sync.command_body(kind, marketplace, value, ["1", "2"])
    validate(spec, request_schema(spec, base + "/{commandId}", "put"), body)
    if kind == sync.PRICE:  # the modification's subtype, by its discriminator
        mapping = spec["components"]["schemas"]["PriceModification"]["discriminator"]["mapping"]
        modification = body["modification"]
        validate(spec, {"$ref": mapping[modification["type"]]}, modification)


def test_a_create_with_images_is_a_valid_request(spec: dict[str, Any]) -> None:
    draft = listing.product_offer_body(
        "SKU-1", ITEM, 4, PRICES, {}, ACCOUNT, "rates-1", DEFINITIONS
    )
    assert draft.body is not None
    body = {**draft.body, "images": ["https://a.allegroimg.com/original/12068b/359d0407.jpg"]}
    validate(spec, request_schema(spec, "/sale/product-offers", "post"), body)


def test_an_image_upload_is_a_valid_request_on_the_upload_host(spec: dict[str, Any]) -> None:
    operation = spec["paths"]["/sale/images"]["post"]
    assert operation["operationId"] == "uploadOfferImageUsingPOST"
    assert operation["servers"][0]["url"].startswith("https://upload.")
    body_ref = operation["requestBody"]["$ref"].rsplit("/", 1)[-1]
    schema = spec["components"]["requestBodies"][body_ref]["content"][MEDIA]["schema"]
    validate(spec, schema, {"url": "https://cdn.supplier.example/SKU-1/1.jpg"})
    answer = operation["responses"]["201"]["content"][MEDIA]["schema"]
    assert {"location", "expiresAt"} <= set(properties(spec, answer))


def test_the_responsible_producer_created_is_a_valid_request(spec: dict[str, Any]) -> None:
    producer = {
        "name": "Fabryka Testowa",
        "producerData": {
            "tradeName": "Fabryka Testowa sp. z o.o.",
            "address": {
                "countryCode": "PL",
                "street": "ul. Fabryczna 1",
                "postalCode": "60-001",
                "city": "Poznań",
            },
            "contact": {"email": "gpsr@fabryka.example"},
        },
    }
    validate(spec, request_schema(spec, "/sale/responsible-producers", "post"), producer)


def properties(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A schema's properties, `$ref`s followed and `allOf` parts merged."""
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    found = dict(schema.get("properties") or {})
    for part in schema.get("allOf") or []:
        found.update(properties(spec, part))
    return found


@pytest.mark.parametrize(
    ("path", "method", "status", "keys"),
    [
        ("/after-sales-service-conditions/return-policies", "get", "200", ["returnPolicies"]),
        (
            "/after-sales-service-conditions/implied-warranties",
            "get",
            "200",
            ["impliedWarranties"],
        ),
        ("/sale/shipping-rates", "get", "200", ["shippingRates"]),
        ("/sale/responsible-producers", "get", "200", ["responsibleProducers"]),
        ("/sale/categories/{categoryId}/parameters", "get", "200", ["parameters"]),
        ("/sale/products", "get", "200", ["products"]),
        ("/sale/offers", "get", "200", ["offers", "totalCount"]),
        ("/sale/offer-events", "get", "200", ["offerEvents"]),
        (
            "/sale/product-offers",
            "post",
            "201",
            ["id", "publication", "additionalMarketplaces", "validation"],
        ),
        ("/sale/product-offers/{offerId}", "get", "200", ["id", "publication", "validation"]),
    ],
)
def test_the_fields_read_from_allegros_answers_are_in_the_spec(
    spec: dict[str, Any], path: str, method: str, status: str, keys: list[str]
) -> None:
    schema = spec["paths"][path][method]["responses"][status]["content"][MEDIA]["schema"]
    found = properties(spec, schema)
    assert [k for k in keys if k not in found] == []


def test_an_accepted_create_gives_its_operation_and_when_to_ask(spec: dict[str, Any]) -> None:
    headers = spec["paths"]["/sale/product-offers"]["post"]["responses"]["202"]["headers"]
    assert {"Location", "Retry-after"} <= set(headers)
    assert (
        "303"
        in spec["paths"]["/sale/product-offers/{offerId}/operations/{operationId}"]["get"][
            "responses"
        ]
    )


def test_what_drift_reads_of_offer_events_and_listed_offers_is_in_the_spec(
    spec: dict[str, Any],
) -> None:
    """The event's id, type, time, offer id, external id and who ended it; the listed offer's
    external id, status, price and stock; the query parameters the reader and reconcile send."""
    schemas = spec["components"]["schemas"]
    base = properties(spec, schemas["SellerOfferBaseEvent"])
    assert {"id", "type", "occurredAt"} <= set(base)
    ended = properties(spec, schemas["OfferEventEndedOffer"])
    assert {"id", "external", "publication"} <= set(ended)
    assert "endedBy" in ended["publication"]["properties"]
    listed = properties(spec, schemas["OfferListingDto"])
    assert {"id", "external", "publication", "sellingMode", "stock"} <= set(listed)
    assert "status" in properties(spec, listed["publication"])
    assert "price" in properties(spec, listed["sellingMode"])
    assert "available" in properties(spec, listed["stock"])
    for path, names in (
        ("/sale/offer-events", {"from", "limit"}),
        ("/sale/offers", {"offset", "limit", "external.id"}),
    ):
        declared = {p.get("name") for p in spec["paths"][path]["get"]["parameters"]}
        assert names <= declared, path
