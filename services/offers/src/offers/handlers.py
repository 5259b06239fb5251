"""Use cases of the offers service: one function per message, and the explicit registry."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from offers import metrics, shipping, wakeup
from offers.domain import commands as c
from offers.domain import listing, states, sync
from offers.domain.images import GALLERY_SIZE, wanted_sources
from offers.domain.listing import Account
from offers.repository import OffersRepository
from offers.shipping_repository import ShippingRepository
from offers.sync_repository import SyncRepository
from shared.errors import Invalid, NotFound
from shared.events import (
    AccountConnected,
    AccountDisconnected,
    AccountRefreshFailed,
    CatalogItem,
    CatalogUpdated,
    Event,
    FailureReason,
    Money,
    OfferEnded,
    OfferFailed,
    OfferPublished,
    PriceComputed,
    PricedItem,
)
from shared.logs import get_logger
from shared.messaging.consumer import Handler
from shared.pagination import Page, page_of
from shared.uow import UnitOfWork

log = get_logger(__name__)

READY = "ready"
NOT_READY = "not_ready"


# --- what the platform wants: catalogue and prices ---------------------------------------------


def wanted(row: dict[str, Any], account: dict[str, Any] | None) -> states.Wanted:
    base = (account or {}).get("base_marketplace") or "allegro-pl"
    handling = listing.handling_time(
        (row["content"] or {}).get("handling_days"), (account or {}).get("handling_time")
    )
    return states.Wanted(
        state=row["state"],
        offer_id=row["offer_id"],
        listed=bool(row["listed"]),
        has_content=row["content"] is not None,
        has_base_price=base in (row["prices"] or {}),
        base_unpriced=(row.get("unpriced") or {}).get(base),
        stock=int(row["stock"] or 0),
        account_ready=(account or {}).get("readiness") == READY,
        handling_time_outdated=handling is not None
        and handling != row.get("sent_handling_time")
        and row.get("work") is None,
        images_outdated=_images_outdated(row),
    )


def _images_outdated(row: dict[str, Any]) -> bool:
    """The catalogue's gallery differs from the one the offer was last given (an offer given
    none by us yet gets it at its next change, if the catalogue has images)."""
    if row.get("work") is not None or row["content"] is None:
        return False
    wanted_images = wanted_sources(row["content"])
    sent = row.get("sent_images")
    return wanted_images != sent if sent is not None else bool(wanted_images)


def _next_move(account: dict[str, Any] | None, row: dict[str, Any], cause: str) -> c.Move | None:
    """Where a change of what is wanted moves the offer (None: nowhere)."""
    step = states.next_step(wanted(row, account), cause)
    if step is None:
        return None
    if step.state is None:
        if step.work is not None and row["work"] != step.work:
            waiting = tuple(row["waiting_for"] or ())
            return c.Move(row["sku"], row["state"], None, cause, waiting, step.work)
        return None
    unchanged = step.state == row["state"] and tuple(row["waiting_for"] or ()) == step.waiting_for
    if unchanged and row["work"] == step.work:
        return None
    return c.Move(
        row["sku"], row["state"], step.state, step.cause, step.waiting_for, step.work, step.reason
    )


def _moves(
    account: dict[str, Any] | None,
    saved: dict[str, dict[str, Any]],
    cause: Callable[[str], str],
) -> list[c.Move]:
    """The moves of the offers just stored (by SKU), each with the cause of its SKU."""
    found = (_next_move(account, row, cause(sku)) for sku, row in saved.items())
    return [move for move in found if move is not None]


async def _reconsider(
    repo: OffersRepository, account: dict[str, Any] | None, row: dict[str, Any], cause: str
) -> None:
    move = _next_move(account, row, cause)
    if move is not None:
        await repo.moves(row["account_id"], [move])


async def catalog_updated(event: CatalogUpdated, uow: UnitOfWork) -> None:
    """Apply each item only if its revision is newer than the one held (of one SKU twice in
    the message, the first of its newest revision)."""
    repo = uow.repository(OffersRepository)
    await repo.ensure_account(event.account_id)
    account = await repo.account(event.account_id, for_share=True)
    latest: dict[str, CatalogItem] = {}
    for item in event.items:
        kept = latest.get(item.sku)
        if kept is None or kept.revision < item.revision:
            latest[item.sku] = item
    held = await repo.offers_for_update(event.account_id, list(latest))
    contents = []
    for item in latest.values():
        row = held.get(item.sku)
        if row is None and not item.listed:
            continue  # never offered: nothing to withdraw
        if row is not None and item.revision <= row["catalog_revision"]:
            continue
        content = item.model_dump(mode="json") if item.listed else None
        stock = max(0, item.stock or 0) if item.listed else int((row or {}).get("stock") or 0)
        contents.append(c.Content(item.sku, content, item.revision, item.listed, stock))
    saved = await repo.save_contents(event.account_id, contents)

    def cause(sku: str) -> str:
        withdrawn = "" if latest[sku].listed else " (withdrawn)"
        return f"catalogue revision {latest[sku].revision}{withdrawn}"

    await repo.moves(event.account_id, _moves(account, saved, cause))
    wakeup.wanted_changed()


async def price_computed(event: PriceComputed, uow: UnitOfWork) -> None:
    """Prices apply when computed from the held catalogue revision or a newer one (of one SKU
    twice in the message, the last of its newest revision)."""
    repo = uow.repository(OffersRepository)
    await repo.ensure_account(event.account_id)
    account = await repo.account(event.account_id, for_share=True)
    latest: dict[str, PricedItem] = {}
    for item in event.items:
        kept = latest.get(item.sku)
        if kept is None or kept.catalog_revision <= item.catalog_revision:
            latest[item.sku] = item
    held = await repo.offers_for_update(event.account_id, list(latest))
    priced = []
    for item in latest.values():
        row = held.get(item.sku)
        if row is not None and item.catalog_revision < row["price_revision"]:
            continue
        prices = {str(mp): m.model_dump(mode="json") for mp, m in item.prices.items()}
        unpriced = {str(mp): why for mp, why in item.unpriced.items()}
        priced.append(c.Prices(item.sku, prices, unpriced, item.catalog_revision))
    saved = await repo.save_prices(event.account_id, priced)

    def cause(sku: str) -> str:
        return f"prices for catalogue revision {latest[sku].catalog_revision}"

    await repo.moves(event.account_id, _moves(account, saved, cause))
    wakeup.wanted_changed()


# --- account events (auth) -------------------------------------------------------------------


async def account_connected(event: AccountConnected, uow: UnitOfWork) -> None:
    repo = uow.repository(OffersRepository)
    await repo.ensure_account(event.account_id)
    # Its base marketplace is where prices go in `sellingMode`; the others are additional.
    await repo.request_readiness_check(event.account_id, event.base_marketplace)


async def account_lost(event: AccountDisconnected | AccountRefreshFailed, uow: UnitOfWork) -> None:
    reason = getattr(event, "reason", "credentials removed")
    await account_not_connected(c.AccountNotConnected(event.account_id, str(reason)), uow)


async def account_not_connected(command: c.AccountNotConnected, uow: UnitOfWork) -> None:
    """Nothing is sent for an account without a usable token; re-checked when reconnected."""
    repo = uow.repository(OffersRepository)
    await repo.ensure_account(command.account_id)
    item = {
        "item": "allegro_connection",
        "status": "missing",
        "message": f"no usable Allegro token: {command.reason}"[:500],
        "fix": "reconnect the account in auth; its readiness is checked again then",
    }
    before, _ = await repo.save_readiness(command.account_id, NOT_READY, [item], {}, None)
    if before == READY:
        await repo.readiness_lost(command.account_id)


# --- readiness -------------------------------------------------------------------------------


async def claim_readiness_check(
    command: c.ClaimReadinessCheck, uow: UnitOfWork
) -> c.ReadinessClaim | None:
    found = await uow.repository(OffersRepository).claim_readiness_check(command.lease_seconds)
    return None if found is None else c.ReadinessClaim(*found)


async def begin_readiness_check(
    command: c.BeginReadinessCheck, uow: UnitOfWork
) -> c.ReadinessClaim:
    repo = uow.repository(OffersRepository)
    await repo.ensure_account(command.account_id)
    started = await repo.begin_readiness_check(command.account_id, command.lease_seconds)
    return c.ReadinessClaim(command.account_id, started)


async def readiness_found(command: c.ReadinessFound, uow: UnitOfWork) -> dict[str, Any]:
    """Store a check; offers waiting for the account go on when it became ready."""
    repo = uow.repository(OffersRepository)
    ready = all(i["status"] == "ok" for i in command.items)
    before, stored = await repo.save_readiness(
        command.account_id,
        READY if ready else NOT_READY,
        command.items,
        command.ids,
        None if ready else command.recheck_in_seconds,
        command.check_number,
    )
    if not stored:
        pass  # a check granted later is stored: it is the account's readiness
    elif ready and before != READY:
        await repo.readiness_gained(command.account_id)
    elif not ready and before == READY:
        await repo.readiness_lost(command.account_id)
    return await readiness(c.GetAccount(command.account_id), uow)


async def save_readiness_input(command: c.SaveReadinessInput, uow: UnitOfWork) -> None:
    repo = uow.repository(OffersRepository)
    await repo.ensure_account(command.account_id)
    await repo.save_readiness_input(
        command.account_id, command.producer_data, command.safety_information, command.marketplaces
    )


async def account_settings(query: c.GetAccount, uow: UnitOfWork) -> dict[str, Any]:
    repo = uow.repository(OffersRepository)
    await repo.ensure_account(query.account_id)
    found = await repo.account(query.account_id)
    assert found is not None
    return found


async def readiness(query: c.GetAccount, uow: UnitOfWork) -> dict[str, Any]:
    found = await uow.repository(OffersRepository).account(query.account_id)
    if found is None:
        return {
            "account_id": query.account_id,
            "readiness": "unknown",
            "items": [],
            "checked_at": None,
            "paused": False,
        }
    return {
        "account_id": query.account_id,
        "readiness": found["readiness"],
        "items": found["readiness_items"],
        "ids": {
            "return_policy": found["return_policy_id"],
            "implied_warranty": found["implied_warranty_id"],
            "shipping_rates": found["shipping_rates_id"],
            "responsible_producer": found["responsible_producer_id"],
        },
        "base_marketplace": found["base_marketplace"],
        "marketplaces": found["marketplaces"],
        "checked_at": found["checked_at"],
        "paused": found["paused"],
    }


def publishing_account(found: dict[str, Any]) -> Account | None:
    """The recorded settings offers are built with; None until the account is ready."""
    ids = (
        found.get("return_policy_id"),
        found.get("implied_warranty_id"),
        found.get("responsible_producer_id"),
        found.get("safety_information"),
    )
    if found.get("readiness") != READY or not all(ids):
        return None
    return Account(
        return_policy_id=str(found["return_policy_id"]),
        implied_warranty_id=str(found["implied_warranty_id"]),
        responsible_producer_id=str(found["responsible_producer_id"]),
        safety_information=str(found["safety_information"]),
        base_marketplace=str(found["base_marketplace"]),
        marketplaces=tuple(found["marketplaces"]),
    )


async def shipping_rates_for(
    uow: UnitOfWork, account_id: str, weight_kg: Decimal | None, marketplaces: tuple[str, ...]
) -> shipping.PriceListChoice:
    """The one place an offer's shipping price list is chosen: the list of its weight band when
    the account has a shipping configuration (`shipping.py`); otherwise the account's list
    named "default" (the seed's rule). A configured account's product without a band (no
    weight, heavier than the last band) gets no list, and the reason."""
    if await uow.repository(ShippingRepository).configuration(account_id) is not None:
        return await shipping.price_list_choice(uow, account_id, weight_kg, marketplaces)
    found = await uow.repository(OffersRepository).account(account_id)
    default = None if found is None else found["shipping_rates_id"]
    return shipping.PriceListChoice(default, None if default else "no shipping price list")


async def shipping_rates_for_many(
    uow: UnitOfWork,
    account_id: str,
    wanted: Iterable[tuple[Decimal | None, tuple[str, ...]]],
) -> dict[tuple[Decimal | None, tuple[str, ...]], shipping.PriceListChoice]:
    """`shipping_rates_for` for several offers of one account (weight, marketplaces), in one
    transaction; an account without a configuration is read once for all of them."""
    wanted = set(wanted)
    if await uow.repository(ShippingRepository).configuration(account_id) is not None:
        return {key: await shipping.price_list_choice(uow, account_id, *key) for key in wanted}
    found = await uow.repository(OffersRepository).account(account_id)
    default = None if found is None else found["shipping_rates_id"]
    choice = shipping.PriceListChoice(default, None if default else "no shipping price list")
    return dict.fromkeys(wanted, choice)


async def set_paused(command: c.SetPaused, uow: UnitOfWork) -> dict[str, Any]:
    repo = uow.repository(OffersRepository)
    await repo.ensure_account(command.account_id)
    await repo.set_paused(command.account_id, command.paused, command.by)
    return await readiness(c.GetAccount(command.account_id), uow)


# --- offer images ------------------------------------------------------------------------------


async def cached_images(query: c.GetImages, uow: UnitOfWork) -> dict[str, dict[str, Any]]:
    return await uow.repository(OffersRepository).images(query.account_id, list(query.sources))


async def save_images(command: c.SaveImages, uow: UnitOfWork) -> None:
    await uow.repository(OffersRepository).save_images(command.account_id, list(command.uploaded))


async def save_image_refusals(command: c.SaveImageRefusals, uow: UnitOfWork) -> None:
    await uow.repository(OffersRepository).save_refusals(command.account_id, list(command.refused))


# --- category parameters ---------------------------------------------------------------------


async def cached_category_parameters(
    query: c.GetCategoryParameters, uow: UnitOfWork
) -> list[dict[str, Any]] | None:
    return await uow.repository(OffersRepository).category_parameters(
        query.category_id, query.max_age_seconds
    )


async def save_category_parameters(command: c.SaveCategoryParameters, uow: UnitOfWork) -> None:
    await uow.repository(OffersRepository).save_category_parameters(
        command.category_id, command.parameters
    )


async def offer_repaired(command: c.OfferRepaired, uow: UnitOfWork) -> None:
    """After a drift repair: what the state machine does from the repaired state (reactivate,
    end, check and create again), as for any other change of what is wanted."""
    repo = uow.repository(OffersRepository)
    row = await repo.offer(command.account_id, command.sku)
    if row is None:
        return
    account = await repo.account(command.account_id)
    if command.start_over:
        await _start_over(repo, account, row, command.cause)
    else:
        await _reconsider(repo, account, row, command.cause)


async def _start_over(
    repo: OffersRepository, account: dict[str, Any] | None, row: dict[str, Any], cause: str
) -> None:
    """The offer judged as a new one, moved from its state straight to where that leads (a
    waiting offer waits for something: never stored waiting for nothing, even for a moment)."""
    step = states.next_step(wanted({**row, "state": states.WAITING}, account), cause)
    if step is not None and step.state is not None:
        await repo.move(
            row["account_id"],
            row["sku"],
            row["state"],
            step.state,
            cause,
            waiting_for=step.waiting_for,
            work=step.work,
            reason=step.reason,
        )


# --- the worker's steps (offers/publisher.py calls Allegro between them) -----------------------


async def claim_offers(command: c.ClaimOffers, uow: UnitOfWork) -> list[c.ClaimedOffer]:
    return await uow.repository(OffersRepository).claim_offers(
        command.limit, command.lease_seconds, command.reads
    )


async def begin_create(command: c.ClaimedOffer, uow: UnitOfWork) -> bool:
    return await uow.repository(OffersRepository).begin_create(
        command.account_id, command.sku, command.claimed_until
    )


def _failure(row: dict[str, Any], reason: dict[str, Any] | None) -> FailureReason:
    reason = reason or states.reason("allegro_rejected")
    return FailureReason(
        code=str(reason["code"]),
        message=str(reason["message"]),
        allegro_errors=list(reason.get("allegro_errors") or []),
    )


def _base_marketplace(account: dict[str, Any] | None) -> str:
    return str((account or {}).get("base_marketplace") or "allegro-pl")


def _published(row: dict[str, Any], account: dict[str, Any] | None) -> OfferPublished:
    base = _base_marketplace(account)
    price = (row["sent_prices"] or row["prices"] or {}).get(base)
    return OfferPublished(
        account_id=row["account_id"],
        sku=row["sku"],
        offer_id=str(row["offer_id"]),
        marketplaces={
            mp: str((entry or {}).get("state")) for mp, entry in (row["marketplaces"] or {}).items()
        },
        price=None
        if price is None
        else Money(amount=Decimal(str(price["amount"])), currency=price["currency"]),
        stock=int(row["sent_stock"] if row["sent_stock"] is not None else row["stock"] or 0),
        status=str(row["allegro_status"] or "ACTIVE"),
    )


async def store_outcome(outcome: c.Outcome, uow: UnitOfWork) -> bool:
    """Store a step's outcome and its event, if the claim still holds (False otherwise: the
    lease ran out and another replica took the offer over)."""
    repo = uow.repository(OffersRepository)
    stored = await repo.store_outcome(outcome)
    if stored is None:
        return False
    held, row = stored
    account = await repo.account(outcome.account_id)
    changed = outcome.state is not None and outcome.state != held["state"]
    if changed or (outcome.state == states.ACTIVE and held["work"] == states.ACTIVATE):
        if outcome.state == states.ACTIVE:
            await uow.emit(_published(row, account))
            metrics.published.labels(_base_marketplace(account)).inc()
        elif outcome.state in (states.NOT_LISTABLE, states.FAILED, states.INACTIVE):
            await uow.emit(
                OfferFailed(
                    account_id=row["account_id"],
                    sku=row["sku"],
                    offer_id=row["offer_id"],
                    reason=_failure(row, outcome.reason),
                    state=outcome.state,
                )
            )
        elif outcome.state == states.ENDED and row["offer_id"]:
            await uow.emit(
                OfferEnded(
                    account_id=row["account_id"],
                    sku=row["sku"],
                    offer_id=row["offer_id"],
                    reason=_failure(row, outcome.reason),
                )
            )
    settled = row["state"] in (states.ACTIVE, states.ENDED) and row["work"] in (None, states.VERIFY)
    refused = row["state"] in states.RETRYABLE and not row["listed"]
    if settled or refused:
        # What changed while the step was under way (withdrawn, sold out, restocked).
        await _reconsider(repo, account, row, "changed while publishing")
    return True


# --- the price and stock sync (offers/sync.py calls Allegro between them) -----------------------


async def plan_sync(command: c.PlanSync, uow: UnitOfWork) -> int:
    """Out-of-sync offers into batch commands, each with its own UUID, stored (and its offers
    marked as in it) before anything is sent: a crash re-sends the same command id. Returns
    the number of commands planned."""
    repo = uow.repository(SyncRepository)
    changes: list[sync.Change] = []
    for offer in await repo.offers_to_sync(command.limit):
        found = sync.next_change(offer)
        if isinstance(found, sync.Unsendable):
            await repo.hold_unsendable(found.account_id, found.sku, found.reason)
            await repo.note(found.account_id, found.sku, offer.state, "not synced", found.reason)
        elif found is not None:
            changes.append(found)
    planned = sync.batches(changes, command.per_command)
    for batch in planned:
        await repo.add_command(str(uuid.uuid4()), batch)
    return len(planned)


async def claim_commands(command: c.ClaimCommands, uow: UnitOfWork) -> list[c.ClaimedCommand]:
    return await uow.repository(SyncRepository).claim_commands(command.limit, command.lease_seconds)


async def command_sent(command: c.ClaimedCommand, uow: UnitOfWork) -> bool:
    return await uow.repository(SyncRepository).mark_sent(command.command_id, command.claimed_until)


async def command_later(command: c.CommandLater, uow: UnitOfWork) -> bool:
    repo = uow.repository(SyncRepository)
    held = command.command
    if await repo.held_command(held.command_id, held.claimed_until) is None:
        return False
    await repo.command_later(
        held.command_id, command.status, command.due_in_seconds, command.reset_attempts
    )
    return True


async def command_finished(command: c.CommandFinished, uow: UnitOfWork) -> bool:
    """Each offer's task result: the value sent on success (and for END and ACTIVATE the
    state, its transition and event); on failure the error in words with Allegro's code,
    tried again after a backoff when transient, else surfaced (held, in the history)."""
    repo = uow.repository(SyncRepository)
    offers_repo = uow.repository(OffersRepository)
    held = command.command
    if await repo.held_command(held.command_id, held.claimed_until) is None:
        return False
    rows = await repo.command_offers(held.command_id)
    if command.refused is not None:
        refused = command.refused
        errors = tuple(refused.get("errors") or ())
        results = [
            sync.TaskResult(
                str(r["offer_id"]), False, str(refused["code"]), str(refused["message"]), errors
            )
            for r in rows
        ]
    else:
        results = sync.task_results([str(r["offer_id"]) for r in rows], command.tasks)
    by_offer = {r.offer_id: r for r in results}
    account = await offers_repo.account(held.account_id)
    succeeded: list[dict[str, Any]] = []
    recorded: list[tuple[str, str, dict[str, Any] | None]] = []
    for row in rows:
        result = by_offer[str(row["offer_id"])]
        if result.success:
            succeeded.append(row)
            recorded.append((row["sku"], "success", None))
            continue
        attempts = int(row["sync_attempts"]) + 1
        surfaced = not result.transient or attempts >= command.max_attempts
        error = {
            **sync.failure_reason(held.kind, result, surfaced),
            "command_id": held.command_id,
            "kind": held.kind,
        }
        metrics.sync_task_failures.labels(
            held.kind, "transient" if result.transient else "permanent"
        ).inc()
        retry_in = (
            None
            if surfaced
            else sync.backoff(attempts, command.backoff_seconds, command.backoff_max_seconds)
        )
        await repo.failed(held.account_id, row["sku"], error, retry_in)
        recorded.append((row["sku"], "failed", error))
        if surfaced:
            await repo.note(
                held.account_id, row["sku"], row["state"], f"{held.kind} command failed", error
            )
    revision = max((int(r["price_revision"] or 0) for r in succeeded), default=None)
    await repo.sent(
        held.account_id,
        [r["sku"] for r in succeeded],
        held.kind,
        held.marketplace,
        held.value,
        revision,
    )
    if held.kind == sync.PUBLICATION:
        for row in succeeded:
            await _published_by_command(offers_repo, uow, account, row, held)
    await repo.record_results(held.command_id, recorded)
    await repo.command_done(held.command_id, command.task_count)
    return True


async def _published_by_command(
    repo: OffersRepository,
    uow: UnitOfWork,
    account: dict[str, Any] | None,
    row: dict[str, Any],
    held: c.ClaimedCommand,
) -> None:
    """An END or ACTIVATE Allegro carried out: the state machine's transition and its event."""
    ending = held.value.get("action") == sync.END
    to_state = states.ENDED if ending else states.ACTIVE
    if row["state"] == to_state:
        return
    reason = states.reason("stock_out") if ending else None
    cause = "ended (stock 0)" if ending else "reactivated (restock)"
    await repo.move(held.account_id, row["sku"], row["state"], to_state, cause, reason=reason)
    await uow.repository(SyncRepository).set_allegro_status(
        held.account_id, row["sku"], "ENDED" if ending else "ACTIVE"
    )
    fresh = await repo.offer(held.account_id, row["sku"])
    assert fresh is not None
    if ending:
        await uow.emit(
            OfferEnded(
                account_id=fresh["account_id"],
                sku=fresh["sku"],
                offer_id=fresh["offer_id"],
                reason=_failure(fresh, reason),
            )
        )
    else:
        await uow.emit(_published(fresh, account))


