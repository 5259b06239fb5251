"""The queues the catalog service consumes, each bound to its handler registry."""

from __future__ import annotations

from catalog.handlers import ORDER_HANDLERS, SUPPLIER_HANDLERS
from shared.messaging.topology import QueueSpec, events, upstream
from shared.service import Subscription

SUPPLIER_PRODUCTS = QueueSpec("catalog.supplier-products", upstream("supplier.products"))
ORDERS = QueueSpec("catalog.orders", events("order.received", "order.cancelled"))

SUBSCRIPTIONS: list[Subscription] = [
    Subscription(SUPPLIER_PRODUCTS, SUPPLIER_HANDLERS),
    Subscription(ORDERS, ORDER_HANDLERS),
]
