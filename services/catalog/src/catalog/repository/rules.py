"""What decides listability besides the product: screening rules, category mappings (and the
cached suggestions for them), and BigBuy's reference names."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from catalog.domain.names import ListRow, Names
from catalog.domain.screening import ScreeningRule
from catalog.repository.base import Repository

_SCREENING_RULES = sa.text("SELECT id, kind, pattern, reason FROM screening_rules ORDER BY id")
_RULE_PAGE = sa.text(
    "SELECT id, kind, pattern, reason FROM screening_rules WHERE id > :after ORDER BY id"
    " LIMIT :limit"
)
_ADD_RULE = sa.text(
    "INSERT INTO screening_rules (kind, pattern, reason) VALUES (:kind, :pattern, :reason)"
    " ON CONFLICT (kind, pattern) DO UPDATE SET reason = excluded.reason RETURNING id"
)
_DELETE_RULE = sa.text("DELETE FROM screening_rules WHERE id = :id RETURNING id")
_MAPPINGS = sa.text(
    "SELECT supplier_category, marketplace, allegro_category_id FROM category_mappings"
)
_MAPPING_PAGE = sa.text(
    "SELECT supplier_category, marketplace, allegro_category_id, source, updated_at"
    " FROM category_mappings"
    " WHERE (supplier_category, marketplace) > (:category, :marketplace)"
    " ORDER BY supplier_category, marketplace LIMIT :limit"
)
_MAP = sa.text(
    "INSERT INTO category_mappings (supplier_category, marketplace, allegro_category_id,"
    " source, updated_at) SELECT u.c, :marketplace, u.id, :source, now()"
    " FROM unnest(CAST(:categories AS text[]), CAST(:ids AS text[])) AS u(c, id)"
    " ON CONFLICT (supplier_category, marketplace) DO UPDATE"
    " SET allegro_category_id = excluded.allegro_category_id, source = excluded.source,"
    " updated_at = now()"
)
_UNMAP = sa.text(
    "DELETE FROM category_mappings WHERE supplier_category = :category"
    " AND marketplace = :marketplace RETURNING 1"
)
# Largest first, then by path; the page after a cursor (products, path) is the rows after it in
# that order: (-products, path) greater than the cursor's.
_UNMAPPED_PAGE = sa.text(
    "SELECT category_path, products FROM (SELECT p.category_path, count(*) AS products"
    " FROM products p WHERE p.category_path IS NOT NULL AND NOT EXISTS"
    " (SELECT 1 FROM category_mappings m WHERE m.supplier_category = p.category_path)"
    " GROUP BY p.category_path) u"
    " WHERE CAST(:products AS bigint) IS NULL"
    " OR (-u.products, u.category_path) > (-CAST(:products AS bigint), CAST(:path AS text))"
    " ORDER BY u.products DESC, u.category_path LIMIT :limit"
)
_SUGGESTION = sa.text(
    "SELECT suggestions::text AS s, computed_at FROM category_suggestions"
    " WHERE supplier_category = :category"
)
_SUGGESTIONS = sa.text(
    "SELECT supplier_category, suggestions::text AS s FROM category_suggestions"
    " WHERE supplier_category = ANY(CAST(:categories AS text[]))"
)
_SAVE_SUGGESTIONS = sa.text(
    "INSERT INTO category_suggestions (supplier_category, suggestions, computed_at)"
    " VALUES (:category, CAST(:suggestions AS jsonb), :at) ON CONFLICT (supplier_category)"
    " DO UPDATE SET suggestions = excluded.suggestions, computed_at = excluded.computed_at"
)
# Each list as one JSON object built by PostgreSQL: every sync reads the names (each import
# chunk, each upstream message), and BigBuy's 35,000 rows one by one cost about a second on a
# loaded machine where one object parsed by orjson costs a few milliseconds.
_TAXONOMIES = sa.text(
    "SELECT coalesce(json_object_agg(id, names), '{}')::text FROM supplier_taxonomies"
)
_MANUFACTURERS = sa.text(
    "SELECT coalesce(json_object_agg(id, name), '{}')::text FROM supplier_manufacturers"
)
# One row per id (its names of this list grouped into one object), so that a list naming an
# id in several languages is one upsert; RETURNING gives only the ids whose names or parent
# changed (an unchanged row is not updated), so that only their products are re-resolved.
_UPSERT_TAXONOMIES = sa.text(
    "INSERT INTO supplier_taxonomies (id, parent_id, names, updated_at)"
    " SELECT u.id, max(u.parent), jsonb_object_agg(u.lang, u.name), now()"
    " FROM unnest(CAST(:ids AS text[]), CAST(:parents AS text[]), CAST(:names AS text[]),"
    " CAST(:languages AS text[])) AS u(id, parent, name, lang) GROUP BY u.id"
    " ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id,"
    " names = supplier_taxonomies.names || excluded.names, updated_at = now()"
    " WHERE supplier_taxonomies.parent_id IS DISTINCT FROM excluded.parent_id"
    " OR supplier_taxonomies.names || excluded.names <> supplier_taxonomies.names"
    " RETURNING id"
)
_UPSERT_MANUFACTURERS = sa.text(
    "INSERT INTO supplier_manufacturers (id, name, updated_at)"
    " SELECT u.id, u.name, now() FROM unnest(CAST(:ids AS text[]), CAST(:names AS text[]))"
    " AS u(id, name) ON CONFLICT (id) DO UPDATE SET name = excluded.name, updated_at = now()"
    " WHERE supplier_manufacturers.name <> excluded.name RETURNING id"
)


class RuleRepository(Repository):
    # --- screening ----------------------------------------------------------------------------

    async def screening_rules(self) -> list[ScreeningRule]:
        rows = await self._rows(_SCREENING_RULES)
        return [ScreeningRule(r["id"], r["kind"], r["pattern"], r["reason"]) for r in rows]

    async def screening_rule_page(self, after: int, limit: int) -> list[ScreeningRule]:
        rows = await self._rows(_RULE_PAGE, {"after": after, "limit": limit})
        return [ScreeningRule(r["id"], r["kind"], r["pattern"], r["reason"]) for r in rows]

    async def add_screening_rule(self, kind: str, pattern: str, reason: str) -> int:
        return int(
            await self._value(_ADD_RULE, {"kind": kind, "pattern": pattern, "reason": reason})
        )

    async def delete_screening_rule(self, rule_id: int) -> bool:
        return await self._value(_DELETE_RULE, {"id": rule_id}) is not None

    # --- category mappings --------------------------------------------------------------------

    async def category_mappings(self) -> dict[tuple[str, str], str]:
        rows = await self._rows(_MAPPINGS)
        return {(r["supplier_category"], r["marketplace"]): r["allegro_category_id"] for r in rows}

    async def mapping_page(self, after: tuple[str, str], limit: int) -> list[dict[str, Any]]:
        """Mappings in (supplier category, marketplace) order, after `after`."""
        rows = await self._rows(
            _MAPPING_PAGE, {"category": after[0], "marketplace": after[1], "limit": limit}
        )
        return [dict(r) for r in rows]

    async def map_categories(
        self, mapped: dict[str, str], *, marketplace: str = "", source: str
    ) -> None:
        """supplier category -> Allegro category id, for `marketplace` ('' = every one)."""
        if mapped:
            await self._run(
                _MAP,
                {
                    "categories": list(mapped),
                    "ids": list(mapped.values()),
                    "marketplace": marketplace,
                    "source": source,
                },
            )

    async def unmap(self, category: str, marketplace: str) -> bool:
        found = await self._value(_UNMAP, {"category": category, "marketplace": marketplace})
        return found is not None

    async def unmapped_page(
        self, after: tuple[int, str] | None, limit: int
    ) -> list[tuple[str, int]]:
        """Supplier categories without a mapping and their product counts, largest first (then
        by path), after `after` = (products, path) in that order."""
        products, path = after if after is not None else (None, None)
        rows = await self._rows(
            _UNMAPPED_PAGE, {"products": products, "path": path, "limit": limit}
        )
        return [(r["category_path"], int(r["products"])) for r in rows]

    async def cached_suggestions(
        self, category: str
    ) -> tuple[list[dict[str, Any]], datetime] | None:
        row = await self._row(_SUGGESTION, {"category": category})
        return None if row is None else (orjson.loads(row["s"]), row["computed_at"])

    async def suggestions_of(self, categories: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        rows = await self._rows(_SUGGESTIONS, {"categories": list(categories)})
        return {r["supplier_category"]: orjson.loads(r["s"]) for r in rows}

    async def save_suggestions(
        self, category: str, suggestions: list[dict[str, Any]], at: datetime
    ) -> None:
        await self._run(
            _SAVE_SUGGESTIONS,
            {"category": category, "suggestions": orjson.dumps(suggestions).decode(), "at": at},
        )

    # --- BigBuy's reference names -------------------------------------------------------------

    async def names(self) -> Names:
        return Names(
            orjson.loads(await self._value(_TAXONOMIES)),
            orjson.loads(await self._value(_MANUFACTURERS)),
        )

    async def upsert_taxonomies(self, rows: Sequence[ListRow], language: str) -> list[str]:
        """Names merge per language (a Polish list keeps the English names); parents replace.
        Returns the ids that are new or changed."""
        latest = {(r.id, r.language or language): r for r in rows}  # a list's last row wins
        if not latest:
            return []
        found = await self._rows(
            _UPSERT_TAXONOMIES,
            {
                "ids": [r.id for r in latest.values()],
                "parents": [r.parent for r in latest.values()],
                "names": [r.name for r in latest.values()],
                "languages": [lang for _, lang in latest],
            },
        )
        return [r["id"] for r in found]

    async def upsert_manufacturers(self, rows: Sequence[ListRow]) -> list[str]:
        """Returns the ids that are new or renamed."""
        latest = {r.id: r.name for r in rows}
        if not latest:
            return []
        found = await self._rows(
            _UPSERT_MANUFACTURERS, {"ids": list(latest), "names": list(latest.values())}
        )
        return [r["id"] for r in found]
