"""The publication worker (a background loop of the worker role), the readiness check and the
dry run: the parts of the offers service that call Allegro.

Each round claims a few due offers (a short transaction, `FOR UPDATE SKIP LOCKED` plus a
lease, so replicas never work on one offer at once and each offer has at most one write in
flight), calls Allegro outside any transaction, and stores the outcome with its event
(outbox) in one transaction, only while the claim still holds.

A create is crash-safe: the offer is `creating` (committed) before `POST /sale/product-offers`,
and every create first looks the SKU up on Allegro by `external.id`; so a worker killed between
Allegro's answer and our commit leaves a create that the next claim finds on Allegro and adopts
instead of creating it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from decimal import Decimal
from typing import Any

from offers import allegro, handlers, images, metrics, shipping
from offers.deps import OffersDeps
from offers.domain import commands as c
from offers.domain import listing, states
from offers.domain.images import description_sources, wanted_sources
from shared.allegro.errors import AllegroError, AllegroUnavailable, NotSentInTime, RateLimited
from shared.allegro.tokens import AccountUnavailable
from shared.service import ServiceRuntime
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)

# Marketplace states that settle later: the offer is read again until they do.
UNSETTLED = ("PENDING", "IN_PROGRESS")
# Steps that only read Allegro (on the product-offers GET budget).
READS = (states.POLL, states.VERIFY)


async def publish_offers(runtime: ServiceRuntime) -> None:
    """Work on due offers and readiness checks until the service stops."""
    deps = runtime.dependencies
    assert isinstance(deps, OffersDeps)
    settings = deps.settings
    interval = settings.publish_poll_interval_seconds
    concurrency = max(1, settings.publish_concurrency)
    batch = max(1, settings.publish_batch_size)
    slots = asyncio.Semaphore(concurrency)
    # Claimed offers in this process: the steps in their slots and up to a batch waiting for
    # one. A round claims only when half a batch or more fits, so each round's look-ups by
    # external id cover many SKUs a call (claiming whenever one slot freed looked up 1.4 SKUs
    # a call, a third of the creation's calls).
    capacity = concurrency + batch
    enough = max(1, batch // 2)
    running: set[asyncio.Task[None]] = set()
    reading: dict[asyncio.Task[None], bool] = {}  # running step -> a read-only step
    while not runtime.stopping.is_set():
        worked = False
        tried = capacity - len(running) >= enough or not running
        try:
            worked = await check_one_account(deps)
            # Reads (polls, read-backs) spend their own budget, and at Allegro's ratios they
            # can outrun it (about 1.6 reads a create, 3,500 reads to 2,400 creates a minute):
            # waiting their turn they would hold every slot and starve the creates. Half the
            # slots at most go to them.
            reads = sum(1 for w in reading.values() if w) < concurrency / 2
            claimed = (
                await deps.units.handle(
                    handlers.claim_offers,
                    c.ClaimOffers(
                        min(capacity - len(running), batch), settings.publish_lease_seconds, reads
                    ),
                )
                if tried
                else []
            )
            shared = await round_of(deps, claimed)
            for offer in claimed:
                task = asyncio.create_task(_step_in_slot(deps, slots, offer, shared))
                running.add(task)
                reading[task] = offer.work in READS
                task.add_done_callback(running.discard)
                task.add_done_callback(reading.pop)
            worked = worked or bool(claimed)
        except Exception:  # a database hiccup must not end the loop
            log.exception("publication round failed")
        if tried and not worked:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(runtime.stopping.wait(), timeout=interval)
        elif capacity - len(running) < enough:
            # Claim again as soon as steps end, not an interval later: at the budget's pace
            # a step ends every few milliseconds, and a sleeping loop would leave the budget
            # idle (the worker, not Allegro's limit, would set the rate).
            await _until_one_ends(running, runtime.stopping, interval)
    for task in list(running):
        task.cancel()


async def _until_one_ends(
    running: set[asyncio.Task[None]], stopping: asyncio.Event, at_most: float
) -> None:
    stop = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({*running, stop}, timeout=at_most, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()


async def _step_in_slot(
    deps: OffersDeps, slots: asyncio.Semaphore, offer: c.ClaimedOffer, shared: Round
) -> None:
    async with slots:
        try:
            await run_step(deps, offer, shared)
        except Exception as exc:
            log.exception("offer %s/%s: %s failed", offer.account_id, offer.sku, offer.work)
            writes = offer.work not in (*READS, states.CHECK, states.CREATE)
            if writes or (offer.account_id, offer.sku) in shared.writing:
                return  # a write may have reached Allegro: the claim runs out first
            # Nothing was sent (a database hiccup before it, a read): the step goes again
            # after the backoff, not after the whole lease, which held up the last offers of
            # a benchmark for minutes whenever PostgreSQL refused a connection.
            with contextlib.suppress(Exception):
                later = _again(
                    offer, f"step failed: {exc!r}"[:300], deps.settings.publish_backoff_seconds
                )
                await deps.units.handle(
                    handlers.store_outcome, dataclasses.replace(later, uncounted=True)
                )


# --- one step of one offer ----------------------------------------------------------------------


def _backoff(deps: OffersDeps, attempts: int) -> float:
    settings = deps.settings
    return float(
        min(
            settings.publish_backoff_seconds * 2 ** max(0, attempts - 1),
            settings.publish_backoff_max_seconds,
        )
    )


def _errors(exc: AllegroError) -> list[dict[str, Any]]:
    return [e.as_dict() for e in exc.errors]


@dataclasses.dataclass
class Round:
    """What the offers claimed in one round share, read once for all of them: the offers found
    on Allegro by external id, each account's settings, the shipping price list chosen per
    (account, weight, marketplaces)."""

    found: dict[tuple[str, str], list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    price_lists: dict[tuple[str, Decimal | None, tuple[str, ...]], shipping.PriceListChoice] = (
        dataclasses.field(default_factory=dict)
    )
    # (account, SKU) of the steps that may have written to Allegro (a create or an edit sent).
    writing: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    # Per account, the uploads held for the images of the offers to create (source URL ->
    # location, expires_at), read once and added to as images are uploaded.
    images: dict[str, dict[str, dict[str, Any]]] = dataclasses.field(default_factory=dict)

    def on_allegro(self, offer: c.ClaimedOffer) -> list[dict[str, Any]] | None:
        """The offers of its SKU found this round (None: not looked up)."""
        return self.found.get((offer.account_id, offer.sku))


async def round_of(deps: OffersDeps, claimed: list[c.ClaimedOffer]) -> Round:
    """The offers to check or create looked up on Allegro by external id, 100 SKUs a call
    (instead of one call each; an account whose look-up fails is looked up offer by offer),
    their accounts' settings and shipping price lists read once for all of them."""
    shared = Round()
    by_account: dict[str, list[c.ClaimedOffer]] = {}
    for offer in claimed:
        if offer.work in (states.CHECK, states.CREATE):
            by_account.setdefault(offer.account_id, []).append(offer)
    for account_id, offers_to_create in by_account.items():
        skus = [o.sku for o in offers_to_create]
        found_account = await deps.units.read(handlers.account_settings, c.GetAccount(account_id))
        shared.accounts[account_id] = found_account
        sources = {
            u
            for o in offers_to_create
            for u in (*wanted_sources(o.content), *description_sources(o.content))
        }
        shared.images[account_id] = await deps.units.read(
            handlers.cached_images, c.GetImages(account_id, tuple(sorted(sources)))
        )
        account = handlers.publishing_account(found_account)
        if account is not None:
            wanted = [(_weight(o.content), account.marketplaces) for o in offers_to_create]
            chosen = await deps.units.read(_shipping_rates_many_query, (account_id, wanted))
            shared.price_lists.update({(account_id, *key): v for key, v in chosen.items()})
        for start in range(0, len(skus), allegro.EXTERNAL_IDS_PER_CALL):
            chunk = skus[start : start + allegro.EXTERNAL_IDS_PER_CALL]
            try:
                offers = await allegro.offers_by_external_ids(deps.allegro, account_id, chunk)
            except (AllegroError, AccountUnavailable) as exc:
                log.info("account %s: batched look-up failed: %s", account_id, exc)
                continue
            for sku in chunk:
                shared.found[(account_id, sku)] = [
                    o for o in offers if (o.get("external") or {}).get("id") == sku
                ]
    return shared


