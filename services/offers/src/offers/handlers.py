"""Use cases of the offers service: one function per message, and the explicit registry."""

from __future__ import annotations

from shared.events import Event
from shared.messaging.consumer import Handler

# Event class -> handler, per queue this service consumes (see consumer.py).
HANDLERS: dict[type[Event], Handler] = {}
