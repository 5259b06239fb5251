"""SQL of the pricing service: set-based reads and writes on one transaction's connection."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from pricing.domain.categories import CategoryRow
from pricing.domain.fees import FeeTable
from pricing.domain.fx import FxRate, FxTable
from pricing.domain.rules import Product, RuleSet
from shared.events import CatalogItem

_UPSERT_ITEMS = sa.text(
    "INSERT INTO catalog_items AS c (account_id, sku, revision, listed, cost, cost_currency,"
    " rrp, rrp_currency, brand, supplier_category, allegro_category_id, weight_kg,"
    " allegro_category_ids, updated_at)"
    " SELECT :account, t.sku, t.revision, t.listed, t.cost, t.cost_currency, t.rrp,"
    " t.rrp_currency, t.brand, t.supplier_category, t.allegro_category_id, t.weight_kg,"
    " CAST(t.overrides AS jsonb), now()"
    " FROM unnest(CAST(:sku AS text[]), CAST(:revision AS bigint[]),"
    " CAST(:listed AS boolean[]), CAST(:cost AS numeric[]), CAST(:cost_currency AS text[]),"
    " CAST(:rrp AS numeric[]), CAST(:rrp_currency AS text[]), CAST(:brand AS text[]),"
    " CAST(:supplier_category AS text[]), CAST(:allegro_category_id AS text[]),"
    " CAST(:weight_kg AS numeric[]), CAST(:overrides AS text[]))"
    " AS t(sku, revision, listed, cost, cost_currency, rrp, rrp_currency, brand,"
    " supplier_category, allegro_category_id, weight_kg, overrides)"
    " ON CONFLICT (account_id, sku) DO UPDATE SET revision = EXCLUDED.revision,"
    " listed = EXCLUDED.listed, cost = EXCLUDED.cost, cost_currency = EXCLUDED.cost_currency,"
    " rrp = EXCLUDED.rrp, rrp_currency = EXCLUDED.rrp_currency, brand = EXCLUDED.brand,"
    " supplier_category = EXCLUDED.supplier_category,"
    " allegro_category_id = EXCLUDED.allegro_category_id, weight_kg = EXCLUDED.weight_kg,"
    " allegro_category_ids = EXCLUDED.allegro_category_ids,"
    " updated_at = now() WHERE c.revision < EXCLUDED.revision"
    " RETURNING sku"
)
_PRODUCT_COLUMNS = (
    "sku, revision, cost, cost_currency, rrp, rrp_currency, brand, supplier_category,"
    " allegro_category_id, weight_kg, allegro_category_ids::text AS overrides"
)
# The parent chain of each category asked for, leaf first, as far as the cache knows it.
_CHAINS = sa.text(
    "WITH RECURSIVE walk(leaf, id, parent_id, found, depth) AS ("
    " SELECT c.id, c.id, c.parent_id, c.found, 0 FROM allegro_categories c"
    " WHERE c.id = ANY(CAST(:ids AS text[]))"
    " UNION ALL SELECT w.leaf, c.id, c.parent_id, c.found, w.depth + 1"
    " FROM walk w JOIN allegro_categories c ON c.id = w.parent_id WHERE w.depth < 32)"
    " SELECT leaf, array_agg(id ORDER BY depth), bool_and(found),"
    " bool_or(parent_id IS NULL) FROM walk GROUP BY leaf"
)
# Categories used by listed items whose chain is unknown, broken or expired, with the accounts
# using them (any of their tokens can read Allegro's tree: it is the same for all).
_TO_RESOLVE = sa.text(
    "WITH RECURSIVE used AS ("
    " SELECT cat AS leaf, array_agg(DISTINCT account_id ORDER BY account_id) AS accounts FROM ("
    "  SELECT account_id, allegro_category_id AS cat FROM catalog_items"
    "  WHERE listed AND allegro_category_id IS NOT NULL"
    "  UNION ALL SELECT account_id, e.value FROM catalog_items,"
    "  jsonb_each_text(allegro_category_ids) AS e"
    "  WHERE listed AND allegro_category_ids IS NOT NULL) u GROUP BY cat),"
    " walk(leaf, id, parent_id, found, fetched_at, depth) AS ("
    " SELECT u.leaf, c.id, c.parent_id, c.found, c.fetched_at, 0"
    " FROM used u JOIN allegro_categories c ON c.id = u.leaf"
    " UNION ALL SELECT w.leaf, c.id, c.parent_id, c.found, c.fetched_at, w.depth + 1"
    " FROM walk w JOIN allegro_categories c ON c.id = w.parent_id WHERE w.depth < 32),"
    " state AS (SELECT leaf, bool_or(parent_id IS NULL) AS rooted, bool_and(found) AS found,"
    " min(fetched_at) AS oldest FROM walk GROUP BY leaf)"
    " SELECT u.leaf, u.accounts FROM used u LEFT JOIN state s ON s.leaf = u.leaf"
    " WHERE s.leaf IS NULL OR (s.found AND NOT s.rooted)"
    " OR s.oldest < now() - make_interval(secs => :ttl)"
    " ORDER BY s.oldest NULLS FIRST, u.leaf LIMIT :n"
)
# A listed item in one of the categories :c (its main category or a marketplace's override).
_IN_CATEGORIES = (
    " AND (allegro_category_id = ANY(CAST(:c AS text[]))"
    " OR (allegro_category_ids IS NOT NULL AND EXISTS (SELECT 1 FROM"
    " jsonb_each_text(allegro_category_ids) e WHERE e.value = ANY(CAST(:c AS text[])))))"
)
_SAVE_CATEGORIES = sa.text(
    "INSERT INTO allegro_categories (id, parent_id, name, leaf, found, fetched_at)"
    " SELECT t.id, t.parent_id, t.name, t.leaf, t.found, now()"
    " FROM unnest(CAST(:id AS text[]), CAST(:parent_id AS text[]), CAST(:name AS text[]),"
    " CAST(:leaf AS boolean[]), CAST(:found AS boolean[])) AS t(id, parent_id, name, leaf, found)"
    " ON CONFLICT (id) DO UPDATE SET parent_id = EXCLUDED.parent_id, name = EXCLUDED.name,"
    " leaf = EXCLUDED.leaf, found = EXCLUDED.found, fetched_at = now()"
)
_SAVE_PRICES = sa.text(
    "INSERT INTO prices AS p (account_id, sku, catalog_revision, prices, unpriced, explanation,"
    " rule_version, context_id, computed_at)"
    " SELECT :account, t.sku, t.rev, CAST(t.pr AS json), CAST(t.un AS json), CAST(t.ex AS json),"
    " :rule_version, :context_id, now()"
    " FROM unnest(CAST(:sku AS text[]), CAST(:rev AS bigint[]), CAST(:pr AS text[]),"
    " CAST(:un AS text[]), CAST(:ex AS text[])) AS t(sku, rev, pr, un, ex)"
    " ON CONFLICT (account_id, sku) DO UPDATE SET catalog_revision = EXCLUDED.catalog_revision,"
    " prices = EXCLUDED.prices, unpriced = EXCLUDED.unpriced, explanation = EXCLUDED.explanation,"
    " rule_version = EXCLUDED.rule_version, context_id = EXCLUDED.context_id,"
    " computed_at = now()"
    # Never an older catalogue revision over a newer one; at the same revision, never a price
    # of an older rule version over a newer one (a catalogue batch racing a rule change).
    " WHERE p.catalog_revision < EXCLUDED.catalog_revision"
    " OR (p.catalog_revision = EXCLUDED.catalog_revision"
    "     AND coalesce(p.rule_version, 0) <= coalesce(EXCLUDED.rule_version, 0))"
)


def item_product(item: CatalogItem) -> Product:
    return Product(
        sku=item.sku,
        revision=item.revision,
        cost=item.cost.amount if item.cost else None,
        cost_currency=item.cost.currency if item.cost else None,
        rrp=item.rrp.amount if item.rrp else None,
        rrp_currency=item.rrp.currency if item.rrp else None,
        brand=item.brand,
        supplier_category=item.supplier_category,
        allegro_category_id=item.allegro_category_id,
        weight_kg=item.weight_kg,
        listed=item.listed,
        allegro_category_ids={str(m): c for m, c in item.allegro_category_ids.items()},
    )


def _product(row: Any) -> Product:
    return Product(
        sku=row.sku,
        revision=row.revision,
        cost=row.cost,
        cost_currency=row.cost_currency,
        rrp=row.rrp,
        rrp_currency=row.rrp_currency,
        brand=row.brand,
        supplier_category=row.supplier_category,
        allegro_category_id=row.allegro_category_id,
        weight_kg=row.weight_kg,
        allegro_category_ids=orjson.loads(row.overrides) if row.overrides else {},
    )


@dataclass(frozen=True)
class StoredPrice:
    catalog_revision: int
    prices: dict[str, str]
    unpriced: dict[str, str]


@dataclass(frozen=True)
class StoredRules:
    version: int | None
    status: str
    document: dict[str, Any]
    created_by: str
    created_at: Any


_CONTEXT_SOURCES = sa.text(
    "SELECT (SELECT version FROM rule_sets WHERE account_id = :a AND status = 'active'"
    "   ORDER BY version DESC LIMIT 1),"
    " (SELECT document::text FROM rule_sets WHERE account_id = :a AND status = 'active'"
    "   ORDER BY version DESC LIMIT 1),"
    " (SELECT document::text FROM fee_tables WHERE account_id = :a),"
    " (SELECT json_agg(json_build_object('base', base, 'quote', quote, 'rate', rate::text,"
    "   'source', source, 'as_of', as_of::text) ORDER BY base, quote)::text"
    "   FROM fx_rates WHERE account_id = :a)"
)


@dataclass(frozen=True)
class Hold:
    id: uuid.UUID
    account_id: str
    kind: str
    status: str
    rule_version: int | None
    skus: list[str] | None
    stats: dict[str, Any]
    created_by: str
    created_at: Any
    decided_by: str | None
    decided_at: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "account_id": self.account_id,
            "kind": self.kind,
            "status": self.status,
            "rule_version": self.rule_version,
            "skus": None if self.skus is None else len(self.skus),
            "stats": self.stats,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
        }


_HOLD_COLUMNS = (
    "id, account_id, kind, status, rule_version, skus, stats::text, created_by, created_at,"
    " decided_by, decided_at"
)


def _hold(row: Any) -> Hold:
    values = list(row)
    values[6] = orjson.loads(values[6])
    return Hold(*values)


class PricingRepository:
    """Every statement pricing runs, on the connection of one unit of work."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def upsert_items(self, account_id: str, items: Sequence[Product]) -> set[str]:
        """Store catalogue items newer than the held revision; returns the skus applied."""
        if not items:
            return set()
        items = sorted(items, key=lambda p: p.sku)  # one lock order for concurrent writers
        result = await self.connection.execute(
            _UPSERT_ITEMS,
            {
                "account": account_id,
                "sku": [p.sku for p in items],
                "revision": [p.revision for p in items],
                "listed": [p.listed for p in items],
                "cost": [p.cost for p in items],
                "cost_currency": [p.cost_currency for p in items],
                "rrp": [p.rrp for p in items],
                "rrp_currency": [p.rrp_currency for p in items],
                "brand": [p.brand for p in items],
                "supplier_category": [p.supplier_category for p in items],
                "allegro_category_id": [p.allegro_category_id for p in items],
                "weight_kg": [p.weight_kg for p in items],
                "overrides": [
                    orjson.dumps(p.allegro_category_ids).decode()
                    if p.allegro_category_ids
                    else None
                    for p in items
                ],
            },
        )
        return set(result.scalars())

    async def listed_products(
        self,
        account_id: str,
        skus: Sequence[str] | None = None,
        sample: int | None = None,
    ) -> list[Product]:
        """The account's selection (listed items), all of it, some skus, or a stable sample."""
        query = f"SELECT {_PRODUCT_COLUMNS} FROM catalog_items WHERE account_id = :a AND listed"
        params: dict[str, Any] = {"a": account_id}
        if skus is not None:
            query += " AND sku = ANY(CAST(:skus AS text[]))"
            params["skus"] = list(skus)
        if sample is not None:
            query += " ORDER BY md5(sku) LIMIT :n"
            params["n"] = sample
        rows = await self.connection.execute(sa.text(query), params)
        return await self.attach_chains([_product(r) for r in rows])

    # --- Allegro's category tree -------------------------------------------------------------

    async def attach_chains(self, products: list[Product]) -> list[Product]:
        """Give the products the known parent chains of their Allegro categories (one mapping
        shared by all of them: a chain is the same for every product of a category)."""
        ids = sorted({c for p in products for c in p.category_ids})
        chains = await self.category_chains(ids) if ids else {}
        for product in products:
            object.__setattr__(product, "chains", chains)
        return products

    async def category_chains(self, ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """leaf -> chain (leaf first, root last) for each category whose chain is complete."""
        rows = await self.connection.execute(_CHAINS, {"ids": list(ids)})
        return {leaf: tuple(chain) for leaf, chain, found, rooted in rows if found and rooted}

    async def categories_to_resolve(
        self, ttl_seconds: float, limit: int
    ) -> list[tuple[str, list[str]]]:
        """(category, accounts using it) whose chain is unknown, broken or expired."""
        rows = await self.connection.execute(_TO_RESOLVE, {"ttl": ttl_seconds, "n": limit})
        return [(leaf, list(accounts)) for leaf, accounts in rows]

    async def fresh_categories(self, ttl_seconds: float) -> dict[str, CategoryRow]:
        """The cached categories read less than `ttl_seconds` ago (the tree is small)."""
        rows = await self.connection.execute(
            sa.text(
                "SELECT id, parent_id, name, leaf, found FROM allegro_categories"
                " WHERE fetched_at >= now() - make_interval(secs => :ttl)"
            ),
            {"ttl": ttl_seconds},
        )
        return {r.id: CategoryRow(r.id, r.parent_id, r.name, r.leaf, r.found) for r in rows}

    async def save_categories(self, rows: Sequence[CategoryRow]) -> None:
        if not rows:
            return
        rows = sorted({r.id: r for r in rows}.values(), key=lambda r: r.id)  # lock order
        await self.connection.execute(
            _SAVE_CATEGORIES,
            {
                "id": [r.id for r in rows],
                "parent_id": [r.parent_id for r in rows],
                "name": [r.name for r in rows],
                "leaf": [r.leaf for r in rows],
                "found": [r.found for r in rows],
            },
        )

    async def expire_categories(self, account_id: str) -> int:
        """Mark the cached chains of an account's categories as expired: the worker reads them
        again and reprices what moved."""
        result = await self.connection.execute(
            sa.text(
                "WITH RECURSIVE used AS (SELECT DISTINCT allegro_category_id AS id"
                " FROM catalog_items WHERE account_id = :a AND listed"
                " AND allegro_category_id IS NOT NULL"
                " UNION SELECT DISTINCT e.value FROM catalog_items,"
                " jsonb_each_text(allegro_category_ids) e WHERE account_id = :a AND listed"
                " AND allegro_category_ids IS NOT NULL),"
                " walk(id, parent_id, depth) AS (SELECT c.id, c.parent_id, 0"
                " FROM allegro_categories c JOIN used u ON u.id = c.id"
                " UNION ALL SELECT c.id, c.parent_id, w.depth + 1 FROM walk w"
                " JOIN allegro_categories c ON c.id = w.parent_id WHERE w.depth < 32)"
                " UPDATE allegro_categories SET fetched_at = '-infinity'"
                " WHERE id IN (SELECT id FROM walk)"
            ),
            {"a": account_id},
        )
        return int(result.rowcount or 0)

    async def category_names(self, ids: Sequence[str]) -> dict[str, str]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT id, name FROM allegro_categories"
                " WHERE id = ANY(CAST(:ids AS text[])) AND name IS NOT NULL"
            ),
            {"ids": list(ids)},
        )
        return {r.id: r.name for r in rows}

    async def accounts_using(self, categories: Sequence[str]) -> list[str]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT DISTINCT account_id FROM catalog_items WHERE listed"
                + _IN_CATEGORIES
                + " ORDER BY 1"
            ),
            {"c": list(categories)},
        )
        return list(rows.scalars())

    async def products_in_categories(self, account_id: str, categories: Sequence[str]) -> list[str]:
        rows = await self.connection.execute(
            sa.text(
                "SELECT sku FROM catalog_items WHERE account_id = :a AND listed" + _IN_CATEGORIES
            ),
            {"a": account_id, "c": list(categories)},
        )
        return list(rows.scalars())

    async def selection_categories(self, account_id: str, limit: int) -> list[str]:
        """The Allegro categories of the account's selection, most used first."""
        rows = await self.connection.execute(
            sa.text(
                "SELECT allegro_category_id FROM catalog_items WHERE account_id = :a AND listed"
                " AND allegro_category_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT :n"
            ),
            {"a": account_id, "n": limit},
        )
        return list(rows.scalars())

    async def stored_prices(
        self, account_id: str, skus: Sequence[str] | None = None
    ) -> dict[str, StoredPrice]:
        query = (
            "SELECT sku, catalog_revision, prices::text, unpriced::text FROM prices"
            " WHERE account_id = :a"
        )
        params: dict[str, Any] = {"a": account_id}
        if skus is not None:
            query += " AND sku = ANY(CAST(:skus AS text[]))"
            params["skus"] = list(skus)
        rows = await self.connection.execute(sa.text(query), params)
        return {
            sku: StoredPrice(rev, orjson.loads(prices), orjson.loads(unpriced))
            for sku, rev, prices, unpriced in rows
        }

    async def save_context(
        self, account_id: str, context_id: uuid.UUID, document: dict[str, Any]
    ) -> None:
        await self.connection.execute(
            sa.text(
                "INSERT INTO contexts (id, account_id, document)"
                " VALUES (:id, :a, CAST(:d AS jsonb))"
                " ON CONFLICT (id) DO NOTHING"
            ),
            {"id": context_id, "a": account_id, "d": orjson.dumps(document).decode()},
        )

    async def context_document(self, context_id: uuid.UUID) -> dict[str, Any]:
        doc = await self.connection.scalar(
            sa.text("SELECT document::text FROM contexts WHERE id = :id"), {"id": context_id}
        )
        result: dict[str, Any] = orjson.loads(doc)
        return result

    async def save_prices(
        self,
        account_id: str,
        rule_version: int | None,
        context_id: uuid.UUID,
        rows: Sequence[tuple[str, int, bytes, bytes, bytes]],
    ) -> None:
        """rows: (sku, catalog revision, prices json, unpriced json, traces json)."""
        if not rows:
            return
        await self.connection.execute(
            _SAVE_PRICES,
            {
                "account": account_id,
                "rule_version": rule_version,
                "context_id": context_id,
                "sku": [r[0] for r in rows],
                "rev": [r[1] for r in rows],
                "pr": [r[2].decode() for r in rows],
                "un": [r[3].decode() for r in rows],
                "ex": [r[4].decode() for r in rows],
            },
        )

    async def delete_prices(self, account_id: str, skus: Sequence[str]) -> None:
        if skus:
            await self.connection.execute(
                sa.text(
                    "DELETE FROM prices WHERE account_id = :a AND sku = ANY(CAST(:s AS text[]))"
                ),
                {"a": account_id, "s": list(skus)},
            )

    async def explanation(self, account_id: str, sku: str) -> Any:
        return (
            await self.connection.execute(
                sa.text(
                    "SELECT sku, catalog_revision, prices::text AS prices,"
                    " unpriced::text AS unpriced,"
                    " explanation::text AS explanation, rule_version, context_id, computed_at"
                    " FROM prices"
                    " WHERE account_id = :a AND sku = :s"
                ),
                {"a": account_id, "s": sku},
            )
        ).first()

    # --- rule sets -------------------------------------------------------------------------------

    async def context_sources(
        self, account_id: str
    ) -> tuple[int | None, str | None, str | None, str | None]:
        """Active rule version and document, fee table, rates: raw, in one round trip."""
        row = (await self.connection.execute(_CONTEXT_SOURCES, {"a": account_id})).one()
        return row[0], row[1], row[2], row[3]

    async def active_rules(self, account_id: str) -> tuple[int | None, RuleSet]:
        row = (
            await self.connection.execute(
                sa.text(
                    "SELECT version, document::text FROM rule_sets WHERE account_id = :a"
                    " AND status = 'active' ORDER BY version DESC LIMIT 1"
                ),
                {"a": account_id},
            )
        ).first()
        if row is None:
            return None, RuleSet()
        return row[0], RuleSet.parse(orjson.loads(row[1]))

    async def rule_versions(
        self, account_id: str, limit: int = 50, before: int | None = None
    ) -> list[StoredRules]:
        """Newest first; `before`: only versions older than it (the page cursor)."""
        rows = await self.connection.execute(
            sa.text(
                "SELECT version, status, document::text, created_by, created_at FROM rule_sets"
                " WHERE account_id = :a AND (CAST(:before AS int) IS NULL OR version < :before)"
                " ORDER BY version DESC LIMIT :n"
            ),
            {"a": account_id, "n": limit, "before": before},
        )
        return [StoredRules(v, s, orjson.loads(d), by, at) for v, s, d, by, at in rows]

    async def lock_pricing_inputs(self, account_id: str, *, shared: bool = False) -> None:
        """Until the transaction ends: the account's pricing inputs (rules, fee table, FX
        rates, its categories' chains) are changed and repriced by this transaction alone
        (exclusive), or not changed while it prices with them (`shared`)."""
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        await self.connection.execute(
            sa.text(f"SELECT {function}(hashtext('pricing.inputs:' || :a))"), {"a": account_id}
        )

    async def add_rule_version(self, account_id: str, rules: RuleSet, status: str, by: str) -> int:
        # Serialise writers of one account's rules (the version number is max + 1).
        await self.lock_pricing_inputs(account_id)
        version = int(
            await self.connection.scalar(
                sa.text(
                    "SELECT coalesce(max(version), 0) + 1 FROM rule_sets WHERE account_id = :a"
                ),
                {"a": account_id},
            )
            or 1
        )
        await self.connection.execute(
            sa.text(
                "INSERT INTO rule_sets (account_id, version, document, status, created_by)"
                " VALUES (:a, :v, CAST(:d AS jsonb), :s, :by)"
            ),
            {
                "a": account_id,
                "v": version,
                "d": orjson.dumps(rules.as_dict()).decode(),
                "s": status,
                "by": by,
            },
        )
        return version

    async def activate_rules(self, account_id: str, version: int) -> None:
        await self.lock_pricing_inputs(account_id)
        await self.connection.execute(
            sa.text(
                "UPDATE rule_sets SET status ="
                " CASE WHEN version = :v THEN 'active' ELSE 'superseded'"
                " END WHERE account_id = :a AND (version = :v OR status = 'active')"
            ),
            {"a": account_id, "v": version},
        )

    async def set_rule_status(self, account_id: str, version: int, status: str) -> None:
        await self.connection.execute(
            sa.text("UPDATE rule_sets SET status = :s WHERE account_id = :a AND version = :v"),
            {"a": account_id, "v": version, "s": status},
        )

    # --- FX and fees -----------------------------------------------------------------------------

    async def fx_table(self, account_id: str) -> FxTable:
        rows = await self.connection.execute(
            sa.text("SELECT base, quote, rate, source, as_of FROM fx_rates WHERE account_id = :a"),
            {"a": account_id},
        )
        return FxTable([FxRate(b, q, r, s, d) for b, q, r, s, d in rows])

    async def save_fx_rates(self, account_id: str, rates: Sequence[FxRate]) -> None:
        if not rates:
            return
        await self.lock_pricing_inputs(account_id)
        await self.connection.execute(
            sa.text(
                "INSERT INTO fx_rates (account_id, base, quote, rate, source, as_of, updated_at)"
                " SELECT :a, t.* , now() FROM unnest(CAST(:b AS text[]), CAST(:q AS text[]),"
                " CAST(:r AS numeric[]), CAST(:s AS text[]), CAST(:d AS date[])) AS t"
                " ON CONFLICT (account_id, base, quote) DO UPDATE SET rate = EXCLUDED.rate,"
                " source = EXCLUDED.source, as_of = EXCLUDED.as_of, updated_at = now()"
            ),
            {
                "a": account_id,
                "b": [r.base for r in rates],
                "q": [r.quote for r in rates],
                "r": [r.rate for r in rates],
                "s": [r.source for r in rates],
                "d": [r.as_of for r in rates],
            },
        )

    async def fee_table(self, account_id: str) -> FeeTable:
        doc = await self.connection.scalar(
            sa.text("SELECT document::text FROM fee_tables WHERE account_id = :a"),
            {"a": account_id},
        )
        if doc is None:
            return FeeTable()
        return FeeTable.parse(orjson.loads(doc))

    async def save_fee_table(self, account_id: str, table: FeeTable, by: str) -> None:
        await self.lock_pricing_inputs(account_id)
        await self.connection.execute(
            sa.text(
                "INSERT INTO fee_tables (account_id, document, updated_by) VALUES"
                " (:a, CAST(:d AS jsonb), :by) ON CONFLICT (account_id) DO UPDATE SET"
                " document = EXCLUDED.document, updated_by = EXCLUDED.updated_by,"
                " updated_at = now()"
            ),
            {"a": account_id, "d": orjson.dumps(table.as_dict()).decode(), "by": by},
        )

    # --- holds -----------------------------------------------------------------------------------

    async def create_hold(
        self,
        account_id: str,
        kind: str,
        stats: dict[str, Any],
        by: str,
        rule_version: int | None = None,
        skus: Sequence[str] | None = None,
    ) -> uuid.UUID:
        hold_id = uuid.uuid4()
        await self.connection.execute(
            sa.text(
                "INSERT INTO holds (id, account_id, kind, status, rule_version, skus, stats,"
                " created_by) VALUES (:id, :a, :k, 'pending', :v, :skus, CAST(:st AS jsonb), :by)"
            ),
            {
                "id": hold_id,
                "a": account_id,
                "k": kind,
                "v": rule_version,
                "skus": None if skus is None else list(skus),
                "st": orjson.dumps(stats).decode(),
                "by": by,
            },
        )
        return hold_id

    async def holds(
        self,
        account_id: str,
        status: str | None = None,
        *,
        limit: int = 200,
        after: uuid.UUID | None = None,
    ) -> list[Hold]:
        """Newest first; `after`: only holds listed after that one (the page cursor)."""
        query = f"SELECT {_HOLD_COLUMNS} FROM holds WHERE account_id = :a"
        params: dict[str, Any] = {"a": account_id, "n": limit}
        if status:
            query += " AND status = :s"
            params["s"] = status
        if after is not None:
            query += (
                " AND (created_at, id) < (SELECT created_at, id FROM holds"
                " WHERE account_id = :a AND id = :after)"
            )
            params["after"] = after
        rows = await self.connection.execute(
            sa.text(query + " ORDER BY created_at DESC, id DESC LIMIT :n"), params
        )
        return [_hold(r) for r in rows]

    async def hold_for_update(self, account_id: str, hold_id: uuid.UUID) -> Hold | None:
        row = (
            await self.connection.execute(
                sa.text(
                    f"SELECT {_HOLD_COLUMNS} FROM holds"
                    " WHERE account_id = :a AND id = :id FOR UPDATE"
                ),
                {"a": account_id, "id": hold_id},
            )
        ).first()
        return None if row is None else _hold(row)

    async def decide_hold(self, hold_id: uuid.UUID, status: str, by: str) -> None:
        await self.connection.execute(
            sa.text(
                "UPDATE holds SET status = :s, decided_by = :by, decided_at = now() WHERE id = :id"
            ),
            {"id": hold_id, "s": status, "by": by},
        )

    async def supersede_rule_holds(self, account_id: str, by: str) -> None:
        """A newer rule save makes older held rule versions moot."""
        await self.connection.execute(
            sa.text(
                "UPDATE rule_sets SET status = 'superseded' WHERE account_id = :a"
                " AND status = 'pending'"
            ),
            {"a": account_id},
        )
        await self.connection.execute(
            sa.text(
                "UPDATE holds SET status = 'superseded', decided_by = :by, decided_at = now()"
                " WHERE account_id = :a AND kind = 'rules' AND status = 'pending'"
            ),
            {"a": account_id, "by": by},
        )