async def retry_sync(command: c.RetrySync, uow: UnitOfWork) -> int:
    return await uow.repository(SyncRepository).retry(command.account_id, command.skus)


# --- operator commands -------------------------------------------------------------------------


async def retry_offers(command: c.RetryOffers, uow: UnitOfWork) -> dict[str, Any]:
    """Failed and not-listable offers are checked again; one already on Allegro is re-read."""
    bad = [s for s in command.states if s not in states.RETRYABLE]
    if bad:
        raise Invalid(
            f"only {', '.join(states.RETRYABLE)} offers can be retried",
            code="invalid_state",
            details=[{"field": "states", "reason": f"{s} cannot be retried"} for s in bad],
        )
    repo = uow.repository(OffersRepository)
    account = await repo.account(command.account_id)
    rows = await repo.offers_in_states(command.account_id, command.states, command.skus)
    cause = f"retried by {command.by}"
    for row in rows:
        if row["offer_id"]:
            # Already on Allegro: read it again, Allegro's state decides.
            await repo.move(
                command.account_id, row["sku"], row["state"], None, cause, work=states.VERIFY
            )
            continue
        await _start_over(repo, account, row, cause)
    return {"retried": len(rows), "skus": [r["sku"] for r in rows]}


async def forget_image_refusals(command: c.ForgetImageRefusals, uow: UnitOfWork) -> dict[str, Any]:
    """Refused image URLs forgotten: the next offer showing one uploads it again, and each
    offer on Allegro that left one out has its gallery sent again (uploading it)."""
    repo = uow.repository(OffersRepository)
    forgotten = await repo.forget_refusals(command.account_id, command.sources)
    regallery: list[str] = []
    if forgotten:
        account = await repo.account(command.account_id)
        cause = f"refused image forgotten by {command.by}"
        urls = set(forgotten)
        for row in await repo.offers_showing(command.account_id, forgotten):
            if not urls & set(wanted_sources(row["content"])):
                continue  # past the gallery's size: never sent
            regallery.append(row["sku"])
            await _reconsider(repo, account, {**row, "sent_images": None}, cause)
        await repo.forget_sent_images(command.account_id, regallery)
    log.info(
        "image_refusals_forgotten",
        account_id=command.account_id,
        by=command.by,
        forgotten=len(forgotten),
        offers=len(regallery),
    )
    return {"forgotten": len(forgotten), "urls": forgotten, "offers_to_edit": regallery}