async def run_step(deps: OffersDeps, offer: c.ClaimedOffer, shared: Round | None = None) -> None:
    """One step of one offer; `shared`: what its claim round read for all its offers."""
    try:
        outcome = await _step(deps, offer, shared or Round())
    except AccountUnavailable as exc:
        await deps.units.handle(
            handlers.account_not_connected, c.AccountNotConnected(offer.account_id, str(exc))
        )
        outcome = _again(offer, "no usable Allegro token", deps.settings.readiness_recheck_seconds)
    except AllegroError as exc:
        outcome = _refused(deps, offer, exc)
        if exc.status in (401, 403):
            await deps.units.handle(
                handlers.account_not_connected,
                c.AccountNotConnected(offer.account_id, f"Allegro refused: {exc}"),
            )
    if outcome is None:
        return
    metrics.steps.labels(offer.work, outcome.state or "unchanged").inc()
    if not await deps.units.handle(handlers.store_outcome, outcome):
        log.warning(
            "offer %s/%s: the claim ran out before its outcome", offer.account_id, offer.sku
        )


def _again(offer: c.ClaimedOffer, cause: str, seconds: float) -> c.Outcome:
    """The same step later (state and claim released)."""
    return c.Outcome(
        offer.account_id,
        offer.sku,
        offer.claimed_until,
        None,
        cause,
        work=offer.work,
        due_in_seconds=seconds,
        operation_url=offer.operation_url,
    )


