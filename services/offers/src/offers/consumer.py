"""The queues the offers service consumes, each bound to its handler registry."""

from __future__ import annotations

from offers.handlers import ACCOUNT_HANDLERS, CATALOG_HANDLERS, PRICE_HANDLERS
from shared.messaging.topology import QueueSpec, events
from shared.service import Subscription

# Fixed names and bindings: deploy/ relies on them.
CATALOG_UPDATES = QueueSpec("offers.catalog-updates", events("catalog.updated"))
PRICES = QueueSpec("offers.prices", events("price.computed"))
# Which accounts can publish: a connected account's readiness is checked again.
ACCOUNTS = QueueSpec(
    "offers.accounts",
    events("account.connected", "account.disconnected", "account.refresh-failed"),
)

SUBSCRIPTIONS: list[Subscription] = [
    Subscription(CATALOG_UPDATES, CATALOG_HANDLERS),
    Subscription(PRICES, PRICE_HANDLERS),
    Subscription(ACCOUNTS, ACCOUNT_HANDLERS),
]
