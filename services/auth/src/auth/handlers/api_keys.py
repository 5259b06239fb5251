"""Operator API keys: issue, list, revoke, resolve, and the configured bootstrap key."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from auth.deps import AuthDeps
from auth.domain import commands as c
from auth.domain.model import (
    InvalidInput,
    hash_secret,
    new_api_key,
    parse_api_key,
    validate_role,
)
from auth.repository import AuthRepository
from shared.errors import Invalid, NotFound
from shared.logs import get_logger
from shared.pagination import Page, page_of
from shared.security import Principal
from shared.uow import UnitOfWork

log = get_logger(__name__)

BOOTSTRAP_KEY_NAME = "bootstrap"


async def create_api_key(command: c.CreateApiKey, uow: UnitOfWork) -> dict[str, Any]:
    name, role = command.name, command.role
    if name.strip() == BOOTSTRAP_KEY_NAME:
        # Keys of that name are revoked at start unless they are the configured bootstrap key.
        raise InvalidInput("reserved_name", f"{BOOTSTRAP_KEY_NAME!r} is reserved", "name")
    key = new_api_key()
    await uow.repository(AuthRepository).insert_api_key(
        key.key_id, name.strip() or "unnamed", validate_role(role), hash_secret(key.secret)
    )
    return {"id": key.key_id, "name": name, "role": role, "api_key": key.full}


async def list_api_keys(query: c.ListApiKeys, uow: UnitOfWork) -> Page[dict[str, Any]]:
    page = query.page
    after = None if page.after is None else _key_cursor(page.after)
    found = await uow.repository(AuthRepository).list_api_keys(page.fetch, after)
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


async def revoke_api_key(command: c.RevokeApiKey, uow: UnitOfWork) -> None:
    if not await uow.repository(AuthRepository).revoke_api_key(command.key_id):
        raise NotFound("no such active API key", code="api_key_not_found")


async def resolve_api_key(query: c.ResolveApiKey, uow: UnitOfWork) -> Principal | None:
    parsed = parse_api_key(query.api_key)
    if parsed is None:
        return None
    key_id, secret = parsed
    row = await uow.repository(AuthRepository).active_api_key(key_id)
    if row is None or not hmac.compare_digest(row["secret_hash"], hash_secret(secret)):
        return None
    return Principal(subject=f"api-key:{row['id']}:{row['name']}", role=row["role"], expires_at=0)


async def install_bootstrap_key(command: c.InstallBootstrapKey, uow: UnitOfWork) -> None:
    """Make the configured bootstrap key valid, and every other bootstrap key revoked.

    So removing (or replacing) AUTH_BOOTSTRAP_ADMIN_KEY revokes the old key at the next start.
    A revoked key (by an admin, or by its removal) stays revoked if configured again.
    """
    repository = uow.repository(AuthRepository)
    keep = None if command.key is None else command.key[0]
    revoked = await repository.revoke_keys_named(BOOTSTRAP_KEY_NAME, keep=keep)
    if revoked:
        log.info("bootstrap_keys_revoked", count=revoked)
    if command.key is None:
        return
    key_id, secret = command.key
    await repository.install_admin_key(key_id, BOOTSTRAP_KEY_NAME, hash_secret(secret))


def bootstrap_key_of(deps: AuthDeps) -> c.InstallBootstrapKey:
    """The configured bootstrap key as a command (a malformed one stops the start)."""
    configured = deps.settings.bootstrap_admin_key
    parsed = parse_api_key(configured.get_secret_value()) if configured else None
    if configured is not None and parsed is None:
        raise ValueError("AUTH_BOOTSTRAP_ADMIN_KEY must look like mcik_<id>_<secret>")
    return c.InstallBootstrapKey(parsed)