def _refused(deps: OffersDeps, offer: c.ClaimedOffer, exc: AllegroError) -> c.Outcome:
    if isinstance(exc, RateLimited | NotSentInTime):
        # The rate, not the offer: again as soon as the budget allows (a blocked account is
        # not claimed until its block ends), however long a 429 storm lasts.
        return dataclasses.replace(_again(offer, f"Allegro: {exc}"[:300], 0.0), uncounted=True)
    transient = isinstance(exc, RateLimited | AllegroUnavailable) or exc.status in (409, 401, 403)
    if transient and offer.attempts < deps.settings.publish_max_attempts:
        # 409: a previous edit of the offer is still being processed; 429 and 5xx: later.
        return _again(offer, f"Allegro: {exc}"[:300], _backoff(deps, offer.attempts))
    if offer.work in (states.CHECK, states.CREATE) and not transient:
        state, code = listing.classify(exc.status, exc.codes)
    else:
        state, code = states.FAILED, "allegro_unavailable" if transient else "allegro_rejected"
    return c.Outcome(
        offer.account_id,
        offer.sku,
        offer.claimed_until,
        state,
        f"Allegro answered {exc.status}",
        reason=states.reason(code, _errors(exc), detail=str(exc)[:300]),
    )


async def _step(deps: OffersDeps, offer: c.ClaimedOffer, shared: Round) -> c.Outcome | None:
    if offer.work in (states.CHECK, states.CREATE):
        return await check_and_create(deps, offer, shared)
    if offer.work == states.POLL:
        return await poll(deps, offer)
    if offer.work == states.VERIFY:
        return await verify(deps, offer)
    if offer.work == states.END:
        return await end(deps, offer)
    if offer.work == states.ACTIVATE:
        return await activate(deps, offer)
    if offer.work == states.HANDLING_TIME:
        return await set_handling_time(deps, offer)
    if offer.work == states.IMAGES:
        return await set_images(deps, offer)
    return c.Outcome(offer.account_id, offer.sku, offer.claimed_until, None, "unknown step")


def _from_offer(
    deps: OffersDeps,
    offer: c.ClaimedOffer,
    data: dict[str, Any],
    cause: str,
    sent: dict[str, Any] | None = None,
) -> c.Outcome:
    """The offer as Allegro holds it, as our state."""
    status = str((data.get("publication") or {}).get("status") or "")
    marketplaces = listing.marketplace_states(data)
    common: dict[str, Any] = {
        "offer_id": str(data["id"]) if data.get("id") else None,
        "allegro_status": status or None,
        "marketplaces": marketplaces,
        "sent": sent,
        # Read-backs count on: an offer whose qualification never settles is read a bounded
        # number of times.
        "reset_attempts": offer.work != states.VERIFY,
    }
    held = offer.account_id, offer.sku, offer.claimed_until
    enough = offer.attempts >= deps.settings.publish_max_attempts
    if status == "ACTIVE":
        unsettled = any(m.get("state") in UNSETTLED for m in marketplaces.values())
        verified = offer.work == states.VERIFY and (not unsettled or enough)
        return c.Outcome(
            *held,
            states.ACTIVE,
            cause,
            work=None if verified else states.VERIFY,
            due_in_seconds=deps.settings.verify_after_seconds,
            **common,
        )
    if status == "ACTIVATING":
        return c.Outcome(
            *held,
            None,
            cause,
            work=None if offer.work == states.VERIFY and enough else states.VERIFY,
            due_in_seconds=allegro.DEFAULT_RETRY_AFTER,
            **common,
        )
    if status == "ENDED":
        ended_by = (data.get("publication") or {}).get("endedBy")
        code = "stock_out" if ended_by == "EMPTY_STOCK" else "ended_on_allegro"
        ours = offer.work == states.END or (offer.work == states.POLL and ended_by == "USER")
        if ours and (not offer.listed or offer.stock <= 0):
            code = "unselected" if not offer.listed else "stock_out"
        return c.Outcome(
            *held,
            states.ENDED,
            cause,
            reason=states.reason(code, detail=f"endedBy {ended_by}" if ended_by else ""),
            **common,
        )
    errors = list((data.get("validation") or {}).get("errors") or [])
    code = "late_validation" if offer.work in (states.VERIFY, states.POLL) else "allegro_rejected"
    return c.Outcome(
        *held,
        states.INACTIVE,
        cause,
        reason=states.reason(code, errors),
        **common,
    )


