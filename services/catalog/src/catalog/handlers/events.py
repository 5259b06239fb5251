"""Use cases run by messages: one function per event (the registries are in __init__)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from catalog import metrics
from catalog.domain.model import ProductRecord
from catalog.domain.validation import RowError, validate_row
from catalog.ingest import Applied, apply_records
from catalog.repository import ImportRepository, ProductRepository, StockRepository
from catalog.sync import load_context, publish
from shared.events import OrderCancelled, OrderReceived, SupplierProduct, SupplierProductsChanged
from shared.logs import get_logger
from shared.uow import UnitOfWork

log = get_logger(__name__)


def supplier_row(product: SupplierProduct) -> dict[str, Any]:
    """The fields a record carries. A null is an absent field (the envelope serialises every
    field, so a partial record arrives with nulls): it leaves the stored value as it is."""
    row: dict[str, Any] = {}
    for name in SupplierProduct.model_fields:
        value = getattr(product, name)
        if value is None:
            continue
        if name in ("cost", "rrp"):
            row[f"{name}_amount"] = value.amount
            row[f"{name}_currency"] = value.currency
        else:
            row[name] = value
    return row


async def supplier_products_changed(event: SupplierProductsChanged, uow: UnitOfWork) -> None:
    """Apply the valid records; the rejected ones are kept as an import report whose id is the
    message's (GET /imports/{message id}), `line` being the record's position in the batch."""
    now = datetime.now(UTC)
    records: list[ProductRecord] = []
    rejected: list[RowError] = []
    for index, product in enumerate(event.products, start=1):
        result = validate_row(supplier_row(product), index, now, require_full=False)
        if isinstance(result, ProductRecord):
            records.append(result)
        else:
            rejected.extend(result)
            metrics.upstream_rejected.inc()
            log.warning(
                "supplier_record_rejected",
                sku=product.sku,
                errors=[e.as_dict() for e in result],
            )
    applied = await apply_records(uow, records, "upstream") if records else Applied()
    if rejected:
        report_id = uow.incoming.id if uow.incoming is not None else uuid.uuid4()
        imports = uow.repository(ImportRepository)
        await imports.save_upstream_report(
            report_id,
            now,
            len(event.products),
            len(records),
            applied.changed,
            len({e.line for e in rejected}),
            applied.emitted,
        )
        await imports.write_errors(report_id, 0, rejected)


async def _republish(uow: UnitOfWork, skus: list[str]) -> None:
    products = await uow.repository(ProductRepository).load(sorted(set(skus)), lock=True)
    if products:
        await publish(uow, list(products.values()), await load_context(uow))


async def order_received(event: OrderReceived, uow: UnitOfWork) -> None:
    stock = uow.repository(StockRepository)
    if await stock.is_cancelled(event.order_id):
        return  # cancelled before we heard of it (messages may come out of order)
    quantities: dict[str, int] = {}
    for line in event.lines:
        if line.sku:
            quantities[line.sku] = quantities.get(line.sku, 0) + line.quantity
    if not quantities:
        return
    reserved = await stock.reserve(
        event.order_id, event.account_id, event.paid_at or datetime.now(UTC), quantities
    )
    await _republish(uow, reserved)


async def order_cancelled(event: OrderCancelled, uow: UnitOfWork) -> None:
    released = await uow.repository(StockRepository).cancel(event.order_id, event.account_id)
    await _republish(uow, released)
