"""Drift: how an offer on Allegro differs from what the platform holds for it, and the repair of
each difference. Pure: no I/O.

The platform keeps, per offer, what it wants (stock, prices) beside what it sent. Allegro's
value equal to either is ours (sent, or being sent), so it is no drift; anything else was
changed outside the platform (the seller on allegro.pl, another tool) and is reported, field by
field, with the repair:

- `resend`: price or stock differ; the sent value is set to Allegro's, so the sync sees sent
  against wanted and pushes the wanted value again.
- `reactivate`: Allegro ended an offer we want live; the offer is `ended` here and the publisher
  reactivates it (state machine: ended -> active on stock).
- `end`: Allegro shows live an offer we ended or want ended; the publisher ends it.
- `verify`: Allegro turned an offer we hold live into a draft; the publisher reads it back.
- `recreate`: we hold a live offer Allegro does not have; the offer is checked and created again
  (the create looks the SKU up by external id first: never twice).
- `adopt`: Allegro has an offer whose external id is a SKU we manage and we hold none for it;
  its id and state are recorded here.
- None: reported only (an offer of a SKU we do not manage, or one the worker holds right now).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from offers.domain import states
from shared.pagination import PageRequest

PRICE = "price"
STOCK = "stock"
ENDED = "ended"
STATUS = "status"
MISSING = "missing_on_allegro"
UNKNOWN = "unknown_to_us"
KINDS = (PRICE, STOCK, ENDED, STATUS, MISSING, UNKNOWN)

RESEND = "resend"
REACTIVATE = "reactivate"
END = "end"
VERIFY = "verify"
RECREATE = "recreate"
ADOPT = "adopt"
REPAIRS = (RESEND, REACTIVATE, END, VERIFY, RECREATE, ADOPT)

LIVE_ON_ALLEGRO = ("ACTIVE", "ACTIVATING")
# Offer events that can carry a change outside the platform; others are counted and skipped.
EVENT_KINDS: dict[str, tuple[str, ...]] = {
    "OFFER_PRICE_CHANGED": (PRICE,),
    "OFFER_STOCK_CHANGED": (STOCK,),
    "OFFER_ENDED": (ENDED,),
    "OFFER_ARCHIVED": (ENDED,),
    "OFFER_ACTIVATED": (STATUS,),
    "OFFER_CHANGED": (STATUS, PRICE, STOCK),
    "OFFER_VISIBILITY_CHANGED": (STATUS,),
}


@dataclass(frozen=True)
class Ours:
    """What we hold for one offer (a row of `offers`)."""

    sku: str
    state: str
    offer_id: str | None
    listed: bool
    stock: int
    sent_stock: int | None
    price: dict[str, Any] | None  # wanted, base marketplace: {amount, currency}
    sent_price: dict[str, Any] | None
    busy: bool = False  # the worker holds it now: report, repair later

    @property
    def wanted_live(self) -> bool:
        return self.listed and self.stock > 0

    @property
    def live(self) -> bool:
        return self.state in (states.ACTIVE, states.INACTIVE) and self.offer_id is not None


@dataclass(frozen=True)
class OnAllegro:
    """One offer as Allegro lists it (`GET /sale/offers`)."""

    offer_id: str
    sku: str | None  # external.id
    status: str
    price: dict[str, Any] | None
    stock: int | None
    ended_by: str | None = None


@dataclass(frozen=True)
class Drift:
    kind: str
    field: str
    ours: Any
    allegro: Any
    repair: str | None


def ours_of(row: dict[str, Any], base_marketplace: str, busy: bool = False) -> Ours:
    return Ours(
        sku=str(row["sku"]),
        state=str(row["state"]),
        offer_id=row.get("offer_id"),
        listed=bool(row.get("listed")),
        stock=int(row.get("stock") or 0),
        sent_stock=row.get("sent_stock"),
        price=(row.get("prices") or {}).get(base_marketplace),
        sent_price=(row.get("sent_prices") or {}).get(base_marketplace),
        busy=busy,
    )


def on_allegro_of(item: dict[str, Any]) -> OnAllegro:
    """A `GET /sale/offers` item (or a product-offer) as compared here."""
    publication = item.get("publication") or {}
    stock = (item.get("stock") or {}).get("available")
    return OnAllegro(
        offer_id=str(item["id"]),
        sku=(item.get("external") or {}).get("id"),
        status=str(publication.get("status") or ""),
        price=((item.get("sellingMode") or {}).get("price")) or None,
        stock=None if stock is None else int(stock),
        ended_by=publication.get("endedBy"),
    )


def _amount(price: dict[str, Any] | None) -> tuple[Decimal, str] | None:
    if not price:
        return None
    try:
        return Decimal(str(price["amount"])), str(price.get("currency") or "")
    except (KeyError, InvalidOperation):
        return None


def same_price(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """49.9 PLN is 49.90 PLN."""
    return _amount(a) is not None and _amount(a) == _amount(b)


def _repair(ours: Ours, repair: str) -> str | None:
    return None if ours.busy else repair


def compare(ours: Ours, theirs: OnAllegro) -> list[Drift]:
    """The differences of one offer we hold and Allegro's offer of its SKU."""
    if ours.state in (states.CHECKING, states.CREATING) or ours.offer_id is None:
        # A create in flight (or one whose answer we have not stored yet): the publisher's.
        return []
    found: list[Drift] = []
    live_there = theirs.status in LIVE_ON_ALLEGRO
    if theirs.status == "ENDED" or theirs.status == "ARCHIVED":
        if ours.wanted_live and ours.state != states.ENDED:
            allegro = {"status": theirs.status, "endedBy": theirs.ended_by}
            found.append(Drift(ENDED, "status", "ACTIVE", allegro, _repair(ours, REACTIVATE)))
    elif live_there and ours.state == states.ENDED and not ours.wanted_live:
        found.append(Drift(STATUS, "status", "ENDED", theirs.status, _repair(ours, END)))
    elif theirs.status == "INACTIVE" and ours.state == states.ACTIVE:
        found.append(Drift(STATUS, "status", "ACTIVE", "INACTIVE", _repair(ours, VERIFY)))
    if theirs.status == "ARCHIVED" or ours.state not in (
        states.ACTIVE,
        states.INACTIVE,
        states.ENDED,
    ):
        return found
    # Compared whatever the status: a price changed just before the seller ended the offer is
    # drift too (read after both events, Allegro shows the offer ended).
    priced = ours.price is not None or ours.sent_price is not None  # else nothing to compare
    if (
        priced
        and theirs.price is not None
        and not any(same_price(theirs.price, p) for p in (ours.sent_price, ours.price))
    ):
        ours_price = ours.price or ours.sent_price
        found.append(Drift(PRICE, "price", ours_price, theirs.price, _repair(ours, RESEND)))
    if theirs.stock is not None and theirs.stock not in (ours.sent_stock, ours.stock):
        found.append(Drift(STOCK, "stock", ours.stock, theirs.stock, _repair(ours, RESEND)))
    return found


