"""Reconciliation and drift, the use cases: the offer-event reader (a background loop of the
worker role), the full reconcile of an account, and the drift report.

The reader holds one account at a time (a lease, so replicas never read one account's events
at once), reads a page of `GET /sale/offer-events` from the stored cursor, looks the offers
named up on Allegro by external id (100 SKUs a call), and then, in one transaction and only
while its hold and the cursor are unchanged, compares them with our rows (`domain/drift.py`),
records each difference with its event id (unique: an event read twice records nothing twice),
applies the repairs, and moves the cursor past the page. A crash before that commit reads the
page again; after it, never. An offer we changed after Allegro's state was read keeps its events
(`offer_drift_rechecks`) and is looked up and compared again on a later round of the account,
once our own change has settled.

The reconcile pages through all the account's offers (`GET /sale/offers`, 1,000 a call),
compares them with every offer we hold, and records and repairs in one transaction; one
reconcile per account at a time (409 `reconcile_in_progress`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from offers import allegro, handlers, metrics
from offers.deps import OffersDeps
from offers.domain import commands as c
from offers.domain import drift as d
from offers.domain import states
from offers.drift_repository import DriftRepository
from offers.repository import OffersRepository
from shared.allegro.errors import AllegroError
from shared.allegro.tokens import AccountUnavailable
from shared.errors import Conflict, Invalid
from shared.events import FailureReason, OfferEnded
from shared.pagination import Page, page_of
from shared.service import ServiceRuntime
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)

EVENTS = "events"
RECONCILE = "reconcile"

# What an adopted offer's Allegro status makes it here (the read-back that follows settles it).
ADOPTED_STATES = {
    "ACTIVE": states.ACTIVE,
    "ACTIVATING": states.ACTIVE,
    "ENDED": states.ENDED,
    "INACTIVE": states.INACTIVE,
}


# --- repairs ------------------------------------------------------------------------------------


async def _repair(
    uow: UnitOfWork,
    account_id: str,
    base_marketplace: str,
    row: dict[str, Any],
    found: d.Finding,
) -> None:
    """Put the offer where the state machine repairs it (see domain/drift.py)."""
    offers = uow.repository(OffersRepository)
    repo = uow.repository(DriftRepository)
    drift, sku = found.drift, str(row["sku"])
    cause = f"drift: {drift.kind} ({drift.repair})"
    if drift.repair == d.RESEND:
        price = drift.allegro if drift.kind == d.PRICE else None
        stock = drift.allegro if drift.kind == d.STOCK else None
        await repo.resend(account_id, sku, base_marketplace, price, stock)
        return
    if drift.repair == d.VERIFY:
        await offers.move(account_id, sku, row["state"], None, cause, work=states.VERIFY)
        return
    if drift.repair == d.REACTIVATE:
        ended_by = (drift.allegro or {}).get("endedBy")
        reason = states.reason("ended_on_allegro", detail=f"endedBy {ended_by}" if ended_by else "")
        await offers.move(account_id, sku, row["state"], states.ENDED, cause, reason=reason)
        await repo.set_allegro_status(account_id, sku, "ENDED")
        await uow.emit(
            OfferEnded(
                account_id=account_id,
                sku=sku,
                offer_id=str(row["offer_id"]),
                reason=FailureReason(code=reason["code"], message=reason["message"]),
            )
        )
    elif drift.repair == d.END:
        await offers.move(account_id, sku, row["state"], states.ACTIVE, cause)
        await repo.set_allegro_status(account_id, sku, str(drift.allegro))
    elif drift.repair == d.RECREATE:
        await repo.forget_offer(account_id, sku)
        await handlers.offer_repaired(c.OfferRepaired(account_id, sku, cause, True), uow)
        return
    elif drift.repair == d.ADOPT:
        status = str((drift.allegro or {}).get("status") or "")
        assert found.offer_id is not None
        await repo.adopt(account_id, sku, found.offer_id, status)
        state = ADOPTED_STATES.get(status, states.INACTIVE)
        # Read back at once: marketplaces, validation errors, what was sent.
        await offers.move(account_id, sku, row["state"], state, cause, work=states.VERIFY)
        return
    else:
        return
    await handlers.offer_repaired(c.OfferRepaired(account_id, sku, cause), uow)


# --- the offer-event reader ---------------------------------------------------------------------


async def claim_events(command: d.ClaimEvents, uow: UnitOfWork) -> d.EventsClaim | None:
    repo = uow.repository(DriftRepository)
    found = await repo.claim_cursor(command.lease_seconds)
    if found is None:
        return None
    return d.EventsClaim(
        found["account_id"],
        found["last_event_id"],
        found["claimed_until"],
        tuple(await repo.rechecks_due(found["account_id"])),
    )


def _sku_of(event: dict[str, Any]) -> str | None:
    found = ((event.get("offer") or {}).get("external") or {}).get("id")
    return None if not found else str(found)


def _merged(kept: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Kept events then the page's, each once (a page read again brings its events again)."""
    seen = {str(e["id"]) for e in kept}
    return kept + [e for e in new if str(e["id"]) not in seen]


