"""Screening rules (what is never listed), and why an account's products are not listable."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from catalog.api.common import NOT_FOUND, OF_ACCOUNT
from catalog.deps import Deps
from catalog.domain import commands as c
from catalog.handlers import screening as handlers
from shared.accounts import KnownAccount
from shared.http import Int4Id
from shared.pagination import Page, PageQuery
from shared.security import Operator, Viewer

router = APIRouter()


class RuleBody(BaseModel):
    kind: Literal["category", "brand", "keyword", "exception"]
    pattern: str = Field(min_length=1, max_length=500)
    reason: str = Field(min_length=1, max_length=500)


@router.get("/screening/rules")
async def list_rules(deps: Deps, _: Viewer, page: PageQuery) -> Page[dict[str, Any]]:
    """The rules in the order they were added (`next`: the last rule's id)."""
    return await deps.units.read(handlers.list_rules, c.ListScreeningRules(page))


@router.post("/screening/rules", status_code=status.HTTP_201_CREATED)
async def add_rule(body: RuleBody, deps: Deps, _: Operator) -> dict[str, Any]:
    """Add a rule; products it blocks are withdrawn (listed=false) from every account."""
    command = c.AddScreeningRule(body.kind, body.pattern, body.reason)
    return await deps.units.handle(handlers.add_rule, command)


@router.delete("/screening/rules/{rule_id}", responses=NOT_FOUND)
async def delete_rule(rule_id: Int4Id, deps: Deps, _: Operator) -> dict[str, Any]:
    return await deps.units.handle(handlers.delete_rule, c.DeleteScreeningRule(rule_id))


@router.get("/accounts/{account_id}/screened", responses=OF_ACCOUNT)
async def screened_products(
    _: Viewer, account_id: KnownAccount, deps: Deps, page: PageQuery
) -> dict[str, Any]:
    """Products of the account's selection that screening blocks, with the blocking rule:
    `total`, and a page of them in SKU order (`items`, `next`)."""
    return await deps.units.read(handlers.screened, c.ListScreened(account_id, page))


@router.get("/accounts/{account_id}/not-listable", responses=OF_ACCOUNT)
async def not_listable_products(
    _: Viewer, account_id: KnownAccount, deps: Deps, page: PageQuery
) -> dict[str, Any]:
    """Selected products Allegro would not take, each with every reason at once (codes and
    plain words), and the counts by reason over the whole selection; a page in SKU order."""
    return await deps.units.read(handlers.not_listable, c.ListNotListable(account_id, page))
