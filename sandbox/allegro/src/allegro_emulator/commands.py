"""Batch commands (allegro-api.md section 6): price, quantity, modification and publication.

The client names each command with its own UUID; reusing one gives 409. The PUT answers 201 with
all-zero counts and the tasks settle asynchronously (config `command_seconds`), one per offer,
each SUCCESS or FAIL with errors. Limits are counted in offer changes, per minute and per hour.
"""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from allegro_emulator import gpsr
from allegro_emulator.errors import AllegroError, error
from allegro_emulator.marketplaces import check_price_format, schedule_qualification
from allegro_emulator.offer_events import emit_offer_event
from allegro_emulator.offer_lifecycle import (
    MAX_STOCK,
    activate,
    activation_errors,
    end,
    resolve_settings,
    set_price,
    set_stock,
)
from allegro_emulator.seed import MARKETPLACES
from allegro_emulator.state import Command, Emulator, Json, Offer, Seller, iso, parse_iso
from allegro_emulator.web import body_json, query_int, respond, seller

router = APIRouter()

MAX_OFFERS = 1000
PATHS = {
    "price": "/sale/offer-price-change-commands",
    "quantity": "/sale/offer-quantity-change-commands",
    "modification": "/sale/offer-modification-commands",
    "publication": "/sale/offer-publication-commands",
}


