"""Connecting Allegro accounts through the emulator, end to end over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import sqlalchemy as sa

from auth import handlers
from auth.crypto import TokenCipher
from auth.settings import Settings
from mci_testing.infra import wait_until
from shared.allegro import AllegroClient
from shared.db import create_engine
from shared.uow import UnitsOfWork

from .conftest import ADMIN_KEY, AuthUnderTest


async def outbox_types(auth: AuthUnderTest) -> list[str]:
    async with auth.engine.connect() as conn:
        return list(
            (await conn.execute(sa.text("SELECT type FROM outbox ORDER BY created_at"))).scalars()
        )


async def expire_access_token(auth: AuthUnderTest, account_id: str) -> None:
    async with auth.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE account_tokens SET access_expires_at = now() - interval '1 minute',"
                " refreshed_at = now() - interval '1 hour' WHERE account_id = :id"
            ),
            {"id": account_id},
        )


async def test_login_with_pkce_connects_the_account_and_announces_it(auth: AuthUnderTest) -> None:
    seller = auth.emulator.new_seller()
    account_id = await auth.new_account("shop-login")
    account = await auth.connect(account_id, seller["login"])

    assert account["status"] == "connected"
    assert account["allegro_login"] == seller["login"]
    assert account["allegro_user_id"] == seller["id"]
    assert account["connection"]["status"] == "completed"
    assert "AccountConnected" in await outbox_types(auth)

    token = (await auth.token(account_id)).json()
    async with httpx.AsyncClient() as http:
        me = await http.get(
            f"{auth.emulator.url}/me",
            headers={
                "Authorization": f"Bearer {token['access_token']}",
                "Accept": "application/vnd.allegro.public.v1+json",
            },
        )
    assert me.json()["login"] == seller["login"]


async def test_a_callback_with_a_wrong_or_used_state_is_refused(auth: AuthUnderTest) -> None:
    callback = "/accounts/oauth/callback"
    response = await auth.http.get(callback, params={"state": "nope", "code": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_state"

    seller = auth.emulator.new_seller()
    account_id = await auth.new_account()
    await auth.connect(account_id, seller["login"])
    replay = await auth.http.get(callback, params=auth.last_callback)
    assert replay.status_code == 400, "a state only ever serves one attempt"
    assert replay.json()["error"]["code"] == "invalid_state"

    other = await auth.new_account()
    started = (await auth.http.post(f"/accounts/{other}/connect/authorization-code")).json()
    forged = await auth.http.get(callback, params={"state": started["state"], "code": "forged"})
    assert forged.status_code == 400
    assert forged.json()["error"]["code"] == "invalid_grant"
    assert (await auth.http.get(f"/accounts/{other}")).json()["status"] == "needs_connection"


async def test_a_seller_who_refuses_leaves_the_account_unconnected(auth: AuthUnderTest) -> None:
    account_id = await auth.new_account()
    started = (await auth.http.post(f"/accounts/{account_id}/connect/authorization-code")).json()
    response = await auth.http.get(
        "/accounts/oauth/callback", params={"state": started["state"], "error": "access_denied"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "access_denied"
    account = (await auth.http.get(f"/accounts/{account_id}")).json()
    assert account["status"] == "needs_connection"
    assert account["connection"]["status"] == "denied"


async def test_device_flow_connects_once_the_seller_approves(auth: AuthUnderTest) -> None:
    seller = auth.emulator.new_seller()
    account_id = await auth.new_account("shop-device")
    started = await auth.http.post(f"/accounts/{account_id}/connect/device")
    assert started.status_code == 200, started.text
    device = started.json()
    assert device["user_code"]
    assert device["verification_uri_complete"]

    async def pending() -> bool:
        account = (await auth.http.get(f"/accounts/{account_id}")).json()
        return bool(account["connection"]["status"] == "pending")

    assert await pending()
    auth.emulator.admin(
        "POST", f"/oauth/device/{device['user_code']}/approve", {"login": seller["login"]}
    )

    async def connected() -> bool:
        account = (await auth.http.get(f"/accounts/{account_id}")).json()
        return bool(account["status"] == "connected")

    await wait_until(connected, within=30)
    account = (await auth.http.get(f"/accounts/{account_id}")).json()
    assert account["allegro_login"] == seller["login"]


async def test_a_denied_device_flow_says_so(auth: AuthUnderTest) -> None:
    account_id = await auth.new_account()
    device = (await auth.http.post(f"/accounts/{account_id}/connect/device")).json()
    auth.emulator.admin("POST", f"/oauth/device/{device['user_code']}/deny", {})

    async def denied() -> bool:
        account = (await auth.http.get(f"/accounts/{account_id}")).json()
        return bool(account["connection"]["status"] == "denied")

    await wait_until(denied, within=30)
    assert (await auth.http.get(f"/accounts/{account_id}")).json()["status"] == "needs_connection"


async def test_an_expired_access_token_is_refreshed_transparently(auth: AuthUnderTest) -> None:
    seller = auth.emulator.new_seller()
    account_id = await auth.new_account()
    await auth.connect(account_id, seller["login"])
    before = (await auth.token(account_id)).json()["access_token"]
    assert (await auth.token(account_id)).json()["access_token"] == before  # still fresh

    await expire_access_token(auth, account_id)
    after = await auth.token(account_id)
    assert after.status_code == 200
    assert after.json()["access_token"] != before
    async with auth.engine.connect() as conn:
        generation = await conn.scalar(
            sa.text("SELECT generation FROM account_tokens WHERE account_id = :id"),
            {"id": account_id},
        )
    assert generation == 2


async def test_two_replicas_refreshing_at_once_never_lose_the_chain(
    auth: AuthUnderTest, make_auth: Any
) -> None:
    seller = auth.emulator.new_seller()
    account_id = await auth.new_account()
    await auth.connect(account_id, seller["login"])
    # Two replicas: each its own engine (connection pool) and Allegro client.
    replicas = [replica(make_auth()[0]) for _ in range(2)]
    for r in replicas:  # warm pools: the race must not be decided by who connects first
        async with r.units.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    # A slow token endpoint makes the two refreshes overlap for certain.
    auth.emulator.admin("PUT", "/faults", {"latencyMs": 300, "pathPrefix": "/auth/oauth/token"})
    try:
        for _ in range(3):
            await expire_access_token(auth, account_id)
            first, second = await asyncio.gather(
                *(handlers.access_token(r, account_id) for r in replicas)
            )
            # The second waited for the first's refresh and took its result.
            assert first.access_token == second.access_token
    finally:
        auth.emulator.admin("DELETE", "/faults")
        for r in replicas:
            await r.allegro.aclose()
            await r.units.engine.dispose()
    account = (await auth.http.get(f"/accounts/{account_id}")).json()
    assert account["status"] == "connected"
    async with auth.engine.connect() as conn:
        generation = await conn.scalar(
            sa.text("SELECT generation FROM account_tokens WHERE account_id = :id"),
            {"id": account_id},
        )
    assert generation == 4  # one refresh per round, never two
    assert (await auth.token(account_id)).status_code == 200


def replica(settings: Settings) -> handlers.AuthDeps:
    return handlers.AuthDeps(
        units=UnitsOfWork(create_engine(settings.database_url), "auth"),
        cipher=TokenCipher(settings.token_encryption_keys.get_secret_value(), development=False),
        allegro=AllegroClient(settings.allegro_settings()),
        settings=settings,
    )


async def test_a_revoked_refresh_token_marks_the_account_and_stops_tokens(
    auth: AuthUnderTest,
) -> None:
    seller = auth.emulator.new_seller()
    account_id = await auth.new_account()
    await auth.connect(account_id, seller["login"])
    auth.emulator.admin("POST", "/oauth/revoke", {"login": seller["login"]})
    await expire_access_token(auth, account_id)

    refused = await auth.token(account_id)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "refresh_failed"
    account = (await auth.http.get(f"/accounts/{account_id}")).json()
    assert account["status"] == "refresh_failed"
    assert "reconnect" in account["status_reason"]
    assert "AccountRefreshFailed" in await outbox_types(auth)
    again = await auth.token(account_id)
    assert again.json()["error"]["code"] == "refresh_failed", "no more calls to Allegro for it"


async def test_reset_drops_the_tokens_until_a_new_connection(auth: AuthUnderTest) -> None:
    seller = auth.emulator.new_seller()
    account_id = await auth.new_account()
    await auth.connect(account_id, seller["login"])
    reset = await auth.http.post(f"/accounts/{account_id}/reset")
    assert reset.json()["status"] == "needs_connection"
    assert reset.json()["allegro_login"] is None
    assert (await auth.token(account_id)).json()["error"]["code"] == "needs_connection"
    assert "AccountDisconnected" in await outbox_types(auth)
    other = auth.emulator.new_seller()
    assert (await auth.connect(account_id, other["login"]))["allegro_login"] == other["login"]


async def test_one_allegro_seller_cannot_back_two_accounts(auth: AuthUnderTest) -> None:
    seller = auth.emulator.new_seller()
    first, second = await auth.new_account(), await auth.new_account()
    await auth.connect(first, seller["login"])
    account = await auth.connect(second, seller["login"])
    assert account["status"] == "needs_connection"
    assert "allegro_user_already_connected" in account["connection"]["error"]


async def test_bad_input_gets_clear_4xx(auth: AuthUnderTest) -> None:
    unknown = await auth.http.post(
        "/accounts", json={"alias": "x", "base_marketplace": "allegro-de"}
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "unknown_marketplace"
    await auth.new_account("taken")
    duplicate = await auth.http.post("/accounts", json={"alias": "taken"})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "duplicate_alias"
    empty = await auth.http.post("/accounts", json={"alias": ""})
    assert empty.status_code == 422
    missing = await auth.http.get("/accounts/does-not-exist")
    assert missing.status_code == 404
    assert (await auth.token("does-not-exist")).status_code == 404


async def test_tokens_are_encrypted_at_rest_and_the_key_rotates(auth: AuthUnderTest) -> None:
    seller = auth.emulator.new_seller()
    account_id = await auth.new_account()
    await auth.connect(account_id, seller["login"])
    plain = (await auth.token(account_id)).json()["access_token"]
    async with auth.engine.connect() as conn:
        stored = await conn.scalar(
            sa.text("SELECT access_token FROM account_tokens WHERE account_id = :id"),
            {"id": account_id},
        )
    assert plain not in stored
    old_keys = auth.settings.token_encryption_keys.get_secret_value()
    assert TokenCipher(old_keys, development=False).decrypt(stored) == plain


async def test_no_token_ever_reaches_the_logs(auth: AuthUnderTest, capsys: Any) -> None:
    seller = auth.emulator.new_seller()
    account_id = await auth.new_account()
    await auth.connect(account_id, seller["login"])
    token = (await auth.token(account_id)).json()["access_token"]
    await expire_access_token(auth, account_id)
    fresh = (await auth.token(account_id)).json()["access_token"]
    async with auth.engine.connect() as conn:
        cipher = TokenCipher(
            auth.settings.token_encryption_keys.get_secret_value(), development=False
        )
        refresh = cipher.decrypt(
            await conn.scalar(
                sa.text("SELECT refresh_token FROM account_tokens WHERE account_id = :id"),
                {"id": account_id},
            )
        )
    logs = capsys.readouterr().out
    assert "account_tokens_refreshed" in logs, "the refresh was logged (without its tokens)"
    for secret in (token, fresh, refresh, ADMIN_KEY):
        assert secret not in logs


async def test_rotating_the_encryption_key_reencrypts_every_token(
    auth: AuthUnderTest, make_auth: Any
) -> None:
    from cryptography.fernet import Fernet
    from pydantic import SecretStr

    seller = auth.emulator.new_seller()
    account_id = await auth.new_account()
    await auth.connect(account_id, seller["login"])
    plain = (await auth.token(account_id)).json()["access_token"]
    old_key = auth.settings.token_encryption_keys.get_secret_value()
    new_key = Fernet.generate_key().decode()

    settings = make_auth()[0].model_copy(
        update={"token_encryption_keys": SecretStr(f"{new_key},{old_key}")}
    )
    rotated = replica(settings)
    try:
        assert await handlers.rotate_encryption(rotated) >= 1
    finally:
        await rotated.allegro.aclose()
        await rotated.units.engine.dispose()
    async with auth.engine.connect() as conn:
        stored = await conn.scalar(
            sa.text("SELECT access_token FROM account_tokens WHERE account_id = :id"),
            {"id": account_id},
        )
    assert TokenCipher(new_key, development=False).decrypt(stored) == plain
    try:
        TokenCipher(old_key, development=False).decrypt(stored)
    except ValueError:
        pass
    else:
        raise AssertionError("after rotation the old key alone must not read the tokens")


async def test_no_row_stays_locked_while_a_device_poll_waits_for_allegro(
    auth: AuthUnderTest, make_auth: Any
) -> None:
    seller = auth.emulator.new_seller()
    account_id = await auth.new_account()
    device = (await auth.http.post(f"/accounts/{account_id}/connect/device")).json()
    # Allegro answering slowly: the service's worker will be inside a poll for seconds.
    auth.emulator.admin("PUT", "/faults", {"latencyMs": 3000, "pathPrefix": "/auth/oauth/token"})
    other = replica(make_auth()[0])
    try:

        async def claimed() -> bool:
            async with auth.engine.connect() as conn:
                ahead = await conn.scalar(
                    sa.text(
                        "SELECT next_poll_at - now() > interval '30 seconds'"
                        " FROM connection_attempts WHERE account_id = :id"
                    ),
                    {"id": account_id},
                )
            return bool(ahead)

        await wait_until(claimed, within=20, interval=0.05)
        # The poll is waiting on Allegro now: its attempt and its account are not locked...
        async with auth.engine.begin() as conn:
            for table, column in (("connection_attempts", "account_id"), ("accounts", "id")):
                await conn.execute(
                    sa.text(f"SELECT 1 FROM {table} WHERE {column} = :id FOR UPDATE NOWAIT"),
                    {"id": account_id},
                )
        # ...and another replica does not poll the claimed attempt a second time.
        assert await handlers.poll_device_flows(other) == 0
    finally:
        auth.emulator.admin("DELETE", "/faults")
        await other.allegro.aclose()
        await other.units.engine.dispose()
    auth.emulator.admin(
        "POST", f"/oauth/device/{device['user_code']}/approve", {"login": seller["login"]}
    )

    async def connected() -> bool:
        account = (await auth.http.get(f"/accounts/{account_id}")).json()
        return bool(account["status"] == "connected")

    await wait_until(connected, within=30)
