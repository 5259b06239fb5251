"""Signed bearer tokens for operators and services, verified locally by every service.

The auth service issues a token for an operator API key (or a service) as
`mci1.<base64url(claims)>.<base64url(HMAC-SHA256)>`, signed with the platform's shared
`MCI_SERVICE_TOKEN_SECRET`. A service verifies the signature and expiry without calling auth on
every request; revocation takes effect when the short-lived token expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

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


_bearer = HTTPBearer(auto_error=False)


def require_role(minimum: Role) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the request carries a valid token of at least `minimum` role.

    The secret comes from `request.app.state.token_secret`, set by the service runtime.
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
            principal = verify_token(request.app.state.token_secret, credentials.credentials)
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
