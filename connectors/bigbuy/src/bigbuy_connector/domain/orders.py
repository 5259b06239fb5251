"""Supplier orders (pure): the states an Allegro order goes through on its way to BigBuy, the
order body BigBuy takes, and what each BigBuy refusal means for the operator."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

NEW = "new"  # received, not yet tried
SENDING = "sending"  # a create may have reached BigBuy: look it up before any retry
SENT = "sent"  # BigBuy has it
SHIPPED = "shipped"  # tracking sent upstream
LOSS = "loss"  # BigBuy's cost exceeds what the sale brings: not sent
OUT_OF_STOCK = "out_of_stock"
WAITING_WALLET = "waiting_wallet"  # goes out by itself once the balance covers it
BAD_ADDRESS = "bad_address"  # the operator fixes the address and resends
CARRIER_UNAVAILABLE = "carrier_unavailable"
UNKNOWN_PRODUCT = "unknown_product"
FAILED = "failed"  # any other refusal
CANCELLED = "cancelled"  # cancelled on Allegro before it was sent: never sent
CANCEL_MANUAL = "cancel_manual"  # cancelled on Allegro after BigBuy took it: BigBuy has no
# cancel endpoint, the operator cancels in BigBuy's control panel

STATES = (
    NEW,
    SENDING,
    SENT,
    SHIPPED,
    LOSS,
    OUT_OF_STOCK,
    WAITING_WALLET,
    BAD_ADDRESS,
    CARRIER_UNAVAILABLE,
    UNKNOWN_PRODUCT,
    FAILED,
    CANCELLED,
    CANCEL_MANUAL,
)
# States the loop picks up by itself when due.
WORKING = (NEW, SENDING)
# States an operator may send again (after fixing what was wrong).
RESENDABLE = (
    LOSS,
    OUT_OF_STOCK,
    WAITING_WALLET,
    BAD_ADDRESS,
    CARRIER_UNAVAILABLE,
    UNKNOWN_PRODUCT,
    FAILED,
)
# Not yet at BigBuy: a cancellation simply stops them.
NOT_SENT = (NEW, *RESENDABLE)

# BigBuy's statuses of an order that will not ship (names as `order/orderstatuses` gives them).
BIGBUY_CANCELLED = ("Cancelled", "Refunded")

# BigBuy's order error -> our state.
ERROR_STATES: dict[str, str] = {
    "ER001": UNKNOWN_PRODUCT,
    "ER002": UNKNOWN_PRODUCT,
    "ER003": OUT_OF_STOCK,
    "ER004": BAD_ADDRESS,
    "ER005": WAITING_WALLET,
    "ER010": CARRIER_UNAVAILABLE,
    "PRODUCTS": UNKNOWN_PRODUCT,
}
ADDRESS_FIELDS = ("firstName", "lastName", "country", "postcode", "town", "address", "phone")
MAX_ADDRESS_LENGTH = 70
# BigBuy checks the postcode's format per country (ER004, with an example). These are the
# national formats of the countries we ship to and BigBuy's home markets, with the example
# BigBuy gives; a country not listed takes any non-empty postcode, as BigBuy does.
POSTCODE_FORMATS: dict[str, tuple[str, str]] = {
    "PL": (r"\d{2}-\d{3}", "00-001"),
    "CZ": (r"\d{3} ?\d{2}", "110 00"),
    "SK": (r"\d{3} ?\d{2}", "811 01"),
    "HU": (r"\d{4}", "1011"),
    "ES": (r"\d{5}", "28001"),
    "DE": (r"\d{5}", "10115"),
    "FR": (r"\d{5}", "75001"),
    "IT": (r"\d{5}", "00118"),
    "PT": (r"\d{4}-\d{3}", "1000-001"),
    "NL": (r"\d{4} ?[A-Z]{2}", "1011 AB"),
    "AT": (r"\d{4}", "1010"),
}


def state_for_error(code: str, fields: Sequence[str] = ()) -> str:
    if code in ERROR_STATES:
        return ERROR_STATES[code]
    if any(f.startswith("shippingAddress") for f in fields):
        return BAD_ADDRESS
    if any(f == "carriers" for f in fields):
        return CARRIER_UNAVAILABLE
    return FAILED


def shipping_address(order: Mapping[str, Any]) -> dict[str, str]:
    """Allegro's delivery address (the buyer's if none) in BigBuy's words."""
    delivery = order.get("delivery") or {}
    buyer = order.get("buyer") or {}
    address = delivery.get("address") or {}
    buyer_address = buyer.get("address") or {}
    out = {
        "firstName": address.get("firstName") or buyer.get("firstName") or "",
        "lastName": address.get("lastName") or buyer.get("lastName") or "",
        "country": address.get("countryCode") or buyer_address.get("countryCode") or "",
        "postcode": address.get("zipCode") or buyer_address.get("postCode") or "",
        "town": address.get("city") or buyer_address.get("city") or "",
        "address": address.get("street") or buyer_address.get("street") or "",
        "phone": address.get("phoneNumber") or buyer.get("phoneNumber") or "",
        "email": buyer.get("email") or "",
    }
    if address.get("companyName"):
        out["companyName"] = str(address["companyName"])
    return {k: str(v) for k, v in out.items()}


