"""Account tokens: a valid access token on request (single flight across replicas), the
proactive refresh, and re-encryption under a rotated key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from auth.deps import AuthDeps
from auth.domain import commands as c
from auth.domain.model import AccountStatus, TokenPair, needs_refresh
from auth.handlers.common import AccountNotFound, AllegroRefused, TokensUnavailable, now
from auth.repository import AuthRepository
from shared.allegro import AllegroError, OAuthError
from shared.events import AccountRefreshFailed
from shared.logs import get_logger
from shared.uow import UnitOfWork

log = get_logger(__name__)

# A forced refresh within this long of the last one returns that one: another caller (maybe on
# another replica) has just refreshed, and refreshing again would only burn a refresh token.
RECENT_REFRESH = timedelta(seconds=30)


@dataclass(frozen=True)
class Refreshed:
    """What the locked refresh ends with: the pair, or why there is none (raised after the
    commit, so the refresh_failed status and its event are kept)."""

    pair: TokenPair | None = None
    failure: TokensUnavailable | None = None


async def access_token(deps: AuthDeps, account_id: str, *, force: bool = False) -> TokenPair:
    """A valid access token, refreshed if it is near expiry (or if `force`)."""

    async def exchange(refresh_token: str) -> dict[str, Any]:
        return await deps.allegro.oauth_token(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}, deps.client_secret
        )

    command = c.RefreshTokens(
        account_id,
        force,
        timedelta(seconds=deps.settings.refresh_ahead_seconds),
        deps.cipher.decrypt,
        deps.cipher.encrypt,
        exchange,
    )
    done = await deps.units.handle(refresh_under_lock, command)
    if done.failure is not None:
        raise done.failure
    assert done.pair is not None
    return done.pair


async def refresh_under_lock(command: c.RefreshTokens, uow: UnitOfWork) -> Refreshed:
    """THE ONE USE CASE THAT CALLS ALLEGRO INSIDE ITS UNIT OF WORK, on purpose.

    Single flight across replicas: the refresh happens under the token row's lock, and the new
    pair is committed before anyone gets it. Allegro's refresh tokens are single-use, so two
    refreshers racing without the lock would lose the chain; the lock is held across the
    call to Allegro so the second waits and then takes the first's pair.
    """
    repository = uow.repository(AuthRepository)
    account_id = command.account_id
    account = await repository.get_account(account_id)
    if account is None:
        raise AccountNotFound(account_id)
    row = await repository.tokens_for_update(account_id)
    if row is None or account["status"] != AccountStatus.CONNECTED:
        raise TokensUnavailable(account["status"], account["status_reason"])
    current = TokenPair(
        access_token=command.decrypt(row["access_token"]),
        refresh_token=command.decrypt(row["refresh_token"]),
        access_expires_at=row["access_expires_at"],
        scope=row["scope"],
    )
    moment = now()
    just_refreshed = moment - row["refreshed_at"] < RECENT_REFRESH
    if not needs_refresh(current.access_expires_at, moment, command.ahead) and (
        not command.force or just_refreshed
    ):
        return Refreshed(pair=current)
    try:
        body = await command.exchange(current.refresh_token)
    except OAuthError as exc:
        if exc.error != "invalid_grant":
            raise AllegroRefused(exc.error, exc.description) from exc
        reason = f"Allegro refused the refresh token ({exc.error}): reconnect the account"
        await repository.drop_tokens(account_id)
        await repository.update_account(
            account_id, status=AccountStatus.REFRESH_FAILED, status_reason=reason
        )
        await uow.emit(
            AccountRefreshFailed(account_id=account_id, alias=account["alias"], reason=reason)
        )
        log.warning("account_refresh_failed", account_id=account_id, error=exc.error)
        return Refreshed(failure=TokensUnavailable(AccountStatus.REFRESH_FAILED, reason))
    fresh = TokenPair.from_oauth(body, moment)
    await repository.store_tokens(
        account_id,
        access_token=command.encrypt(fresh.access_token),
        refresh_token=command.encrypt(fresh.refresh_token),
        access_expires_at=fresh.access_expires_at,
        scope=fresh.scope,
    )
    log.info("account_tokens_refreshed", account_id=account_id)
    return Refreshed(pair=fresh)


async def expiring_accounts(query: c.ListExpiringAccounts, uow: UnitOfWork) -> list[str]:
    return await uow.repository(AuthRepository).expiring_accounts(query.before)


async def refresh_expiring(deps: AuthDeps) -> int:
    before = now() + timedelta(seconds=deps.settings.refresh_ahead_seconds)
    due = await deps.units.read(expiring_accounts, c.ListExpiringAccounts(before))
    for account_id in due:
        try:
            await access_token(deps, account_id)
        except (TokensUnavailable, AllegroRefused, AllegroError) as exc:
            log.warning("proactive_refresh_failed", account_id=account_id, error=str(exc))
    return len(due)


async def rotate_secrets(command: c.RotateSecrets, uow: UnitOfWork) -> int:
    """Re-encrypt every stored secret with the current (first) key."""
    repository = uow.repository(AuthRepository)
    rotated = 0
    for row in await repository.tokens_for_rotation():
        await repository.set_token_ciphertexts(
            row["account_id"],
            access_token=command.rotate(row["access_token"]),
            refresh_token=command.rotate(row["refresh_token"]),
        )
        rotated += 1
    for attempt in await repository.pending_attempts():
        values = {
            column: command.rotate(attempt[column])
            for column in ("code_verifier", "device_code")
            if attempt[column]
        }
        if values:
            await repository.set_attempt_secrets(attempt["id"], **values)
    return rotated


async def rotate_encryption(deps: AuthDeps) -> int:
    return await deps.units.handle(rotate_secrets, c.RotateSecrets(deps.cipher.rotate))
