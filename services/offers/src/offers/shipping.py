"""Shipping price lists, the use cases: configure, apply to Allegro, and what offers ask of them.

Handlers take `(message, uow)`; the flows that call Allegro (`configure`, `apply`) do it outside
any unit of work: read in one unit, call Allegro, write each result in the next (a list Allegro
created is recorded at once, so a crash loses at most that one row, found again by its name).

For the offer pipeline: `price_list_for` (the Allegro id of an offer's list), `price_list_choice`
(the same with the reason when there is none), `handling_time_for` and `shipping_readiness`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from offers.domain.shipping import (
    ALLEGRO_LIST_LIMIT,
    ChoosePriceList,
    ClaimApply,
    DeliveryMethod,
    ExistingList,
    FinishApply,
    GetShipping,
    InvalidShipping,
    ListSlot,
    RecordList,
    ReleaseApply,
    SaveShipping,
    ShippingConfiguration,
    choose_slot,
    count_lists,
    fingerprint,
    free_delivery_body,
    rates_body,
    slots,
    validate,
)
from offers.shipping_repository import ShippingRepository, StoredConfiguration, StoredList
from shared.allegro import AllegroClient
from shared.errors import Conflict
from shared.pagination import Page, PageRequest, page_of
from shared.uow import UnitOfWork, UnitsOfWork

# --- Allegro ----------------------------------------------------------------------------------


async def delivery_methods(allegro: AllegroClient, account_id: str) -> dict[str, DeliveryMethod]:
    """Allegro's delivery methods (`GET /sale/delivery-methods`), by id."""
    body = await allegro.get("/sale/delivery-methods", account_id=account_id)
    return {
        str(item["id"]): DeliveryMethod.from_allegro(item)
        for item in body.get("deliveryMethods") or []
        if isinstance(item, dict) and item.get("id")
    }


async def lists_on_allegro(allegro: AllegroClient, account_id: str) -> list[ExistingList]:
    """Every shipping rates set of the account (`GET /sale/shipping-rates`: not paged)."""
    body = await allegro.get("/sale/shipping-rates", account_id=account_id)
    return [
        ExistingList(str(item["id"]), str(item.get("name") or ""))
        for item in body.get("shippingRates") or []
        if isinstance(item, dict) and item.get("id")
    ]


# --- handlers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShippingState:
    configuration: ShippingConfiguration | None
    stored: StoredConfiguration | None
    lists: dict[ListSlot, StoredList]

    def as_dict(self) -> dict[str, Any]:
        stored = self.stored
        return {
            "configuration": None if stored is None else stored.document,
            "version": None if stored is None else stored.version,
            "updated_by": None if stored is None else stored.updated_by,
            "updated_at": None if stored is None else stored.updated_at.isoformat(),
            "applied_version": None if stored is None else stored.applied_version,
            "applied_at": None
            if stored is None or stored.applied_at is None
            else stored.applied_at.isoformat(),
            "lists": [stored_list.as_dict() for stored_list in self.lists.values()],
        }


async def shipping_state(query: GetShipping, uow: UnitOfWork) -> ShippingState:
    repository = uow.repository(ShippingRepository)
    stored = await repository.configuration(query.account_id)
    lists = await repository.price_lists(query.account_id)
    return ShippingState(
        None if stored is None else ShippingConfiguration.from_document(stored.document),
        stored,
        {ListSlot(row.band, row.destination_set): row for row in lists},
    )


async def save_shipping(command: SaveShipping, uow: UnitOfWork) -> dict[str, Any]:
    version = await uow.repository(ShippingRepository).save_configuration(
        command.account_id, command.configuration.as_document(), command.by
    )
    return {"version": version, "configuration": command.configuration.as_document()}


async def claim_apply(command: ClaimApply, uow: UnitOfWork) -> ShippingState:
    repository = uow.repository(ShippingRepository)
    stored = await repository.configuration(command.account_id)
    if stored is None:
        raise Conflict(
            f"account {command.account_id} has no shipping configuration: "
            "PUT /accounts/{account_id}/shipping first",
            code="shipping_not_configured",
        )
    if await repository.claim_apply(command.account_id, command.lease_seconds) is None:
        raise Conflict(
            f"an apply of account {command.account_id}'s shipping lists is under way",
            code="apply_in_progress",
        )
    return await shipping_state(GetShipping(command.account_id), uow)


