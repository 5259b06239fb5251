"""Product safety (GPSR, since 2024-12-13; allegro-api.md section 4): the seller's responsible
producers and responsible persons, and the safety data an offer needs to be published.

An offer needs, in `productSet[]`, a responsible producer and safety information (`TEXT` or
`ATTACHMENTS`; `NO_SAFETY_INFORMATION` is refused), plus a responsible person in the EU when the
producer is outside it, unless `marketedBeforeGPSRObligation` is declared (used items only).
The API does not say which categories require GPSR (allegro/allegro-api#11422), so every
category does here.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from allegro_emulator.errors import AllegroError, error
from allegro_emulator.seed import PARAM_CONDITION
from allegro_emulator.state import Json, Seller
from allegro_emulator.web import body_json, query_int, respond, seller

router = APIRouter()

# The spec's ResponsiblePersonAddress.countryCode enum: the EU member states.
# fmt: off
EU_COUNTRIES = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "GR", "ES", "IE", "LT", "LU",
    "LV", "MT", "NL", "DE", "PL", "PT", "RO", "SK", "SI", "SE", "HU", "IT",
})
# fmt: on
# Condition values with which a product may be declared as marketed before 13 Dec 2024.
_BEFORE_GPSR_CONDITIONS = frozenset({"11323_2"})  # Używany


def _text(value: Any, path: str, limit: int, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise AllegroError(
            422, "VALIDATION_ERROR", f"{path} must have 1 to {limit} characters", path=path
        )
    return value


def _contact_and_address(data: Json, prefix: str, eu_only: bool) -> None:
    """GPSR asks for a postal address and an electronic contact (e-mail or form)."""
    address = data.get("address")
    if not isinstance(address, dict):
        raise AllegroError(422, "VALIDATION_ERROR", "address is required", path=f"{prefix}.address")
    country = address.get("countryCode")
    if not isinstance(country, str) or len(country) != 2 or not country.isupper():
        raise AllegroError(
            422,
            "VALIDATION_ERROR",
            "countryCode must be a two-letter code",
            path=f"{prefix}.address.countryCode",
        )
    if eu_only and country not in EU_COUNTRIES:
        raise AllegroError(
            422,
            "VALIDATION_ERROR",
            "A responsible person must be established in the EU",
            path=f"{prefix}.address.countryCode",
        )
    for key, limit in (("street", 200), ("postalCode", 20), ("city", 100)):
        _text(address.get(key), f"{prefix}.address.{key}", limit)
    contact = data.get("contact")
    if not isinstance(contact, dict) or not (contact.get("email") or contact.get("formUrl")):
        raise AllegroError(
            422,
            "VALIDATION_ERROR",
            "contact needs an email or a formUrl",
            path=f"{prefix}.contact",
        )
    for key, limit in (("email", 50), ("phoneNumber", 30), ("formUrl", 80)):
        _text(contact.get(key), f"{prefix}.contact.{key}", limit, required=False)


def _entity(body: Json, store: dict[str, Json], data_key: str, entity_id: str | None) -> Json:
    """Check a create or update body and build the stored resource."""
    name = _text(body.get("name"), "name", 50)
    if any(v["name"] == name and k != entity_id for k, v in store.items()):
        raise AllegroError(422, "VALIDATION_ERROR", f"The name {name} is already used", path="name")
    data = body.get(data_key)
    if not isinstance(data, dict):
        raise AllegroError(422, "VALIDATION_ERROR", f"{data_key} is required", path=data_key)
    if data_key == "producerData":
        _text(data.get("tradeName"), "producerData.tradeName", 200)
    else:
        _text(data.get("name"), "personalData.name", 200)
    _contact_and_address(data, data_key, eu_only=data_key == "personalData")
    keys = ("tradeName",) if data_key == "producerData" else ("name",)
    kept = {k: data[k] for k in (*keys, "address", "contact")}
    kept["address"] = {
        k: v
        for k, v in kept["address"].items()
        if k in ("countryCode", "street", "postalCode", "city")
    }
    kept["contact"] = {
        k: v for k, v in kept["contact"].items() if k in ("email", "phoneNumber", "formUrl") and v
    }
    return {"id": entity_id or str(uuid.uuid4()), "name": name, data_key: kept}


def _page(request: Request, items: list[Json], key: str, max_offset: int) -> Response:
    limit = query_int(request, "limit", 1000, 1, 1000, status=400)
    offset = query_int(request, "offset", 0, 0, max_offset, status=400)
    page = items[offset : offset + limit]
    return respond({key: page, "count": len(page), "totalCount": len(items)})


def _own(store: dict[str, Json], entity_id: str, what: str) -> Json:
    found = store.get(entity_id)
    if found is None:
        raise AllegroError(
            404, "NOT_FOUND", f"{what} {entity_id} not found", user_message=f"{what} not found"
        )
    return found


# --- responsible producers -----
@router.get("/sale/responsible-producers")
async def list_producers(request: Request) -> Response:
    _, user = seller(request)
    return _page(request, list(user.responsible_producers.values()), "responsibleProducers", 50000)


@router.post("/sale/responsible-producers")
async def create_producer(request: Request) -> Response:
    _, user = seller(request)
    producer = _entity(await body_json(request), user.responsible_producers, "producerData", None)
    user.responsible_producers[producer["id"]] = producer
    return respond(producer, 201)


@router.get("/sale/responsible-producers/{id}")
async def get_producer(request: Request, id: str) -> Response:
    _, user = seller(request)
    return respond(_own(user.responsible_producers, id, "Responsible producer"))


@router.put("/sale/responsible-producers/{id}")
async def update_producer(request: Request, id: str) -> Response:
    _, user = seller(request)
    _own(user.responsible_producers, id, "Responsible producer")
    body = await body_json(request)
    if body.get("id") not in (None, id):
        raise AllegroError(422, "VALIDATION_ERROR", "id differs from the path", path="id")
    producer = _entity(body, user.responsible_producers, "producerData", id)
    user.responsible_producers[id] = producer
    return respond(producer)


# --- responsible persons (the spec has no GET of one person) -----
@router.get("/sale/responsible-persons")
async def list_persons(request: Request) -> Response:
    _, user = seller(request)
    return _page(request, list(user.responsible_persons.values()), "responsiblePersons", 16000)


@router.post("/sale/responsible-persons")
async def create_person(request: Request) -> Response:
    _, user = seller(request)
    person = _entity(await body_json(request), user.responsible_persons, "personalData", None)
    user.responsible_persons[person["id"]] = person
    return respond(person)  # the spec documents 200 here, not 201


@router.put("/sale/responsible-persons/{id}")
async def update_person(request: Request, id: str) -> Response:
    _, user = seller(request)
    _own(user.responsible_persons, id, "Responsible person")
    body = await body_json(request)
    if body.get("id") not in (None, id):
        raise AllegroError(422, "VALIDATION_ERROR", "id differs from the path", path="id")
    person = _entity(body, user.responsible_persons, "personalData", id)
    user.responsible_persons[id] = person
    return respond(person)


# --- offers -----
def _resolve(store: dict[str, Json], ref: Any, path: str, what: str) -> Json | None:
    """`{id}` or `{name}` (producers also carry `type` ID | NAME); null clears it."""
    if ref is None:
        return None
    if not isinstance(ref, dict):
        raise AllegroError(422, "VALIDATION_ERROR", f"{path} must be an object", path=path)
    kind = ref.get("type")
    if kind not in (None, "ID", "NAME"):
        raise AllegroError(422, "VALIDATION_ERROR", f"Unknown {path}.type {kind}", path=path)
    if ref.get("id") and kind != "NAME":
        found = store.get(str(ref["id"]))
    elif ref.get("name"):
        found = next((v for v in store.values() if v["name"] == ref["name"]), None)
    else:
        raise AllegroError(422, "VALIDATION_ERROR", f"{path} needs an id or a name", path=path)
    if found is None:
        # No source names Allegro's code for an unknown reference here.
        raise AllegroError(
            422,
            "VALIDATION_ERROR",
            f"{what} {ref.get('id') or ref.get('name')} not found",
            path=path,
            user_message=f"{what} not found",
        )
    return {"id": found["id"]}


def _safety(value: Any, path: str) -> Json | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "NO_SAFETY_INFORMATION":
        raise AllegroError(
            422,
            "NO_SAFETY_INFORMATION_OPTION_NOT_ALLOWED",
            "Usage of NO_SAFETY_INFORMATION option is not allowed",
            path=path,
            metadata={"productSet.safetyInformation": "NO_SAFETY_INFORMATION"},
        )
    if kind == "TEXT":
        return {"type": "TEXT", "description": _text(value.get("description"), path, 5000)}
    if kind == "ATTACHMENTS":
        attachments = value.get("attachments")
        if not isinstance(attachments, list) or not all(
            isinstance(a, dict) and a.get("id") for a in attachments
        ):
            raise AllegroError(
                422, "VALIDATION_ERROR", "attachments need ids", path=f"{path}.attachments"
            )
        return {"type": "ATTACHMENTS", "attachments": [{"id": str(a["id"])} for a in attachments]}
    raise AllegroError(
        422, "VALIDATION_ERROR", "safetyInformation.type must be TEXT or ATTACHMENTS", path=path
    )


def apply_product_safety(user: Seller, element: Json, given: Json, offer_parameters: Any) -> None:
    """Copy the GPSR fields of a request's `productSet[0]` into the offer's, resolved."""
    path = "productSet[0]"
    if "responsibleProducer" in given:
        element["responsibleProducer"] = _resolve(
            user.responsible_producers,
            given["responsibleProducer"],
            f"{path}.responsibleProducer",
            "Responsible producer",
        )
    if "responsiblePerson" in given:
        element["responsiblePerson"] = _resolve(
            user.responsible_persons,
            given["responsiblePerson"],
            f"{path}.responsiblePerson",
            "Responsible person",
        )
    if "safetyInformation" in given:
        safety = _safety(given["safetyInformation"], f"{path}.safetyInformation")
        # Left out rather than null: the spec's nullable oneOf does not validate a null.
        if safety is None:
            element.pop("safetyInformation", None)
        else:
            element["safetyInformation"] = safety
    if "marketedBeforeGPSRObligation" in given:
        before = given["marketedBeforeGPSRObligation"]
        conditions = {
            str(v)
            for p in offer_parameters or []
            if isinstance(p, dict) and str(p.get("id")) == PARAM_CONDITION
            for v in p.get("valuesIds") or []
        }
        if before and not conditions & _BEFORE_GPSR_CONDITIONS:
            raise AllegroError(
                422,
                "PRODUCT_MARKETED_BEFORE_GPSR_OBLIGATION_OPTION_NOT_ALLOWED",
                "Usage of PRODUCT_MARKETED_BEFORE_GPSR_OBLIGATION option is not allowed",
                path=f"{path}.marketedBeforeGPSRObligation",
                metadata={"productSet.productMarketedBeforeGPSRObligation": "true"},
            )
        element["marketedBeforeGPSRObligation"] = bool(before) if before is not None else None


def safety_errors(user: Seller, data: Json) -> list[Json]:
    """What GPSR misses for a publication: `PRODUCT_SAFETY_EMPTY` (allegro/allegro-api#10953)."""
    element = (data.get("productSet") or [{}])[0]
    if element.get("marketedBeforeGPSRObligation"):
        return []
    problems = []
    producer_ref = element.get("responsibleProducer")
    producer = user.responsible_producers.get(producer_ref["id"]) if producer_ref else None
    if producer is None:
        problems.append(
            error(
                "PRODUCT_SAFETY_EMPTY",
                "The offer has no responsible producer",
                path="productSet[0].responsibleProducer",
            )
        )
    if not element.get("safetyInformation"):
        problems.append(
            error(
                "PRODUCT_SAFETY_EMPTY",
                "The offer has no product safety information",
                path="productSet[0].safetyInformation",
            )
        )
    outside_eu = (
        producer is not None
        and producer["producerData"]["address"]["countryCode"] not in EU_COUNTRIES
    )
    person_ref = element.get("responsiblePerson")
    if outside_eu and not (person_ref and person_ref["id"] in user.responsible_persons):
        # GPSR: a product made outside the EU needs an economic operator (person) in it.
        problems.append(
            error(
                "PRODUCT_SAFETY_EMPTY",
                "A producer outside the EU needs a responsible person in the EU",
                path="productSet[0].responsiblePerson",
            )
        )
    return problems
