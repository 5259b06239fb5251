"""Additional marketplaces (allegro-api.md section 9): allegro-cz, allegro-sk, allegro-hu.

Visibility follows the shipping rates: an offer whose set delivers to a marketplace's country is
qualified there; it is APPROVED with a price in that marketplace's currency, REFUSED with VQR
codes otherwise. Stock is shared by all marketplaces.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from allegro_emulator.errors import AllegroError
from allegro_emulator.offer_events import emit_offer_event
from allegro_emulator.seed import MARKETPLACES
from allegro_emulator.shipping import destination_countries
from allegro_emulator.state import Emulator, Json, Offer, Seller

ADDITIONAL_MARKETPLACES = ("allegro-cz", "allegro-sk", "allegro-hu")
# Rough PLN exchange rates, used only to judge VQR009 (price too far below the base price).
PLN_RATES = {
    "PLN": Decimal(1),
    "CZK": Decimal("5.80"),
    "EUR": Decimal("0.235"),
    "HUF": Decimal("92"),
}
MAX_PRICE_DECREASE_PERCENT = 20


def price_ok(amount: Any) -> Decimal | None:
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return None
    return value if value > 0 else None


def check_price_format(price: Any, marketplace: str, path: str) -> None:
    """Currency must be the marketplace's; CZK whole, HUF ending in 0 or 5 (allegro-fees.md 4)."""
    currency = MARKETPLACES[marketplace]["currency"]
    if not isinstance(price, dict) or price_ok(price.get("amount")) is None:
        raise AllegroError(
            422, "VALIDATION_ERROR", "Price must be a positive decimal string", path=path
        )
    if price.get("currency") != currency:
        raise AllegroError(
            422,
            "VALIDATION_FAILED",
            f"Provided marketplace „{marketplace}” must have all monetary values"
            f" in currency „{currency}”",
            path=f"{path}.currency",
        )
    value = Decimal(str(price["amount"]))
    # Two decimals at most in every currency; CZK whole, HUF a multiple of 5 (allegro-fees.md).
    # Decimals as written: "9.990" has three, as Allegro reads the string.
    exponent = value.as_tuple().exponent
    too_precise = isinstance(exponent, int) and exponent < -2
    if (
        too_precise
        or (currency == "CZK" and value != value.to_integral_value())
        or (currency == "HUF" and (value != value.to_integral_value() or int(value) % 5))
    ):
        raise AllegroError(
            422,
            "InvalidPricePrecision",
            "Price precision is invalid for the given marketplace",
            path=f"{path}.amount",
            user_message="The number of decimal places is invalid for this marketplace.",
            user_message_pl="Liczba miejsc po przecinku jest niepoprawna dla podanego rynku.",
        )


def check_additional_marketplaces(user: Seller, body: Json) -> None:
    for mp, entry in (body.get("additionalMarketplaces") or {}).items():
        if mp == user.base_marketplace:
            raise AllegroError(
                422,
                "BaseMarketplaceInAdditionalMarketplacesException",
                "The base marketplace cannot be an additional marketplace",
                path="additionalMarketplaces",
                metadata={"baseMarketplace": mp},
            )
        if mp not in ADDITIONAL_MARKETPLACES:
            raise AllegroError(
                422,
                "UnsupportedAdditionalMarketplaceException",
                f"Marketplace {mp} is not supported",
                path="additionalMarketplaces",
                metadata={"supportedAdditionalMarketplaces": ",".join(ADDITIONAL_MARKETPLACES)},
            )
        price = ((entry or {}).get("sellingMode") or {}).get("price")
        if price is not None:
            check_price_format(price, mp, f"additionalMarketplaces.{mp}.sellingMode.price")


