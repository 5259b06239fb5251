"""What the orders service's routes, handlers and poller use beyond their messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from orders.settings import Settings
from shared.deps import AllegroDeps
from shared.service import dependencies_of


@dataclass(frozen=True)
class OrdersDeps(AllegroDeps[Settings]):
    """Units of work, settings and the Allegro client (order events and checkout forms)."""


Deps = Annotated[OrdersDeps, Depends(dependencies_of(OrdersDeps))]
