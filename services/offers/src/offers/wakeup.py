"""Wakes this process's sync workers when a handler recorded a new wanted price or stock, so a
change goes out in seconds instead of at the next poll (other replicas find it by polling)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

_listeners: set[asyncio.Event] = set()


def wanted_changed() -> None:
    for event in list(_listeners):
        event.set()


@contextmanager
def listening(event: asyncio.Event) -> Iterator[asyncio.Event]:
    """`event` is set on every wanted change while the block runs."""
    _listeners.add(event)
    try:
        yield event
    finally:
        _listeners.discard(event)
