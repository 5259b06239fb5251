"""The offers-by-state gauge, refreshed on a timer by the worker role: one GROUP BY every
OFFERS_STATE_METRICS_INTERVAL_SECONDS, never per offer nor per scrape."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from offers import handlers, metrics
from offers.deps import OffersDeps
from offers.domain import commands as c
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)


async def count_offers(runtime: ServiceRuntime) -> None:
    """Count the offers by state and marketplace until the service stops."""
    deps = runtime.dependencies
    assert isinstance(deps, OffersDeps)
    marketplaces: set[str] = set()
    while not runtime.stopping.is_set():
        try:
            counts = await deps.units.read(handlers.offers_by_state, c.CountOffersByState())
            marketplaces = metrics.report_offer_counts(counts, marketplaces)
        except Exception:  # a database hiccup must not end the loop
            log.exception("counting offers by state failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                runtime.stopping.wait(), timeout=deps.settings.state_metrics_interval_seconds
            )
