"""Picking seeded products with a given trait, and order bodies."""

from __future__ import annotations

from functools import cache
from typing import Any

from bigbuy_emulator import seed

SPEC = seed.CatalogueSpec(seed=7, size=3_000, in_stock_share=0.4)


@cache
def simple_rows(warehouse: int | None = None) -> tuple[int, ...]:
    """Active products without variations (optionally in one warehouse)."""
    return tuple(
        row
        for row in range(SPEC.size)
        if not seed.variation_count(row)
        and seed.product(SPEC, row)["active"] == 1
        and (warehouse is None or seed.warehouse_of(SPEC, row) == warehouse)
    )


def sku(row: int) -> str:
    return seed.sku_for_row(SPEC, row)


def order_body(products: list[tuple[str, int]], **changes: Any) -> dict[str, Any]:
    address = {
        "firstName": "Anna",
        "lastName": "Nowak",
        "country": "PL",
        "postcode": "30-001",
        "town": "Kraków",
        "address": "ul. Przykładowa 5/2",
        "phone": "+48500100200",
        "email": "anna@example.pl",
        "companyName": "",
        "vatNumber": "",
        "comment": "",
    }
    address.update(changes.pop("shippingAddress", {}))
    order = {
        "internalReference": "ALG-0001",
        "language": "pl",
        "paymentMethod": "moneybox",
        "carriers": [{"name": "gls"}, {"name": "dhl"}],
        "shippingAddress": address,
        "products": [{"reference": ref, "quantity": qty} for ref, qty in products],
    }
    order.update(changes)
    return {"order": order}
