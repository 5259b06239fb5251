"""Operator API keys: issue, list, revoke, resolve, and the configured bootstrap key."""

from __future__ import annotations

import hmac
from typing import Any

import sqlalchemy as sa

from auth import repository as repo
from auth.domain.model import (
    InvalidInput,
    hash_secret,
    new_api_key,
    parse_api_key,
    validate_role,
)
from auth.handlers.common import (
    Auth,
)
from shared.errors import NotFound
from shared.logs import get_logger
from shared.security import Principal

log = get_logger(__name__)

# --- operator API keys ---------------------------------------------------------------------------


async def create_api_key(auth: Auth, name: str, role: str) -> dict[str, Any]:
    if name.strip() == BOOTSTRAP_KEY_NAME:
        # Keys of that name are revoked at start unless they are the configured bootstrap key.
        raise InvalidInput("reserved_name", f"{BOOTSTRAP_KEY_NAME!r} is reserved", "name")
    key = new_api_key()
    async with auth.engine.begin() as conn:
        await conn.execute(
            sa.insert(repo.api_keys).values(
                id=key.key_id,
                name=name.strip() or "unnamed",
                role=validate_role(role),
                secret_hash=hash_secret(key.secret),
            )
        )
    return {"id": key.key_id, "name": name, "role": role, "api_key": key.full}


async def list_api_keys(auth: Auth) -> list[dict[str, Any]]:
    async with auth.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(
                repo.api_keys.c.id,
                repo.api_keys.c.name,
                repo.api_keys.c.role,
                repo.api_keys.c.created_at,
                repo.api_keys.c.revoked_at,
            ).order_by(repo.api_keys.c.created_at)
        )
        return [dict(r) for r in rows.mappings()]


async def revoke_api_key(auth: Auth, key_id: str) -> None:
    async with auth.engine.begin() as conn:
        result = await conn.execute(
            sa.update(repo.api_keys)
            .where(repo.api_keys.c.id == key_id, repo.api_keys.c.revoked_at.is_(None))
            .values(revoked_at=sa.func.now())
        )
    if result.rowcount == 0:
        raise NotFound("no such active API key", code="api_key_not_found")


async def resolve_api_key(auth: Auth, full: str) -> Principal | None:
    parsed = parse_api_key(full)
    if parsed is None:
        return None
    key_id, secret = parsed
    async with auth.engine.connect() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(repo.api_keys).where(
                        repo.api_keys.c.id == key_id, repo.api_keys.c.revoked_at.is_(None)
                    )
                )
            )
            .mappings()
            .first()
        )
    if row is None or not hmac.compare_digest(row["secret_hash"], hash_secret(secret)):
        return None
    return Principal(subject=f"api-key:{row['id']}:{row['name']}", role=row["role"], expires_at=0)


BOOTSTRAP_KEY_NAME = "bootstrap"


async def install_bootstrap_key(auth: Auth) -> None:
    """Make the configured bootstrap key valid, and every other bootstrap key revoked.

    So removing (or replacing) AUTH_BOOTSTRAP_ADMIN_KEY revokes the old key at the next start.
    A revoked key (by an admin, or by its removal) stays revoked if configured again.
    """
    configured = auth.settings.bootstrap_admin_key
    parsed = parse_api_key(configured.get_secret_value()) if configured else None
    if configured is not None and parsed is None:
        raise ValueError("AUTH_BOOTSTRAP_ADMIN_KEY must look like mcik_<id>_<secret>")
    async with auth.engine.begin() as conn:
        others = sa.update(repo.api_keys).where(
            repo.api_keys.c.name == BOOTSTRAP_KEY_NAME, repo.api_keys.c.revoked_at.is_(None)
        )
        if parsed is not None:
            others = others.where(repo.api_keys.c.id != parsed[0])
        revoked = await conn.execute(others.values(revoked_at=sa.func.now()))
        if revoked.rowcount:
            log.info("bootstrap_keys_revoked", count=revoked.rowcount)
        if parsed is None:
            return
        key_id, secret = parsed
        await conn.execute(
            sa.text(
                "INSERT INTO api_keys (id, name, role, secret_hash) VALUES (:id, :name,"
                " 'admin', :hash) ON CONFLICT (id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash"
                # An issued key that happens to have this id is never taken over.
                " WHERE api_keys.name = :name"
            ),
            {"id": key_id, "name": BOOTSTRAP_KEY_NAME, "hash": hash_secret(secret)},
        )
