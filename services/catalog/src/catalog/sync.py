"""What each account is told: CatalogUpdated items for products whose item content changed.

For a set of products, per account with a selection: decide listed or not (selection, screening,
completeness), build the item (category mapping, available stock), hash it, and compare with
what this account was last sent (`account_items`). Only a new or changed item, or a product
leaving the selection (listed=false), gets a new revision and goes out, in batches of
`BATCH_ITEMS` per event, through the outbox of the caller's transaction.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from catalog import metrics
from catalog.domain.items import REASONS, decide, item_content, item_hash
from catalog.domain.model import Product
from catalog.domain.names import Names
from catalog.domain.screening import Screen
from catalog.domain.selection import Selection
from catalog.domain.stock import available_stock
from catalog.repository import (
    AccountRepository,
    ProductRepository,
    RuleRepository,
    StockRepository,
)
from shared.events import CatalogItem, CatalogUpdated
from shared.pagination import PageRequest
from shared.uow import UnitOfWork

BATCH_ITEMS = 250
SCAN_CHUNK = 2000


@dataclass
class Context:
    """What a sync reads once per transaction: rules, mappings and the selections."""

    screen: Screen
    mappings: dict[tuple[str, str], str]
    selections: dict[str, Selection]
    names: Names = field(default_factory=Names)
    waived: dict[str, frozenset[str]] = field(default_factory=dict)  # per account

    def __post_init__(self) -> None:
        self._by_category: dict[str, dict[str, str]] = {}
        for (path, marketplace), category_id in self.mappings.items():
            self._by_category.setdefault(path, {})[marketplace] = category_id

    def category_for(self, product: Product) -> str | None:
        """The mapping for every marketplace ('' ), else allegro-pl's."""
        found = self._by_category.get(product.category_path or "")
        if not found:
            return None
        return found.get("") or found.get("allegro-pl")

    def is_mapped(self, product: Product) -> bool:
        return self.category_for(product) is not None

    def overrides_for(self, product: Product) -> dict[str, str]:
        found = self._by_category.get(product.category_path or "", {})
        return {m: c for m, c in found.items() if m}


async def load_context(uow: UnitOfWork, account_ids: Sequence[str] | None = None) -> Context:
    rules = uow.repository(RuleRepository)
    accounts = uow.repository(AccountRepository)
    return Context(
        Screen(await rules.screening_rules()),
        await rules.category_mappings(),
        await accounts.selections(account_ids),
        await rules.names(),
        await accounts.waived_reasons(account_ids),
    )


async def availability(uow: UnitOfWork, products: Sequence[Product]) -> dict[str, int | None]:
    stock = uow.repository(StockRepository)
    reservations = await stock.open_reservations([p.sku for p in products])
    lag = await stock.reservation_lag()
    return {
        p.sku: available_stock(p.stock, p.stock_at, reservations.get(p.sku, ()), lag)
        for p in products
    }


async def publish(
    uow: UnitOfWork,
    products: Sequence[Product],
    ctx: Context,
    *,
    accounts: Sequence[str] | None = None,
    enforce_cap: bool = True,
) -> int:
    """Emit what changed for `products` in every account of `ctx` (or `accounts`), then hold
    each account to its product cap; returns the items emitted."""
    if not products or not ctx.selections:
        return 0
    accounts_repo = uow.repository(AccountRepository)
    skus = [p.sku for p in products]
    titles = await uow.repository(ProductRepository).title_overrides(skus)
    if titles:  # the operator's title is the one listed, and the one screened
        products = [replace(p, title=titles[p.sku]) if p.sku in titles else p for p in products]
    stock = await availability(uow, products)
    emitted = 0
    for account_id, selection in ctx.selections.items():
        if accounts is not None and account_id not in accounts:
            continue
        waived = ctx.waived.get(account_id, frozenset())
        held = await accounts_repo.states(account_id, skus)
        capped = await accounts_repo.capped_skus(account_id, skus)
        uncap: list[str] = []
        out: list[tuple[str, bool, str | None, dict[str, Any] | None]] = []
        for product in products:
            over_cap = product.sku in capped
            decision = decide(
                product,
                selection,
                ctx.screen,
                ctx.names,
                mapped=ctx.is_mapped(product),
                waived=waived,
                over_cap=over_cap,
            )
            if over_cap and decision.reasons != ("over_cap",):
                uncap.append(product.sku)  # not listable anyway: it holds no place in the queue
            state = held.get(product.sku)
            if decision.listed:
                content = item_content(
                    ctx.names.resolve(product),  # names sent on; the mapping is by the ids
                    ctx.category_for(product),
                    stock[product.sku],
                    ctx.overrides_for(product),
                )
                digest = item_hash(content)
                if state is not None and state[0] and state[1] == digest:
                    continue
                out.append((product.sku, True, digest, content))
            elif state is not None and state[0]:
                out.append((product.sku, False, None, None))
        await asyncio.sleep(0)  # a few thousand decisions per account: let others run
        await accounts_repo.set_capped(account_id, uncap, capped=False)
        emitted += await _emit(uow, account_id, out)
        if enforce_cap:
            emitted += await _hold_to_cap(uow, account_id, ctx)
    return emitted


