"""An in-memory AuthRepository: what auth's handler unit tests run on (no PostgreSQL).

It holds what the tested handlers read and write; a method a test did not need yet is absent.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from auth.domain.model import AttemptStatus

Row = dict[str, Any]


class FakeAuthRepository:
    def __init__(self) -> None:
        self.accounts: dict[str, Row] = {}
        self.tokens: dict[str, Row] = {}
        self.attempts: dict[uuid.UUID, Row] = {}
        self.api_keys: dict[str, Row] = {}

    # --- accounts ---------------------------------------------------------------------------

    def add_account(self, account_id: str, alias: str, **values: Any) -> Row:
        row = {
            "id": account_id,
            "alias": alias,
            "base_marketplace": "allegro-pl",
            "status": "needs_connection",
            "status_reason": None,
            "allegro_user_id": None,
            "allegro_login": None,
            "connected_at": None,
            "access_expires_at": None,
        } | values
        self.accounts[account_id] = row
        return row

    async def get_account(self, account_id: str, *, lock: bool = False) -> Row | None:
        found = self.accounts.get(account_id)
        return None if found is None else dict(found)

    async def list_accounts(self, limit: int, after: str | None) -> list[Row]:
        rows = sorted(self.accounts.values(), key=lambda a: a["alias"])
        return [dict(a) for a in rows if after is None or a["alias"] > after][:limit]

    async def update_account(self, account_id: str, **values: Any) -> None:
        self.accounts[account_id].update(values)

    async def delete_account(self, account_id: str) -> None:
        del self.accounts[account_id]

    async def alias_linked_to(self, allegro_user_id: str, besides: str) -> str | None:
        for account in self.accounts.values():
            if account["allegro_user_id"] == allegro_user_id and account["id"] != besides:
                return str(account["alias"])
        return None

    # --- tokens -----------------------------------------------------------------------------

    async def tokens_for_update(self, account_id: str) -> Row | None:
        found = self.tokens.get(account_id)
        return None if found is None else dict(found)

    async def store_tokens(self, account_id: str, **values: Any) -> None:
        generation = self.tokens.get(account_id, {}).get("generation", 0) + 1
        self.tokens[account_id] = {
            "account_id": account_id,
            **values,
            "generation": generation,
            "refreshed_at": datetime.now(UTC),
        }
        self.accounts[account_id]["access_expires_at"] = values["access_expires_at"]

    async def drop_tokens(self, account_id: str) -> None:
        self.tokens.pop(account_id, None)

    # --- attempts ---------------------------------------------------------------------------

    async def pending_attempt_for_update(self, attempt_id: uuid.UUID) -> bool:
        return bool(self.attempts[attempt_id]["status"] == AttemptStatus.PENDING)

    async def finish_attempt(
        self,
        attempt_id: uuid.UUID,
        status: AttemptStatus,
        error: str | None = None,
        *,
        code: str | None = None,
    ) -> None:
        self.attempts[attempt_id].update(status=status, error=error, error_code=code)

    # --- API keys ---------------------------------------------------------------------------

    async def insert_api_key(self, key_id: str, name: str, role: str, secret_hash: str) -> None:
        self.api_keys[key_id] = {
            "id": key_id,
            "name": name,
            "role": role,
            "secret_hash": secret_hash,
            "revoked_at": None,
        }

    async def revoke_api_key(self, key_id: str) -> bool:
        key = self.api_keys.get(key_id)
        if key is None or key["revoked_at"] is not None:
            return False
        key["revoked_at"] = datetime.now(UTC)
        return True

    async def active_api_key(self, key_id: str) -> Row | None:
        key = self.api_keys.get(key_id)
        return None if key is None or key["revoked_at"] is not None else dict(key)
