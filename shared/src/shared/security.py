"""Who is calling: operator API keys, signed operator tokens and service tokens.

Three credentials are accepted as `Authorization: Bearer ...`:
- an operator token `mci1.<base64url(claims)>.<base64url(HMAC-SHA256)>` with a role (viewer <
  operator < admin), signed with the platform's shared `MCI_SERVICE_TOKEN_SECRET` and verified
  locally (no call to auth). auth exchanges an operator API key for one (`POST /auth/tokens`).
  Revocation takes effect when the short-lived token expires.
- an operator API key `mcik_<id>_<secret>` itself: the service asks auth once
  (`POST /internal/api-keys/introspect`) and caches the answer for `cache_seconds`, so a
  revoked key stops working within that time without a call per request.
- a service token `mcisvc1.<claims>.<HMAC>`: a different kind of credential, naming the calling
  service and valid for at most `SERVICE_TOKEN_MAX_TTL_SECONDS`. Only a service token passes
  `require_service` (the internal routes); it passes no operator role check, and no operator
  credential, however high its role, passes `require_service`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

import httpx
import orjson
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

OperatorRole = Literal["viewer", "operator", "admin"]
# "service" is not an operator role: it is the role of a principal made from a service token.
Role = Literal["viewer", "operator", "admin", "service"]
# Each operator role outranks the ones before it.
ROLE_RANK: dict[str, int] = {role: n for n, role in enumerate(get_args(OperatorRole), 1)}
# What an internal route requires: a service token (not an operator role, ranked apart).
SERVICE_ROLE = "service"
PREFIX = "mci1"
SERVICE_PREFIX = "mcisvc1"
SERVICE_TOKEN_MAX_TTL_SECONDS = 300
# Tolerated clock difference between the service that signs and the one that verifies.
CLOCK_SKEW_SECONDS = 30
# What a caller is told to wait when auth cannot answer an introspection.
AUTH_RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    expires_at: int

    @property
    def is_service(self) -> bool:
        return self.role == "service"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, prefix: str, body: str) -> str:
    # The prefix is signed too: an operator token can never pass as a service token.
    return _b64(hmac.new(secret.encode(), f"{prefix}.{body}".encode(), hashlib.sha256).digest())


def _seal(secret: str, prefix: str, claims: dict[str, Any]) -> str:
    body = _b64(orjson.dumps(claims))
    return f"{prefix}.{body}.{_sign(secret, prefix, body)}"


def issue_token(secret: str, subject: str, role: OperatorRole, ttl_seconds: int = 900) -> str:
    """An operator token carrying `role` (what `POST /auth/tokens` hands out)."""
    if role not in ROLE_RANK:
        raise ValueError(f"{role!r} is not an operator role (service tokens: issue_service_token)")
    claims = {"sub": subject, "role": role, "exp": int(time.time()) + ttl_seconds}
    return _seal(secret, PREFIX, claims)


def issue_service_token(
    secret: str, service: str, ttl_seconds: int = SERVICE_TOKEN_MAX_TTL_SECONDS
) -> str:
    """A token naming the calling `service`, for another service's internal routes."""
    if not 0 < ttl_seconds <= SERVICE_TOKEN_MAX_TTL_SECONDS:
        raise ValueError(f"a service token lives 1..{SERVICE_TOKEN_MAX_TTL_SECONDS} s")
    now = int(time.time())
    return _seal(secret, SERVICE_PREFIX, {"svc": service, "iat": now, "exp": now + ttl_seconds})


class InvalidToken(ValueError):
    pass


class AuthUnavailable(RuntimeError):
    """auth could not say whether an API key is valid (unreachable, timed out, 5xx)."""


def is_signed_token(credential: str) -> bool:
    return credential.startswith((PREFIX + ".", SERVICE_PREFIX + "."))


