"""Per account: the selection, the listing policy (waivers, cap), and what it was last sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from catalog.domain.items import DEFAULT_PRODUCT_CAP
from catalog.domain.selection import Selection
from catalog.repository.base import Repository

_SELECTIONS = sa.text(
    "SELECT account_id, rules::text AS rules FROM selections"
    " WHERE CAST(:accounts AS text[]) IS NULL OR account_id = ANY(CAST(:accounts AS text[]))"
    " ORDER BY account_id"
)
_SAVE_SELECTION = sa.text(
    "INSERT INTO selections (account_id, rules, updated_at, updated_by)"
    " VALUES (:account, CAST(:rules AS jsonb), now(), :by) ON CONFLICT (account_id) DO UPDATE"
    " SET rules = excluded.rules, updated_at = now(), updated_by = excluded.updated_by"
)
_WAIVED = sa.text(
    "SELECT account_id, not_blocking::text AS reasons FROM account_listing"
    " WHERE CAST(:accounts AS text[]) IS NULL OR account_id = ANY(CAST(:accounts AS text[]))"
)
_SET_LISTING = sa.text(
    "INSERT INTO account_listing (account_id, not_blocking, product_cap, cap_order,"
    " priority, updated_at)"
    " VALUES (:account, CAST(:reasons AS jsonb), :cap, :cap_order, CAST(:priority AS jsonb), now())"
    " ON CONFLICT (account_id) DO UPDATE SET not_blocking = excluded.not_blocking,"
    " product_cap = excluded.product_cap, cap_order = excluded.cap_order,"
    " priority = excluded.priority, updated_at = now()"
)
_CAP_POLICY = sa.text(
    "SELECT product_cap, cap_order, priority::text AS priority FROM account_listing"
    " WHERE account_id = :account"
)
_CAPPED = sa.text(
    "SELECT sku FROM account_capped WHERE account_id = :account"
    " AND sku = ANY(CAST(:skus AS text[]))"
)
_CAP = sa.text(
    "INSERT INTO account_capped (account_id, sku)"
    " SELECT :account, unnest(CAST(:skus AS text[])) ON CONFLICT DO NOTHING"
)
_UNCAP = sa.text(
    "DELETE FROM account_capped WHERE account_id = :account AND sku = ANY(CAST(:skus AS text[]))"
)
_CAP_COUNTS = sa.text(
    "SELECT (SELECT count(*) FROM account_items WHERE account_id = :account AND listed) AS listed,"
    " (SELECT count(*) FROM account_capped WHERE account_id = :account) AS capped"
)
# The cap's orders; SKU breaks every tie, so the same data always gives the same choice.
_CAP_ORDER = {
    "margin": "(p.rrp_amount - p.cost_amount) DESC NULLS LAST, p.sku",
    "stock": "p.stock DESC NULLS LAST, p.sku",
    "priority": "array_position(CAST(:priority AS text[]), p.sku) NULLS LAST, p.sku",
    "sku": "p.sku",
}
_CAP_RANKING = {
    order: sa.text(
        "SELECT c.sku, c.listed FROM ("
        " SELECT sku, true AS listed FROM account_items WHERE account_id = :account AND listed"
        " UNION ALL SELECT sku, false FROM account_capped WHERE account_id = :account) c"
        f" JOIN products p ON p.sku = c.sku ORDER BY {clause}"
    )
    for order, clause in _CAP_ORDER.items()
}
_STATES = sa.text(
    "SELECT sku, listed, item_hash FROM account_items"
    " WHERE account_id = :account AND sku = ANY(CAST(:skus AS text[]))"
)
_LISTED = sa.text("SELECT sku FROM account_items WHERE account_id = :account AND listed")
_NEXT_REVISIONS = sa.text(
    "SELECT nextval('catalog_revision_seq') AS r FROM generate_series(1, :count)"
)
_WRITE_STATES = sa.text(
    "INSERT INTO account_items (account_id, sku, listed, item_hash, revision, emitted_at)"
    " SELECT :account, u.sku, u.listed, u.item_hash, u.revision, now()"
    " FROM unnest(CAST(:skus AS text[]), CAST(:listed AS bool[]), CAST(:hashes AS text[]),"
    " CAST(:revisions AS bigint[])) AS u(sku, listed, item_hash, revision)"
    " ON CONFLICT (account_id, sku) DO UPDATE SET listed = excluded.listed,"
    " item_hash = excluded.item_hash, revision = excluded.revision,"
    " emitted_at = excluded.emitted_at"
)


@dataclass(frozen=True)
class CapPolicy:
    cap: int = DEFAULT_PRODUCT_CAP
    order: str = "margin"  # margin | stock | priority | sku
    priority: tuple[str, ...] = ()


def _accounts(account_ids: Sequence[str] | None) -> list[str] | None:
    return None if account_ids is None else list(account_ids)


class AccountRepository(Repository):
    # --- selections ---------------------------------------------------------------------------

    async def selections(self, account_ids: Sequence[str] | None = None) -> dict[str, Selection]:
        rows = await self._rows(_SELECTIONS, {"accounts": _accounts(account_ids)})
        return {r["account_id"]: Selection.from_dict(orjson.loads(r["rules"])) for r in rows}

    async def selection(self, account_id: str) -> Selection | None:
        return (await self.selections([account_id])).get(account_id)

    async def save_selection(self, account_id: str, selection: Selection, by: str) -> None:
        await self._run(
            _SAVE_SELECTION,
            {
                "account": account_id,
                "rules": orjson.dumps(selection.as_dict()).decode(),
                "by": by,
            },
        )

    # --- listing policy -----------------------------------------------------------------------

    async def waived_reasons(
        self, account_ids: Sequence[str] | None = None
    ) -> dict[str, frozenset[str]]:
        rows = await self._rows(_WAIVED, {"accounts": _accounts(account_ids)})
        return {r["account_id"]: frozenset(orjson.loads(r["reasons"])) for r in rows}

    async def set_listing(
        self,
        account_id: str,
        reasons: Sequence[str],
        product_cap: int | None = None,
        cap_order: str = "margin",
        priority: Sequence[str] = (),
    ) -> None:
        await self._run(
            _SET_LISTING,
            {
                "account": account_id,
                "reasons": orjson.dumps(sorted(set(reasons))).decode(),
                "cap": product_cap,
                "cap_order": cap_order,
                "priority": orjson.dumps(list(priority)).decode(),
            },
        )

    async def cap_policy(self, account_id: str) -> CapPolicy:
        row = await self._row(_CAP_POLICY, {"account": account_id})
        if row is None:
            return CapPolicy()
        return CapPolicy(
            DEFAULT_PRODUCT_CAP if row["product_cap"] is None else row["product_cap"],
            row["cap_order"],
            tuple(orjson.loads(row["priority"])),
        )

    async def capped_skus(self, account_id: str, skus: Sequence[str]) -> set[str]:
        rows = await self._rows(_CAPPED, {"account": account_id, "skus": list(skus)})
        return {r["sku"] for r in rows}

    async def set_capped(self, account_id: str, skus: Sequence[str], *, capped: bool) -> None:
        if skus:
            await self._run(_CAP if capped else _UNCAP, {"account": account_id, "skus": list(skus)})

    async def cap_counts(self, account_id: str) -> tuple[int, int]:
        row = await self._row(_CAP_COUNTS, {"account": account_id})
        assert row is not None  # two counts: always one row
        return int(row["listed"]), int(row["capped"])

    async def cap_ranking(self, account_id: str, policy: CapPolicy) -> list[tuple[str, bool]]:
        """The account's listed and capped products in the cap's order: (sku, listed now)."""
        params: dict[str, object] = {"account": account_id}
        if policy.order == "priority":
            params["priority"] = list(policy.priority)
        rows = await self._rows(_CAP_RANKING[policy.order], params)
        return [(r["sku"], r["listed"]) for r in rows]

    # --- what each account was sent -----------------------------------------------------------

    async def states(
        self, account_id: str, skus: Sequence[str]
    ) -> dict[str, tuple[bool, str | None]]:
        rows = await self._bulk_rows(_STATES, {"account": account_id, "skus": list(skus)})
        return {r["sku"]: (r["listed"], r["item_hash"]) for r in rows}

    async def listed_skus(self, account_id: str) -> set[str]:
        return {r["sku"] for r in await self._bulk_rows(_LISTED, {"account": account_id})}

    async def next_revisions(self, count: int) -> list[int]:
        return [r["r"] for r in await self._bulk_rows(_NEXT_REVISIONS, {"count": count})]

    async def write_states(
        self, account_id: str, states: Sequence[tuple[str, bool, str | None, int]]
    ) -> None:
        if not states:
            return
        await self._run(
            _WRITE_STATES,
            {
                "account": account_id,
                "skus": [s[0] for s in states],
                "listed": [s[1] for s in states],
                "hashes": [s[2] for s in states],
                "revisions": [s[3] for s in states],
            },
        )
