"""Supplier category -> Allegro category mappings, and Allegro's suggestions for them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from catalog.allegro import Lookups, suggest_categories
from catalog.domain import commands as c
from catalog.repository import RuleRepository
from catalog.sync import resync
from shared.allegro import AllegroClient, AllegroError
from shared.errors import Invalid, NotFound
from shared.pagination import Page, page_of
from shared.uow import UnitOfWork, UnitsOfWork


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


async def unmapped(query: c.ListUnmapped, uow: UnitOfWork) -> list[tuple[str, int]]:
    """Supplier categories without a mapping, with how many products each holds."""
    return await uow.repository(RuleRepository).unmapped_categories(query.limit)


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


async def suggest_unmapped(
    units: UnitsOfWork, lookups: Lookups, account_id: str, limit: int
) -> dict[str, Any]:
    """Suggestions for the largest unmapped supplier categories (cached ones cost nothing);
    each is asked of Allegro outside any unit of work."""
    out = []
    for category, products in await units.read(unmapped, c.ListUnmapped(limit)):
        found = await suggest_categories(units, lookups, account_id, category)
        out.append({**found, "products": products})
    return {"categories": out}
