"""The default account directory asks the real auth service, as catalog and pricing do."""

from __future__ import annotations

import uuid

import httpx
import pytest

from shared.accounts import AuthServiceAccounts, DirectoryUnavailable
from tests.api.conftest import Served


async def test_auth_says_which_accounts_exist(served: dict[str, Served]) -> None:
    auth = served["auth"]
    async with httpx.AsyncClient(base_url=auth.url, headers=auth.headers("operator")) as http:
        created = await http.post("/accounts", json={"alias": f"shop-{uuid.uuid4().hex[:8]}"})
        assert created.status_code == 201, created.text
    account_id = created.json()["id"]
    directory = AuthServiceAccounts(auth.url, auth.secret, "catalog")
    assert await directory.exists(account_id)
    assert not await directory.exists(f"ghost-{uuid.uuid4().hex[:6]}")
    # Any characters a path may carry: an unknown account, not a failure.
    assert not await directory.exists("ghost\x1a/me?x=1#top")
    # Known answers are kept: the account is known without asking again.
    directory.auth_url = "http://127.0.0.1:9"
    assert await directory.exists(account_id)


async def test_an_unreachable_auth_is_unavailable_not_unknown() -> None:
    directory = AuthServiceAccounts("http://127.0.0.1:9", "secret", "catalog")
    with pytest.raises(DirectoryUnavailable):
        await directory.exists("any")
