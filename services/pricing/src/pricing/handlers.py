"""Use cases of the pricing service: one function per message or operator command.

Every use case runs inside one unit of work: the state it changes and the PriceComputed events
it causes (outbox rows) commit together.
"""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from pricing import metrics
from pricing import repository as repo
from pricing.domain import commands as c
from pricing.domain.categories import CategoryRow, GroupSample, samples_from_selection
from pricing.domain.engine import Outcome, PricingEngine
from pricing.domain.errors import InvalidInput, Problem
from pricing.domain.fees import FeeTable
from pricing.domain.fx import FxRate, FxTable
from pricing.domain.marketplaces import MARKETPLACES
from pricing.domain.rules import Product, RuleSet
from pricing.domain.runs import Move, RunStats, summarize, trips
from pricing.domain.trace import Trace
from pricing.repository import PricingRepository
from shared.errors import Conflict, Invalid, NotFound
from shared.events import CatalogUpdated, Event, PriceComputed
from shared.logs import get_logger
from shared.messaging.consumer import Handler
from shared.pagination import Page, page_of
from shared.uow import UnitOfWork

log = get_logger(__name__)

CHUNK = 250  # products priced between two yields to the event loop
EVENT_ITEMS = 250  # items per PriceComputed message
BELOW_FLOOR_LIST = 200
MARKETS = len(MARKETPLACES)
SAVE_SLICE = 2_500  # price rows per INSERT of a big run


class Priced:
    __slots__ = ("outcomes", "prices", "product", "unpriced")

    def __init__(self, product: Product, outcomes: dict[str, Outcome]) -> None:
        self.product = product
        self.outcomes = outcomes
        self.prices = {m: str(o.amount) for m, o in outcomes.items() if o.amount is not None}
        self.unpriced = {m: o.reason or "unpriced" for m, o in outcomes.items() if o.amount is None}


@dataclass
class RunResult:
    kind: str
    stats: RunStats
    held: bool = False
    hold_id: uuid.UUID | None = None
    changed_items: int = 0
    events: int = 0
    unpriced: dict[str, int] = field(default_factory=dict)
    below_floor: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "status": "held" if self.held else "applied",
            "hold_id": None if self.hold_id is None else str(self.hold_id),
            "changed_products": self.changed_items,
            "events": self.events,
            "unpriced": self.unpriced,
            "below_floor": self.below_floor,
            **self.stats.as_dict(),
        }


_ENGINE_CACHE: dict[tuple[str, int | None, str, str], PricingEngine] = {}


async def load_engine(
    store: PricingRepository, account_id: str, rules: RuleSet | None = None
) -> tuple[PricingEngine, int | None]:
    """The account's engine. The same stored context gives the same (warm) engine: a stream of
    CatalogUpdated messages does not re-parse the rules and fee table for every message."""
    version, rules_doc, fees_doc, fx_doc = await store.context_sources(account_id)
    key = (account_id, version, fees_doc or "", fx_doc or "")
    if rules is None:
        cached = _ENGINE_CACHE.get(key)
        if cached is not None:
            return cached, version
    active = RuleSet.parse(orjson.loads(rules_doc)) if rules_doc else RuleSet()
    fees = FeeTable.parse(orjson.loads(fees_doc)) if fees_doc else FeeTable()
    fx = FxTable([FxRate.from_dict(r) for r in orjson.loads(fx_doc)] if fx_doc else [])
    engine = PricingEngine(rules or active, fees, fx)
    if rules is None:
        if len(_ENGINE_CACHE) > 32:
            _ENGINE_CACHE.clear()
        _ENGINE_CACHE[key] = engine
    return engine, version


async def price_products(engine: PricingEngine, products: Sequence[Product]) -> list[Priced]:
    """CPU-bound: price in chunks and yield between them so heartbeats keep flowing."""
    out: list[Priced] = []
    for start in range(0, len(products), CHUNK):
        # The chains are many small containers and none is garbage: the cyclic collector
        # would rescan them over and over (quadratic on a big run), so it pauses per chunk.
        gc.disable()
        try:
            for product in products[start : start + CHUNK]:
                out.append(Priced(product, engine.price_all(product)))
        finally:
            gc.enable()
        await asyncio.sleep(0)
    return out