def qualification(user: Seller, offer: Offer) -> dict[str, Json]:
    """Per additional marketplace: its publication state and refusal reasons."""
    data = offer.data
    rates_id = ((data.get("delivery") or {}).get("shippingRates") or {}).get("id")
    rates_set = user.shipping_rates.get(str(rates_id))
    countries = destination_countries(rates_set) if rates_set else frozenset()
    base_price = ((data.get("sellingMode") or {}).get("price") or {}).get("amount")
    result: dict[str, Json] = {}
    for mp in ADDITIONAL_MARKETPLACES:
        currency = MARKETPLACES[mp]["currency"]
        price = (
            ((data.get("additionalMarketplaces") or {}).get(mp) or {}).get("sellingMode") or {}
        ).get("price")
        reasons: list[Json] = []
        if MARKETPLACES[mp]["country"] not in countries and price:
            # A price was given for this marketplace but the shipping rates do not deliver there.
            state = "REFUSED"
            reasons.append(
                {
                    "code": "VQR003_DELIVERY_TO_OPERATIONAL_COUNTRY_NOT_AVAILABLE",
                    "userMessage": f"No delivery method to {MARKETPLACES[mp]['country']}.",
                    "parameters": {},
                }
            )
        elif MARKETPLACES[mp]["country"] not in countries:
            state = "NOT_REQUESTED"
        elif not price or price.get("currency") != currency:
            state = "REFUSED"
            reasons.append(
                {
                    "code": "VQR001_CURRENCY_NOT_AVAILABLE",
                    "userMessage": f"The offer has no price in {currency}.",
                    "parameters": {},
                }
            )
        elif base_price and Decimal(price["amount"]) < Decimal(base_price) * PLN_RATES[currency] * (
            1 - Decimal(MAX_PRICE_DECREASE_PERCENT) / 100
        ):
            state = "REFUSED"
            reasons.append(
                {
                    "code": "VQR009_PRICE_IN_ADDITIONAL_MARKETPLACE_MISMATCH",
                    "userMessage": "The price differs too much from the base marketplace price.",
                    "parameters": {
                        "maxAllowedPriceDecreasePercent": [str(MAX_PRICE_DECREASE_PERCENT)]
                    },
                }
            )
        else:
            state = "APPROVED"
        result[mp] = {"state": state, "refusalReasons": reasons}
    return result


def _apply_qualification(
    emu: Emulator, user: Seller, offer: Offer, states: dict[str, Json]
) -> None:
    markets = offer.data.setdefault("additionalMarketplaces", {})
    if all((markets.get(mp) or {}).get("publication") == p for mp, p in states.items()):
        return  # nothing changed: the common case on a price or stock update
    changed = []
    for mp, publication in states.items():
        entry = markets.setdefault(mp, {})
        if entry.get("publication") != publication:
            changed.append(mp)
        entry["publication"] = publication
    offer.data["publication"]["marketplaces"]["additional"] = [
        {"id": mp} for mp, p in states.items() if p["state"] == "APPROVED"
    ]
    if changed:
        emit_offer_event(
            emu,
            user,
            "OFFER_VISIBILITY_CHANGED",
            offer,
            {
                "publication": {
                    # The event's own shape (MarketplacesVisibility): `status`, not `state`,
                    # and only marketplaces where the offer was requested.
                    "marketplaces": {
                        "base": user.base_marketplace,
                        "additional": [
                            {
                                "id": mp,
                                "status": p["state"],
                                "refusalReasons": [
                                    {"code": r["code"], "parameters": r["parameters"]}
                                    for r in p["refusalReasons"]
                                ],
                            }
                            for mp, p in states.items()
                            if p["state"] in ("APPROVED", "REFUSED", "IN_PROGRESS")
                        ],
                    },
                    "updatedMarketplaces": changed,
                }
            },
        )


def schedule_qualification(emu: Emulator, user: Seller, offer: Offer) -> None:
    final = qualification(user, offer)
    if emu.config.qualification_seconds <= 0:
        _apply_qualification(emu, user, offer, final)
        return
    interim = {
        mp: ({"state": "IN_PROGRESS", "refusalReasons": []} if p["state"] != "NOT_REQUESTED" else p)
        for mp, p in final.items()
    }
    _apply_qualification(emu, user, offer, interim)

    def settle() -> None:
        if offer.data["publication"]["status"] in ("ACTIVE", "ACTIVATING"):
            _apply_qualification(emu, user, offer, qualification(user, offer))

    emu.schedule(emu.config.qualification_seconds, settle)
