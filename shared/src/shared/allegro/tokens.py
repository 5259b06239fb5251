"""Where services get an account's Allegro access token: from the auth service, cached.

auth owns the tokens (encrypted at rest, single-flight refresh). Other services ask its internal
endpoint `GET /internal/accounts/{account_id}/access-token` with a service token, and keep the
answer until shortly before it expires. An account auth cannot serve (not connected, refresh
failed) raises AccountUnavailable: callers stop calling Allegro for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

import httpx

from shared.security import issue_service_token


class AccountUnavailable(Exception):
    """The account has no usable Allegro token (needs_connection, refresh_failed, unknown)."""

    def __init__(self, account_id: str, status: str, reason: str = "") -> None:
        self.account_id = account_id
        self.status = status
        self.reason = reason
        super().__init__(f"account {account_id}: {status} {reason}".strip())


class AuthServiceTokens:
    """TokenProvider backed by the auth service."""

    def __init__(
        self,
        auth_url: str,
        service_secret: str,
        service_name: str,
        *,
        margin_seconds: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.auth_url = auth_url.rstrip("/")
        self.service_secret = service_secret
        self.service_name = service_name
        self.margin_seconds = margin_seconds
        self._http = httpx.AsyncClient(timeout=30, transport=transport)
        self._cache: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def access_token(self, account_id: str) -> str:
        cached = self._cache.get(account_id)
        if cached and cached[1] - time.time() > self.margin_seconds:
            return cached[0]
        async with self._locks.setdefault(account_id, asyncio.Lock()):
            cached = self._cache.get(account_id)
            if cached and cached[1] - time.time() > self.margin_seconds:
                return cached[0]
            return await self._fetch(account_id, force_refresh=False)

    async def token_rejected(self, account_id: str) -> None:
        self._cache.pop(account_id, None)
        async with self._locks.setdefault(account_id, asyncio.Lock()):
            await self._fetch(account_id, force_refresh=True)

    async def _fetch(self, account_id: str, *, force_refresh: bool) -> str:
        service_token = issue_service_token(self.service_secret, self.service_name)
        response = await self._http.get(
            f"{self.auth_url}/internal/accounts/{account_id}/access-token",
            params={"force_refresh": "true"} if force_refresh else None,
            headers={"Authorization": f"Bearer {service_token}"},
        )
        if response.status_code in (404, 409):
            error = response.json().get("error", {})
            raise AccountUnavailable(
                account_id, error.get("code", "unavailable"), error.get("message", "")
            )
        response.raise_for_status()
        body = response.json()
        token, expires_at = str(body["access_token"]), float(body["expires_at_epoch"])
        self._cache[account_id] = (token, expires_at)
        return token

    async def aclose(self) -> None:
        await self._http.aclose()


class StaticTokens:
    """A fixed token per account: for scripts and tests that mint tokens themselves."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self.tokens = dict(tokens)

    async def access_token(self, account_id: str) -> str:
        try:
            return self.tokens[account_id]
        except KeyError:
            raise AccountUnavailable(account_id, "unknown") from None

    async def token_rejected(self, account_id: str) -> None:
        return None
