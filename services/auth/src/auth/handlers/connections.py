"""Accounts and their connection to Allegro: authorization code with PKCE, device flow."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import repository as repo
from auth.domain.model import (
    AccountStatus,
    AttemptStatus,
    Flow,
    InvalidInput,
    TokenPair,
    code_challenge,
    new_code_verifier,
    new_state,
    validate_alias,
    validate_marketplace,
)
from auth.handlers.common import (
    AccountNotFound,
    AllegroRefused,
    Auth,
    Conflict,
    now,
    unit_of_work_on,
)
from shared.allegro import AllegroError, OAuthError
from shared.events import AccountConnected, AccountDisconnected
from shared.logs import get_logger
from shared.pagination import Page, PageRequest, page_of

log = get_logger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# How long a claimed device flow is left to the replica that claimed it: longer than its calls
# to Allegro take; if that replica dies meanwhile, another polls it after this.
DEVICE_CLAIM_SECONDS = 60
# The code of an attempt whose tokens came but /me failed (the callback has answered it since
# before codes had their own column, when it was the message's prefix).
ME_FAILED = "/me"

# auth consumes no queue: the registry is empty on purpose.

# --- accounts -----------------------------------------------------------------------------------


async def create_account(auth: Auth, alias: str, base_marketplace: str) -> dict[str, Any]:
    values = {
        "id": str(uuid.uuid4()),
        "alias": validate_alias(alias),
        "base_marketplace": validate_marketplace(base_marketplace),
        "status": AccountStatus.NEEDS_CONNECTION,
    }
    try:
        async with auth.units.engine.begin() as conn:
            await repo.insert_account(conn, **values)
            account = await repo.get_account(conn, values["id"])
    except IntegrityError:
        raise Conflict(f"an account named {alias!r} exists", code="duplicate_alias") from None
    assert account is not None
    return account


async def get_account(auth: Auth, account_id: str) -> dict[str, Any]:
    async with auth.units.engine.connect() as conn:
        account = await repo.get_account(conn, account_id)
        if account is None:
            raise AccountNotFound(account_id)
        account["connection"] = await repo.latest_attempt(conn, account_id)
    return account


async def list_accounts(auth: Auth, page: PageRequest) -> Page[dict[str, Any]]:
    # Aliases are unique: the last one listed is the cursor.
    async with auth.units.engine.connect() as conn:
        found = await repo.list_accounts(conn, page.fetch, page.after)
    return page_of(found, page, lambda a: str(a["alias"]))


async def reset_credentials(auth: Auth, account_id: str) -> dict[str, Any]:
    """Forget the tokens and the linked Allegro user: the account needs a new connection."""
    async with auth.units.engine.begin() as conn:
        account = await _locked_account(conn, account_id)
        await repo.drop_tokens(conn, account_id)
        await repo.update_account(
            conn,
            account_id,
            status=AccountStatus.NEEDS_CONNECTION,
            status_reason="credentials reset by an operator",
            allegro_user_id=None,
            allegro_login=None,
            access_expires_at=None,
            connected_at=None,
        )
        await unit_of_work_on(conn).emit(_disconnected(account))
        updated = await repo.get_account(conn, account_id)
    assert updated is not None
    return updated


async def delete_account(auth: Auth, account_id: str) -> None:
    async with auth.units.engine.begin() as conn:
        account = await _locked_account(conn, account_id)
        await repo.delete_account(conn, account_id)
        await unit_of_work_on(conn).emit(_disconnected(account))


def _disconnected(account: dict[str, Any]) -> AccountDisconnected:
    return AccountDisconnected(
        account_id=account["id"],
        alias=account["alias"],
        base_marketplace=account["base_marketplace"],
        allegro_user_id=account["allegro_user_id"],
    )


async def _locked_account(conn: AsyncConnection, account_id: str) -> dict[str, Any]:
    account = await repo.get_account(conn, account_id, lock=True)
    if account is None:
        raise AccountNotFound(account_id)
    return account


# --- connecting: authorization code with PKCE ---------------------------------------------------


async def start_authorization_code(
    auth: Auth, account_id: str, redirect_uri: str | None = None
) -> dict[str, Any]:
    redirect = redirect_uri or auth.settings.oauth_redirect_uri
    # Allegro sends the seller, and the authorization code, wherever this says: only ours.
    if redirect not in auth.settings.redirect_uris:
        raise InvalidInput(
            "redirect_uri_not_allowed",
            "redirect_uri is not one of the configured redirect URIs"
            " (AUTH_OAUTH_REDIRECT_URI, AUTH_OAUTH_ALLOWED_REDIRECT_URIS)",
            "redirect_uri",
        )
    verifier, state = new_code_verifier(), new_state()
    expires_at = now() + timedelta(seconds=auth.settings.authorization_attempt_seconds)
    async with auth.units.engine.begin() as conn:
        await _locked_account(conn, account_id)
        await repo.add_attempt(
            conn,
            account_id=account_id,
            flow=Flow.AUTHORIZATION_CODE,
            state=state,
            redirect_uri=redirect,
            code_verifier=auth.cipher.encrypt(verifier),
            expires_at=expires_at,
        )
    url = auth.allegro.authorize_url(
        {
            "response_type": "code",
            "client_id": auth.settings.allegro_client_id,
            "redirect_uri": redirect,
            "code_challenge_method": "S256",
            "code_challenge": code_challenge(verifier),
            "state": state,
        }
    )
    return {"authorize_url": url, "state": state, "expires_at": expires_at}


async def complete_authorization_code(
    auth: Auth, state: str, code: str | None, error: str | None = None
) -> dict[str, Any]:
    """Allegro's redirect back: exchange the code, read /me, store the tokens."""
    async with auth.units.engine.begin() as conn:
        attempt = await repo.attempt_by_state(conn, state)
        if attempt is None or attempt["flow"] != Flow.AUTHORIZATION_CODE:
            raise InvalidInput(
                "invalid_state", "no connection was started with this state", "state"
            )
        if attempt["status"] != AttemptStatus.PENDING:
            raise InvalidInput("invalid_state", f"this connection is {attempt['status']}", "state")
        if attempt["expires_at"] < now():
            await repo.finish_attempt(conn, attempt["id"], AttemptStatus.EXPIRED)
            raise InvalidInput("expired_state", "this connection attempt expired", "state")
        if error or not code:
            status = AttemptStatus.DENIED if error == "access_denied" else AttemptStatus.FAILED
            reason = error or "no code"
            await repo.finish_attempt(conn, attempt["id"], status, reason, code=reason)
            return await _account_or_fail(conn, attempt["account_id"])
        verifier = auth.cipher.decrypt(attempt["code_verifier"])
        try:
            body = await auth.allegro.oauth_token(
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": attempt["redirect_uri"],
                    "code_verifier": verifier,
                },
                auth.client_secret,
            )
        except OAuthError as exc:
            await repo.finish_attempt(
                conn, attempt["id"], AttemptStatus.FAILED, exc.error, code=exc.error
            )
            return await _account_or_fail(conn, attempt["account_id"])
        await _connect(auth, conn, attempt, body)
        return await _account_or_fail(conn, attempt["account_id"])


