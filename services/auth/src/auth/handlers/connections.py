"""Accounts and their connection to Allegro: authorization code with PKCE, device flow.

The use cases take `(message, uow)`. Connecting calls Allegro between units of work, never
inside one (no row lock waits on the network): `complete_authorization_code` and
`poll_device_flows` read in one unit, ask Allegro, and write the outcome in the next, if the
attempt is still pending then.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from auth.deps import AuthDeps
from auth.domain import commands as c
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
from auth.handlers.common import AccountNotFound, AllegroRefused, Conflict, now
from auth.repository import AuthRepository
from shared.allegro import AllegroError, OAuthError
from shared.events import AccountConnected, AccountDisconnected
from shared.logs import get_logger
from shared.pagination import Page, page_of
from shared.uow import UnitOfWork

log = get_logger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# How long a claimed device flow is left to the replica that claimed it: longer than its calls
# to Allegro take; if that replica dies meanwhile, another polls it after this.
DEVICE_CLAIM_SECONDS = 60
# The code of an attempt whose tokens came but /me failed (the callback has answered it since
# before codes had their own column, when it was the message's prefix).
ME_FAILED = "/me"

# --- accounts -----------------------------------------------------------------------------------


async def create_account(command: c.CreateAccount, uow: UnitOfWork) -> dict[str, Any]:
    repository = uow.repository(AuthRepository)
    account_id = str(uuid.uuid4())
    try:
        await repository.insert_account(
            id=account_id,
            alias=validate_alias(command.alias),
            base_marketplace=validate_marketplace(command.base_marketplace),
            status=AccountStatus.NEEDS_CONNECTION,
        )
    except IntegrityError:
        raise Conflict(
            f"an account named {command.alias!r} exists", code="duplicate_alias"
        ) from None
    account = await repository.get_account(account_id)
    assert account is not None
    return account


async def get_account(query: c.GetAccount, uow: UnitOfWork) -> dict[str, Any]:
    """The account and its latest connection attempt."""
    repository = uow.repository(AuthRepository)
    account = await repository.get_account(query.account_id)
    if account is None:
        raise AccountNotFound(query.account_id)
    account["connection"] = await repository.latest_attempt(query.account_id)
    return account


async def list_accounts(query: c.ListAccounts, uow: UnitOfWork) -> Page[dict[str, Any]]:
    # Aliases are unique: the last one listed is the cursor.
    found = await uow.repository(AuthRepository).list_accounts(query.page.fetch, query.page.after)
    return page_of(found, query.page, lambda a: str(a["alias"]))


async def reset_credentials(command: c.ResetCredentials, uow: UnitOfWork) -> dict[str, Any]:
    """Forget the tokens and the linked Allegro user: the account needs a new connection."""
    repository = uow.repository(AuthRepository)
    account = await _locked_account(repository, command.account_id)
    await repository.drop_tokens(command.account_id)
    await repository.update_account(
        command.account_id,
        status=AccountStatus.NEEDS_CONNECTION,
        status_reason="credentials reset by an operator",
        allegro_user_id=None,
        allegro_login=None,
        access_expires_at=None,
        connected_at=None,
    )
    await uow.emit(_disconnected(account))
    updated = await repository.get_account(command.account_id)
    assert updated is not None
    return updated


async def delete_account(command: c.DeleteAccount, uow: UnitOfWork) -> None:
    repository = uow.repository(AuthRepository)
    account = await _locked_account(repository, command.account_id)
    await repository.delete_account(command.account_id)
    await uow.emit(_disconnected(account))


def _disconnected(account: dict[str, Any]) -> AccountDisconnected:
    return AccountDisconnected(
        account_id=account["id"],
        alias=account["alias"],
        base_marketplace=account["base_marketplace"],
        allegro_user_id=account["allegro_user_id"],
    )


async def _locked_account(repository: AuthRepository, account_id: str) -> dict[str, Any]:
    account = await repository.get_account(account_id, lock=True)
    if account is None:
        raise AccountNotFound(account_id)
    return account


async def add_attempt(command: c.AddAttempt, uow: UnitOfWork) -> uuid.UUID:
    """A new pending attempt, under the account's lock (a deleted account gets none)."""
    repository = uow.repository(AuthRepository)
    await _locked_account(repository, command.account_id)
    return await repository.add_attempt(account_id=command.account_id, **command.values)


async def finish_attempt(command: c.FinishAttempt, uow: UnitOfWork) -> bool:
    """Finish the attempt if it is still pending (another replica may have finished it)."""
    repository = uow.repository(AuthRepository)
    if not await repository.pending_attempt_for_update(command.attempt_id):
        return False
    await repository.finish_attempt(
        command.attempt_id, command.status, command.error, code=command.code
    )
    return True


async def schedule_poll(command: c.SchedulePoll, uow: UnitOfWork) -> None:
    repository = uow.repository(AuthRepository)
    if await repository.pending_attempt_for_update(command.attempt_id):
        await repository.schedule_poll(command.attempt_id, command.interval)