def missing(ours: Ours) -> Drift | None:
    """Our offer whose SKU Allegro has no offer for."""
    if ours.live or (ours.state == states.ENDED and ours.offer_id and ours.wanted_live):
        return Drift(MISSING, "offer", ours.offer_id, None, _repair(ours, RECREATE))
    return None


def unknown(theirs: OnAllegro, ours: Ours | None) -> Drift | None:
    """Allegro's offer that we hold nothing for: adopted when its external id is a SKU we
    manage (a row without an offer id, not being created right now), reported otherwise."""
    if ours is not None and ours.offer_id == theirs.offer_id:
        return None
    if ours is not None and ours.offer_id is not None:
        return None  # a second offer of one SKU: ours is the one we hold; compare() covers it
    allegro = {"offer_id": theirs.offer_id, "status": theirs.status}
    adoptable = ours is not None and ours.state not in (states.CHECKING, states.CREATING)
    repair = ADOPT if adoptable and ours is not None and not ours.busy else None
    return Drift(UNKNOWN, "offer", None, allegro, repair)


@dataclass(frozen=True)
class Finding:
    sku: str | None
    offer_id: str | None
    drift: Drift


def reconcile(ours: Iterable[Ours], theirs: Iterable[OnAllegro]) -> list[Finding]:
    """Every difference between our offers and Allegro's, matched by external id (SKU).

    Several Allegro offers of one SKU: the one we hold is compared, else the live one."""
    by_sku: dict[str, list[OnAllegro]] = {}
    foreign: list[OnAllegro] = []
    for offer in theirs:
        if offer.sku:
            by_sku.setdefault(offer.sku, []).append(offer)
        else:
            foreign.append(offer)
    found: list[Finding] = []
    held = {o.sku: o for o in ours}
    for sku, mine in held.items():
        there = by_sku.get(sku) or []
        if not there:
            gone = missing(mine)
            if gone is not None:
                found.append(Finding(sku, mine.offer_id, gone))
            continue
        match = next((t for t in there if t.offer_id == mine.offer_id), None)
        if match is None:
            match = next((t for t in there if t.status in LIVE_ON_ALLEGRO), there[0])
            if mine.offer_id is not None:
                # Ours is not on Allegro, another offer of the SKU is.
                gone = missing(mine)
                if gone is not None:
                    found.append(Finding(sku, mine.offer_id, gone))
                continue
            drift = unknown(match, mine)
            if drift is not None:
                found.append(Finding(sku, match.offer_id, drift))
            continue
        found += [Finding(sku, match.offer_id, d) for d in compare(mine, match)]
    for sku, there in by_sku.items():
        if sku not in held:
            for offer in there:
                drift = unknown(offer, None)
                if drift is not None:
                    found.append(Finding(sku, offer.offer_id, drift))
    for offer in foreign:
        drift = unknown(offer, None)
        if drift is not None:
            found.append(Finding(None, offer.offer_id, drift))
    return found


