"""Products and the operator's title of a product."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from catalog.api.common import NOT_FOUND
from catalog.deps import Deps
from catalog.domain import commands as c
from catalog.domain.selection import normalise_category
from catalog.domain.titles import ALLEGRO_TITLE_MAX
from catalog.handlers import products as handlers
from shared.errors import Invalid
from shared.http import error_responses
from shared.pagination import Page, PageQuery
from shared.security import Operator, Viewer

router = APIRouter()


@router.get("/products", responses=error_responses(422))
async def list_products(
    deps: Deps,
    _: Viewer,
    page: PageQuery,
    category: str | None = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="A SKU or an EAN (exactly), or part of the title, the supplier's or the"
            " operator's (any case); not with `category`",
        ),
    ] = None,
) -> Page[dict[str, Any]]:
    """Products in SKU order (`next`: the last SKU of the page); `category`: its subtree;
    `q`: an operator's search."""
    text = None if q is None else " ".join(q.split())
    if text is not None and (not text or category):
        raise Invalid(
            "search with a SKU, an EAN or words of the title, without a category",
            code="invalid_search",
            details=[{"field": "q", "reason": "empty" if not text else "with_category"}],
        )
    query = c.ListProducts(page, normalise_category(category) if category else None, text)
    return await deps.units.read(handlers.list_products, query)


@router.get("/products/{sku}", responses=NOT_FOUND)
async def get_product(sku: str, deps: Deps, _: Viewer) -> dict[str, Any]:
    return await deps.units.read(handlers.get_product, c.GetProduct(sku))


class TitleBody(BaseModel):
    title: str = Field(
        min_length=1,
        max_length=ALLEGRO_TITLE_MAX,
        pattern=r"\S",
        description="The offer title for this SKU (Allegro's limit: 75 characters)",
    )


@router.put("/products/{sku}/title", responses=NOT_FOUND)
async def set_title(sku: str, body: TitleBody, deps: Deps, who: Operator) -> dict[str, Any]:
    """The operator's title for a SKU: it replaces the supplier's (shortened or not) in every
    account's items and in screening, until removed."""
    title = " ".join(body.title.split())
    return await deps.units.handle(handlers.set_title, c.SetTitle(sku, title, who.subject))


@router.delete("/products/{sku}/title", responses=NOT_FOUND)
async def remove_title(sku: str, deps: Deps, _: Operator) -> dict[str, Any]:
    """Back to the supplier's title."""
    return await deps.units.handle(handlers.set_title, c.SetTitle(sku, None, None))
