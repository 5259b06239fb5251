"""Product safety (GPSR): responsible producers and persons, and what a publication needs."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from .conftest import Api, Server
from .helpers import PRODUCER, SAFETY, offer_body, offer_ids, wait_command

PERSON: dict[str, Any] = {
    "name": "Osoba odpowiedzialna",
    "personalData": {
        "name": "Importer UE sp. z o.o.",
        "address": {
            "countryCode": "DE",
            "street": "Hauptstraße 1",
            "postalCode": "10115",
            "city": "Berlin",
        },
        "contact": {"email": "eu@importer.example"},
    },
}


def _producer(**changes: Any) -> dict[str, Any]:
    producer = copy.deepcopy(PRODUCER)
    producer.update(changes)
    return producer


@pytest.mark.usefixtures("allegro_defaults")
def test_responsible_producers_are_created_listed_read_and_updated(api: Api, bare_api: Api) -> None:
    # Sellers have none until someone creates them (`api` sellers got one in conftest).
    assert bare_api.get("/sale/responsible-producers").json() == {
        "responsibleProducers": [],
        "count": 0,
        "totalCount": 0,
    }
    created = bare_api.post("/sale/responsible-producers", PRODUCER)
    assert created.status_code == 201
    producer = created.json()
    assert producer["name"] == PRODUCER["name"]
    assert producer["producerData"]["address"]["city"] == "Poznań"
    listed = bare_api.get("/sale/responsible-producers").json()
    assert [p["id"] for p in listed["responsibleProducers"]] == [producer["id"]]
    path = f"/sale/responsible-producers/{producer['id']}"
    assert bare_api.get(path).json() == producer
    renamed = bare_api.put(path, {**PRODUCER, "id": producer["id"], "name": "Nowa nazwa"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Nowa nazwa"
    assert bare_api.get(path).json()["name"] == "Nowa nazwa"
    # Another seller cannot see it.
    missing = api.get(path)
    assert missing.status_code == 404


def test_responsible_producer_needs_address_and_electronic_contact(bare_api: Api) -> None:
    no_contact = _producer()
    no_contact["producerData"] = {**no_contact["producerData"], "contact": {"phoneNumber": "1"}}
    response = bare_api.post("/sale/responsible-producers", no_contact)
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "producerData.contact"
    bare_api.post("/sale/responsible-producers", PRODUCER)
    duplicate = bare_api.post("/sale/responsible-producers", PRODUCER)
    assert duplicate.status_code == 422 and duplicate.json()["errors"][0]["path"] == "name"


def test_responsible_persons_are_created_listed_and_updated(bare_api: Api) -> None:
    created = bare_api.post("/sale/responsible-persons", PERSON)
    assert created.status_code == 200  # as the spec documents
    person = created.json()
    listed = bare_api.get("/sale/responsible-persons").json()["responsiblePersons"]
    assert [p["id"] for p in listed] == [person["id"]]
    updated = bare_api.put(
        f"/sale/responsible-persons/{person['id']}",
        {**PERSON, "id": person["id"], "name": "Osoba 2"},
    )
    assert updated.status_code == 200 and updated.json()["name"] == "Osoba 2"
    outside = copy.deepcopy(PERSON)
    outside["personalData"]["address"]["countryCode"] = "NO"
    refused = bare_api.call(
        "POST", "/sale/responsible-persons", json_body=outside, validate="response"
    )
    assert refused.status_code == 422


def test_offer_stores_and_returns_product_safety(api: Api, server: Server) -> None:
    producer_id = api.get("/sale/responsible-producers").json()["responsibleProducers"][0]["id"]
    created = api.post("/sale/product-offers", offer_body(server))
    assert created.status_code == 201, created.text
    element = created.json()["productSet"][0]
    assert element["responsibleProducer"] == {"id": producer_id}
    assert element["safetyInformation"] == SAFETY["safetyInformation"]
    read = api.get(f"/sale/product-offers/{created.json()['id']}").json()["productSet"][0]
    assert read["responsibleProducer"] == {"id": producer_id}
    assert read["safetyInformation"] == SAFETY["safetyInformation"]


def _without_safety(server: Server, **kw: Any) -> dict[str, Any]:
    body = offer_body(server, **kw)
    body["productSet"] = [{"product": body["productSet"][0]["product"]}]
    return body


def test_publication_without_safety_data_is_refused(api: Api, server: Server) -> None:
    response = api.post("/sale/product-offers", _without_safety(server))
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {e["code"] for e in errors} == {"PRODUCT_SAFETY_EMPTY"}
    assert {e["path"] for e in errors} == {
        "productSet[0].responsibleProducer",
        "productSet[0].safetyInformation",
    }
    draft = api.post("/sale/product-offers", _without_safety(server, status="INACTIVE"))
    assert draft.status_code == 201
    offer = draft.json()
    assert offer["productSet"][0]["responsibleProducer"] is None
    path = f"/sale/product-offers/{offer['id']}"
    refused = api.patch(path, {"publication": {"status": "ACTIVE"}})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "PRODUCT_SAFETY_EMPTY"
    fixed = api.patch(path, {"productSet": [SAFETY], "publication": {"status": "ACTIVE"}})
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["publication"]["status"] == "ACTIVE"


def test_publication_command_fails_the_task_without_safety_data(api: Api, server: Server) -> None:
    draft = api.post("/sale/product-offers", _without_safety(server, status="INACTIVE")).json()
    command = str(uuid.uuid4())
    body = {"publication": {"action": "ACTIVATE"}, "offerCriteria": offer_ids(draft["id"])}
    assert api.put(f"/sale/offer-publication-commands/{command}", body).status_code == 201
    report = wait_command(api, "/sale/offer-publication-commands", command, 1)
    assert report["taskCount"]["failed"] == 1
    tasks = api.get(f"/sale/offer-publication-commands/{command}/tasks").json()["tasks"]
    assert tasks[0]["errors"][0]["code"] == "PRODUCT_SAFETY_EMPTY"


def test_no_safety_information_option_is_refused(api: Api, server: Server) -> None:
    body = offer_body(server)
    body["productSet"][0]["safetyInformation"] = {"type": "NO_SAFETY_INFORMATION"}
    # The request schema itself has no such option: only the answer is checked.
    response = api.call("POST", "/sale/product-offers", json_body=body, validate="response")
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "NO_SAFETY_INFORMATION_OPTION_NOT_ALLOWED"


def test_marketed_before_gpsr_only_for_the_allowed_condition(api: Api, server: Server) -> None:
    body = _without_safety(server)
    body["productSet"][0]["marketedBeforeGPSRObligation"] = True
    refused = api.post("/sale/product-offers", body)
    assert refused.status_code == 422
    code = refused.json()["errors"][0]["code"]
    assert code == "PRODUCT_MARKETED_BEFORE_GPSR_OBLIGATION_OPTION_NOT_ALLOWED"
    body["parameters"] = [
        {"id": "11323", "valuesIds": ["11323_2"]},
        {"id": "248467", "valuesIds": ["248467_1"]},
    ]
    accepted = api.post("/sale/product-offers", body)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["productSet"][0]["marketedBeforeGPSRObligation"] is True


def test_producer_outside_the_eu_needs_a_responsible_person(api: Api, server: Server) -> None:
    abroad = _producer(name="Producent CN")
    abroad["producerData"]["address"] = {
        "countryCode": "CN",
        "street": "1 Factory Road",
        "postalCode": "518000",
        "city": "Shenzhen",
    }
    assert api.post("/sale/responsible-producers", abroad).status_code == 201
    body = offer_body(server)
    body["productSet"][0]["responsibleProducer"] = {"type": "NAME", "name": "Producent CN"}
    refused = api.post("/sale/product-offers", body)
    assert refused.status_code == 422
    error = refused.json()["errors"][0]
    assert (error["code"], error["path"]) == (
        "PRODUCT_SAFETY_EMPTY",
        "productSet[0].responsiblePerson",
    )
    person = api.post("/sale/responsible-persons", PERSON).json()
    body["productSet"][0]["responsiblePerson"] = {"id": person["id"]}
    accepted = api.post("/sale/product-offers", body)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["productSet"][0]["responsiblePerson"] == {"id": person["id"]}


def test_unknown_producer_reference_is_refused(api: Api, server: Server) -> None:
    body = offer_body(server)
    body["productSet"][0]["responsibleProducer"] = {"type": "ID", "id": str(uuid.uuid4())}
    response = api.post("/sale/product-offers", body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "productSet[0].responsibleProducer"


def test_modification_command_sets_product_safety(api: Api, server: Server) -> None:
    draft = api.post("/sale/product-offers", _without_safety(server, status="INACTIVE")).json()
    producer_id = api.get("/sale/responsible-producers").json()["responsibleProducers"][0]["id"]
    command = str(uuid.uuid4())
    safety = {"type": "TEXT", "description": "Nie dla dzieci poniżej 3 lat."}
    body = {
        "modification": {"responsibleProducer": {"id": producer_id}, "safetyInformation": safety},
        "offerCriteria": offer_ids(draft["id"]),
    }
    assert api.put(f"/sale/offer-modification-commands/{command}", body).status_code == 201
    report = wait_command(api, "/sale/offer-modification-commands", command, 1)
    assert report["taskCount"]["success"] == 1
    element = api.get(f"/sale/product-offers/{draft['id']}").json()["productSet"][0]
    assert element["responsibleProducer"] == {"id": producer_id}
    assert element["safetyInformation"] == safety
    unknown = str(uuid.uuid4())
    body["modification"] = {"responsibleProducer": {"id": str(uuid.uuid4())}}
    api.put(f"/sale/offer-modification-commands/{unknown}", body)
    assert wait_command(api, "/sale/offer-modification-commands", unknown, 1)["taskCount"] == {
        "total": 1,
        "success": 0,
        "failed": 1,
    }


def test_a_live_offer_keeps_its_product_safety(api: Api, server: Server) -> None:
    offer = api.post("/sale/product-offers", offer_body(server)).json()
    path = f"/sale/product-offers/{offer['id']}"
    abroad = _producer(name="Producent US")
    abroad["producerData"]["address"]["countryCode"] = "US"
    assert api.post("/sale/responsible-producers", abroad).status_code == 201
    # A PATCH is validated against the whole offer: a non-EU producer needs a person.
    moved = api.patch(
        path, {"productSet": [{"responsibleProducer": {"type": "NAME", "name": "Producent US"}}]}
    )
    assert moved.status_code == 422
    error = moved.json()["errors"][0]
    assert (error["code"], error["path"]) == (
        "PRODUCT_SAFETY_EMPTY",
        "productSet[0].responsiblePerson",
    )
    kept = api.get(path).json()["productSet"][0]["responsibleProducer"]
    assert kept == offer["productSet"][0]["responsibleProducer"]
