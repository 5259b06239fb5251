"""SQL of the orders service: every statement it runs, `sa.text` with named parameters, on the
connection of the unit of work it is given (see docs/service-anatomy.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from orders.domain.commands import ClaimedAccount, ClaimedWriteBack, ListCheckoutForms


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
class FormToSave:
    form: dict[str, Any]
    status: str
    last_event_id: str | None
    duplicate_of: str | None
    skus: list[str]  # what its lines sell, for the operator's search


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

# Many forms in one statement, from a JSON array of rows.
_SAVE_FORMS = sa.text(
    "INSERT INTO checkout_forms (id, account_id, status, revision, fulfillment_status,"
    " marketplace_id, form, duplicate_of, last_event_id, buyer_login, bought_at, skus)"
    " SELECT x.id, :a, x.status, x.revision, x.fs, x.m, x.form, x.dup, x.ev, x.login,"
    "  x.bought, ARRAY(SELECT jsonb_array_elements_text(x.skus))"
    " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(id text, status text, revision text,"
    "  fs text, m text, form jsonb, dup text, ev text, login text, bought timestamptz,"
    "  skus jsonb)"
    " ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, revision = EXCLUDED.revision,"
    " fulfillment_status = EXCLUDED.fulfillment_status,"
    " marketplace_id = EXCLUDED.marketplace_id, form = EXCLUDED.form,"
    " duplicate_of = COALESCE(checkout_forms.duplicate_of, EXCLUDED.duplicate_of),"
    " last_event_id = COALESCE(EXCLUDED.last_event_id, checkout_forms.last_event_id),"
    " buyer_login = EXCLUDED.buyer_login, bought_at = EXCLUDED.bought_at,"
    " skus = EXCLUDED.skus, updated_at = now()"
)

_SEARCH_FORMS = sa.text(
    "SELECT id, account_id, status, revision, fulfillment_status, marketplace_id, buyer_login,"
    " skus, bought_at, received_at, cancelled_at, superseded_by, duplicate_of, created_at,"
    " updated_at, form->'summary'->'totalToPay' AS total FROM checkout_forms"
    " WHERE (CAST(:a AS text) IS NULL OR account_id = :a)"
    " AND (CAST(:s AS text) IS NULL OR status = :s)"
    " AND (CAST(:m AS text) IS NULL OR marketplace_id = :m)"
    " AND (CAST(:login AS text) IS NULL OR buyer_login = :login)"
    " AND (CAST(:sku AS text) IS NULL OR skus @> ARRAY[CAST(:sku AS text)])"
    " AND (CAST(:from AS timestamptz) IS NULL OR bought_at >= :from)"
    " AND (CAST(:to AS timestamptz) IS NULL OR bought_at < :to)"
    " AND (CAST(:at AS timestamptz) IS NULL"
    "  OR (created_at, id) < (CAST(:at AS timestamptz), :aid))"
    " ORDER BY created_at DESC, id DESC LIMIT :n"
)

_WRITE_BACK_COLUMNS = (
    "id, account_id, checkout_form_id, kind, fulfillment_status, waybill, carrier, carrier_id,"
    " carrier_name, line_items, shipment_id, state, requested_by, attempts, last_error,"
    " next_attempt_at, created_at, updated_at, done_at"
)

# The oldest due write-back of a connected account, for `lease` seconds. Write-backs of one
# checkout form go one at a time, in the order they were asked for (PROCESSING before SENT).
_CLAIM_WRITE_BACK = sa.text(
    "UPDATE write_backs w SET next_attempt_at = now() + make_interval(secs => :lease),"
    " attempts = w.attempts + 1, updated_at = now()"
    " WHERE w.id = (SELECT c.id FROM write_backs c JOIN accounts a USING (account_id)"
    "  WHERE c.state = 'pending' AND c.next_attempt_at <= now() AND a.status = 'connected'"
    "  AND NOT EXISTS (SELECT 1 FROM write_backs e WHERE e.checkout_form_id = c.checkout_form_id"
    "   AND e.state = 'pending' AND e.id < c.id)"
    "  AND NOT EXISTS (SELECT 1 FROM allegro_rate_budget b WHERE b.blocked_until > now()"
    "   AND (starts_with(b.key, 'seller:' || c.account_id || ':')"
    "    OR starts_with(b.key, 'client:')))"
    "  ORDER BY c.next_attempt_at LIMIT 1 FOR UPDATE OF c SKIP LOCKED)"
    " RETURNING w.id, w.account_id, w.checkout_form_id, w.kind, w.fulfillment_status,"
    " w.waybill, w.carrier, w.line_items, w.shipment_id, w.attempts,"
    " (SELECT f.revision FROM checkout_forms f WHERE f.id = w.checkout_form_id) AS revision"
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
                # A success counts the interval from the poll's start (its claim), so an account
                # is read every interval however long the reading took; a failure waits from now.
                "UPDATE accounts SET next_poll_at = CASE WHEN :failed"
                "  THEN now() + make_interval(secs => :n)"
                "  ELSE GREATEST(now(), last_polled_at + make_interval(secs => :n)) END,"
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

    async def checkout_forms_for_update(self, ids: Sequence[str]) -> dict[str, StoredForm]:
        rows = await self.connection.execute(
            sa.text(
                f"SELECT {_FORM_COLUMNS} FROM checkout_forms"
                " WHERE id = ANY(CAST(:ids AS text[])) ORDER BY id FOR UPDATE"
            ),
            {"ids": list(ids)},
        )
        return {r[0]: StoredForm(*r) for r in rows}

    async def save_checkout_forms(self, account_id: str, forms: Sequence[FormToSave]) -> None:
        """Insert or overwrite the stored forms; a `last_event_id` None keeps the stored one
        (a form read on its own, not from the journal)."""
        if not forms:
            return
        rows = []
        for save in forms:
            form = save.form
            items = form.get("lineItems") or []
            rows.append(
                {
                    "id": str(form["id"]),
                    "status": save.status,
                    "revision": str(form.get("revision") or ""),
                    "fs": (form.get("fulfillment") or {}).get("status"),
                    "m": (form.get("marketplace") or {}).get("id"),
                    "form": form,
                    "dup": save.duplicate_of,
                    "ev": save.last_event_id,
                    "login": (form.get("buyer") or {}).get("login"),
                    "bought": items[0].get("boughtAt") if items else None,
                    "skus": save.skus,
                }
            )
        await self.connection.execute(
            _SAVE_FORMS, {"a": account_id, "rows": orjson.dumps(rows).decode()}
        )

    async def mark_received(self, checkout_form_ids: Sequence[str]) -> None:
        if checkout_form_ids:
            await self.connection.execute(
                sa.text(
                    "UPDATE checkout_forms SET received_at = now()"
                    " WHERE id = ANY(CAST(:ids AS text[]))"
                ),
                {"ids": list(checkout_form_ids)},
            )

    async def mark_cancelled(self, checkout_form_ids: Sequence[str]) -> None:
        if checkout_form_ids:
            await self.connection.execute(
                sa.text(
                    "UPDATE checkout_forms SET cancelled_at = now()"
                    " WHERE id = ANY(CAST(:ids AS text[]))"
                ),
                {"ids": list(checkout_form_ids)},
            )

    async def mark_superseded(self, checkout_form_ids: Sequence[str], by: str) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE checkout_forms SET superseded_by = :by, updated_at = now()"
                " WHERE id = ANY(CAST(:ids AS text[]))"
            ),
            {"ids": list(checkout_form_ids), "by": by},
        )

    # --- the offer directory (OfferPublished) ---------------------------------------------------

    async def remember_offer(self, account_id: str, offer_id: str, sku: str) -> None:
        await self.connection.execute(
            sa.text(
                "INSERT INTO offer_skus (offer_id, account_id, sku) VALUES (:o, :a, :s)"
                " ON CONFLICT (offer_id) DO UPDATE SET account_id = :a, sku = :s,"
                " updated_at = now()"
                " WHERE (offer_skus.account_id, offer_skus.sku) IS DISTINCT FROM (:a, :s)"
            ),
            {"o": offer_id, "a": account_id, "s": sku},
        )

    async def published_skus(self, account_id: str, offer_ids: Sequence[str]) -> dict[str, str]:
        """Offer id -> the SKU the platform published it for, for the offers it knows."""
        if not offer_ids:
            return {}
        rows = await self.connection.execute(
            sa.text(
                "SELECT offer_id, sku FROM offer_skus"
                " WHERE account_id = :a AND offer_id = ANY(CAST(:ids AS text[]))"
            ),
            {"a": account_id, "ids": list(offer_ids)},
        )
        return {str(r[0]): str(r[1]) for r in rows}

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

    async def own_line_items(self, account_id: str, owners: Mapping[str, str]) -> None:
        """Line item id -> the form it belongs to now (a combined payment takes them over)."""
        if not owners:
            return
        await self.connection.execute(
            sa.text(
                "INSERT INTO line_items (id, account_id, checkout_form_id)"
                " SELECT i, :a, f"
                " FROM unnest(CAST(:ids AS text[]), CAST(:forms AS text[])) AS x(i, f)"
                " ON CONFLICT (id) DO UPDATE SET checkout_form_id = EXCLUDED.checkout_form_id"
            ),
            {"ids": list(owners), "forms": list(owners.values()), "a": account_id},
        )

    async def checkout_forms(
        self,
        query: ListCheckoutForms,
        after: tuple[str, str] | None,
        fetch: int,
    ) -> list[dict[str, Any]]:
        """Newest first; the cursor is (created_at, id) of the last row seen."""
        rows = await self.connection.execute(
            _SEARCH_FORMS,
            {
                "a": query.account_id,
                "s": query.status,
                "m": query.marketplace_id,
                "login": query.buyer_login,
                "sku": query.sku,
                "from": query.bought_from,
                "to": query.bought_to,
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
                    " buyer_login, skus, bought_at, received_at, cancelled_at, superseded_by,"
                    " duplicate_of, last_event_id, created_at, updated_at, form"
                    " FROM checkout_forms WHERE id = :id"
                ),
                {"id": checkout_form_id},
            )
        ).first()
        return None if row is None else dict(row._mapping)

    # --- history --------------------------------------------------------------------------------

    async def add_history_rows(self, rows: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """(checkout form id, kind, detail) rows, in order."""
        if rows:
            await self.connection.execute(
                sa.text(
                    "INSERT INTO order_history (checkout_form_id, kind, detail)"
                    " SELECT r->>'f', r->>'k', r->'d'"
                    " FROM jsonb_array_elements(CAST(:rows AS jsonb)) WITH ORDINALITY AS x(r, n)"
                    " ORDER BY n"
                ),
                {"rows": orjson.dumps([{"f": f, "k": k, "d": d} for f, k, d in rows]).decode()},
            )

    async def add_history(self, checkout_form_id: str, kind: str, detail: dict[str, Any]) -> None:
        await self.connection.execute(
            sa.text(
                "INSERT INTO order_history (checkout_form_id, kind, detail)"
                " VALUES (:f, :k, CAST(:d AS jsonb))"
            ),
            {"f": checkout_form_id, "k": kind, "d": orjson.dumps(detail).decode()},
        )

    async def history(self, checkout_form_id: str) -> list[dict[str, Any]]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT at, kind, detail FROM order_history WHERE checkout_form_id = :f ORDER BY id"
            ),
            {"f": checkout_form_id},
        )
        return [dict(r._mapping) for r in rows]

    # --- import failures --------------------------------------------------------------------------

    async def failed_imports(self, after: str | None, fetch: int) -> list[dict[str, Any]]:
        """Accounts not importing: tokens or refresh failed, or failing pages (back-off)."""
        rows = await self.connection.execute(
            sa.text(
                "SELECT account_id, status, status_reason, event_cursor, next_poll_at,"
                " last_polled_at, failures, last_error FROM accounts"
                " WHERE (status IN ('tokens_failed', 'refresh_failed') OR failures > 0)"
                " AND (CAST(:after AS text) IS NULL OR account_id > :after)"
                " ORDER BY account_id LIMIT :n"
            ),
            {"after": after, "n": fetch},
        )
        return [dict(r._mapping) for r in rows]

    async def account(self, account_id: str) -> dict[str, Any] | None:
        row = (
            await self.connection.execute(
                sa.text(
                    "SELECT account_id, status, status_reason, event_cursor, next_poll_at,"
                    " last_polled_at, failures, last_error FROM accounts"
                    " WHERE account_id = :a FOR UPDATE"
                ),
                {"a": account_id},
            )
        ).first()
        return None if row is None else dict(row._mapping)

    async def poll_now(self, account_id: str) -> None:
        """Due at once, failures forgotten; a token failure is tried again too."""
        await self.connection.execute(
            sa.text(
                "UPDATE accounts SET status = 'connected', status_reason = '', failures = 0,"
                " last_error = NULL, next_poll_at = now(), updated_at = now()"
                " WHERE account_id = :a"
            ),
            {"a": account_id},
        )

    # --- write-backs ------------------------------------------------------------------------------

    async def add_shipment(
        self,
        account_id: str,
        checkout_form_id: str,
        waybill: str,
        carrier: str,
        line_items: Sequence[str],
        requested_by: str,
    ) -> int | None:
        """The shipment to write back; None if this waybill is known for the form already."""
        row = (
            await self.connection.execute(
                sa.text(
                    "INSERT INTO write_backs (account_id, checkout_form_id, kind,"
                    " fulfillment_status, waybill, carrier, line_items, requested_by)"
                    " VALUES (:a, :f, 'shipment', 'SENT', :w, :c, CAST(:li AS jsonb), :by)"
                    " ON CONFLICT (checkout_form_id, waybill) WHERE kind = 'shipment'"
                    " DO NOTHING RETURNING id"
                ),
                {
                    "a": account_id,
                    "f": checkout_form_id,
                    "w": waybill,
                    "c": carrier,
                    "li": orjson.dumps(list(line_items)).decode(),
                    "by": requested_by,
                },
            )
        ).first()
        return None if row is None else int(row[0])

    async def add_status_change(
        self, account_id: str, checkout_form_id: str, status: str, requested_by: str
    ) -> int:
        row = (
            await self.connection.execute(
                sa.text(
                    "INSERT INTO write_backs (account_id, checkout_form_id, kind,"
                    " fulfillment_status, requested_by)"
                    " VALUES (:a, :f, 'fulfillment_status', :s, :by) RETURNING id"
                ),
                {"a": account_id, "f": checkout_form_id, "s": status, "by": requested_by},
            )
        ).one()
        return int(row[0])

    async def claim_write_back(self, lease_seconds: float) -> ClaimedWriteBack | None:
        row = (await self.connection.execute(_CLAIM_WRITE_BACK, {"lease": lease_seconds})).first()
        if row is None:
            return None
        return ClaimedWriteBack(
            id=int(row.id),
            account_id=row.account_id,
            checkout_form_id=row.checkout_form_id,
            kind=row.kind,
            fulfillment_status=row.fulfillment_status,
            waybill=row.waybill,
            carrier=row.carrier,
            line_items=[str(i) for i in row.line_items or []],
            shipment_id=row.shipment_id,
            attempts=int(row.attempts),
            revision=row.revision,
        )

    async def shipment_added(
        self, write_back_id: int, shipment_id: str, carrier_id: str, carrier_name: str | None
    ) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE write_backs SET shipment_id = :s, carrier_id = :c, carrier_name = :n,"
                " updated_at = now() WHERE id = :id"
            ),
            {"id": write_back_id, "s": shipment_id, "c": carrier_id, "n": carrier_name},
        )

    async def write_back_done(self, write_back_id: int) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE write_backs SET state = 'done', last_error = NULL, done_at = now(),"
                " updated_at = now() WHERE id = :id"
            ),
            {"id": write_back_id},
        )

    async def write_back_failed(
        self, write_back_id: int, error: str, retry_in_seconds: float | None
    ) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE write_backs SET last_error = :e, updated_at = now(),"
                " state = CASE WHEN CAST(:retry AS float8) IS NULL THEN 'failed' ELSE state END,"
                " next_attempt_at = now() + make_interval(secs => COALESCE(:retry, 0))"
                " WHERE id = :id"
            ),
            {"id": write_back_id, "e": error[:2000], "retry": retry_in_seconds},
        )

    async def write_back(self, write_back_id: int) -> dict[str, Any] | None:
        row = (
            await self.connection.execute(
                sa.text(f"SELECT {_WRITE_BACK_COLUMNS} FROM write_backs WHERE id = :id FOR UPDATE"),
                {"id": write_back_id},
            )
        ).first()
        return None if row is None else dict(row._mapping)

    async def retry_write_back(self, write_back_id: int) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE write_backs SET state = 'pending', attempts = 0, next_attempt_at = now(),"
                " updated_at = now() WHERE id = :id"
            ),
            {"id": write_back_id},
        )

    async def write_backs(
        self, state: str | None, checkout_form_id: str | None, after: int | None, fetch: int
    ) -> list[dict[str, Any]]:
        """Newest first; the cursor is the last id seen."""
        rows = await self.connection.execute(
            sa.text(
                f"SELECT {_WRITE_BACK_COLUMNS} FROM write_backs"
                " WHERE (CAST(:s AS text) IS NULL OR state = :s)"
                " AND (CAST(:f AS text) IS NULL OR checkout_form_id = :f)"
                " AND (CAST(:after AS bigint) IS NULL OR id < :after)"
                " ORDER BY id DESC LIMIT :n"
            ),
            {"s": state, "f": checkout_form_id, "after": after, "n": fetch},
        )
        return [dict(r._mapping) for r in rows]