async def link_account(command: c.LinkAccount, uow: UnitOfWork) -> None:
    """Check it is the right seller, store the tokens, announce (no Allegro call here); only
    while the attempt is still pending."""
    repository = uow.repository(AuthRepository)
    if not await repository.pending_attempt_for_update(command.attempt_id):
        return
    account_id, me = command.account_id, command.me
    account = await _locked_account(repository, account_id)
    user_id = str(me["id"])
    if account["allegro_user_id"] and account["allegro_user_id"] != user_id:
        await repository.finish_attempt(
            command.attempt_id,
            AttemptStatus.FAILED,
            f"account_user_mismatch: this account is linked to Allegro user "
            f"{account['allegro_login']}; reset its credentials to link another",
            code="account_user_mismatch",
        )
        return
    other = await repository.alias_linked_to(user_id, besides=account_id)
    if other is not None:
        await repository.finish_attempt(
            command.attempt_id,
            AttemptStatus.FAILED,
            f"allegro_user_already_connected: Allegro user {me.get('login')} is account {other}",
            code="allegro_user_already_connected",
        )
        return
    await repository.store_tokens(
        account_id,
        access_token=command.access_token,
        refresh_token=command.refresh_token,
        access_expires_at=command.access_expires_at,
        scope=command.scope,
    )
    base = (me.get("baseMarketplace") or {}).get("id") or account["base_marketplace"]
    await repository.update_account(
        account_id,
        status=AccountStatus.CONNECTED,
        status_reason=None,
        allegro_user_id=user_id,
        allegro_login=me.get("login"),
        base_marketplace=base,
        connected_at=now(),
    )
    await repository.finish_attempt(command.attempt_id, AttemptStatus.COMPLETED)
    await uow.emit(
        AccountConnected(
            account_id=account_id,
            alias=account["alias"],
            base_marketplace=base,
            allegro_user_id=user_id,
        )
    )
    log.info("account_connected", account_id=account_id, allegro_login=me.get("login"))


# --- connecting: authorization code with PKCE ---------------------------------------------------


async def start_authorization_code(
    deps: AuthDeps, account_id: str, redirect_uri: str | None = None
) -> dict[str, Any]:
    settings = deps.settings
    redirect = redirect_uri or settings.oauth_redirect_uri
    # Allegro sends the seller, and the authorization code, wherever this says: only ours.
    if redirect not in settings.redirect_uris:
        raise InvalidInput(
            "redirect_uri_not_allowed",
            "redirect_uri is not one of the configured redirect URIs"
            " (AUTH_OAUTH_REDIRECT_URI, AUTH_OAUTH_ALLOWED_REDIRECT_URIS)",
            "redirect_uri",
        )
    verifier, state = new_code_verifier(), new_state()
    expires_at = now() + timedelta(seconds=settings.authorization_attempt_seconds)
    attempt = {
        "flow": Flow.AUTHORIZATION_CODE,
        "state": state,
        "redirect_uri": redirect,
        "code_verifier": deps.cipher.encrypt(verifier),
        "expires_at": expires_at,
    }
    await deps.units.handle(add_attempt, c.AddAttempt(account_id, attempt))
    url = deps.allegro.authorize_url(
        {
            "response_type": "code",
            "client_id": settings.allegro_client_id,
            "redirect_uri": redirect,
            "code_challenge_method": "S256",
            "code_challenge": code_challenge(verifier),
            "state": state,
        }
    )
    return {"authorize_url": url, "state": state, "expires_at": expires_at}


async def open_callback(command: c.OpenCallback, uow: UnitOfWork) -> dict[str, Any]:
    """The pending attempt the callback's state names; finished at once if Allegro sent an
    error (or no code). The answer's `attempt` is None when nothing is left to exchange."""
    repository = uow.repository(AuthRepository)
    attempt = await repository.attempt_by_state(command.state)
    if attempt is None or attempt["flow"] != Flow.AUTHORIZATION_CODE:
        raise InvalidInput("invalid_state", "no connection was started with this state", "state")
    if attempt["status"] != AttemptStatus.PENDING:
        raise InvalidInput("invalid_state", f"this connection is {attempt['status']}", "state")
    if attempt["expires_at"] < now():
        # Raising rolls this back with the unit, as it always did: the attempt stays pending.
        await repository.finish_attempt(attempt["id"], AttemptStatus.EXPIRED)
        raise InvalidInput("expired_state", "this connection attempt expired", "state")
    if command.error or not command.code:
        status = AttemptStatus.DENIED if command.error == "access_denied" else AttemptStatus.FAILED
        reason = command.error or "no code"
        await repository.finish_attempt(attempt["id"], status, reason, code=reason)
        return {"attempt": None, "account_id": attempt["account_id"]}
    # The code is exchanged after this unit commits, without the row's lock: consuming the
    # state now is what keeps a second callback with it (a double request) from exchanging too.
    await repository.consume_state(attempt["id"])
    return {"attempt": attempt, "account_id": attempt["account_id"]}