# --- queries -----------------------------------------------------------------------------------


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    reason = row.get("reason")
    return {
        "sku": row["sku"],
        "state": row["state"],
        "waiting_for": [
            {"item": w, "message": states.WAITING_WORDS.get(w, w)} for w in row["waiting_for"] or []
        ],
        "reason": reason,
        "offer_id": row["offer_id"],
        "allegro_status": row["allegro_status"],
        "marketplaces": row["marketplaces"],
        "stock": row["stock"],
        "next_step": row["work"],
        "next_step_at": row["due_at"],
        "updated_at": row["updated_at"],
    }


async def offers(query: c.ListOffers, uow: UnitOfWork) -> Page[dict[str, Any]]:
    if query.state is not None and query.state not in states.STATES:
        raise Invalid(
            f"unknown state {query.state}",
            code="invalid_state",
            details=[{"field": "state", "reason": f"one of {', '.join(states.STATES)}"}],
        )
    rows = await uow.repository(OffersRepository).offers(
        query.account_id, query.state, query.page.after, query.page.fetch
    )
    page = page_of(rows, query.page, lambda r: str(r["sku"]))
    return Page[dict[str, Any]](items=[_summary(r) for r in page.items], next=page.next)


async def offer(query: c.GetOffer, uow: UnitOfWork) -> dict[str, Any]:
    repo = uow.repository(OffersRepository)
    row = await repo.offer(query.account_id, query.sku)
    if row is None:
        raise NotFound(f"no offer for {query.sku} in account {query.account_id}")
    return {
        **_summary(row),
        "account_id": row["account_id"],
        "listed": row["listed"],
        "catalog_revision": row["catalog_revision"],
        "price_revision": row["price_revision"],
        "prices": row["prices"],
        "unpriced": row["unpriced"],
        "sent": {
            "catalog_revision": row["sent_catalog_revision"],
            "price_revision": row["sent_price_revision"],
            "prices": row["sent_prices"],
            "stock": row["sent_stock"],
            "shipping_rates_id": row["shipping_rates_id"],
            "handling_time": row["sent_handling_time"],
            "images": row["sent_images"],
        },
        "not_sent": row["not_sent"],
        "attempts": row["attempts"],
        "sync": {
            "in_command": row["sync_command_id"],
            "error": row["sync_error"],
            "failed_attempts": row["sync_attempts"],
            "held": row["sync_due_at"] is not None and row["sync_due_at"].year > 9000,
            "last_command": await uow.repository(SyncRepository).last_command(
                query.account_id, query.sku
            ),
        },
        "history": await repo.transitions(query.account_id, query.sku),
    }


