"""The catalogue scheduler (a background loop of the worker role).

One replica at a time holds it (a lease row). Each step opens a refresh when one is due (a full
one every `full_refresh_interval_seconds`, stock and prices in between, as often as their
budgets allow), then reads one page of whichever unfinished list has budget now, outside any
transaction, and stores the page with the list's next page number in one transaction. Lists
share nothing but the run, so they progress side by side, each at its own endpoint's pace. When
every list of the run is read, the run is joined and its changes sent upstream in one
transaction (`handlers.finish_run`). A restart continues from the stored page numbers; pages
already read are never read again. With nothing to do the step says how long to wait: until
the earliest budget reset or retry time, or the next refresh.

Between lists, GPSR data is read one product at a time (BigBuy has no list for it: one call per
5 s) for sellable products in stock that have none yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from bigbuy_connector import handlers
from bigbuy_connector.client import BigBuyError, NotFoundError, RateLimited, Throttled
from bigbuy_connector.deps import BigBuyDeps
from bigbuy_connector.domain import catalogue as cat
from bigbuy_connector.domain import commands as c
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)
HOLDER = f"scheduler-{uuid.uuid4().hex[:12]}"
COMPLIANCE_PATH = "catalog/productcompliance/{}.json"


async def refresh_catalogue(runtime: ServiceRuntime) -> None:
    deps = runtime.dependencies
    assert isinstance(deps, BigBuyDeps)
    if not deps.settings.catalogue_enabled:
        return
    while not runtime.stopping.is_set():
        try:
            wait = await step(deps)
        except Exception:  # a database hiccup must not end the loop
            log.exception("catalogue step failed")
            wait = deps.settings.retry_after_error_seconds
        if wait > 0:
            await pause(runtime, deps, wait)


async def pause(runtime: ServiceRuntime, deps: BigBuyDeps, seconds: float) -> None:
    """Sleep on the connector's clock, cut short when the service stops."""
    sleeper = asyncio.ensure_future(deps.clock.sleep(min(seconds, 60.0)))
    stopper = asyncio.ensure_future(runtime.stopping.wait())
    _, pending = await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def step(deps: BigBuyDeps, holder: str = HOLDER) -> float:
    """One unit of work; the seconds to wait before the next step (0: go on at once)."""
    settings = deps.settings
    units = deps.units
    now = deps.clock.now()
    if not await units.handle(
        handlers.claim_scheduler, c.ClaimScheduler(holder, now, settings.scheduler_lease_seconds)
    ):
        return settings.scheduler_lease_seconds / 4  # another replica holds it
    plan = c.PlanRuns(
        now, settings.full_refresh_interval_seconds, settings.stock_refresh_interval_seconds
    )
    runs = await units.handle(handlers.plan_runs, plan)
    if not runs:
        due = await units.read(handlers.next_refresh_at, plan)
        return await _compliance_or_wait(deps, max(0.0, due - now))
    run = runs[0]
    if not run.pending:
        result = await units.handle(
            handlers.finish_run,
            c.FinishRun(
                run.run_id,
                now,
                settings.max_handling_days,
                settings.products_per_event,
                settings.language,
            ),
        )
        log.info("refresh %s (%s) done: %s", run.run_id, run.kind, result)
        return 0.0
    wait = float("inf")
    # The least advanced list first, so every list moves at its own budget's pace.
    for pending in sorted(run.pending, key=lambda p: (p.next_page, p.name)):
        spec = cat.LISTS[pending.name]
        at = max(pending.retry_at, await deps.client.available_at(spec.path, now))
        if at <= now:
            await fetch_page(deps, run, pending, spec)
            return 0.0
        wait = min(wait, at - now)
    return await _compliance_or_wait(deps, wait)


async def fetch_page(
    deps: BigBuyDeps, run: c.OpenRun, pending: c.PendingList, spec: cat.ListSpec
) -> None:
    settings = deps.settings
    params: dict[str, str | int] = {"page": pending.next_page, "pageSize": settings.page_size}
    if spec.by_language:
        params["isoCode"] = settings.language
    try:
        rows = await deps.client.get(spec.path, params, max_wait=0)
        if not isinstance(rows, list):
            raise BigBuyError(200, "soft", f"{spec.name}: a list was expected")
    except (Throttled, RateLimited):
        return  # the budget is recorded; the next step waits for it
    except BigBuyError as exc:
        log.warning("page %s %s failed: %s", spec.name, pending.next_page, exc)
        await deps.units.handle(
            handlers.page_failed,
            c.PageFailed(
                run.run_id,
                spec.name,
                str(exc),
                deps.clock.now() + settings.retry_after_error_seconds,
            ),
        )
        return
    last = len(rows) < settings.page_size
    await deps.units.handle(
        handlers.save_page, c.SavePage(run.run_id, spec.name, pending.next_page, rows, last)
    )


async def _compliance_or_wait(deps: BigBuyDeps, wait: float) -> float:
    """Use an idle moment for one product's GPSR data; the wait that is left."""
    if not deps.settings.gpsr_enabled or wait <= 0:
        return wait
    path = COMPLIANCE_PATH.format(0)
    now = deps.clock.now()
    at = await deps.client.available_at(path, now)
    if at > now:
        return min(wait, at - now)
    product_id = await deps.units.read(handlers.next_without_compliance, c.NextWithoutCompliance())
    if product_id is None:
        return wait
    try:
        data = await deps.client.get(COMPLIANCE_PATH.format(product_id), max_wait=0)
    except NotFoundError:
        data = None  # BigBuy has none for this product (as for ~15 % of them)
    except (Throttled, RateLimited):
        return min(wait, 5.0)
    except BigBuyError as exc:
        log.warning("compliance of %s failed: %s", product_id, exc)
        return min(wait, deps.settings.retry_after_error_seconds)
    await deps.units.handle(
        handlers.save_compliance, c.SaveCompliance(product_id, data, deps.clock.now())
    )
    return 0.0