async def _moves(priced: Sequence[Priced], stored: dict[str, repo.StoredPrice]) -> list[Move]:
    """Only the prices that differ from the stored ones (the rest are counted as considered)."""
    moves: list[Move] = []
    for number, item in enumerate(priced):
        if number % 5_000 == 4_999:
            await asyncio.sleep(0)  # a whole-account run: let the loop breathe
        old = stored.get(item.product.sku)
        if old is not None and old.prices == item.prices:
            continue
        sku = item.product.sku
        for mid, outcome in item.outcomes.items():
            before = old.prices.get(mid) if old is not None else None
            now = item.prices.get(mid)
            if before != now:
                moves.append(
                    Move(sku, mid, None if before is None else Decimal(before), outcome.amount)
                )
    return moves


def _summary(priced: Sequence[Priced]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    reasons: dict[str, int] = {}
    below: list[dict[str, Any]] = []
    priced_count = 0
    for item in priced:
        for mid, outcome in item.outcomes.items():
            if outcome.amount is not None:
                priced_count += 1
                continue
            reason = outcome.reason or "unpriced"
            reasons[reason] = reasons.get(reason, 0) + 1
            if reason == "below_floor" and len(below) < BELOW_FLOOR_LIST:
                detail = outcome.trace.unpriced_detail or ""
                below.append(
                    {
                        "sku": item.product.sku,
                        "marketplace_id": mid,
                        "floor": None if outcome.floor is None else str(outcome.floor),
                        "detail": detail,
                    }
                )
    metrics.prices_computed.labels("priced").inc(priced_count)
    for reason, count in reasons.items():
        metrics.prices_computed.labels(reason).inc(count)
    return reasons, below


def _row(item: Priced) -> tuple[str, int, bytes, bytes, bytes]:
    """The stored form: prices, reasons and each marketplace's compact trace (expanded into the
    explanation chain on request, with the run's context snapshot)."""
    return (
        item.product.sku,
        item.product.revision,
        orjson.dumps(item.prices),
        orjson.dumps(item.unpriced),
        orjson.dumps({mid: o.trace.as_stored() for mid, o in item.outcomes.items()}),
    )


class _PriceComputedWire(PriceComputed):
    """PriceComputed whose items are already in their wire form (plain dicts).

    Same event type, routing key and JSON as PriceComputed (a test checks that the payload
    validates as PriceComputed); it only spares 45,000 items x 5 pydantic models per run.
    """

    items: list[dict[str, Any]]  # type: ignore[assignment]

    def model_dump(self, **_: Any) -> dict[str, Any]:
        # Already JSON-ready: spare pydantic's type inference over every value.
        return {"account_id": self.account_id, "items": self.items}


def _wire_item(item: Priced, rule_version: int | None) -> dict[str, Any]:
    outcomes = item.outcomes
    main = outcomes.get("allegro-pl")
    return {
        "sku": item.product.sku,
        "catalog_revision": item.product.revision,
        "prices": {
            m: {"amount": amount, "currency": outcomes[m].currency}
            for m, amount in item.prices.items()
        },
        "unpriced": item.unpriced,
        "rule_id": main.rule_id if main is not None else None,
        # The full chain is served by GET /accounts/{id}/prices/{sku}/{marketplace}.
        "breakdown": {"rule_version": rule_version},
    }


async def run_pricing(
    uow: UnitOfWork,
    account_id: str,
    products: Sequence[Product],
    engine: PricingEngine,
    rule_version: int | None,
    *,
    kind: str,
    by: str,
    force: bool = False,
    hold_rule_version: int | None = None,
    hold_skus: bool = False,
) -> RunResult:
    """Price `products`, compare with the stored prices, and either apply the run (store all,
    emit PriceComputed for the changed ones) or, if the breaker trips, hold it for an operator."""
    started = time.perf_counter()
    marks: dict[str, float] = {}

    def mark(phase: str) -> None:
        marks[phase] = round(time.perf_counter() - started, 4)

    store = uow.repository(PricingRepository)
    priced = await price_products(engine, products)
    mark("priced")
    stored = await store.stored_prices(
        account_id, None if len(products) > 5_000 else [p.sku for p in products]
    )
    mark("loaded")
    stats = summarize(await _moves(priced, stored), engine.rules.breaker, len(priced) * MARKETS)
    reasons, below = _summary(priced)
    mark("compared")
    result = RunResult(kind, stats, unpriced=reasons, below_floor=below)
    if not force and trips(stats, engine.rules.breaker):
        result.held = True
        result.hold_id = await store.create_hold(
            account_id,
            kind,
            result.as_dict() | {"status": "held"},
            by,
            rule_version=hold_rule_version,
            skus=[p.sku for p in products] if hold_skus else None,
        )
        metrics.runs.labels(kind, "held").inc()
        log.warning("pricing_run_held", account_id=account_id, kind=kind, **stats.as_dict())
        metrics.run_duration.labels(kind).observe(time.perf_counter() - started)
        return result
    context_id, document = engine.snapshot()
    await store.save_context(account_id, context_id, document)
    # Sorted by sku: concurrent writers lock rows in the same order (no deadlock); in slices,
    # yielding between them, so a whole-account run never holds the event loop for long.
    ordered = sorted(priced, key=lambda item: item.product.sku) if len(priced) > 1 else priced
    changed = []
    for start in range(0, len(ordered), SAVE_SLICE):
        part = ordered[start : start + SAVE_SLICE]
        await store.save_prices(account_id, rule_version, context_id, [_row(i) for i in part])
        for item in part:
            old = stored.get(item.product.sku)
            if old is None or old.prices != item.prices or old.unpriced != item.unpriced:
                if old is not None and old.catalog_revision > item.product.revision:
                    continue  # a newer revision was priced already
                changed.append(_wire_item(item, rule_version))
    mark("stored")
    events: list[Event] = [
        _PriceComputedWire.model_construct(
            account_id=account_id, items=changed[i : i + EVENT_ITEMS]
        )
        for i in range(0, len(changed), EVENT_ITEMS)
    ]
    mark("events_built")
    await uow.emit(*events)
    mark("emitted")
    log.info("pricing_run", account_id=account_id, kind=kind, products=len(products), **marks)
    result.changed_items = len(changed)
    result.events = len(events)
    metrics.prices_changed.inc(stats.changed)
    metrics.runs.labels(kind, "applied").inc()
    metrics.run_duration.labels(kind).observe(time.perf_counter() - started)
    return result


# --- messages --------------------------------------------------------------------------------


async def catalog_updated(event: CatalogUpdated, uow: UnitOfWork) -> None:
    """Keep what pricing needs of the items, price the newer ones, emit what changed."""
    store = uow.repository(PricingRepository)
    # First, before any row is locked: a change of rules, fees, FX rates or category chains
    # being saved commits before these items are priced, so they get it. Priced with the old
    # inputs while the change repriced their older revision, the newer revision's price
    # would stand on the old inputs.
    await store.lock_pricing_inputs(event.account_id, shared=True)
    latest: dict[str, Product] = {}
    for item in event.items:
        product = repo.item_product(item)
        held = latest.get(product.sku)
        if held is None or held.revision < product.revision:
            latest[product.sku] = product
    applied = await store.upsert_items(event.account_id, list(latest.values()))
    withdrawn = [s for s in applied if not latest[s].listed]
    await store.delete_prices(event.account_id, withdrawn)
    fresh = [p for s, p in latest.items() if s in applied and p.listed]
    if not fresh:
        return
    await store.attach_chains(fresh)
    engine, version = await load_engine(store, event.account_id)
    await run_pricing(
        uow,
        event.account_id,
        fresh,
        engine,
        version,
        kind="catalog",
        by="catalog",
        hold_skus=True,
    )


HANDLERS: dict[type[Event], Handler] = {CatalogUpdated: catalog_updated}


# --- operator commands: (command, uow), in the unit of work the service layer opened -----


async def recompute(
    uow: UnitOfWork, account_id: str, kind: str, by: str, *, force: bool = False
) -> RunResult:
    engine, version = await load_engine(uow.repository(PricingRepository), account_id)
    products = await uow.repository(PricingRepository).listed_products(account_id)
    return await run_pricing(
        uow, account_id, products, engine, version, kind=kind, by=by, force=force
    )


async def save_rules(command: c.SaveRules, uow: UnitOfWork) -> dict[str, Any]:
    account_id, by = command.account_id, command.by
    rules = RuleSet.parse(command.document)
    store = uow.repository(PricingRepository)
    await store.supersede_rule_holds(account_id, by)
    version = await store.add_rule_version(account_id, rules, "pending", by)
    engine, _ = await load_engine(store, account_id, rules)
    products = await store.listed_products(account_id)
    result = await run_pricing(
        uow, account_id, products, engine, version, kind="rules", by=by, hold_rule_version=version
    )
    if not result.held:
        await store.activate_rules(account_id, version)
    return {
        "version": version,
        "status": "pending" if result.held else "active",
        "run": result.as_dict(),
    }


async def add_rule(command: c.AddRule, uow: UnitOfWork) -> dict[str, Any]:
    _, rules = await uow.repository(PricingRepository).active_rules(command.account_id)
    doc = rules.as_dict()
    doc["rules"] = [*doc["rules"], command.rule]
    return await save_rules(c.SaveRules(command.account_id, doc, command.by), uow)


async def delete_rule(command: c.DeleteRule, uow: UnitOfWork) -> dict[str, Any]:
    _, rules = await uow.repository(PricingRepository).active_rules(command.account_id)
    doc = rules.as_dict()
    kept = [r for r in doc["rules"] if r["id"] != command.rule_id]
    if len(kept) == len(doc["rules"]):
        raise NotFound(f"no rule {command.rule_id}")
    doc["rules"] = kept
    return await save_rules(c.SaveRules(command.account_id, doc, command.by), uow)


async def set_fx_rates(command: c.SetFxRates, uow: UnitOfWork) -> dict[str, Any]:
    problems: list[Problem] = []
    for i, rate in enumerate(command.rates):
        problems += rate.problems(f"rates.{i}")
    if problems:
        raise InvalidInput(problems)
    await uow.repository(PricingRepository).save_fx_rates(command.account_id, command.rates)
    run = await recompute(uow, command.account_id, "fx", command.by)
    return {"saved": len(command.rates), "run": run.as_dict()}


async def set_fee_table(command: c.SetFeeTable, uow: UnitOfWork) -> dict[str, Any]:
    table = FeeTable.parse(command.document)
    await uow.repository(PricingRepository).save_fee_table(command.account_id, table, command.by)
    run = await recompute(uow, command.account_id, "fees", command.by)
    return {"fee_table": table.as_dict(), "run": run.as_dict()}


async def apply_fee_samples(command: c.ApplyFeeSamples, uow: UnitOfWork) -> dict[str, Any]:
    """Merge fee-preview rows (by category id) into the account's table, save, recompute."""
    account_id = command.account_id
    table = await uow.repository(PricingRepository).fee_table(account_id)
    by_key = {rule.key: rule for rule in table.rules}
    for rule in command.sampled:
        by_key[rule.key] = rule
    merged = FeeTable(tuple(by_key.values()), table.marketplaces, table.currency, table.source)
    await uow.repository(PricingRepository).save_fee_table(account_id, merged, command.by)
    run = await recompute(uow, account_id, "fees", command.by)
    return {"calibrated": [r.key for r in command.sampled], "run": run.as_dict()}


async def save_categories(command: c.SaveCategories, uow: UnitOfWork) -> list[str]:
    """Store what was read of Allegro's tree; the accounts whose products it reprices."""
    store = uow.repository(PricingRepository)
    await store.save_categories(command.rows)
    return await store.accounts_using(command.resolved)


async def reprice_categories(command: c.RepriceCategories, uow: UnitOfWork) -> dict[str, Any]:
    """Reprice an account's products of categories whose chain (so commission group) is now
    known or changed; only changed prices are emitted, a big move is held as any run."""
    store, account_id = uow.repository(PricingRepository), command.account_id
    # The chains were saved (committed) before; a catalogue batch priced with the old ones
    # commits before its products are read here.
    await store.lock_pricing_inputs(account_id)
    skus = await store.products_in_categories(account_id, command.categories)
    products = await store.listed_products(account_id, skus=skus)
    if not products:
        return {"products": 0}
    engine, version = await load_engine(store, account_id)
    run = await run_pricing(
        uow,
        account_id,
        products,
        engine,
        version,
        kind="categories",
        by="allegro-categories",
        hold_skus=True,
    )
    return run.as_dict()


async def expire_categories(command: c.ExpireCategories, uow: UnitOfWork) -> dict[str, Any]:
    store = uow.repository(PricingRepository)
    expired = await store.expire_categories(command.account_id)
    return {"expired": expired}


async def decide(command: c.DecideHold, uow: UnitOfWork) -> dict[str, Any]:
    account_id, hold_id, by = command.account_id, command.hold_id, command.by
    store = uow.repository(PricingRepository)
    hold = await store.hold_for_update(account_id, hold_id)
    if hold is None:
        raise NotFound(f"no hold {hold_id}")
    if hold.status != "pending":
        raise Conflict(f"hold {hold_id} is {hold.status}")
    await store.decide_hold(hold_id, "confirmed" if command.confirm else "rejected", by)
    if not command.confirm:
        if hold.kind == "rules" and hold.rule_version is not None:
            await store.set_rule_status(account_id, hold.rule_version, "rejected")
        return {"hold": str(hold_id), "status": "rejected"}
    if hold.kind == "rules" and hold.rule_version is not None:
        await store.activate_rules(account_id, hold.rule_version)
    engine, version = await load_engine(store, account_id)
    products = await store.listed_products(account_id, skus=hold.skus)
    run = await run_pricing(
        uow, account_id, products, engine, version, kind="confirm", by=by, force=True
    )
    return {"hold": str(hold_id), "status": "confirmed", "run": run.as_dict()}


# --- queries: (query, uow) on a unit of work that is rolled back -----------------------------


async def current_rules(query: c.GetRules, uow: UnitOfWork) -> dict[str, Any]:
    store, account_id = uow.repository(PricingRepository), query.account_id
    version, rules = await store.active_rules(account_id)
    pending = [v for v in await store.rule_versions(account_id, 10) if v.status == "pending"]
    return {
        "version": version,
        "rules": rules.as_dict(),
        "pending_versions": [v.version for v in pending],
    }


async def rule_versions(query: c.ListRuleVersions, uow: UnitOfWork) -> Page[dict[str, Any]]:
    page = query.page
    before = None if page.after is None else _cursor_number(page.after)
    versions = await uow.repository(PricingRepository).rule_versions(
        query.account_id, page.fetch, before
    )
    listed = page_of(versions, page, lambda v: str(v.version))
    return Page[dict[str, Any]](
        items=[
            {
                "version": v.version,
                "status": v.status,
                "created_by": v.created_by,
                "created_at": v.created_at.isoformat(),
                "rules": v.document,
            }
            for v in listed.items
        ],
        next=listed.next,
    )


async def fx_rates(query: c.ListFxRates, uow: UnitOfWork) -> Page[FxRate]:
    # A handful of pairs per account: read whole, paged here by "BASE/QUOTE".
    table = await uow.repository(PricingRepository).fx_table(query.account_id)
    page = query.page
    rates = sorted(table.rates, key=lambda r: (r.base, r.quote))
    rates = [r for r in rates if page.after is None or f"{r.base}/{r.quote}" > page.after]
    return page_of(rates[: page.fetch], page, lambda r: f"{r.base}/{r.quote}")


def _cursor_number(cursor: str) -> int:
    if not cursor.isdigit() or len(cursor) > 9:
        raise Invalid(
            "not a cursor of this list", code="invalid_cursor", details=[{"field": "after"}]
        )
    return int(cursor)


async def fee_table(query: c.GetFeeTable, uow: UnitOfWork) -> FeeTable:
    return await uow.repository(PricingRepository).fee_table(query.account_id)


async def categories_to_resolve(
    query: c.CategoriesToResolve, uow: UnitOfWork
) -> list[tuple[str, list[str]]]:
    return await uow.repository(PricingRepository).categories_to_resolve(
        query.ttl_seconds, query.limit
    )


async def fresh_categories(query: c.FreshCategories, uow: UnitOfWork) -> dict[str, CategoryRow]:
    return await uow.repository(PricingRepository).fresh_categories(query.ttl_seconds)


async def calibration_plan(
    query: c.CalibrationPlan, uow: UnitOfWork
) -> tuple[FeeTable, list[GroupSample]]:
    """The account's table and, per commission group, a category of its selection that the
    group prices (the check reads Allegro's tree for the groups left without one)."""
    store = uow.repository(PricingRepository)
    table = await store.fee_table(query.account_id)
    used = await store.selection_categories(query.account_id, query.max_categories)
    chains = await store.category_chains(used) if used else {}
    return table, samples_from_selection(table, used, chains)


async def selection_categories(query: c.SelectionCategories, uow: UnitOfWork) -> list[str]:
    return await uow.repository(PricingRepository).selection_categories(
        query.account_id, query.limit
    )


async def holds(query: c.ListHolds, uow: UnitOfWork) -> Page[dict[str, Any]]:
    page = query.page
    try:
        after = None if page.after is None else uuid.UUID(page.after)
    except ValueError:
        raise Invalid(
            "not a cursor of this list", code="invalid_cursor", details=[{"field": "after"}]
        ) from None
    found = await uow.repository(PricingRepository).holds(
        query.account_id, query.status, limit=page.fetch, after=after
    )
    listed = page_of(found, page, lambda h: str(h.id))
    return Page[dict[str, Any]](items=[h.as_dict() for h in listed.items], next=listed.next)


async def simulate(query: c.Simulate, uow: UnitOfWork) -> dict[str, Any]:
    """Apply a draft rule set to the selection (or a sample) without saving anything."""
    store, account_id, sample = uow.repository(PricingRepository), query.account_id, query.sample
    rules = RuleSet.parse(query.rules)
    engine, _ = await load_engine(store, account_id, rules)
    products = await store.listed_products(account_id, sample=sample)
    priced = await price_products(engine, products)
    stored = await store.stored_prices(
        account_id, None if sample is None else [p.sku for p in products]
    )
    stats = summarize(await _moves(priced, stored), rules.breaker, len(priced) * MARKETS)
    reasons, below = _summary(priced)
    return {
        "products": len(products),
        "would_trip_circuit_breaker": trips(stats, rules.breaker),
        "unpriced": reasons,
        "below_floor": below,
        **stats.as_dict(),
    }


async def prices_of(query: c.GetPrices, uow: UnitOfWork) -> dict[str, Any]:
    account_id, sku = query.account_id, query.sku
    row = await uow.repository(PricingRepository).explanation(account_id, sku)
    if row is None:
        raise NotFound(f"no price computed for {sku}")
    prices = orjson.loads(row.prices)
    unpriced = orjson.loads(row.unpriced)
    traces = {mid: Trace.from_stored(t) for mid, t in orjson.loads(row.explanation).items()}
    return {
        "account_id": account_id,
        "sku": sku,
        "catalog_revision": row.catalog_revision,
        "rule_version": row.rule_version,
        "computed_at": row.computed_at.isoformat(),
        "marketplaces": {
            mid: {
                "amount": prices.get(mid),
                "currency": market.currency,
                "reason": unpriced.get(mid),
                "rule_id": traces[mid].rule_id if mid in traces else None,
                "floor": traces[mid].floor if mid in traces else None,
            }
            for mid, market in MARKETPLACES.items()
        },
    }


_ENGINES: dict[uuid.UUID, PricingEngine] = {}


async def explain(query: c.Explain, uow: UnitOfWork) -> dict[str, Any]:
    store, account_id, sku, marketplace_id = (
        uow.repository(PricingRepository),
        query.account_id,
        query.sku,
        query.marketplace_id,
    )
    row = await store.explanation(account_id, sku)
    if row is None:
        raise NotFound(f"no price computed for {sku}")
    stored = orjson.loads(row.explanation).get(marketplace_id)
    if stored is None:
        raise NotFound(f"{sku} has no explanation for {marketplace_id}")
    trace = Trace.from_stored(stored)
    engine = _ENGINES.get(row.context_id)
    if engine is None:
        if len(_ENGINES) > 64:
            _ENGINES.clear()
        document = await store.context_document(row.context_id)
        engine = _ENGINES[row.context_id] = PricingEngine.from_snapshot(document)
    prices = orjson.loads(row.prices)
    unpriced = orjson.loads(row.unpriced)
    chain = engine.chain(marketplace_id, trace)
    for step in chain:
        if step["step"] == "commission" and step.get("category_chain"):
            # The chain's names as Allegro last gave them (ids are what was priced with).
            names = await store.category_names(step["category_chain"])
            step["category_chain"] = [
                {"id": cid, "name": names.get(cid)} for cid in step["category_chain"]
            ]
    return {
        "account_id": account_id,
        "sku": sku,
        "marketplace_id": marketplace_id,
        "currency": MARKETPLACES[marketplace_id].currency,
        "amount": prices.get(marketplace_id),
        "reason": unpriced.get(marketplace_id),
        "rule_id": trace.rule_id,
        "floor": trace.floor,
        "catalog_revision": row.catalog_revision,
        "rule_version": row.rule_version,
        "context_id": str(row.context_id),
        "computed_at": row.computed_at.isoformat(),
        "chain": chain,
    }