async def image_refusals(query: c.ListImageRefusals, uow: UnitOfWork) -> Page[dict[str, Any]]:
    rows = await uow.repository(OffersRepository).refusals(
        query.account_id, query.page.after, query.page.fetch
    )
    page = page_of(rows, query.page, lambda r: str(r["source_url"]))
    retry = timedelta(seconds=query.retry_seconds)
    return Page[dict[str, Any]](
        items=[
            {
                "url": r["source_url"],
                "reason": r["reason"],
                "refused_at": r["refused_at"],
                "uploaded_again_from": r["refused_at"] + retry,
            }
            for r in page.items
        ],
        next=page.next,
    )


# Client ID calls of each offer created, besides its images' uploads: the create and the
# read-back (look-ups by external id go many SKUs a call; a 202's polls are few).
CALLS_PER_CREATE = 2


def creates_per_minute(
    to_do: int, uploads: int, creates_per_minute: float, calls_per_minute: float
) -> float:
    """The offers a minute the budgets allow for what is left: the seller's create limit, or
    the Client ID share once the images still to upload (one call each) are counted."""
    if creates_per_minute <= 0 or calls_per_minute <= 0:
        return 0.0
    if to_do <= 0:
        return min(creates_per_minute, calls_per_minute / CALLS_PER_CREATE)
    minutes = max(
        to_do / creates_per_minute, (to_do * CALLS_PER_CREATE + uploads) / calls_per_minute
    )
    return to_do / minutes


