"""SQL of drift and reconciliation: the offer-event cursors, the differences found, the
reconciles run, and the repairs applied to `offers` (see docs/service-anatomy.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from offers.domain.drift import Drift

_OFFER_COLUMNS = (
    "account_id, sku, state, offer_id, listed, stock, prices, sent_prices, sent_stock,"
    " work, claimed_until, updated_at,"
    # Held by the worker, or a batch command of it on its way: report, repair later.
    " (claimed_until > now() OR sync_command_id IS NOT NULL) AS busy"
)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


class DriftRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    # --- the offer-event cursor -------------------------------------------------------------

    async def claim_cursor(self, lease_seconds: float) -> dict[str, Any] | None:
        """One ready account whose events are due, held for `lease_seconds` (one reader per
        account across replicas); a ready account gets its cursor on first sight."""
        await self.connection.execute(
            sa.text(
                "INSERT INTO offer_event_cursors (account_id)"
                " SELECT account_id FROM publication_accounts WHERE readiness = 'ready'"
                " ON CONFLICT (account_id) DO NOTHING"
            )
        )
        row = (
            await self.connection.execute(
                sa.text(
                    "UPDATE offer_event_cursors c SET claimed_until ="
                    " now() + make_interval(secs => :lease)"
                    " FROM (SELECT k.account_id FROM offer_event_cursors k"
                    "  JOIN publication_accounts a ON a.account_id = k.account_id"
                    "  WHERE a.readiness = 'ready' AND k.due_at <= now()"
                    "  AND (k.claimed_until IS NULL OR k.claimed_until < now())"
                    "  ORDER BY k.due_at LIMIT 1 FOR UPDATE OF k SKIP LOCKED) due"
                    " WHERE c.account_id = due.account_id"
                    " RETURNING c.account_id, c.last_event_id, c.claimed_until"
                ),
                {"lease": lease_seconds},
            )
        ).first()
        return None if row is None else dict(row._mapping)

    async def held_cursor(
        self, account_id: str, claimed_until: Any, last_event_id: str | None
    ) -> bool:
        """The cursor, locked, still held by this claim and not moved meanwhile."""
        found = await self.connection.scalar(
            sa.text(
                "SELECT 1 FROM offer_event_cursors WHERE account_id = :a"
                " AND claimed_until = :held"
                " AND last_event_id IS NOT DISTINCT FROM CAST(:last AS text) FOR UPDATE"
            ),
            {"a": account_id, "held": claimed_until, "last": last_event_id},
        )
        return found is not None

    async def advance_cursor(
        self,
        account_id: str,
        last_event_id: str | None,
        last_event_at: Any,
        read: int,
        lag_seconds: float,
        due_in_seconds: float,
    ) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE offer_event_cursors SET"
                " last_event_id = COALESCE(CAST(:last AS text), last_event_id),"
                " last_event_at = COALESCE(CAST(:at AS timestamptz), last_event_at),"
                " events_read = events_read + :n, read_at = now(), lag_seconds = :lag,"
                " due_at = now() + make_interval(secs => :due), claimed_until = NULL"
                " WHERE account_id = :a"
            ),
            {
                "a": account_id,
                "last": last_event_id,
                "at": last_event_at,
                "n": read,
                "lag": lag_seconds,
                "due": due_in_seconds,
            },
        )

    async def cursor_lost(self, account_id: str, due_in_seconds: float) -> None:
        """Allegro no longer knows the cursor: read on from its oldest event, and say so."""
        await self.connection.execute(
            sa.text(
                "UPDATE offer_event_cursors SET last_event_id = NULL, lost_at = now(),"
                " due_at = now() + make_interval(secs => :due), claimed_until = NULL"
                " WHERE account_id = :a"
            ),
            {"a": account_id, "due": due_in_seconds},
        )

    async def release_cursor(self, account_id: str, due_in_seconds: float) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE offer_event_cursors SET claimed_until = NULL,"
                " due_at = now() + make_interval(secs => :due) WHERE account_id = :a"
            ),
            {"a": account_id, "due": due_in_seconds},
        )

    async def cursor(self, account_id: str) -> dict[str, Any] | None:
        row = (
            await self.connection.execute(
                sa.text(
                    "SELECT last_event_id, last_event_at, events_read, read_at, lag_seconds,"
                    " lost_at, (SELECT count(*) FROM offer_drift_rechecks r"
                    "  WHERE r.account_id = c.account_id) AS rechecks_waiting"
                    " FROM offer_event_cursors c WHERE account_id = :a"
                ),
                {"a": account_id},
            )
        ).first()
        return None if row is None else dict(row._mapping)

    # --- events kept for a recheck --------------------------------------------------------------

    async def rechecks_due(self, account_id: str) -> list[str]:
        """The SKUs whose kept events wait for a recheck and that our own change no longer
        holds (no claim, no batch command in flight): Allegro's state is read for them now."""
        rows = await self.connection.execute(
            sa.text(
                "SELECT r.sku FROM offer_drift_rechecks r JOIN offers o"
                " ON o.account_id = r.account_id AND o.sku = r.sku WHERE r.account_id = :a"
                " AND (o.claimed_until IS NULL OR o.claimed_until <= now())"
                " AND o.sync_command_id IS NULL ORDER BY r.sku"
            ),
            {"a": account_id},
        )
        return [str(r[0]) for r in rows]

    async def kept_events(self, account_id: str) -> dict[str, list[dict[str, Any]]]:
        """Per SKU, the events kept for a recheck (locked while the page is stored)."""
        rows = await self.connection.execute(
            sa.text(
                "SELECT sku, events FROM offer_drift_rechecks WHERE account_id = :a"
                " ORDER BY sku FOR UPDATE"
            ),
            {"a": account_id},
        )
        return {str(r.sku): list(r.events) for r in rows}

    async def keep_for_recheck(
        self, account_id: str, sku: str, events: list[dict[str, Any]]
    ) -> None:
        """The offer's events wait for its recheck: one per offer, the events merged."""
        await self.connection.execute(
            sa.text(
                "INSERT INTO offer_drift_rechecks (account_id, sku, events)"
                " VALUES (:a, :sku, CAST(:events AS jsonb))"
                " ON CONFLICT (account_id, sku) DO UPDATE SET events = excluded.events"
            ),
            {"a": account_id, "sku": sku, "events": _json(events)},
        )

    async def rechecked(self, account_id: str, skus: Sequence[str]) -> None:
        await self.connection.execute(
            sa.text(
                "DELETE FROM offer_drift_rechecks WHERE account_id = :a"
                " AND sku = ANY(CAST(:s AS text[]))"
            ),
            {"a": account_id, "s": sorted(set(skus))},
        )

    # --- our offers, as compared --------------------------------------------------------------

    async def offers_for_update(
        self, account_id: str, skus: Sequence[str] | None
    ) -> list[dict[str, Any]]:
        """The offers of these SKUs (None: all of the account), locked while repaired."""
        rows = await self.connection.execute(
            sa.text(
                f"SELECT {_OFFER_COLUMNS} FROM offers WHERE account_id = :a"
                " AND (CAST(:s AS text[]) IS NULL OR sku = ANY(CAST(:s AS text[])))"
                " ORDER BY sku FOR UPDATE"
            ),
            {"a": account_id, "s": None if skus is None else sorted(set(skus))},
        )
        return [dict(r._mapping) for r in rows]

    async def base_marketplace(self, account_id: str) -> str:
        found = await self.connection.scalar(
            sa.text("SELECT base_marketplace FROM publication_accounts WHERE account_id = :a"),
            {"a": account_id},
        )
        return str(found or "allegro-pl")

    # --- the differences ----------------------------------------------------------------------

    async def record(
        self,
        account_id: str,
        sku: str | None,
        offer_id: str | None,
        drift: Drift,
        source: str,
        *,
        event_id: str | None = None,
        event_type: str | None = None,
        reconciliation_id: int | None = None,
    ) -> bool:
        """False when this event's difference of this kind is recorded already."""
        inserted = await self.connection.scalar(
            sa.text(
                "INSERT INTO offer_drift (account_id, sku, offer_id, kind, field, ours, allegro,"
                " repair, source, event_id, event_type, reconciliation_id)"
                " VALUES (:a, :sku, :offer, :kind, :field, CAST(:ours AS jsonb),"
                " CAST(:allegro AS jsonb), :repair, :source, :event, :type, :rec)"
                " ON CONFLICT (account_id, event_id, kind) WHERE event_id IS NOT NULL"
                " DO NOTHING RETURNING id"
            ),
            {
                "a": account_id,
                "sku": sku,
                "offer": offer_id,
                "kind": drift.kind,
                "field": drift.field,
                "ours": _json(drift.ours),
                "allegro": _json(drift.allegro),
                "repair": drift.repair,
                "source": source,
                "event": event_id,
                "type": event_type,
                "rec": reconciliation_id,
            },
        )
        return inserted is not None

    async def drift(
        self, account_id: str, kind: str | None, sku: str | None, after: int | None, fetch: int
    ) -> list[dict[str, Any]]:
        """Newest first."""
        rows = await self.connection.execute(
            sa.text(
                "SELECT id, sku, offer_id, kind, field, ours, allegro, repair, source, event_id,"
                " event_type, reconciliation_id, seen_at FROM offer_drift WHERE account_id = :a"
                " AND (CAST(:kind AS text) IS NULL OR kind = :kind)"
                " AND (CAST(:sku AS text) IS NULL OR sku = :sku)"
                " AND (CAST(:after AS bigint) IS NULL OR id < :after)"
                " ORDER BY id DESC LIMIT :n"
            ),
            {"a": account_id, "kind": kind, "sku": sku, "after": after, "n": fetch},
        )
        return [dict(r._mapping) for r in rows]

    async def counts(self, account_id: str) -> list[dict[str, Any]]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT kind, source, count(*) AS count, count(DISTINCT sku) AS offers,"
                " max(seen_at) AS last_seen_at FROM offer_drift WHERE account_id = :a"
                " GROUP BY kind, source ORDER BY kind, source"
            ),
            {"a": account_id},
        )
        return [dict(r._mapping) for r in rows]

    # --- reconciles ---------------------------------------------------------------------------

    async def begin_reconciliation(
        self, account_id: str, by: str, lease_seconds: float
    ) -> int | None:
        """A new reconcile, or None while another one of the account holds it."""
        await self.connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext('offers-reconcile:' || :a))"),
            {"a": account_id},
        )
        running = await self.connection.scalar(
            sa.text(
                "SELECT 1 FROM offer_reconciliations WHERE account_id = :a"
                " AND finished_at IS NULL AND held_until > now()"
            ),
            {"a": account_id},
        )
        if running is not None:
            return None
        found = await self.connection.scalar(
            sa.text(
                "INSERT INTO offer_reconciliations (account_id, requested_by, held_until)"
                " VALUES (:a, :by, now() + make_interval(secs => :lease)) RETURNING id"
            ),
            {"a": account_id, "by": by, "lease": lease_seconds},
        )
        return int(found)

    async def finish_reconciliation(self, reconciliation_id: int, counts: dict[str, Any]) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE offer_reconciliations SET finished_at = now(),"
                " counts = CAST(:counts AS jsonb) WHERE id = :id"
            ),
            {"id": reconciliation_id, "counts": _json(counts)},
        )

    async def release_reconciliation(self, reconciliation_id: int) -> None:
        await self.connection.execute(
            sa.text("UPDATE offer_reconciliations SET held_until = now() WHERE id = :id"),
            {"id": reconciliation_id},
        )

    async def last_reconciliation(self, account_id: str) -> dict[str, Any] | None:
        row = (
            await self.connection.execute(
                sa.text(
                    "SELECT id, requested_by, started_at, finished_at, counts"
                    " FROM offer_reconciliations WHERE account_id = :a AND finished_at IS NOT NULL"
                    " ORDER BY id DESC LIMIT 1"
                ),
                {"a": account_id},
            )
        ).first()
        return None if row is None else dict(row._mapping)

    # --- repairs ------------------------------------------------------------------------------

    async def resend(
        self,
        account_id: str,
        sku: str,
        base_marketplace: str,
        price: dict[str, Any] | None,
        stock: int | None,
    ) -> None:
        """What Allegro holds becomes the sent value, and the price is marked as not sent
        (revision unknown): the sync pushes the wanted values again."""
        await self.connection.execute(
            sa.text(
                "UPDATE offers SET"
                " sent_prices = CASE WHEN CAST(:price AS jsonb) IS NULL THEN sent_prices"
                "  ELSE COALESCE(sent_prices, '{}'::jsonb)"
                "   || jsonb_build_object(CAST(:mp AS text), CAST(:price AS jsonb)) END,"
                " sent_price_revision = CASE WHEN CAST(:price AS jsonb) IS NULL"
                "  THEN sent_price_revision ELSE NULL END,"
                " sent_stock = COALESCE(CAST(:stock AS integer), sent_stock), updated_at = now()"
                " WHERE account_id = :a AND sku = :sku"
            ),
            {
                "a": account_id,
                "sku": sku,
                "mp": base_marketplace,
                "price": _json(price),
                "stock": stock,
            },
        )

    async def adopt(self, account_id: str, sku: str, offer_id: str, status: str) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE offers SET offer_id = :offer, allegro_status = :status, updated_at = now()"
                " WHERE account_id = :a AND sku = :sku"
            ),
            {"a": account_id, "sku": sku, "offer": offer_id, "status": status},
        )

    async def forget_offer(self, account_id: str, sku: str) -> None:
        """Allegro no longer has it: created again from scratch (looked up first)."""
        await self.connection.execute(
            sa.text(
                "UPDATE offers SET offer_id = NULL, allegro_status = NULL, marketplaces = '{}',"
                " sent_catalog_revision = NULL, sent_price_revision = NULL, sent_prices = NULL,"
                " sent_stock = NULL, operation_url = NULL, updated_at = now()"
                " WHERE account_id = :a AND sku = :sku"
            ),
            {"a": account_id, "sku": sku},
        )

    async def set_allegro_status(self, account_id: str, sku: str, status: str) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE offers SET allegro_status = :status, updated_at = now()"
                " WHERE account_id = :a AND sku = :sku"
            ),
            {"a": account_id, "sku": sku, "status": status},
        )