async def _emit(
    uow: UnitOfWork, account_id: str, out: list[tuple[str, bool, str | None, dict[str, Any] | None]]
) -> int:
    if not out:
        return 0
    accounts = uow.repository(AccountRepository)
    revisions = await accounts.next_revisions(len(out))
    await accounts.write_states(
        account_id,
        [
            (sku, listed, digest, rev)
            for (sku, listed, digest, _), rev in zip(out, revisions, strict=True)
        ],
    )
    events = []
    for start in range(0, len(out), BATCH_ITEMS):
        items = [
            CatalogItem(sku=sku, revision=rev, listed=listed, **(content or {}))
            for (sku, listed, _, content), rev in zip(
                out[start : start + BATCH_ITEMS],
                revisions[start : start + BATCH_ITEMS],
                strict=True,
            )
        ]
        events.append(CatalogUpdated(account_id=account_id, items=items))
    await uow.emit(*events)
    withdrawn = sum(1 for _, listed, _, _ in out if not listed)
    metrics.items_emitted.labels("false").inc(withdrawn)
    metrics.items_emitted.labels("true").inc(len(out) - withdrawn)
    return len(out)


async def _hold_to_cap(uow: UnitOfWork, account_id: str, ctx: Context) -> int:
    """Keep the account's listed products to its cap, deterministically: the listed and the
    capped products ranked by the account's order (margin, stock or a priority list; SKU
    breaks ties), the first `cap` listed, the rest withdrawn with reason over_cap. Cheap when
    nothing is capped and the count is within the cap (one count query)."""
    accounts = uow.repository(AccountRepository)
    policy = await accounts.cap_policy(account_id)
    listed, capped = await accounts.cap_counts(account_id)
    if listed <= policy.cap and capped == 0:
        return 0
    ranked = await accounts.cap_ranking(account_id, policy)
    within, beyond = ranked[: policy.cap], ranked[policy.cap :]
    withdraw = [sku for sku, is_listed in beyond if is_listed]
    admit = [sku for sku, is_listed in within if not is_listed]
    if not withdraw and not admit:
        return 0
    await accounts.set_capped(account_id, withdraw, capped=True)
    await accounts.set_capped(account_id, admit, capped=False)
    products = await uow.repository(ProductRepository).load(withdraw + admit)
    return await publish(
        uow, list(products.values()), ctx, accounts=[account_id], enforce_cap=False
    )


async def resync(
    uow: UnitOfWork,
    *,
    account_ids: Sequence[str] | None = None,
    category: str | None = None,
) -> int:
    """Re-decide every product (or a category subtree's) for the accounts; emit differences."""
    ctx = await load_context(uow, account_ids)
    if not ctx.selections:
        return 0
    emitted = 0
    after: str | None = None
    products = uow.repository(ProductRepository)
    while True:
        page = await products.page(after, SCAN_CHUNK, category, share_lock=True)
        if not page:
            return emitted
        emitted += await publish(uow, page, ctx)
        after = page[-1].sku
        await asyncio.sleep(0)


