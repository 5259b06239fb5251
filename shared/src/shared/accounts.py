"""Which Allegro accounts exist, for services that keep data per account (catalog, pricing).

auth owns the accounts; the other services keep no copy of the list. A route under
`/accounts/{account_id}` takes the id through `KnownAccount`, which asks the service's
`AccountDirectory` (by default auth's `GET /internal/accounts/{id}` with a service token,
cached) and
answers 404 `unknown_account` for an id auth does not know, on reads and writes alike.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Annotated, Protocol
from urllib.parse import quote

import httpx
from fastapi import Depends, HTTPException, Path, Request

from shared.security import issue_service_token

ACCOUNT_ID_MAX_LENGTH = 100


class AccountDirectory(Protocol):
    async def exists(self, account_id: str) -> bool: ...


class DirectoryUnavailable(Exception):
    pass


class AuthServiceAccounts:
    """Asks auth; an account seen stays known for `cache_seconds`, an unknown one briefly."""

    def __init__(
        self,
        auth_url: str,
        service_secret: str,
        service_name: str,
        *,
        cache_seconds: float = 300.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.auth_url = auth_url.rstrip("/")
        self.service_secret = service_secret
        self.service_name = service_name
        self.cache_seconds = cache_seconds
        self._transport = transport
        self._cache: dict[str, tuple[bool, float]] = {}

    async def exists(self, account_id: str) -> bool:
        cached = self._cache.get(account_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        token = issue_service_token(self.service_secret, self.service_name, 60)
        try:
            async with httpx.AsyncClient(timeout=10, transport=self._transport) as http:
                response = await http.get(
                    # Quoted: an id with "/", "?" or control characters names no other route.
                    f"{self.auth_url}/internal/accounts/{quote(account_id, safe='')}",
                    headers={"Authorization": f"Bearer {token}"},
                )
        except httpx.HTTPError as exc:
            raise DirectoryUnavailable(f"auth is unreachable: {type(exc).__name__}") from None
        if response.status_code not in (200, 404):
            raise DirectoryUnavailable(f"auth answered {response.status_code}")
        known = response.status_code == 200
        # A deleted account may linger for cache_seconds; a new one is seen within seconds.
        ttl = self.cache_seconds if known else min(self.cache_seconds, 5.0)
        self._cache[account_id] = (known, time.monotonic() + ttl)
        return known


class StaticAccounts:
    """A fixed (or growing) set of accounts: for tests and scripts without auth."""

    def __init__(self, account_ids: Iterable[str] = ()) -> None:
        self.account_ids = set(account_ids)

    def add(self, account_id: str) -> str:
        self.account_ids.add(account_id)
        return account_id

    async def exists(self, account_id: str) -> bool:
        return account_id in self.account_ids


def account_directory(
    given: AccountDirectory | None, known_accounts: Iterable[str] | None
) -> AccountDirectory | None:
    """The directory a service's `build()` hands its definition: the one given (tests), else
    the fixed list of its `<NAME>_KNOWN_ACCOUNTS` setting (benchmarks and scripts without auth),
    else None, and `create_app` asks auth."""
    if given is not None:
        return given
    return None if known_accounts is None else StaticAccounts(known_accounts)


async def known_account(
    request: Request,
    account_id: Annotated[str, Path(min_length=1, max_length=ACCOUNT_ID_MAX_LENGTH)],
) -> str:
    """The path's account id, once the service's directory knows it (404 otherwise).

    Declare it after the route's role dependency: an anonymous caller learns nothing about
    which accounts exist.
    """
    return await ensure_known(request, account_id)


async def ensure_known(request: Request, account_id: str) -> str:
    """`account_id` if the service's directory knows it; 404 `unknown_account` if not."""
    directory: AccountDirectory = request.app.state.accounts
    try:
        known = await directory.exists(account_id)
    except DirectoryUnavailable as exc:
        raise HTTPException(
            503, detail={"code": "accounts_unavailable", "message": str(exc)}
        ) from None
    if not known:
        raise HTTPException(
            404,
            detail={
                "code": "unknown_account",
                "message": f"no account {account_id}",
                "details": [{"field": "account_id", "reason": "unknown account"}],
            },
        )
    return account_id


KnownAccount = Annotated[str, Depends(known_account)]
