"""SQL of the catalog: set-based reads and writes over the transaction's connection.

Bulk writes go through asyncpg with one statement per chunk (`unnest` of column arrays), never a
statement per row: a round trip per row would cap an import at a few thousand rows a second.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.domain.items import DEFAULT_PRODUCT_CAP
from catalog.domain.model import Product
from catalog.domain.names import ListRow, Names
from catalog.domain.screening import ScreeningRule
from catalog.domain.selection import Selection
from catalog.domain.stock import DEFAULT_LAG
from catalog.domain.validation import RowError

PRODUCT_COLUMNS = (
    "sku, ean, title, description, images::text AS images, category_path, brand, weight_kg,"
    " attributes::text AS attributes, cost_amount, cost_currency, rrp_amount, rrp_currency,"
    " stock, content_at, price_at, stock_at, source, content_hash, received::text AS received"
)


async def raw(conn: AsyncConnection) -> Any:
    """The asyncpg connection under SQLAlchemy's, in the same transaction."""
    fairy = await conn.get_raw_connection()
    return fairy.driver_connection


def product_from_row(row: Any) -> Product:
    return Product(
        sku=row["sku"],
        ean=row["ean"],
        title=row["title"],
        description=row["description"],
        images=orjson.loads(row["images"]),
        category_path=row["category_path"],
        brand=row["brand"],
        weight_kg=row["weight_kg"],
        attributes=orjson.loads(row["attributes"]),
        cost_amount=row["cost_amount"],
        cost_currency=row["cost_currency"],
        rrp_amount=row["rrp_amount"],
        rrp_currency=row["rrp_currency"],
        stock=row["stock"],
        content_at=row["content_at"],
        price_at=row["price_at"],
        stock_at=row["stock_at"],
        source=row["source"],
        content_hash=row["content_hash"],
        received=orjson.loads(row["received"]),
    )


async def load_products(
    conn: AsyncConnection, skus: Sequence[str], *, lock: bool = False
) -> dict[str, Product]:
    if not skus:
        return {}
    pg = await raw(conn)
    lock_clause = " ORDER BY sku FOR UPDATE" if lock else ""
    rows = await pg.fetch(
        f"SELECT {PRODUCT_COLUMNS} FROM products WHERE sku = ANY($1::text[]){lock_clause}",
        list(skus),
    )
    return {row["sku"]: product_from_row(row) for row in rows}


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + " > %"


async def product_page(
    conn: AsyncConnection,
    after: str | None,
    limit: int,
    category: str | None = None,
    *,
    share_lock: bool = False,
) -> list[Product]:
    """Products in SKU order after `after` (keyset pagination); `category`: that subtree.

    `share_lock`: hold the rows until commit, so that what is emitted from them cannot be
    overtaken by a concurrent change (which waits, then emits a later revision).
    """
    pg = await raw(conn)
    rows = await pg.fetch(
        f"SELECT {PRODUCT_COLUMNS} FROM products WHERE sku > $1"
        " AND ($3::text IS NULL OR category_path = $3 OR category_path LIKE $4)"
        " ORDER BY sku LIMIT $2" + (" FOR SHARE" if share_lock else ""),
        after or "",
        limit,
        category,
        None if category is None else _like_prefix(category),
    )
    return [product_from_row(r) for r in rows]


