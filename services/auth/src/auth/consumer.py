"""The queues the auth service consumes, each bound to its handler registry."""

from __future__ import annotations

from shared.service import Subscription

SUBSCRIPTIONS: list[Subscription] = []