def address_problems(address: Mapping[str, str]) -> list[dict[str, str]]:
    """What BigBuy would refuse, found before asking it."""
    problems = [
        {"field": f"shippingAddress.{name}", "problem": "required"}
        for name in (*ADDRESS_FIELDS, "email")
        if not address.get(name)
    ]
    if len(address.get("address", "")) > MAX_ADDRESS_LENGTH:
        problems.append(
            {"field": "shippingAddress.address", "problem": f"over {MAX_ADDRESS_LENGTH} characters"}
        )
    return problems


def postcode_problems(address: Mapping[str, str]) -> list[dict[str, str]]:
    """The postcode BigBuy would refuse for the country (its ER004), with its example."""
    country = address.get("country", "").strip()
    postcode = address.get("postcode", "").strip()
    rule = POSTCODE_FORMATS.get(country)
    if not postcode or rule is None or re.fullmatch(rule[0], postcode):
        return []
    return [
        {
            "field": "shippingAddress.postcode",
            "problem": f"not a postcode of {country} (like {rule[1]})",
        }
    ]


def corrected_address_problems(address: Mapping[str, str]) -> list[dict[str, str]]:
    """An operator's correction is checked as BigBuy checks it (fields, length, postcode);
    the buyer's own address is left to BigBuy's judgement (its refusal names the format)."""
    return [*address_problems(address), *postcode_problems(address)]


@dataclass(frozen=True)
class OrderBody:
    body: dict[str, Any]
    problems: list[dict[str, str]]


def order_body(
    order: Mapping[str, Any],
    override: Mapping[str, str] | None,
    *,
    language: str,
    payment_method: str,
    carriers: Sequence[str],
) -> OrderBody:
    address = {**shipping_address(order), **(override or {})}
    products: dict[str, int] = {}
    problems = address_problems(address)
    for line in order.get("lines") or []:
        sku = line.get("sku")
        if not sku:
            problems.append({"field": "lines", "problem": f"offer {line.get('offer_id')} no SKU"})
            continue
        products[str(sku)] = products.get(str(sku), 0) + int(line.get("quantity") or 0)
    body = {
        "order": {
            "internalReference": str(order["order_id"]),
            "language": language,
            "paymentMethod": payment_method,
            "carriers": [{"name": name} for name in carriers],
            "shippingAddress": address,
            "products": [{"reference": s, "quantity": q} for s, q in products.items()],
        }
    }
    return OrderBody(body, problems)


def sale_in_eur(order: Mapping[str, Any], eur_rates: Mapping[str, Decimal]) -> Decimal | None:
    """What the sale brings (Allegro's total to pay) in EUR; None for an unknown currency."""
    total = order.get("total") or {}
    rate = eur_rates.get(str(total.get("currency") or ""))
    if not rate:
        return None
    amount = Decimal(str(total.get("amount") or "0")) / rate
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def is_loss(cost_eur: Decimal, sale_eur: Decimal | None) -> bool:
    return sale_eur is None or cost_eur > sale_eur


def order_id_from(location: str | None, body: Any) -> str | None:
    """`Location: /rest/order/{id}` (BigBuy) or `order_id` in a body (one client saw that)."""
    if location:
        tail = location.rstrip("/").rsplit("/", 1)[-1].removesuffix(".json")
        if tail:
            return tail
    if isinstance(body, dict) and body.get("order_id"):
        return str(body["order_id"])
    return None


def skus_of(data: Any) -> list[str]:
    """The SKUs an order error names (`{"skus": [...]}` or a list of `{"sku"}`)."""
    if isinstance(data, dict):
        return [str(s) for s in data.get("skus") or []]
    if isinstance(data, list):
        return [str(d["sku"]) for d in data if isinstance(d, dict) and d.get("sku")]
    return []