async def record_list(command: RecordList, uow: UnitOfWork) -> None:
    await uow.repository(ShippingRepository).record_list(
        command.account_id,
        command.slot.band,
        command.slot.destination_set,
        command.allegro_id,
        command.name,
        command.fingerprint,
    )


async def finish_apply(command: FinishApply, uow: UnitOfWork) -> None:
    await uow.repository(ShippingRepository).mark_applied(
        command.account_id, command.configuration.as_document(), command.version
    )


async def release_apply(command: ReleaseApply, uow: UnitOfWork) -> None:
    await uow.repository(ShippingRepository).release_apply(command.account_id)


# --- flows calling Allegro ----------------------------------------------------------------------


def _recorded_ids(state: ShippingState) -> dict[ListSlot, str]:
    return {slot: row.allegro_id for slot, row in state.lists.items()}


async def configure(
    units: UnitsOfWork,
    allegro: AllegroClient,
    command: SaveShipping,
    limit: int = ALLEGRO_LIST_LIMIT,
) -> dict[str, Any]:
    """Validate against Allegro's delivery methods and the account's lists, then save.

    Refused (422, every problem in `details`): unknown methods, bands out of order, prices in
    the wrong currency, the free-delivery rule, and a family that would pass the 250 limit."""
    account_id = command.account_id
    methods = await delivery_methods(allegro, account_id)
    problems = validate(command.configuration, methods)
    state = await units.read(shipping_state, GetShipping(account_id))
    existing = await lists_on_allegro(allegro, account_id)
    count = count_lists(command.configuration, _recorded_ids(state), existing, limit)
    over = count.problem()
    if over is not None:
        problems.append(over)
    if problems:
        raise InvalidShipping(problems)
    saved = await units.handle(save_shipping, command)
    return {**saved, "lists": count.as_dict()}


async def apply(
    units: UnitsOfWork,
    allegro: AllegroClient,
    account_id: str,
    limit: int = ALLEGRO_LIST_LIMIT,
    lease_seconds: float = 300.0,
) -> dict[str, Any]:
    """Create each list of the configuration once, update it in place afterwards.

    Per slot (band, destination set): the recorded list if Allegro still has it, else a list
    with the slot's name (ours, whose row was lost between Allegro's answer and our commit),
    else a new one. An unchanged body is not sent again."""
    state = await units.handle(claim_apply, ClaimApply(account_id, lease_seconds))
    try:
        assert state.configuration is not None and state.stored is not None
        config = state.configuration
        methods = await delivery_methods(allegro, account_id)
        problems = validate(config, methods)
        if problems:  # Allegro's methods changed since the configuration was saved
            raise InvalidShipping(problems)
        existing = await lists_on_allegro(allegro, account_id)
        count = count_lists(config, _recorded_ids(state), existing, limit)
        over = count.problem()
        if over is not None:
            raise Conflict(over.reason, code=over.code, details=[over.as_dict()])
        wanted = slots(config)
        on_allegro = {e.id for e in existing}
        # Lists other slots of this family keep: never adopted by name for another slot.
        taken = {
            row.allegro_id
            for slot, row in state.lists.items()
            if row.allegro_id in on_allegro and slot in wanted
        }
        by_name: dict[str, str] = {}
        for e in existing:
            by_name.setdefault(e.name, e.id)
        outcome = []
        for slot in wanted:
            body = rates_body(config, slot, methods)
            row = state.lists.get(slot)
            known = row.allegro_id if row is not None and row.allegro_id in on_allegro else None
            found = by_name.get(body["name"]) if known is None else None
            if found is not None and found in taken:
                found = None
            list_id, action = await _sync_list(
                units, allegro, account_id, slot, body, known or found, row, found is not None
            )
            taken.add(list_id)
            outcome.append(
                {
                    "band": slot.band,
                    "destination_set": slot.destination_set,
                    "id": list_id,
                    "name": body["name"],
                    "action": action,
                }
            )
        previously = (state.stored.applied_document or {}).get("free_delivery") or {}
        free = await apply_free_delivery(allegro, account_id, config, previously)
        await units.handle(finish_apply, FinishApply(account_id, config, state.stored.version))
    finally:
        await units.handle(release_apply, ReleaseApply(account_id))
    counts = {a: sum(1 for o in outcome if o["action"] == a) for a in _ACTIONS}
    return {"version": state.stored.version, "lists": outcome, **counts, "free_delivery": free}