def _claims(secret: str, token: str) -> tuple[str, dict[str, Any]]:
    if not token.isascii():
        raise InvalidToken("malformed token")
    try:
        prefix, body, signature = token.split(".")
    except ValueError:
        raise InvalidToken("malformed token") from None
    if prefix not in (PREFIX, SERVICE_PREFIX) or not hmac.compare_digest(
        signature, _sign(secret, prefix, body)
    ):
        raise InvalidToken("bad signature")
    try:
        claims = orjson.loads(_unb64(body))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        raise InvalidToken("malformed token") from None
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
        raise InvalidToken("malformed token")
    if claims["exp"] < time.time():
        raise InvalidToken("expired")
    return prefix, claims


def verify_token(secret: str, token: str) -> Principal:
    """The principal of a signed operator or service token; InvalidToken if it is not one."""
    prefix, claims = _claims(secret, token)
    if prefix == SERVICE_PREFIX:
        service, issued = claims.get("svc"), claims.get("iat")
        if not isinstance(service, str) or not service or not isinstance(issued, int):
            raise InvalidToken("malformed token")
        if issued > time.time() + CLOCK_SKEW_SECONDS:
            raise InvalidToken("issued in the future")
        if claims["exp"] - issued > SERVICE_TOKEN_MAX_TTL_SECONDS:
            raise InvalidToken("a service token may live at most 300 s")
        return Principal(subject=service, role="service", expires_at=claims["exp"])
    role, subject = claims.get("role"), claims.get("sub")
    if role not in ROLE_RANK:
        raise InvalidToken("unknown role")
    if not isinstance(subject, str):
        raise InvalidToken("malformed token")
    return Principal(subject=subject, role=role, expires_at=claims["exp"])


API_KEY_PREFIX = "mcik_"


class PrincipalResolver:
    """Turns a bearer credential into a Principal (the default of every service but auth)."""

    def __init__(
        self,
        secret: str,
        auth_url: str,
        service_name: str,
        *,
        cache_seconds: float = 60.0,
        timeout_seconds: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.secret = secret
        self.auth_url = auth_url.rstrip("/")
        self.service_name = service_name
        self.cache_seconds = cache_seconds
        self.timeout_seconds = timeout_seconds
        self._transport = transport
        self._cache: dict[str, tuple[Principal | None, float]] = {}

    async def __call__(self, credential: str) -> Principal:
        if is_signed_token(credential):
            return verify_token(self.secret, credential)
        if credential.startswith(API_KEY_PREFIX):
            return await self._introspect(credential)
        raise InvalidToken("unknown kind of credential")

    async def _introspect(self, api_key: str) -> Principal:
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        cached = self._cache.get(digest)
        if cached is None or cached[1] < time.monotonic():
            principal = await self._ask_auth(api_key)
            # Refusals are cached briefly too, so a wrong key cannot hammer auth.
            ttl = self.cache_seconds if principal else min(self.cache_seconds, 5.0)
            cached = (principal, time.monotonic() + ttl)
            self._cache[digest] = cached
        if cached[0] is None:
            raise InvalidToken("unknown or revoked API key")
        return cached[0]

    async def _ask_auth(self, api_key: str) -> Principal | None:
        """auth's answer; AuthUnavailable (never cached) when there is none."""
        token = issue_service_token(self.secret, self.service_name, 60)
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout_seconds, transport=self._transport
            ) as http:
                response = await http.post(
                    f"{self.auth_url}/internal/api-keys/introspect",
                    json={"api_key": api_key},
                    headers={"Authorization": f"Bearer {token}"},
                )
        except httpx.HTTPError as exc:
            raise AuthUnavailable(f"auth is unreachable: {type(exc).__name__}") from None
        if response.status_code in (401, 404):
            return None
        if response.status_code != 200:
            # 5xx, or auth refusing this service (403): either way no answer about the key.
            raise AuthUnavailable(f"auth answered {response.status_code} to the introspection")
        try:
            body = response.json()
            role = body["role"]
            subject = str(body["subject"])
        except (ValueError, KeyError, TypeError):
            raise AuthUnavailable("auth's introspection answer is malformed") from None
        if role not in ROLE_RANK:
            return None
        return Principal(subject=subject, role=role, expires_at=0)


_bearer = HTTPBearer(auto_error=False)


