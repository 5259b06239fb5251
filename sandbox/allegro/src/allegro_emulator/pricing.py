"""`POST /pricing/offer-fee-preview` answered from a fee table (allegro-fees.md).

The table is Python data with the 2022 schedule's shapes as defaults: a flat rate, or a rate up to
a threshold then a fixed part plus another rate, an optional cap, a per-item minimum. Promoted
offers pay 0.75 x the commission on top; offers above 10,000 PLN pay a 1.00 PLN listing fee per
10 days; allegro.cz adds a 5 CZK unit fee. Admin can replace the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from fastapi import APIRouter, Request
from starlette.responses import Response

from allegro_emulator.errors import AllegroError
from allegro_emulator.seed import CATEGORY_BY_ID, MARKETPLACES
from allegro_emulator.state import Json
from allegro_emulator.web import body_json, respond, seller

router = APIRouter()


@dataclass(frozen=True)
class FeeRule:
    rate: Decimal  # share of the price up to `threshold` (or of the whole price)
    threshold: Decimal | None = None
    fixed_above: Decimal = Decimal(0)
    rate_above: Decimal = Decimal(0)
    cap: Decimal | None = None
    minimum: Decimal = Decimal("0.30")

    def commission(self, price: Decimal) -> Decimal:
        if self.threshold is not None and price > self.threshold:
            fee = self.fixed_above + self.rate_above * (price - self.threshold)
        else:
            fee = self.rate * price
        if self.cap is not None:
            fee = min(fee, self.cap)
        return max(fee, self.minimum)


def _d(text: str) -> Decimal:
    return Decimal(text)


# Category fee group (see seed.CATEGORIES) -> rule. Defaults from allegro-fees.md section 7.
FEE_TABLE: dict[str, FeeRule] = {
    "home": FeeRule(_d("0.10"), minimum=_d("0.50")),
    "sports": FeeRule(_d("0.11"), minimum=_d("0.50")),
    "electronics": FeeRule(_d("0.09"), minimum=_d("1.00")),
    "rtv": FeeRule(_d("0.09"), minimum=_d("0.50")),
    "tv": FeeRule(_d("0.03"), minimum=_d("1.00")),
    "smartphones": FeeRule(_d("0.045"), minimum=_d("1.00")),
    "computers": FeeRule(_d("0.095"), minimum=_d("1.00")),
    "laptops": FeeRule(_d("0.03"), _d("2000"), _d("60"), _d("0.015"), minimum=_d("1.00")),
    "tablets": FeeRule(_d("0.04"), minimum=_d("1.00")),
    "accessories": FeeRule(_d("0.12"), _d("50"), _d("6"), _d("0.08"), minimum=_d("0.50")),
    "other": FeeRule(_d("0.17")),
}
PROMOTED_SHARE = _d("0.75")
LISTING_FEE_THRESHOLD = _d("10000")
LISTING_FEE = _d("1.00")
DISTINCTION_FEE = _d("19.90")
CZ_UNIT_FEE = _d("5.00")
CYCLE = "PT240H"


def _up(value: Decimal, currency: str) -> str:
    # Commissions are rounded up to the full grosz (allegro-fees.md 1.1(c)).
    step = Decimal(1) if currency in ("CZK", "HUF") else Decimal("0.01")
    rounded = value.quantize(step, rounding=ROUND_CEILING)
    return f"{rounded:.2f}"


def fee_preview(body: Json, base_marketplace: str, table: dict[str, FeeRule] | None = None) -> Json:
    table = table or FEE_TABLE
    offer = body.get("offer") or {}
    if not offer.get("name"):
        raise AllegroError(422, "VALIDATION_ERROR", "offer.name is required", path="offer.name")
    marketplace = body.get("marketplaceId") or base_marketplace
    if marketplace not in MARKETPLACES:
        raise AllegroError(
            422, "VALIDATION_ERROR", f"Unknown marketplace {marketplace}", path="marketplaceId"
        )
    currency = MARKETPLACES[marketplace]["currency"]
    selling = offer.get("sellingMode") or {}
    if body.get("classifiedsPackages") and selling.get("format", "BUY_NOW") != "ADVERTISEMENT":
        raise AllegroError(
            422,
            "VALIDATION_ERROR",
            "Only advertisements can have packages.",
            path="classifiedsPackages",
        )
    price = selling.get("price") or {}
    try:
        amount = Decimal(str(price["amount"]))
    except (KeyError, ArithmeticError):
        raise AllegroError(
            422,
            "VALIDATION_ERROR",
            "offer.sellingMode.price is required",
            path="offer.sellingMode.price",
        ) from None
    if price.get("currency") != currency:
        raise AllegroError(
            422,
            "VALIDATION_ERROR",
            f"Provided marketplace „{marketplace}” must have all monetary values"
            f" in currency „{currency}”",
            path="offer.sellingMode.price.currency",
        )
    category = CATEGORY_BY_ID.get(str((offer.get("category") or {}).get("id")))
    rule = table.get(category[3] if category else "other", table["other"])
    commission = rule.commission(amount)
    names = {
        "commissionFee": "Prowizja od sprzedaży",
        "commissionFeatureFee": "Prowizja od sprzedaży oferty wyróżnionej",
        "commissionUnitSalesFee": "Opłata transakcyjna",
        "listingFee": "Opłata za wystawienie",
        "distinctionFee": "Opłata za wyróżnienie",
    }
    commissions = [
        {
            "name": names["commissionFee"],
            "type": "commissionFee",
            "fee": {"amount": _up(commission, currency), "currency": currency},
        }
    ]
    promotion = offer.get("promotion") or {}
    promoted = bool(promotion.get("emphasized1d") or promotion.get("emphasized10d"))
    if promoted:
        commissions.append(
            {
                "name": names["commissionFeatureFee"],
                "type": "commissionFeatureFee",
                "fee": {"amount": _up(commission * PROMOTED_SHARE, currency), "currency": currency},
            }
        )
    if marketplace == "allegro-cz":
        commissions.append(
            {
                "name": names["commissionUnitSalesFee"],
                "type": "commissionUnitSalesFee",
                "fee": {"amount": _up(CZ_UNIT_FEE, currency), "currency": currency},
            }
        )
    listing = LISTING_FEE if currency == "PLN" and amount > LISTING_FEE_THRESHOLD else Decimal(0)
    quotes = [
        {
            "name": names["listingFee"],
            "type": "listingFee",
            "fee": {"amount": _up(listing, currency), "currency": currency},
            "cycleDuration": CYCLE,
        }
    ]
    if promotion.get("emphasized10d"):
        quotes.append(
            {
                "name": names["distinctionFee"],
                "type": "distinctionFee",
                "fee": {"amount": _up(DISTINCTION_FEE, currency), "currency": currency},
                "cycleDuration": CYCLE,
            }
        )
    return {"commissions": commissions, "quotes": quotes}


@router.post("/pricing/offer-fee-preview")
async def offer_fee_preview(request: Request) -> Response:
    emu, user = seller(request)
    emu.limiter.check("offer-fee-preview", user.id, emu.now())
    body = await body_json(request)
    table: dict[str, FeeRule] | None = emu.fee_table
    return respond(fee_preview(body, user.base_marketplace, table))
