"""Use cases of the catalog, one module per resource, each function taking `(message, uow)`;
the service layer (`shared.uow.UnitsOfWork`) opens the unit of work around them.

The event registries, per queue this service consumes (see consumer.py), are at the bottom.
"""

from __future__ import annotations

from catalog.handlers.events import order_cancelled, order_received, supplier_products_changed
from catalog.handlers.reference import supplier_reference_lists_changed
from shared.events import (
    Event,
    OrderCancelled,
    OrderReceived,
    SupplierProductsChanged,
    SupplierReferenceListsChanged,
)
from shared.messaging.consumer import Handler

SUPPLIER_HANDLERS: dict[type[Event], Handler] = {
    SupplierProductsChanged: supplier_products_changed,
}
REFERENCE_HANDLERS: dict[type[Event], Handler] = {
    SupplierReferenceListsChanged: supplier_reference_lists_changed,
}
ORDER_HANDLERS: dict[type[Event], Handler] = {
    OrderReceived: order_received,
    OrderCancelled: order_cancelled,
}
# Event class -> handler, per queue this service consumes (see consumer.py).
HANDLERS: dict[type[Event], Handler] = {
    **SUPPLIER_HANDLERS,
    **REFERENCE_HANDLERS,
    **ORDER_HANDLERS,
}