async def _definitions(deps: OffersDeps, account_id: str, category_id: str) -> list[dict[str, Any]]:
    max_age = deps.settings.category_parameters_max_age_seconds
    held = deps.category_definitions.get(category_id)
    if held is not None and time.monotonic() - held[0] < max_age:
        return held[1]
    found = await _stored_definitions(deps, account_id, category_id)
    # Kept in this process too (one read of the table per category, not per offer), no
    # longer than the table keeps them.
    deps.category_definitions[category_id] = (time.monotonic(), found)
    return found


async def _stored_definitions(
    deps: OffersDeps, account_id: str, category_id: str
) -> list[dict[str, Any]]:
    cached = await deps.units.read(
        handlers.cached_category_parameters,
        c.GetCategoryParameters(category_id, deps.settings.category_parameters_max_age_seconds),
    )
    if cached is not None:
        return cached
    found = await allegro.category_parameters(deps.allegro, account_id, category_id)
    await deps.units.handle(
        handlers.save_category_parameters, c.SaveCategoryParameters(category_id, found)
    )
    return found


async def draft_for(
    deps: OffersDeps,
    account_id: str,
    sku: str,
    content: dict[str, Any] | None,
    stock: int,
    prices: dict[str, Any],
    unpriced: dict[str, str],
    found_account: dict[str, Any],
    shared: Round | None = None,
) -> tuple[listing.Draft, str | None]:
    """Every check of an offer and the body it would be created with (reads Allegro only);
    `shared`: a claim round's choices of shipping price list, reused."""
    account = handlers.publishing_account(found_account)
    if account is None or content is None:
        what = "the account is not ready" if account is None else "no catalogue content"
        return listing.Draft(None, [listing.Problem("not_ready", what)]), None
    category = content.get("allegro_category_id")
    definitions = await _definitions(deps, account_id, str(category)) if category else []
    key = (account_id, _weight(content), account.marketplaces)
    choice = None if shared is None else shared.price_lists.get(key)
    if choice is None:
        choice = await deps.units.read(_shipping_rates_query, key)
        if shared is not None:
            shared.price_lists[key] = choice
    rates = choice.list_id
    if rates is None:
        code = "no_shipping_band" if choice.per_product else "not_ready"
        why = choice.reason or "no shipping price list"
        return listing.Draft(None, [listing.Problem(code, why)]), None
    handling = listing.handling_time(
        content.get("handling_days"), found_account.get("handling_time")
    )
    draft = listing.product_offer_body(
        sku, content, stock, prices, unpriced, account, rates, definitions, handling
    )
    return draft, rates


def _weight(content: dict[str, Any] | None) -> Decimal | None:
    weight = (content or {}).get("weight_kg")
    return None if weight is None else Decimal(str(weight))


async def _shipping_rates_many_query(
    query: tuple[str, list[tuple[Decimal | None, tuple[str, ...]]]], uow: UnitOfWork
) -> dict[tuple[Decimal | None, tuple[str, ...]], shipping.PriceListChoice]:
    return await handlers.shipping_rates_for_many(uow, *query)


async def _shipping_rates_query(
    query: tuple[str, Decimal | None, tuple[str, ...]], uow: UnitOfWork
) -> shipping.PriceListChoice:
    return await handlers.shipping_rates_for(uow, *query)


