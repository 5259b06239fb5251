"""The offer-event journal: `GET /sale/offer-events` (allegro-api.md section 11).

Only live (ACTIVE/ACTIVATING) offers produce events, except OFFER_ENDED; the last 24 hours are
kept; `from` is exclusive, and an unknown or expired `from` is a 400.
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request
from starlette.responses import Response

from allegro_emulator.errors import AllegroError
from allegro_emulator.state import Emulator, Json, Offer, Seller, iso
from allegro_emulator.web import query_int, query_list, respond, seller

router = APIRouter()


def emit_offer_event(
    emu: Emulator,
    user: Seller,
    kind: str,
    offer: Offer,
    extra: Json | None = None,
    *,
    force: bool = False,
) -> None:
    """Append to the seller's offer-event journal (only live offers produce events, unless
    `force`: an offer that has just dropped out still reports why)."""
    status = offer.data["publication"]["status"]
    if not force and kind != "OFFER_ENDED" and status not in ("ACTIVE", "ACTIVATING"):
        return
    emu.world.next_event_id += 1
    event_id = base64.urlsafe_b64encode(
        f"offer-event:{emu.world.next_event_id:016d}".encode()
    ).decode()
    ref: Json = {"id": offer.data["id"]}
    external = offer.data.get("external")
    if external:
        ref["external"] = external
    ref.update(extra or {})
    user.offer_events.append(
        {"id": event_id, "type": kind, "occurredAt": iso(emu.now()), "offer": ref}
    )


@router.get("/sale/offer-events")
async def offer_events(request: Request) -> Response:
    emu, user = seller(request)
    emu.run_due()
    limit = query_int(request, "limit", 100, 1, 1000, status=400)
    types = set(query_list(request, "type"))
    start = request.query_params.get("from")
    horizon = iso(emu.now() - emu.config.offer_event_retention_hours * 3600)
    events = user.offer_events
    index = 0
    if start:
        # `from` is exclusive; ids sort in the order they were issued.
        found = next((i for i in range(len(events) - 1, -1, -1) if events[i]["id"] == start), None)
        if found is None or events[found]["occurredAt"] < horizon:
            # An unknown or expired id is refused (the spec's 400), never read as "from the
            # oldest": a client must notice that it lost events. No source names the code.
            raise AllegroError(
                400,
                "VALIDATION_ERROR",
                f"Unknown or expired event id: {start}",
                path="from",
                user_message="The event id is unknown or older than the last 24 hours.",
            )
        index = found + 1
    page = []
    for event in events[index:]:
        if event["occurredAt"] < horizon or (types and event["type"] not in types):
            continue
        page.append(event)
        if len(page) >= limit:
            break
    return respond({"offerEvents": page})
