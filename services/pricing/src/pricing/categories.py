"""Allegro's category tree, read through the platform's one Allegro client.

Allegro charges by its own category, so the commission group of a product is found on the parent
chain of its mapped Allegro category (`GET /sale/categories/{categoryId}`, `parent.id` up to a
root). The chains are cached in the `allegro_categories` table for `category_ttl_hours` and read
by a background loop outside any unit of work: a product whose chain is not known yet is priced
with the assumed (highest) commission, then repriced once its chain has been read.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import quote

import httpx

from pricing import handlers
from pricing.deps import PricingDeps
from pricing.domain import commands as c
from pricing.domain.categories import CategoryRow
from pricing.settings import Settings
from shared.allegro import AllegroClient, AllegroError, AllegroUnavailable, RateLimited
from shared.allegro.tokens import AccountUnavailable
from shared.logs import get_logger
from shared.service import ServiceRuntime

log = get_logger(__name__)

MAX_DEPTH = 32  # far deeper than Allegro's tree: a cycle in bad data cannot loop forever
BATCH = 1_000  # categories per round (unknown ones first, then the longest expired)
ACCOUNT_BACKOFF_SECONDS = 60.0  # an account without a usable token is not asked again before

# account -> monotonic time before which it is not asked (no token, or Allegro refused it).
_resting: dict[str, float] = {}


async def read_category(client: AllegroClient, account_id: str, category_id: str) -> CategoryRow:
    """One category; a 404 is an answer too (deleted or unknown): a row that is not `found`."""
    try:
        body = await client.get(
            f"/sale/categories/{quote(category_id, safe='')}", account_id=account_id
        )
    except AllegroError as exc:
        if exc.status == 404:
            return CategoryRow(category_id, None, None, False, found=False)
        raise
    parent = body.get("parent") or {}
    return CategoryRow(
        id=str(body.get("id") or category_id),
        parent_id=None if parent.get("id") is None else str(parent["id"]),
        name=body.get("name"),
        leaf=bool(body.get("leaf")),
    )


async def read_chain(
    client: AllegroClient, account_id: str, leaf: str, known: dict[str, CategoryRow]
) -> list[CategoryRow]:
    """The rows of `leaf`'s chain that `known` (fresh rows) lacks, read from Allegro."""
    read: list[CategoryRow] = []
    current: str | None = leaf
    for _ in range(MAX_DEPTH):
        if current is None:
            break
        row = known.get(current)
        if row is None:
            row = known[current] = await read_category(client, account_id, current)
            read.append(row)
        if not row.found:
            break
        current = row.parent_id
    return read


async def resolve_once(deps: PricingDeps, ttl_seconds: float) -> int:
    """Read the unknown or expired chains of the categories in use, store them, and reprice the
    products of every account using them. Returns how many categories were resolved."""
    work = await deps.units.read(
        handlers.categories_to_resolve, c.CategoriesToResolve(ttl_seconds, BATCH)
    )
    if not work:
        return 0
    known = await deps.units.read(handlers.fresh_categories, c.FreshCategories(ttl_seconds))
    rows: list[CategoryRow] = []
    resolved: list[str] = []
    now = time.monotonic()
    for leaf, accounts in work:
        for account_id in accounts:
            if _resting.get(account_id, 0.0) > now:
                continue
            try:
                rows += await read_chain(deps.allegro, account_id, leaf, known)
            except (AccountUnavailable, httpx.HTTPError):
                # No usable token (or auth could not be asked): another account may have one.
                _resting[account_id] = now + ACCOUNT_BACKOFF_SECONDS
                continue
            except (RateLimited, AllegroUnavailable) as exc:
                log.warning("allegro_categories_unavailable", error=str(exc))
                break  # this round ends here; what was read is kept
            except AllegroError as exc:
                # Refused for this account (403, ...): another account may read it.
                log.warning("allegro_category_refused", category=leaf, error=str(exc))
                _resting[account_id] = now + ACCOUNT_BACKOFF_SECONDS
                continue
            resolved.append(leaf)
            break
    if not resolved:
        return 0
    accounts_to_reprice = await deps.units.handle(
        handlers.save_categories, c.SaveCategories(rows, resolved)
    )
    for account_id in accounts_to_reprice:
        await deps.units.handle(
            handlers.reprice_categories, c.RepriceCategories(account_id, resolved)
        )
    log.info("allegro_categories_resolved", categories=len(resolved), read=len(rows))
    return len(resolved)


async def resolve_categories(runtime: ServiceRuntime) -> None:
    """Background loop of the worker role: resolve chains until the service stops."""
    deps = runtime.dependencies
    assert isinstance(deps, PricingDeps)
    settings = runtime.settings
    assert isinstance(settings, Settings)
    ttl = settings.category_ttl_hours * 3600
    interval = settings.category_poll_seconds
    while not runtime.stopping.is_set():
        try:
            await resolve_once(deps, ttl)
        except Exception:  # a database hiccup must not end the loop
            log.exception("allegro category round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.stopping.wait(), timeout=interval)