async def write_products(conn: AsyncConnection, products: Iterable[Product]) -> int:
    items = list(products)
    if not items:
        return 0
    pg = await raw(conn)
    now = datetime.now(UTC)
    await pg.execute(
        """
        INSERT INTO products (sku, ean, title, description, images, category_path, brand,
            weight_kg, attributes, cost_amount, cost_currency, rrp_amount, rrp_currency, stock,
            content_at, price_at, stock_at, source, content_hash, received_at, received)
        SELECT u.sku, u.ean, u.title, u.description, u.images::jsonb, u.category_path, u.brand,
            u.weight_kg, u.attributes::jsonb, u.cost_amount, u.cost_currency, u.rrp_amount,
            u.rrp_currency, u.stock, u.content_at, u.price_at, u.stock_at, u.source,
            u.content_hash, $20, u.received::jsonb
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::numeric[], $9::text[], $10::numeric[], $11::text[], $12::numeric[],
            $13::text[], $14::int[], $15::timestamptz[], $16::timestamptz[],
            $17::timestamptz[], $18::text[], $19::text[], $21::text[])
            AS u(sku, ean, title, description, images, category_path, brand, weight_kg,
                attributes, cost_amount, cost_currency, rrp_amount, rrp_currency, stock,
                content_at, price_at, stock_at, source, content_hash, received)
        ON CONFLICT (sku) DO UPDATE SET ean = excluded.ean, title = excluded.title,
            description = excluded.description, images = excluded.images,
            category_path = excluded.category_path, brand = excluded.brand,
            weight_kg = excluded.weight_kg, attributes = excluded.attributes,
            cost_amount = excluded.cost_amount, cost_currency = excluded.cost_currency,
            rrp_amount = excluded.rrp_amount, rrp_currency = excluded.rrp_currency,
            stock = excluded.stock, content_at = excluded.content_at,
            price_at = excluded.price_at, stock_at = excluded.stock_at,
            source = excluded.source, content_hash = excluded.content_hash,
            received_at = excluded.received_at, received = excluded.received
        -- Existing rows were merged under FOR UPDATE; this guards the race of two first
        -- inserts of one SKU: the older record must not overwrite the newer.
        WHERE (excluded.content_at >= products.content_at OR products.content_at IS NULL)
            AND (excluded.price_at >= products.price_at OR products.price_at IS NULL)
            AND (excluded.stock_at >= products.stock_at OR products.stock_at IS NULL)
        """,
        [p.sku for p in items],
        [p.ean for p in items],
        [p.title for p in items],
        [p.description for p in items],
        [orjson.dumps(p.images).decode() for p in items],
        [p.category_path for p in items],
        [p.brand for p in items],
        [p.weight_kg for p in items],
        [orjson.dumps(p.attributes).decode() for p in items],
        [p.cost_amount for p in items],
        [p.cost_currency for p in items],
        [p.rrp_amount for p in items],
        [p.rrp_currency for p in items],
        [p.stock for p in items],
        [p.content_at for p in items],
        [p.price_at for p in items],
        [p.stock_at for p in items],
        [p.source for p in items],
        [p.content_hash for p in items],
        now,
        [orjson.dumps(p.received).decode() for p in items],
    )
    return len(items)


async def title_overrides(conn: AsyncConnection, skus: Sequence[str]) -> dict[str, str]:
    pg = await raw(conn)
    rows = await pg.fetch(
        "SELECT sku, title FROM title_overrides WHERE sku = ANY($1::text[])", list(skus)
    )
    return {r["sku"]: r["title"] for r in rows}


async def set_title_override(
    conn: AsyncConnection, sku: str, title: str | None, by: str | None
) -> None:
    pg = await raw(conn)
    if title is None:
        await pg.execute("DELETE FROM title_overrides WHERE sku = $1", sku)
        return
    await pg.execute(
        "INSERT INTO title_overrides (sku, title, updated_at, updated_by)"
        " VALUES ($1, $2, now(), $3)"
        " ON CONFLICT (sku) DO UPDATE SET title = excluded.title, updated_at = now(),"
        " updated_by = excluded.updated_by",
        sku,
        title,
        by,
    )


async def names(conn: AsyncConnection) -> Names:
    pg = await raw(conn)
    taxonomies = await pg.fetch("SELECT id, names::text AS names FROM supplier_taxonomies")
    manufacturers = await pg.fetch("SELECT id, name FROM supplier_manufacturers")
    return Names(
        {r["id"]: orjson.loads(r["names"]) for r in taxonomies},
        {r["id"]: r["name"] for r in manufacturers},
    )


async def upsert_taxonomies(conn: AsyncConnection, rows: Sequence[ListRow], language: str) -> int:
    """Names merge per language (a Polish list keeps the English names); parents replace."""
    pg = await raw(conn)
    latest = {r.id: r for r in rows}  # the list's last row of an id wins
    await pg.execute(
        "INSERT INTO supplier_taxonomies (id, parent_id, names, updated_at)"
        " SELECT u.id, u.parent, jsonb_build_object(u.lang, u.name), now()"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(id, parent, name, lang)"
        " ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id,"
        " names = supplier_taxonomies.names || excluded.names, updated_at = now()",
        list(latest),
        [r.parent for r in latest.values()],
        [r.name for r in latest.values()],
        [r.language or language for r in latest.values()],
    )
    return len(latest)


