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

from pricing.categories import read_category
from pricing.domain.categories import GroupCheck, GroupSample
from pricing.domain.engine import PREVIEW_LABEL
from pricing.domain.fees import FeeRule, FeeTable
from shared.allegro import AllegroClient, AllegroError

# The calibration check's prices: below and above the usual tier thresholds (50, 80, 100, 2,000).
CHECK_PRICES: tuple[Decimal, ...] = (Decimal("100"), Decimal("2500"))
MAX_DESCENT = 8
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


async def sample_in_tree(
    client: AllegroClient, account_id: str, table: FeeTable, group: FeeRule
) -> str | None:
    """A leaf of Allegro's tree that `group` prices: the group's category if it is a leaf,
    else down the first children that have no row of their own. None: every leaf below has a
    deeper row. Raises LookupError when Allegro does not know the group's category."""
    row = await read_category(client, account_id, group.key)
    if not row.found:
        raise LookupError(f"Allegro has no category {group.key}")
    current = row
    for _ in range(MAX_DESCENT):
        if current.leaf:
            return current.id
        listed = await client.get(
            "/sale/categories", params={"parent.id": current.id}, account_id=account_id
        )
        children = [
            c for c in listed.get("categories") or [] if table.by_id(str(c.get("id"))) is None
        ]
        if not children:
            return None
        leaves = [c for c in children if c.get("leaf")]
        chosen = (leaves or children)[0]
        current = await read_category(client, account_id, str(chosen["id"]))
    return None


async def check_groups(
    client: AllegroClient,
    account_id: str,
    table: FeeTable,
    plan: Sequence[GroupSample],
    prices: Sequence[Decimal] = CHECK_PRICES,
) -> list[GroupCheck]:
    """Per commission group: our row's commission against fee-preview's at each price, for one
    sample category (allegro-pl, PLN). Groups are checked one after another: a few calls each,
    well inside fee-preview's 25 per second."""
    checks: list[GroupCheck] = []
    for sample in plan:
        check = GroupCheck(sample.rule, sample.category_id, sample.source)
        checks.append(check)
        try:
            if check.category_id is None and sample.rule.kind == "allegro_category":
                check.category_id = await sample_in_tree(client, account_id, table, sample.rule)
                check.source = "allegro_tree"
        except LookupError as exc:
            check.status, check.error = "unknown_category", str(exc)
            continue
        if check.category_id is None:
            check.status = "no_sample"
            continue
        try:
            fees = await asyncio.gather(
                *(sale_commission(client, account_id, check.category_id, p) for p in prices)
            )
        except AllegroError as exc:
            if exc.status >= 500 or exc.status in (401, 403, 429):
                raise  # Allegro or the account is unavailable: the whole check fails (502)
            check.status, check.error = "failed", str(exc)[:300]
            continue
        for price, fee in zip(prices, fees, strict=True):
            check.add(price, fee)
    return checks
