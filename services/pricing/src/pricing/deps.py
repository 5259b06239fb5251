"""What pricing's routes and handlers use beyond their messages: built at start, closed at stop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from pricing.settings import Settings
from shared.deps import AllegroDeps
from shared.service import dependencies_of


@dataclass(frozen=True)
class PricingDeps(AllegroDeps[Settings]):
    """Units of work, settings and the Allegro client (fee-preview calibration)."""


Deps = Annotated[PricingDeps, Depends(dependencies_of(PricingDeps))]
