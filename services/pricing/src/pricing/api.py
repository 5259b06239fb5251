"""The pricing service's operator endpoints: parse, call a handler, return."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, Field

from pricing import handlers
from pricing.allegro import CHECK_PRICES, DEFAULT_SAMPLE_PRICES, check_groups, sample_categories
from pricing.deps import Deps
from pricing.domain import commands as c
from pricing.domain.categories import summary
from pricing.domain.errors import InvalidInput, Problem
from pricing.domain.fees import FeeTable
from pricing.domain.fx import FxRate
from pricing.domain.marketplaces import check_marketplace
from pricing.domain.rules import RuleSet
from shared.accounts import KnownAccount
from shared.http import error_responses
from shared.pagination import Page, PageQuery
from shared.security import Operator, Viewer

# Every route is under an account: 404 `unknown_account` for one auth does not know, 503 if
# auth cannot be asked.
router = APIRouter(
    prefix="/accounts/{account_id}", tags=["pricing"], responses=error_responses(404, 409, 503)
)


Document = Annotated[dict[str, Any], Body()]


def require_fields(document: dict[str, Any], *fields: str) -> None:
    """A PUT replaces the whole document: an empty or partial one must not reset it silently."""
    missing = [f for f in fields if f not in document]
    if missing:
        raise InvalidInput([Problem(f, "required", f"{f} is required") for f in missing])


# --- rules -----------------------------------------------------------------------------------


@router.get("/rules")
async def get_rules(_: Viewer, account_id: KnownAccount, deps: Deps) -> dict[str, Any]:
    return await deps.units.read(handlers.current_rules, c.GetRules(account_id))


@router.put("/rules")
async def put_rules(
    who: Operator, account_id: KnownAccount, document: Document, deps: Deps
) -> dict[str, Any]:
    """Replace the rule set; recomputes the selection (or holds it: circuit breaker)."""
    RuleSet.parse(document)  # its problems first: they are the more specific ones
    require_fields(document, "rules")
    return await deps.units.handle(
        handlers.save_rules, c.SaveRules(account_id, document, who.subject)
    )


@router.post("/rules/items")
async def add_rule(
    who: Operator, account_id: KnownAccount, rule: Document, deps: Deps
) -> dict[str, Any]:
    return await deps.units.handle(handlers.add_rule, c.AddRule(account_id, rule, who.subject))


@router.delete("/rules/items/{rule_id}")
async def delete_rule(
    who: Operator, account_id: KnownAccount, rule_id: str, deps: Deps
) -> dict[str, Any]:
    return await deps.units.handle(
        handlers.delete_rule, c.DeleteRule(account_id, rule_id, who.subject)
    )


@router.get("/rules/versions")
async def rule_versions(
    _: Viewer, account_id: KnownAccount, page: PageQuery, deps: Deps
) -> Page[dict[str, Any]]:
    """Newest first."""
    return await deps.units.read(handlers.rule_versions, c.ListRuleVersions(account_id, page))


# --- simulation ------------------------------------------------------------------------------


class SimulationRequest(BaseModel):
    rules: dict[str, Any]
    sample: int | None = Field(default=None, ge=1, le=1_000_000)


@router.post("/simulations")
async def simulate(
    _: Operator, account_id: KnownAccount, request: SimulationRequest, deps: Deps
) -> dict[str, Any]:
    """Apply a draft rule set to the selection (or a sample); nothing is saved or sent."""
    return await deps.units.read(
        handlers.simulate, c.Simulate(account_id, request.rules, request.sample)
    )


# --- FX --------------------------------------------------------------------------------------


class RateIn(BaseModel):
    base: str
    quote: str
    rate: Decimal
    source: str
    as_of: date


class RatesIn(BaseModel):
    rates: list[RateIn] = Field(min_length=1)


def _rate_out(rate: FxRate) -> dict[str, Any]:
    return {
        "base": rate.base,
        "quote": rate.quote,
        "rate": str(rate.rate),
        "source": rate.source,
        "as_of": rate.as_of.isoformat(),
    }


@router.get("/fx-rates")
async def list_rates(
    _: Viewer, account_id: KnownAccount, page: PageQuery, deps: Deps
) -> Page[dict[str, Any]]:
    rates = await deps.units.read(handlers.fx_rates, c.ListFxRates(account_id, page))
    return Page[dict[str, Any]](items=[_rate_out(r) for r in rates.items], next=rates.next)


@router.put("/fx-rates")
async def set_rates(
    who: Operator, account_id: KnownAccount, body: RatesIn, deps: Deps
) -> dict[str, Any]:
    """Set rates (1 base = rate quote, with source and date); recomputes the selection."""
    rates = [FxRate(r.base.upper(), r.quote.upper(), r.rate, r.source, r.as_of) for r in body.rates]
    return await deps.units.handle(
        handlers.set_fx_rates, c.SetFxRates(account_id, rates, who.subject)
    )


def parse_feed(text: str, source: str) -> tuple[list[FxRate], list[dict[str, Any]]]:
    """A feed file: CSV lines `base,quote,rate,as_of[,source]` (a header line is skipped)."""
    rates: list[FxRate] = []
    errors: list[dict[str, Any]] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and cells[0].lower() == "base":
            continue
        try:
            if len(cells) < 4:
                raise ValueError("expected base,quote,rate,as_of[,source]")
            rate = FxRate(
                cells[0].upper(),
                cells[1].upper(),
                Decimal(cells[2]),
                cells[4] if len(cells) > 4 and cells[4] else source,
                date.fromisoformat(cells[3]),
            )
        except (ValueError, InvalidOperation) as exc:
            errors.append({"line": number, "code": "unreadable_row", "reason": str(exc)})
            continue
        problems = rate.problems(f"line {number}")
        if problems:
            errors += [{"line": number, **p.as_dict()} for p in problems]
            continue
        rates.append(rate)
    return rates, errors


@router.post("/fx-rates/import")
async def import_rates(
    who: Operator,
    account_id: KnownAccount,
    request: Request,
    deps: Deps,
    source: Annotated[str, Query(min_length=1)] = "feed",
) -> dict[str, Any]:
    """Import a feed file (text/csv body); bad rows are reported, good rows are applied."""
    text = (await request.body()).decode("utf-8-sig", errors="replace")
    rates, errors = parse_feed(text, source)
    if not rates:
        raise InvalidInput([Problem("body", "no_valid_rates", f"{len(errors)} rows rejected")])
    result = await deps.units.handle(
        handlers.set_fx_rates, c.SetFxRates(account_id, rates, who.subject)
    )
    return {**result, "rejected": errors}


# --- fees ------------------------------------------------------------------------------------


@router.get("/fee-table")
async def get_fee_table(_: Viewer, account_id: KnownAccount, deps: Deps) -> dict[str, Any]:
    table = await deps.units.read(handlers.fee_table, c.GetFeeTable(account_id))
    # What a product without a usable Allegro category pays (derived: not part of a PUT).
    return {**table.as_dict(), "assumed": table.assumed.as_dict()}


@router.put("/fee-table")
async def put_fee_table(
    who: Operator, account_id: KnownAccount, document: Document, deps: Deps
) -> dict[str, Any]:
    FeeTable.parse(document)  # its problems first: they are the more specific ones
    require_fields(document, "rules")
    return await deps.units.handle(
        handlers.set_fee_table, c.SetFeeTable(account_id, document, who.subject)
    )


# --- fee-preview calibration -------------------------------------------------------------


class CalibrationRequest(BaseModel):
    prices: list[Decimal] | None = Field(default=None, min_length=2, max_length=30)
    max_categories: int = Field(default=200, ge=1, le=2_000)


@router.post("/fee-table/calibrate", responses=error_responses(502))
async def calibrate(
    who: Operator, account_id: KnownAccount, body: CalibrationRequest, deps: Deps
) -> dict[str, Any]:
    """Ask fee-preview for each category's commission at sample prices (allegro-pl, PLN);
    the samples become interpolated rows of the account's fee table; then recompute."""
    prices = sorted(set(body.prices or DEFAULT_SAMPLE_PRICES))
    if prices[0] <= 0:
        raise InvalidInput([Problem("prices", "invalid_prices", "sample prices are > 0")])
    categories = await deps.units.read(
        handlers.selection_categories, c.SelectionCategories(account_id, body.max_categories)
    )
    if not categories:
        raise InvalidInput(
            [Problem("account", "no_categories", "no listed item has an Allegro category")]
        )
    # Outside any transaction: no row waits on Allegro. An account without a usable token is
    # a 409 `account_unavailable`, an Allegro failure a 502 (shared.http's handlers).
    sampled, failed = await sample_categories(deps.allegro, account_id, categories, prices)
    result = await deps.units.handle(
        handlers.apply_fee_samples, c.ApplyFeeSamples(account_id, sampled, who.subject)
    )
    return {**result, "failed": failed}


