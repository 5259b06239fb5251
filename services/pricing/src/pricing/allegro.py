"""Allegro's `POST /pricing/offer-fee-preview`, through the platform's one Allegro client.

Used to calibrate the fee table: the sale commission of a category sampled at a few prices
becomes a row of (price, commission) points that the engine interpolates (allegro-fees.md
section 5: calibrate per category instead of calling per SKU).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pricing.domain.engine import PREVIEW_LABEL
from pricing.domain.fees import FeeRule
from shared.allegro import AllegroClient, AllegroError

DEFAULT_SAMPLE_PRICES: tuple[Decimal, ...] = tuple(
    Decimal(p) for p in ("5", "20", "50", "80", "100", "300", "1000", "2000", "5000", "20000")
)
CONDITION_NEW = {"id": "11323", "valuesIds": ["11323_1"]}  # Stan: Nowy (allegro-fees.md 1.1 g)


def preview_body(category_id: str, price: Decimal, marketplace: str, currency: str) -> Any:
    return {
        "offer": {
            "name": "mci pricing: fee calibration",
            "category": {"id": category_id},
            "parameters": [CONDITION_NEW],
            "sellingMode": {
                "format": "BUY_NOW",
                "price": {"amount": f"{price:.2f}", "currency": currency},
            },
        },
        "marketplaceId": marketplace,
    }


async def sale_commission(
    client: AllegroClient, account_id: str, category_id: str, price: Decimal
) -> Decimal:
    """The `commissionFee` of an offer of `category_id` at `price` PLN on allegro-pl (the
    promoted surcharge and the other fees are modelled separately)."""
    response = await client.post(
        "/pricing/offer-fee-preview",
        preview_body(category_id, price, "allegro-pl", "PLN"),
        account_id=account_id,
        idempotent=True,
    )
    commissions = response.json().get("commissions") or []
    return sum(
        (Decimal(c["fee"]["amount"]) for c in commissions if c.get("type") == "commissionFee"),
        Decimal(0),
    )


async def sample_categories(
    client: AllegroClient,
    account_id: str,
    category_ids: Sequence[str],
    prices: Sequence[Decimal] = DEFAULT_SAMPLE_PRICES,
) -> tuple[list[FeeRule], list[dict[str, str]]]:
    """One sampled fee row per category; categories Allegro refused are reported, not fatal."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def one(category_id: str) -> FeeRule:
        fees = await asyncio.gather(
            *(sale_commission(client, account_id, category_id, p) for p in prices)
        )
        return FeeRule(
            key=category_id,
            label=f"{PREVIEW_LABEL}{stamp}",
            points=tuple(zip(prices, fees, strict=True)),
        )

    outcomes = await asyncio.gather(*(one(c) for c in category_ids), return_exceptions=True)
    rules: list[FeeRule] = []
    failed: list[dict[str, str]] = []
    for category_id, outcome in zip(category_ids, outcomes, strict=True):
        if isinstance(outcome, FeeRule):
            rules.append(outcome)
        elif isinstance(outcome, AllegroError | LookupError):
            failed.append({"category_id": category_id, "error": str(outcome)[:300]})
        else:
            raise outcome
    return rules, failed
