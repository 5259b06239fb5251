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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from catalog.domain.items import decide
from catalog.domain.model import Product
from catalog.domain.names import is_id
from catalog.domain.selection import Selection
from catalog.repository import (
    AccountRepository,
    CoverageRepository,
    ProductRepository,
    RuleRepository,
)
from catalog.sync import Context, load_context
from shared.allegro import AllegroClient, AllegroError
from shared.logs import get_logger
from shared.uow import UnitOfWork, UnitsOfWork

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
    """Allegro catalogue products by EAN, cached in `ean_lookups`.

    Allegro is asked outside any unit of work: the cache is read in one and written in the next.
    """

    def __init__(self, units: UnitsOfWork, client: AllegroClient) -> None:
        self.units = units
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
        found = await self.units.read(_cached_lookups, wanted)
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
            await self.units.handle(_save_lookups, new)
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


async def _cached_lookups(eans: list[str], uow: UnitOfWork) -> dict[str, dict[str, Any]]:
    return await uow.repository(CoverageRepository).lookups(eans, datetime.now(UTC) - LOOKUP_TTL)


async def _save_lookups(found: dict[str, dict[str, Any]], uow: UnitOfWork) -> None:
    await uow.repository(CoverageRepository).save_lookups(found)


# --- category suggestions ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Sample:
    """What suggestions start from: the cached answer, or a sample of the category."""

    cached: tuple[list[dict[str, Any]], datetime] | None
    eans: list[str]
    titles: list[str]
    named_path: str | None


async def _sample(query: tuple[str, bool, int], uow: UnitOfWork) -> _Sample:
    category, refresh, sample = query
    rules = uow.repository(RuleRepository)
    if not refresh:
        cached = await rules.cached_suggestions(category)
        if cached is not None:
            return _Sample(cached, [], [], None)
    rows = await uow.repository(ProductRepository).category_sample(category, sample * 4)
    named_path, _ = (await rules.names()).path(category)
    return _Sample(
        None,
        [ean for ean, _ in rows if ean][:sample],
        [title for _, title in rows if title],
        named_path,
    )


async def _save_suggestions(
    found: tuple[str, list[dict[str, Any]], datetime], uow: UnitOfWork
) -> None:
    await uow.repository(RuleRepository).save_suggestions(*found)


async def suggest_categories(
    units: UnitsOfWork,
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
    found = await units.read(_sample, (supplier_category, refresh, sample))
    if found.cached is not None:
        suggestions, computed_at = found.cached
        return {
            "supplier_category": supplier_category,
            "suggestions": suggestions,
            "computed_at": computed_at.isoformat(),
            "cached": True,
        }
    scores: Counter[str] = Counter()
    sources: dict[str, set[str]] = {}
    names: dict[str, str] = {}
    for info in (await lookups.by_ean(account_id, found.eans)).values():
        if info["category_id"]:
            scores[info["category_id"]] += 3
            sources.setdefault(info["category_id"], set()).add("catalogue-product-by-ean")
    # Allegro is asked for the category's name, never for BigBuy's id ("17088"): an id the
    # taxonomies list does not know leaves only the title to search with.
    leaf_name = (found.named_path or supplier_category).split(" > ")[-1]
    phrases = [p for p in (leaf_name, *found.titles[:1]) if p and not is_id(p)]
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
    await units.handle(_save_suggestions, (supplier_category, suggestions, computed_at))
    return {
        "supplier_category": supplier_category,
        "suggestions": suggestions,
        "computed_at": computed_at.isoformat(),
        "cached": False,
    }


# --- coverage --------------------------------------------------------------------------------


def _zero() -> dict[str, int]:
    return dict.fromkeys(COUNT_KEYS, 0)


async def _start(query: tuple[uuid.UUID, str, Selection], uow: UnitOfWork) -> None:
    report_id, account_id, selection = query
    total = await uow.repository(ProductRepository).count()
    await uow.repository(CoverageRepository).start(
        report_id, account_id, selection.as_dict(), total, _zero()
    )


async def start_coverage(units: UnitsOfWork, account_id: str, selection: Selection) -> uuid.UUID:
    report_id = uuid.uuid4()
    await units.handle(_start, (report_id, account_id, selection))
    return report_id


async def _claim_stale(before: datetime, uow: UnitOfWork) -> list[uuid.UUID]:
    return await uow.repository(CoverageRepository).claim_stale(before)


async def claim_stale(units: UnitsOfWork) -> list[uuid.UUID]:
    """Running reports whose worker stopped reporting progress (it died): take them over."""
    return await units.handle(_claim_stale, datetime.now(UTC) - STALE_AFTER)


async def _fail(failure: tuple[uuid.UUID, str], uow: UnitOfWork) -> None:
    await uow.repository(CoverageRepository).fail(*failure)


async def run_coverage(units: UnitsOfWork, lookups: Lookups, report_id: uuid.UUID) -> None:
    """Compute (or resume) a coverage report; progress is committed after every chunk."""
    try:
        await _run_coverage(units, lookups, report_id)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("coverage_failed", report_id=str(report_id))
        await units.handle(_fail, (report_id, repr(exc)[:2000]))


@dataclass(frozen=True)
class _Resumed:
    progress: dict[str, Any] | None
    ctx: Context
    waived: frozenset[str]


async def _resume_point(report_id: uuid.UUID, uow: UnitOfWork) -> _Resumed:
    progress = await uow.repository(CoverageRepository).progress(report_id)
    ctx = await load_context(uow, [])
    waived: frozenset[str] = frozenset()
    if progress is not None:
        account_id = progress["account_id"]
        waivers = await uow.repository(AccountRepository).waived_reasons([account_id])
        waived = waivers.get(account_id, frozenset())
    return _Resumed(progress, ctx, waived)


async def _product_chunk(after: str | None, uow: UnitOfWork) -> list[Product]:
    return await uow.repository(ProductRepository).page(after, COVERAGE_CHUNK)


@dataclass(frozen=True)
class _Advance:
    report_id: uuid.UUID
    processed: int
    last_sku: str | None
    counts: dict[str, int]
    by_category: dict[str, dict[str, int]]


async def _advance(step: _Advance, uow: UnitOfWork) -> None:
    await uow.repository(CoverageRepository).advance(
        step.report_id, step.processed, step.last_sku, step.counts, step.by_category
    )


async def _finish(report_id: uuid.UUID, uow: UnitOfWork) -> None:
    await uow.repository(CoverageRepository).finish(report_id)


async def _run_coverage(units: UnitsOfWork, lookups: Lookups, report_id: uuid.UUID) -> None:
    resumed = await units.read(_resume_point, report_id)
    row = resumed.progress
    if row is None or row["status"] != "running":
        return
    ctx, waived = resumed.ctx, resumed.waived
    account_id = row["account_id"]
    selection = Selection.from_dict(row["selection"])
    counts: dict[str, int] = row["counts"]
    by_category: dict[str, dict[str, int]] = row["by_category"]
    after: str | None = row["last_sku"]
    processed: int = row["processed"]
    while True:
        page = await units.read(_product_chunk, after)
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
        await units.handle(_advance, _Advance(report_id, processed, after, counts, by_category))
    await units.handle(_finish, report_id)
    log.info("coverage_done", report_id=str(report_id), account_id=account_id, counts=counts)
