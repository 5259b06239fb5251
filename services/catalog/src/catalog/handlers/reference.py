"""BigBuy's reference lists (taxonomy and manufacturer names) and the stock settings."""

from __future__ import annotations

from typing import Any

from catalog.domain import commands as c
from catalog.domain.names import read_list
from catalog.repository import ProductRepository, RuleRepository, StockRepository
from catalog.sync import load_context, publish, resync_named
from shared.events import SupplierReferenceListsChanged
from shared.logs import get_logger
from shared.uow import UnitOfWork

log = get_logger(__name__)


async def save_reference_lists(command: c.SaveReferenceLists, uow: UnitOfWork) -> dict[str, Any]:
    """Upsert both lists (taxonomy names merge per language), then re-resolve the products
    that name a new or changed id: their items are sent again where the names (and so
    screening and listability) changed. Ids missing from a list are kept: a product still
    carrying one is better named by its last known name than by a number."""
    rules = uow.repository(RuleRepository)
    taxonomies = await rules.upsert_taxonomies(command.taxonomies, command.language)
    manufacturers = await rules.upsert_manufacturers(command.manufacturers)
    return {
        "stored": len({r.id for r in command.taxonomies} | {r.id for r in command.manufacturers}),
        "changed": len(taxonomies) + len(manufacturers),
        "emitted_items": await resync_named(uow, taxonomies, manufacturers),
    }


async def supplier_reference_lists_changed(
    event: SupplierReferenceListsChanged, uow: UnitOfWork
) -> None:
    """The BigBuy connector's whole lists, after a full refresh that changed them: the same
    use case as the operator's PUT /reference/*. A bad row is skipped and logged, the rest
    applies (a list of thousands is not refused for one row)."""
    taxonomies, bad_taxonomies = read_list(event.taxonomies, taxonomies=True)
    manufacturers, bad_manufacturers = read_list(event.manufacturers, taxonomies=False)
    for name, errors in (("taxonomies", bad_taxonomies), ("manufacturers", bad_manufacturers)):
        if errors:
            log.warning(
                "supplier_reference_rows_rejected",
                list=name,
                rejected=len(errors),
                first=[e.as_dict() for e in errors[:5]],
            )
    saved = await save_reference_lists(
        c.SaveReferenceLists(taxonomies, manufacturers, event.language.lower()), uow
    )
    log.info("supplier_reference_lists_applied", **saved)


async def count_reference(_: c.CountReference, uow: UnitOfWork) -> dict[str, Any]:
    names = await uow.repository(RuleRepository).names()
    return {"taxonomies": len(names.taxonomies), "manufacturers": len(names.manufacturers)}


async def stock_settings(_: c.GetStockSettings, uow: UnitOfWork) -> dict[str, Any]:
    lag = await uow.repository(StockRepository).reservation_lag()
    return {"reservation_lag_seconds": lag.total_seconds()}


async def set_reservation_lag(command: c.SetReservationLag, uow: UnitOfWork) -> dict[str, Any]:
    """Products with open reservations are re-sent if the new lag changes their stock."""
    stock = uow.repository(StockRepository)
    await stock.set_reservation_lag(command.lag)
    skus = await stock.reserved_skus()
    products = await uow.repository(ProductRepository).load(skus, lock=True)
    emitted = await publish(uow, list(products.values()), await load_context(uow))
    return {"reservation_lag_seconds": command.lag.total_seconds(), "emitted_items": emitted}