async def check_and_create(
    deps: OffersDeps, offer: c.ClaimedOffer, shared: Round
) -> c.Outcome | None:
    held = offer.account_id, offer.sku, offer.claimed_until
    found_account = shared.accounts.get(offer.account_id)
    if found_account is None:
        found_account = await deps.units.read(
            handlers.account_settings, c.GetAccount(offer.account_id)
        )
    draft, rates = await draft_for(
        deps,
        offer.account_id,
        offer.sku,
        offer.content,
        offer.stock,
        offer.prices,
        offer.unpriced,
        found_account,
        shared,
    )
    if draft.body is None:
        first = draft.problems[0]
        if first.code == "not_ready":
            return _again(offer, first.detail, deps.settings.readiness_recheck_seconds)
        detail = "; ".join(p.detail for p in draft.problems)
        return c.Outcome(
            *held,
            states.NOT_LISTABLE,
            "checks failed",
            reason={
                **states.reason(first.code, detail=detail),
                "problems": [p.as_dict() for p in draft.problems],
            },
            reset_attempts=True,
        )
    if not await deps.units.handle(handlers.begin_create, offer):
        return None  # the claim ran out: another replica has the offer
    # Before any create: is the SKU on Allegro already (a create whose answer we lost)?
    # Looked up after this offer's claim began, so after any earlier attempt's create.
    existing = shared.on_allegro(offer)
    if existing is None:
        existing = await allegro.offers_by_external_ids(deps.allegro, offer.account_id, [offer.sku])
    if existing:
        data = await allegro.product_offer(deps.allegro, offer.account_id, str(existing[0]["id"]))
        return _from_offer(deps, offer, data, "found on Allegro by external id")
    send_by = create_send_by(deps, offer)
    sources = wanted_sources(offer.content)
    gallery = await images.gallery_for(
        deps,
        offer.account_id,
        sources,
        shared.images.get(offer.account_id),
        send_by,
        in_description=description_sources(offer.content),
    )
    body = draft.body
    if gallery.locations:
        body = {**body, "images": gallery.locations}
    elif sources and not await _catalogue_product_has_images(deps, offer):
        return c.Outcome(
            *held,
            states.NOT_LISTABLE,
            "checks failed",
            reason=states.reason("images_refused", detail="; ".join(gallery.refused.values())),
            reset_attempts=True,
        )
    if "description" in body:
        # Allegro takes only images it hosts in the description too.
        sections = gallery.description(body["description"]["sections"])
        body = {k: v for k, v in body.items() if k != "description"}
        if sections:
            body["description"] = {"sections": sections}
    shared.writing.add((offer.account_id, offer.sku))
    answer = await allegro.create_product_offer(deps.allegro, offer.account_id, body, send_by)
    additional = draft.body.get("additionalMarketplaces") or {}
    sent = {
        "catalog_revision": offer.catalog_revision,
        "price_revision": offer.price_revision,
        "prices": {
            str(found_account["base_marketplace"]): draft.body["sellingMode"]["price"],
            **{mp: entry["sellingMode"]["price"] for mp, entry in additional.items()},
        },
        "stock": offer.stock,
        "shipping_rates_id": rates,
        "handling_time": draft.body["delivery"].get("handlingTime"),
        "images": gallery.sources,
        # Every image the offer shows (gallery and description): Allegro keeps them now.
        "image_locations": list(gallery.hosted.values()),
    }
    if answer.status == 202:
        return c.Outcome(
            *held,
            None,
            "Allegro accepted the create (202)",
            work=states.POLL,
            due_in_seconds=answer.retry_after,
            offer_id=str(answer.offer["id"]) if answer.offer.get("id") else None,
            operation_url=answer.operation_url,
            sent=sent,
            not_sent=draft.skipped_marketplaces,
            reset_attempts=True,
            note=gallery.note(),
        )
    created = _from_offer(deps, offer, answer.offer, f"created ({answer.status})", sent)
    return dataclasses.replace(created, not_sent=draft.skipped_marketplaces, note=gallery.note())


async def _catalogue_product_has_images(deps: OffersDeps, offer: c.ClaimedOffer) -> bool:
    """Whether Allegro's catalogue product of the offer's EAN shows images of its own (read
    only when every supplier image was refused). No product: the create itself says so."""
    ean = str((offer.content or {}).get("ean") or "")
    products = await allegro.products_by_gtin(deps.allegro, offer.account_id, ean)
    return not products or any(p.get("images") for p in products)


def create_send_by(deps: OffersDeps, offer: c.ClaimedOffer) -> float:
    """The last moment this claim may send its create: the claim's end less the time an answer
    may take. Another replica takes the offer over only after the claim ends and looks the SKU
    up first; a create sent later than this (after a long wait for the rate budget, a 429
    storm) could reach Allegro after that look-up and create the offer twice."""
    answer_time = min(
        deps.allegro.settings.timeout_seconds + 5.0, deps.settings.publish_lease_seconds / 3
    )
    return float(offer.claimed_until.timestamp()) - answer_time