_ACTIONS = ("created", "updated", "found", "unchanged")


async def _sync_list(
    units: UnitsOfWork,
    allegro: AllegroClient,
    account_id: str,
    slot: ListSlot,
    body: dict[str, Any],
    list_id: str | None,
    row: StoredList | None,
    found_by_name: bool,
) -> tuple[str, str]:
    """One slot's list on Allegro: created, updated in place, or left as it is; its id recorded
    in its own transaction as soon as Allegro has answered. (id, action)"""
    sent = fingerprint(body)
    if list_id is None:
        response = await allegro.post("/sale/shipping-rates", body, account_id=account_id)
        list_id, action = str(response.json()["id"]), "created"
    elif not found_by_name and row is not None and row.fingerprint == sent:
        return list_id, "unchanged"
    else:
        path = f"/sale/shipping-rates/{list_id}"
        await allegro.put(path, {**body, "id": list_id}, account_id=account_id)
        action = "found" if found_by_name else "updated"
    await units.handle(record_list, RecordList(account_id, slot, list_id, body["name"], sent))
    return list_id, action


async def apply_free_delivery(
    allegro: AllegroClient,
    account_id: str,
    config: ShippingConfiguration,
    previously: Collection[str],
) -> list[dict[str, Any]]:
    """Each marketplace's free-delivery threshold onto Allegro's delivery settings: those the
    configuration names, and those a previous apply set (cleared when no longer named)."""
    outcome = []
    for marketplace in sorted(set(config.free_delivery) | set(previously)):
        params = {"marketplace.id": marketplace}
        current = await allegro.get("/sale/delivery-settings", account_id=account_id, params=params)
        wanted = config.free_delivery.get(marketplace)
        body = free_delivery_body(marketplace, wanted, current)
        if body is not None:
            await allegro.put("/sale/delivery-settings", body, account_id=account_id)
        action = "unchanged" if body is None else ("set" if wanted is not None else "cleared")
        outcome.append({"marketplace": marketplace, "action": action})
    return outcome


async def delivery_method_page(
    units: UnitsOfWork, allegro: AllegroClient, account_id: str, page: PageRequest
) -> Page[dict[str, Any]]:
    """Allegro's delivery methods with whether the account's configuration enables them, by id."""
    state = await units.read(shipping_state, GetShipping(account_id))
    enabled = set(state.configuration.delivery_methods) if state.configuration else set()
    methods = sorted((await delivery_methods(allegro, account_id)).values(), key=lambda m: m.id)
    after = [m for m in methods if page.after is None or m.id > page.after][: page.fetch]
    found = page_of(after, page, lambda m: m.id)
    return Page[dict[str, Any]](
        items=[
            {
                "id": m.id,
                "name": m.name,
                "marketplace": m.marketplace,
                "destination_country": m.destination_country,
                "currency": m.currency,
                "payment_policy": m.payment_policy,
                "max_package_weight_supported": m.weight_supported,
                "allowed": m.allowed,
                "enabled": m.id in enabled,
            }
            for m in found.items
        ],
        next=found.next,
    )


# --- what the offer pipeline asks -------------------------------------------------------------


def _repository(uow_or_conn: UnitOfWork | AsyncConnection) -> ShippingRepository:
    if isinstance(uow_or_conn, UnitOfWork):
        return uow_or_conn.repository(ShippingRepository)
    return ShippingRepository(uow_or_conn)


@dataclass(frozen=True)
class PriceListChoice:
    """The Allegro id of an offer's shipping price list, or why it has none."""

    list_id: str | None
    reason: str | None = None
    # True when the product itself has no list (no weight, above the last band), False when
    # the account has none yet (not configured, not applied): not listable vs not ready.
    per_product: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.list_id, "reason": self.reason}


