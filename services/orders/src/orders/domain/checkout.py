"""Checkout forms: the status order that must never go back, and the hand-off event."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from shared.events import Money, OrderCancelled, OrderLine, OrderReceived

# A checkout form only moves forward: FILLED_IN may arrive after READY_FOR_PROCESSING (the
# journal is not ordered per form), and a stored form never goes back to a lower rank.
STATUS_RANK = {"BOUGHT": 0, "FILLED_IN": 1, "READY_FOR_PROCESSING": 2, "CANCELLED": 3}
CANCELLATION_EVENTS = ("BUYER_CANCELLED", "AUTO_CANCELLED")
PAID = "READY_FOR_PROCESSING"
CANCELLED = "CANCELLED"


def regresses(stored_status: str, new_status: str) -> bool:
    return STATUS_RANK.get(new_status, 0) < STATUS_RANK.get(stored_status, 0)


def effective_status(form: dict[str, Any], event_types: tuple[str, ...]) -> str:
    """The form's status; a cancellation event wins even if the form read lags behind it."""
    if any(t in CANCELLATION_EVENTS for t in event_types):
        return CANCELLED
    return str(form.get("status") or "BOUGHT")


def cancellation_reason(event_types: tuple[str, ...]) -> str:
    for kind in reversed(event_types):
        if kind in CANCELLATION_EVENTS:
            return kind
    return "CANCELLED"


def line_sku(item: dict[str, Any], published: Mapping[str, str]) -> str | None:
    """The SKU a line sells: the offer's external id as Allegro gives it, else the SKU the
    platform published that offer for (a seller may have cleared the external id on Allegro)."""
    offer = item.get("offer") or {}
    external = (offer.get("external") or {}).get("id")
    if external:
        return str(external)
    return published.get(str(offer.get("id")))


def offers_without_sku(forms: Iterable[dict[str, Any]]) -> list[str]:
    """Offers named by lines that carry no external id: the ones to look up in the directory."""
    return sorted(
        {
            str(item["offer"]["id"])
            for form in forms
            for item in form.get("lineItems") or []
            if not ((item.get("offer") or {}).get("external") or {}).get("id")
        }
    )


def line_skus(form: dict[str, Any], published: Mapping[str, str]) -> list[str]:
    return [sku for item in form.get("lineItems") or [] if (sku := line_sku(item, published))]


def _money(value: dict[str, Any] | None, fallback_currency: str) -> Money:
    value = value or {}
    return Money(
        amount=Decimal(str(value.get("amount", "0"))),
        currency=str(value.get("currency") or fallback_currency),
    )


def order_received(
    account_id: str, form: dict[str, Any], published: Mapping[str, str] | None = None
) -> OrderReceived:
    """What a fulfilment system needs to ship the checkout form (see docs/asyncapi.yaml)."""
    total = form.get("summary", {}).get("totalToPay") or {}
    currency = str(total.get("currency") or "PLN")
    delivery = form.get("delivery") or {}
    buyer = form.get("buyer") or {}
    invoice = form.get("invoice") or {}
    payment = form.get("payment") or {}
    return OrderReceived(
        account_id=account_id,
        order_id=str(form["id"]),
        marketplace_id=str((form.get("marketplace") or {}).get("id") or ""),
        buyer={
            k: buyer.get(k)
            for k in ("id", "login", "email", "firstName", "lastName", "phoneNumber", "address")
            if buyer.get(k) is not None
        },
        delivery={
            "address": delivery.get("address"),
            "method": delivery.get("method"),
            "pickup_point": delivery.get("pickupPoint"),
            "cost": delivery.get("cost"),
            "smart": delivery.get("smart"),
        },
        invoice=invoice if invoice.get("required") else None,
        lines=[
            OrderLine(
                line_item_id=str(item["id"]),
                sku=line_sku(item, published or {}),
                offer_id=str(item["offer"]["id"]),
                quantity=int(item["quantity"]),
                unit_price=_money(item.get("price"), currency),
            )
            for item in form.get("lineItems") or []
        ],
        total=_money(total, currency),
        paid_at=payment.get("finishedAt"),
        revision=str(form.get("revision") or ""),
    )


def order_cancelled(account_id: str, checkout_form_id: str, reason: str) -> OrderCancelled:
    return OrderCancelled(account_id=account_id, order_id=checkout_form_id, reason=reason)
