"""The offer state machine per (account, SKU): states, causes, reasons in plain words, and what
to do next when what is wanted changes. Pure: no I/O.

    waiting -> checking -> not_listable | creating -> active | inactive | failed
    active | inactive -> ended (stock 0, unselected) -> active (restock, reactivated)

`work` is the worker's next step for an offer (check, create, poll, verify, end, activate,
handling_time, images);
at most one is pending per offer, and the worker claims it with a lease, so one write at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WAITING = "waiting"
CHECKING = "checking"
NOT_LISTABLE = "not_listable"
CREATING = "creating"
ACTIVE = "active"
INACTIVE = "inactive"
FAILED = "failed"
ENDED = "ended"
STATES = (WAITING, CHECKING, NOT_LISTABLE, CREATING, ACTIVE, INACTIVE, FAILED, ENDED)
# Still to be published: what the progress's ETA counts.
TO_DO = (WAITING, CHECKING, CREATING)
RETRYABLE = (FAILED, NOT_LISTABLE)

# The worker's steps.
CHECK = "check"
CREATE = "create"
POLL = "poll"
VERIFY = "verify"
END = "end"
ACTIVATE = "activate"
# An edit of the offer's delivery.handlingTime (the supplier's handling days changed).
HANDLING_TIME = "handling_time"
# An edit of the offer's images (the catalogue's gallery changed, e.g. a new cover).
IMAGES = "images"

# What an offer may wait for before it is checked.
FOR_CONTENT = "content"
FOR_PRICE = "price"
FOR_STOCK = "stock"
FOR_READINESS = "readiness"

# Reason codes, in plain words for the operator.
REASONS: dict[str, str] = {
    "product_missing": "Allegro's product catalogue has no product with this EAN",
    "product_ambiguous": "several products in Allegro's catalogue carry this EAN",
    "category_mismatch": "Allegro's product for this EAN is in another category than the mapped"
    " one",
    "parameter_missing": "a parameter the Allegro category requires has no value",
    "parameter_invalid": "a parameter value is not one the Allegro category accepts",
    "product_safety": "Allegro refused the product safety (GPSR) data",
    "no_ean": "the product has no EAN, so it cannot be linked to Allegro's catalogue",
    "no_category": "the product has no Allegro category",
    "no_shipping_band": "no shipping price list fits the product's weight: give it a weight, or"
    " add a band that covers it to the account's shipping configuration",
    "missing_cost": "the catalogue gives the product no cost, so pricing cannot price it",
    "missing_fx_rate": "pricing has no exchange rate from the product's cost currency",
    "below_floor": "the price the rules give is below the account's price floor (minimum margin)",
    "no_rule": "no pricing rule covers the product and the account's fallback is none",
    "missing_rrp": "no pricing rule covers the product and it has no RRP to fall back on",
    "fees_unrecoverable": "no price covers Allegro's fees for the product's fee row",
    "title_length": "the title must have 12 to 75 characters",
    "price_invalid": "the price does not fit the marketplace's currency or precision",
    "allegro_rejected": "Allegro refused the offer",
    "image_not_uploaded": "Allegro could not take some of the supplier's images (their upload"
    " was refused); the offer shows the others, and its catalogue product's own",
    "images_refused": "Allegro refused every supplier image and its catalogue product has none",
    "allegro_unavailable": "Allegro did not answer after several attempts",
    "late_validation": "Allegro turned the published offer back into a draft: its validation"
    " failed",
    "stock_out": "the stock reached 0",
    "unselected": "the product left the account's selection",
    "ended_on_allegro": "the offer was ended on Allegro",
    "sync_failed": "Allegro refused a price or stock change of the offer",
    "sync_unavailable": "a price or stock change of the offer kept failing on Allegro's side",
}

WAITING_WORDS: dict[str, str] = {
    FOR_CONTENT: "the catalogue has not sent the product yet",
    FOR_PRICE: "pricing has not sent a price for the base marketplace yet",
    FOR_STOCK: "the product has no stock",
    FOR_READINESS: "the account is not ready to publish (see its readiness)",
}


def plain_words(code: str | None) -> str | None:
    return None if code is None else REASONS.get(code, code.replace("_", " "))


def reason(
    code: str, allegro_errors: list[dict[str, Any]] | None = None, detail: str = ""
) -> dict[str, Any]:
    """The reason stored with a state and carried by the events (FailureReason's shape)."""
    message = plain_words(code) or code
    if detail:
        message = f"{message}: {detail}"
    return {"code": code, "message": message, "allegro_errors": list(allegro_errors or [])}


@dataclass(frozen=True)
class Wanted:
    """What the platform wants of an offer, as the events last said."""

    state: str
    offer_id: str | None
    listed: bool
    has_content: bool
    has_base_price: bool
    stock: int
    account_ready: bool
    # The offer on Allegro promises another handling time than wanted, and no step is pending.
    handling_time_outdated: bool = False
    # The offer on Allegro shows another gallery than the catalogue's, and no step is pending.
    images_outdated: bool = False
    # Pricing's reason for giving the base marketplace no price (None: no answer yet).
    base_unpriced: str | None = None


@dataclass(frozen=True)
class Step:
    """The state to move to (None: stay), why, what it waits for, and the worker's next step."""

    state: str | None
    cause: str
    waiting_for: tuple[str, ...] = ()
    work: str | None = None
    reason: dict[str, Any] | None = field(default=None)


def next_step(offer: Wanted, cause: str) -> Step | None:
    """What a change of the wanted values means for the offer; None: nothing to do now.

    A live or ended offer's price and stock changes, its end at stock 0 and its reactivation on
    restock are the sync's (sent values against the wanted ones, `domain/sync.py`); here only
    withdrawal and what leads to a first publication.
    """
    live = offer.state in (ACTIVE, INACTIVE)
    if not offer.listed:
        if live and offer.offer_id:
            return Step(None, cause, work=END, reason=reason("unselected"))
        if offer.state in (WAITING, CHECKING, NOT_LISTABLE, FAILED):
            return Step(ENDED, cause, reason=reason("unselected"))
        return None
    if (live or offer.state == ENDED) and offer.offer_id and offer.handling_time_outdated:
        # An edit of the offer itself (PATCH); the sync holds its commands meanwhile.
        return Step(None, cause, work=HANDLING_TIME)
    if (live or offer.state == ENDED) and offer.offer_id and offer.images_outdated:
        return Step(None, cause, work=IMAGES)
    if live and offer.offer_id:
        # Stock, price, a sold-out end: the sync's batch commands (domain/sync.py).
        return None
    if offer.state == CREATING:
        return None  # its write is under way; the outcome decides
    if offer.state == ENDED and offer.offer_id:
        return None  # a restock is reactivated by the sync's batch command
    if offer.has_content and not offer.has_base_price and offer.base_unpriced:
        # Pricing answered and cannot price it (too heavy for every shipping band, no cost):
        # waiting for a price would wait forever; a new price or rule change moves it on.
        return Step(NOT_LISTABLE, cause, reason=reason(offer.base_unpriced))
    missing = tuple(
        what
        for what, lacking in (
            (FOR_CONTENT, not offer.has_content),
            (FOR_PRICE, not offer.has_base_price),
            (FOR_STOCK, offer.stock <= 0),
            (FOR_READINESS, not offer.account_ready),
        )
        if lacking
    )
    if missing:
        return Step(WAITING, cause, waiting_for=missing)
    return Step(CHECKING, cause, work=CHECK)
