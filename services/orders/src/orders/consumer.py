"""The queues the orders service consumes, each bound to its handler registry."""

from __future__ import annotations

from orders.handlers import ACCOUNT_HANDLERS
from shared.messaging.topology import QueueSpec, events
from shared.service import Subscription

# Fixed name and binding: deploy/ relies on them. Which accounts to poll, and when to stop.
ACCOUNTS = QueueSpec(
    "orders.accounts",
    events("account.connected", "account.disconnected", "account.refresh-failed"),
)

SUBSCRIPTIONS: list[Subscription] = [Subscription(ACCOUNTS, ACCOUNT_HANDLERS)]
