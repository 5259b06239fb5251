"""What the catalog asks Allegro: catalogue products by EAN (cached), category suggestions, and
the coverage report computed from them in the background.

Every call goes through the shared AllegroClient (rate budgets, retries, typed errors) as the
account the operator works for.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog import repository as repo
from catalog.domain.items import decide
from catalog.domain.names import is_id
from catalog.domain.selection import Selection
from catalog.sync import load_context
from shared.allegro import AllegroClient, AllegroError
from shared.logs import get_logger

log = get_logger(__name__)
LOOKUP_TTL = timedelta(days=7)
MATCHING_INTERVAL = 0.25  # Allegro: 5 calls/s per seller; we stay under
COVERAGE_CHUNK = 200
STALE_AFTER = timedelta(seconds=30)
COUNT_KEYS = (
    "selected",
    "matched",
    "missing",
    "ambiguous",
    "no_ean",
    "prohibited",
    "incomplete",
    "unmapped",
    "no_image",
    "no_weight",
    "listable",  # selected and nothing blocks it (after the account's waivers)
)


class Lookups:
    """Allegro catalogue products by EAN, cached in `ean_lookups`."""

    def __init__(self, engine: AsyncEngine, client: AllegroClient) -> None:
        self.engine = engine
        self.client = client
        self._warm: set[str] = set()
        self._matching_lock = asyncio.Lock()
        self._matching_last = 0.0

    async def matching_categories(self, account_id: str, name: str) -> list[dict[str, Any]]:
        """/sale/matching-categories, paced to Allegro's 5 calls per second.

        The shared client's budget is a one-minute bucket, which lets a burst through that
        Allegro's per-second limit refuses (429, then a 60 s block); see the README.
        """
        async with self._matching_lock:
            wait = self._matching_last + MATCHING_INTERVAL - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._matching_last = time.monotonic()
        body = await self.client.get(
            "/sale/matching-categories", params={"name": name}, account_id=account_id
        )
        found: list[dict[str, Any]] = body.get("matchingCategories", [])
        return found

    async def by_ean(self, account_id: str, eans: Iterable[str]) -> dict[str, dict[str, Any]]:
        wanted = sorted(set(eans))
        if not wanted:
            return {}
        async with self.engine.connect() as conn:
            pg = await repo.raw(conn)
            rows = await pg.fetch(
                "SELECT ean, matches, product_ids::text AS ids, category_id FROM ean_lookups"
                " WHERE ean = ANY($1::text[]) AND checked_at > $2",
                wanted,
                datetime.now(UTC) - LOOKUP_TTL,
            )
        found = {
            r["ean"]: {
                "matches": r["matches"],
                "product_ids": orjson.loads(r["ids"]),
                "category_id": r["category_id"],
            }
            for r in rows
        }
        missing = [e for e in wanted if e not in found]
        new: dict[str, dict[str, Any]] = {}
        if missing and account_id not in self._warm:
            # PostgresBudgets creates a budget row on its first use per process, and concurrent
            # first uses race (see the report in the README): the first call goes alone.
            new[missing[0]] = await self._ask(account_id, missing[0])
            self._warm.add(account_id)
        rest = [e for e in missing if e not in new]
        fresh = await asyncio.gather(
            *(self._ask(account_id, e) for e in rest), return_exceptions=True
        )
        failure: BaseException | None = None
        for ean, answer in zip(rest, fresh, strict=True):
            if isinstance(answer, BaseException):
                failure = failure or answer
            else:
                new[ean] = answer
        if new:
            async with self.engine.begin() as conn:
                pg = await repo.raw(conn)
                await pg.execute(
                    "INSERT INTO ean_lookups (ean, matches, product_ids, category_id, checked_at)"
                    " SELECT u.ean, u.matches, u.ids::jsonb, u.category_id, now()"
                    " FROM unnest($1::text[], $2::int[], $3::text[], $4::text[])"
                    " AS u(ean, matches, ids, category_id)"
                    " ON CONFLICT (ean) DO UPDATE SET matches = excluded.matches,"
                    " product_ids = excluded.product_ids, category_id = excluded.category_id,"
                    " checked_at = excluded.checked_at",
                    list(new),
                    [v["matches"] for v in new.values()],
                    [orjson.dumps(v["product_ids"]).decode() for v in new.values()],
                    [v["category_id"] for v in new.values()],
                )
        if failure is not None:
            raise failure  # what was learnt before is kept: a resumed report asks it no more
        return found | new

    async def _ask(self, account_id: str, ean: str) -> dict[str, Any]:
        body = await self.client.get(
            "/sale/products",
            params={"phrase": ean, "mode": "GTIN"},
            account_id=account_id,
        )
        products = body.get("products", [])
        return {
            "matches": len(products),
            "product_ids": [p["id"] for p in products],
            "category_id": products[0]["category"]["id"] if products else None,
        }


# --- category suggestions ----------------------------------------------------------------------


async def suggest_categories(
    engine: AsyncEngine,
    lookups: Lookups,
    account_id: str,
    supplier_category: str,
    *,
    refresh: bool = False,
    sample: int = 5,
) -> dict[str, Any]:
    """Allegro leaf categories for a supplier category, best first, cached per category.

    Two sources: the category of the catalogue products found by the EANs of a sample of the
    category's products (strong), and /sale/matching-categories for the category's name and a
    sample title (weak).
    """
    async with engine.connect() as conn:
        pg = await repo.raw(conn)
        if not refresh:
            cached = await pg.fetchrow(
                "SELECT suggestions::text AS s, computed_at FROM category_suggestions"
                " WHERE supplier_category = $1",
                supplier_category,
            )
            if cached is not None:
                return {
                    "supplier_category": supplier_category,
                    "suggestions": orjson.loads(cached["s"]),
                    "computed_at": cached["computed_at"].isoformat(),
                    "cached": True,
                }
        rows = await pg.fetch(
            "SELECT ean, title FROM products WHERE category_path = $1 ORDER BY sku LIMIT $2",
            supplier_category,
            sample * 4,
        )
        reference = await repo.names(conn)
    eans = [r["ean"] for r in rows if r["ean"]][:sample]
    titles = [r["title"] for r in rows if r["title"]]
    scores: Counter[str] = Counter()
    sources: dict[str, set[str]] = {}
    names: dict[str, str] = {}
    for info in (await lookups.by_ean(account_id, eans)).values():
        if info["category_id"]:
            scores[info["category_id"]] += 3
            sources.setdefault(info["category_id"], set()).add("catalogue-product-by-ean")
    # Allegro is asked for the category's name, never for BigBuy's id ("17088"): an id the
    # taxonomies list does not know leaves only the title to search with.
    named_path, _ = reference.path(supplier_category)
    leaf_name = (named_path or supplier_category).split(" > ")[-1]
    phrases = [p for p in (leaf_name, *titles[:1]) if p and not is_id(p)]
    for phrase in phrases:
        try:
            nodes = await lookups.matching_categories(account_id, phrase)
        except AllegroError as exc:
            log.warning("matching_categories_failed", error=str(exc), phrase=phrase)
            continue
        for rank, node in enumerate(nodes):
            scores[node["id"]] += max(1, 2 - rank)
            names[node["id"]] = node.get("name", "")
            sources.setdefault(node["id"], set()).add("matching-categories")
    suggestions = [
        {
            "allegro_category_id": cid,
            "name": names.get(cid),
            "score": score,
            "sources": sorted(sources[cid]),
        }
        for cid, score in scores.most_common(5)
    ]
    computed_at = datetime.now(UTC)
    async with engine.begin() as conn:
        pg = await repo.raw(conn)
        await pg.execute(
            "INSERT INTO category_suggestions (supplier_category, suggestions, computed_at)"
            " VALUES ($1, $2::jsonb, $3) ON CONFLICT (supplier_category) DO UPDATE"
            " SET suggestions = excluded.suggestions, computed_at = excluded.computed_at",
            supplier_category,
            orjson.dumps(suggestions).decode(),
            computed_at,
        )
    return {
        "supplier_category": supplier_category,
        "suggestions": suggestions,
        "computed_at": computed_at.isoformat(),
        "cached": False,
    }


# --- coverage --------------------------------------------------------------------------------


def _zero() -> dict[str, int]:
    return dict.fromkeys(COUNT_KEYS, 0)


async def start_coverage(engine: AsyncEngine, account_id: str, selection: Selection) -> uuid.UUID:
    report_id = uuid.uuid4()
    async with engine.begin() as conn:
        pg = await repo.raw(conn)
        total = await pg.fetchval("SELECT count(*) FROM products")
        await pg.execute(
            "INSERT INTO coverage_reports (id, account_id, status, selection, total, processed,"
            " counts, by_category, started_at, updated_at)"
            " VALUES ($1, $2, 'running', $3::jsonb, $4, 0, $5::jsonb, '{}'::jsonb, now(), now())",
            report_id,
            account_id,
            orjson.dumps(selection.as_dict()).decode(),
            total,
            orjson.dumps(_zero()).decode(),
        )
    return report_id


async def claim_stale(engine: AsyncEngine) -> list[uuid.UUID]:
    """Running reports whose worker stopped reporting progress (it died): take them over."""
    async with engine.begin() as conn:
        pg = await repo.raw(conn)
        rows = await pg.fetch(
            "UPDATE coverage_reports SET updated_at = now()"
            " WHERE status = 'running' AND updated_at < $1 RETURNING id",
            datetime.now(UTC) - STALE_AFTER,
        )
    return [r["id"] for r in rows]


async def run_coverage(engine: AsyncEngine, lookups: Lookups, report_id: uuid.UUID) -> None:
    """Compute (or resume) a coverage report; progress is committed after every chunk."""
    try:
        await _run_coverage(engine, lookups, report_id)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("coverage_failed", report_id=str(report_id))
        async with engine.begin() as conn:
            pg = await repo.raw(conn)
            await pg.execute(
                "UPDATE coverage_reports SET status = 'failed', error = $2, updated_at = now()"
                " WHERE id = $1",
                report_id,
                repr(exc)[:2000],
            )


async def _run_coverage(engine: AsyncEngine, lookups: Lookups, report_id: uuid.UUID) -> None:
    async with engine.connect() as conn:
        pg = await repo.raw(conn)
        row = await pg.fetchrow(
            "SELECT account_id, status, selection::text AS selection, last_sku, processed,"
            " counts::text AS counts, by_category::text AS by_category"
            " FROM coverage_reports WHERE id = $1",
            report_id,
        )
        ctx = await load_context(conn, [])
        waivers = await repo.waived_reasons(conn, [row["account_id"]]) if row else {}
    if row is None or row["status"] != "running":
        return
    account_id = row["account_id"]
    waived = waivers.get(account_id, frozenset())
    selection = Selection.from_dict(orjson.loads(row["selection"]))
    counts: dict[str, int] = orjson.loads(row["counts"])
    by_category: dict[str, dict[str, int]] = orjson.loads(row["by_category"])
    after: str | None = row["last_sku"]
    processed: int = row["processed"]
    while True:
        async with engine.connect() as conn:
            page = await repo.product_page(conn, after, COVERAGE_CHUNK)
        if not page:
            break
        to_look_up: list[tuple[str, str]] = []  # (ean, category)
        for product in page:
            mapped = ctx.is_mapped(product)
            decision = decide(
                product, selection, ctx.screen, ctx.names, mapped=mapped, waived=waived
            )
            if decision.reason == "not_selected":
                continue
            category = product.category_path or ""
            bucket = by_category.setdefault(category, _zero())
            for target in (counts, bucket):
                target["selected"] += 1
            if decision.reason == "prohibited":
                for target in (counts, bucket):
                    target["prohibited"] += 1
                continue
            flags = [r for r in decision.reasons if r in ("incomplete", "no_image", "no_weight")]
            if not mapped:
                flags.append("unmapped")
            if not decision.reasons:
                flags.append("listable")
            if not product.ean:
                flags += ["no_ean", "missing"]
            else:
                to_look_up.append((product.ean, category))
            for flag in flags:
                for target in (counts, bucket):
                    target[flag] = target.get(flag, 0) + 1  # reports from before a new key
        found = await lookups.by_ean(account_id, (e for e, _ in to_look_up))
        for ean, category in to_look_up:
            matches = found[ean]["matches"]
            flag = "missing" if matches == 0 else "matched" if matches == 1 else "ambiguous"
            for target in (counts, by_category[category]):
                target[flag] += 1
        processed += len(page)
        after = page[-1].sku
        async with engine.begin() as conn:
            pg = await repo.raw(conn)
            await pg.execute(
                "UPDATE coverage_reports SET processed = $2, last_sku = $3, counts = $4::jsonb,"
                " by_category = $5::jsonb, updated_at = now() WHERE id = $1 AND status = 'running'",
                report_id,
                processed,
                after,
                orjson.dumps(counts).decode(),
                orjson.dumps(by_category).decode(),
            )
    async with engine.begin() as conn:
        pg = await repo.raw(conn)
        await pg.execute(
            "UPDATE coverage_reports SET status = 'done', processed = total,"
            " finished_at = now(), updated_at = now() WHERE id = $1",
            report_id,
        )
    log.info("coverage_done", report_id=str(report_id), account_id=account_id, counts=counts)
