"""SQL of the orders service: every statement it runs, `sa.text` with named parameters, on the
connection of the unit of work it is given (see docs/service-anatomy.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from orders.domain.commands import ClaimedAccount


@dataclass(frozen=True)
class StoredForm:
    id: str
    account_id: str
    status: str
    revision: str
    received_at: datetime | None
    cancelled_at: datetime | None
    superseded_by: str | None
    duplicate_of: str | None


@dataclass(frozen=True)
class LineItemOwner:
    line_item_id: str
    checkout_form_id: str
    received: bool


_CLAIM = sa.text(
    "UPDATE accounts SET next_poll_at = now() + make_interval(secs => :lease),"
    " last_polled_at = now()"
    " WHERE account_id = (SELECT account_id FROM accounts"
    "  WHERE status = 'connected' AND next_poll_at <= now()"
    # An account (or the whole Client ID) Allegro blocked after a 429 waits out its block here
    # instead of holding a poller in the client's limiter while other accounts are due.
    "  AND NOT EXISTS (SELECT 1 FROM allegro_rate_budget b WHERE b.blocked_until > now()"
    "   AND (starts_with(b.key, 'seller:' || accounts.account_id || ':')"
    "    OR starts_with(b.key, 'client:')))"
    "  ORDER BY next_poll_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " RETURNING account_id, event_cursor, failures"
)

_FORM_COLUMNS = (
    "id, account_id, status, revision, received_at, cancelled_at, superseded_by, duplicate_of"
)


class OrdersRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    # --- accounts -----------------------------------------------------------------------------

    async def set_account_status(self, account_id: str, status: str, reason: str) -> None:
        """Connected: polled from its stored cursor at once; anything else: not polled."""
        await self.connection.execute(
            sa.text(
                "INSERT INTO accounts (account_id, status, status_reason) VALUES (:a, :s, :r)"
                " ON CONFLICT (account_id) DO UPDATE SET status = :s, status_reason = :r,"
                " updated_at = now(), failures = 0, last_error = NULL,"
                " next_poll_at = CASE WHEN :s = 'connected' THEN now()"
                "  ELSE accounts.next_poll_at END"
            ),
            {"a": account_id, "s": status, "r": reason},
        )

    async def claim_due_account(self, lease_seconds: float) -> ClaimedAccount | None:
        row = (await self.connection.execute(_CLAIM, {"lease": lease_seconds})).first()
        return None if row is None else ClaimedAccount(row[0], row[1], row[2])

    async def advance_cursor(self, account_id: str, before: str | None, after: str) -> bool:
        """Move the cursor only from where the page was read: False if someone moved it."""
        result = await self.connection.execute(
            sa.text(
                "UPDATE accounts SET event_cursor = :after, updated_at = now()"
                " WHERE account_id = :a AND event_cursor IS NOT DISTINCT FROM :before"
            ),
            {"a": account_id, "before": before, "after": after},
        )
        return bool(result.rowcount)

    async def poll_done(
        self, account_id: str, next_in_seconds: float, error: str | None, failed: bool
    ) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE accounts SET next_poll_at = now() + make_interval(secs => :n),"
                " failures = CASE WHEN :failed THEN failures + 1 ELSE 0 END, last_error = :e"
                " WHERE account_id = :a"
            ),
            {"a": account_id, "n": next_in_seconds, "e": error, "failed": failed},
        )

    async def accounts(self, after: str | None, fetch: int) -> list[dict[str, Any]]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT account_id, status, status_reason, event_cursor, next_poll_at,"
                " last_polled_at, failures, last_error FROM accounts"
                " WHERE CAST(:after AS text) IS NULL OR account_id > :after"
                " ORDER BY account_id LIMIT :n"
            ),
            {"after": after, "n": fetch},
        )
        return [dict(r._mapping) for r in rows]

    # --- checkout forms -----------------------------------------------------------------------

    async def checkout_form_for_update(self, checkout_form_id: str) -> StoredForm | None:
        row = (
            await self.connection.execute(
                sa.text(f"SELECT {_FORM_COLUMNS} FROM checkout_forms WHERE id = :id FOR UPDATE"),
                {"id": checkout_form_id},
            )
        ).first()
        return None if row is None else StoredForm(*row)

    async def save_checkout_form(
        self,
        account_id: str,
        form: dict[str, Any],
        status: str,
        last_event_id: str,
        duplicate_of: str | None,
    ) -> None:
        await self.connection.execute(
            sa.text(
                "INSERT INTO checkout_forms (id, account_id, status, revision, fulfillment_status,"
                " marketplace_id, form, duplicate_of, last_event_id)"
                " VALUES (:id, :a, :s, :rev, :fs, :m, CAST(:form AS jsonb), :dup, :ev)"
                " ON CONFLICT (id) DO UPDATE SET status = :s, revision = :rev,"
                " fulfillment_status = :fs, marketplace_id = :m, form = CAST(:form AS jsonb),"
                " duplicate_of = COALESCE(checkout_forms.duplicate_of, :dup),"
                " last_event_id = :ev, updated_at = now()"
            ),
            {
                "id": str(form["id"]),
                "a": account_id,
                "s": status,
                "rev": str(form.get("revision") or ""),
                "fs": (form.get("fulfillment") or {}).get("status"),
                "m": (form.get("marketplace") or {}).get("id"),
                "form": orjson.dumps(form).decode(),
                "dup": duplicate_of,
                "ev": last_event_id,
            },
        )

    async def mark_received(self, checkout_form_id: str) -> None:
        await self.connection.execute(
            sa.text("UPDATE checkout_forms SET received_at = now() WHERE id = :id"),
            {"id": checkout_form_id},
        )

    async def mark_cancelled(self, checkout_form_id: str) -> None:
        await self.connection.execute(
            sa.text("UPDATE checkout_forms SET cancelled_at = now() WHERE id = :id"),
            {"id": checkout_form_id},
        )

    async def mark_superseded(self, checkout_form_ids: Sequence[str], by: str) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE checkout_forms SET superseded_by = :by, updated_at = now()"
                " WHERE id = ANY(CAST(:ids AS text[]))"
            ),
            {"ids": list(checkout_form_ids), "by": by},
        )

    async def line_item_owners(self, line_item_ids: Sequence[str]) -> list[LineItemOwner]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT li.id, li.checkout_form_id, f.received_at IS NOT NULL"
                " FROM line_items li JOIN checkout_forms f ON f.id = li.checkout_form_id"
                " WHERE li.id = ANY(CAST(:ids AS text[])) ORDER BY li.id FOR UPDATE OF li"
            ),
            {"ids": list(line_item_ids)},
        )
        return [LineItemOwner(r[0], r[1], bool(r[2])) for r in rows]

    async def own_line_items(
        self, account_id: str, checkout_form_id: str, line_item_ids: Sequence[str]
    ) -> None:
        """The line items belong to this form now (a combined payment takes them over)."""
        await self.connection.execute(
            sa.text(
                "INSERT INTO line_items (id, account_id, checkout_form_id)"
                " SELECT unnest(CAST(:ids AS text[])), :a, :f"
                " ON CONFLICT (id) DO UPDATE SET checkout_form_id = EXCLUDED.checkout_form_id"
            ),
            {"ids": list(line_item_ids), "a": account_id, "f": checkout_form_id},
        )

    async def checkout_forms(
        self,
        account_id: str | None,
        status: str | None,
        after: tuple[str, str] | None,
        fetch: int,
    ) -> list[dict[str, Any]]:
        """Newest first; the cursor is (created_at, id) of the last row seen."""
        rows = await self.connection.execute(
            sa.text(
                "SELECT id, account_id, status, revision, fulfillment_status, marketplace_id,"
                " received_at, cancelled_at, superseded_by, duplicate_of, created_at, updated_at,"
                " form->'summary'->'totalToPay' AS total FROM checkout_forms"
                " WHERE (CAST(:a AS text) IS NULL OR account_id = :a)"
                " AND (CAST(:s AS text) IS NULL OR status = :s)"
                " AND (CAST(:at AS timestamptz) IS NULL"
                "  OR (created_at, id) < (CAST(:at AS timestamptz), :aid))"
                " ORDER BY created_at DESC, id DESC LIMIT :n"
            ),
            {
                "a": account_id,
                "s": status,
                "at": None if after is None else datetime.fromisoformat(after[0]),
                "aid": None if after is None else after[1],
                "n": fetch,
            },
        )
        return [dict(r._mapping) for r in rows]

    async def checkout_form(self, checkout_form_id: str) -> dict[str, Any] | None:
        row = (
            await self.connection.execute(
                sa.text(
                    "SELECT id, account_id, status, revision, fulfillment_status, marketplace_id,"
                    " received_at, cancelled_at, superseded_by, duplicate_of, last_event_id,"
                    " created_at, updated_at, form FROM checkout_forms WHERE id = :id"
                ),
                {"id": checkout_form_id},
            )
        ).first()
        return None if row is None else dict(row._mapping)
