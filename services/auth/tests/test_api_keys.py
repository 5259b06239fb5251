"""Operator API keys: hashed, roled, revocable, accepted by every service."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from mci_testing.app import running_app
from mci_testing.fixtures import MakeDatabase
from mci_testing.ledger import MIGRATIONS as LEDGER_MIGRATIONS
from shared.security import PrincipalResolver, verify_token
from shared.service import ServiceDefinition, create_app
from shared.settings import ServiceSettings

from .conftest import AuthUnderTest


async def test_keys_are_shown_once_stored_hashed_and_carry_their_role(auth: AuthUnderTest) -> None:
    created = await auth.http.post("/api-keys", json={"name": "ops", "role": "operator"})
    assert created.status_code == 201
    key = created.json()["api_key"]
    listed = (await auth.http.get("/api-keys")).json()
    assert key not in str(listed)
    async with auth.engine.connect() as conn:
        stored = await conn.scalar(
            sa.text("SELECT secret_hash FROM api_keys WHERE id = :id"), {"id": created.json()["id"]}
        )
    assert key.split("_")[-1] not in stored

    operator = {"Authorization": f"Bearer {key}"}
    assert (
        await auth.http.post("/accounts", json={"alias": "by-op"}, headers=operator)
    ).status_code == 201
    forbidden = await auth.http.post(
        "/api-keys", json={"name": "x", "role": "admin"}, headers=operator
    )
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "forbidden"

    viewer_key = (await auth.http.post("/api-keys", json={"name": "v", "role": "viewer"})).json()
    viewer = {"Authorization": f"Bearer {viewer_key['api_key']}"}
    assert (await auth.http.get("/accounts", headers=viewer)).status_code == 200
    assert (
        await auth.http.post("/accounts", json={"alias": "v"}, headers=viewer)
    ).status_code == 403

    assert (await auth.http.delete(f"/api-keys/{created.json()['id']}")).status_code == 204
    revoked = await auth.http.get("/accounts", headers=operator)
    assert revoked.status_code == 401
    assert (
        await auth.http.get("/accounts", headers={"Authorization": "Bearer nope"})
    ).status_code == 401


async def test_an_api_key_is_exchanged_for_a_token_other_services_verify_alone(
    auth: AuthUnderTest,
) -> None:
    key = (await auth.http.post("/api-keys", json={"name": "cli", "role": "operator"})).json()
    exchanged = await auth.http.post(
        "/auth/tokens", headers={"Authorization": f"Bearer {key['api_key']}"}
    )
    assert exchanged.status_code == 200
    secret = auth.settings.service_token_secret.get_secret_value()
    principal = verify_token(secret, exchanged.json()["token"])
    assert principal.role == "operator"


async def test_another_service_accepts_an_api_key_through_introspection(
    auth: AuthUnderTest, make_database: MakeDatabase, amqp_url: str
) -> None:
    admin_key = (await auth.http.post("/api-keys", json={"name": "a", "role": "admin"})).json()
    settings = ServiceSettings(
        database_url=await make_database("other", LEDGER_MIGRATIONS), amqp_url=amqp_url
    )
    other = ServiceDefinition(
        settings=settings,
        migrations_dir=LEDGER_MIGRATIONS,
        principal_resolver=PrincipalResolver(
            settings.service_token_secret.get_secret_value(),
            "http://auth",
            "orders",  # a service auth's introspection route lets in
            cache_seconds=0.0,
            transport=httpx.ASGITransport(app=auth.http._transport.app),  # type: ignore[attr-defined]
        ),
    )
    async with running_app(create_app(other)) as http:
        headers = {"Authorization": f"Bearer {admin_key['api_key']}"}
        assert (await http.get("/admin/dlq", headers=headers)).status_code == 200
        await auth.http.delete(f"/api-keys/{admin_key['id']}")
        assert (await http.get("/admin/dlq", headers=headers)).status_code == 401


async def test_other_services_get_tokens_from_auth_and_stop_when_it_refuses(
    auth: AuthUnderTest,
) -> None:
    from shared.allegro.tokens import AccountUnavailable, AuthServiceTokens

    seller = auth.emulator.new_seller()
    account_id = await auth.new_account()
    await auth.connect(account_id, seller["login"])
    tokens = AuthServiceTokens(
        "http://auth",
        auth.settings.service_token_secret.get_secret_value(),
        "offers",
        transport=httpx.ASGITransport(app=auth.http._transport.app),  # type: ignore[attr-defined]
    )
    try:
        token = await tokens.access_token(account_id)
        assert token == await tokens.access_token(account_id)  # cached, no second call
        await auth.http.post(f"/accounts/{account_id}/reset")
        # Allegro answered 401 to the cached token: the provider asks auth again, which refuses.
        with pytest.raises(AccountUnavailable) as refused:
            await tokens.token_rejected(account_id)
        assert refused.value.status == "needs_connection"
        with pytest.raises(AccountUnavailable):
            await tokens.access_token(account_id)
    finally:
        await tokens.aclose()


async def test_key_and_account_lists_page_with_the_shared_contract(auth: AuthUnderTest) -> None:
    made = [
        (await auth.http.post("/api-keys", json={"name": f"p{i}", "role": "viewer"})).json()["id"]
        for i in range(3)
    ]
    for alias in ("page-a", "page-b", "page-c"):
        await auth.new_account(alias)
    for route, key in (("/api-keys", "id"), ("/accounts", "alias")):
        seen: list[str] = []
        after: str | None = None
        while True:
            params = {"limit": "2"} | ({} if after is None else {"after": after})
            page = (await auth.http.get(route, params=params)).json()
            assert len(page["items"]) <= 2
            seen += [item[key] for item in page["items"]]
            after = page["next"]
            if after is None:
                break
        assert len(seen) == len(set(seen)), "no item on two pages"
        expected = made if key == "id" else ["page-a", "page-b", "page-c"]
        assert [s for s in seen if s in expected] == expected
    bad = await auth.http.get("/api-keys", params={"after": "not-a-cursor"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_cursor"
