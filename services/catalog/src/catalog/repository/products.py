"""Products and the operator's titles.

Bulk writes are one statement per chunk (`unnest` of column arrays), never a statement per row:
a round trip per row would cap an import at a few thousand rows a second.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from catalog.domain.model import Product
from catalog.repository.base import Repository

PRODUCT_COLUMNS = (
    "sku, ean, title, description, images::text AS images, category_path, brand, weight_kg,"
    " attributes::text AS attributes, cost_amount, cost_currency, rrp_amount, rrp_currency,"
    " stock, content_at, price_at, stock_at, source, content_hash, received::text AS received,"
    " parent_sku, variation::text AS variation"
)
_LOAD = f"SELECT {PRODUCT_COLUMNS} FROM products WHERE sku = ANY(CAST(:skus AS text[]))"
_LOAD_PRODUCTS = sa.text(_LOAD)
_LOCK_PRODUCTS = sa.text(_LOAD + " ORDER BY sku FOR UPDATE")
_PAGE = (
    f"SELECT {PRODUCT_COLUMNS} FROM products WHERE sku > :after"
    " AND (CAST(:category AS text) IS NULL OR category_path = :category"
    " OR category_path LIKE :prefix) ORDER BY sku LIMIT :limit"
)
_PRODUCT_PAGE = sa.text(_PAGE)
# An operator's search: the SKU or EAN exactly, or words of the title (the supplier's or the
# operator's), case-folded. No index serves the title's substring: a scan of the products, a
# few tens of milliseconds at the catalogue sizes we hold, on an operator's click only.
_SEARCH_PAGE = sa.text(
    f"SELECT {PRODUCT_COLUMNS} FROM products WHERE sku > :after"
    " AND (sku = :text OR ean = :text OR title ILIKE :pattern"
    " OR sku IN (SELECT o.sku FROM title_overrides o WHERE o.title ILIKE :pattern))"
    " ORDER BY sku LIMIT :limit"
)
# Products naming one of the given taxonomy ids (anywhere in the path) or manufacturer ids.
_NAMING_PAGE = sa.text(
    f"SELECT {PRODUCT_COLUMNS} FROM products WHERE sku > :after"
    " AND (string_to_array(category_path, ' > ') && CAST(:taxonomies AS text[])"
    " OR brand = ANY(CAST(:manufacturers AS text[]))) ORDER BY sku LIMIT :limit FOR SHARE"
)
_SHARED_PRODUCT_PAGE = sa.text(_PAGE + " FOR SHARE")
# Rendered once: an import runs it for every chunk of 5,000 rows.
_WRITE_PRODUCTS = sa.text(
    """
    INSERT INTO products (sku, ean, title, description, images, category_path, brand,
        weight_kg, attributes, cost_amount, cost_currency, rrp_amount, rrp_currency, stock,
        content_at, price_at, stock_at, source, content_hash, received_at, received,
        parent_sku, variation)
    SELECT u.sku, u.ean, u.title, u.description, CAST(u.images AS jsonb), u.category_path,
        u.brand, u.weight_kg, CAST(u.attributes AS jsonb), u.cost_amount, u.cost_currency,
        u.rrp_amount, u.rrp_currency, u.stock, u.content_at, u.price_at, u.stock_at, u.source,
        u.content_hash, :received_at, CAST(u.received AS jsonb), u.parent_sku,
        CAST(u.variation AS json)
    FROM unnest(CAST(:sku AS text[]), CAST(:ean AS text[]), CAST(:title AS text[]),
        CAST(:description AS text[]), CAST(:images AS text[]), CAST(:category_path AS text[]),
        CAST(:brand AS text[]), CAST(:weight_kg AS numeric[]), CAST(:attributes AS text[]),
        CAST(:cost_amount AS numeric[]), CAST(:cost_currency AS text[]),
        CAST(:rrp_amount AS numeric[]), CAST(:rrp_currency AS text[]), CAST(:stock AS int[]),
        CAST(:content_at AS timestamptz[]), CAST(:price_at AS timestamptz[]),
        CAST(:stock_at AS timestamptz[]), CAST(:source AS text[]),
        CAST(:content_hash AS text[]), CAST(:received AS text[]),
        CAST(:parent_sku AS text[]), CAST(:variation AS text[]))
        AS u(sku, ean, title, description, images, category_path, brand, weight_kg,
            attributes, cost_amount, cost_currency, rrp_amount, rrp_currency, stock,
            content_at, price_at, stock_at, source, content_hash, received, parent_sku,
            variation)
    ON CONFLICT (sku) DO UPDATE SET ean = excluded.ean, title = excluded.title,
        description = excluded.description, images = excluded.images,
        category_path = excluded.category_path, brand = excluded.brand,
        weight_kg = excluded.weight_kg, attributes = excluded.attributes,
        cost_amount = excluded.cost_amount, cost_currency = excluded.cost_currency,
        rrp_amount = excluded.rrp_amount, rrp_currency = excluded.rrp_currency,
        stock = excluded.stock, content_at = excluded.content_at,
        price_at = excluded.price_at, stock_at = excluded.stock_at,
        source = excluded.source, content_hash = excluded.content_hash,
        received_at = excluded.received_at, received = excluded.received,
        parent_sku = excluded.parent_sku, variation = excluded.variation
    -- Existing rows were merged under FOR UPDATE; this guards the race of two first
    -- inserts of one SKU: the older record must not overwrite the newer.
    WHERE (excluded.content_at >= products.content_at OR products.content_at IS NULL)
        AND (excluded.price_at >= products.price_at OR products.price_at IS NULL)
        AND (excluded.stock_at >= products.stock_at OR products.stock_at IS NULL)
    """
)
_TITLE_OVERRIDES = sa.text(
    "SELECT sku, title FROM title_overrides WHERE sku = ANY(CAST(:skus AS text[]))"
)
_DELETE_TITLE = sa.text("DELETE FROM title_overrides WHERE sku = :sku")
_SET_TITLE = sa.text(
    "INSERT INTO title_overrides (sku, title, updated_at, updated_by)"
    " VALUES (:sku, :title, now(), :by)"
    " ON CONFLICT (sku) DO UPDATE SET title = excluded.title, updated_at = now(),"
    " updated_by = excluded.updated_by"
)
_CATEGORY_SAMPLE = sa.text(
    "SELECT ean, title FROM products WHERE category_path = :category ORDER BY sku LIMIT :limit"
)
_COUNT = sa.text("SELECT count(*) FROM products")
_VARIATIONS = sa.text(
    f"SELECT {PRODUCT_COLUMNS} FROM products WHERE parent_sku = :parent ORDER BY sku LIMIT :limit"
)


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
        parent_sku=row["parent_sku"],
        variation=orjson.loads(row["variation"]),
    )


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + " > %"


class ProductRepository(Repository):
    async def load(self, skus: Sequence[str], *, lock: bool = False) -> dict[str, Product]:
        if not skus:
            return {}
        rows = await self._bulk_rows(
            _LOCK_PRODUCTS if lock else _LOAD_PRODUCTS, {"skus": list(skus)}
        )
        return {row["sku"]: product_from_row(row) for row in rows}

    async def page(
        self,
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
        rows = await self._bulk_rows(
            _SHARED_PRODUCT_PAGE if share_lock else _PRODUCT_PAGE,
            {
                "after": after or "",
                "limit": limit,
                "category": category,
                "prefix": None if category is None else _like_prefix(category),
            },
        )
        return [product_from_row(r) for r in rows]

    async def search_page(self, text: str, after: str | None, limit: int) -> list[Product]:
        """Products whose SKU or EAN is `text`, or whose title (the supplier's or the
        operator's) contains it, in SKU order after `after`."""
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = await self._bulk_rows(
            _SEARCH_PAGE,
            {"after": after or "", "limit": limit, "text": text, "pattern": f"%{escaped}%"},
        )
        return [product_from_row(r) for r in rows]

    async def naming_page(
        self,
        taxonomies: Sequence[str],
        manufacturers: Sequence[str],
        after: str | None,
        limit: int,
    ) -> list[Product]:
        """Products whose category path holds one of `taxonomies` or whose brand is one of
        `manufacturers` (ids), in SKU order after `after`, held (FOR SHARE) until commit."""
        rows = await self._bulk_rows(
            _NAMING_PAGE,
            {
                "after": after or "",
                "limit": limit,
                "taxonomies": list(taxonomies),
                "manufacturers": list(manufacturers),
            },
        )
        return [product_from_row(r) for r in rows]

    async def variations_of(self, parent_sku: str, limit: int) -> list[Product]:
        """The variations grouped under `parent_sku`, in SKU order."""
        rows = await self._bulk_rows(_VARIATIONS, {"parent": parent_sku, "limit": limit})
        return [product_from_row(r) for r in rows]

    async def count(self) -> int:
        return int(await self._value(_COUNT))

    async def write(self, products: Iterable[Product]) -> int:
        items = list(products)
        if not items:
            return 0
        await self._run(
            _WRITE_PRODUCTS,
            {
                "sku": [p.sku for p in items],
                "ean": [p.ean for p in items],
                "title": [p.title for p in items],
                "description": [p.description for p in items],
                "images": [orjson.dumps(p.images).decode() for p in items],
                "category_path": [p.category_path for p in items],
                "brand": [p.brand for p in items],
                "weight_kg": [p.weight_kg for p in items],
                "attributes": [orjson.dumps(p.attributes).decode() for p in items],
                "cost_amount": [p.cost_amount for p in items],
                "cost_currency": [p.cost_currency for p in items],
                "rrp_amount": [p.rrp_amount for p in items],
                "rrp_currency": [p.rrp_currency for p in items],
                "stock": [p.stock for p in items],
                "content_at": [p.content_at for p in items],
                "price_at": [p.price_at for p in items],
                "stock_at": [p.stock_at for p in items],
                "source": [p.source for p in items],
                "content_hash": [p.content_hash for p in items],
                "received_at": datetime.now(UTC),
                "received": [orjson.dumps(p.received).decode() for p in items],
                "parent_sku": [p.parent_sku for p in items],
                "variation": [orjson.dumps(p.variation).decode() for p in items],
            },
        )
        return len(items)

    async def category_sample(self, category: str, limit: int) -> list[tuple[str | None, str]]:
        """(ean, title) of the first products of a supplier category, in SKU order."""
        rows = await self._rows(_CATEGORY_SAMPLE, {"category": category, "limit": limit})
        return [(r["ean"], r["title"]) for r in rows]

    async def title_overrides(self, skus: Sequence[str]) -> dict[str, str]:
        rows = await self._rows(_TITLE_OVERRIDES, {"skus": list(skus)})
        return {r["sku"]: r["title"] for r in rows}

    async def set_title_override(self, sku: str, title: str | None, by: str | None) -> None:
        if title is None:
            await self._run(_DELETE_TITLE, {"sku": sku})
        else:
            await self._run(_SET_TITLE, {"sku": sku, "title": title, "by": by})
