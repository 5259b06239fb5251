"""Supplier category -> Allegro category mappings, and Allegro's suggestions for them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from catalog.allegro import Lookups
from catalog.domain import commands as c
from catalog.domain.names import is_id
from catalog.repository import ProductRepository, RuleRepository
from catalog.sync import resync
from shared.allegro import AllegroClient, AllegroError
from shared.errors import Invalid, NotFound
from shared.logs import get_logger
from shared.pagination import Page, PageRequest, page_of
from shared.uow import UnitOfWork, UnitsOfWork

log = get_logger(__name__)


def _mapping_cursor(mapping: dict[str, Any]) -> str:
    # The marketplace first: its values hold no "/", so the rest is the category, whatever it holds.
    return f"{mapping['marketplace']}/{mapping['supplier_category']}"


async def list_mappings(query: c.ListMappings, uow: UnitOfWork) -> Page[dict[str, Any]]:
    """Mappings by supplier category, then marketplace; the cursor is `<marketplace>/<category>`."""
    after = ("", "")
    if query.page.after is not None:
        marketplace, slash, category = query.page.after.partition("/")
        if not slash:
            raise Invalid(
                "not a cursor of this list", code="invalid_cursor", details=[{"field": "after"}]
            )
        after = (category, marketplace)
    found = await uow.repository(RuleRepository).mapping_page(after, query.page.fetch)
    page = page_of(found, query.page, _mapping_cursor)
    return Page[dict[str, Any]](
        items=[{**m, "updated_at": m["updated_at"].isoformat()} for m in page.items], next=page.next
    )


async def check_leaf(allegro: AllegroClient, account_id: str, category_id: str) -> str:
    """Allegro's name of `category_id`, asked as the account (no unit of work is open while
    Allegro answers); 422 unless it exists and is a leaf."""
    try:
        found = await allegro.get(
            f"/sale/categories/{quote(category_id, safe='')}", account_id=account_id
        )
    except AllegroError as exc:
        if exc.status != 404:
            raise
        found = None
    if found is None or not found.get("leaf"):
        raise Invalid(
            f"Allegro category {category_id} "
            + ("does not exist" if found is None else "is not a leaf: offers need a leaf"),
            code="not_a_leaf_category",
            details=[{"field": "allegro_category_id", "allegro_category_id": category_id}],
        )
    return str(found.get("name", ""))


async def map_category(command: c.MapCategory, uow: UnitOfWork) -> int:
    """Map manually; the category's listed items are re-sent. Returns the items emitted."""
    await uow.repository(RuleRepository).map_categories(
        {command.supplier_category: command.allegro_category_id},
        marketplace=command.marketplace,
        source="manual",
    )
    return await resync(uow, category=command.supplier_category)


async def unmap_category(command: c.UnmapCategory, uow: UnitOfWork) -> dict[str, Any]:
    category = command.supplier_category
    if not await uow.repository(RuleRepository).unmap(category, command.marketplace):
        raise NotFound(f"mapping {category} not found")
    return {
        "deleted": category,
        "marketplace": command.marketplace,
        "emitted_items": await resync(uow, category=category),
    }


def _unmapped_cursor(category: dict[str, Any]) -> str:
    # The count first: it holds no "/", so the rest is the path, whatever it holds.
    return f"{category['products']}/{category['category_path']}"


async def unmapped(query: c.ListUnmapped, uow: UnitOfWork) -> Page[dict[str, Any]]:
    """Supplier categories without a mapping, with how many products each holds, largest first;
    the cursor is `<products>/<category>`. Counts change with imports: a category whose count
    changed between two pages may be read twice or skipped, as with any cursor on a live sort."""
    after = None
    if query.page.after is not None:
        products, slash, category = query.page.after.partition("/")
        if not slash or not products.isdigit():
            raise Invalid(
                "not a cursor of this list", code="invalid_cursor", details=[{"field": "after"}]
            )
        after = (int(products), category)
    found = await uow.repository(RuleRepository).unmapped_page(after, query.page.fetch)
    rows = [{"category_path": path, "products": n} for path, n in found]
    return page_of(rows, query.page, _unmapped_cursor)


async def accept_suggestions(command: c.AcceptSuggestions, uow: UnitOfWork) -> dict[str, Any]:
    """Map each category to its best cached suggestion (source `suggested`)."""
    categories = list(command.supplier_categories)
    rules = uow.repository(RuleRepository)
    accepted = {
        category: suggestions[0]["allegro_category_id"]
        for category, suggestions in (await rules.suggestions_of(categories)).items()
        if suggestions
    }
    await rules.map_categories(accepted, source="suggested")
    emitted = 0
    for category in accepted:
        emitted += await resync(uow, category=category)
    return {
        "accepted": accepted,
        "without_suggestion": [name for name in categories if name not in accepted],
        "emitted_items": emitted,
    }


# --- suggestions: asked of Allegro between two units of work ------------------------------


@dataclass(frozen=True)
class _Sample:
    """What suggestions start from: the cached answer, or a sample of the category."""

    cached: tuple[list[dict[str, Any]], datetime] | None
    eans: list[str]
    titles: list[str]
    named_path: str | None


async def _sample(query: c.SampleCategory, uow: UnitOfWork) -> _Sample:
    category, sample = query.supplier_category, query.sample
    rules = uow.repository(RuleRepository)
    if not query.refresh:
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


async def _save_suggestions(command: c.SaveSuggestions, uow: UnitOfWork) -> None:
    await uow.repository(RuleRepository).save_suggestions(
        command.supplier_category, command.suggestions, command.computed_at
    )


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
    found = await units.read(_sample, c.SampleCategory(supplier_category, refresh, sample))
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
    await units.handle(
        _save_suggestions, c.SaveSuggestions(supplier_category, suggestions, computed_at)
    )
    return {
        "supplier_category": supplier_category,
        "suggestions": suggestions,
        "computed_at": computed_at.isoformat(),
        "cached": False,
    }


async def suggest_unmapped(
    units: UnitsOfWork, lookups: Lookups, account_id: str, limit: int
) -> dict[str, Any]:
    """Suggestions for the largest unmapped supplier categories (cached ones cost nothing);
    each is asked of Allegro outside any unit of work."""
    out = []
    largest = await units.read(unmapped, c.ListUnmapped(PageRequest(limit=limit)))
    for row in largest.items:
        found = await suggest_categories(units, lookups, account_id, row["category_path"])
        out.append({**found, "products": row["products"]})
    return {"categories": out}