def for_event(event_type: str, drifts: list[Drift]) -> list[Drift]:
    """The differences one offer event can carry (others wait for their own event, or a
    reconcile)."""
    kinds = EVENT_KINDS.get(event_type, ())
    return [d for d in drifts if d.kind in kinds]


# --- commands and queries -----------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimEvents:
    """Hold one ready account whose offer events are due, for `lease_seconds`."""

    lease_seconds: float


@dataclass(frozen=True)
class EventsClaim:
    account_id: str
    last_event_id: str | None
    claimed_until: Any  # the claim's token: what was read is stored only while it holds
    # SKUs whose kept events wait for a recheck and that our own change no longer holds:
    # Allegro's state of them is read with the page's.
    rechecks: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventsRead:
    """A page of the account's offer events and Allegro's offers they name (by SKU)."""

    claim: EventsClaim
    events: list[dict[str, Any]]
    on_allegro: dict[str, list[OnAllegro]]
    last_event_at: Any  # the last event's occurredAt (a datetime), None without events
    due_in_seconds: float
    lag_seconds: float
    read_at: Any = None  # when Allegro's offers were read (a datetime), before the events


@dataclass(frozen=True)
class CursorLost:
    account_id: str
    due_in_seconds: float


@dataclass(frozen=True)
class ReleaseEvents:
    account_id: str
    due_in_seconds: float


@dataclass(frozen=True)
class BeginReconcile:
    account_id: str
    by: str
    lease_seconds: float


@dataclass(frozen=True)
class Reconciled:
    account_id: str
    reconciliation_id: int
    on_allegro: list[OnAllegro]


@dataclass(frozen=True)
class ReleaseReconcile:
    reconciliation_id: int


@dataclass(frozen=True)
class ListDrift:
    account_id: str
    page: PageRequest
    kind: str | None = None
    sku: str | None = None


@dataclass(frozen=True)
class GetDriftSummary:
    account_id: str


def with_ended_by(
    found: dict[str, list[OnAllegro]], events: list[dict[str, Any]]
) -> dict[str, list[OnAllegro]]:
    """Allegro's listing does not say who ended an offer; its OFFER_ENDED event does."""
    ended_by = {
        str((e.get("offer") or {}).get("id")): (
            (e.get("offer") or {}).get("publication") or {}
        ).get("endedBy")
        for e in events
        if e.get("type") == "OFFER_ENDED"
    }
    return {
        sku: [
            replace(o, ended_by=ended_by[o.offer_id])
            if o.status == "ENDED" and o.ended_by is None and ended_by.get(o.offer_id)
            else o
            for o in offers
        ]
        for sku, offers in found.items()
    }