async def poll(deps: OffersDeps, offer: c.ClaimedOffer) -> c.Outcome:
    if not offer.operation_url:
        return c.Outcome(
            offer.account_id,
            offer.sku,
            offer.claimed_until,
            None,
            "nothing to poll",
            work=states.VERIFY,
        )
    answer = await allegro.operation(deps.allegro, offer.account_id, offer.operation_url)
    if answer.status == 202:
        return _again(offer, "operation running", answer.retry_after)
    return _from_offer(deps, offer, answer.offer, "operation completed")


async def verify(deps: OffersDeps, offer: c.ClaimedOffer) -> c.Outcome:
    assert offer.offer_id is not None
    data = await allegro.product_offer(deps.allegro, offer.account_id, offer.offer_id)
    return _from_offer(deps, offer, data, "read back from Allegro")


async def end(deps: OffersDeps, offer: c.ClaimedOffer) -> c.Outcome:
    held = offer.account_id, offer.sku, offer.claimed_until
    if offer.listed and offer.stock > 0:
        return c.Outcome(*held, None, "restocked before it was ended")
    assert offer.offer_id is not None
    answer = await allegro.edit_product_offer(
        deps.allegro, offer.account_id, offer.offer_id, {"publication": {"status": "ENDED"}}
    )
    return _written(deps, offer, answer, "ended")


async def activate(deps: OffersDeps, offer: c.ClaimedOffer) -> c.Outcome:
    held = offer.account_id, offer.sku, offer.claimed_until
    if not offer.listed or offer.stock <= 0:
        return c.Outcome(*held, None, "no longer to be reactivated")
    assert offer.offer_id is not None
    # Raising the stock does not bring an ended offer back: it is activated with it.
    body = {
        "publication": {"status": "ACTIVE"},
        "stock": {"available": offer.stock, "unit": "UNIT"},
    }
    answer = await allegro.edit_product_offer(deps.allegro, offer.account_id, offer.offer_id, body)
    return _written(deps, offer, answer, "reactivated (restock)", {"stock": offer.stock})


async def set_handling_time(deps: OffersDeps, offer: c.ClaimedOffer) -> c.Outcome:
    """The offer's delivery.handlingTime edited (PATCH) to the one wanted now: the supplier's
    handling days, never shorter than the account's own. The state stays; a 202 is Allegro's
    to finish (an edit behind it waits on the 409 retry). A refusal (Allegro validates the
    whole offer on an edit) does not fail a live offer: it is logged and held, as sent, until
    the wanted handling time changes again; 409, 429, 5xx and 401/403 go the usual way."""
    held = offer.account_id, offer.sku, offer.claimed_until
    found_account = await deps.units.read(handlers.account_settings, c.GetAccount(offer.account_id))
    wanted = listing.handling_time(
        (offer.content or {}).get("handling_days"), found_account.get("handling_time")
    )
    if wanted is None or offer.offer_id is None:
        return c.Outcome(*held, None, "no handling time to send")
    body = {"delivery": {"handlingTime": wanted}}
    try:
        answer = await allegro.edit_product_offer(
            deps.allegro, offer.account_id, offer.offer_id, body
        )
    except AllegroError as exc:
        transient = isinstance(exc, RateLimited | NotSentInTime | AllegroUnavailable)
        if transient or exc.status in (401, 403, 409):
            raise
        log.warning("offer %s/%s: handling time %s refused: %s", *held[:2], wanted, exc)
        return c.Outcome(
            *held, None, f"handling time {wanted} refused", sent={"handling_time": wanted}
        )
    accepted = " (202)" if answer.status == 202 else ""
    return c.Outcome(
        *held,
        None,
        f"handling time {wanted} sent{accepted}",
        sent={"handling_time": wanted},
        reset_attempts=True,
    )


async def set_images(deps: OffersDeps, offer: c.ClaimedOffer) -> c.Outcome:
    """The offer's images edited (PATCH `images`) to the catalogue's gallery now (a new cover,
    images added or removed), uploading the new ones; the same edit path as the handling time:
    the state stays, a refusal of the edit is logged and held as sent until the gallery changes
    again, 409, 429, 5xx and 401/403 go the usual way. Images whose upload Allegro refused are
    left out and said in the history; none left: nothing is sent (the product's own show)."""
    held = offer.account_id, offer.sku, offer.claimed_until
    if offer.offer_id is None:
        return c.Outcome(*held, None, "no offer to give images")
    sources = wanted_sources(offer.content)
    gallery = await images.gallery_for(deps, offer.account_id, sources)
    sent = {"images": gallery.sources, "image_locations": gallery.locations}
    if not gallery.locations:
        return c.Outcome(
            *held, None, "no image to send", sent={"images": sources}, note=gallery.note()
        )
    try:
        answer = await allegro.edit_product_offer(
            deps.allegro, offer.account_id, offer.offer_id, {"images": gallery.locations}
        )
    except AllegroError as exc:
        transient = isinstance(exc, RateLimited | NotSentInTime | AllegroUnavailable)
        if transient or exc.status in (401, 403, 409):
            raise
        log.warning("offer %s/%s: images refused: %s", *held[:2], exc)
        return c.Outcome(*held, None, "images refused", sent={"images": sources})
    accepted = " (202)" if answer.status == 202 else ""
    return c.Outcome(
        *held,
        None,
        f"{len(gallery.locations)} images sent{accepted}",
        sent=sent,
        reset_attempts=True,
        note=gallery.note(),
    )


