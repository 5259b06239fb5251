"""What the catalog asks Allegro: catalogue products by EAN (cached) and matching categories.

Every call goes through the shared AllegroClient (rate budgets, retries, typed errors) as the
account the operator works for. The use cases built on them (category suggestions, coverage
reports) are in catalog.handlers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from catalog.domain import commands as c
from catalog.repository import CoverageRepository
from shared.allegro import AllegroClient
from shared.logs import get_logger
from shared.uow import UnitOfWork, UnitsOfWork

log = get_logger(__name__)
LOOKUP_TTL = timedelta(days=7)
MATCHING_INTERVAL = 0.25  # Allegro: 5 calls/s per seller; we stay under


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
        since = datetime.now(UTC) - LOOKUP_TTL
        found = await self.units.read(_cached_lookups, c.CachedLookups(wanted, since))
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
            await self.units.handle(_save_lookups, c.SaveLookups(new))
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


async def _cached_lookups(query: c.CachedLookups, uow: UnitOfWork) -> dict[str, dict[str, Any]]:
    return await uow.repository(CoverageRepository).lookups(query.eans, query.since)


async def _save_lookups(command: c.SaveLookups, uow: UnitOfWork) -> None:
    await uow.repository(CoverageRepository).save_lookups(command.found)
