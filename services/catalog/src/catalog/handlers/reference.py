"""BigBuy's reference lists (taxonomy and manufacturer names) and the stock settings."""

from __future__ import annotations

from typing import Any

from catalog.domain import commands as c
from catalog.repository import ProductRepository, RuleRepository, StockRepository
from catalog.sync import load_context, publish, resync
from shared.uow import UnitOfWork


async def save_taxonomies(command: c.SaveTaxonomies, uow: UnitOfWork) -> dict[str, Any]:
    """Upsert (names merge per language), then re-resolve every product: items whose names
    changed are sent again."""
    stored = await uow.repository(RuleRepository).upsert_taxonomies(command.rows, command.language)
    return {"stored": stored, "emitted_items": await resync(uow)}


async def save_manufacturers(command: c.SaveManufacturers, uow: UnitOfWork) -> dict[str, Any]:
    stored = await uow.repository(RuleRepository).upsert_manufacturers(command.rows)
    return {"stored": stored, "emitted_items": await resync(uow)}


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
