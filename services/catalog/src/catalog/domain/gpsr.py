"""GPSR (EU General Product Safety Regulation) data of a product, and whether Allegro needs it.

Since 13 December 2024 an Allegro offer of a product needs its responsible producer: the
manufacturer's name, postal address and electronic contact (e-mail or web form). Allegro's
API does not say which categories require it, so every category does here. A used product
may be declared as placed on the market before the obligation instead
(`marketedBeforeGPSRObligation`), so it does not need the data.

BigBuy gives the data per product (`productcompliance/{id}`, absent for about a third of
products); the BigBuy connector sends it as attributes (`gpsr_name`, `gpsr_country`,
`gpsr_address`, `gpsr_contact`, `gpsr_website`, `gpsr_warnings`), and an import may carry the
same attributes. Pure: no I/O.
"""

from __future__ import annotations

from catalog.domain.model import Product

# Our name for each part -> the attribute that carries it.
GPSR_ATTRIBUTES = {
    "name": "gpsr_name",
    "country": "gpsr_country",
    "address": "gpsr_address",
    "contact": "gpsr_contact",
    "website": "gpsr_website",
    "warnings": "gpsr_warnings",
}
# What a responsible producer cannot go without on Allegro.
REQUIRED = ("name", "address", "contact")
USED = "11323_2"  # Allegro's condition parameter (11323) value Używany


def gpsr_of(product: Product) -> dict[str, str]:
    """The product's GPSR data, the parts it has."""
    found = {part: product.attributes.get(key, "").strip() for part, key in GPSR_ATTRIBUTES.items()}
    return {part: value for part, value in found.items() if value}


def missing_gpsr(product: Product) -> list[str]:
    """The required parts the product lacks where Allegro requires them (empty: complete, or
    a used product, which may be declared as marketed before the obligation)."""
    if product.attributes.get("11323") == USED:
        return []
    have = gpsr_of(product)
    return [part for part in REQUIRED if part not in have]
