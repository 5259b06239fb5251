"""Each account's selection (what it lists) and listing policy (waivers, product cap)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from catalog.api.common import OF_ACCOUNT
from catalog.deps import Deps
from catalog.domain import commands as c
from catalog.domain.selection import Selection
from catalog.handlers import selection as handlers
from shared.accounts import KnownAccount
from shared.errors import Invalid
from shared.pagination import PageQuery
from shared.security import Operator, Viewer

router = APIRouter()


class RulesBody(BaseModel):
    categories: list[Annotated[str, Field(max_length=500)]] = Field(default=[], max_length=5000)
    brands: list[Annotated[str, Field(max_length=200)]] = Field(default=[], max_length=5000)
    skus: list[Annotated[str, Field(max_length=64)]] = Field(default=[], max_length=200_000)


class SelectionBody(BaseModel):
    include: RulesBody = Field(description="What to list; `{}` lists nothing")
    exclude: RulesBody = Field(default_factory=RulesBody)

    def selection(self) -> Selection:
        return Selection.from_dict(self.model_dump())


@router.get("/accounts/{account_id}/selection", responses=OF_ACCOUNT)
async def get_selection(_: Viewer, account_id: KnownAccount, deps: Deps) -> dict[str, Any]:
    return await deps.units.read(handlers.get_selection, c.GetSelection(account_id))


class ListingBody(BaseModel):
    not_blocking: list[
        Literal["no_image", "no_ean", "no_weight", "missing_gpsr", "no_category"]
    ] = Field(
        default_factory=list,
        max_length=5,
        description="Reasons this account lists a product despite (screening never waives)",
    )
    product_cap: int | None = Field(
        default=None, ge=1, le=10_000_000, description="Products this shop may offer (45,000)"
    )
    cap_order: Literal["margin", "stock", "priority", "sku"] = Field(
        default="margin",
        description="Which products stay within the cap: highest margin (RRP - cost), most"
        " stock, or the `priority` list's order; SKU breaks ties",
    )
    priority: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=200_000
    )


@router.get("/accounts/{account_id}/listing", responses=OF_ACCOUNT)
async def get_listing(_: Viewer, account_id: KnownAccount, deps: Deps) -> dict[str, Any]:
    """What blocks publication for this account: every reason, and those it waives."""
    return await deps.units.read(handlers.get_listing, c.GetListing(account_id))


@router.put("/accounts/{account_id}/listing", responses=OF_ACCOUNT)
async def set_listing(
    body: ListingBody, _: Operator, account_id: KnownAccount, deps: Deps
) -> dict[str, Any]:
    """Change what this account waives; its products are re-decided and re-sent at once."""
    command = c.SetListing(
        account_id, list(body.not_blocking), body.product_cap, body.cap_order, body.priority
    )
    return await deps.units.handle(handlers.set_listing, command)


@router.post("/accounts/{account_id}/selection/preview", responses=OF_ACCOUNT)
async def preview_selection(
    _: Viewer, account_id: KnownAccount, body: SelectionBody, deps: Deps, page: PageQuery
) -> dict[str, Any]:
    """What saving this selection would list, withdraw and keep: counts, and a page of the
    products it would list (`items`, `next`: the last SKU of the page)."""
    query = c.PreviewSelection(account_id, body.selection(), page)
    return await deps.units.read(handlers.preview_selection, query)


@router.put("/accounts/{account_id}/selection", responses=OF_ACCOUNT)
async def save_selection(
    principal: Operator, account_id: KnownAccount, body: SelectionBody, deps: Deps
) -> dict[str, Any]:
    """Save the selection; CatalogUpdated: full items entering, listed=false leaving."""
    command = c.SaveSelection(account_id, body.selection(), principal.subject)
    return await deps.units.handle(handlers.save_selection, command)


class SelectionPatch(BaseModel):
    """A partial change: each part sent replaces that part; at least one part."""

    include: RulesBody | None = None
    exclude: RulesBody | None = None


@router.patch("/accounts/{account_id}/selection", responses=OF_ACCOUNT)
async def patch_selection(
    principal: Operator, account_id: KnownAccount, body: SelectionPatch, deps: Deps
) -> dict[str, Any]:
    """Replace the include or the exclude part of the saved selection, keeping the other."""
    changes = body.model_dump(exclude_none=True)
    if not changes:
        raise Invalid(
            "send include, exclude or both",
            code="validation_failed",
            details=[{"field": "body", "reason": "nothing to change"}],
        )
    command = c.PatchSelection(account_id, changes, principal.subject)
    return await deps.units.handle(handlers.patch_selection, command)
