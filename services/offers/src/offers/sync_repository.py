"""SQL of the price and stock sync: the batch commands, the offers in each, and per offer the
command in flight and the last failure (`sa.text`, named parameters, on the connection of the
unit of work it is given)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from offers.domain import sync
from offers.domain.commands import ClaimedCommand


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


# Allegro holds something other than what is wanted (a rough filter: domain/sync.py decides):
# a sold-out or restocked offer, a stock or a price (per marketplace it was sent to) that
# differs. Withdrawn offers and offers with a publication step pending are the publisher's.
OUT_OF_SYNC = (
    "o.offer_id IS NOT NULL AND o.work IS NULL AND o.listed AND ("
    " (o.state = 'active' AND (o.stock <= 0 OR o.sent_stock IS DISTINCT FROM o.stock"
    "  OR EXISTS (SELECT 1 FROM jsonb_each(COALESCE(o.sent_prices, '{}')) s"
    "   WHERE o.prices ? s.key AND ((o.prices -> s.key ->> 'amount')::numeric"
    "    IS DISTINCT FROM (s.value ->> 'amount')::numeric"
    "    OR o.prices -> s.key ->> 'currency' IS DISTINCT FROM s.value ->> 'currency'))))"
    " OR (o.state = 'ended' AND o.stock > 0))"
)
# Accounts whose writes may go: ready, not paused, not blocked by Allegro after a 429.
_ACCOUNT_MAY_SEND = (
    "a.readiness = 'ready' AND NOT a.paused"
    " AND NOT EXISTS (SELECT 1 FROM allegro_rate_budget b WHERE b.blocked_until > now()"
    "  AND (starts_with(b.key, 'seller:' || a.account_id || ':')"
    "   OR starts_with(b.key, 'client:')))"
)

# One planner per account at a time (a transaction-level advisory lock, skipped when another
# replica holds it): two replicas planning at once would split one account's changes between
# them and send two half-full commands where one would do.
_ACCOUNTS_TO_PLAN = sa.text(
    "SELECT a.account_id FROM publication_accounts a"
    f" WHERE {_ACCOUNT_MAY_SEND}"
    " AND EXISTS (SELECT 1 FROM offers o WHERE o.account_id = a.account_id"
    "  AND o.sync_command_id IS NULL AND o.offer_id IS NOT NULL)"
    " ORDER BY a.account_id"
)
_PLAN_LOCK = sa.text("SELECT pg_try_advisory_xact_lock(hashtext('offers.sync:' || :a))")

_TO_SYNC = sa.text(
    "SELECT o.account_id, o.sku, o.state, o.offer_id, o.listed, o.stock, o.sent_stock,"
    " o.prices, o.unpriced, o.sent_prices, o.price_revision"
    " FROM offers o WHERE o.account_id = ANY(CAST(:accounts AS text[]))"
    " AND o.sync_command_id IS NULL AND (o.sync_due_at IS NULL OR o.sync_due_at <= now())"
    " AND (o.claimed_until IS NULL OR o.claimed_until < now())"
    f" AND {OUT_OF_SYNC}"
    " ORDER BY o.account_id, o.sku LIMIT :n FOR UPDATE OF o SKIP LOCKED"
)

_CLAIM_COMMANDS = sa.text(
    "UPDATE offer_commands c SET claimed_until = now() + make_interval(secs => :lease),"
    " attempts = c.attempts + 1"
    " FROM (SELECT d.command_id FROM offer_commands d"
    "  JOIN publication_accounts a ON a.account_id = d.account_id"
    "  WHERE d.status <> 'done' AND d.due_at <= now()"
    "  AND (d.claimed_until IS NULL OR d.claimed_until < now())"
    f"  AND {_ACCOUNT_MAY_SEND}"
    "  ORDER BY d.due_at LIMIT :n FOR UPDATE OF d SKIP LOCKED) due"
    " WHERE c.command_id = due.command_id"
    " RETURNING c.command_id, c.account_id, c.kind, c.marketplace, c.value, c.status,"
    " c.attempts, c.claimed_until"
)


class SyncRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    # --- planning -------------------------------------------------------------------------------

    async def offers_to_sync(self, limit: int) -> list[sync.OfferToSync]:
        """Offers out of sync and free (no command in flight, no backoff running, no
        publication step claimed), locked until the commands naming them are stored."""
        candidates = list((await self.connection.execute(_ACCOUNTS_TO_PLAN)).scalars())
        accounts = [
            str(a) for a in candidates if await self.connection.scalar(_PLAN_LOCK, {"a": a})
        ]
        if not accounts:
            return []
        rows = await self.connection.execute(_TO_SYNC, {"n": limit, "accounts": accounts})
        return [
            sync.OfferToSync(
                account_id=r.account_id,
                sku=r.sku,
                state=r.state,
                offer_id=r.offer_id,
                listed=r.listed,
                stock=int(r.stock or 0),
                sent_stock=r.sent_stock,
                prices=dict(r.prices or {}),
                unpriced=dict(r.unpriced or {}),
                sent_prices=dict(r.sent_prices or {}),
                price_revision=int(r.price_revision or 0),
            )
            for r in rows
        ]

    async def add_command(self, command_id: str, batch: sync.Batch) -> None:
        """The command and its offers, each offer marked as in it: stored before the PUT."""
        await self.connection.execute(
            sa.text(
                "INSERT INTO offer_commands (command_id, account_id, kind, marketplace, value,"
                " offer_count) VALUES (:id, :a, :kind, :mp, CAST(:value AS jsonb), :n)"
            ),
            {
                "id": command_id,
                "a": batch.account_id,
                "kind": batch.kind,
                "mp": batch.marketplace,
                "value": _json(batch.value),
                "n": len(batch.changes),
            },
        )
        await self.connection.execute(
            sa.text(
                "INSERT INTO offer_command_offers (command_id, sku, account_id, offer_id,"
                " price_revision)"
                " SELECT :id, s, :a, o, r FROM unnest(CAST(:skus AS text[]),"
                " CAST(:offers AS text[]), CAST(:revisions AS bigint[])) AS t(s, o, r)"
            ),
            {
                "id": command_id,
                "a": batch.account_id,
                "skus": [c.sku for c in batch.changes],
                "offers": [c.offer_id for c in batch.changes],
                "revisions": [c.price_revision for c in batch.changes],
            },
        )
        await self.connection.execute(
            sa.text(
                "UPDATE offers SET sync_command_id = :id WHERE account_id = :a"
                " AND sku = ANY(CAST(:skus AS text[]))"
            ),
            {"id": command_id, "a": batch.account_id, "skus": [c.sku for c in batch.changes]},
        )

    async def hold_unsendable(self, account_id: str, sku: str, reason: dict[str, Any]) -> None:
        """A value Allegro would refuse: not sent, shown, and looked at again when a new wanted
        value arrives."""
        await self.connection.execute(
            sa.text(
                "UPDATE offers SET sync_error = CAST(:e AS jsonb), sync_due_at = 'infinity'"
                " WHERE account_id = :a AND sku = :sku"
            ),
            {"a": account_id, "sku": sku, "e": _json({**reason, "surfaced": True})},
        )

    # --- sending --------------------------------------------------------------------------------

    async def claim_commands(self, limit: int, lease_seconds: float) -> list[ClaimedCommand]:
        rows = (
            await self.connection.execute(_CLAIM_COMMANDS, {"n": limit, "lease": lease_seconds})
        ).all()
        if not rows:
            return []
        offers = await self.connection.execute(
            sa.text(
                "SELECT command_id, offer_id FROM offer_command_offers"
                " WHERE command_id = ANY(CAST(:ids AS uuid[])) ORDER BY command_id, sku"
            ),
            {"ids": [str(r.command_id) for r in rows]},
        )
        by_command: dict[str, list[str]] = {}
        for command_id, offer_id in offers:
            by_command.setdefault(str(command_id), []).append(str(offer_id))
        return [
            ClaimedCommand(
                command_id=str(r.command_id),
                account_id=r.account_id,
                kind=r.kind,
                marketplace=r.marketplace,
                value=dict(r.value),
                status=r.status,
                attempts=r.attempts,
                claimed_until=r.claimed_until,
                offer_ids=tuple(by_command.get(str(r.command_id), [])),
            )
            for r in rows
        ]

    async def held_command(self, command_id: str, claimed_until: Any) -> dict[str, Any] | None:
        row = (
            await self.connection.execute(
                sa.text(
                    "SELECT * FROM offer_commands WHERE command_id = :id"
                    " AND claimed_until = :held FOR UPDATE"
                ),
                {"id": command_id, "held": claimed_until},
            )
        ).first()
        return None if row is None else dict(row._mapping)

    async def mark_sent(self, command_id: str, claimed_until: Any) -> bool:
        """Allegro has the command: from now on it is read, never sent again."""
        result = await self.connection.execute(
            sa.text(
                "UPDATE offer_commands SET status = 'sent', sent_at = COALESCE(sent_at, now())"
                " WHERE command_id = :id AND claimed_until = :held"
            ),
            {"id": command_id, "held": claimed_until},
        )
        return bool(result.rowcount)

    async def command_later(
        self, command_id: str, status: str, due_in_seconds: float, reset_attempts: bool
    ) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE offer_commands SET status = :status, claimed_until = NULL,"
                " due_at = now() + make_interval(secs => :due),"
                " sent_at = CASE WHEN :status = 'sent' THEN COALESCE(sent_at, now())"
                "  ELSE sent_at END,"
                " attempts = CASE WHEN CAST(:reset AS boolean) THEN 0 ELSE attempts END"
                " WHERE command_id = :id"
            ),
            {"id": command_id, "status": status, "due": due_in_seconds, "reset": reset_attempts},
        )

    async def command_done(self, command_id: str, task_count: dict[str, Any]) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE offer_commands SET status = 'done', claimed_until = NULL,"
                " completed_at = now(), task_count = CAST(:tc AS jsonb) WHERE command_id = :id"
            ),
            {"id": command_id, "tc": _json(task_count)},
        )

    async def command_offers(self, command_id: str) -> list[dict[str, Any]]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT i.sku, i.offer_id, i.price_revision, o.state, o.sync_attempts,"
                " o.sync_command_id FROM offer_command_offers i"
                " JOIN offers o ON o.account_id = i.account_id AND o.sku = i.sku"
                " WHERE i.command_id = :id ORDER BY i.sku FOR UPDATE OF o"
            ),
            {"id": command_id},
        )
        return [dict(r._mapping) for r in rows]

    async def record_results(
        self, command_id: str, results: Sequence[tuple[str, str, dict[str, Any] | None]]
    ) -> None:
        """`(sku, success | failed, error)` of each offer of the command."""
        await self.connection.execute(
            sa.text(
                "UPDATE offer_command_offers i SET result = t.result,"
                " error = CAST(t.error AS jsonb)"
                " FROM unnest(CAST(:skus AS text[]), CAST(:results AS text[]),"
                " CAST(:errors AS text[])) AS t(sku, result, error)"
                " WHERE i.command_id = :id AND i.sku = t.sku"
            ),
            {
                "id": command_id,
                "skus": [r[0] for r in results],
                "results": [r[1] for r in results],
                "errors": [_json(r[2]) for r in results],
            },
        )

    async def sent(
        self,
        account_id: str,
        skus: Sequence[str],
        kind: str,
        marketplace: str | None,
        value: dict[str, Any],
        price_revision: int | None,
    ) -> None:
        """What Allegro now holds for the offers a command changed; their sync is free again."""
        if not skus:
            return
        sets = {
            sync.PRICE: "sent_prices = jsonb_set(COALESCE(sent_prices, '{}'), ARRAY[:mp],"
            " CAST(:value AS jsonb)),"
            " sent_price_revision = GREATEST(COALESCE(sent_price_revision, 0),"
            "  COALESCE(CAST(:rev AS bigint), 0)),",
            sync.QUANTITY: "sent_stock = CAST(CAST(:value AS jsonb) ->> 'quantity' AS integer),",
            sync.PUBLICATION: "",
        }[kind]
        await self.connection.execute(
            sa.text(
                f"UPDATE offers SET {sets} sync_command_id = NULL, sync_attempts = 0,"
                " sync_error = NULL, sync_due_at = NULL, updated_at = now()"
                " WHERE account_id = :a AND sku = ANY(CAST(:skus AS text[]))"
            ),
            {
                k: v
                for k, v in {
                    "a": account_id,
                    "skus": list(skus),
                    "mp": marketplace or "",
                    "value": _json(value),
                    "rev": price_revision,
                }.items()
                if f":{k}" in sets or k in ("a", "skus")
            },
        )

    async def failed(
        self, account_id: str, sku: str, error: dict[str, Any], retry_in_seconds: float | None
    ) -> None:
        """The offer's change failed: tried again after the backoff, or (None) surfaced and
        held until a new wanted value or an operator's retry."""
        await self.connection.execute(
            sa.text(
                "UPDATE offers SET sync_command_id = NULL, sync_attempts = sync_attempts + 1,"
                " sync_error = CAST(:e AS jsonb), updated_at = now(),"
                " sync_due_at = CASE WHEN CAST(:retry AS float8) IS NULL THEN 'infinity'"
                "  ELSE now() + make_interval(secs => CAST(:retry AS float8)) END"
                " WHERE account_id = :a AND sku = :sku"
            ),
            {"a": account_id, "sku": sku, "e": _json(error), "retry": retry_in_seconds},
        )

    async def free(self, account_id: str, skus: Sequence[str]) -> None:
        """Offers of a command Allegro refused as a whole: free to be planned again."""
        await self.connection.execute(
            sa.text(
                "UPDATE offers SET sync_command_id = NULL WHERE account_id = :a"
                " AND sku = ANY(CAST(:skus AS text[]))"
            ),
            {"a": account_id, "skus": list(skus)},
        )

    async def retry(self, account_id: str, skus: Sequence[str] | None) -> int:
        """Surfaced sync failures go again now (the operator's retry)."""
        result = await self.connection.execute(
            sa.text(
                "UPDATE offers SET sync_due_at = NULL, sync_attempts = 0 WHERE account_id = :a"
                " AND sync_due_at = 'infinity'"
                " AND (CAST(:skus AS text[]) IS NULL OR sku = ANY(CAST(:skus AS text[])))"
            ),
            {"a": account_id, "skus": None if skus is None else list(skus)},
        )
        return int(result.rowcount or 0)

    async def set_allegro_status(self, account_id: str, sku: str, status: str) -> None:
        await self.connection.execute(
            sa.text("UPDATE offers SET allegro_status = :s WHERE account_id = :a AND sku = :sku"),
            {"a": account_id, "sku": sku, "s": status},
        )

    async def note(
        self, account_id: str, sku: str, state: str, cause: str, reason: dict[str, Any]
    ) -> None:
        """A surfaced sync failure in the offer's history (its state unchanged)."""
        await self.connection.execute(
            sa.text(
                "INSERT INTO offer_transitions (account_id, sku, from_state, to_state, cause,"
                " reason) VALUES (:a, :sku, :s, :s, :cause, CAST(:reason AS jsonb))"
            ),
            {"a": account_id, "sku": sku, "s": state, "cause": cause, "reason": _json(reason)},
        )

    # --- queries --------------------------------------------------------------------------------

    async def last_command(self, account_id: str, sku: str) -> dict[str, Any] | None:
        row = (
            await self.connection.execute(
                sa.text(
                    "SELECT c.command_id, c.kind, c.marketplace, c.value, c.status,"
                    " c.created_at, c.completed_at, i.result, i.error"
                    " FROM offer_command_offers i JOIN offer_commands c USING (command_id)"
                    " WHERE i.account_id = :a AND i.sku = :sku"
                    " ORDER BY c.created_at DESC LIMIT 1"
                ),
                {"a": account_id, "sku": sku},
            )
        ).first()
        if row is None:
            return None
        found = dict(row._mapping)
        found["command_id"] = str(found["command_id"])
        return found

    async def sync_counts(self, account_id: str) -> dict[str, int]:
        row = (
            await self.connection.execute(
                sa.text(
                    "SELECT count(*) FILTER (WHERE sync_command_id IS NOT NULL),"
                    " count(*) FILTER (WHERE sync_command_id IS NULL AND sync_due_at = 'infinity'),"
                    " count(*) FILTER (WHERE sync_command_id IS NULL"
                    "  AND (sync_due_at IS NULL OR sync_due_at <> 'infinity')"
                    f"  AND {OUT_OF_SYNC})"
                    " FROM offers o WHERE o.account_id = :a"
                ),
                {"a": account_id},
            )
        ).one()
        return {"in_flight": int(row[0]), "failed": int(row[1]), "waiting": int(row[2])}