async def complete_authorization_code(
    deps: AuthDeps, state: str, code: str | None, error: str | None = None
) -> dict[str, Any]:
    """Allegro's redirect back: exchange the code, read /me, store the tokens."""
    opened = await deps.units.handle(open_callback, c.OpenCallback(state, code, error))
    attempt = opened["attempt"]
    if attempt is not None:
        assert code is not None
        try:
            body = await deps.allegro.oauth_token(
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": attempt["redirect_uri"],
                    "code_verifier": deps.cipher.decrypt(attempt["code_verifier"]),
                },
                deps.client_secret,
            )
        except OAuthError as exc:
            await _fail(deps, attempt, AttemptStatus.FAILED, exc.error, exc.error)
        else:
            await _connect(deps, attempt, body)
    return await deps.units.read(get_account, c.GetAccount(opened["account_id"]))


async def _fail(
    deps: AuthDeps, attempt: dict[str, Any], status: AttemptStatus, error: str, code: str
) -> bool:
    return await deps.units.handle(
        finish_attempt, c.FinishAttempt(attempt["id"], attempt["account_id"], status, error, code)
    )


async def _connect(deps: AuthDeps, attempt: dict[str, Any], token_body: dict[str, Any]) -> None:
    """Tokens in hand: read /me (outside any unit), then check, store and announce in one."""
    pair = TokenPair.from_oauth(token_body, now())
    try:
        me = await deps.allegro.get("/me", token=pair.access_token)
    except AllegroError as exc:
        await _fail(deps, attempt, AttemptStatus.FAILED, f"/me: {exc}", ME_FAILED)
        return
    await deps.units.handle(
        link_account,
        c.LinkAccount(
            attempt_id=attempt["id"],
            account_id=attempt["account_id"],
            access_token=deps.cipher.encrypt(pair.access_token),
            refresh_token=deps.cipher.encrypt(pair.refresh_token),
            access_expires_at=pair.access_expires_at,
            scope=pair.scope,
            me=me,
        ),
    )


# --- connecting: device flow ---------------------------------------------------------------------


async def start_device_flow(deps: AuthDeps, account_id: str) -> dict[str, Any]:
    await deps.units.read(get_account, c.GetAccount(account_id))  # 404 before asking Allegro
    try:
        body = await deps.allegro.oauth_device(
            {"client_id": deps.settings.allegro_client_id}, deps.client_secret
        )
    except OAuthError as exc:
        raise AllegroRefused(exc.error, exc.description) from exc
    interval = int(body.get("interval", 5))
    started = now()
    expires_at = started + timedelta(seconds=int(body.get("expires_in", 3600)))
    attempt = {
        "flow": Flow.DEVICE,
        "device_code": deps.cipher.encrypt(str(body["device_code"])),
        "user_code": body["user_code"],
        "verification_uri": body.get("verification_uri"),
        "verification_uri_complete": body.get("verification_uri_complete"),
        "poll_interval": interval,
        "next_poll_at": started + timedelta(seconds=interval),
        "expires_at": expires_at,
    }
    await deps.units.handle(add_attempt, c.AddAttempt(account_id, attempt))
    return {
        "user_code": body["user_code"],
        "verification_uri": body.get("verification_uri"),
        "verification_uri_complete": body.get("verification_uri_complete"),
        "interval": interval,
        "expires_at": expires_at,
    }


async def claim_device_attempts(command: c.ClaimDeviceAttempts, uow: UnitOfWork) -> list[Any]:
    return await uow.repository(AuthRepository).claim_due_device_attempts(command.lease_seconds)


async def poll_device_flows(deps: AuthDeps) -> int:
    """Ask Allegro about every pending device flow whose poll is due (any replica may run it).

    No transaction is open while Allegro answers (up to 20 calls, each two for a connection):
    the due attempts are claimed in one short unit that moves their next poll past the calls
    (other replicas skip them), Allegro is asked outside it, and each outcome is written in
    its own short unit, if the attempt is still pending then.
    """
    due = await deps.units.handle(
        claim_device_attempts, c.ClaimDeviceAttempts(DEVICE_CLAIM_SECONDS)
    )
    for attempt in due:
        await _poll_one(deps, attempt)
    return len(due)


async def _poll_one(deps: AuthDeps, attempt: dict[str, Any]) -> None:
    if attempt["expires_at"] < now():
        await _fail(deps, attempt, AttemptStatus.EXPIRED, "expired_token", "expired_token")
        return
    try:
        body = await deps.allegro.oauth_token(
            {
                "grant_type": DEVICE_GRANT,
                "device_code": deps.cipher.decrypt(attempt["device_code"]),
            },
            deps.client_secret,
        )
    except OAuthError as exc:
        interval = int(attempt["poll_interval"] or 5)
        if exc.error in ("authorization_pending", "slow_down"):
            if exc.error == "slow_down":
                interval += 5  # RFC 8628 section 3.5
            await deps.units.handle(schedule_poll, c.SchedulePoll(attempt["id"], interval))
            return
        outcome = {
            "access_denied": AttemptStatus.DENIED,
            "expired_token": AttemptStatus.EXPIRED,
        }.get(exc.error, AttemptStatus.FAILED)
        if await _fail(deps, attempt, outcome, exc.error, exc.error):
            log.info("device_flow_finished", account_id=attempt["account_id"], outcome=outcome)
        return
    await _connect(deps, attempt, body)
