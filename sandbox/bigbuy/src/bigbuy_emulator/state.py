"""The emulator's world: the seeded catalogue plus what changed since (overrides), the wallet,
the orders, the clock, the limiter and the injected errors.

The catalogue itself is never stored: `seed` computes any row on demand, and only the stock,
prices and `active` flags changed by the admin API or by orders are kept, per product or
variation id.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bigbuy_emulator import seed
from bigbuy_emulator.config import EmulatorConfig
from bigbuy_emulator.rate_limits import RateLimiter

Json = dict[str, Any]


def bigbuy_date(ts: float) -> str:
    """BigBuy's date format: no timezone (we write UTC)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Item:
    """A product or a variation, resolved from an id or a SKU."""

    row: int
    k: int | None  # None: the product itself

    @property
    def id(self) -> int:
        if self.k is None:
            return seed.PRODUCT_ID_BASE + self.row
        return seed.variation_id(self.row, self.k)


@dataclass
class Order:
    id: str
    internal_reference: str
    created_at: float
    payment_method: str
    paid: bool
    carrier: Json  # {"id", "name", "price"}
    shipping_address: Json
    products: list[Json]  # {id, reference, quantity, name, priceTaxIncl, priceTaxExcl}
    warehouse: int
    total_products: Decimal  # ex-VAT
    shipping: Decimal  # ex-VAT
    vat_rate: int
    language: str
    status_override: str | None = None

    @property
    def total_tax_excl(self) -> Decimal:
        return self.total_products + self.shipping

    @property
    def total_tax_incl(self) -> Decimal:
        return cents(self.total_tax_excl * (100 + self.vat_rate) / 100)


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


@dataclass
class ForcedError:
    path: str  # the request path contains this ("" = any API path)
    status: int
    body: Any  # JSON body, or a str sent as text
    remaining: int


@dataclass
class World:
    stock: dict[int, list[int]] = field(default_factory=dict)  # id -> units per band
    prices: dict[int, Json] = field(default_factory=dict)  # id -> price fields
    active: dict[int, int] = field(default_factory=dict)  # product id -> 0/1
    wallet: Decimal = Decimal("0")
    orders: dict[str, Order] = field(default_factory=dict)
    orders_by_reference: dict[str, list[str]] = field(default_factory=dict)
    next_order_id: int = 55_500_000


class Emulator:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.clock_offset = 0.0
        self.random = random.Random(config.random_seed)
        self.limiter = RateLimiter(config)
        self.world = World()
        self.forced: list[ForcedError] = []
        self.counters: dict[tuple[str, int], int] = {}  # (limit key or path, status) -> count
        self.reset()

    def reset(self) -> None:
        self.world = World(wallet=Decimal(self.config.wallet_balance))
        self.limiter.reset()
        self.forced.clear()
        self.counters.clear()
        self.random = random.Random(self.config.random_seed)

    def now(self) -> float:
        return time.time() + self.clock_offset

    @property
    def spec(self) -> seed.CatalogueSpec:
        c = self.config
        return seed.CatalogueSpec(c.catalogue_seed, c.catalogue_size, c.in_stock_share)

    # --- lookups ---
    def item_by_id(self, ident: int) -> Item | None:
        spec = self.spec
        row = seed.row_for_id(spec, ident)
        if row is not None:
            return Item(row, None)
        split = seed.split_variation_id(spec, ident)
        return Item(*split) if split else None

    def item_by_sku(self, sku: str) -> Item | None:
        spec = self.spec
        row = seed.row_for_sku(spec, sku)
        if row is not None:
            return Item(row, None)
        split = seed.split_variation_sku(spec, sku)
        return Item(*split) if split else None

    def sku(self, item: Item) -> str:
        if item.k is None:
            return seed.sku_for_row(self.spec, item.row)
        return seed.variation_sku(self.spec, item.row, item.k)

    # --- catalogue with overrides ---
    def quantities(self, item: Item) -> list[int]:
        spec = self.spec
        if item.k is None and seed.variation_count(item.row):
            per_variation = [
                self.quantities(Item(item.row, k)) for k in range(seed.variation_count(item.row))
            ]
            return [sum(column) for column in zip(*per_variation, strict=True)]
        override = self.world.stock.get(item.id)
        return list(override) if override is not None else seed.base_quantities(spec, *_args(item))

    def available(self, item: Item) -> int:
        return sum(self.quantities(item))

    def warehouse(self, item: Item) -> int:
        return seed.warehouse_of(self.spec, item.row)

    def stock_record(self, item: Item) -> Json:
        return seed.stock_record(
            item.id, self.sku(item), self.warehouse(item), self.quantities(item)
        )

    def set_stock(self, item: Item, quantities: list[int]) -> None:
        bands = len(seed.WAREHOUSE_BANDS[self.warehouse(item)])
        self.world.stock[item.id] = (list(quantities) + [0] * bands)[:bands]

    def take_stock(self, item: Item, quantity: int) -> None:
        rows = self.quantities(item)
        for i, held in enumerate(rows):
            used = min(held, quantity)
            rows[i] -= used
            quantity -= used
        self.world.stock[item.id] = rows

    def product(self, row: int) -> Json:
        record = seed.product(self.spec, row)
        ident = record["id"]
        if ident in self.world.prices:
            record.update(self.world.prices[ident])
        if ident in self.world.active:
            record["active"] = self.world.active[ident]
        return record

    def variation(self, row: int, k: int) -> Json:
        record = seed.variation(self.spec, row, k)
        override = self.world.prices.get(record["id"])
        if override:
            record.update(override)
        return record

    def record(self, item: Item) -> Json:
        return self.product(item.row) if item.k is None else self.variation(item.row, item.k)

    def prices(self, item: Item, tiers: bool) -> Json:
        record = self.record(item)
        prices = {
            "id": record["id"],
            "sku": record["sku"],
            "wholesalePrice": record["wholesalePrice"],
            "retailPrice": record["retailPrice"],
            "inShopsPrice": record["inShopsPrice"],
        }
        if tiers:
            prices["priceLargeQuantities"] = record["priceLargeQuantities"] or []
        return prices

    # --- orders ---
    def new_order_id(self) -> str:
        self.world.next_order_id += 1
        return str(self.world.next_order_id)

    def order_status(self, order: Order) -> str:
        """Statuses advance with the (emulator's) clock once an order is paid."""
        if order.status_override:
            return order.status_override
        if not order.paid:
            return "Pending payment"
        age = self.now() - order.created_at
        c = self.config
        if age >= c.delivered_after_seconds:
            return "Delivered"
        if age >= c.shipped_after_seconds:
            return "Shipped"
        if age >= c.processing_after_seconds:
            return "Processing in progress"
        return "Payment accepted"


def _args(item: Item) -> tuple[int] | tuple[int, int]:
    return (item.row,) if item.k is None else (item.row, item.k)


ORDER_STATUSES: list[tuple[int, str]] = [
    (1, "Pending payment"),
    (2, "Payment accepted"),
    (3, "Processing in progress"),
    (4, "Shipped"),
    (5, "Delivered"),
    (6, "Cancelled"),
    (7, "Refunded"),
    (8, "Payment error"),
    (9, "PENDING INVOICE"),
]
SHIPPED = ("Shipped", "Delivered")