async def _account_or_fail(conn: AsyncConnection, account_id: str) -> dict[str, Any]:
    account = await repo.get_account(conn, account_id)
    if account is None:
        raise AccountNotFound(account_id)
    account["connection"] = await repo.latest_attempt(conn, account_id)
    return account


# --- connecting: device flow ---------------------------------------------------------------------


async def start_device_flow(auth: Auth, account_id: str) -> dict[str, Any]:
    async with auth.units.engine.connect() as conn:
        if await repo.get_account(conn, account_id) is None:
            raise AccountNotFound(account_id)
    try:
        body = await auth.allegro.oauth_device(
            {"client_id": auth.settings.allegro_client_id}, auth.client_secret
        )
    except OAuthError as exc:
        raise AllegroRefused(exc.error, exc.description) from exc
    interval = int(body.get("interval", 5))
    started = now()
    async with auth.units.engine.begin() as conn:
        await _locked_account(conn, account_id)
        await repo.add_attempt(
            conn,
            account_id=account_id,
            flow=Flow.DEVICE,
            device_code=auth.cipher.encrypt(str(body["device_code"])),
            user_code=body["user_code"],
            verification_uri=body.get("verification_uri"),
            verification_uri_complete=body.get("verification_uri_complete"),
            poll_interval=interval,
            next_poll_at=started + timedelta(seconds=interval),
            expires_at=started + timedelta(seconds=int(body.get("expires_in", 3600))),
        )
    return {
        "user_code": body["user_code"],
        "verification_uri": body.get("verification_uri"),
        "verification_uri_complete": body.get("verification_uri_complete"),
        "interval": interval,
        "expires_at": started + timedelta(seconds=int(body.get("expires_in", 3600))),
    }


async def poll_device_flows(auth: Auth) -> int:
    """Ask Allegro about every pending device flow whose poll is due (any replica may run it).

    No transaction is open while Allegro answers (up to 20 calls, each two for a connection):
    the due attempts are claimed in one short transaction that moves their next poll past the
    calls (other replicas skip them), Allegro is asked outside it, and each outcome is written
    in its own short transaction, if the attempt is still pending then.
    """
    async with auth.units.engine.begin() as conn:
        due = await repo.claim_due_device_attempts(conn, DEVICE_CLAIM_SECONDS)
    for attempt in due:
        await _poll_one(auth, attempt)
    return len(due)