async def upsert_manufacturers(conn: AsyncConnection, rows: Sequence[ListRow]) -> int:
    pg = await raw(conn)
    latest = {r.id: r.name for r in rows}
    await pg.execute(
        "INSERT INTO supplier_manufacturers (id, name, updated_at)"
        " SELECT u.id, u.name, now() FROM unnest($1::text[], $2::text[]) AS u(id, name)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, updated_at = now()",
        list(latest),
        list(latest.values()),
    )
    return len(latest)


async def waived_reasons(
    conn: AsyncConnection, account_ids: Sequence[str] | None = None
) -> dict[str, frozenset[str]]:
    pg = await raw(conn)
    rows = await pg.fetch(
        "SELECT account_id, not_blocking::text AS reasons FROM account_listing"
        " WHERE $1::text[] IS NULL OR account_id = ANY($1::text[])",
        None if account_ids is None else list(account_ids),
    )
    return {r["account_id"]: frozenset(orjson.loads(r["reasons"])) for r in rows}


async def set_waived_reasons(
    conn: AsyncConnection,
    account_id: str,
    reasons: list[str],
    product_cap: int | None = None,
    cap_order: str = "margin",
    priority: Sequence[str] = (),
) -> None:
    pg = await raw(conn)
    await pg.execute(
        "INSERT INTO account_listing (account_id, not_blocking, product_cap, cap_order,"
        " priority, updated_at) VALUES ($1, $2::jsonb, $3, $4, $5::jsonb, now())"
        " ON CONFLICT (account_id) DO UPDATE SET not_blocking = excluded.not_blocking,"
        " product_cap = excluded.product_cap, cap_order = excluded.cap_order,"
        " priority = excluded.priority, updated_at = now()",
        account_id,
        orjson.dumps(sorted(set(reasons))).decode(),
        product_cap,
        cap_order,
        orjson.dumps(list(priority)).decode(),
    )


@dataclass(frozen=True)
class CapPolicy:
    cap: int = DEFAULT_PRODUCT_CAP
    order: str = "margin"  # margin | stock | priority | sku
    priority: tuple[str, ...] = ()


async def cap_policy(conn: AsyncConnection, account_id: str) -> CapPolicy:
    pg = await raw(conn)
    row = await pg.fetchrow(
        "SELECT product_cap, cap_order, priority::text AS priority FROM account_listing"
        " WHERE account_id = $1",
        account_id,
    )
    if row is None:
        return CapPolicy()
    return CapPolicy(
        DEFAULT_PRODUCT_CAP if row["product_cap"] is None else row["product_cap"],
        row["cap_order"],
        tuple(orjson.loads(row["priority"])),
    )


async def product_cap(conn: AsyncConnection, account_id: str) -> int:
    return (await cap_policy(conn, account_id)).cap


async def capped_skus(conn: AsyncConnection, account_id: str, skus: Sequence[str]) -> set[str]:
    pg = await raw(conn)
    rows = await pg.fetch(
        "SELECT sku FROM account_capped WHERE account_id = $1 AND sku = ANY($2::text[])",
        account_id,
        list(skus),
    )
    return {r["sku"] for r in rows}


async def set_capped(
    conn: AsyncConnection, account_id: str, skus: Sequence[str], *, capped: bool
) -> None:
    if not skus:
        return
    pg = await raw(conn)
    if capped:
        await pg.execute(
            "INSERT INTO account_capped (account_id, sku) SELECT $1, unnest($2::text[])"
            " ON CONFLICT DO NOTHING",
            account_id,
            list(skus),
        )
    else:
        await pg.execute(
            "DELETE FROM account_capped WHERE account_id = $1 AND sku = ANY($2::text[])",
            account_id,
            list(skus),
        )