class TaskFailure(Exception):
    def __init__(self, code: str, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.error = error(code, message, path=path)


def _offer_ids(body: Json) -> list[str]:
    criteria = body.get("offerCriteria")
    if not isinstance(criteria, list) or not criteria:
        raise AllegroError(
            422, "VALIDATION_ERROR", "offerCriteria is required", path="offerCriteria"
        )
    ids: list[str] = []
    for i, criterion in enumerate(criteria):
        if (criterion or {}).get("type", "CONTAINS_OFFERS") != "CONTAINS_OFFERS":
            raise AllegroError(
                422,
                "VALIDATION_ERROR",
                "Only CONTAINS_OFFERS is supported",
                path=f"offerCriteria[{i}].type",
            )
        ids += [str(o.get("id")) for o in (criterion.get("offers") or [])]
    if not ids:
        raise AllegroError(
            422, "VALIDATION_ERROR", "No offers given", path="offerCriteria[0].offers"
        )
    if len(ids) > MAX_OFFERS:
        raise AllegroError(
            422,
            "VALIDATION_ERROR",
            f"You can add up to {MAX_OFFERS} offers",
            path="offerCriteria[0].offers",
        )
    return ids


def _validate(kind: str, user: Seller, body: Json) -> None:
    if kind == "price":
        mod = body.get("modification") or {}
        kind_of = mod.get("type")
        marketplace = mod.get("marketplaceId") or user.base_marketplace
        if marketplace not in MARKETPLACES:
            raise AllegroError(
                422,
                "VALIDATION_ERROR",
                f"Unknown marketplace {marketplace}",
                path="modification.marketplaceId",
            )
        if kind_of == "FIXED_PRICE":
            check_price_format(mod.get("price"), marketplace, "modification.price")
        elif kind_of in ("INCREASE_PRICE", "DECREASE_PRICE"):
            check_price_format(mod.get("value"), marketplace, "modification.value")
        elif kind_of in ("INCREASE_PERCENTAGE", "DECREASE_PERCENTAGE"):
            try:
                Decimal(str(mod.get("percentage")))
            except ArithmeticError:
                raise AllegroError(
                    422,
                    "VALIDATION_ERROR",
                    "percentage must be a number",
                    path="modification.percentage",
                ) from None
        else:
            raise AllegroError(
                422,
                "VALIDATION_ERROR",
                f"Unknown modification type {kind_of}",
                path="modification.type",
            )
    elif kind == "quantity":
        mod = body.get("modification") or {}
        value = mod.get("value")
        if mod.get("changeType") not in ("FIXED", "GAIN") or not isinstance(value, int):
            raise AllegroError(
                422,
                "VALIDATION_ERROR",
                "changeType FIXED or GAIN and an integer value required",
                path="modification",
            )
        if mod["changeType"] == "FIXED" and value < 1:
            # FIXED must be >= 1: to stop selling use the publication command END.
            raise AllegroError(
                422,
                "INCORRECT_QUANTITY_VALUE",
                "Quantity must be greater than or equal to 1",
                path="modification.value",
            )
    elif kind == "publication":
        publication = body.get("publication") or {}
        if publication.get("action") not in ("ACTIVATE", "END"):
            raise AllegroError(
                422, "VALIDATION_ERROR", "action must be ACTIVATE or END", path="publication.action"
            )
    elif kind == "modification" and not isinstance(body.get("modification"), dict):
        raise AllegroError(422, "VALIDATION_ERROR", "modification is required", path="modification")


def _new_price(offer: Offer, marketplace: str, base: str, mod: Json) -> Json:
    currency = MARKETPLACES[marketplace]["currency"]
    kind = mod["type"]
    if kind == "FIXED_PRICE":
        return {"amount": str(mod["price"]["amount"]), "currency": currency}
    if marketplace == base:
        current = (offer.data["sellingMode"] or {}).get("price")
    else:
        entry = (offer.data.get("additionalMarketplaces") or {}).get(marketplace) or {}
        current = (entry.get("sellingMode") or {}).get("price")
    if not current:
        raise TaskFailure(
            "VALIDATION_ERROR", f"The offer has no price on {marketplace}", "sellingMode.price"
        )
    amount = Decimal(current["amount"])
    if kind in ("INCREASE_PRICE", "DECREASE_PRICE"):
        delta = Decimal(str(mod["value"]["amount"]))
        amount = amount + delta if kind == "INCREASE_PRICE" else amount - delta
    else:
        pct = Decimal(str(mod["percentage"])) / 100
        amount = amount * (1 + pct if kind == "INCREASE_PERCENTAGE" else 1 - pct)
    step = Decimal("1") if currency in ("CZK", "HUF") else Decimal("0.01")
    amount = amount.quantize(step, rounding=ROUND_HALF_UP)
    if currency == "HUF":
        amount = (amount / 5).quantize(Decimal(1), rounding=ROUND_HALF_UP) * 5
    if amount <= 0:
        raise TaskFailure(
            "VALIDATION_ERROR", "The resulting price must be greater than zero", "sellingMode.price"
        )
    return {"amount": f"{amount:.2f}" if step < 1 else str(int(amount)), "currency": currency}


def _apply(emu: Emulator, user: Seller, kind: str, body: Json, offer: Offer, now: float) -> None:
    """Carry out one task; raise TaskFailure to fail it."""
    status = offer.data["publication"]["status"]
    if kind == "price":
        mod = body["modification"]
        marketplace = mod.get("marketplaceId") or user.base_marketplace
        set_price(
            emu,
            user,
            offer,
            marketplace,
            _new_price(offer, marketplace, user.base_marketplace, mod),
        )
    elif kind == "quantity":
        mod = body["modification"]
        current = offer.data["stock"]["available"]
        target = mod["value"] if mod["changeType"] == "FIXED" else current + mod["value"]
        if target < 0 or target > MAX_STOCK:
            raise TaskFailure(
                "INCORRECT_QUANTITY_VALUE",
                f"Resulting quantity {target} is out of range",
                "stock.available",
            )
        set_stock(emu, user, offer, target)
    elif kind == "publication":
        action = body["publication"]["action"]
        scheduled = body["publication"].get("scheduledFor")
        if scheduled and parse_iso(scheduled) < now - 1:
            raise TaskFailure(
                "VALIDATION_ERROR", "scheduledFor is in the past", "publication.scheduledFor"
            )
        if action == "END":
            if status not in ("ACTIVE", "ACTIVATING"):
                raise TaskFailure(
                    "VALIDATION_ERROR", "Only an active offer can be ended", "publication.status"
                )
            end(emu, user, offer, "USER")
        else:
            if status in ("ACTIVE", "ACTIVATING"):
                return
            problems = activation_errors(emu, offer)
            if problems:
                raise TaskFailure(problems[0]["code"], problems[0]["message"], problems[0]["path"])
            activate(emu, user, offer)
    else:
        changes: Json = body["modification"]
        data = offer.data
        candidate: Json = {**data}
        if "delivery" in changes:
            candidate["delivery"] = {
                **data["delivery"],
                **{k: v for k, v in changes["delivery"].items() if v},
            }
        try:
            resolve_settings(user, candidate, {"delivery": changes.get("delivery") or {}})
        except AllegroError as exc:
            raise TaskFailure(
                exc.errors[0]["code"], exc.errors[0]["message"], exc.errors[0]["path"]
            ) from None
        for key in ("location", "payments"):
            if key in changes:
                candidate[key] = {**(data.get(key) or {}), **changes[key]}
        safety: Json = {
            k: changes[k]
            for k in ("responsibleProducer", "responsiblePerson", "safetyInformation")
            if k in changes
        }
        if safety:
            element = {**data["productSet"][0]}
            candidate["productSet"] = [element, *data["productSet"][1:]]
            try:
                gpsr.apply_product_safety(user, element, safety, data.get("parameters"))
            except AllegroError as exc:
                raise TaskFailure(
                    exc.errors[0]["code"], exc.errors[0]["message"], exc.errors[0]["path"]
                ) from None
        if "publication" in changes:
            candidate["publication"] = {
                **data["publication"],
                "duration": changes["publication"].get("duration"),
            }
        offer.data = candidate
        candidate["updatedAt"] = iso(now)
        emit_offer_event(emu, user, "OFFER_CHANGED", offer)
        if candidate["publication"]["status"] in ("ACTIVE", "ACTIVATING"):
            schedule_qualification(emu, user, offer)


def _process(emu: Emulator, user: Seller, command: Command) -> None:
    now = emu.now()
    for task in command.tasks:
        if task["status"] != "NEW":
            continue
        offer = user.offers.get(task["offer"]["id"])
        try:
            if offer is None:
                raise TaskFailure(
                    "OfferNotFoundException", f"Offer {task['offer']['id']} not found"
                )
            _apply(emu, user, command.kind, command.body, offer, now)
            task["status"], task["message"] = "SUCCESS", ""
        except TaskFailure as failure:
            task["status"], task["message"], task["errors"] = (
                "FAIL",
                failure.error["message"],
                [failure.error],
            )
        task["finishedAt"] = iso(now)
        if offer is not None and offer.busy.get(command.kind) == command.id:
            del offer.busy[command.kind]
    command.completed_at = now


def _report(command: Command) -> Json:
    success = sum(1 for t in command.tasks if t["status"] == "SUCCESS")
    failed = sum(1 for t in command.tasks if t["status"] == "FAIL")
    return {
        "id": command.id,
        "createdAt": iso(command.created_at),
        "completedAt": iso(command.completed_at) if command.completed_at else None,
        "taskCount": {"total": len(command.tasks), "success": success, "failed": failed},
    }


async def _put(request: Request, kind: str, command_id: str) -> Response:
    emu, user = seller(request)
    try:
        uuid.UUID(command_id)
    except ValueError:
        raise AllegroError(
            422, "VALIDATION_ERROR", "commandId must be a UUID", path="commandId"
        ) from None
    if (kind, command_id) in user.commands:
        raise AllegroError(
            409,
            "VALIDATION_ERROR",
            f"Command {command_id} already exists",
            user_message="A command with this id already exists.",
            user_message_pl="Komenda o podanym identyfikatorze już istnieje.",
        )
    body = await body_json(request)
    ids = _offer_ids(body)
    _validate(kind, user, body)
    emu.limiter.check(f"offer-changes:{kind}", user.id, emu.now(), amount=len(ids))
    now = emu.now()
    scheduled_at = iso(now)
    tasks: list[Json] = []
    for offer_id in ids:
        task: dict[str, Any] = {
            "offer": {"id": offer_id},
            "status": "NEW",
            "message": "",
            "errors": [],
            "scheduledAt": scheduled_at,
        }
        offer = user.offers.get(offer_id)
        if offer is not None and kind in offer.busy:
            # Overlapping commands on one offer are refused (allegro/allegro-api#11225).
            task.update(
                status="FAIL",
                message="Previous status changes have not been finished yet",
                errors=[
                    error(
                        "InProgressTaskLimitReachedException",
                        "Previous status changes have not been finished yet",
                    )
                ],
                finishedAt=iso(now),
            )
        elif offer is not None:
            offer.busy[kind] = command_id
        tasks.append(task)
    command = Command(kind, command_id, body, now, tasks)
    user.commands[(kind, command_id)] = command
    emu.schedule(emu.config.command_seconds, lambda: _process(emu, user, command))
    # Right after the PUT the counts are all zero: processing is asynchronous (#2067).
    return respond(
        {
            "id": command_id,
            "createdAt": iso(now),
            "completedAt": None,
            "taskCount": {"total": 0, "success": 0, "failed": 0},
        },
        201,
    )


def _command(request: Request, kind: str, command_id: str) -> Command:
    emu, user = seller(request)
    emu.run_due()
    command = user.commands.get((kind, command_id))
    if command is None:
        raise AllegroError(404, "COMMAND_NOT_FOUND", "Command not found.")
    return command


def _tasks(request: Request, kind: str, command_id: str) -> Response:
    command = _command(request, kind, command_id)
    limit = query_int(request, "limit", 100, 1, 1000)
    offset = query_int(request, "offset", 0, 0, 999)
    return respond({"tasks": command.tasks[offset : offset + limit]})


@router.put(PATHS["price"] + "/{commandId}")
async def put_price_command(request: Request, commandId: str) -> Response:
    return await _put(request, "price", commandId)


@router.get(PATHS["price"] + "/{commandId}")
async def get_price_command(request: Request, commandId: str) -> Response:
    return respond(_report(_command(request, "price", commandId)))


@router.get(PATHS["price"] + "/{commandId}/tasks")
async def get_price_tasks(request: Request, commandId: str) -> Response:
    return _tasks(request, "price", commandId)


@router.put(PATHS["quantity"] + "/{commandId}")
async def put_quantity_command(request: Request, commandId: str) -> Response:
    return await _put(request, "quantity", commandId)


@router.get(PATHS["quantity"] + "/{commandId}")
async def get_quantity_command(request: Request, commandId: str) -> Response:
    return respond(_report(_command(request, "quantity", commandId)))


@router.get(PATHS["quantity"] + "/{commandId}/tasks")
async def get_quantity_tasks(request: Request, commandId: str) -> Response:
    return _tasks(request, "quantity", commandId)


@router.put(PATHS["modification"] + "/{commandId}")
async def put_modification_command(request: Request, commandId: str) -> Response:
    return await _put(request, "modification", commandId)


@router.get(PATHS["modification"] + "/{commandId}")
async def get_modification_command(request: Request, commandId: str) -> Response:
    return respond(_report(_command(request, "modification", commandId)))


@router.get(PATHS["modification"] + "/{commandId}/tasks")
async def get_modification_tasks(request: Request, commandId: str) -> Response:
    return _tasks(request, "modification", commandId)


@router.put(PATHS["publication"] + "/{commandId}")
async def put_publication_command(request: Request, commandId: str) -> Response:
    return await _put(request, "publication", commandId)


@router.get(PATHS["publication"] + "/{commandId}")
async def get_publication_command(request: Request, commandId: str) -> Response:
    return respond(_report(_command(request, "publication", commandId)))


@router.get(PATHS["publication"] + "/{commandId}/tasks")
async def get_publication_tasks(request: Request, commandId: str) -> Response:
    return _tasks(request, "publication", commandId)