async def progress(query: c.GetProgress, uow: UnitOfWork) -> dict[str, Any]:
    repo = uow.repository(OffersRepository)
    counts = await repo.counts_by_state(query.account_id)
    published = await repo.published_since(query.account_id, query.window_seconds)
    per_minute = published * 60.0 / query.window_seconds
    to_do = sum(counts.get(s, 0) for s in states.TO_DO)
    account = await repo.account(query.account_id)
    uploads = await repo.uploads_to_do(query.account_id, GALLERY_SIZE) if to_do else 0
    budget = creates_per_minute(to_do, uploads, query.creates_per_minute, query.calls_per_minute)
    return {
        "account_id": query.account_id,
        "readiness": (account or {}).get("readiness", "unknown"),
        "paused": bool((account or {}).get("paused")),
        "by_state": {s: counts.get(s, 0) for s in states.STATES},
        "by_marketplace": await repo.counts_by_marketplace(query.account_id),
        # Price and stock sync: offers waiting for a command, in one, and failed (surfaced).
        "sync": await uow.repository(SyncRepository).sync_counts(query.account_id),
        "to_do": to_do,
        "rate_per_minute": round(per_minute, 2),
        "budget_per_minute": round(budget, 2),
        # The budgets that ETA reads: the seller's creates and offers' share of the Client ID.
        "budgets": {
            "creates_per_minute": round(query.creates_per_minute, 2),
            "client_calls_per_minute": round(query.calls_per_minute, 2),
        },
        "images_to_upload": uploads,
        "eta_seconds_at_current_rate": None if per_minute <= 0 else round(to_do / per_minute * 60),
        "eta_seconds_at_budget": round(to_do / budget * 60) if budget > 0 else None,
    }


