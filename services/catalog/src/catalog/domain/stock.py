"""Available stock: what the supplier has minus what we sold since the supplier last counted.

An order line reserves its quantity from the moment the order reaches us (its `paid_at`, or
when we received it). The supplier's stock figure is taken at its update time (`stock_at`):
a reservation is taken as reflected in that figure once the figure is at least `lag` newer
than the reservation (the time an order needs to reach the supplier's books; operator-tunable,
10 minutes by default), otherwise it is still pending:

    available = max(0, supplier stock - sum(open reservations with reserved_at + lag > stock_at))

A cancelled order releases its reservations at once. Stock is shared by every account: a sale
on one shop lowers what all of them offer.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

DEFAULT_LAG = timedelta(minutes=10)


def available_stock(
    supplier_stock: int | None,
    stock_at: datetime | None,
    reservations: Iterable[tuple[int, datetime]],
    lag: timedelta = DEFAULT_LAG,
) -> int | None:
    if supplier_stock is None:
        return None
    pending = sum(q for q, at in reservations if stock_at is None or at + lag > stock_at)
    return max(0, supplier_stock - pending)
