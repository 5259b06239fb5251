"""Tracking back to Allegro: carriers, waybills and the fulfillment statuses a seller may set."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

# Allegro's CheckoutFormFulfillmentStatus minus RETURNED, which only Allegro sets.
SettableStatus = Literal[
    "NEW",
    "PROCESSING",
    "READY_FOR_SHIPMENT",
    "READY_FOR_PICKUP",
    "SENT",
    "PICKED_UP",
    "CANCELLED",
    "SUSPENDED",
]
SETTABLE_STATUSES: tuple[str, ...] = get_args(SettableStatus)
SENT = "SENT"
OTHER_CARRIER = "OTHER"
WAYBILL_MAX = 64  # CheckoutFormAddWaybillRequest.waybill maxLength
CARRIER_NAME_MAX = 30  # CheckoutFormAddWaybillRequest.carrierName maxLength

# The fulfilment system's carrier names -> Allegro's carrier ids (GET /order/carriers). The
# setting `ORDERS_CARRIER_IDS` adds to or overrides these; keys are compared case-folded.
DEFAULT_CARRIER_IDS: dict[str, str] = {
    "allegro": "ALLEGRO",
    "inpost": "INPOST",
    "paczkomaty": "INPOST",
    "dpd": "DPD",
    "dhl": "DHL",
    "gls": "GLS",
    "ups": "UPS",
    "poczta polska": "POCZTA_POLSKA",
    "poczta_polska": "POCZTA_POLSKA",
    "pocztex": "POCZTA_POLSKA",
    "orlen": "ORLEN",
    "orlen paczka": "ORLEN",
}


class BadShipment(ValueError):
    """A shipment message that can never be written back as it is (dead-lettered)."""


@dataclass(frozen=True)
class Carrier:
    carrier_id: str
    name: str | None  # only for OTHER: the carrier's own name, as Allegro shows it


def _key(name: str) -> str:
    return " ".join(name.casefold().replace("-", " ").split())


def allegro_carrier(carrier: str, mapping: Mapping[str, str]) -> Carrier:
    """Allegro's carrier id for the fulfilment system's carrier; unknown ones are OTHER with
    their name (Allegro then cannot track the parcel itself, but the buyer sees the waybill)."""
    known = {_key(k): v for k, v in {**DEFAULT_CARRIER_IDS, **mapping}.items()}
    found = known.get(_key(carrier))
    if found is None and carrier.strip().upper() in set(known.values()):
        found = carrier.strip().upper()  # already one of Allegro's ids
    if found is not None and found != OTHER_CARRIER:
        return Carrier(found, None)
    return Carrier(OTHER_CARRIER, carrier.strip()[:CARRIER_NAME_MAX])


def check_waybill(waybill: str) -> str:
    value = waybill.strip()
    if not value or len(value) > WAYBILL_MAX:
        raise BadShipment(f"the tracking number must have 1 to {WAYBILL_MAX} characters")
    return value


def line_item_ids(lines: list[dict[str, Any]]) -> list[str]:
    """The shipped line items (`line_item_id`, or Allegro's `id`); none: the whole order."""
    ids = []
    for number, line in enumerate(lines):
        value = line.get("line_item_id") or line.get("id")
        if not isinstance(value, str) or not value:
            raise BadShipment(f"lines[{number}] has no line_item_id")
        ids.append(value)
    return ids


def check_status(status: str) -> str:
    if status not in SETTABLE_STATUSES:
        raise BadShipment(
            f"fulfillment status {status!r} cannot be set (one of {', '.join(SETTABLE_STATUSES)})"
        )
    return status
