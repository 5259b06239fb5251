"""Screening rules, and what blocks the products of an account's selection."""

from __future__ import annotations

from typing import Any

from catalog.domain import commands as c
from catalog.domain.items import REASONS, decide
from catalog.domain.model import Product
from catalog.domain.selection import Selection
from catalog.repository import AccountRepository, ProductRepository, RuleRepository
from catalog.sync import SCAN_CHUNK, load_context, resync
from shared.errors import Invalid, NotFound
from shared.pagination import Page, PageRequest, page_of
from shared.uow import UnitOfWork


async def list_rules(query: c.ListScreeningRules, uow: UnitOfWork) -> Page[dict[str, Any]]:
    """The rules in the order they were added; the cursor is the last rule's id."""
    after = query.page.after
    if after is not None and not (after.isdigit() and len(after) <= 9):
        raise Invalid(
            "not a cursor of this list", code="invalid_cursor", details=[{"field": "after"}]
        )
    rules = await uow.repository(RuleRepository).screening_rule_page(
        -1 if after is None else int(after), query.page.fetch
    )
    page = page_of(rules, query.page, lambda r: str(r.id))
    return Page[dict[str, Any]](items=[r.__dict__ for r in page.items], next=page.next)


async def add_rule(command: c.AddScreeningRule, uow: UnitOfWork) -> dict[str, Any]:
    """Products the rule blocks are withdrawn (listed=false) from every account."""
    rule_id = await uow.repository(RuleRepository).add_screening_rule(
        command.kind, command.pattern.strip(), command.reason
    )
    return {
        "id": rule_id,
        "kind": command.kind,
        "pattern": command.pattern,
        "reason": command.reason,
        "emitted_items": await resync(uow),
    }


async def delete_rule(command: c.DeleteScreeningRule, uow: UnitOfWork) -> dict[str, Any]:
    if not await uow.repository(RuleRepository).delete_screening_rule(command.rule_id):
        raise NotFound(f"screening rule {command.rule_id} not found")
    return {"deleted": command.rule_id, "emitted_items": await resync(uow)}


class _Listed:
    """A page of a scan in SKU order: what is after the cursor, up to the limit."""

    def __init__(self, page: PageRequest) -> None:
        self.page = page
        self.items: list[dict[str, Any]] = []
        self.more = False

    def offer(self, product: Product, item: dict[str, Any]) -> None:
        if self.page.after is not None and product.sku <= self.page.after:
            return
        if len(self.items) < self.page.limit:
            self.items.append(item)
        else:
            self.more = True

    def answer(self) -> dict[str, Any]:
        return {"items": self.items, "next": self.items[-1]["sku"] if self.more else None}


async def screened(query: c.ListScreened, uow: UnitOfWork) -> dict[str, Any]:
    """Products of the account's selection that screening blocks, with the blocking rule."""
    ctx = await load_context(uow, [query.account_id])
    selection = ctx.selections.get(query.account_id, Selection())
    listed = _Listed(query.page)
    total = 0
    after: str | None = None
    products = uow.repository(ProductRepository)
    while page := await products.page(after, SCAN_CHUNK):
        for product in page:
            decision = decide(product, selection, ctx.screen, ctx.names)
            if decision.blocked is None:
                continue
            total += 1
            listed.offer(
                product,
                {
                    "sku": product.sku,
                    "title": product.title,
                    "brand": product.brand,
                    "supplier_category": product.category_path,
                    "rule": decision.blocked.__dict__,
                },
            )
        after = page[-1].sku
    return {"account_id": query.account_id, "total": total, **listed.answer()}


async def not_listable(query: c.ListNotListable, uow: UnitOfWork) -> dict[str, Any]:
    """Selected products Allegro would not take, each with every reason at once (codes and
    plain words), and the counts by reason over the whole selection."""
    account_id = query.account_id
    ctx = await load_context(uow, [account_id])
    selection = ctx.selections.get(account_id, Selection())
    waived = ctx.waived.get(account_id, frozenset())
    listed = _Listed(query.page)
    by_reason: dict[str, int] = {}
    total = 0
    cursor: str | None = None
    products = uow.repository(ProductRepository)
    accounts = uow.repository(AccountRepository)
    while page := await products.page(cursor, SCAN_CHUNK):
        capped = await accounts.capped_skus(account_id, [p.sku for p in page])
        for product in page:
            decision = decide(
                product,
                selection,
                ctx.screen,
                ctx.names,
                mapped=ctx.is_mapped(product),
                waived=waived,
                over_cap=product.sku in capped,
            )
            if not decision.reasons:
                continue
            total += 1
            for reason in decision.reasons:
                by_reason[reason] = by_reason.get(reason, 0) + 1
            listed.offer(
                product,
                {
                    "sku": product.sku,
                    "title": product.title,
                    "reasons": list(decision.reasons),
                    "in_words": [REASONS[r] for r in decision.reasons],
                    "rule": None if decision.blocked is None else decision.blocked.__dict__,
                },
            )
        cursor = page[-1].sku
    return {"account_id": account_id, "total": total, "by_reason": by_reason, **listed.answer()}
