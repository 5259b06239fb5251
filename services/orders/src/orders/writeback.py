"""Tracking back to Allegro (a background loop of the worker role).

Shipment messages and status changes are recorded as write-backs (in the consumer's or the
route's transaction); this loop claims one due write-back at a time (`FOR UPDATE SKIP LOCKED`
plus a lease, the write-backs of one checkout form in order), calls Allegro outside any
transaction through the same client and rate budgets as the import, and records each step in a
unit of its own:

1. a shipment: add the waybill (`POST /order/checkout-forms/{id}/shipments`), unless an
   earlier attempt may have added it already - then Allegro's shipment list is read first, so
   a crash between Allegro's 201 and our commit never adds the waybill twice;
2. set the fulfillment status (`PUT .../fulfillment?checkoutForm.revision=`) with the
   revision last stored; a 409 (stale revision) re-reads the form, stores it (the import's
   rules: it never regresses) and tries again with the fresh revision.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from orders import handlers, metrics
from orders.deps import OrdersDeps
from orders.domain import checkout, fulfillment
from orders.domain import commands as c
from shared.allegro.errors import AllegroError, AllegroUnavailable, RateLimited
from shared.allegro.tokens import AccountUnavailable
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)


class WriteBackRefused(Exception):
    """Allegro's current state makes this write-back impossible; an operator decides."""


async def write_back(runtime: ServiceRuntime) -> None:
    """Write back every due shipment and status change, `write_back_concurrency` at a time."""
    deps = runtime.dependencies
    assert isinstance(deps, OrdersDeps)
    loops = max(1, deps.settings.write_back_concurrency)
    await asyncio.gather(*(_loop(runtime, deps) for _ in range(loops)))


async def _loop(runtime: ServiceRuntime, deps: OrdersDeps) -> None:
    idle = min(deps.settings.order_poll_interval_seconds, 1.0)
    while not runtime.stopping.is_set():
        try:
            worked = await write_back_once(deps)
        except Exception:  # a database hiccup must not end the loop
            log.exception("write-back round failed")
            worked = False
        if not worked:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(runtime.stopping.wait(), timeout=idle)


def _backoff(deps: OrdersDeps, attempts: int) -> float | None:
    """Seconds until the next attempt; None once the attempts are spent (failed for good)."""
    settings = deps.settings
    if attempts >= settings.write_back_max_attempts:
        return None
    return min(
        settings.write_back_backoff_seconds * 2.0 ** (attempts - 1),
        settings.write_back_backoff_max_seconds,
    )


async def write_back_once(deps: OrdersDeps) -> bool:
    """One due write-back done, failed or put off; False when none was due."""
    claimed = await deps.units.handle(
        handlers.claim_write_back, c.ClaimWriteBack(deps.settings.write_back_lease_seconds)
    )
    if claimed is None:
        return False
    error: str
    retry_in: float | None
    try:
        await _write(deps, claimed)
        metrics.write_backs.labels(claimed.kind, "done").inc()
        return True
    except AccountUnavailable as exc:
        # No token: the account stops (import and write-backs) until auth reconnects it.
        await deps.units.handle(
            handlers.tokens_failed, c.TokensFailed(claimed.account_id, str(exc))
        )
        error, retry_in = str(exc), deps.settings.write_back_backoff_seconds
    except (RateLimited, AllegroUnavailable) as exc:
        error, retry_in = str(exc), _backoff(deps, claimed.attempts)
    except AllegroError as exc:
        if exc.status in (401, 403):
            await deps.units.handle(
                handlers.tokens_failed,
                c.TokensFailed(claimed.account_id, f"Allegro refused: {exc}"),
            )
            error, retry_in = str(exc), deps.settings.write_back_backoff_seconds
        else:  # 400, 404, 409 (waybill in too many orders), 422: retrying cannot help
            error, retry_in = _explain(exc), None
    except WriteBackRefused as exc:
        error, retry_in = str(exc), None
    log.warning(
        "write-back %s of %s failed (%s): %s",
        claimed.id,
        claimed.checkout_form_id,
        "given up" if retry_in is None else f"again in {retry_in:.0f} s",
        error,
    )
    await deps.units.handle(
        handlers.write_back_failed,
        c.WriteBackFailed(claimed.id, claimed.checkout_form_id, error, retry_in),
    )
    metrics.write_backs.labels(claimed.kind, "failed" if retry_in is None else "retry").inc()
    return True