class CheckRequest(BaseModel):
    prices: list[Decimal] | None = Field(default=None, min_length=1, max_length=10)


@router.post("/fee-table/calibration-check", responses=error_responses(502))
async def calibration_check(
    _: Operator, account_id: KnownAccount, body: CheckRequest, deps: Deps
) -> dict[str, Any]:
    """Compare each commission group of the account's table with Allegro's fee-preview for
    one sample category (the selection's most used one in the group, else one found in
    Allegro's tree) at sample prices (default 100 and 2,500 PLN, allegro-pl). Reports every
    group, flags the ones that disagree; changes nothing."""
    prices = sorted(set(body.prices or CHECK_PRICES))
    if prices[0] <= 0:
        raise InvalidInput([Problem("prices", "invalid_prices", "sample prices are > 0")])
    table, plan = await deps.units.read(handlers.calibration_plan, c.CalibrationPlan(account_id))
    if table.currency != "PLN":
        raise InvalidInput(
            [Problem("currency", "unsupported_currency", "the check compares PLN tables")]
        )
    # Outside any transaction: no row waits on Allegro.
    checks = await check_groups(deps.allegro, account_id, table, plan, prices)
    return {
        "marketplace_id": "allegro-pl",
        "currency": "PLN",
        "fee_source": table.source,
        "groups": [check.as_dict() for check in checks],
        "summary": summary(checks),
    }


