"""BigBuy's catalogue lists joined into the platform's upstream product records (pure).

A product's data is spread over lists, each in its own order, joined on the product id after
every page was read. Variations become products of their own (their SKU is what an order names);
a parent with variations is not sellable by its own SKU, so it is not sent. Records are dicts in
the shape of `shared.events.SupplierProduct` (JSON-ready: money and weights as strings).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any


@dataclass(frozen=True)
class ListSpec:
    name: str
    path: str
    by_language: bool = False


PRODUCTS = ListSpec("products", "catalog/products.json")
INFORMATION = ListSpec("information", "catalog/productsinformation.json", by_language=True)
IMAGES = ListSpec("images", "catalog/productsimages.json")
STOCK = ListSpec("stock", "catalog/productsstockbyhandlingdays.json")
PRICES = ListSpec("prices", "catalog/productprices.json")
VARIATIONS = ListSpec("variations", "catalog/productsvariations.json")
VARIATION_STOCK = ListSpec("variation_stock", "catalog/productsvariationsstockbyhandlingdays.json")
VARIATION_PRICES = ListSpec("variation_prices", "catalog/productvariationprices.json")
VARIATION_ATTRIBUTES = ListSpec("variation_attributes", "catalog/variations.json")
ATTRIBUTES = ListSpec("attributes", "catalog/attributes.json", by_language=True)
ATTRIBUTE_GROUPS = ListSpec("attribute_groups", "catalog/attributegroups.json", by_language=True)
TAXONOMIES = ListSpec("taxonomies", "catalog/taxonomies.json", by_language=True)
MANUFACTURERS = ListSpec("manufacturers", "catalog/manufacturers.json")

# A full refresh reads every list; the frequent one stock and prices only.
FULL_LISTS: tuple[ListSpec, ...] = (
    PRODUCTS,
    INFORMATION,
    IMAGES,
    STOCK,
    VARIATIONS,
    VARIATION_STOCK,
    VARIATION_ATTRIBUTES,
    ATTRIBUTES,
    ATTRIBUTE_GROUPS,
    TAXONOMIES,
    MANUFACTURERS,
)
STOCK_LISTS: tuple[ListSpec, ...] = (STOCK, VARIATION_STOCK, PRICES, VARIATION_PRICES)
LISTS: dict[str, ListSpec] = {spec.name: spec for spec in (*FULL_LISTS, *STOCK_LISTS)}
KIND_LISTS: dict[str, tuple[ListSpec, ...]] = {"full": FULL_LISTS, "stock": STOCK_LISTS}

# Fields of a record that are compared to decide what changed (sku and updated_at are not).
FIELDS = (
    "ean",
    "title",
    "description",
    "images",
    "category_path",
    "brand",
    "weight_kg",
    "cost",
    "rrp",
    "stock",
    "attributes",
    "parent_sku",
    "variation",
)


def money(value: Any) -> dict[str, str] | None:
    """BigBuy's EUR amounts are numbers or strings; exact decimals, never through a float."""
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None
    return {"amount": str(amount), "currency": "EUR"}


def ean(value: Any) -> str | None:
    text = str(value or "").strip()
    return None if not text or set(text) == {"0"} else text


def weight(value: Any) -> str | None:
    try:
        kg = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return None if kg <= 0 else str(kg.normalize())


def available(
    stocks: Iterable[Mapping[str, Any]], max_handling_days: int
) -> tuple[int, int | None]:
    """Units over the warehouse rows whose handling time is accepted, and the handling days an
    offer must promise for them (the slowest accepted row holding stock; None if none)."""
    units = 0
    days: int | None = None
    for row in stocks:
        longest = int(row.get("maxHandlingDays") or 0)
        quantity = int(row.get("quantity") or 0)
        if longest > max_handling_days or quantity <= 0:
            continue
        units += quantity
        days = longest if days is None else max(days, longest)
    return units, days


def image_urls(images: Iterable[Mapping[str, Any]]) -> list[str]:
    """Cover first, then by position."""
    ordered = sorted(images, key=lambda i: (not i.get("isCover"), int(i.get("position") or 0)))
    return [str(i["url"]) for i in ordered if i.get("url")]


