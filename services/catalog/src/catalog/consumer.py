"""The queues the catalog service consumes, each bound to its handler registry."""

from __future__ import annotations

from catalog.handlers import ORDER_HANDLERS, REFERENCE_HANDLERS, SUPPLIER_HANDLERS
from shared.messaging.topology import QueueSpec, events, upstream
from shared.service import Subscription

SUPPLIER_PRODUCTS = QueueSpec("catalog.supplier-products", upstream("supplier.products"))
# BigBuy's taxonomies and manufacturers (whole lists, from the connector after a full refresh).
SUPPLIER_REFERENCE_LISTS = QueueSpec(
    "catalog.supplier-reference-lists", upstream("supplier.reference-lists")
)
ORDERS = QueueSpec("catalog.orders", events("order.received", "order.cancelled"))

SUBSCRIPTIONS: list[Subscription] = [
    Subscription(SUPPLIER_PRODUCTS, SUPPLIER_HANDLERS),
    Subscription(SUPPLIER_REFERENCE_LISTS, REFERENCE_HANDLERS),
    Subscription(ORDERS, ORDER_HANDLERS),
]