async def cap_counts(conn: AsyncConnection, account_id: str) -> tuple[int, int]:
    pg = await raw(conn)
    row = await pg.fetchrow(
        "SELECT (SELECT count(*) FROM account_items WHERE account_id = $1 AND listed) AS listed,"
        " (SELECT count(*) FROM account_capped WHERE account_id = $1) AS capped",
        account_id,
    )
    return int(row["listed"]), int(row["capped"])


# The cap's orders; SKU breaks every tie, so the same data always gives the same choice.
_CAP_ORDER = {
    "margin": "(p.rrp_amount - p.cost_amount) DESC NULLS LAST, p.sku",
    "stock": "p.stock DESC NULLS LAST, p.sku",
    "priority": "array_position($2::text[], p.sku) NULLS LAST, p.sku",
    "sku": "p.sku",
}


async def cap_ranking(
    conn: AsyncConnection, account_id: str, policy: CapPolicy
) -> list[tuple[str, bool]]:
    """The account's listed and capped products in the cap's order: (sku, listed now)."""
    pg = await raw(conn)
    by_priority = policy.order == "priority"
    rows = await pg.fetch(
        "SELECT c.sku, c.listed FROM ("
        " SELECT sku, true AS listed FROM account_items WHERE account_id = $1 AND listed"
        " UNION ALL SELECT sku, false FROM account_capped WHERE account_id = $1) c"
        " JOIN products p ON p.sku = c.sku"
        f" ORDER BY {_CAP_ORDER[policy.order]}",
        *([account_id, list(policy.priority)] if by_priority else [account_id]),
    )
    return [(r["sku"], r["listed"]) for r in rows]


# --- selections and per-account state ---------------------------------------------------------


async def selections(
    conn: AsyncConnection, account_ids: Sequence[str] | None = None
) -> dict[str, Selection]:
    pg = await raw(conn)
    rows = await pg.fetch(
        "SELECT account_id, rules::text AS rules FROM selections"
        " WHERE $1::text[] IS NULL OR account_id = ANY($1::text[]) ORDER BY account_id",
        None if account_ids is None else list(account_ids),
    )
    return {r["account_id"]: Selection.from_dict(orjson.loads(r["rules"])) for r in rows}


async def save_selection(
    conn: AsyncConnection, account_id: str, selection: Selection, by: str
) -> None:
    pg = await raw(conn)
    await pg.execute(
        "INSERT INTO selections (account_id, rules, updated_at, updated_by)"
        " VALUES ($1, $2::jsonb, now(), $3) ON CONFLICT (account_id) DO UPDATE"
        " SET rules = excluded.rules, updated_at = now(), updated_by = excluded.updated_by",
        account_id,
        orjson.dumps(selection.as_dict()).decode(),
        by,
    )


async def account_states(
    conn: AsyncConnection, account_id: str, skus: Sequence[str]
) -> dict[str, tuple[bool, str | None]]:
    pg = await raw(conn)
    rows = await pg.fetch(
        "SELECT sku, listed, item_hash FROM account_items"
        " WHERE account_id = $1 AND sku = ANY($2::text[])",
        account_id,
        list(skus),
    )
    return {r["sku"]: (r["listed"], r["item_hash"]) for r in rows}


async def listed_skus(conn: AsyncConnection, account_id: str) -> set[str]:
    pg = await raw(conn)
    rows = await pg.fetch(
        "SELECT sku FROM account_items WHERE account_id = $1 AND listed", account_id
    )
    return {r["sku"] for r in rows}


async def next_revisions(conn: AsyncConnection, count: int) -> list[int]:
    pg = await raw(conn)
    rows = await pg.fetch(
        "SELECT nextval('catalog_revision_seq') AS r FROM generate_series(1, $1)", count
    )
    return [r["r"] for r in rows]


async def write_states(
    conn: AsyncConnection, account_id: str, states: Sequence[tuple[str, bool, str | None, int]]
) -> None:
    if not states:
        return
    pg = await raw(conn)
    await pg.execute(
        "INSERT INTO account_items (account_id, sku, listed, item_hash, revision, emitted_at)"
        " SELECT $1, u.sku, u.listed, u.item_hash, u.revision, now()"
        " FROM unnest($2::text[], $3::bool[], $4::text[], $5::bigint[])"
        " AS u(sku, listed, item_hash, revision)"
        " ON CONFLICT (account_id, sku) DO UPDATE SET listed = excluded.listed,"
        " item_hash = excluded.item_hash, revision = excluded.revision,"
        " emitted_at = excluded.emitted_at",
        account_id,
        [s[0] for s in states],
        [s[1] for s in states],
        [s[2] for s in states],
        [s[3] for s in states],
    )


