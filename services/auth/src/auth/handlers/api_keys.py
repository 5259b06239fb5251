"""Operator API keys: issue, list, revoke, resolve, and the configured bootstrap key."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

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
from shared.errors import Invalid, NotFound
from shared.logs import get_logger
from shared.pagination import Page, PageRequest, page_of
from shared.security import Principal

log = get_logger(__name__)

# --- operator API keys ---------------------------------------------------------------------------


async def create_api_key(auth: Auth, name: str, role: str) -> dict[str, Any]:
    if name.strip() == BOOTSTRAP_KEY_NAME:
        # Keys of that name are revoked at start unless they are the configured bootstrap key.
        raise InvalidInput("reserved_name", f"{BOOTSTRAP_KEY_NAME!r} is reserved", "name")
    key = new_api_key()
    async with auth.units.engine.begin() as conn:
        await repo.insert_api_key(
            conn,
            key.key_id,
            name.strip() or "unnamed",
            validate_role(role),
            hash_secret(key.secret),
        )
    return {"id": key.key_id, "name": name, "role": role, "api_key": key.full}


async def list_api_keys(auth: Auth, page: PageRequest) -> Page[dict[str, Any]]:
    after = None if page.after is None else _key_cursor(page.after)
    async with auth.units.engine.connect() as conn:
        found = await repo.list_api_keys(conn, page.fetch, after)
    return page_of(found, page, lambda k: f"{k['created_at'].isoformat()}|{k['id']}")


def _key_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a key list's cursor names: keys are listed in creation order."""
    created, sep, key_id = cursor.rpartition("|")
    try:
        moment = datetime.fromisoformat(created)
    except ValueError:
        moment = None
    if not sep or not key_id or moment is None or moment.tzinfo is None:
        raise Invalid(
            "not a cursor of this list", code="invalid_cursor", details=[{"field": "after"}]
        )
    return moment, key_id


async def revoke_api_key(auth: Auth, key_id: str) -> None:
    async with auth.units.engine.begin() as conn:
        revoked = await repo.revoke_api_key(conn, key_id)
    if not revoked:
        raise NotFound("no such active API key", code="api_key_not_found")


async def resolve_api_key(auth: Auth, full: str) -> Principal | None:
    parsed = parse_api_key(full)
    if parsed is None:
        return None
    key_id, secret = parsed
    async with auth.units.engine.connect() as conn:
        row = await repo.active_api_key(conn, key_id)
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
    async with auth.units.engine.begin() as conn:
        revoked = await repo.revoke_keys_named(
            conn, BOOTSTRAP_KEY_NAME, keep=None if parsed is None else parsed[0]
        )
        if revoked:
            log.info("bootstrap_keys_revoked", count=revoked)
        if parsed is None:
            return
        key_id, secret = parsed
        await repo.install_admin_key(conn, key_id, BOOTSTRAP_KEY_NAME, hash_secret(secret))
