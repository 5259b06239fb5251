"""The queues the pricing service consumes, each bound to its handler registry."""

from __future__ import annotations

from pricing.handlers import HANDLERS
from shared.messaging.topology import QueueSpec, events
from shared.service import Subscription

# Fixed name and binding: deploy/ relies on them.
CATALOG_UPDATES = QueueSpec("pricing.catalog-updates", events("catalog.updated"))

SUBSCRIPTIONS: list[Subscription] = [Subscription(CATALOG_UPDATES, HANDLERS)]
