"""Account tokens: a valid access token on request (single flight across replicas), the
proactive refresh, and re-encryption under a rotated key."""

from __future__ import annotations

from datetime import timedelta

from auth import repository as repo
from auth.domain.model import (
    AccountStatus,
    TokenPair,
    needs_refresh,
)
from auth.handlers.common import (
    AccountNotFound,
    AllegroRefused,
    Auth,
    TokensUnavailable,
    now,
    unit_of_work_on,
)
from shared.allegro import AllegroError, OAuthError
from shared.events import AccountRefreshFailed
from shared.logs import get_logger

log = get_logger(__name__)

# A forced refresh within this long of the last one returns that one: another caller (maybe on
# another replica) has just refreshed, and refreshing again would only burn a refresh token.
RECENT_REFRESH = timedelta(seconds=30)

# --- tokens --------------------------------------------------------------------------------------


async def access_token(auth: Auth, account_id: str, *, force: bool = False) -> TokenPair:
    """A valid access token, refreshed if it is near expiry (or if `force`).

    Single flight across replicas: the refresh happens under the token row's lock, and the new
    pair is committed before anyone gets it. Allegro's refresh tokens are single-use, so two
    refreshers racing without the lock would lose the chain.
    """
    failure: TokensUnavailable | None = None
    async with auth.units.engine.begin() as conn:
        account = await repo.get_account(conn, account_id)
        if account is None:
            raise AccountNotFound(account_id)
        row = await repo.tokens_for_update(conn, account_id)
        if row is None or account["status"] != AccountStatus.CONNECTED:
            raise TokensUnavailable(account["status"], account["status_reason"])
        current = TokenPair(
            access_token=auth.cipher.decrypt(row["access_token"]),
            refresh_token=auth.cipher.decrypt(row["refresh_token"]),
            access_expires_at=row["access_expires_at"],
            scope=row["scope"],
        )
        moment = now()
        ahead = timedelta(seconds=auth.settings.refresh_ahead_seconds)
        just_refreshed = moment - row["refreshed_at"] < RECENT_REFRESH
        if not needs_refresh(current.access_expires_at, moment, ahead) and (
            not force or just_refreshed
        ):
            return current
        try:
            body = await auth.allegro.oauth_token(
                {"grant_type": "refresh_token", "refresh_token": current.refresh_token},
                auth.client_secret,
            )
        except OAuthError as exc:
            if exc.error != "invalid_grant":
                raise AllegroRefused(exc.error, exc.description) from exc
            reason = f"Allegro refused the refresh token ({exc.error}): reconnect the account"
            await repo.drop_tokens(conn, account_id)
            await repo.update_account(
                conn, account_id, status=AccountStatus.REFRESH_FAILED, status_reason=reason
            )
            await unit_of_work_on(conn).emit(
                AccountRefreshFailed(account_id=account_id, alias=account["alias"], reason=reason)
            )
            log.warning("account_refresh_failed", account_id=account_id, error=exc.error)
            failure = TokensUnavailable(AccountStatus.REFRESH_FAILED, reason)
        else:
            fresh = TokenPair.from_oauth(body, moment)
            await repo.store_tokens(
                conn,
                account_id,
                access_token=auth.cipher.encrypt(fresh.access_token),
                refresh_token=auth.cipher.encrypt(fresh.refresh_token),
                access_expires_at=fresh.access_expires_at,
                scope=fresh.scope,
            )
            log.info("account_tokens_refreshed", account_id=account_id)
    if failure is not None:
        raise failure  # after the commit: the refresh_failed status and its event are kept
    return fresh


async def refresh_expiring(auth: Auth) -> int:
    before = now() + timedelta(seconds=auth.settings.refresh_ahead_seconds)
    async with auth.units.engine.connect() as conn:
        due = await repo.expiring_accounts(conn, before)
    for account_id in due:
        try:
            await access_token(auth, account_id)
        except (TokensUnavailable, AllegroRefused, AllegroError) as exc:
            log.warning("proactive_refresh_failed", account_id=account_id, error=str(exc))
    return len(due)


async def rotate_encryption(auth: Auth) -> int:
    """Re-encrypt every stored secret with the current (first) key."""
    rotated = 0
    async with auth.units.engine.begin() as conn:
        for row in await repo.tokens_for_rotation(conn):
            await repo.set_token_ciphertexts(
                conn,
                row["account_id"],
                access_token=auth.cipher.rotate(row["access_token"]),
                refresh_token=auth.cipher.rotate(row["refresh_token"]),
            )
            rotated += 1
        for attempt in await repo.pending_attempts(conn):
            values = {
                column: auth.cipher.rotate(attempt[column])
                for column in ("code_verifier", "device_code")
                if attempt[column]
            }
            if values:
                await repo.set_attempt_secrets(conn, attempt["id"], **values)
    return rotated
