"""Small HTTP helpers shared by the resource modules: JSON in and out, and who is calling."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from allegro_emulator.errors import MEDIA_TYPE, AllegroError, AuthError
from allegro_emulator.state import Emulator, Json, Seller, Token


def respond(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type=MEDIA_TYPE)


def no_content() -> Response:
    return Response(status_code=204)


def emulator(request: Request) -> Emulator:
    emu: Emulator = request.app.state.emulator
    return emu


async def body_json(request: Request) -> Json:
    raw = await request.body()
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise AllegroError(400, "VALIDATION_ERROR", f"Malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AllegroError(400, "VALIDATION_ERROR", "The request body must be a JSON object")
    return data


def _token(request: Request, emu: Emulator) -> Token:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        raise AuthError(
            401, "invalid_token", "Full authentication is required to access this resource"
        )
    value = header[7:].strip()
    token = emu.world.access_tokens.get(value)
    if token is None:
        raise AuthError(401, "invalid_token", "Invalid access token")
    if token.expires_at <= emu.now():
        raise AuthError(401, "invalid_token", "Access token expired")
    emu.limiter.check_client(token.client_id, emu.now())
    return token


def caller(request: Request) -> tuple[Emulator, Token]:
    """For resources that accept an application token as well as a user token."""
    emu = emulator(request)
    return emu, _token(request, emu)


_OFFERS_PATHS = (
    "/sale/product-offers",
    "/sale/offers",
    "/sale/offer-events",
    "/sale/products",
    "/sale/images",
)


def required_scope(method: str, path: str) -> str | None:
    """The OAuth scope a user token needs for a resource, as the spec's `security` lists it
    (tests/test_zz_contract_coverage.py checks this against the spec)."""
    access = "read" if method == "GET" else "write"
    if path == "/me":
        return "allegro:api:profile:read"
    if path.startswith(
        (
            "/sale/shipping-rates",
            "/sale/delivery-settings",
            "/after-sales-service-conditions",
            "/sale/responsible-producers",
            "/sale/responsible-persons",
        )
    ):
        return f"allegro:api:sale:settings:{access}"
    if path.startswith("/order/carriers"):
        return None
    if path.startswith("/order/"):
        return f"allegro:api:orders:{access}"
    if "-commands" in path:
        return "allegro:api:sale:offers:write"  # even to read a command's report
    if path == "/pricing/offer-fee-preview":
        return "allegro:api:sale:offers:read"
    if path.startswith(_OFFERS_PATHS):
        return f"allegro:api:sale:offers:{access}"
    return None


def seller(request: Request, limit: str | None = None) -> tuple[Emulator, Seller]:
    """For resources that need a user (seller) token; `limit` names a per-seller rate limit."""
    emu = emulator(request)
    token = _token(request, emu)
    if token.user_id is None:
        # A client-credentials token carries no user: Allegro answers 403.
        raise AllegroError(
            403, "ACCESS_DENIED", "Access is denied", user_message="Access is denied"
        )
    user = emu.world.sellers.get(token.user_id)
    if user is None:
        raise AuthError(401, "invalid_token", "Unknown user")
    path = request.url.path[len(emu.config.rest_prefix) :]
    scope = required_scope(request.method, path)
    if scope is not None and scope not in token.scope.split():
        raise AllegroError(
            403,
            "ACCESS_DENIED",
            f"The token lacks the scope {scope}",
            user_message="Access is denied",
        )
    if limit is not None:
        emu.limiter.check(limit, user.id, emu.now())
    return emu, user


def query_list(request: Request, name: str) -> list[str]:
    return request.query_params.getlist(name)


def query_int(
    request: Request, name: str, default: int, low: int, high: int, status: int = 422
) -> int:
    """An integer query parameter within bounds; `status` is what the spec documents for a bad
    parameter on that operation (422 on most, 400 on some)."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise AllegroError(
            status, "VALIDATION_ERROR", f"{name} must be an integer", path=name
        ) from None
    if not low <= value <= high:
        raise AllegroError(
            status, "VALIDATION_ERROR", f"{name} must be between {low} and {high}", path=name
        )
    return value
