"""Available stock: what the supplier has minus what we sold since the supplier last counted.

An order line reserves its quantity from the moment the order reaches us (its `paid_at`, or
when we received it). The supplier's stock figure is taken at its update time (`stock_at`):
reservations older than that figure are already reflected in it (the supplier shipped or
reserved them), newer ones are not, so

    available = max(0, supplier stock - sum(open reservations placed after stock_at))

A cancelled order releases its reservations at once. Stock is shared by every account: a sale
on one shop lowers what all of them offer.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime


def available_stock(
    supplier_stock: int | None,
    stock_at: datetime | None,
    reservations: Iterable[tuple[int, datetime]],
) -> int | None:
    if supplier_stock is None:
        return None
    pending = sum(q for q, at in reservations if stock_at is None or at > stock_at)
    return max(0, supplier_stock - pending)