@router.post("/fee-table/categories/refresh")
async def refresh_categories(_: Operator, account_id: KnownAccount, deps: Deps) -> dict[str, Any]:
    """Read the Allegro category chains of the account's products again (the worker does it
    within `category_poll_seconds` and reprices what changed group)."""
    return await deps.units.handle(handlers.expire_categories, c.ExpireCategories(account_id))


# --- explanation -----------------------------------------------------------------------------


@router.get("/prices/{sku}")
async def prices_of(_: Viewer, account_id: KnownAccount, sku: str, deps: Deps) -> dict[str, Any]:
    """One SKU's stored prices (or unpriced reasons) on every marketplace."""
    return await deps.units.read(handlers.prices_of, c.GetPrices(account_id, sku))


@router.get("/prices/{sku}/{marketplace_id}")
async def explain(
    _: Viewer, account_id: KnownAccount, sku: str, marketplace_id: str, deps: Deps
) -> dict[str, Any]:
    """The stored price of one SKU on one marketplace and the chain that produced it."""
    problems = check_marketplace(marketplace_id, "marketplace_id")
    if problems:
        raise InvalidInput(problems)
    return await deps.units.read(handlers.explain, c.Explain(account_id, sku, marketplace_id))


# --- circuit breaker -------------------------------------------------------------------------


@router.get("/holds")
async def list_holds(
    _: Viewer,
    account_id: KnownAccount,
    page: PageQuery,
    deps: Deps,
    status: str | None = "pending",
) -> Page[dict[str, Any]]:
    """Newest first; `status=` (empty) lists every status."""
    return await deps.units.read(handlers.holds, c.ListHolds(account_id, status or None, page))


@router.post("/holds/{hold_id}/confirm")
async def confirm_hold(
    who: Operator, account_id: KnownAccount, hold_id: uuid.UUID, deps: Deps
) -> dict[str, Any]:
    return await deps.units.handle(
        handlers.decide, c.DecideHold(account_id, hold_id, True, who.subject)
    )


@router.post("/holds/{hold_id}/reject")
async def reject_hold(
    who: Operator, account_id: KnownAccount, hold_id: uuid.UUID, deps: Deps
) -> dict[str, Any]:
    return await deps.units.handle(
        handlers.decide, c.DecideHold(account_id, hold_id, False, who.subject)
    )
