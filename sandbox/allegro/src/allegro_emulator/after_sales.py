"""After-sales service conditions: return policies, implied warranties, warranties (section 8)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from allegro_emulator.errors import AllegroError, not_found
from allegro_emulator.state import Json, Seller
from allegro_emulator.web import body_json, no_content, query_int, respond, seller

router = APIRouter()
BASE = "/after-sales-service-conditions"

# kind -> (Seller attribute, list key, path parameter, display name)
KINDS: dict[str, tuple[str, str, str]] = {
    "return-policies": ("return_policies", "returnPolicies", "Return policy"),
    "implied-warranties": ("implied_warranties", "impliedWarranties", "Implied warranty"),
    "warranties": ("warranties", "warranties", "Warranty"),
}


def _store(user: Seller, kind: str) -> dict[str, Json]:
    store: dict[str, Json] = getattr(user, KINDS[kind][0])
    return store


def _validate(kind: str, body: Json) -> None:
    name = body.get("name")
    if not isinstance(name, str) or not name or len(name) > 200:
        raise AllegroError(
            422, "VALIDATION_ERROR", "name is required (at most 200 characters)", path="name"
        )
    if kind == "return-policies":
        for key in ("isFulfillment", "availability"):
            if key not in body:
                raise AllegroError(422, "VALIDATION_ERROR", f"{key} is required", path=key)


def _response(user: Seller, kind: str, item_id: str, body: Json) -> Json:
    item: dict[str, Any] = {"id": item_id, **{k: v for k, v in body.items() if k != "id"}}
    if kind == "return-policies":
        item["seller"] = {"id": user.id}
    return item


def _listing(kind: str, item: Json) -> Json:
    if kind == "return-policies":
        return item
    return {"id": item["id"], "name": item["name"]}


def _list(request: Request, kind: str) -> Response:
    _, user = seller(request)
    # The spec documents no 4xx for a bad parameter here; 400 is the closest.
    limit = query_int(request, "limit", 60, 1, 60, status=400)
    offset = query_int(request, "offset", 0, 0, 59, status=400)
    items = list(_store(user, kind).values())[offset : offset + limit]
    return respond({"count": len(items), KINDS[kind][1]: [_listing(kind, i) for i in items]})


async def _create(request: Request, kind: str) -> Response:
    _, user = seller(request)
    body = await body_json(request)
    _validate(kind, body)
    item = _response(user, kind, str(uuid.uuid4()), body)
    _store(user, kind)[item["id"]] = item
    return respond(item, 201)


def _get(request: Request, kind: str, item_id: str) -> Response:
    _, user = seller(request)
    item = _store(user, kind).get(item_id)
    if item is None:
        raise not_found(KINDS[kind][2], item_id)
    return respond(item)


async def _update(request: Request, kind: str, item_id: str) -> Response:
    _, user = seller(request)
    if item_id not in _store(user, kind):
        raise not_found(KINDS[kind][2], item_id)
    body = await body_json(request)
    _validate(kind, body)
    item = _response(user, kind, item_id, body)
    _store(user, kind)[item_id] = item
    return respond(item)


@router.get(f"{BASE}/return-policies")
async def list_return_policies(request: Request) -> Response:
    return _list(request, "return-policies")


@router.post(f"{BASE}/return-policies")
async def create_return_policy(request: Request) -> Response:
    return await _create(request, "return-policies")


@router.get(BASE + "/return-policies/{returnPolicyId}")
async def get_return_policy(request: Request, returnPolicyId: str) -> Response:
    return _get(request, "return-policies", returnPolicyId)


@router.put(BASE + "/return-policies/{returnPolicyId}")
async def update_return_policy(request: Request, returnPolicyId: str) -> Response:
    return await _update(request, "return-policies", returnPolicyId)


@router.delete(BASE + "/return-policies/{returnPolicyId}")
async def delete_return_policy(request: Request, returnPolicyId: str) -> Response:
    _, user = seller(request)
    if user.return_policies.pop(returnPolicyId, None) is None:
        raise not_found("Return policy", returnPolicyId)
    return no_content()


@router.get(f"{BASE}/implied-warranties")
async def list_implied_warranties(request: Request) -> Response:
    return _list(request, "implied-warranties")


@router.post(f"{BASE}/implied-warranties")
async def create_implied_warranty(request: Request) -> Response:
    return await _create(request, "implied-warranties")


@router.get(BASE + "/implied-warranties/{impliedWarrantyId}")
async def get_implied_warranty(request: Request, impliedWarrantyId: str) -> Response:
    return _get(request, "implied-warranties", impliedWarrantyId)


@router.put(BASE + "/implied-warranties/{impliedWarrantyId}")
async def update_implied_warranty(request: Request, impliedWarrantyId: str) -> Response:
    return await _update(request, "implied-warranties", impliedWarrantyId)


@router.get(f"{BASE}/warranties")
async def list_warranties(request: Request) -> Response:
    return _list(request, "warranties")


@router.post(f"{BASE}/warranties")
async def create_warranty(request: Request) -> Response:
    return await _create(request, "warranties")


@router.get(BASE + "/warranties/{warrantyId}")
async def get_warranty(request: Request, warrantyId: str) -> Response:
    return _get(request, "warranties", warrantyId)


@router.put(BASE + "/warranties/{warrantyId}")
async def update_warranty(request: Request, warrantyId: str) -> Response:
    return await _update(request, "warranties", warrantyId)