def _written(
    deps: OffersDeps,
    offer: c.ClaimedOffer,
    answer: allegro.Answer,
    cause: str,
    sent: dict[str, Any] | None = None,
) -> c.Outcome:
    if answer.status == 202:
        return c.Outcome(
            offer.account_id,
            offer.sku,
            offer.claimed_until,
            None,
            f"{cause}: accepted (202)",
            work=states.POLL,
            due_in_seconds=answer.retry_after,
            operation_url=answer.operation_url,
            sent=sent,
            reset_attempts=True,
        )
    return _from_offer(deps, offer, answer.offer, cause, sent)


# --- readiness ---------------------------------------------------------------------------------

FIXES = {
    "return_policy": 'create a return policy named "default" in the account\'s Allegro'
    " settings (after-sales conditions)",
    "implied_warranty": 'create an implied warranty named "default" in the account\'s Allegro'
    " settings (after-sales conditions)",
    "shipping_rates": 'create a shipping price list named "default" on Allegro',
    "responsible_producer": "give the supplier's producer data (`responsible_producer`: name,"
    " producerData) in POST /accounts/{account_id}/readiness with create_missing=true, or"
    ' create a responsible producer named "default" on Allegro',
    "safety_information": "give the product safety text (`safety_information`) in"
    " POST /accounts/{account_id}/readiness",
}


def _item(name: str, found: dict[str, Any] | None, created: bool = False) -> dict[str, Any]:
    if found is None:
        return {"item": name, "status": "missing", "id": None, "fix": FIXES[name]}
    return {
        "item": name,
        "status": "ok",
        "id": str(found.get("id")) if found.get("id") else None,
        "name": found.get("name"),
        **({"created": True} if created else {}),
    }


async def check_readiness(
    deps: OffersDeps,
    account_id: str,
    create_missing: bool = False,
    claim: c.ReadinessClaim | None = None,
) -> dict[str, Any]:
    """Check the account on Allegro, record the ids found, create what is missing where the
    operator allows it; the result is stored (unless a later check's is) and returned."""
    if claim is None:
        claim = await deps.units.handle(
            handlers.begin_readiness_check,
            c.BeginReadinessCheck(account_id, deps.settings.publish_lease_seconds),
        )
    client = deps.allegro
    settings = await deps.units.read(handlers.account_settings, c.GetAccount(account_id))
    try:
        policies, warranties, rates, producers = await asyncio.gather(
            allegro.return_policies(client, account_id),
            allegro.implied_warranties(client, account_id),
            allegro.shipping_rates(client, account_id),
            allegro.responsible_producers(client, account_id),
        )
    except AccountUnavailable as exc:
        await deps.units.handle(
            handlers.account_not_connected, c.AccountNotConnected(account_id, str(exc))
        )
        return await deps.units.read(handlers.readiness, c.GetAccount(account_id))
    producer_data = settings.get("producer_data") or None
    producer_name = str((producer_data or {}).get("name") or allegro.DEFAULT_NAME)
    producer = allegro.default_of(producers, producer_name)
    created = False
    if producer is None and create_missing and producer_data:
        producer = await allegro.create_responsible_producer(client, account_id, producer_data)
        created = True
        # The check changed the account on Allegro: it counts as granted after that change, so
        # a check granted meanwhile (it may have read Allegro before the producer existed) can
        # never be stored over this one.
        claim = await deps.units.handle(
            handlers.begin_readiness_check,
            c.BeginReadinessCheck(account_id, deps.settings.publish_lease_seconds),
        )
    found = {
        "return_policy": allegro.default_of(policies),
        "implied_warranty": allegro.default_of(warranties),
        "shipping_rates": allegro.default_of(rates),
        "responsible_producer": producer,
    }
    items = [
        _item(name, value, created and name == "responsible_producer")
        for name, value in found.items()
    ]
    safety = settings.get("safety_information")
    items.append(
        {"item": "safety_information", "status": "ok"}
        if safety
        else {"item": "safety_information", "status": "missing", "fix": FIXES["safety_information"]}
    )
    for item in items:
        if "fix" in item:
            item["fix"] = str(item["fix"]).replace("{account_id}", account_id)
    return await deps.units.handle(
        handlers.readiness_found,
        c.ReadinessFound(
            account_id,
            items,
            {k: (str(v["id"]) if v and v.get("id") else None) for k, v in found.items()},
            deps.settings.readiness_recheck_seconds,
            claim.number,
        ),
    )