async def offers_by_state(query: c.CountOffersByState, uow: UnitOfWork) -> list[c.StateCount]:
    """Every account's offers by state and base marketplace (the mci_offers_offers gauge)."""
    found = await uow.repository(OffersRepository).counts_by_state_and_marketplace()
    return [c.StateCount(state, marketplace, n) for state, marketplace, n in found]


async def publication_plan(query: c.PlanPublication, uow: UnitOfWork) -> dict[str, Any]:
    """The offers a dry run judges, and the account they are built with."""
    repo = uow.repository(OffersRepository)
    return {
        "account": await repo.account(query.account_id),
        "offers": await repo.plan(query.account_id, query.limit),
    }


# Event class -> handler, per queue this service consumes (see consumer.py).
CATALOG_HANDLERS: dict[type[Event], Handler] = {CatalogUpdated: catalog_updated}
PRICE_HANDLERS: dict[type[Event], Handler] = {PriceComputed: price_computed}
ACCOUNT_HANDLERS: dict[type[Event], Handler] = {
    AccountConnected: account_connected,
    AccountDisconnected: account_lost,
    AccountRefreshFailed: account_lost,
}
HANDLERS: dict[type[Event], Handler] = {**CATALOG_HANDLERS, **PRICE_HANDLERS, **ACCOUNT_HANDLERS}