# --- screening rules and mappings ---------------------------------------------------------------


async def screening_rules(conn: AsyncConnection) -> list[ScreeningRule]:
    pg = await raw(conn)
    rows = await pg.fetch("SELECT id, kind, pattern, reason FROM screening_rules ORDER BY id")
    return [ScreeningRule(r["id"], r["kind"], r["pattern"], r["reason"]) for r in rows]


async def category_mappings(conn: AsyncConnection) -> dict[tuple[str, str], str]:
    pg = await raw(conn)
    rows = await pg.fetch(
        "SELECT supplier_category, marketplace, allegro_category_id FROM category_mappings"
    )
    return {(r["supplier_category"], r["marketplace"]): r["allegro_category_id"] for r in rows}


# --- settings --------------------------------------------------------------------------------


async def reservation_lag(conn: AsyncConnection) -> timedelta:
    pg = await raw(conn)
    value = await pg.fetchval(
        "SELECT value::text FROM catalog_config WHERE key = 'reservation_lag_seconds'"
    )
    return DEFAULT_LAG if value is None else timedelta(seconds=float(value))


async def set_reservation_lag(conn: AsyncConnection, lag: timedelta) -> None:
    pg = await raw(conn)
    await pg.execute(
        "INSERT INTO catalog_config (key, value, updated_at)"
        " VALUES ('reservation_lag_seconds', $1::jsonb, now()) ON CONFLICT (key) DO UPDATE"
        " SET value = excluded.value, updated_at = now()",
        orjson.dumps(lag.total_seconds()).decode(),
    )


# --- stock reservations ----------------------------------------------------------------------


async def open_reservations(
    conn: AsyncConnection, skus: Sequence[str]
) -> dict[str, list[tuple[int, datetime]]]:
    pg = await raw(conn)
    rows = await pg.fetch(
        "SELECT sku, quantity, reserved_at FROM reservations"
        " WHERE sku = ANY($1::text[]) AND cancelled_at IS NULL",
        list(skus),
    )
    out: dict[str, list[tuple[int, datetime]]] = {}
    for r in rows:
        out.setdefault(r["sku"], []).append((r["quantity"], r["reserved_at"]))
    return out


# --- imports ---------------------------------------------------------------------------------


async def write_import_errors(
    conn: AsyncConnection, import_id: Any, first_seq: int, errors: Sequence[RowError]
) -> None:
    if not errors:
        return
    pg = await raw(conn)
    await pg.execute(
        "INSERT INTO import_errors (import_id, seq, line, sku, field, code, reason)"
        " SELECT $1, u.seq, u.line, u.sku, u.field, u.code, u.reason"
        " FROM unnest($2::int[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[])"
        " AS u(seq, line, sku, field, code, reason)",
        import_id,
        list(range(first_seq, first_seq + len(errors))),
        [e.line for e in errors],
        [e.sku for e in errors],
        [e.field for e in errors],
        [e.code for e in errors],
        [e.reason for e in errors],
    )


async def remember_import_skus(conn: AsyncConnection, import_id: Any, skus: list[str]) -> None:
    """Note the SKUs an import has applied (in the chunk's transaction), to count repeats."""
    if not skus:
        return
    pg = await raw(conn)
    await pg.execute(
        "INSERT INTO import_seen_skus (import_id, sku) SELECT $1, s FROM unnest($2::text[]) s"
        " ON CONFLICT DO NOTHING",
        import_id,
        skus,
    )


async def count_import_skus(conn: AsyncConnection, import_id: Any) -> int:
    pg = await raw(conn)
    return int(
        await pg.fetchval("SELECT count(*) FROM import_seen_skus WHERE import_id = $1", import_id)
    )


async def forget_import_skus(conn: AsyncConnection, import_id: Any) -> None:
    pg = await raw(conn)
    await pg.execute("DELETE FROM import_seen_skus WHERE import_id = $1", import_id)