def _unauthenticated(code: str, message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail={"code": code, "message": message},
        headers={"WWW-Authenticate": "Bearer"},
    )


def _forbidden(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_403_FORBIDDEN, detail={"code": "forbidden", "message": message}
    )


async def _principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    if credentials is None:
        raise _unauthenticated("unauthenticated", "a bearer token is required")
    credential = credentials.credentials
    # Headers arrive as latin-1; a credential is ASCII, and anything else is simply not one.
    if not credential.isascii():
        raise _unauthenticated("invalid_token", "the bearer token is not ASCII")
    try:
        principal: Principal = await request.app.state.principal_resolver(credential)
    except InvalidToken as exc:
        raise _unauthenticated("invalid_token", str(exc)) from None
    except AuthUnavailable as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail={
                "code": "auth_unavailable",
                "message": f"the API key cannot be checked now: {exc}",
            },
            headers={"Retry-After": str(AUTH_RETRY_AFTER_SECONDS)},
        ) from None
    return principal


def require_role(minimum: OperatorRole) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: an operator credential of at least the `minimum` role.

    The credential is resolved by `request.app.state.principal_resolver` (set by the runtime).
    A service token is not an operator credential: it gets 403 here.
    """

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        principal = await _principal(request, credentials)
        if principal.is_service:
            raise _forbidden(f"requires an operator credential of the {minimum} role")
        if ROLE_RANK[principal.role] < ROLE_RANK[minimum]:
            raise _forbidden(f"requires the {minimum} role")
        return principal

    dependency.required_role = minimum  # type: ignore[attr-defined]
    return dependency


def require_service(
    allowed: Collection[str] | Callable[[Any], Collection[str]],
) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: a service token naming one of the `allowed` services, given as
    names or read from the running service's settings (`lambda settings: settings.callers`),
    so a module-level route needs no settings at import.

    Operator credentials of any role get 403: internal routes serve services only.
    """
    fixed = None if callable(allowed) else frozenset(allowed)

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        principal = await _principal(request, credentials)
        if not principal.is_service:
            raise _forbidden("an internal route: requires a service token")
        names = fixed
        if names is None:
            assert callable(allowed)
            names = frozenset(allowed(request.app.state.runtime.settings))
        if principal.subject not in names:
            raise _forbidden(f"the service {principal.subject!r} may not call this route")
        return principal

    # What the OpenAPI names as the route's requirement (`x-required-role`).
    dependency.required_role = SERVICE_ROLE  # type: ignore[attr-defined]
    return dependency


_DOC_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")
_SWAGGER = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"


def protect_api_docs(app: FastAPI, environment: str) -> None:
    """Outside development, `/docs` and `/openapi.json` need a viewer credential.

    The page carries the spec inline: a browser sends the bearer with the page request only,
    so the page cannot fetch `/openapi.json` afterwards. `/redoc` is off.
    """
    if environment == "development":
        return
    app.router.routes[:] = [
        r for r in app.router.routes if getattr(r, "path", None) not in _DOC_PATHS
    ]
    viewer = [Depends(require_role("viewer"))]

    @app.get("/openapi.json", include_in_schema=False, dependencies=viewer)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=viewer)
    async def docs() -> HTMLResponse:
        # "</" escaped: no text in the spec can close the script element.
        spec = orjson.dumps(app.openapi()).decode().replace("</", "<\\/")
        title = html.escape(app.title)
        return HTMLResponse(
            f'<!doctype html><html><head><title>{title}</title><link rel="stylesheet"'
            f' href="{_SWAGGER}/swagger-ui.css"></head><body><div id="swagger-ui"></div>'
            f'<script src="{_SWAGGER}/swagger-ui-bundle.js"></script>'
            f'<script>SwaggerUIBundle({{spec: {spec}, dom_id: "#swagger-ui"}})</script>'
            "</body></html>"
        )


# The role guards every route declares, defined once (a route takes `_: Viewer` etc.).
Viewer = Annotated[Principal, Depends(require_role("viewer"))]
Operator = Annotated[Principal, Depends(require_role("operator"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]