async def price_list_choice(
    uow_or_conn: UnitOfWork | AsyncConnection,
    account_id: str,
    weight_kg: Decimal | None,
    marketplaces: Iterable[str],
) -> PriceListChoice:
    """From the last applied configuration (the lists Allegro has), not a newer one."""
    repository = _repository(uow_or_conn)
    stored = await repository.configuration(account_id)
    if stored is None:
        return PriceListChoice(None, "the account has no shipping configuration")
    if stored.applied_document is None:
        return PriceListChoice(None, "the account's shipping price lists are not applied yet")
    config = ShippingConfiguration.from_document(stored.applied_document)
    choice = choose_slot(config, weight_kg, marketplaces)
    if choice.slot is None:
        return PriceListChoice(None, choice.reason, per_product=True)
    found = await repository.price_list(account_id, choice.slot.band, choice.slot.destination_set)
    if found is None:
        return PriceListChoice(None, "the band's price list is not recorded: apply again")
    return PriceListChoice(found)


async def price_list_for(
    uow_or_conn: UnitOfWork | AsyncConnection,
    account_id: str,
    weight_kg: Decimal | None,
    marketplaces: Collection[str],
) -> str | None:
    """The Allegro id of the list of the band covering `weight_kg` (a band includes its max)
    in the smallest enabled destination set reaching `marketplaces`; None when the weight is
    missing or above the last band (`price_list_choice` says why)."""
    return (await price_list_choice(uow_or_conn, account_id, weight_kg, marketplaces)).list_id


async def choose_price_list(query: ChoosePriceList, uow: UnitOfWork) -> PriceListChoice:
    return await price_list_choice(uow, query.account_id, query.weight_kg, query.marketplaces)


async def handling_time_for(
    uow_or_conn: UnitOfWork | AsyncConnection, account_id: str
) -> str | None:
    """The offer's `delivery.handlingTime` from the applied configuration."""
    stored = await _repository(uow_or_conn).configuration(account_id)
    if stored is None or stored.applied_document is None:
        return None
    return str(stored.applied_document["handling_time"])


@dataclass(frozen=True)
class MissingItem:
    """Something an account lacks before its offers can be published, and how to fix it."""

    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


async def shipping_readiness(
    uow_or_conn: UnitOfWork | AsyncConnection,
    account_id: str,
    allegro: AllegroClient | None = None,
) -> list[MissingItem]:
    """What keeps the account's shipping from being ready: not configured, not applied (or the
    configuration changed since), and, given `allegro`, applied lists Allegro no longer has.
    Call it with `allegro` only on a read connection: it waits on Allegro."""
    repository = _repository(uow_or_conn)
    stored = await repository.configuration(account_id)
    where = f"/accounts/{account_id}/shipping"
    if stored is None:
        return [
            MissingItem(
                "shipping_not_configured",
                f"no shipping configuration: PUT {where} (delivery methods, weight bands, "
                f"handling time, destination sets), then POST {where}/apply",
            )
        ]
    missing: list[MissingItem] = []
    if stored.applied_document is None or stored.applied_version != stored.version:
        state = "never applied" if stored.applied_version is None else "changed since applied"
        missing.append(
            MissingItem(
                "shipping_not_applied",
                f"shipping configuration version {stored.version} is {state}: POST {where}/apply",
            )
        )
    if stored.applied_document is None:
        return missing
    config = ShippingConfiguration.from_document(stored.applied_document)
    lists = {
        ListSlot(r.band, r.destination_set): r for r in await repository.price_lists(account_id)
    }
    wanted = [lists.get(slot) for slot in slots(config)]
    if any(row is None for row in wanted):
        missing.append(
            MissingItem(
                "shipping_lists_not_recorded",
                f"some price lists of the applied configuration are not recorded: "
                f"POST {where}/apply",
            )
        )
    if allegro is not None:
        on_allegro = {e.id for e in await lists_on_allegro(allegro, account_id)}
        for row in wanted:
            if row is not None and row.allegro_id not in on_allegro:
                missing.append(
                    MissingItem(
                        "shipping_list_missing",
                        f"price list {row.name!r} ({row.allegro_id}) is no longer on Allegro: "
                        f"POST {where}/apply creates it again",
                    )
                )
    return missing


async def readiness(
    units: UnitsOfWork, allegro: AllegroClient, account_id: str
) -> list[MissingItem]:
    """`shipping_readiness` on a read connection, Allegro included."""
    return await units.read(_readiness, _Readiness(account_id, allegro))


@dataclass(frozen=True)
class _Readiness:
    account_id: str
    allegro: AllegroClient


async def _readiness(query: _Readiness, uow: UnitOfWork) -> list[MissingItem]:
    return await shipping_readiness(uow, query.account_id, query.allegro)
