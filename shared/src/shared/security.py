"""Who is calling: operator API keys, signed operator tokens and service tokens.

Two credentials are accepted as `Authorization: Bearer ...` by every service:
- a signed token `mci1.<base64url(claims)>.<base64url(HMAC-SHA256)>`, signed with the
  platform's shared `MCI_SERVICE_TOKEN_SECRET` and verified locally (no call to auth). Services
  mint their own (role `service`); auth exchanges an operator API key for one (`POST
  /auth/tokens`). Revocation takes effect when the short-lived token expires.
- an operator API key `mcik_<id>_<secret>` itself: the service asks auth once
  (`POST /internal/api-keys/introspect`) and caches the answer for `cache_seconds`, so a
  revoked key stops working within that time without a call per request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

import httpx
import orjson
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

Role = Literal["viewer", "operator", "admin", "service"]
ROLE_RANK: dict[str, int] = {"viewer": 1, "operator": 2, "admin": 3, "service": 3}
PREFIX = "mci1"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), f"{PREFIX}.{body}".encode(), hashlib.sha256).digest())


def issue_token(secret: str, subject: str, role: Role, ttl_seconds: int = 900) -> str:
    claims = {"sub": subject, "role": role, "exp": int(time.time()) + ttl_seconds}
    body = _b64(orjson.dumps(claims))
    return f"{PREFIX}.{body}.{_sign(secret, body)}"


class InvalidToken(ValueError):
    pass


def verify_token(secret: str, token: str) -> Principal:
    try:
        prefix, body, signature = token.split(".")
    except ValueError:
        raise InvalidToken("malformed token") from None
    if prefix != PREFIX or not hmac.compare_digest(signature, _sign(secret, body)):
        raise InvalidToken("bad signature")
    claims = orjson.loads(_unb64(body))
    if claims.get("role") not in ROLE_RANK:
        raise InvalidToken("unknown role")
    if int(claims.get("exp", 0)) < time.time():
        raise InvalidToken("expired")
    return Principal(subject=str(claims["sub"]), role=claims["role"], expires_at=claims["exp"])


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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.secret = secret
        self.auth_url = auth_url.rstrip("/")
        self.service_name = service_name
        self.cache_seconds = cache_seconds
        self._transport = transport
        self._cache: dict[str, tuple[Principal | None, float]] = {}

    async def __call__(self, credential: str) -> Principal:
        if credential.startswith(PREFIX + "."):
            return verify_token(self.secret, credential)
        if credential.startswith(API_KEY_PREFIX):
            return await self._introspect(credential)
        raise InvalidToken("unknown kind of credential")

    async def _introspect(self, api_key: str) -> Principal:
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        cached = self._cache.get(digest)
        if cached is None or cached[1] < time.monotonic():
            async with httpx.AsyncClient(timeout=10, transport=self._transport) as http:
                response = await http.post(
                    f"{self.auth_url}/internal/api-keys/introspect",
                    json={"api_key": api_key},
                    headers={
                        "Authorization": "Bearer "
                        + issue_token(self.secret, self.service_name, "service", 60)
                    },
                )
            if response.status_code == 200:
                body = response.json()
                principal: Principal | None = Principal(
                    subject=body["subject"], role=body["role"], expires_at=0
                )
            elif response.status_code in (401, 404):
                principal = None
            else:
                response.raise_for_status()
                principal = None
            # Refusals are cached briefly too, so a wrong key cannot hammer auth.
            ttl = self.cache_seconds if principal else min(self.cache_seconds, 5.0)
            cached = (principal, time.monotonic() + ttl)
            self._cache[digest] = cached
        if cached[0] is None:
            raise InvalidToken("unknown or revoked API key")
        return cached[0]


_bearer = HTTPBearer(auto_error=False)


def require_role(minimum: Role) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the request carries a valid token of at least `minimum` role.

    The credential is resolved by `request.app.state.principal_resolver` (set by the runtime).
    """

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail={"code": "unauthenticated", "message": "a bearer token is required"},
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            principal: Principal = await request.app.state.principal_resolver(
                credentials.credentials
            )
        except InvalidToken as exc:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail={"code": "invalid_token", "message": str(exc)},
                headers={"WWW-Authenticate": "Bearer"},
            ) from None
        if ROLE_RANK[principal.role] < ROLE_RANK[minimum]:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail={"code": "forbidden", "message": f"requires the {minimum} role"},
            )
        return principal

    return dependency
