"""Use cases of the catalog service run by messages: one function per event, explicit registry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from catalog import metrics
from catalog import repository as repo
from catalog.domain.model import ProductRecord
from catalog.domain.validation import RowError, validate_row
from catalog.ingest import Applied, apply_records
from catalog.sync import load_context, publish
from shared.events import (
    Event,
    OrderCancelled,
    OrderReceived,
    SupplierProduct,
    SupplierProductsChanged,
)
from shared.logs import get_logger
from shared.messaging.consumer import Handler
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
        pg = await repo.raw(uow.connection)
        await pg.execute(
            "INSERT INTO imports (id, format, status, started_at, finished_at, rows, valid,"
            " changed, invalid, emitted_items, created_by)"
            " VALUES ($1, 'upstream', 'done', $2, now(), $3, $4, $5, $6, $7, 'upstream')"
            " ON CONFLICT (id) DO NOTHING",
            report_id,
            now,
            len(event.products),
            len(records),
            applied.changed,
            len({e.line for e in rejected}),
            applied.emitted,
        )
        await repo.write_import_errors(uow.connection, report_id, 0, rejected)


async def _republish(uow: UnitOfWork, skus: list[str]) -> None:
    products = await repo.load_products(uow.connection, sorted(set(skus)), lock=True)
    if products:
        await publish(uow, list(products.values()), await load_context(uow.connection))


async def order_received(event: OrderReceived, uow: UnitOfWork) -> None:
    pg = await repo.raw(uow.connection)
    if await pg.fetchval(
        "SELECT 1 FROM reservations WHERE order_id = $1 AND sku = '*'", event.order_id
    ):
        return  # cancelled before we heard of it (messages may come out of order)
    quantities: dict[str, int] = {}
    for line in event.lines:
        if line.sku:
            quantities[line.sku] = quantities.get(line.sku, 0) + line.quantity
    if not quantities:
        return
    rows = await pg.fetch(
        "INSERT INTO reservations (order_id, sku, account_id, quantity, reserved_at)"
        " SELECT $1, u.sku, $2, u.quantity, $3 FROM unnest($4::text[], $5::int[])"
        " AS u(sku, quantity) ON CONFLICT DO NOTHING RETURNING sku",
        event.order_id,
        event.account_id,
        event.paid_at or datetime.now(UTC),
        list(quantities),
        list(quantities.values()),
    )
    await _republish(uow, [r["sku"] for r in rows])


async def order_cancelled(event: OrderCancelled, uow: UnitOfWork) -> None:
    pg = await repo.raw(uow.connection)
    rows = await pg.fetch(
        "UPDATE reservations SET cancelled_at = now()"
        " WHERE order_id = $1 AND cancelled_at IS NULL AND sku <> '*' RETURNING sku",
        event.order_id,
    )
    await pg.execute(
        "INSERT INTO reservations (order_id, sku, account_id, quantity, reserved_at,"
        " cancelled_at) VALUES ($1, '*', $2, 0, now(), now()) ON CONFLICT DO NOTHING",
        event.order_id,
        event.account_id,
    )
    await _republish(uow, [r["sku"] for r in rows])


SUPPLIER_HANDLERS: dict[type[Event], Handler] = {
    SupplierProductsChanged: supplier_products_changed,
}
ORDER_HANDLERS: dict[type[Event], Handler] = {
    OrderReceived: order_received,
    OrderCancelled: order_cancelled,
}
# Event class -> handler, per queue this service consumes (see consumer.py).
HANDLERS: dict[type[Event], Handler] = {**SUPPLIER_HANDLERS, **ORDER_HANDLERS}
