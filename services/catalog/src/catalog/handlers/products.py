"""Products: the list, one product with its stock and names, the operator's title."""

from __future__ import annotations

from typing import Any

from catalog.domain import commands as c
from catalog.domain.gpsr import gpsr_of, missing_gpsr
from catalog.domain.model import Product
from catalog.domain.stock import available_stock
from catalog.repository import ProductRepository, RuleRepository, StockRepository
from catalog.sync import load_context, publish
from shared.errors import NotFound
from shared.pagination import Page, page_of
from shared.uow import UnitOfWork


def product_view(
    product: Product, available: int | None = None, operator_title: str | None = None
) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "ean": product.ean,
        "title": product.title,
        "description": product.description,
        "images": product.images,
        "supplier_category": product.category_path,
        "brand": product.brand,
        "weight_kg": None if product.weight_kg is None else str(product.weight_kg),
        "cost": None
        if product.cost_amount is None
        else {"amount": str(product.cost_amount), "currency": product.cost_currency},
        "rrp": None
        if product.rrp_amount is None
        else {"amount": str(product.rrp_amount), "currency": product.rrp_currency},
        "stock": product.stock,
        "available_stock": available,
        "attributes": product.attributes,
        # The responsible producer's data Allegro asks for (GPSR), and what it lacks.
        "gpsr": gpsr_of(product),
        "gpsr_missing": missing_gpsr(product),
        "updated_at": product.updated_at.isoformat() if product.updated_at else None,
        "source": product.source,
        "flags": product.flags,
        "operator_title": operator_title,
        "received": product.received,
        "parent_sku": product.parent_sku,
        "variation": product.variation,
    }


# A parent's variations shown at most (BigBuy's largest groups are a few dozen sizes/colours).
GROUP_LIMIT = 500


def _variation_view(product: Product) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "ean": product.ean,
        "variation": product.variation,
        "title": product.title,
        "cost": None
        if product.cost_amount is None
        else {"amount": str(product.cost_amount), "currency": product.cost_currency},
        "stock": product.stock,
    }


def group_view(parent_sku: str, variations: list[Product]) -> dict[str, Any]:
    """A parent and its variations: the content they share (the first variation's, in SKU
    order: BigBuy gives every variation its parent's), the attribute groups they vary by, and
    each variation with its own SKU, EAN, values, price and stock."""
    shared = variations[0]
    axes: list[str] = []
    for variation in variations:
        axes += [name for name in variation.variation if name not in axes]
    return {
        "parent_sku": parent_sku,
        "varies_by": axes,
        "shared": {
            "description": shared.description,
            "images": shared.images,
            "supplier_category": shared.category_path,
            "brand": shared.brand,
        },
        "variations": [_variation_view(v) for v in variations],
    }


async def list_products(query: c.ListProducts, uow: UnitOfWork) -> Page[dict[str, Any]]:
    """Products in SKU order; the cursor is the last SKU of the page."""
    products = uow.repository(ProductRepository)
    if query.text is not None:
        found = await products.search_page(query.text, query.page.after, query.page.fetch)
    else:
        found = await products.page(query.page.after, query.page.fetch, query.category)
    page = page_of(found, query.page, lambda p: p.sku)
    return Page[dict[str, Any]](items=[product_view(p) for p in page.items], next=page.next)


async def get_product(query: c.GetProduct, uow: UnitOfWork) -> dict[str, Any]:
    sku = query.sku
    products = uow.repository(ProductRepository)
    product = (await products.load([sku])).get(sku)
    if product is None:
        # A parent with variations is not sold by itself: its SKU shows the group.
        variations = await products.variations_of(sku, GROUP_LIMIT)
        if not variations:
            raise NotFound(f"product {sku} not found")
        return {"sku": sku, "kind": "parent", "group": group_view(sku, variations)}
    stock = uow.repository(StockRepository)
    reservations = (await stock.open_reservations([sku])).get(sku, [])
    lag = await stock.reservation_lag()
    titles = await uow.repository(ProductRepository).title_overrides([sku])
    names = await uow.repository(RuleRepository).names()
    view = product_view(
        product,
        available_stock(product.stock, product.stock_at, reservations, lag),
        titles.get(sku),
    )
    # The ids stay the product's; the names are shown beside them.
    named = names.resolve(product)
    view["supplier_category_name"] = named.category_path
    view["brand_name"] = named.brand
    view["flags"] = [*view["flags"], *names.flags(product)]
    view["kind"] = "variation" if product.parent_sku else "product"
    parent = product.parent_sku or sku  # a product row may also head a group
    siblings = await products.variations_of(parent, GROUP_LIMIT)
    view["group"] = group_view(parent, siblings) if siblings else None
    view["reservations"] = [
        {
            "quantity": q,
            "reserved_at": at.isoformat(),
            "pending": product.stock_at is None or at + lag > product.stock_at,
        }
        for q, at in reservations
    ]
    return view


async def set_title(command: c.SetTitle, uow: UnitOfWork) -> dict[str, Any]:
    """The operator's title replaces the supplier's in every account's items and in screening,
    until removed (title None); the product's items are re-sent where that changes them."""
    products = uow.repository(ProductRepository)
    product = (await products.load([command.sku], lock=True)).get(command.sku)
    if product is None:
        raise NotFound(f"product {command.sku} not found")
    await products.set_title_override(command.sku, command.title, command.by)
    emitted = await publish(uow, [product], await load_context(uow))
    return {"sku": command.sku, "title": command.title, "emitted_items": emitted}
