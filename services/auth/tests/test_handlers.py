"""auth's handlers on a fake unit of work: the fast unit tier (no PostgreSQL, no Allegro).

The same handlers run on the real database and the emulator in the other test modules; here
each use case's decisions are checked in milliseconds.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from auth import handlers
from auth.domain import commands as c
from auth.domain.model import AttemptStatus, InvalidInput
from auth.repository import AuthRepository
from mci_testing.fake_uow import FakeUnitOfWork
from shared.allegro import OAuthError
from shared.errors import NotFound
from shared.events import AccountConnected, AccountDisconnected, AccountRefreshFailed
from shared.pagination import PageRequest

from .fakes import FakeAuthRepository


@pytest.fixture
def store() -> FakeAuthRepository:
    return FakeAuthRepository()


@pytest.fixture
def uow(store: FakeAuthRepository) -> FakeUnitOfWork:
    return FakeUnitOfWork({AuthRepository: store}, source="auth")


class TestApiKeys:
    async def test_a_key_resolves_to_its_role_until_revoked(self, uow: FakeUnitOfWork) -> None:
        created = await handlers.create_api_key(c.CreateApiKey("ops", "operator"), uow)
        principal = await handlers.resolve_api_key(c.ResolveApiKey(created["api_key"]), uow)
        assert principal is not None and principal.role == "operator"
        forged = created["api_key"][:-1] + ("x" if created["api_key"][-1] != "x" else "y")
        assert await handlers.resolve_api_key(c.ResolveApiKey(forged), uow) is None

        await handlers.revoke_api_key(c.RevokeApiKey(created["id"]), uow)
        assert await handlers.resolve_api_key(c.ResolveApiKey(created["api_key"]), uow) is None
        with pytest.raises(NotFound):
            await handlers.revoke_api_key(c.RevokeApiKey(created["id"]), uow)

    async def test_the_bootstrap_name_is_reserved(self, uow: FakeUnitOfWork) -> None:
        with pytest.raises(InvalidInput) as refused:
            await handlers.create_api_key(c.CreateApiKey(" bootstrap ", "admin"), uow)
        assert refused.value.code == "reserved_name"


class TestAccounts:
    async def test_lists_page_by_alias(
        self, uow: FakeUnitOfWork, store: FakeAuthRepository
    ) -> None:
        for alias in ("c", "a", "b"):
            store.add_account(alias.upper(), alias)
        first = await handlers.list_accounts(c.ListAccounts(PageRequest(limit=2)), uow)
        assert [a["alias"] for a in first.items] == ["a", "b"] and first.next == "b"
        rest = await handlers.list_accounts(c.ListAccounts(PageRequest("b", 2)), uow)
        assert [a["alias"] for a in rest.items] == ["c"] and rest.next is None

    async def test_a_reset_forgets_the_seller_and_announces_it(
        self, uow: FakeUnitOfWork, store: FakeAuthRepository
    ) -> None:
        store.add_account("A", "shop", status="connected", allegro_user_id="u1")
        store.tokens["A"] = {"account_id": "A"}
        account = await handlers.reset_credentials(c.ResetCredentials("A"), uow)
        assert account["status"] == "needs_connection" and account["allegro_user_id"] is None
        assert "A" not in store.tokens
        assert [type(e) for e in uow.events] == [AccountDisconnected]

    async def test_an_unknown_account_is_a_404(self, uow: FakeUnitOfWork) -> None:
        with pytest.raises(handlers.AccountNotFound):
            await handlers.delete_account(c.DeleteAccount("nope"), uow)
        assert uow.events == []


def link(attempt_id: uuid.UUID, account_id: str, user: str) -> c.LinkAccount:
    return c.LinkAccount(
        attempt_id=attempt_id,
        account_id=account_id,
        access_token="enc-access",
        refresh_token="enc-refresh",
        access_expires_at=datetime.now(UTC) + timedelta(hours=12),
        scope="allegro:api:sale:offers:read",
        me={"id": user, "login": f"login-{user}"},
    )


class TestLinking:
    async def test_the_right_seller_is_linked_and_announced(
        self, uow: FakeUnitOfWork, store: FakeAuthRepository
    ) -> None:
        store.add_account("A", "shop")
        attempt = uuid.uuid4()
        store.attempts[attempt] = {"id": attempt, "status": AttemptStatus.PENDING}
        await handlers.link_account(link(attempt, "A", "u1"), uow)
        assert store.accounts["A"]["status"] == "connected"
        assert store.attempts[attempt]["status"] == AttemptStatus.COMPLETED
        assert [type(e) for e in uow.events] == [AccountConnected]

    async def test_a_seller_linked_elsewhere_fails_the_attempt_with_its_code(
        self, uow: FakeUnitOfWork, store: FakeAuthRepository
    ) -> None:
        store.add_account("A", "shop")
        store.add_account("B", "other", allegro_user_id="u1")
        attempt = uuid.uuid4()
        store.attempts[attempt] = {"id": attempt, "status": AttemptStatus.PENDING}
        await handlers.link_account(link(attempt, "A", "u1"), uow)
        assert store.attempts[attempt]["error_code"] == "allegro_user_already_connected"
        assert store.accounts["A"]["status"] == "needs_connection"
        assert uow.events == []

    async def test_an_attempt_finished_meanwhile_is_left_alone(
        self, uow: FakeUnitOfWork, store: FakeAuthRepository
    ) -> None:
        store.add_account("A", "shop")
        attempt = uuid.uuid4()
        store.attempts[attempt] = {"id": attempt, "status": AttemptStatus.EXPIRED}
        await handlers.link_account(link(attempt, "A", "u1"), uow)
        assert store.accounts["A"]["status"] == "needs_connection" and uow.events == []


class TestRefresh:
    def command(self, exchange: Any, force: bool = False) -> c.RefreshTokens:
        return c.RefreshTokens("A", force, timedelta(minutes=5), str, str, exchange)

    def connected(self, store: FakeAuthRepository, expires_in: timedelta) -> None:
        store.add_account("A", "shop", status="connected")
        store.tokens["A"] = {
            "account_id": "A",
            "access_token": "old-access",
            "refresh_token": "old-refresh",
            "access_expires_at": datetime.now(UTC) + expires_in,
            "scope": "s",
            "refreshed_at": datetime.now(UTC) - timedelta(hours=1),
        }

    async def test_a_fresh_token_is_returned_without_asking_allegro(
        self, uow: FakeUnitOfWork, store: FakeAuthRepository
    ) -> None:
        self.connected(store, timedelta(hours=6))

        async def never(refresh_token: str) -> dict[str, Any]:
            raise AssertionError("Allegro asked for a fresh token")

        done = await handlers.refresh_under_lock(self.command(never), uow)
        assert done.pair is not None and done.pair.access_token == "old-access"

    async def test_a_refused_refresh_token_marks_the_account_and_announces_it(
        self, uow: FakeUnitOfWork, store: FakeAuthRepository
    ) -> None:
        self.connected(store, timedelta(minutes=1))

        async def refuse(refresh_token: str) -> dict[str, Any]:
            assert refresh_token == "old-refresh"
            raise OAuthError(400, "invalid_grant", "used")

        done = await handlers.refresh_under_lock(self.command(refuse), uow)
        assert done.failure is not None and done.failure.code == "refresh_failed"
        assert store.accounts["A"]["status"] == "refresh_failed" and "A" not in store.tokens
        assert [type(e) for e in uow.events] == [AccountRefreshFailed]
