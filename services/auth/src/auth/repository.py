"""The auth database: tables and the queries the use cases need (SQLAlchemy Core, async)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.domain.model import AccountStatus, AttemptStatus

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("alias", sa.Text),
    sa.Column("base_marketplace", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("status_reason", sa.Text),
    sa.Column("allegro_user_id", sa.Text),
    sa.Column("allegro_login", sa.Text),
    sa.Column("connected_at", TS),
    sa.Column("access_expires_at", TS),
    sa.Column("created_at", TS),
    sa.Column("updated_at", TS),
)
account_tokens = sa.Table(
    "account_tokens",
    metadata,
    sa.Column("account_id", sa.Text, primary_key=True),
    sa.Column("access_token", sa.Text),
    sa.Column("refresh_token", sa.Text),
    sa.Column("access_expires_at", TS),
    sa.Column("scope", sa.Text),
    sa.Column("generation", sa.Integer),
    sa.Column("refreshed_at", TS),
)
attempts = sa.Table(
    "connection_attempts",
    metadata,
    sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
    sa.Column("account_id", sa.Text),
    sa.Column("flow", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("state", sa.Text),
    sa.Column("redirect_uri", sa.Text),
    sa.Column("code_verifier", sa.Text),
    sa.Column("device_code", sa.Text),
    sa.Column("user_code", sa.Text),
    sa.Column("verification_uri", sa.Text),
    sa.Column("verification_uri_complete", sa.Text),
    sa.Column("poll_interval", sa.Integer),
    sa.Column("next_poll_at", TS),
    sa.Column("expires_at", TS),
    sa.Column("error", sa.Text),
    sa.Column("error_code", sa.Text),
    sa.Column("created_at", TS),
    sa.Column("finished_at", TS),
)
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("role", sa.Text),
    sa.Column("secret_hash", sa.Text),
    sa.Column("created_at", TS),
    sa.Column("revoked_at", TS),
)

Row = dict[str, Any]


async def get_account(conn: AsyncConnection, account_id: str, *, lock: bool = False) -> Row | None:
    query = sa.select(accounts).where(accounts.c.id == account_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def list_accounts(conn: AsyncConnection, limit: int, after: str | None) -> list[Row]:
    """Up to `limit` accounts by alias (unique), after the alias `after`."""
    query = sa.select(accounts).order_by(accounts.c.alias).limit(limit)
    if after is not None:
        query = query.where(accounts.c.alias > after)
    rows = await conn.execute(query)
    return [dict(r) for r in rows.mappings()]


async def update_account(conn: AsyncConnection, account_id: str, **values: Any) -> None:
    await conn.execute(
        sa.update(accounts)
        .where(accounts.c.id == account_id)
        .values(**values, updated_at=sa.func.now())
    )


async def tokens_for_update(conn: AsyncConnection, account_id: str) -> Row | None:
    """The account's token row, locked: concurrent refreshers (any replica) queue here."""
    row = (
        (
            await conn.execute(
                sa.select(account_tokens)
                .where(account_tokens.c.account_id == account_id)
                .with_for_update()
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def store_tokens(
    conn: AsyncConnection,
    account_id: str,
    *,
    access_token: str,
    refresh_token: str,
    access_expires_at: datetime,
    scope: str,
) -> None:
    insert = postgresql.insert(account_tokens).values(
        account_id=account_id,
        access_token=access_token,
        refresh_token=refresh_token,
        access_expires_at=access_expires_at,
        scope=scope,
        generation=1,
        refreshed_at=sa.func.now(),
    )
    await conn.execute(
        insert.on_conflict_do_update(
            index_elements=[account_tokens.c.account_id],
            set_={
                "access_token": insert.excluded.access_token,
                "refresh_token": insert.excluded.refresh_token,
                "access_expires_at": insert.excluded.access_expires_at,
                "scope": insert.excluded.scope,
                "generation": account_tokens.c.generation + 1,
                "refreshed_at": sa.func.now(),
            },
        )
    )
    await update_account(conn, account_id, access_expires_at=access_expires_at)


async def drop_tokens(conn: AsyncConnection, account_id: str) -> None:
    await conn.execute(sa.delete(account_tokens).where(account_tokens.c.account_id == account_id))


async def add_attempt(conn: AsyncConnection, **values: Any) -> uuid.UUID:
    attempt_id = uuid.uuid4()
    await conn.execute(
        sa.insert(attempts).values(id=attempt_id, status=AttemptStatus.PENDING, **values)
    )
    return attempt_id


async def attempt_by_state(conn: AsyncConnection, state: str) -> Row | None:
    row = (
        (await conn.execute(sa.select(attempts).where(attempts.c.state == state).with_for_update()))
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def latest_attempt(conn: AsyncConnection, account_id: str) -> Row | None:
    row = (
        (
            await conn.execute(
                sa.select(attempts)
                .where(attempts.c.account_id == account_id)
                .order_by(attempts.c.created_at.desc())
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def due_device_attempts(conn: AsyncConnection, limit: int = 20) -> list[Row]:
    """Pending device flows whose next poll is due, claimed (other replicas skip them)."""
    rows = await conn.execute(
        sa.select(attempts)
        .where(
            attempts.c.status == AttemptStatus.PENDING,
            attempts.c.flow == "device",
            attempts.c.next_poll_at <= sa.func.now(),
        )
        .order_by(attempts.c.next_poll_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [dict(r) for r in rows.mappings()]


async def claim_due_device_attempts(
    conn: AsyncConnection, lease_seconds: float, limit: int = 20
) -> list[Row]:
    """Claim due device flows: their next poll moves `lease_seconds` ahead, so other replicas
    skip them while this one asks Allegro (outside any transaction)."""
    due = await due_device_attempts(conn, limit)
    if due:
        await conn.execute(
            sa.update(attempts)
            .where(attempts.c.id.in_([a["id"] for a in due]))
            .values(next_poll_at=sa.func.now() + timedelta(seconds=lease_seconds))
        )
    return due


async def pending_attempt_for_update(conn: AsyncConnection, attempt_id: uuid.UUID) -> bool:
    """Lock the attempt; True while it is still pending (nothing else finished it meanwhile)."""
    status = await conn.scalar(
        sa.select(attempts.c.status).where(attempts.c.id == attempt_id).with_for_update()
    )
    return bool(status == AttemptStatus.PENDING)


async def schedule_poll(conn: AsyncConnection, attempt_id: uuid.UUID, interval: int) -> None:
    await conn.execute(
        sa.update(attempts)
        .where(attempts.c.id == attempt_id)
        .values(poll_interval=interval, next_poll_at=sa.func.now() + timedelta(seconds=interval))
    )


async def finish_attempt(
    conn: AsyncConnection,
    attempt_id: uuid.UUID,
    status: AttemptStatus,
    error: str | None = None,
    *,
    code: str | None = None,
) -> None:
    """`error` is for people; `code` is the stable reason the callback answers with."""
    await conn.execute(
        sa.update(attempts)
        .where(attempts.c.id == attempt_id)
        .values(status=status, error=error, error_code=code, finished_at=sa.func.now())
    )


async def expiring_accounts(conn: AsyncConnection, before: datetime) -> list[str]:
    rows = await conn.execute(
        sa.select(accounts.c.id).where(
            accounts.c.status == AccountStatus.CONNECTED,
            accounts.c.access_expires_at <= before,
        )
    )
    return list(rows.scalars())


# --- accounts (writes) ----------------------------------------------------------------------


async def insert_account(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(sa.insert(accounts).values(**values))


async def delete_account(conn: AsyncConnection, account_id: str) -> None:
    await conn.execute(sa.delete(accounts).where(accounts.c.id == account_id))


async def alias_linked_to(conn: AsyncConnection, allegro_user_id: str, besides: str) -> str | None:
    """The alias of another account already linked to this Allegro user, if any."""
    alias = await conn.scalar(
        sa.select(accounts.c.alias).where(
            accounts.c.allegro_user_id == allegro_user_id, accounts.c.id != besides
        )
    )
    return None if alias is None else str(alias)


# --- secrets under key rotation -------------------------------------------------------------


async def tokens_for_rotation(conn: AsyncConnection) -> list[Row]:
    rows = await conn.execute(sa.select(account_tokens).with_for_update())
    return [dict(r) for r in rows.mappings()]


async def set_token_ciphertexts(
    conn: AsyncConnection, account_id: str, access_token: str, refresh_token: str
) -> None:
    await conn.execute(
        sa.update(account_tokens)
        .where(account_tokens.c.account_id == account_id)
        .values(access_token=access_token, refresh_token=refresh_token)
    )


async def pending_attempts(conn: AsyncConnection) -> list[Row]:
    rows = await conn.execute(sa.select(attempts).where(attempts.c.status == AttemptStatus.PENDING))
    return [dict(r) for r in rows.mappings()]


async def set_attempt_secrets(conn: AsyncConnection, attempt_id: uuid.UUID, **values: str) -> None:
    await conn.execute(sa.update(attempts).where(attempts.c.id == attempt_id).values(**values))


# --- operator API keys ----------------------------------------------------------------------


async def insert_api_key(
    conn: AsyncConnection, key_id: str, name: str, role: str, secret_hash: str
) -> None:
    await conn.execute(
        sa.insert(api_keys).values(id=key_id, name=name, role=role, secret_hash=secret_hash)
    )


async def list_api_keys(
    conn: AsyncConnection, limit: int, after: tuple[datetime, str] | None
) -> list[Row]:
    """Up to `limit` keys by (created_at, id), after that pair (the id breaks ties)."""
    query = (
        sa.select(
            api_keys.c.id,
            api_keys.c.name,
            api_keys.c.role,
            api_keys.c.created_at,
            api_keys.c.revoked_at,
        )
        .order_by(api_keys.c.created_at, api_keys.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(sa.tuple_(api_keys.c.created_at, api_keys.c.id) > sa.tuple_(*after))
    rows = await conn.execute(query)
    return [dict(r) for r in rows.mappings()]


async def revoke_api_key(conn: AsyncConnection, key_id: str) -> bool:
    """True if an active key was revoked."""
    result = await conn.execute(
        sa.update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=sa.func.now())
    )
    return bool(result.rowcount)


async def active_api_key(conn: AsyncConnection, key_id: str) -> Row | None:
    row = (
        (
            await conn.execute(
                sa.select(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


async def revoke_keys_named(conn: AsyncConnection, name: str, keep: str | None) -> int:
    """Revoke the active keys of this name, except `keep`; how many were revoked."""
    query = sa.update(api_keys).where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
    if keep is not None:
        query = query.where(api_keys.c.id != keep)
    result = await conn.execute(query.values(revoked_at=sa.func.now()))
    return int(result.rowcount)


async def install_admin_key(
    conn: AsyncConnection, key_id: str, name: str, secret_hash: str
) -> None:
    await conn.execute(
        sa.text(
            "INSERT INTO api_keys (id, name, role, secret_hash) VALUES (:id, :name,"
            " 'admin', :hash) ON CONFLICT (id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash"
            # An issued key that happens to have this id is never taken over.
            " WHERE api_keys.name = :name"
        ),
        {"id": key_id, "name": name, "hash": secret_hash},
    )