def _explain(exc: AllegroError) -> str:
    details = "; ".join(
        f"{e.code}{f' ({e.path})' if e.path else ''}: {e.user_message or e.message}"
        for e in exc.errors
    )
    return f"Allegro {exc.status}: {details or exc}"


async def _write(deps: OrdersDeps, claimed: c.ClaimedWriteBack) -> None:
    revision = claimed.revision or None
    if claimed.kind == "shipment" and claimed.shipment_id is None:
        await _add_shipment(deps, claimed)
        revision = None  # adding a waybill gives the checkout form a new revision
    retries = await _set_status(deps, claimed, revision)
    await deps.units.handle(
        handlers.write_back_done,
        c.WriteBackDone(claimed.id, claimed.checkout_form_id, claimed.fulfillment_status, retries),
    )


def _path(claimed: c.ClaimedWriteBack, tail: str = "") -> str:
    return f"/order/checkout-forms/{claimed.checkout_form_id}{tail}"


async def _add_shipment(deps: OrdersDeps, claimed: c.ClaimedWriteBack) -> None:
    assert claimed.waybill is not None and claimed.carrier is not None
    carrier = fulfillment.allegro_carrier(claimed.carrier, deps.settings.carrier_ids)
    shipment: dict[str, Any] | None = None
    if claimed.attempts > 1:  # an earlier attempt may have reached Allegro before it failed
        listed = await deps.allegro.get(_path(claimed, "/shipments"), account_id=claimed.account_id)
        shipment = next(
            (s for s in listed.get("shipments") or [] if s.get("waybill") == claimed.waybill),
            None,
        )
    if shipment is None:
        try:
            shipment = await _post_shipment(deps, claimed, carrier)
        except AllegroError as exc:
            refused_carrier = exc.status == 400 and any(e.path == "carrierId" for e in exc.errors)
            if not refused_carrier or carrier.carrier_id == fulfillment.OTHER_CARRIER:
                raise
            # Our mapping named a carrier Allegro does not know (any more): OTHER, by name.
            carrier = fulfillment.Carrier(
                fulfillment.OTHER_CARRIER, claimed.carrier[: fulfillment.CARRIER_NAME_MAX]
            )
            shipment = await _post_shipment(deps, claimed, carrier)
    await deps.units.handle(
        handlers.shipment_added,
        c.ShipmentAdded(
            claimed.id,
            claimed.checkout_form_id,
            str(shipment.get("id") or ""),
            str(shipment.get("carrierId") or carrier.carrier_id),
            carrier.name,
        ),
    )


async def _post_shipment(
    deps: OrdersDeps, claimed: c.ClaimedWriteBack, carrier: fulfillment.Carrier
) -> dict[str, Any]:
    body: dict[str, Any] = {"carrierId": carrier.carrier_id, "waybill": claimed.waybill}
    if carrier.name is not None:
        body["carrierName"] = carrier.name
    if claimed.line_items:
        body["lineItems"] = [{"id": li} for li in claimed.line_items]
    response = await deps.allegro.post(
        _path(claimed, "/shipments"), body, account_id=claimed.account_id
    )
    created: dict[str, Any] = response.json()
    return created


async def _set_status(deps: OrdersDeps, claimed: c.ClaimedWriteBack, revision: str | None) -> int:
    """Set the fulfillment status; returns how many stale revisions (409) it met."""
    stale = 0
    target = claimed.fulfillment_status
    while True:
        if revision is None:
            form = await deps.allegro.get(_path(claimed), account_id=claimed.account_id)
            await deps.units.handle(
                handlers.store_checkout_form,
                c.StoreCheckoutForm(claimed.account_id, form, "reread"),
            )
            if form.get("status") == checkout.CANCELLED and target != "CANCELLED":
                raise WriteBackRefused(
                    f"the checkout form is cancelled on Allegro: {target} not set"
                )
            if (form.get("fulfillment") or {}).get("status") == target:
                return stale  # already so (Allegro sets SENT on a waybill if the seller chose)
            revision = str(form.get("revision") or "")
        try:
            await deps.allegro.put(
                _path(claimed, "/fulfillment"),
                {"status": target},
                account_id=claimed.account_id,
                params={"checkoutForm.revision": revision},
            )
            return stale
        except AllegroError as exc:
            if exc.status != 409:
                raise
            stale += 1
            if stale > deps.settings.fulfillment_revision_retries:
                raise WriteBackRefused(
                    f"the checkout form changed on every one of {stale} tries: {target} not set"
                ) from exc
            revision = None  # someone changed the form since we read it: read it again
