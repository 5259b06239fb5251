"""The queues the BigBuy connector consumes, each bound to its handler registry."""

from __future__ import annotations

from bigbuy_connector.handlers import ORDER_HANDLERS
from shared.messaging.topology import QueueSpec, events
from shared.service import Subscription

# Fixed name and binding: deploy/ relies on them. Paid orders to send, cancellations to stop.
ORDERS = QueueSpec("bigbuy.orders", events("order.received", "order.cancelled"))

SUBSCRIPTIONS: list[Subscription] = [Subscription(ORDERS, ORDER_HANDLERS)]