async def resync_named(
    uow: UnitOfWork, taxonomies: Sequence[str], manufacturers: Sequence[str]
) -> int:
    """Re-decide the products that name one of these taxonomy or manufacturer ids (their
    resolved names, screening and listability may have changed); emit differences."""
    if not taxonomies and not manufacturers:
        return 0
    ctx = await load_context(uow)
    if not ctx.selections:
        return 0
    emitted = 0
    after: str | None = None
    products = uow.repository(ProductRepository)
    while True:
        page = await products.naming_page(taxonomies, manufacturers, after, SCAN_CHUNK)
        if not page:
            return emitted
        emitted += await publish(uow, page, ctx)
        after = page[-1].sku
        await asyncio.sleep(0)


@dataclass
class Preview:
    selected: int = 0
    to_list: int = 0
    entering: int = 0
    leaving: int = 0
    staying: int = 0
    excluded_reasons: Counter[str] = field(default_factory=Counter)
    blocked_by_rule: Counter[str] = field(default_factory=Counter)
    unmapped: int = 0
    product_cap: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    page: list[dict[str, Any]] = field(default_factory=list)
    more: bool = False  # the page's listable products do not end the list

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": {
                "selected": self.selected,
                "to_list": self.to_list,
                "entering": self.entering,
                "leaving": self.leaving,
                "staying": self.staying,
                "prohibited": self.excluded_reasons["prohibited"],
                "incomplete": self.excluded_reasons["incomplete"],
                "unmapped": self.unmapped,
            },
            # Every reason a selected product is not listable (one product counts under each).
            "not_listable_by_reason": {
                reason: self.excluded_reasons[reason]
                for reason in REASONS
                if self.excluded_reasons[reason]
            },
            "blocked_by_rule": dict(self.blocked_by_rule),
            # The account's cap: how many of what would be listed are past it.
            "cap": {
                "product_cap": self.product_cap,
                "to_list": self.to_list,
                "over_cap": max(0, self.to_list - self.product_cap),
            },
            "by_category": dict(sorted(self.by_category.items())),
            # A page of the products it would list (shared.pagination's shape).
            "items": self.page,
            "next": self.page[-1]["sku"] if self.more and self.page else None,
        }


async def preview(
    uow: UnitOfWork, account_id: str, selection: Selection, wanted: PageRequest
) -> Preview:
    """What saving `selection` would do, without doing it; `wanted`: the page of products it
    would list (in SKU order) that the answer shows."""
    ctx = await load_context(uow, [])
    accounts = uow.repository(AccountRepository)
    waived = (await accounts.waived_reasons([account_id])).get(account_id, frozenset())
    listed_now = await accounts.listed_skus(account_id)
    result = Preview(product_cap=(await accounts.cap_policy(account_id)).cap)
    after: str | None = None
    seen_listed = 0
    products = uow.repository(ProductRepository)
    while True:
        page = await products.page(after, SCAN_CHUNK)
        if not page:
            break
        for product in page:
            decision = decide(
                product,
                selection,
                ctx.screen,
                ctx.names,
                mapped=ctx.is_mapped(product),
                waived=waived,
            )
            was_listed = product.sku in listed_now
            seen_listed += was_listed
            if decision.reason != "not_selected":
                result.selected += 1
            if not decision.listed:
                if decision.reason != "not_selected":
                    result.excluded_reasons.update(decision.reasons)
                if decision.blocked is not None:
                    result.blocked_by_rule[
                        f"{decision.blocked.kind}:{decision.blocked.pattern}"
                    ] += 1
                if was_listed:
                    result.leaving += 1
                continue
            result.to_list += 1
            result.by_category[product.category_path or ""] += 1
            category = ctx.category_for(product)
            if category is None:
                result.unmapped += 1
            if was_listed:
                result.staying += 1
            else:
                result.entering += 1
            if wanted.after is not None and product.sku <= wanted.after:
                continue
            if len(result.page) == wanted.limit:
                result.more = True
                continue
            result.page.append(
                {
                    "sku": product.sku,
                    "title": product.title,
                    "brand": product.brand,
                    "supplier_category": product.category_path,
                    "allegro_category_id": category,
                    "stock": product.stock,
                    "listed_now": was_listed,
                }
            )
        after = page[-1].sku
        await asyncio.sleep(0)
    return result