def _attributed(
    events: list[dict[str, Any]], offer_id: str, drifts: list[d.Drift]
) -> list[tuple[dict[str, Any], d.Drift]]:
    """Each difference with the last event of the offer (kept, then the page's) that can
    carry it."""
    mine = [e for e in events if str((e.get("offer") or {}).get("id")) == offer_id]
    found = []
    for drift in drifts:
        carrier = next((e for e in reversed(mine) if d.for_event(str(e["type"]), [drift])), None)
        if carrier is not None:
            found.append((carrier, drift))
    return found


async def events_read(command: d.EventsRead, uow: UnitOfWork) -> list[d.Drift] | None:
    """Record a page of events: the differences found (None: the hold ran out or the cursor
    moved, nothing stored)."""
    claim = command.claim
    repo = uow.repository(DriftRepository)
    if not await repo.held_cursor(claim.account_id, claim.claimed_until, claim.last_event_id):
        return None
    on_page = {sku for sku in map(_sku_of, command.events) if sku}
    # Kept events of offers read now (looked up with this page): compared with the page's.
    kept = {
        sku: events
        for sku, events in (await repo.kept_events(claim.account_id)).items()
        if sku in on_page or sku in claim.rechecks
    }
    named = on_page | set(kept)
    rows = await repo.offers_for_update(claim.account_id, sorted(named)) if named else []
    gone = set(kept) - {str(r["sku"]) for r in rows}
    if gone:
        await repo.rechecked(claim.account_id, sorted(gone))
    base = await repo.base_marketplace(claim.account_id)
    recorded: list[d.Drift] = []
    for row in rows:
        sku = str(row["sku"])
        events = _merged(kept.get(sku, []), [e for e in command.events if _sku_of(e) == sku])
        changed = command.read_at is not None and row["updated_at"] >= command.read_at
        if changed or (sku in kept and row["busy"]):
            # We changed it after (or as) Allegro's state was read: that read may show what
            # our change replaced (an END that went out meanwhile). The cursor moves on, so
            # its events are kept and the offer is read and compared again on a later round,
            # once no claim or batch command of ours holds it (the same check as an event's).
            await repo.keep_for_recheck(claim.account_id, sku, events)
            continue
        if sku in kept:
            await repo.rechecked(claim.account_id, [sku])
        ours = d.ours_of(row, base, busy=bool(row["busy"]))
        there = command.on_allegro.get(ours.sku) or []
        theirs = next((t for t in there if t.offer_id == ours.offer_id), None)
        if theirs is None:
            continue  # another offer of the SKU, or gone: the reconcile's to judge
        for event, drift in _attributed(events, theirs.offer_id, d.compare(ours, theirs)):
            fresh = await repo.record(
                claim.account_id,
                ours.sku,
                theirs.offer_id,
                drift,
                EVENTS,
                event_id=str(event["id"]),
                event_type=str(event["type"]),
            )
            if fresh:
                recorded.append(drift)
                if drift.repair is not None:
                    await _repair(
                        uow,
                        claim.account_id,
                        base,
                        row,
                        d.Finding(ours.sku, theirs.offer_id, drift),
                    )
    last = command.events[-1] if command.events else None
    await repo.advance_cursor(
        claim.account_id,
        None if last is None else str(last["id"]),
        command.last_event_at,
        len(command.events),
        command.lag_seconds,
        command.due_in_seconds,
    )
    return recorded


async def cursor_lost(command: d.CursorLost, uow: UnitOfWork) -> None:
    await uow.repository(DriftRepository).cursor_lost(command.account_id, command.due_in_seconds)


