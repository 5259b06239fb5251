"""The auth service's HTTP surface: operators' accounts and API keys, and internal tokens.

No `from __future__ import annotations` here: FastAPI resolves the locally defined
dependency aliases at import time.
"""

from datetime import UTC, datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from auth import handlers
from auth.deps import Deps
from auth.domain import commands as c
from shared.http import error_responses
from shared.pagination import Page, PageQuery
from shared.security import (
    Admin,
    Operator,
    OperatorRole,
    Principal,
    Viewer,
    issue_token,
    require_service,
)


class NewAccount(BaseModel):
    alias: str = Field(min_length=1, max_length=64, examples=["shop-pl-1"])
    base_marketplace: str = Field(default="allegro-pl", examples=["allegro-pl"])


class AuthorizationStart(BaseModel):
    redirect_uri: str | None = Field(
        default=None, description="Where Allegro sends the seller back (default: our callback)"
    )


class NewApiKey(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: OperatorRole


class Introspection(BaseModel):
    api_key: str


def public_account(account: dict[str, Any]) -> dict[str, Any]:
    connection = account.get("connection")
    return {
        "id": account["id"],
        "alias": account["alias"],
        "base_marketplace": account["base_marketplace"],
        "status": account["status"],
        "status_reason": account["status_reason"],
        "allegro_user_id": account["allegro_user_id"],
        "allegro_login": account["allegro_login"],
        "connected_at": account["connected_at"],
        "access_expires_at": account["access_expires_at"],
        "connection": None
        if not connection
        else {
            "flow": connection["flow"],
            "status": connection["status"],
            "error": connection["error"],
            "user_code": connection["user_code"],
            "verification_uri_complete": connection["verification_uri_complete"],
            "expires_at": connection["expires_at"],
        },
    }


# What a route acting on one account may answer (shared.errors, through create_app's handler).
ACCOUNT_ERRORS = error_responses(404, 409, 502)


router = APIRouter()
# Internal routes take service tokens only, each from its own list of calling services (read
# from the running service's settings at each request).
TokenReader = Annotated[
    Principal, Depends(require_service(lambda settings: settings.access_token_callers))
]
Introspector = Annotated[
    Principal, Depends(require_service(lambda settings: settings.introspection_callers))
]
DirectoryReader = Annotated[
    Principal, Depends(require_service(lambda settings: settings.account_directory_callers))
]

# --- accounts ---------------------------------------------------------------------------


@router.post("/accounts", status_code=201, tags=["accounts"], responses=error_responses(409))
async def create_account(body: NewAccount, deps: Deps, _: Operator) -> dict[str, Any]:
    account = await deps.units.handle(
        handlers.create_account, c.CreateAccount(body.alias, body.base_marketplace)
    )
    return public_account(account)


@router.get("/accounts", tags=["accounts"], responses=error_responses(422))
async def list_accounts(deps: Deps, _: Viewer, page: PageQuery) -> Page[dict[str, Any]]:
    listed = await deps.units.read(handlers.list_accounts, c.ListAccounts(page))
    return Page[dict[str, Any]](items=[public_account(a) for a in listed.items], next=listed.next)


@router.get(
    "/accounts/oauth/callback", tags=["accounts"], responses=error_responses(400, 404, 409, 502)
)
async def oauth_callback(
    deps: Deps,
    state: Annotated[str, Query(min_length=1)],
    code: str | None = None,
    error_: Annotated[str | None, Query(alias="error")] = None,
) -> dict[str, Any]:
    """Where Allegro redirects the seller after login; the `state` authenticates it.

    200 with the connected account, or 400 with why the connection failed (Allegro's
    OAuth error, or ours); the account's `connection` keeps the outcome either way.
    """
    account = await handlers.complete_authorization_code(deps, state, code, error_)
    if account["status"] != "connected" or account["connection"]["status"] != "completed":
        connection = account["connection"]
        reason = connection["error"] or connection["status"]
        code_ = connection["error_code"] or connection["status"]
        raise handlers.ConnectionFailed(f"the account was not connected: {reason}", code=code_)
    return public_account(account)


@router.get("/accounts/{account_id}", tags=["accounts"], responses=error_responses(404))
async def get_account(account_id: str, deps: Deps, _: Viewer) -> dict[str, Any]:
    return public_account(await deps.units.read(handlers.get_account, c.GetAccount(account_id)))


@router.post(
    "/accounts/{account_id}/connect/authorization-code",
    tags=["accounts"],
    responses=ACCOUNT_ERRORS,
)
async def connect_by_login(
    account_id: str, deps: Deps, _: Operator, body: AuthorizationStart | None = None
) -> dict[str, Any]:
    redirect = body.redirect_uri if body else None
    result: dict[str, Any] = await handlers.start_authorization_code(deps, account_id, redirect)
    return result


@router.post("/accounts/{account_id}/connect/device", tags=["accounts"], responses=ACCOUNT_ERRORS)
async def connect_by_device(account_id: str, deps: Deps, _: Operator) -> dict[str, Any]:
    result: dict[str, Any] = await handlers.start_device_flow(deps, account_id)
    return result


@router.post("/accounts/{account_id}/reset", tags=["accounts"], responses=ACCOUNT_ERRORS)
async def reset(account_id: str, deps: Deps, _: Operator) -> dict[str, Any]:
    account = await deps.units.handle(handlers.reset_credentials, c.ResetCredentials(account_id))
    return public_account(account)


@router.delete(
    "/accounts/{account_id}", status_code=204, tags=["accounts"], responses=ACCOUNT_ERRORS
)
async def delete(account_id: str, deps: Deps, _: Admin) -> None:
    await deps.units.handle(handlers.delete_account, c.DeleteAccount(account_id))


# --- internal: tokens for offers, orders, catalog ----------------------------------------


@router.get(
    "/internal/accounts/{account_id}/access-token",
    tags=["internal"],
    responses=ACCOUNT_ERRORS,
)
async def internal_access_token(
    account_id: str, deps: Deps, _: TokenReader, force_refresh: bool = False
) -> dict[str, Any]:
    pair = await handlers.access_token(deps, account_id, force=force_refresh)
    return {
        "access_token": pair.access_token,
        "expires_at": pair.access_expires_at,
        "expires_at_epoch": pair.access_expires_at.timestamp(),
    }


@router.get("/internal/accounts/{account_id}", tags=["internal"], responses=error_responses(404))
async def internal_account(account_id: str, deps: Deps, _: DirectoryReader) -> dict[str, str]:
    """Whether an account exists (and its status): other services' account directory."""
    account = await deps.units.read(handlers.get_account, c.GetAccount(account_id))
    return {"id": account["id"], "status": account["status"]}


@router.post("/internal/api-keys/introspect", tags=["internal"])
async def introspect(body: Introspection, deps: Deps, _: Introspector) -> dict[str, str]:
    principal = await deps.units.read(handlers.resolve_api_key, c.ResolveApiKey(body.api_key))
    if principal is None:
        # An authentication answer, not a domain outcome.
        raise HTTPException(
            401, detail={"code": "invalid_api_key", "message": "unknown or revoked API key"}
        )
    return {"subject": principal.subject, "role": principal.role}


# --- operator API keys -------------------------------------------------------------------


@router.post("/api-keys", status_code=201, tags=["api keys"], responses=error_responses(409))
async def create_api_key(body: NewApiKey, deps: Deps, _: Admin) -> dict[str, Any]:
    """The key is shown once; only its hash is stored."""
    return await deps.units.handle(handlers.create_api_key, c.CreateApiKey(body.name, body.role))


@router.get("/api-keys", tags=["api keys"], responses=error_responses(422))
async def list_api_keys(deps: Deps, _: Admin, page: PageQuery) -> Page[dict[str, Any]]:
    return await deps.units.read(handlers.list_api_keys, c.ListApiKeys(page))


@router.delete(
    "/api-keys/{key_id}", status_code=204, tags=["api keys"], responses=error_responses(404)
)
async def revoke_api_key(key_id: str, deps: Deps, _: Admin) -> None:
    await deps.units.handle(handlers.revoke_api_key, c.RevokeApiKey(key_id))


@router.post("/auth/tokens", tags=["api keys"])
async def exchange(request: Request, deps: Deps, who: Viewer) -> dict[str, Any]:
    """A short-lived signed token for the caller's API key: verified by services locally."""
    ttl = deps.settings.operator_token_ttl_seconds
    secret = deps.settings.service_token_secret.get_secret_value()
    # Viewer (require_role) admits operator credentials only, never a service token.
    token = issue_token(secret, who.subject, cast(OperatorRole, who.role), ttl)
    expires = datetime.fromtimestamp(datetime.now(UTC).timestamp() + ttl, UTC)
    return {"token": token, "role": who.role, "expires_at": expires}


@router.post("/admin/token-keys/rotate", tags=["api keys"])
async def rotate(deps: Deps, _: Admin) -> dict[str, int]:
    """Re-encrypt stored tokens with the first key of AUTH_TOKEN_ENCRYPTION_KEYS."""
    return {"rotated": await handlers.rotate_encryption(deps)}