def category_path(taxonomy_id: Any, taxonomies: Mapping[int, Mapping[str, Any]]) -> str | None:
    """Names from the root down to the product's taxonomy, ` > ` between them."""
    names: list[str] = []
    seen: set[int] = set()
    current = _int(taxonomy_id)
    while current and current in taxonomies and current not in seen:
        seen.add(current)
        node = taxonomies[current]
        names.append(str(node.get("name") or current))
        current = _int(node.get("parentTaxonomy"))
    return " > ".join(reversed(names)) or None


def gpsr_attributes(compliance: Mapping[str, Any] | None) -> dict[str, str]:
    """The first GPSR entry (the manufacturer's name, address, contact) as attributes."""
    if not compliance:
        return {}
    entries = compliance.get("generalProductSafetyRegulations") or []
    if not entries:
        return {}
    first = entries[0]
    out = {
        "gpsr_name": first.get("name"),
        "gpsr_country": first.get("countryIsoCode"),
        "gpsr_address": first.get("address"),
        "gpsr_contact": first.get("contact"),
        "gpsr_website": first.get("webSite"),
        "gpsr_warnings": " ".join(first.get("safetyWarnings") or []),
    }
    return {k: str(v) for k, v in out.items() if v}


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def by_id(rows: Iterable[Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
    return {_int(r.get("id")): r for r in rows if _int(r.get("id"))}


@dataclass(frozen=True)
class Built:
    """One SKU's record and the ids it came from."""

    sku: str
    product_id: int
    variation_id: int | None
    record: dict[str, Any]
    active: bool = True


def build_full(
    lists: Mapping[str, list[dict[str, Any]]],
    compliance: Mapping[int, Mapping[str, Any] | None],
    max_handling_days: int,
) -> list[Built]:
    """Every sellable SKU of a full refresh, joined on ids across all the lists."""
    information = by_id(lists.get("information", []))
    images = by_id(lists.get("images", []))
    stock = by_id(lists.get("stock", []))
    variation_stock = by_id(lists.get("variation_stock", []))
    variation_attrs = by_id(lists.get("variation_attributes", []))
    attributes = by_id(lists.get("attributes", []))
    groups = by_id(lists.get("attribute_groups", []))
    taxonomies = by_id(lists.get("taxonomies", []))
    brands = by_id(lists.get("manufacturers", []))
    variations: dict[int, list[dict[str, Any]]] = {}
    for variation in lists.get("variations", []):
        variations.setdefault(_int(variation.get("product")), []).append(variation)

    out: list[Built] = []
    for product in lists.get("products", []):
        pid = _int(product.get("id"))
        if not pid or not product.get("sku"):
            continue
        info = information.get(pid, {})
        brand = brands.get(_int(product.get("manufacturer")))
        active = _int(product.get("active")) == 1
        base_attrs = {
            "bigbuy_id": str(pid),
            "condition": str(product.get("condition") or "NEW"),
            "11323": "11323_1" if (product.get("condition") or "NEW") == "NEW" else "11323_2",
            "vat_rate": str(product.get("taxRate") or ""),
            "hs_code": str(product.get("intrastat") or ""),
            **gpsr_attributes(compliance.get(pid)),
        }
        base = {
            "title": info.get("name") or None,
            "description": info.get("description") or None,
            "images": image_urls((images.get(pid) or {}).get("images") or []),
            "category_path": category_path(product.get("taxonomy"), taxonomies),
            "brand": str(brand["name"]) if brand and brand.get("name") else None,
        }
        children = variations.get(pid, [])
        if not children:
            units, days = available((stock.get(pid) or {}).get("stocks") or [], max_handling_days)
            sku = str(product["sku"])
            record = {
                "sku": sku,
                "ean": ean(product.get("ean13")),
                **base,
                "weight_kg": weight(product.get("weight")),
                "cost": money(product.get("wholesalePrice")),
                "rrp": money(product.get("retailPrice")),
                "stock": units if active else 0,
                "attributes": _clean({**base_attrs, "handling_days": _days(days)}),
            }
            out.append(Built(sku, pid, None, record, active))
            continue
        for variation in children:
            vid = _int(variation.get("id"))
            if not variation.get("sku"):
                continue
            pairs = _variation_pairs(variation_attrs.get(vid), attributes, groups)
            units, days = available(
                (variation_stock.get(vid) or {}).get("stocks") or [], max_handling_days
            )
            title = base["title"]
            if title and pairs:
                title = f"{title} - {', '.join(v for _, v in pairs)}"
            vsku = str(variation["sku"])
            record = {
                "sku": vsku,
                "ean": ean(variation.get("ean13")),
                **base,
                "title": title,
                "weight_kg": weight(variation.get("extraWeight")) or weight(product.get("weight")),
                "cost": money(variation.get("wholesalePrice")),
                "rrp": money(variation.get("retailPrice")),
                "stock": units if active else 0,
                # The group: catalog keeps the relation and the values (Allegro parameters).
                "parent_sku": str(product["sku"]),
                "variation": dict(pairs),
                "attributes": _clean(
                    {
                        **base_attrs,
                        "bigbuy_variation_id": str(vid),
                        "parent_sku": str(product["sku"]),
                        "handling_days": _days(days),
                        **dict(pairs),
                    }
                ),
            }
            out.append(Built(vsku, pid, vid, record, active))
    return out


def stock_and_prices(
    lists: Mapping[str, list[dict[str, Any]]], max_handling_days: int
) -> dict[str, dict[str, Any]]:
    """A stock-and-prices refresh: per SKU, the fields it read (stock, handling days, cost, rrp)."""
    out: dict[str, dict[str, Any]] = {}
    for name in ("stock", "variation_stock"):
        for row in lists.get(name, []):
            if row.get("sku"):
                units, days = available(row.get("stocks") or [], max_handling_days)
                out.setdefault(str(row["sku"]), {}).update(stock=units, handling_days=_days(days))
    for name in ("prices", "variation_prices"):
        for row in lists.get(name, []):
            if row.get("sku"):
                out.setdefault(str(row["sku"]), {}).update(
                    cost=money(row.get("wholesalePrice")), rrp=money(row.get("retailPrice"))
                )
    return out


def apply_stock_and_prices(
    record: Mapping[str, Any], fresh: Mapping[str, Any], active: bool = True
) -> dict[str, Any]:
    """The stored full record with a stock-and-prices refresh applied."""
    updated = dict(record)
    if "stock" in fresh:
        updated["stock"] = fresh["stock"] if active else 0
        attributes = dict(record.get("attributes") or {})
        attributes.pop("handling_days", None)
        if fresh.get("handling_days"):
            attributes["handling_days"] = fresh["handling_days"]
        updated["attributes"] = attributes
    for name in ("cost", "rrp"):
        if fresh.get(name) is not None:
            updated[name] = fresh[name]
    return updated


def changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `new` that differ from `old` (all of them for a new SKU)."""
    if old is None:
        return {k: new.get(k) for k in FIELDS if new.get(k) is not None}
    return {k: new.get(k) for k in FIELDS if new.get(k) != old.get(k) and new.get(k) is not None}


def _variation_pairs(
    variation: Mapping[str, Any] | None,
    attributes: Mapping[int, Mapping[str, Any]],
    groups: Mapping[int, Mapping[str, Any]],
) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for ref in (variation or {}).get("attributes") or []:
        attribute = attributes.get(_int(ref.get("id")))
        if not attribute:
            continue
        group = groups.get(_int(attribute.get("attributeGroup")))
        name = str(group["name"]) if group and group.get("name") else "attribute"
        pairs.append((name, str(attribute.get("name"))))
    return pairs


def reference_lists(
    lists: Mapping[str, list[dict[str, Any]]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The taxonomies and manufacturers in the shape catalog's reference lists take, by id."""
    taxonomies: list[dict[str, Any]] = sorted(
        (
            {
                "id": _int(t.get("id")),
                "name": str(t.get("name") or ""),
                "parentTaxonomy": _int(t.get("parentTaxonomy")),
            }
            for t in lists.get("taxonomies", [])
            if _int(t.get("id"))
        ),
        key=lambda t: int(t["id"]),
    )
    manufacturers: list[dict[str, Any]] = sorted(
        (
            {"id": _int(m.get("id")), "name": str(m.get("name") or "")}
            for m in lists.get("manufacturers", [])
            if _int(m.get("id"))
        ),
        key=lambda m: int(m["id"]),
    )
    return taxonomies, manufacturers


def _days(days: int | None) -> str:
    return "" if days is None else str(days)


def _clean(attributes: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in attributes.items() if v}
