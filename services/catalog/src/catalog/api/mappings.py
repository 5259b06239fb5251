"""Supplier category -> Allegro category mappings, and Allegro's suggestions for them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from catalog.api.common import ASKS_ALLEGRO, NOT_FOUND
from catalog.deps import Deps
from catalog.domain import commands as c
from catalog.domain.selection import normalise_category
from catalog.handlers import mappings as handlers
from shared.accounts import KnownAccount, ensure_known
from shared.pagination import Page, PageQuery
from shared.security import Operator, Viewer

router = APIRouter()


class MappingBody(BaseModel):
    supplier_category: str = Field(min_length=1, max_length=500)
    allegro_category_id: str = Field(min_length=1, max_length=100)
    marketplace: Literal["", "allegro-pl", "allegro-cz", "allegro-sk", "allegro-hu"] = ""


@router.get("/category-mappings")
async def list_mappings(deps: Deps, _: Viewer, page: PageQuery) -> Page[dict[str, Any]]:
    """Mappings by supplier category, then marketplace."""
    return await deps.units.read(handlers.list_mappings, c.ListMappings(page))


@router.put("/category-mappings", responses=ASKS_ALLEGRO)
async def put_mapping(
    request: Request,
    body: MappingBody,
    deps: Deps,
    _: Operator,
    check_as: Annotated[
        str | None, Query(description="Check the category with Allegro as this account")
    ] = None,
) -> dict[str, Any]:
    """Map a supplier category (exact path) to an Allegro leaf; its listed items are re-sent.

    With `check_as=<account id>`, Allegro confirms the category exists and is a leaf first.
    """
    category = normalise_category(body.supplier_category)
    allegro_name = None
    if check_as:
        await ensure_known(request, check_as)
        allegro_name = await handlers.check_leaf(deps.allegro, check_as, body.allegro_category_id)
    command = c.MapCategory(category, body.marketplace, body.allegro_category_id)
    emitted = await deps.units.handle(handlers.map_category, command)
    return {
        **body.model_dump(),
        "supplier_category": category,
        "allegro_category_name": allegro_name,
        "emitted_items": emitted,
    }


@router.delete("/category-mappings", responses=NOT_FOUND)
async def delete_mapping(
    deps: Deps, _: Operator, supplier_category: str, marketplace: str = ""
) -> dict[str, Any]:
    command = c.UnmapCategory(normalise_category(supplier_category), marketplace)
    return await deps.units.handle(handlers.unmap_category, command)


@router.get("/category-mappings/unmapped")
async def unmapped_categories(deps: Deps, _: Viewer, page: PageQuery) -> Page[dict[str, Any]]:
    """Supplier categories without a mapping, with how many products each holds, largest first."""
    return await deps.units.read(handlers.unmapped, c.ListUnmapped(page))


class SuggestBody(BaseModel):
    supplier_category: str = Field(min_length=1, max_length=500)
    refresh: bool = False


@router.post("/accounts/{account_id}/category-suggestions", responses=ASKS_ALLEGRO)
async def category_suggestions(
    _: Operator, account_id: KnownAccount, body: SuggestBody, deps: Deps
) -> dict[str, Any]:
    """Allegro categories for a supplier category, asked as `account_id` (cached)."""
    return await handlers.suggest_categories(
        deps.units,
        deps.lookups,
        account_id,
        normalise_category(body.supplier_category),
        refresh=body.refresh,
    )


class SuggestUnmappedBody(BaseModel):
    limit: int = Field(default=20, ge=1, le=200)


@router.post("/accounts/{account_id}/category-suggestions/unmapped", responses=ASKS_ALLEGRO)
async def suggest_unmapped(
    _: Operator, account_id: KnownAccount, deps: Deps, body: SuggestUnmappedBody | None = None
) -> dict[str, Any]:
    """Suggestions for the largest unmapped supplier categories (cached ones cost nothing)."""
    limit = body.limit if body else 20
    return await handlers.suggest_unmapped(deps.units, deps.lookups, account_id, limit)


class AcceptBody(BaseModel):
    supplier_categories: list[Annotated[str, Field(max_length=500)]] = Field(max_length=1000)


@router.post("/category-mappings/accept-suggestions")
async def accept_suggestions(body: AcceptBody, deps: Deps, _: Operator) -> dict[str, Any]:
    """Map each category to its best cached suggestion (source `suggested`)."""
    command = c.AcceptSuggestions([normalise_category(x) for x in body.supplier_categories])
    return await deps.units.handle(handlers.accept_suggestions, command)