async def release_events(command: d.ReleaseEvents, uow: UnitOfWork) -> None:
    await uow.repository(DriftRepository).release_cursor(command.account_id, command.due_in_seconds)


async def offers_by_sku(
    deps: OffersDeps, account_id: str, skus: list[str]
) -> dict[str, list[d.OnAllegro]]:
    found: dict[str, list[d.OnAllegro]] = {}
    for start in range(0, len(skus), allegro.EXTERNAL_IDS_PER_CALL):
        chunk = skus[start : start + allegro.EXTERNAL_IDS_PER_CALL]
        for item in await allegro.offers_by_external_ids(deps.allegro, account_id, chunk):
            offer = d.on_allegro_of(item)
            if offer.sku:
                found.setdefault(offer.sku, []).append(offer)
    return found


def occurred_at(value: Any) -> datetime | None:
    """An event's `occurredAt` (ISO 8601, `Z`), or None when it cannot be read."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


async def read_account_events(deps: OffersDeps, claim: d.EventsClaim) -> list[d.Drift] | None:
    """One page of one account's events, recorded; None when nothing was stored."""
    interval = deps.settings.offer_events_poll_interval_seconds
    page_size = min(allegro.PAGE_SIZE, max(1, deps.settings.offer_events_page_size))
    read_at = datetime.now(UTC)
    try:
        events = await allegro.offer_events(
            deps.allegro, claim.account_id, claim.last_event_id, page_size
        )
        skus = sorted({sku for sku in map(_sku_of, events) if sku} | set(claim.rechecks))
        on_allegro = await offers_by_sku(deps, claim.account_id, skus) if skus else {}
        on_allegro = d.with_ended_by(on_allegro, events)
    except AllegroError as exc:
        if exc.status == 400 and claim.last_event_id is not None:
            # Older than Allegro's 24 hours: events are lost; a reconcile finds what they said.
            log.warning("account %s: offer-event cursor refused: %s", claim.account_id, exc)
            metrics.offer_events_cursor_lost.inc()
            await deps.units.handle(cursor_lost, d.CursorLost(claim.account_id, 0.0))
            return None
        log.info("account %s: offer events not read: %s", claim.account_id, exc)
        await deps.units.handle(release_events, d.ReleaseEvents(claim.account_id, interval))
        return None
    except AccountUnavailable as exc:
        log.info("account %s: offer events not read: %s", claim.account_id, exc)
        await deps.units.handle(release_events, d.ReleaseEvents(claim.account_id, interval))
        return None
    full = len(events) >= page_size
    # Behind by the age of the last event read while a full page says more wait; else caught up.
    last_at = occurred_at(events[-1].get("occurredAt")) if events else None
    lag = max(0.0, (datetime.now(UTC) - last_at).total_seconds()) if full and last_at else 0.0
    recorded = await deps.units.handle(
        events_read,
        d.EventsRead(claim, events, on_allegro, last_at, 0.0 if full else interval, lag, read_at),
    )
    if recorded is None:
        log.warning(
            "account %s: the events hold ran out before the page was stored", claim.account_id
        )
        return None
    metrics.offer_events_read.inc(len(events))
    metrics.offer_events_lag.set(lag)
    for drift in recorded:
        metrics.drift_found.labels(drift.kind, EVENTS).inc()
    return recorded


async def read_offer_events(runtime: ServiceRuntime) -> None:
    """Read each ready account's offer events until the service stops."""
    deps = runtime.dependencies
    assert isinstance(deps, OffersDeps)
    interval = deps.settings.offer_events_poll_interval_seconds
    if not deps.settings.offer_events_enabled:
        return
    while not runtime.stopping.is_set():
        worked = False
        try:
            claim = await deps.units.handle(
                claim_events, d.ClaimEvents(deps.settings.offer_events_lease_seconds)
            )
            if claim is not None:
                await read_account_events(deps, claim)
                worked = True
        except Exception:  # a database hiccup must not end the loop
            log.exception("offer-event round failed")
        if not worked:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(runtime.stopping.wait(), timeout=min(interval, 1.0))


# --- the full reconcile -------------------------------------------------------------------------


async def begin_reconcile(command: d.BeginReconcile, uow: UnitOfWork) -> int:
    found = await uow.repository(DriftRepository).begin_reconciliation(
        command.account_id, command.by, command.lease_seconds
    )
    if found is None:
        raise Conflict(
            f"a reconcile of account {command.account_id} is under way",
            code="reconcile_in_progress",
        )
    return found


