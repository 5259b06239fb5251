"""The queues the orders service consumes, each bound to its handler registry."""

from __future__ import annotations

from orders.handlers import ACCOUNT_HANDLERS, OFFER_HANDLERS, SHIPMENT_HANDLERS
from shared.messaging.topology import QueueSpec, events, upstream
from shared.service import Subscription

# Fixed names and bindings: deploy/ relies on them. Which accounts to poll, and when to stop.
ACCOUNTS = QueueSpec(
    "orders.accounts",
    events("account.connected", "account.disconnected", "account.refresh-failed"),
)
# The fulfilment system's shipments (waybills to write back) and status changes. Its handlers
# only check and record (Allegro is called later, by the write-back loop), and database
# outages are retried without counting: a failure is the message's own and would repeat, so
# it is dead-lettered at the first one, with the reason, instead of tried four more times.
SHIPMENTS = QueueSpec(
    "orders.shipments", upstream("supplier.shipment", "supplier.fulfillment"), max_failures=1
)

# The offers the platform published, by id: the SKU of a line whose offer has no external id.
OFFERS = QueueSpec("orders.offers", events("offer.published"))

SUBSCRIPTIONS: list[Subscription] = [
    Subscription(ACCOUNTS, ACCOUNT_HANDLERS),
    Subscription(SHIPMENTS, SHIPMENT_HANDLERS),
    Subscription(OFFERS, OFFER_HANDLERS),
]