async def check_one_account(deps: OffersDeps) -> bool:
    """One due readiness check (a new or reconnected account, or a not-ready one's recheck)."""
    claim = await deps.units.handle(
        handlers.claim_readiness_check, c.ClaimReadinessCheck(deps.settings.publish_lease_seconds)
    )
    if claim is None:
        return False
    try:
        await check_readiness(deps, claim.account_id, claim=claim)
    except AllegroError as exc:
        log.warning("account %s: readiness check failed: %s", claim.account_id, exc)
    return True


# --- dry run -----------------------------------------------------------------------------------


async def _catalogue_problem(deps: OffersDeps, account_id: str, ean: str) -> listing.Problem | None:
    products = await allegro.products_by_gtin(deps.allegro, account_id, ean)
    if not products:
        return listing.Problem("product_missing", f"no Allegro product has the EAN {ean}")
    if len(products) > 1:
        ids = ", ".join(str(p.get("id")) for p in products)
        return listing.Problem("product_ambiguous", f"EAN {ean} matches products {ids}")
    return None


async def dry_run(
    deps: OffersDeps, account_id: str, limit: int, check_products: bool = False
) -> dict[str, Any]:
    """What a publication would do now, and which checks would fail; nothing is written to
    Allegro (category parameters are read, and cached; with `check_products`, each offer to
    create is looked up in Allegro's product catalogue by EAN)."""
    plan = await deps.units.read(handlers.publication_plan, c.PlanPublication(account_id, limit))
    found_account = plan["account"] or {}
    readiness_items = [
        i for i in found_account.get("readiness_items") or [] if i.get("status") != "ok"
    ]
    actions: dict[str, list[str]] = {"create": [], "update": [], "end": [], "activate": []}
    failing: list[dict[str, Any]] = []
    for row in plan["offers"]:
        wanted = handlers.wanted(row, found_account)
        live = row["state"] in (states.ACTIVE, states.INACTIVE) and row["offer_id"]
        if live:
            if not row["listed"] or (row["stock"] <= 0 and row["state"] == states.ACTIVE):
                actions["end"].append(row["sku"])
            elif (
                (row["sent_catalog_revision"] or 0) < row["catalog_revision"]
                or (row["sent_price_revision"] or 0) < row["price_revision"]
                or row["sent_stock"] != row["stock"]
            ):
                actions["update"].append(row["sku"])
            continue
        if row["state"] == states.ENDED and row["offer_id"]:
            if row["listed"] and row["stock"] > 0:
                actions["activate"].append(row["sku"])
            continue
        if not row["listed"]:
            continue
        if wanted.has_content and not wanted.has_base_price and wanted.base_unpriced:
            failing.append({"sku": row["sku"], "reason": states.reason(wanted.base_unpriced)})
            continue
        waiting = [
            w
            for w, lacking in (
                (states.FOR_CONTENT, not wanted.has_content),
                (states.FOR_PRICE, not wanted.has_base_price),
                (states.FOR_STOCK, wanted.stock <= 0),
            )
            if lacking
        ]
        if waiting:
            failing.append({"sku": row["sku"], "waiting_for": waiting})
            continue
        draft, _ = await draft_for(
            deps,
            account_id,
            row["sku"],
            row["content"],
            row["stock"],
            row["prices"],
            row["unpriced"],
            {**found_account, "readiness": handlers.READY},
        )
        problems = list(draft.problems)
        if not problems and check_products:
            found = await _catalogue_problem(deps, account_id, str(row["content"]["ean"]))
            problems += [found] if found else []
        if problems:
            failing.append({"sku": row["sku"], "problems": [p.as_dict() for p in problems]})
        else:
            actions["create"].append(row["sku"])
    return {
        "account_id": account_id,
        "readiness": found_account.get("readiness", "unknown"),
        "readiness_missing": readiness_items,
        "would": {k: {"count": len(v), "skus": v} for k, v in actions.items()},
        "failing_checks": failing,
        "examined": len(plan["offers"]),
    }
