"""The auth database: every statement of the service, in `sa.text` with named parameters
(docs/service-anatomy.md), on the unit of work's connection (`uow.repository(AuthRepository)`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.domain.model import AccountStatus, AttemptStatus

Row = dict[str, Any]

# The columns a caller may set by name (the SET and INSERT lists are built from these only).
ACCOUNT_COLUMNS = frozenset(
    {
        "alias",
        "base_marketplace",
        "status",
        "status_reason",
        "allegro_user_id",
        "allegro_login",
        "connected_at",
        "access_expires_at",
    }
)
ATTEMPT_COLUMNS = frozenset(
    {
        "account_id",
        "flow",
        "state",
        "redirect_uri",
        "code_verifier",
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "poll_interval",
        "next_poll_at",
        "expires_at",
    }
)
ATTEMPT_SECRETS = frozenset({"code_verifier", "device_code"})

_STORE_TOKENS = sa.text(
    "INSERT INTO account_tokens (account_id, access_token, refresh_token, access_expires_at,"
    " scope, generation, refreshed_at)"
    " VALUES (:account, :access, :refresh, :expires, :scope, 1, now())"
    " ON CONFLICT (account_id) DO UPDATE SET access_token = EXCLUDED.access_token,"
    " refresh_token = EXCLUDED.refresh_token, access_expires_at = EXCLUDED.access_expires_at,"
    " scope = EXCLUDED.scope, generation = account_tokens.generation + 1, refreshed_at = now()"
)
_DUE_DEVICE_ATTEMPTS = sa.text(
    "SELECT * FROM connection_attempts"
    " WHERE status = :pending AND flow = 'device' AND next_poll_at <= now()"
    " ORDER BY next_poll_at LIMIT :limit FOR UPDATE SKIP LOCKED"
)


def _checked(values: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"not a settable column: {sorted(unknown)}")


class AuthRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def _one(self, sql: str, params: Mapping[str, Any]) -> Row | None:
        row = (await self.connection.execute(sa.text(sql), dict(params))).mappings().first()
        return None if row is None else dict(row)

    async def _all(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        rows = await self.connection.execute(sa.text(sql), dict(params))
        return [dict(r) for r in rows.mappings()]

    # --- accounts -------------------------------------------------------------------------

    async def get_account(self, account_id: str, *, lock: bool = False) -> Row | None:
        lock_clause = " FOR UPDATE" if lock else ""
        return await self._one(
            f"SELECT * FROM accounts WHERE id = :id{lock_clause}", {"id": account_id}
        )

    async def list_accounts(self, limit: int, after: str | None) -> list[Row]:
        """Up to `limit` accounts by alias (unique), after the alias `after`."""
        return await self._all(
            "SELECT * FROM accounts"
            " WHERE CAST(:after AS text) IS NULL OR alias > CAST(:after AS text)"
            " ORDER BY alias LIMIT :limit",
            {"after": after, "limit": limit},
        )

    async def insert_account(self, **values: Any) -> None:
        _checked(values, ACCOUNT_COLUMNS | {"id"})
        columns = ", ".join(values)
        params = ", ".join(f":{name}" for name in values)
        await self.connection.execute(
            sa.text(f"INSERT INTO accounts ({columns}) VALUES ({params})"), values
        )

    async def update_account(self, account_id: str, **values: Any) -> None:
        _checked(values, ACCOUNT_COLUMNS)
        sets = "".join(f"{name} = :{name}, " for name in values)
        await self.connection.execute(
            sa.text(f"UPDATE accounts SET {sets}updated_at = now() WHERE id = :account_id"),
            {**values, "account_id": account_id},
        )

    async def delete_account(self, account_id: str) -> None:
        await self.connection.execute(
            sa.text("DELETE FROM accounts WHERE id = :id"), {"id": account_id}
        )

    async def alias_linked_to(self, allegro_user_id: str, besides: str) -> str | None:
        """The alias of another account already linked to this Allegro user, if any."""
        alias = await self.connection.scalar(
            sa.text("SELECT alias FROM accounts WHERE allegro_user_id = :user AND id <> :besides"),
            {"user": allegro_user_id, "besides": besides},
        )
        return None if alias is None else str(alias)

    async def expiring_accounts(self, before: datetime) -> list[str]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT id FROM accounts WHERE status = :connected AND access_expires_at <= :before"
            ),
            {"connected": AccountStatus.CONNECTED, "before": before},
        )
        return [str(r) for r in rows.scalars()]

    # --- tokens ---------------------------------------------------------------------------

    async def tokens_for_update(self, account_id: str) -> Row | None:
        """The account's token row, locked: concurrent refreshers (any replica) queue here."""
        return await self._one(
            "SELECT * FROM account_tokens WHERE account_id = :id FOR UPDATE", {"id": account_id}
        )

    async def store_tokens(
        self,
        account_id: str,
        *,
        access_token: str,
        refresh_token: str,
        access_expires_at: datetime,
        scope: str,
    ) -> None:
        await self.connection.execute(
            _STORE_TOKENS,
            {
                "account": account_id,
                "access": access_token,
                "refresh": refresh_token,
                "expires": access_expires_at,
                "scope": scope,
            },
        )
        await self.update_account(account_id, access_expires_at=access_expires_at)

    async def drop_tokens(self, account_id: str) -> None:
        await self.connection.execute(
            sa.text("DELETE FROM account_tokens WHERE account_id = :id"), {"id": account_id}
        )

    # --- connection attempts --------------------------------------------------------------

    async def add_attempt(self, **values: Any) -> uuid.UUID:
        _checked(values, ATTEMPT_COLUMNS)
        attempt_id = uuid.uuid4()
        row = {**values, "id": attempt_id, "status": AttemptStatus.PENDING}
        columns = ", ".join(row)
        params = ", ".join(f":{name}" for name in row)
        await self.connection.execute(
            sa.text(f"INSERT INTO connection_attempts ({columns}) VALUES ({params})"), row
        )
        return attempt_id

    async def attempt_by_state(self, state: str) -> Row | None:
        return await self._one(
            "SELECT * FROM connection_attempts WHERE state = :state FOR UPDATE", {"state": state}
        )

    async def consume_state(self, attempt_id: uuid.UUID) -> None:
        """The attempt's state has served its one callback: no other callback finds it."""
        await self.connection.execute(
            sa.text("UPDATE connection_attempts SET state = NULL WHERE id = :id"),
            {"id": attempt_id},
        )

    async def latest_attempt(self, account_id: str) -> Row | None:
        return await self._one(
            "SELECT * FROM connection_attempts WHERE account_id = :id"
            " ORDER BY created_at DESC LIMIT 1",
            {"id": account_id},
        )

    async def claim_due_device_attempts(self, lease_seconds: float, limit: int = 20) -> list[Row]:
        """Claim due device flows: their next poll moves `lease_seconds` ahead, so other replicas
        skip them while this one asks Allegro (outside any transaction)."""
        rows = await self.connection.execute(
            _DUE_DEVICE_ATTEMPTS, {"pending": AttemptStatus.PENDING, "limit": limit}
        )
        due = [dict(r) for r in rows.mappings()]
        if due:
            await self.connection.execute(
                sa.text(
                    "UPDATE connection_attempts"
                    " SET next_poll_at = now() + make_interval(secs => :lease)"
                    " WHERE id = ANY(CAST(:ids AS uuid[]))"
                ),
                {"lease": float(lease_seconds), "ids": [a["id"] for a in due]},
            )
        return due

    async def pending_attempt_for_update(self, attempt_id: uuid.UUID) -> bool:
        """Lock the attempt; True while it is still pending (nothing else finished it meanwhile)."""
        status = await self.connection.scalar(
            sa.text("SELECT status FROM connection_attempts WHERE id = :id FOR UPDATE"),
            {"id": attempt_id},
        )
        return bool(status == AttemptStatus.PENDING)

    async def schedule_poll(self, attempt_id: uuid.UUID, interval: int) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE connection_attempts SET poll_interval = :interval,"
                " next_poll_at = now() + make_interval(secs => :secs) WHERE id = :id"
            ),
            {"interval": interval, "secs": float(interval), "id": attempt_id},
        )

    async def finish_attempt(
        self,
        attempt_id: uuid.UUID,
        status: AttemptStatus,
        error: str | None = None,
        *,
        code: str | None = None,
    ) -> None:
        """`error` is for people; `code` is the stable reason the callback answers with."""
        await self.connection.execute(
            sa.text(
                "UPDATE connection_attempts SET status = :status, error = :error,"
                " error_code = :code, finished_at = now() WHERE id = :id"
            ),
            {"status": status, "error": error, "code": code, "id": attempt_id},
        )

    # --- secrets under key rotation -------------------------------------------------------

    async def tokens_for_rotation(self) -> list[Row]:
        return await self._all("SELECT * FROM account_tokens FOR UPDATE", {})

    async def set_token_ciphertexts(
        self, account_id: str, access_token: str, refresh_token: str
    ) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE account_tokens SET access_token = :access, refresh_token = :refresh"
                " WHERE account_id = :id"
            ),
            {"access": access_token, "refresh": refresh_token, "id": account_id},
        )

    async def pending_attempts(self) -> list[Row]:
        return await self._all(
            "SELECT * FROM connection_attempts WHERE status = :pending",
            {"pending": AttemptStatus.PENDING},
        )

    async def set_attempt_secrets(self, attempt_id: uuid.UUID, **values: str) -> None:
        _checked(values, ATTEMPT_SECRETS)
        sets = ", ".join(f"{name} = :{name}" for name in values)
        await self.connection.execute(
            sa.text(f"UPDATE connection_attempts SET {sets} WHERE id = :attempt_id"),
            {**values, "attempt_id": attempt_id},
        )

    # --- operator API keys ----------------------------------------------------------------

    async def insert_api_key(self, key_id: str, name: str, role: str, secret_hash: str) -> None:
        await self.connection.execute(
            sa.text(
                "INSERT INTO api_keys (id, name, role, secret_hash)"
                " VALUES (:id, :name, :role, :hash)"
            ),
            {"id": key_id, "name": name, "role": role, "hash": secret_hash},
        )

    async def list_api_keys(self, limit: int, after: tuple[datetime, str] | None) -> list[Row]:
        """Up to `limit` keys by (created_at, id), after that pair (the id breaks ties)."""
        created, key_id = (None, None) if after is None else after
        return await self._all(
            "SELECT id, name, role, created_at, revoked_at FROM api_keys"
            " WHERE CAST(:created AS timestamptz) IS NULL"
            " OR (created_at, id) > (CAST(:created AS timestamptz), CAST(:id AS text))"
            " ORDER BY created_at, id LIMIT :limit",
            {"created": created, "id": key_id, "limit": limit},
        )

    async def revoke_api_key(self, key_id: str) -> bool:
        """True if an active key was revoked."""
        result = await self.connection.execute(
            sa.text("UPDATE api_keys SET revoked_at = now() WHERE id = :id AND revoked_at IS NULL"),
            {"id": key_id},
        )
        return bool(result.rowcount)

    async def active_api_key(self, key_id: str) -> Row | None:
        return await self._one(
            "SELECT * FROM api_keys WHERE id = :id AND revoked_at IS NULL", {"id": key_id}
        )

    async def revoke_keys_named(self, name: str, keep: str | None) -> int:
        """Revoke the active keys of this name, except `keep`; how many were revoked."""
        result = await self.connection.execute(
            sa.text(
                "UPDATE api_keys SET revoked_at = now() WHERE name = :name AND revoked_at IS NULL"
                " AND (CAST(:keep AS text) IS NULL OR id <> CAST(:keep AS text))"
            ),
            {"name": name, "keep": keep},
        )
        return int(result.rowcount)

    async def install_admin_key(self, key_id: str, name: str, secret_hash: str) -> None:
        await self.connection.execute(
            sa.text(
                "INSERT INTO api_keys (id, name, role, secret_hash) VALUES (:id, :name,"
                " 'admin', :hash) ON CONFLICT (id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash"
                # An issued key that happens to have this id is never taken over.
                " WHERE api_keys.name = :name"
            ),
            {"id": key_id, "name": name, "hash": secret_hash},
        )