async def _poll_one(auth: Auth, attempt: dict[str, Any]) -> None:
    if attempt["expires_at"] < now():
        async with auth.units.engine.begin() as conn:
            if await repo.pending_attempt_for_update(conn, attempt["id"]):
                await repo.finish_attempt(
                    conn,
                    attempt["id"],
                    AttemptStatus.EXPIRED,
                    "expired_token",
                    code="expired_token",
                )
        return
    try:
        body = await auth.allegro.oauth_token(
            {
                "grant_type": DEVICE_GRANT,
                "device_code": auth.cipher.decrypt(attempt["device_code"]),
            },
            auth.client_secret,
        )
    except OAuthError as exc:
        async with auth.units.engine.begin() as conn:
            if not await repo.pending_attempt_for_update(conn, attempt["id"]):
                return
            interval = int(attempt["poll_interval"] or 5)
            if exc.error in ("authorization_pending", "slow_down"):
                if exc.error == "slow_down":
                    interval += 5  # RFC 8628 section 3.5
                await repo.schedule_poll(conn, attempt["id"], interval)
                return
            outcome = {
                "access_denied": AttemptStatus.DENIED,
                "expired_token": AttemptStatus.EXPIRED,
            }.get(exc.error, AttemptStatus.FAILED)
            await repo.finish_attempt(conn, attempt["id"], outcome, exc.error, code=exc.error)
        log.info("device_flow_finished", account_id=attempt["account_id"], outcome=outcome)
        return
    pair, me, failure = await _identify(auth, body)
    async with auth.units.engine.begin() as conn:
        if not await repo.pending_attempt_for_update(conn, attempt["id"]):
            return
        if me is None:
            await repo.finish_attempt(
                conn, attempt["id"], AttemptStatus.FAILED, failure, code=ME_FAILED
            )
            return
        await _link(auth, conn, attempt, pair, me)


async def _connect(
    auth: Auth, conn: AsyncConnection, attempt: dict[str, Any], token_body: dict[str, Any]
) -> None:
    """Tokens in hand: read /me, check it is the right seller, store, announce."""
    pair, me, failure = await _identify(auth, token_body)
    if me is None:
        await repo.finish_attempt(
            conn, attempt["id"], AttemptStatus.FAILED, failure, code=ME_FAILED
        )
        return
    await _link(auth, conn, attempt, pair, me)


async def _identify(
    auth: Auth, token_body: dict[str, Any]
) -> tuple[TokenPair, dict[str, Any] | None, str | None]:
    """The token pair and the Allegro user it belongs to (`/me`), or why it is unknown."""
    pair = TokenPair.from_oauth(token_body, now())
    try:
        me = await auth.allegro.get("/me", token=pair.access_token)
    except AllegroError as exc:
        return pair, None, f"/me: {exc}"
    return pair, me, None


async def _link(
    auth: Auth,
    conn: AsyncConnection,
    attempt: dict[str, Any],
    pair: TokenPair,
    me: dict[str, Any],
) -> None:
    """Check it is the right seller, store the tokens, announce (no Allegro call here)."""
    account_id = attempt["account_id"]
    account = await _locked_account(conn, account_id)
    user_id = str(me["id"])
    if account["allegro_user_id"] and account["allegro_user_id"] != user_id:
        await repo.finish_attempt(
            conn,
            attempt["id"],
            AttemptStatus.FAILED,
            f"account_user_mismatch: this account is linked to Allegro user "
            f"{account['allegro_login']}; reset its credentials to link another",
            code="account_user_mismatch",
        )
        return
    other = await repo.alias_linked_to(conn, user_id, besides=account_id)
    if other is not None:
        await repo.finish_attempt(
            conn,
            attempt["id"],
            AttemptStatus.FAILED,
            f"allegro_user_already_connected: Allegro user {me.get('login')} is account {other}",
            code="allegro_user_already_connected",
        )
        return
    await repo.store_tokens(
        conn,
        account_id,
        access_token=auth.cipher.encrypt(pair.access_token),
        refresh_token=auth.cipher.encrypt(pair.refresh_token),
        access_expires_at=pair.access_expires_at,
        scope=pair.scope,
    )
    base = (me.get("baseMarketplace") or {}).get("id") or account["base_marketplace"]
    await repo.update_account(
        conn,
        account_id,
        status=AccountStatus.CONNECTED,
        status_reason=None,
        allegro_user_id=user_id,
        allegro_login=me.get("login"),
        base_marketplace=base,
        connected_at=now(),
    )
    await repo.finish_attempt(conn, attempt["id"], AttemptStatus.COMPLETED)
    await unit_of_work_on(conn).emit(
        AccountConnected(
            account_id=account_id,
            alias=account["alias"],
            base_marketplace=base,
            allegro_user_id=user_id,
        )
    )
    log.info("account_connected", account_id=account_id, allegro_login=me.get("login"))