async def release_reconcile(command: d.ReleaseReconcile, uow: UnitOfWork) -> None:
    await uow.repository(DriftRepository).release_reconciliation(command.reconciliation_id)


async def reconciled(
    command: d.Reconciled, uow: UnitOfWork
) -> tuple[dict[str, Any], list[d.Finding]]:
    """Compare every offer we hold with Allegro's, record and repair each difference."""
    repo = uow.repository(DriftRepository)
    rows = {r["sku"]: r for r in await repo.offers_for_update(command.account_id, None)}
    base = await repo.base_marketplace(command.account_id)
    ours = [d.ours_of(r, base, busy=bool(r["busy"])) for r in rows.values()]
    findings = d.reconcile(ours, command.on_allegro)
    by_kind = dict.fromkeys(d.KINDS, 0)
    repairs = dict.fromkeys(d.REPAIRS, 0)
    reported_only = 0
    for found in findings:
        await repo.record(
            command.account_id,
            found.sku,
            found.offer_id,
            found.drift,
            RECONCILE,
            reconciliation_id=command.reconciliation_id,
        )
        by_kind[found.drift.kind] += 1
        if found.drift.repair is None or found.sku not in rows:
            reported_only += 1
            continue
        repairs[found.drift.repair] += 1
        await _repair(uow, command.account_id, base, rows[found.sku], found)
    counts = {
        "allegro_offers": len(command.on_allegro),
        "our_offers": len(ours),
        "differences": len(findings),
        "by_kind": by_kind,
        "repairs": repairs,
        "reported_only": reported_only,
    }
    await repo.finish_reconciliation(command.reconciliation_id, counts)
    return {"reconciliation_id": command.reconciliation_id, **counts}, findings


async def reconcile(deps: OffersDeps, account_id: str, by: str) -> dict[str, Any]:
    """Page through all the account's offers on Allegro and reconcile ours with them."""
    rid = await deps.units.handle(
        begin_reconcile,
        d.BeginReconcile(account_id, by, deps.settings.reconcile_lease_seconds),
    )
    try:
        on_allegro: list[d.OnAllegro] = []
        offset = 0
        size = min(allegro.PAGE_SIZE, max(1, deps.settings.reconcile_page_size))
        while True:
            page, total = await allegro.offers_page(deps.allegro, account_id, offset, size)
            on_allegro += [d.on_allegro_of(item) for item in page]
            offset += len(page)
            if not page or offset >= total:
                break
        result, findings = await deps.units.handle(
            reconciled, d.Reconciled(account_id, rid, on_allegro)
        )
    except BaseException:
        await deps.units.handle(release_reconcile, d.ReleaseReconcile(rid))
        raise
    for found in findings:
        metrics.drift_found.labels(found.drift.kind, RECONCILE).inc()
    return result


# --- the report ---------------------------------------------------------------------------------


async def drift_page(query: d.ListDrift, uow: UnitOfWork) -> Page[dict[str, Any]]:
    after = query.page.after
    if after is not None and not after.isdigit():
        raise Invalid(
            "after must be the `next` of a previous page",
            code="invalid_cursor",
            details=[{"field": "after", "reason": "not a cursor of this list"}],
        )
    if query.kind is not None and query.kind not in d.KINDS:
        raise Invalid(
            f"unknown kind {query.kind}",
            code="invalid_kind",
            details=[{"field": "kind", "reason": f"one of {', '.join(d.KINDS)}"}],
        )
    rows = await uow.repository(DriftRepository).drift(
        query.account_id,
        query.kind,
        query.sku,
        None if after is None else int(after),
        query.page.fetch,
    )
    return page_of(rows, query.page, lambda r: str(r["id"]))


async def drift_summary(query: d.GetDriftSummary, uow: UnitOfWork) -> dict[str, Any]:
    repo = uow.repository(DriftRepository)
    counts = await repo.counts(query.account_id)
    by_kind = dict.fromkeys(d.KINDS, 0)
    for row in counts:
        by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + int(row["count"])
    return {
        "account_id": query.account_id,
        "by_kind": by_kind,
        "total": sum(by_kind.values()),
        "by_kind_and_source": counts,
        "events": await repo.cursor(query.account_id),
        "last_reconciliation": await repo.last_reconciliation(query.account_id),
    }
