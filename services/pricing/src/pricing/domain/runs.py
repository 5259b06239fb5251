"""What a pricing run changes: per-price moves, their distribution, and the circuit breaker."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pricing.domain.marketplaces import ZERO
from pricing.domain.rules import HUNDRED, Breaker

# Upper bounds (exclusive) of the change buckets, in percent.
BUCKETS: tuple[tuple[str, Decimal], ...] = (
    ("<= -25%", Decimal("-25")),
    ("-25% .. -10%", Decimal("-10")),
    ("-10% .. -5%", Decimal("-5")),
    ("-5% .. 0%", ZERO),
    ("0% .. 5%", Decimal("5")),
    ("5% .. 10%", Decimal("10")),
    ("10% .. 25%", Decimal("25")),
)


_UPPERS = [upper for _, upper in BUCKETS]
_NAMES = [name for name, _ in BUCKETS] + [">= 25%"]


def bucket_of(pct: Decimal) -> str:
    """Buckets are [lower, upper), except the first, which includes -25 %."""
    if pct <= _UPPERS[0]:
        return _NAMES[0]
    return _NAMES[bisect_right(_UPPERS, pct)]


@dataclass(frozen=True)
class Move:
    sku: str
    marketplace_id: str
    old: Decimal | None
    new: Decimal | None

    @property
    def changed(self) -> bool:
        return self.old != self.new

    @property
    def pct(self) -> Decimal | None:
        if self.old is None or self.new is None or self.old == 0:
            return None
        return (self.new - self.old) / self.old * HUNDRED


@dataclass
class RunStats:
    considered: int = 0  # prices compared (product x marketplace)
    changed: int = 0
    newly_priced: int = 0
    newly_unpriced: int = 0
    big_moves: int = 0  # changed by more than the breaker's percentage
    distribution: dict[str, int] = field(default_factory=dict)
    largest: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "considered": self.considered,
            "changed": self.changed,
            "newly_priced": self.newly_priced,
            "newly_unpriced": self.newly_unpriced,
            "big_moves": self.big_moves,
            "distribution": self.distribution,
            "largest": self.largest,
        }


def summarize(
    moves: Iterable[Move],
    breaker: Breaker,
    considered: int | None = None,
    keep_largest: int = 20,
) -> RunStats:
    """`considered`: how many prices were compared, when `moves` lists only the changed ones."""
    stats = RunStats(distribution={name: 0 for name, _ in BUCKETS} | {">= 25%": 0})
    largest: list[tuple[Decimal, Move]] = []
    counted = 0
    for move in moves:
        counted += 1
        if not move.changed:
            continue
        stats.changed += 1
        if move.old is None:
            stats.newly_priced += 1
            continue
        if move.new is None:
            stats.newly_unpriced += 1
            stats.big_moves += 1  # a price withdrawn is a big move for the breaker
            continue
        pct = move.pct
        if pct is None:
            continue
        stats.distribution[bucket_of(pct)] += 1
        if abs(pct) > breaker.max_change_pct:
            stats.big_moves += 1
        largest.append((abs(pct), move))
    stats.considered = counted if considered is None else considered
    largest.sort(key=lambda item: item[0], reverse=True)
    stats.largest = [
        {
            "sku": m.sku,
            "marketplace_id": m.marketplace_id,
            "old": str(m.old),
            "new": str(m.new),
            "change_pct": str(pct.quantize(Decimal("0.1"))),
        }
        for pct, m in largest[:keep_largest]
    ]
    return stats


def trips(stats: RunStats, breaker: Breaker) -> bool:
    """More than `max_share` of the run's existing prices move by more than the percentage."""
    existing = stats.considered - stats.newly_priced
    if not breaker.enabled or existing < breaker.min_items or existing <= 0:
        return False
    return Decimal(stats.big_moves) / Decimal(existing) > breaker.max_share
