"""The order import loop (a background loop of the worker role).

Per connected account: claim it (a short transaction, `FOR UPDATE SKIP LOCKED` plus a lease,
so two replicas never import one account at once), read a page of `/order/events` from its
cursor, GET each distinct checkout form named - outside any transaction -, then store the forms,
their hand-off events (outbox) and the new cursor in one transaction (`store_order_events`).
A crash anywhere before that commit re-reads the same page; after it, nothing is read twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from orders import handlers, metrics
from orders.deps import OrdersDeps
from orders.domain import commands as c
from shared.allegro.errors import AllegroError, AllegroUnavailable, RateLimited
from shared.allegro.tokens import AccountUnavailable
from shared.errors import NotFound
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)
LIST_LIMIT = 100  # GET /order/checkout-forms: limit 1..100
# How long a loop that found no account due waits before it looks again: an account falls due
# at most this long before it is read (the claim is one indexed statement).
IDLE = 0.25


async def import_orders(runtime: ServiceRuntime) -> None:
    """Poll every due account until the service stops, `order_poll_concurrency` at a time."""
    deps = runtime.dependencies
    assert isinstance(deps, OrdersDeps)
    loops = max(1, deps.settings.order_poll_concurrency)
    await asyncio.gather(*(_poll_loop(runtime, deps) for _ in range(loops)))


async def _poll_loop(runtime: ServiceRuntime, deps: OrdersDeps) -> None:
    interval = deps.settings.order_poll_interval_seconds
    while not runtime.stopping.is_set():
        try:
            worked = await poll_once(deps)
        except Exception:  # a database hiccup must not end the loop
            log.exception("order import round failed")
            worked = False
        if not worked:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(runtime.stopping.wait(), timeout=min(interval, IDLE))


async def poll_once(deps: OrdersDeps) -> bool:
    """Import one page for one due account; False when no account was due."""
    settings = deps.settings
    claimed = await deps.units.handle(
        handlers.claim_due_account, c.ClaimDueAccount(settings.order_poll_lease_seconds)
    )
    if claimed is None:
        return False
    account_id = claimed.account_id
    try:
        full = await import_page(deps, claimed)
    except AccountUnavailable as exc:
        await deps.units.handle(handlers.tokens_failed, c.TokensFailed(account_id, str(exc)))
        return True
    except handlers.StaleCursor:
        log.warning("account %s: another replica stored this page first", account_id)
        return True
    except (RateLimited, AllegroUnavailable) as exc:
        backoff = min(
            settings.order_poll_backoff_seconds * 2**claimed.failures,
            settings.order_poll_backoff_max_seconds,
        )
        await deps.units.handle(handlers.poll_failed, c.PollFailed(account_id, str(exc), backoff))
        return True
    except AllegroError as exc:
        if exc.status in (401, 403):
            await deps.units.handle(
                handlers.tokens_failed, c.TokensFailed(account_id, f"Allegro refused: {exc}")
            )
            return True
        backoff = settings.order_poll_backoff_max_seconds
        await deps.units.handle(handlers.poll_failed, c.PollFailed(account_id, str(exc), backoff))
        return True
    next_in = 0.0 if full else settings.order_poll_interval_seconds
    await deps.units.handle(handlers.poll_succeeded, c.PollSucceeded(account_id, next_in))
    return True


async def import_page(deps: OrdersDeps, claimed: c.ClaimedAccount) -> bool:
    """One page of events stored with its forms; True when the page was full (more follow)."""
    limit = deps.settings.order_events_page_size
    params: dict[str, str | int] = {"limit": limit}
    if claimed.event_cursor is not None:
        params["from"] = claimed.event_cursor
    body = await deps.allegro.get("/order/events", account_id=claimed.account_id, params=params)
    events = body.get("events") or []
    if not events:
        return False
    by_form: dict[str, list[str]] = {}
    last_event: dict[str, str] = {}
    for event in events:
        form_id = str(event["order"]["checkoutForm"]["id"])
        by_form.setdefault(form_id, []).append(str(event["type"]))
        last_event[form_id] = str(event["id"])
    read = await read_forms(deps, claimed.account_id, list(by_form), events)
    forms = [
        c.FetchedForm(form_id, read.get(form_id), tuple(types), last_event[form_id])
        for form_id, types in by_form.items()
    ]
    stored = await deps.units.handle(
        handlers.store_order_events,
        c.StoreOrderEvents(claimed.account_id, claimed.event_cursor, str(events[-1]["id"]), forms),
    )
    metrics.orders_handed_off.labels("OrderReceived").inc(stored["received"])
    metrics.orders_handed_off.labels("OrderCancelled").inc(stored["cancelled"])
    last_at = _parse_time(str(events[-1].get("occurredAt") or ""))
    metrics.import_lag.observe(max(0.0, (datetime.now(UTC) - last_at).total_seconds()))
    return len(events) >= limit


async def read_forms(
    deps: OrdersDeps, account_id: str, form_ids: list[str], events: list[dict[str, Any]]
) -> dict[str, dict[str, Any] | None]:
    """The checkout forms a page of events names, as Allegro has them now (None: gone).

    Many forms are read through the list (`GET /order/checkout-forms`, 100 a call, updated
    since the page's first event less a margin, oldest change first) instead of one GET each:
    at 100 orders/s one GET per form would spend most of the Client ID's 9,000 calls/min.
    Any form the list did not show (changed before the margin, or shifted between two list
    pages by a concurrent change) is then read on its own, so the result is the same.
    """
    settings = deps.settings
    found: dict[str, dict[str, Any] | None] = {}
    wanted = set(form_ids)
    if len(wanted) >= settings.order_forms_listed_from:
        since = min(_parse_time(str(e.get("occurredAt") or "")) for e in events)
        since -= timedelta(seconds=settings.order_forms_list_margin_seconds)
        # A form changed long after its event (while catching up on an old journal) could be
        # far down the list: after a few pages more, the rest are read one by one.
        calls = len(wanted) // LIST_LIMIT + 3
        # The pages the wanted forms (and the margin's) should fill are read at once.
        offsets = list(range(0, (len(wanted) // LIST_LIMIT + 1) * LIST_LIMIT, LIST_LIMIT))
        after = since.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        while offsets and wanted - found.keys() and calls > 0:
            calls -= len(offsets)
            bodies = await asyncio.gather(
                *(_list_forms(deps, account_id, after, offset) for offset in offsets)
            )
            for body in bodies:
                for form in body:
                    if str(form.get("id")) in wanted:
                        found[str(form["id"])] = form
            full = len(bodies[-1]) == LIST_LIMIT
            offsets = [offsets[-1] + LIST_LIMIT] if full else []
    for form_id in form_ids:
        if form_id in found:
            continue
        try:
            found[form_id] = await deps.allegro.get(
                f"/order/checkout-forms/{form_id}", account_id=account_id
            )
        except AllegroError as exc:
            if exc.status != 404:
                raise
            found[form_id] = None  # replaced by a combined payment: its new form is in the journal
    return found


async def _list_forms(
    deps: OrdersDeps, account_id: str, since: str, offset: int
) -> list[dict[str, Any]]:
    body = await deps.allegro.get(
        "/order/checkout-forms",
        account_id=account_id,
        params={"updatedAt.gte": since, "sort": "updatedAt", "limit": LIST_LIMIT, "offset": offset},
    )
    listed: list[dict[str, Any]] = body.get("checkoutForms") or []
    return listed


def _parse_time(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:  # no usable time: list from the oldest event Allegro keeps
        return datetime.now(UTC) - timedelta(days=60)


async def reimport(deps: OrdersDeps, checkout_form_id: str, account_id: str) -> dict[str, int]:
    """Read one checkout form from Allegro again and store it by the import's rules (it is
    handed off if paid and not yet handed off; it never regresses); the cursor stays."""
    try:
        form = await deps.allegro.get(
            f"/order/checkout-forms/{checkout_form_id}", account_id=account_id
        )
    except AllegroError as exc:
        if exc.status in (404, 422):  # gone (a combined payment), or not a checkout form id
            raise NotFound(
                f"Allegro has no checkout form {checkout_form_id} for account {account_id}"
            ) from exc
        raise
    return await deps.units.handle(
        handlers.store_checkout_form, c.StoreCheckoutForm(account_id, form, "reimported")
    )
