"""SQL of the offers service: every statement it runs, `sa.text` with named parameters, on the
connection of the unit of work it is given (see docs/service-anatomy.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from offers.domain import states
from offers.domain.commands import ClaimedOffer, Content, Move, Outcome, Prices


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


_OFFER_COLUMNS = (
    "account_id, sku, state, waiting_for, reason, offer_id, allegro_status, marketplaces,"
    " listed, content, catalog_revision, stock, prices, unpriced, price_revision,"
    " sent_catalog_revision, sent_price_revision, sent_prices, sent_stock, shipping_rates_id,"
    " sent_handling_time, sent_images, not_sent, sync_command_id, sync_due_at, sync_attempts,"
    " sync_error, work, due_at, claimed_until, attempts, operation_url, created_at, updated_at"
)

# Offers whose step is due, of ready accounts that are not paused, and not held by another
# claim; an account (or the whole Client ID) Allegro blocked after a 429 waits out its block
# here instead of holding workers in the client's limiter.
_DUE = (
    " FROM offers f JOIN publication_accounts a ON a.account_id = f.account_id"
    " WHERE f.due_at <= now()"
    " AND (f.claimed_until IS NULL OR f.claimed_until < now())"
    " AND f.sync_command_id IS NULL"  # one write per offer: a batch command is in flight
    " AND a.readiness = 'ready' AND NOT a.paused"
    " AND NOT EXISTS (SELECT 1 FROM blocked b"
    "  WHERE starts_with(b.key, 'seller:' || f.account_id || ':')"
    "   OR starts_with(b.key, 'client:'))"
)
_CLAIM = sa.text(
    # The blocked budgets are read once per claim: checked per due row, the budget table (a
    # handful of live rows, updated at every Allegro call, so many dead ones) was scanned once
    # for each of the 19,000 due offers of a 45,000-product run, 2.7 s a claim.
    "WITH blocked AS MATERIALIZED (SELECT key FROM allegro_rate_budget"
    "  WHERE blocked_until > now()),"
    # Operation polls first: an offer's outcome waits for its poll, while a read-back only
    # checks an outcome already announced (read-backs alone fill the reads' share of the
    # slots at creation's pace, and polls queued behind them delayed OfferPublished). Two
    # queries, each in the order of an index (offers_polls_due, offers_due), so a claim reads
    # about as many rows as it takes: one query ordered by `work = 'poll'` first sorted every
    # due offer at each claim (0.18 s with 45,000 due).
    " polls AS MATERIALIZED (SELECT f.account_id, f.sku" + _DUE + " AND f.work = 'poll'"
    "  AND CAST(:reads AS boolean) ORDER BY f.due_at LIMIT :n FOR UPDATE OF f SKIP LOCKED),"
    " others AS MATERIALIZED (SELECT f.account_id, f.sku" + _DUE + " AND f.work IS NOT NULL"
    "  AND f.work <> 'poll' AND (CAST(:reads AS boolean) OR f.work <> 'verify')"
    "  ORDER BY f.due_at LIMIT :n FOR UPDATE OF f SKIP LOCKED)"
    " UPDATE offers o SET claimed_until = now() + make_interval(secs => :lease),"
    " attempts = o.attempts + 1"
    # Read (and so locked) only as far as the claim needs: the others after the polls.
    " FROM (SELECT * FROM polls UNION ALL SELECT * FROM others LIMIT :n) due"
    " WHERE o.account_id = due.account_id AND o.sku = due.sku"
    " RETURNING o.account_id, o.sku, o.state, o.work, o.offer_id, o.operation_url,"
    " o.attempts, o.claimed_until, o.listed, o.stock, o.content, o.catalog_revision,"
    " o.prices, o.unpriced, o.price_revision"
)


class OffersRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    # --- accounts -----------------------------------------------------------------------------

    async def ensure_account(self, account_id: str) -> None:
        """An account is known from its first event on; its readiness is checked at once."""
        await self.connection.execute(
            sa.text(
                "INSERT INTO publication_accounts (account_id) VALUES (:a)"
                " ON CONFLICT (account_id) DO NOTHING"
            ),
            {"a": account_id},
        )

    async def account(self, account_id: str, *, for_share: bool = False) -> dict[str, Any] | None:
        """`for_share`: held until the transaction ends, so a readiness change waits for
        offers decided on the readiness read here (else an offer could wait for a readiness
        the account gained meanwhile, for good)."""
        lock = " FOR SHARE OF a" if for_share else ""
        row = (
            await self.connection.execute(
                # With the applied shipping configuration's handling time: the shortest an
                # offer of the account promises (`handling_time`, None without one).
                sa.text(
                    "SELECT a.*, (SELECT s.applied_document ->> 'handling_time'"
                    "  FROM shipping_configurations s WHERE s.account_id = a.account_id)"
                    " AS handling_time FROM publication_accounts a WHERE a.account_id = :a" + lock
                ),
                {"a": account_id},
            )
        ).first()
        return None if row is None else dict(row._mapping)

    async def counts_by_state_and_marketplace(self) -> list[tuple[str, str, int]]:
        """(state, the account's base marketplace, offers): one GROUP BY, for the metrics."""
        rows = await self.connection.execute(
            sa.text(
                "SELECT o.state, a.base_marketplace, count(*) FROM offers o"
                " JOIN publication_accounts a ON a.account_id = o.account_id"
                " GROUP BY o.state, a.base_marketplace"
            )
        )
        return [(str(state), str(marketplace), int(n)) for state, marketplace, n in rows]

    async def request_readiness_check(
        self, account_id: str, base_marketplace: str | None = None
    ) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE publication_accounts SET check_due_at = now(), updated_at = now(),"
                " base_marketplace = COALESCE(CAST(:base AS text), base_marketplace)"
                " WHERE account_id = :a"
            ),
            {"a": account_id, "base": base_marketplace},
        )

    async def begin_readiness_check(self, account_id: str, lease_seconds: float) -> int:
        """An operator's check: held like a claim, so the worker does not start one meanwhile.
        Returns the check's number (see `claim_readiness_check`)."""
        return int(
            await self.connection.scalar(
                sa.text(
                    "UPDATE publication_accounts SET check_claimed_until ="
                    " now() + make_interval(secs => :lease) WHERE account_id = :a"
                    " RETURNING nextval('readiness_check_numbers')"
                ),
                {"a": account_id, "lease": lease_seconds},
            )
        )

    async def claim_readiness_check(self, lease_seconds: float) -> tuple[str, int] | None:
        """A due account's check, and its number: drawn in RETURNING, once the account's row
        is locked, so a check granted later has a larger number whatever the order the two
        transactions began in (their `now()` is when each began, and the one that began first
        can wait for the other's lock and be granted second)."""
        row = (
            await self.connection.execute(
                sa.text(
                    "UPDATE publication_accounts SET check_claimed_until ="
                    " now() + make_interval(secs => :lease)"
                    " WHERE account_id = (SELECT account_id FROM publication_accounts"
                    "  WHERE check_due_at <= now()"
                    "  AND (check_claimed_until IS NULL OR check_claimed_until < now())"
                    "  ORDER BY check_due_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
                    " RETURNING account_id, nextval('readiness_check_numbers')"
                ),
                {"lease": lease_seconds},
            )
        ).first()
        return None if row is None else (str(row[0]), int(row[1]))

    async def save_readiness(
        self,
        account_id: str,
        readiness: str,
        items: list[dict[str, Any]],
        ids: dict[str, str | None],
        recheck_in_seconds: float | None,
        check_number: int | None = None,
    ) -> tuple[str, bool]:
        """Store a check's result unless a check granted later (a larger number) is stored
        already; returns the readiness it had before and whether this result was stored.
        Without a number (no check: the token is gone) the result is as of now: it takes a new
        number, and no check granted before it overwrites it."""
        held = (
            await self.connection.execute(
                sa.text(
                    "SELECT readiness, COALESCE(check_number > CAST(:n AS bigint), false)"
                    " FROM publication_accounts WHERE account_id = :a FOR UPDATE"
                ),
                {"a": account_id, "n": check_number},
            )
        ).first()
        before = str(held[0]) if held is not None else "unknown"
        if held is not None and held[1]:
            return before, False
        await self.connection.execute(
            sa.text(
                "UPDATE publication_accounts SET readiness = :r,"
                " readiness_items = CAST(:items AS jsonb),"
                " return_policy_id = COALESCE(CAST(:rp AS text), return_policy_id),"
                " implied_warranty_id = COALESCE(CAST(:iw AS text), implied_warranty_id),"
                " shipping_rates_id = COALESCE(CAST(:sr AS text), shipping_rates_id),"
                " responsible_producer_id ="
                "  COALESCE(CAST(:producer AS text), responsible_producer_id),"
                " checked_at = now(), check_claimed_until = NULL, updated_at = now(),"
                " check_number = COALESCE(CAST(:n AS bigint), nextval('readiness_check_numbers')),"
                " check_due_at = CASE WHEN CAST(:recheck AS float8) IS NULL THEN NULL"
                "  ELSE now() + make_interval(secs => CAST(:recheck AS float8)) END"
                " WHERE account_id = :a"
            ),
            {
                "a": account_id,
                "r": readiness,
                "items": _json(items),
                "rp": ids.get("return_policy"),
                "iw": ids.get("implied_warranty"),
                "sr": ids.get("shipping_rates"),
                "producer": ids.get("responsible_producer"),
                "recheck": recheck_in_seconds,
                "n": check_number,
            },
        )
        return before, True

    async def save_readiness_input(
        self,
        account_id: str,
        producer_data: dict[str, Any] | None,
        safety_information: str | None,
        marketplaces: Sequence[str] | None,
    ) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE publication_accounts SET"
                " producer_data = COALESCE(CAST(:producer AS jsonb), producer_data),"
                " safety_information = COALESCE(CAST(:safety AS text), safety_information),"
                " marketplaces = COALESCE(CAST(:mps AS text[]), marketplaces), updated_at = now()"
                " WHERE account_id = :a"
            ),
            {
                "a": account_id,
                "producer": _json(producer_data),
                "safety": safety_information,
                "mps": None if marketplaces is None else list(marketplaces),
            },
        )

    async def set_paused(self, account_id: str, paused: bool, by: str) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE publication_accounts SET paused = :p, paused_by = :by, updated_at = now()"
                " WHERE account_id = :a"
            ),
            {"a": account_id, "p": paused, "by": by},
        )

    async def readiness_gained(self, account_id: str) -> int:
        """Offers waiting for the account's readiness stop waiting for it, and those that
        waited for nothing else are checked now.

        One statement: each row's new state is computed from that row as it is when updated
        (a row another transaction changed meanwhile is re-read after its commit), so no offer
        can be left waiting on nothing. Two statements (check those waiting for the readiness
        alone, then remove it from the others) left one whose last other item a price handler
        removed in between waiting for nothing, for good."""
        moved = await self.connection.execute(
            sa.text(
                "WITH released AS (UPDATE offers SET"
                "  waiting_for = array_remove(waiting_for, 'readiness'),"
                "  state = CASE WHEN waiting_for = ARRAY['readiness']::text[]"
                "   THEN 'checking' ELSE state END,"
                "  work = CASE WHEN waiting_for = ARRAY['readiness']::text[]"
                "   THEN 'check' ELSE work END,"
                "  due_at = CASE WHEN waiting_for = ARRAY['readiness']::text[]"
                "   THEN now() ELSE due_at END,"
                "  updated_at = now()"
                "  WHERE account_id = :a AND state = 'waiting' AND 'readiness' = ANY(waiting_for)"
                "  RETURNING sku, state)"
                " INSERT INTO offer_transitions (account_id, sku, from_state, to_state, cause)"
                " SELECT :a, sku, 'waiting', 'checking', 'account ready' FROM released"
                " WHERE state = 'checking'"
            ),
            {"a": account_id},
        )
        return int(moved.rowcount or 0)

    async def readiness_lost(self, account_id: str) -> None:
        """Offers not yet sent wait for the account again."""
        await self.connection.execute(
            sa.text(
                "WITH moved AS (UPDATE offers SET state = 'waiting',"
                "  waiting_for = ARRAY['readiness']::text[], work = NULL, due_at = NULL,"
                "  updated_at = now()"
                "  WHERE account_id = :a AND state = 'checking' RETURNING sku)"
                " INSERT INTO offer_transitions (account_id, sku, from_state, to_state, cause)"
                " SELECT :a, sku, 'checking', 'waiting', 'account not ready' FROM moved"
            ),
            {"a": account_id},
        )
        await self.connection.execute(
            sa.text(
                "UPDATE offers SET waiting_for = array_append(waiting_for, 'readiness')"
                " WHERE account_id = :a AND state = 'waiting'"
                " AND NOT 'readiness' = ANY(waiting_for)"
            ),
            {"a": account_id},
        )

    # --- category parameters ------------------------------------------------------------------

    async def category_parameters(
        self, category_id: str, max_age_seconds: float
    ) -> list[dict[str, Any]] | None:
        found = await self.connection.scalar(
            sa.text(
                "SELECT parameters FROM category_parameters WHERE category_id = :c"
                " AND fetched_at > now() - make_interval(secs => :age)"
            ),
            {"c": category_id, "age": max_age_seconds},
        )
        return None if found is None else list(found)

    async def save_category_parameters(
        self, category_id: str, parameters: list[dict[str, Any]]
    ) -> None:
        await self.connection.execute(
            sa.text(
                "INSERT INTO category_parameters (category_id, parameters)"
                " VALUES (:c, CAST(:p AS jsonb)) ON CONFLICT (category_id) DO UPDATE"
                " SET parameters = EXCLUDED.parameters, fetched_at = now()"
            ),
            {"c": category_id, "p": _json(parameters)},
        )

    # --- offers: what is wanted -----------------------------------------------------------------

    async def offers_for_update(
        self, account_id: str, skus: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        rows = await self.connection.execute(
            sa.text(
                f"SELECT {_OFFER_COLUMNS} FROM offers WHERE account_id = :a"
                " AND sku = ANY(CAST(:s AS text[])) ORDER BY sku FOR UPDATE"
            ),
            {"a": account_id, "s": sorted(set(skus))},
        )
        return {r.sku: dict(r._mapping) for r in rows}

    async def save_contents(
        self, account_id: str, contents: Sequence[Content]
    ) -> dict[str, dict[str, Any]]:
        """The offers as stored now, by SKU (`state` None for those this made; those of which
        a newer revision is held are left out). One statement for a message's items: one each
        was most of a 45,000-product catalogue's ingest."""
        ordered = sorted(contents, key=lambda c: c.sku)  # rows locked in one order
        return await self._saved(
            sa.text(
                # A new offer waits for its price (and content) until the state machine,
                # in this transaction, says what else: never for nothing (see migration 0007).
                "INSERT INTO offers (account_id, sku, state, waiting_for, listed, content,"
                " catalog_revision, stock) SELECT :a, t.sku, 'waiting',"
                " string_to_array(t.waiting, ','), t.listed, CAST(t.content AS jsonb), t.rev,"
                " t.stock FROM unnest(CAST(:sku AS text[]), CAST(:waiting AS text[]),"
                " CAST(:listed AS boolean[]), CAST(:content AS text[]), CAST(:rev AS bigint[]),"
                " CAST(:stock AS integer[])) AS t(sku, waiting, listed, content, rev, stock)"
                " ON CONFLICT (account_id, sku) DO UPDATE SET listed = EXCLUDED.listed,"
                " content = COALESCE(EXCLUDED.content, offers.content),"
                " catalog_revision = EXCLUDED.catalog_revision, stock = EXCLUDED.stock,"
                " updated_at = now(),"
                # A new wanted value is tried even after a surfaced failure.
                " sync_attempts = CASE WHEN offers.sync_due_at = 'infinity' THEN 0"
                "  ELSE offers.sync_attempts END, sync_due_at = NULL"
                # A racing older revision changes nothing.
                " WHERE offers.catalog_revision < EXCLUDED.catalog_revision"
                f" RETURNING {_OFFER_COLUMNS}, xmax = 0 AS inserted"
            ),
            {
                "a": account_id,
                "sku": [c.sku for c in ordered],
                "waiting": [
                    states.FOR_PRICE if c.content else f"{states.FOR_CONTENT},{states.FOR_PRICE}"
                    for c in ordered
                ],
                "listed": [c.listed for c in ordered],
                "content": [_json(c.content) for c in ordered],
                "rev": [c.revision for c in ordered],
                "stock": [c.stock for c in ordered],
            },
        )

    async def save_prices(
        self, account_id: str, prices: Sequence[Prices]
    ) -> dict[str, dict[str, Any]]:
        """The offers as stored now, by SKU (`state` None for those this made; those priced
        from a newer catalogue revision already are left out)."""
        ordered = sorted(prices, key=lambda p: p.sku)
        return await self._saved(
            sa.text(
                # Priced before the catalogue sent it: waiting for its content.
                "INSERT INTO offers (account_id, sku, state, waiting_for, prices, unpriced,"
                " price_revision) SELECT :a, t.sku, 'waiting', ARRAY['content']::text[],"
                " CAST(t.prices AS jsonb), CAST(t.unpriced AS jsonb), t.rev"
                " FROM unnest(CAST(:sku AS text[]), CAST(:p AS text[]), CAST(:u AS text[]),"
                " CAST(:rev AS bigint[])) AS t(sku, prices, unpriced, rev)"
                " ON CONFLICT (account_id, sku) DO UPDATE SET prices = EXCLUDED.prices,"
                " unpriced = EXCLUDED.unpriced, price_revision = EXCLUDED.price_revision,"
                " updated_at = now(),"
                # A new wanted value is tried even after a surfaced failure.
                " sync_attempts = CASE WHEN offers.sync_due_at = 'infinity' THEN 0"
                "  ELSE offers.sync_attempts END, sync_due_at = NULL"
                " WHERE offers.price_revision <= EXCLUDED.price_revision"
                f" RETURNING {_OFFER_COLUMNS}, xmax = 0 AS inserted"
            ),
            {
                "a": account_id,
                "sku": [p.sku for p in ordered],
                "p": [_json(p.prices) for p in ordered],
                "u": [_json(p.unpriced) for p in ordered],
                "rev": [p.revision for p in ordered],
            },
        )

    async def _saved(
        self, statement: sa.TextClause, values: dict[str, Any]
    ) -> dict[str, dict[str, Any]]:
        if not values["sku"]:
            return {}
        saved: dict[str, dict[str, Any]] = {}
        for found in await self.connection.execute(statement, values):
            row = dict(found._mapping)
            if row.pop("inserted"):
                row["state"] = None
            saved[row["sku"]] = row
        return dict(sorted(saved.items()))

    async def move(
        self,
        account_id: str,
        sku: str,
        from_state: str | None,
        to_state: str | None,
        cause: str,
        *,
        waiting_for: Sequence[str] = (),
        work: str | None = None,
        reason: dict[str, Any] | None = None,
    ) -> None:
        """Set the offer's state (recorded as a transition when it changes) and its next step."""
        await self.moves(
            account_id,
            [Move(sku, from_state, to_state, cause, tuple(waiting_for), work, reason)],
        )

    async def moves(self, account_id: str, moves: Sequence[Move]) -> None:
        """Several offers' moves (one SKU once at most) in two statements."""
        if not moves:
            return
        changed = [m.to_state is not None and m.to_state != m.from_state for m in moves]
        await self.connection.execute(
            sa.text(
                "UPDATE offers o SET state = t.state,"
                " waiting_for = string_to_array(t.waiting, ','), work = t.work,"
                " due_at = CASE WHEN t.work IS NULL THEN NULL ELSE now() END,"
                " attempts = CASE WHEN t.work IS NULL THEN o.attempts ELSE 0 END,"
                " reason = CASE WHEN t.changed THEN CAST(t.reason AS jsonb) ELSE o.reason END,"
                " updated_at = now()"
                " FROM unnest(CAST(:sku AS text[]), CAST(:state AS text[]),"
                " CAST(:waiting AS text[]), CAST(:work AS text[]), CAST(:changed AS boolean[]),"
                " CAST(:reason AS text[])) AS t(sku, state, waiting, work, changed, reason)"
                " WHERE o.account_id = :a AND o.sku = t.sku"
            ),
            {
                "a": account_id,
                "sku": [m.sku for m in moves],
                "state": [m.to_state or m.from_state or states.WAITING for m in moves],
                # The states' words have no comma: one text per offer for its text[].
                "waiting": [",".join(m.waiting_for) for m in moves],
                "work": [m.work for m in moves],
                "changed": changed,
                "reason": [_json(m.reason) for m in moves],
            },
        )
        await self._record(account_id, [m for m, c in zip(moves, changed, strict=True) if c])

    async def _record(self, account_id: str, transitions: Sequence[Move]) -> None:
        """Add these moves to the offers' histories, in this order."""
        if not transitions:
            return
        await self.connection.execute(
            sa.text(
                "INSERT INTO offer_transitions"
                " (account_id, sku, from_state, to_state, cause, reason)"
                " SELECT :a, t.sku, t.from_state, t.to_state, t.cause,"
                " CAST(t.reason AS jsonb) FROM unnest(CAST(:sku AS text[]),"
                " CAST(:from_state AS text[]), CAST(:to_state AS text[]),"
                " CAST(:cause AS text[]), CAST(:reason AS text[])) WITH ORDINALITY"
                " AS t(sku, from_state, to_state, cause, reason, n) ORDER BY t.n"
            ),
            {
                "a": account_id,
                "sku": [m.sku for m in transitions],
                "from_state": [m.from_state for m in transitions],
                "to_state": [m.to_state for m in transitions],
                "cause": [m.cause for m in transitions],
                "reason": [_json(m.reason) for m in transitions],
            },
        )

    # --- offers: the worker ---------------------------------------------------------------------

    async def claim_offers(
        self, limit: int, lease_seconds: float, reads: bool = True
    ) -> list[ClaimedOffer]:
        rows = await self.connection.execute(
            _CLAIM, {"n": limit, "lease": lease_seconds, "reads": reads}
        )
        return [
            ClaimedOffer(
                account_id=r.account_id,
                sku=r.sku,
                state=r.state,
                work=r.work,
                offer_id=r.offer_id,
                operation_url=r.operation_url,
                attempts=r.attempts,
                claimed_until=r.claimed_until,
                listed=r.listed,
                stock=r.stock,
                content=r.content,
                catalog_revision=r.catalog_revision,
                prices=dict(r.prices or {}),
                unpriced=dict(r.unpriced or {}),
                price_revision=r.price_revision,
            )
            for r in rows
        ]

    async def begin_create(self, account_id: str, sku: str, claimed_until: Any) -> bool:
        """Checks passed: the offer is `creating` before anything is sent, so a crash after
        Allegro's answer leaves a create to finish (looked up by external id first).

        One statement (was a locked read, an update and the transition's insert): the offer is
        locked while this claim holds it, and moved with its transition if it was checking."""
        found = (
            await self.connection.execute(
                sa.text(
                    "WITH held AS (SELECT state FROM offers WHERE account_id = :a AND sku = :sku"
                    "  AND claimed_until = :held FOR UPDATE),"
                    " moved AS (UPDATE offers o SET state = 'creating', work = 'create',"
                    "  reason = NULL, updated_at = now() FROM held"
                    "  WHERE o.account_id = :a AND o.sku = :sku AND held.state = 'checking'),"
                    " noted AS (INSERT INTO offer_transitions"
                    "  (account_id, sku, from_state, to_state, cause)"
                    "  SELECT :a, :sku, state, 'creating', 'checks passed' FROM held"
                    "  WHERE state = 'checking')"
                    " SELECT state FROM held"
                ),
                {"a": account_id, "sku": sku, "held": claimed_until},
            )
        ).first()
        # Taken over, or withdrawn while it was being checked: nothing moved.
        return found is not None and found.state in (states.CHECKING, states.CREATING)

    async def store_outcome(self, outcome: Outcome) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Store a step's outcome if its claim still holds the offer: (the offer's state and
        step as held, the offer as stored now); None if the claim ran out.

        The locked read of the held offer, the update and the read of the result are one
        statement (three round trips in the transaction every step ends with)."""
        found = await self.connection.execute(
            sa.text(
                "UPDATE offers SET state = COALESCE(CAST(:state AS text), state),"
                " work = CAST(:work AS text),"
                " due_at = CASE WHEN CAST(:work AS text) IS NULL THEN NULL"
                "  ELSE now() + make_interval(secs => CAST(:due AS float8)) END,"
                " claimed_until = NULL,"
                " attempts = CASE WHEN CAST(:reset AS boolean) THEN 0"
                "  WHEN CAST(:uncounted AS boolean) THEN GREATEST(attempts - 1, 0)"
                "  ELSE attempts END,"
                " reason = CASE WHEN CAST(:state AS text) IS NULL THEN reason"
                "  ELSE CAST(:reason AS jsonb) END,"
                " waiting_for = CASE WHEN CAST(:state AS text) IS NULL THEN waiting_for"
                "  ELSE '{}' END,"
                " offer_id = COALESCE(CAST(:offer_id AS text), offer_id),"
                " allegro_status = COALESCE(CAST(:status AS text), allegro_status),"
                " marketplaces = COALESCE(CAST(:mps AS jsonb), marketplaces),"
                " operation_url = CAST(:operation AS text),"
                " sent_catalog_revision ="
                "  COALESCE(CAST(:sent_cat AS bigint), sent_catalog_revision),"
                " sent_price_revision = COALESCE(CAST(:sent_price AS bigint), sent_price_revision),"
                " sent_prices = COALESCE(CAST(:sent_prices AS jsonb), sent_prices),"
                " sent_stock = COALESCE(CAST(:sent_stock AS integer), sent_stock),"
                " shipping_rates_id = COALESCE(CAST(:rates AS text), shipping_rates_id),"
                " sent_handling_time ="
                "  COALESCE(CAST(:sent_handling AS text), sent_handling_time),"
                " sent_images = COALESCE(CAST(:sent_images AS jsonb), sent_images),"
                " not_sent = COALESCE(CAST(:not_sent AS jsonb), not_sent),"
                " updated_at = now()"
                " FROM (SELECT state AS held_state, work AS held_work FROM offers"
                "  WHERE account_id = :a AND sku = :sku AND claimed_until = :held FOR UPDATE)"
                "  AS held"
                " WHERE account_id = :a AND sku = :sku"
                f" RETURNING held.held_state, held.held_work, {_OFFER_COLUMNS}"
            ),
            {
                "a": outcome.account_id,
                "sku": outcome.sku,
                "held": outcome.claimed_until,
                "state": outcome.state,
                "work": outcome.work,
                "due": outcome.due_in_seconds,
                "reset": outcome.reset_attempts,
                "uncounted": outcome.uncounted,
                "reason": _json(outcome.reason),
                "offer_id": outcome.offer_id,
                "status": outcome.allegro_status,
                "mps": _json(outcome.marketplaces),
                "operation": outcome.operation_url,
                "sent_cat": (outcome.sent or {}).get("catalog_revision"),
                "sent_price": (outcome.sent or {}).get("price_revision"),
                "sent_prices": _json((outcome.sent or {}).get("prices")),
                "sent_stock": (outcome.sent or {}).get("stock"),
                "rates": (outcome.sent or {}).get("shipping_rates_id"),
                "sent_handling": (outcome.sent or {}).get("handling_time"),
                "sent_images": _json((outcome.sent or {}).get("images")),
                "not_sent": _json(outcome.not_sent),
            },
        )
        stored = found.first()
        if stored is None:
            return None
        row = dict(stored._mapping)
        held = {"state": row.pop("held_state"), "work": row.pop("held_work")}
        used = (outcome.sent or {}).get("image_locations")
        if used:
            await self.images_used(outcome.account_id, list(used))
        sku, before, history = outcome.sku, held["state"], []
        if outcome.note is not None:
            # Said once, in the history, whatever the state does (images left out).
            history.append(Move(sku, before, before, "images", reason=outcome.note))
        if outcome.state is not None and outcome.state != before:
            history.append(Move(sku, before, outcome.state, outcome.cause, reason=outcome.reason))
        await self._record(outcome.account_id, history)
        return held, row

    # --- offer images (source URL -> Allegro location, per account) ------------------------------

    async def images(self, account_id: str, sources: list[str]) -> dict[str, dict[str, Any]]:
        """What is held for these supplier URLs: source -> location, expires_at (an upload) or
        refused, refused_at (Allegro refused its last upload; it wins: it is recorded only when
        no usable upload was held)."""
        if not sources:
            return {}
        params = {"a": account_id, "sources": sources}
        rows = await self.connection.execute(
            sa.text(
                "SELECT source_url, location, expires_at FROM offer_images"
                " WHERE account_id = :a AND source_url = ANY(:sources)"
            ),
            params,
        )
        found = {r.source_url: {"location": r.location, "expires_at": r.expires_at} for r in rows}
        refusals = await self.connection.execute(
            sa.text(
                "SELECT source_url, reason, refused_at FROM refused_images"
                " WHERE account_id = :a AND source_url = ANY(:sources)"
            ),
            params,
        )
        for r in refusals:
            found[r.source_url] = {"refused": r.reason, "refused_at": r.refused_at}
        return found

    async def save_refusals(self, account_id: str, refused: list[tuple[str, str, Any]]) -> None:
        """Uploads Allegro refused (source, its answer, when)."""
        if not refused:
            return
        await self.connection.execute(
            sa.text(
                "INSERT INTO refused_images (account_id, source_url, reason, refused_at)"
                " VALUES (:a, :source, :reason, :at)"
                " ON CONFLICT (account_id, source_url) DO UPDATE SET"
                " reason = excluded.reason, refused_at = excluded.refused_at"
            ),
            [
                {"a": account_id, "source": source, "reason": reason, "at": at}
                for source, reason, at in refused
            ],
        )

    async def save_images(self, account_id: str, uploaded: list[tuple[str, str, Any]]) -> None:
        """New uploads (source, location, expires_at); a newer upload of a URL replaces one
        that expired, and an earlier refusal of it (the supplier fixed the image)."""
        if not uploaded:
            return
        await self.connection.execute(
            sa.text(
                "DELETE FROM refused_images WHERE account_id = :a AND source_url = ANY(:sources)"
            ),
            {"a": account_id, "sources": [source for source, _, _ in uploaded]},
        )
        await self.connection.execute(
            sa.text(
                "INSERT INTO offer_images (account_id, source_url, location, expires_at)"
                " VALUES (:a, :source, :location, :expires)"
                " ON CONFLICT (account_id, source_url) DO UPDATE SET"
                " location = excluded.location, expires_at = excluded.expires_at,"
                " uploaded_at = now()"
            ),
            [
                {"a": account_id, "source": source, "location": location, "expires": expires}
                for source, location, expires in uploaded
            ],
        )

    async def refusals(
        self, account_id: str, after: str | None, fetch: int
    ) -> list[dict[str, Any]]:
        """The account's refused image URLs, by URL."""
        rows = await self.connection.execute(
            sa.text(
                "SELECT source_url, reason, refused_at FROM refused_images WHERE account_id = :a"
                " AND (CAST(:after AS text) IS NULL OR source_url > :after)"
                " ORDER BY source_url LIMIT :n"
            ),
            {"a": account_id, "after": after, "n": fetch},
        )
        return [dict(r._mapping) for r in rows]

    async def forget_refusals(self, account_id: str, sources: Sequence[str] | None) -> list[str]:
        """Refusals dropped (these URLs, or all of the account's): the URLs forgotten, sorted."""
        rows = await self.connection.execute(
            sa.text(
                "DELETE FROM refused_images WHERE account_id = :a"
                " AND (CAST(:sources AS text[]) IS NULL"
                " OR source_url = ANY(CAST(:sources AS text[]))) RETURNING source_url"
            ),
            {"a": account_id, "sources": None if sources is None else list(sources)},
        )
        return sorted(r.source_url for r in rows)

    async def offers_showing(self, account_id: str, sources: Sequence[str]) -> list[dict[str, Any]]:
        """Offers on Allegro whose catalogue images include one of these URLs, locked."""
        rows = await self.connection.execute(
            sa.text(
                f"SELECT {_OFFER_COLUMNS} FROM offers WHERE account_id = :a"
                " AND offer_id IS NOT NULL AND jsonb_typeof(content->'images') = 'array'"
                " AND content->'images' ?| CAST(:sources AS text[]) ORDER BY sku FOR UPDATE"
            ),
            {"a": account_id, "sources": list(sources)},
        )
        return [dict(r._mapping) for r in rows]

    async def forget_sent_images(self, account_id: str, skus: Sequence[str]) -> None:
        """These offers' galleries count as never sent: the next step sends them again."""
        await self.connection.execute(
            sa.text(
                "UPDATE offers SET sent_images = NULL WHERE account_id = :a"
                " AND sku = ANY(CAST(:skus AS text[]))"
            ),
            {"a": account_id, "skus": list(skus)},
        )

    async def images_used(self, account_id: str, locations: list[str]) -> None:
        """Images an offer was created or edited with: Allegro keeps them now."""
        await self.connection.execute(
            sa.text(
                "UPDATE offer_images SET expires_at = NULL WHERE account_id = :a"
                " AND location = ANY(:locations) AND expires_at IS NOT NULL"
            ),
            {"a": account_id, "locations": locations},
        )

    async def offer(self, account_id: str, sku: str) -> dict[str, Any] | None:
        row = (
            await self.connection.execute(
                sa.text(
                    f"SELECT {_OFFER_COLUMNS} FROM offers WHERE account_id = :a AND sku = :sku"
                ),
                {"a": account_id, "sku": sku},
            )
        ).first()
        return None if row is None else dict(row._mapping)

    # --- queries --------------------------------------------------------------------------------

    async def offers(
        self, account_id: str, state: str | None, after: str | None, fetch: int
    ) -> list[dict[str, Any]]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT account_id, sku, state, waiting_for, reason, offer_id, allegro_status,"
                " marketplaces, stock, work, due_at, updated_at FROM offers"
                " WHERE account_id = :a AND (CAST(:s AS text) IS NULL OR state = :s)"
                " AND (CAST(:after AS text) IS NULL OR sku > :after)"
                " ORDER BY sku LIMIT :n"
            ),
            {"a": account_id, "s": state, "after": after, "n": fetch},
        )
        return [dict(r._mapping) for r in rows]

    async def transitions(self, account_id: str, sku: str) -> list[dict[str, Any]]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT from_state, to_state, cause, reason, at FROM offer_transitions"
                " WHERE account_id = :a AND sku = :sku ORDER BY id"
            ),
            {"a": account_id, "sku": sku},
        )
        return [dict(r._mapping) for r in rows]

    async def uploads_to_do(self, account_id: str, gallery_size: int) -> int:
        """The supplier images the offers still to create show (each of the first
        `gallery_size`) that no upload of the account holds yet: one call each to come."""
        found = await self.connection.execute(
            sa.text(
                "SELECT count(DISTINCT i.url) FROM offers o CROSS JOIN LATERAL"
                " jsonb_array_elements_text(CASE WHEN jsonb_typeof(o.content->'images') = 'array'"
                " THEN o.content->'images' ELSE '[]'::jsonb END) WITH ORDINALITY AS i(url, n)"
                " WHERE o.account_id = :a AND o.state = ANY(CAST(:states AS text[]))"
                " AND i.n <= :size"
                " AND NOT EXISTS (SELECT 1 FROM offer_images c"
                " WHERE c.account_id = o.account_id AND c.source_url = i.url)"
            ),
            {"a": account_id, "states": list(states.TO_DO), "size": gallery_size},
        )
        return int(found.scalar_one())

    async def counts_by_state(self, account_id: str) -> dict[str, int]:
        rows = await self.connection.execute(
            sa.text("SELECT state, count(*) FROM offers WHERE account_id = :a GROUP BY state"),
            {"a": account_id},
        )
        return {r[0]: int(r[1]) for r in rows}

    async def counts_by_marketplace(self, account_id: str) -> dict[str, dict[str, int]]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT m.key, COALESCE(m.value->>'state', 'unknown'), count(*)"
                " FROM offers o, jsonb_each(o.marketplaces) m"
                " WHERE o.account_id = :a AND o.state IN ('active', 'inactive')"
                " GROUP BY 1, 2"
            ),
            {"a": account_id},
        )
        found: dict[str, dict[str, int]] = {}
        for marketplace, state, count in rows:
            found.setdefault(marketplace, {})[state] = int(count)
        return found

    async def published_since(self, account_id: str, seconds: float) -> int:
        return int(
            await self.connection.scalar(
                sa.text(
                    "SELECT count(*) FROM offer_transitions WHERE account_id = :a"
                    " AND to_state = 'active' AND from_state IS DISTINCT FROM to_state"
                    " AND at > now() - make_interval(secs => :s)"
                ),
                {"a": account_id, "s": seconds},
            )
            or 0
        )

    async def offers_in_states(
        self, account_id: str, in_states: Sequence[str], skus: Sequence[str] | None
    ) -> list[dict[str, Any]]:
        rows = await self.connection.execute(
            sa.text(
                f"SELECT {_OFFER_COLUMNS} FROM offers WHERE account_id = :a"
                " AND state = ANY(CAST(:states AS text[]))"
                " AND (CAST(:skus AS text[]) IS NULL OR sku = ANY(CAST(:skus AS text[])))"
                " ORDER BY sku FOR UPDATE"
            ),
            {
                "a": account_id,
                "states": list(in_states),
                "skus": None if skus is None else list(skus),
            },
        )
        return [dict(r._mapping) for r in rows]

    async def plan(self, account_id: str, limit: int) -> list[dict[str, Any]]:
        rows = await self.connection.execute(
            sa.text(
                f"SELECT {_OFFER_COLUMNS} FROM offers WHERE account_id = :a"
                " AND state NOT IN ('creating') ORDER BY sku LIMIT :n"
            ),
            {"a": account_id, "n": limit},
        )
        return [dict(r._mapping) for r in rows]
