"""The answers every operation can give whatever its handler does: no or a bad token (401), an
application token on a user resource (403), a wrong Accept (406) or Content-Type (415), a rate
limit (429, from the real limiter) and server faults (500, 503, 504). Each is validated against
the spec: the documented schema where the spec lists the status, the generic error schemas
where it omits it (Allegro sends them anyway; the list is in the README)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import APIRoute

from allegro_emulator import (
    after_sales,
    catalogue,
    commands,
    gpsr,
    offer_events,
    offers,
    orders,
    pricing,
    shipping,
)
from allegro_emulator.admin import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from allegro_emulator.config import RateLimit

from .conftest import MEDIA, Api, Contract, Server

MODULES = (after_sales, catalogue, commands, gpsr, offer_events, offers, orders, pricing, shipping)
BODY_METHODS = ("POST", "PUT", "PATCH")


def served_operations() -> list[tuple[str, str]]:
    found = set()
    for module in MODULES:
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            for method in route.methods or ():
                found.add((method, route.path))
    return sorted(found)


def _concrete(template: str) -> str:
    # Path variables never matter for these answers: they come before any lookup.
    return re.sub(r"\{(\w+)\}", "00000000-0000-4000-8000-000000000000", template)


def _call(api: Api, method: str, template: str, **kw: object) -> httpx.Response:
    body: dict[str, object] | None = {} if method in BODY_METHODS else None
    return api.call(method, _concrete(template), json_body=body, validate="response", **kw)  # type: ignore[arg-type]


OPERATIONS = served_operations()


@pytest.fixture(scope="module")
def app_token(server: Server) -> str:
    response = httpx.post(
        server.base_url + "/auth/oauth/token",
        params={"grant_type": "client_credentials"},
        auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
    )
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
def client_limit_zero(server: Server, api: Api) -> Iterator[None]:
    """The real per-Client-ID limiter, with nothing left to spend (after `api` is set up)."""
    server.emu.config.update({"rate_limits_enabled": True})
    server.emu.config.rate_limits["client"] = RateLimit(0, 60)
    yield
    server.emu.config.rate_limits["client"] = RateLimit(9_000, 60)


@pytest.mark.parametrize(("method", "template"), OPERATIONS)
def test_auth_and_media_type_answers(api: Api, app_token: str, method: str, template: str) -> None:
    assert _call(api.with_token(None), method, template).status_code == 401
    assert _call(api.with_token("not-a-token"), method, template).status_code == 401
    wrong_accept = _call(api, method, template, headers={"Accept": "application/json"})
    assert wrong_accept.status_code == 406
    assert wrong_accept.json()["errors"][0]["code"] == "NotAcceptableException"
    if method in BODY_METHODS:
        wrong_type = _call(api, method, template, headers={"Content-Type": "text/plain"})
        assert wrong_type.status_code == 415
    # An application token: 403 on user resources, anything documented on the others.
    _call(api.with_token(app_token), method, template)
    if method in BODY_METHODS:
        # Malformed JSON: 400 where the handler reads the body first, else its own refusal.
        malformed = api.http.build_request(
            method,
            _concrete(template),
            content=b"{not json",
            headers={
                "Accept": MEDIA,
                "Content-Type": MEDIA,
                "Authorization": f"Bearer {api.token}",
            },
        )
        response = api.http.send(malformed)
        assert response.status_code in (400, 404, 409, 422), response.text
        api.check(malformed, response, request_too=False)


@pytest.mark.parametrize(("method", "template"), OPERATIONS)
@pytest.mark.usefixtures("client_limit_zero")
def test_rate_limit_answer_with_and_without_retry_after(
    api: Api, server: Server, method: str, template: str
) -> None:
    plain = _call(api, method, template)
    assert plain.status_code == 429
    assert plain.json()["errors"][0]["code"] == "TooManyRequestsException"
    assert "retry-after" not in plain.headers
    server.emu.config.update({"rate_limit_retry_after": True})
    told = _call(api, method, template)
    assert told.status_code == 429 and int(told.headers["retry-after"]) >= 1


@pytest.mark.parametrize(("method", "template"), OPERATIONS)
def test_server_fault_answers(api: Api, server: Server, method: str, template: str) -> None:
    for status in (500, 503):
        server.admin.put("/faults", json={"errorShare": 1.0, "errorStatus": status})
        assert _call(api, method, template).status_code == status
    server.admin.put("/faults", json={"errorShare": 0, "timeoutShare": 1.0, "timeoutSeconds": 0})
    assert _call(api, method, template).status_code == 504


def test_discriminated_subtypes_are_checked(contract: Contract) -> None:
    """openapi-core accepts these (the base schema has no `restrictions`); the walker does not."""
    from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

    schema = {"$ref": "#/components/schemas/CategoryParameterList"}
    good = {"parameters": [{"id": "1", "type": "integer", "restrictions": {"min": 1}}]}
    contract.schemas.check_discriminators(schema, good)
    wrong = {"parameters": [{"id": "1", "type": "integer", "restrictions": {"min": "one"}}]}
    with pytest.raises(ValidationError):
        contract.schemas.check_discriminators(schema, wrong)
    with pytest.raises(AssertionError):
        contract.schemas.check_discriminators(schema, {"parameters": [{"type": "decimal"}]})
