"""Deterministic seed data shared by the whole project.

Two views of one imaginary world, both derived from a `CatalogueSpec` (seed, size, shares):

* `supplier_catalogue(spec)`: the supplier's catalogue (SKU, EAN-13, brand, category path,
  weight, price, stock, images, attributes) as a generator, so a million rows never sit in memory;
* the matching Allegro product catalogue: `allegro_products_for_gtin(spec, ean)` and
  `allegro_product(spec, product_id)`. It is computed on demand from the row number, which can be
  recovered from an EAN or a product id, so the emulator holds none of it in memory either.

A configurable share of supplier products is missing from Allegro's catalogue and another share
has an EAN that matches two Allegro products (as happens on the real Allegro).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypedDict

EAN_PREFIX = "590"  # GS1 Poland
_EAN_BODY = 10**9  # nine digits after the prefix
_EAN_STRIDE = 7919  # coprime with 10**9, so row -> EAN is a bijection
_EAN_STRIDE_INVERSE = pow(_EAN_STRIDE, -1, _EAN_BODY)

PARAM_EAN = "225693"  # "EAN (GTIN)"
PARAM_CONDITION = "11323"  # "Stan"
CONDITION_NEW = "11323_1"
PARAM_BRAND = "248811"  # "Marka"
PARAM_WEIGHT = "17448"  # "Waga produktu"


@dataclass(frozen=True)
class CatalogueSpec:
    seed: int = 42
    size: int = 1_000_000
    missing_share: float = 0.1
    ambiguous_share: float = 0.02


class SupplierProduct(TypedDict):
    sku: str
    ean: str
    name: str
    brand: str
    category: list[str]  # the supplier's own category path, root first
    allegro_category_id: str  # the Allegro leaf it belongs to (ground truth for mapping tests)
    weight_kg: float
    price: str  # wholesale price, PLN, decimal string
    retail_price: str  # suggested retail price, PLN
    vat_rate: int
    stock: int
    images: list[str]
    attributes: dict[str, str]
    description: str


# --- Category tree -----
# (id, name, parent id, fee group). Ids are opaque strings; like Allegro's, some are UUIDs.
CATEGORIES: list[tuple[str, str, str | None, str]] = [
    ("5", "Dom i Ogród", None, "home"),
    ("1520", "Ogród", "5", "home"),
    ("1521", "Narzędzia ogrodowe", "1520", "home"),
    ("1522", "Meble ogrodowe", "1520", "home"),
    ("1523", "Grille i akcesoria", "1520", "home"),
    ("1524", "Nawadnianie", "1520", "home"),
    ("1530", "Wyposażenie", "5", "home"),
    ("1531", "Oświetlenie", "1530", "home"),
    ("1532", "Dekoracje", "1530", "home"),
    ("1533", "Tekstylia domowe", "1530", "home"),
    ("1540", "Kuchnia", "5", "home"),
    ("1541", "Garnki i patelnie", "1540", "home"),
    ("1542", "Przybory kuchenne", "1540", "home"),
    ("3919", "Sport i turystyka", None, "sports"),
    ("3920", "Rowery i akcesoria", "3919", "sports"),
    ("3921", "Kaski rowerowe", "3920", "sports"),
    ("3922", "Oświetlenie rowerowe", "3920", "sports"),
    ("3930", "Siłownia i fitness", "3919", "sports"),
    ("3931", "Hantle", "3930", "sports"),
    ("3932", "Maty do ćwiczeń", "3930", "sports"),
    ("3940", "Turystyka", "3919", "sports"),
    ("3941", "Namioty", "3940", "sports"),
    ("3942", "Plecaki", "3940", "sports"),
    ("42540aec-367a-4e5e-b411-17c09b08e41f", "Elektronika", None, "electronics"),
    ("4226", "Telefony i akcesoria", "42540aec-367a-4e5e-b411-17c09b08e41f", "electronics"),
    ("4227", "Smartfony", "4226", "smartphones"),
    ("4228", "Ładowarki", "4226", "accessories"),
    ("4229", "Etui", "4226", "accessories"),
    ("4230", "Komputery", "42540aec-367a-4e5e-b411-17c09b08e41f", "computers"),
    ("4231", "Laptopy", "4230", "laptops"),
    ("4232", "Monitory", "4230", "tablets"),
    ("4233", "Myszki", "4230", "accessories"),
    ("4240", "RTV i AGD", "42540aec-367a-4e5e-b411-17c09b08e41f", "rtv"),
    ("4241", "Telewizory", "4240", "tv"),
    ("4242", "Słuchawki", "4240", "rtv"),
    ("4243", "Odkurzacze", "4240", "rtv"),
]
_CHILDREN = {parent for _, _, parent, _ in CATEGORIES if parent}
LEAF_CATEGORIES: list[str] = [cid for cid, _, _, _ in CATEGORIES if cid not in _CHILDREN]
CATEGORY_BY_ID: dict[str, tuple[str, str, str | None, str]] = {c[0]: c for c in CATEGORIES}

# Per leaf: (typical weight range kg, price range PLN, nouns for names).
_LEAF_PROFILE: dict[str, tuple[tuple[float, float], tuple[float, float], list[str]]] = {
    "1521": ((0.3, 6.0), (19, 399), ["Sekator", "Grabie", "Łopata", "Nożyce do żywopłotu"]),
    "1522": ((4.0, 40.0), (149, 2999), ["Krzesło ogrodowe", "Stół ogrodowy", "Leżak", "Ławka"]),
    "1523": ((1.0, 35.0), (39, 1999), ["Grill węglowy", "Ruszt", "Szczypce do grilla"]),
    "1524": ((0.2, 8.0), (15, 499), ["Wąż ogrodowy", "Zraszacz", "Konewka"]),
    "1531": ((0.2, 5.0), (29, 899), ["Lampa wisząca", "Kinkiet", "Lampka nocna"]),
    "1532": ((0.05, 3.0), (9, 299), ["Wazon", "Świecznik", "Ramka na zdjęcia"]),
    "1533": ((0.2, 3.0), (19, 399), ["Koc", "Poszewka", "Zasłona"]),
    "1541": ((0.5, 6.0), (39, 999), ["Garnek", "Patelnia", "Rondel"]),
    "1542": ((0.05, 2.0), (9, 249), ["Nóż kuchenny", "Tarka", "Deska do krojenia"]),
    "3921": ((0.2, 0.6), (59, 799), ["Kask rowerowy"]),
    "3922": ((0.05, 0.4), (19, 299), ["Lampka rowerowa", "Zestaw oświetlenia"]),
    "3931": ((1.0, 40.0), (29, 899), ["Hantla", "Zestaw hantli", "Kettlebell"]),
    "3932": ((0.5, 3.0), (29, 299), ["Mata do jogi", "Mata fitness"]),
    "3941": ((1.5, 15.0), (149, 2499), ["Namiot 2-osobowy", "Namiot 4-osobowy"]),
    "3942": ((0.4, 3.0), (59, 899), ["Plecak turystyczny", "Plecak miejski"]),
    "4227": ((0.12, 0.3), (499, 6999), ["Smartfon"]),
    "4228": ((0.05, 0.5), (19, 249), ["Ładowarka sieciowa", "Ładowarka indukcyjna"]),
    "4229": ((0.05, 0.2), (9, 149), ["Etui", "Case"]),
    "4231": ((1.0, 3.5), (1999, 14999), ["Laptop"]),
    "4232": ((2.5, 12.0), (499, 4999), ["Monitor"]),
    "4233": ((0.05, 0.3), (19, 499), ["Mysz bezprzewodowa", "Mysz gamingowa"]),
    "4241": ((5.0, 35.0), (899, 12999), ["Telewizor"]),
    "4242": ((0.1, 0.6), (49, 1999), ["Słuchawki bezprzewodowe", "Słuchawki nauszne"]),
    "4243": ((1.5, 9.0), (199, 3499), ["Odkurzacz", "Odkurzacz pionowy"]),
}
# The supplier's own taxonomy (English, its own depth): the platform maps it to Allegro's tree.
SUPPLIER_CATEGORIES: dict[str, list[str]] = {
    "1521": ["Home & Garden", "Garden", "Garden Tools"],
    "1522": ["Home & Garden", "Garden", "Outdoor Furniture"],
    "1523": ["Home & Garden", "Garden", "Barbecue"],
    "1524": ["Home & Garden", "Garden", "Watering"],
    "1531": ["Home & Garden", "Lighting"],
    "1532": ["Home & Garden", "Decoration"],
    "1533": ["Home & Garden", "Home Textiles"],
    "1541": ["Home & Garden", "Kitchen", "Cookware"],
    "1542": ["Home & Garden", "Kitchen", "Kitchen Utensils"],
    "3921": ["Sports & Outdoors", "Cycling", "Helmets"],
    "3922": ["Sports & Outdoors", "Cycling", "Bike Lights"],
    "3931": ["Sports & Outdoors", "Fitness", "Dumbbells & Weights"],
    "3932": ["Sports & Outdoors", "Fitness", "Exercise Mats"],
    "3941": ["Sports & Outdoors", "Camping", "Tents"],
    "3942": ["Sports & Outdoors", "Camping", "Backpacks"],
    "4227": ["Electronics", "Mobile Phones", "Smartphones"],
    "4228": ["Electronics", "Mobile Phones", "Chargers"],
    "4229": ["Electronics", "Mobile Phones", "Cases"],
    "4231": ["Electronics", "Computers", "Laptops"],
    "4232": ["Electronics", "Computers", "Monitors"],
    "4233": ["Electronics", "Computers", "Mice"],
    "4241": ["Electronics", "TV & Audio", "Televisions"],
    "4242": ["Electronics", "TV & Audio", "Headphones"],
    "4243": ["Electronics", "Home Appliances", "Vacuum Cleaners"],
}
_BRANDS = {
    "home": ["Gardena", "Fiskars", "Tefal", "Ikea", "Philips", "Zwieger", "Ambition", "Kela"],
    "sports": ["Kross", "Decathlon", "Hop-Sport", "Spokey", "Coleman", "Quechua", "Uvex"],
    "electronics": ["Samsung", "Xiaomi", "Lenovo", "Dell", "Sony", "Logitech", "Apple", "LG"],
}
_ADJECTIVES = ["Premium", "Classic", "Pro", "Compact", "Max", "Eco", "Smart", "Lite", "Plus"]
_COLOURS = ["czarny", "biały", "szary", "niebieski", "czerwony", "zielony", "srebrny"]


def category_path(category_id: str) -> list[tuple[str, str]]:
    """[(id, name)] from the root down to `category_id`."""
    path: list[tuple[str, str]] = []
    current: str | None = category_id
    while current is not None:
        cid, name, parent, _ = CATEGORY_BY_ID[current]
        path.append((cid, name))
        current = parent
    return list(reversed(path))


def _root_group(category_id: str) -> str:
    root = category_path(category_id)[0][0]
    return CATEGORY_BY_ID[root][3]


# --- EAN-13 --------------------------------------------------------------------------------
def ean13_check_digit(first12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return str((10 - total % 10) % 10)


def is_valid_ean13(ean: str) -> bool:
    return len(ean) == 13 and ean.isdigit() and ean13_check_digit(ean[:12]) == ean[12]


def ean_for_row(spec: CatalogueSpec, row: int) -> str:
    body = (row * _EAN_STRIDE + spec.seed) % _EAN_BODY
    first12 = f"{EAN_PREFIX}{body:09d}"
    return first12 + ean13_check_digit(first12)


def row_for_ean(spec: CatalogueSpec, ean: str) -> int | None:
    """Inverse of `ean_for_row`; None when the EAN is not one of this catalogue's rows."""
    if not is_valid_ean13(ean) or not ean.startswith(EAN_PREFIX):
        return None
    row = ((int(ean[3:12]) - spec.seed) * _EAN_STRIDE_INVERSE) % _EAN_BODY
    return row if row < spec.size else None


# --- Supplier catalogue -----
def _rng(spec: CatalogueSpec, row: int, salt: str = "") -> random.Random:
    return random.Random(f"{spec.seed}:{row}:{salt}")


def supplier_product(spec: CatalogueSpec, row: int) -> SupplierProduct:
    rng = _rng(spec, row)
    leaf = LEAF_CATEGORIES[rng.randrange(len(LEAF_CATEGORIES))]
    (w_lo, w_hi), (p_lo, p_hi), nouns = _LEAF_PROFILE[leaf]
    brand = rng.choice(_BRANDS[_root_group(leaf)])
    noun = rng.choice(nouns)
    colour = rng.choice(_COLOURS)
    model = f"{rng.choice(_ADJECTIVES)} {rng.randint(100, 9999)}"
    weight = round(min(40.0, max(0.05, rng.uniform(w_lo, w_hi))), 3)
    retail = round(rng.uniform(p_lo, p_hi), 0) - 0.01
    wholesale = round(retail * rng.uniform(0.45, 0.7), 2)
    sku = f"SKU-{spec.seed}-{row:07d}"
    return {
        "sku": sku,
        "ean": ean_for_row(spec, row),
        "name": f"{noun} {brand} {model} {colour}"[:75],
        "brand": brand,
        "category": SUPPLIER_CATEGORIES[leaf],
        "allegro_category_id": leaf,
        "weight_kg": weight,
        "price": f"{wholesale:.2f}",
        "retail_price": f"{retail:.2f}",
        "vat_rate": 23,
        "stock": rng.choice([0, 1, 2, 5, 10, 25, 50, 120, 500]),
        "images": [
            f"https://cdn.supplier.example/{sku}/{n}.jpg" for n in range(1, rng.randint(2, 5))
        ],
        "attributes": {"colour": colour, "model": model, "weight": f"{weight} kg"},
        "description": f"{noun} marki {brand}, model {model}, kolor {colour}.",
    }


def supplier_catalogue(
    spec: CatalogueSpec, start: int = 0, stop: int | None = None
) -> Iterator[SupplierProduct]:
    """Rows `start`..`stop` (default: the whole catalogue), one at a time."""
    for row in range(start, spec.size if stop is None else min(stop, spec.size)):
        yield supplier_product(spec, row)


# --- Allegro's product catalogue -----
def allegro_presence(spec: CatalogueSpec, row: int) -> int:
    """How many Allegro products carry this row's EAN: 0 (missing), 1, or 2 (ambiguous)."""
    draw = _rng(spec, row, "presence").random()
    if draw < spec.missing_share:
        return 0
    if draw < spec.missing_share + spec.ambiguous_share:
        return 2
    return 1


def _id_prefix(spec: CatalogueSpec) -> str:
    return f"{random.Random(f'products:{spec.seed}').getrandbits(48):012x}"


def allegro_product_id(spec: CatalogueSpec, row: int, variant: int = 0) -> str:
    # Shaped like a UUID v4; the last group encodes the row so the id can be decoded again.
    p = _id_prefix(spec)
    return f"{p[:8]}-{p[8:12]}-4{variant:03x}-a000-{row:012x}"


def row_for_product_id(spec: CatalogueSpec, product_id: str) -> tuple[int, int] | None:
    parts = product_id.split("-")
    p = _id_prefix(spec)
    if len(parts) != 5 or parts[0] != p[:8] or parts[1] != p[8:12] or len(parts[4]) != 12:
        return None
    try:
        row, variant = int(parts[4], 16), int(parts[2][1:], 16)
    except ValueError:
        return None
    if row >= spec.size or variant >= allegro_presence(spec, row):
        return None
    return row, variant


def allegro_product(spec: CatalogueSpec, row: int, variant: int = 0) -> dict[str, Any]:
    """The `SaleProductDto` of one catalogue product."""
    item = supplier_product(spec, row)
    name = item["name"] if variant == 0 else f"{item['name']} (zestaw)"[:75]
    leaf = item["allegro_category_id"]
    return {
        "id": allegro_product_id(spec, row, variant),
        "name": name,
        "category": {
            "id": leaf,
            "path": [{"id": cid, "name": cname} for cid, cname in category_path(leaf)],
            "similar": [],
        },
        "images": [{"url": f"https://a.allegroimg.com/original/{row:07d}/{variant}.jpg"}],
        "parameters": [
            {
                "id": PARAM_EAN,
                "name": "EAN (GTIN)",
                "values": [item["ean"]],
                "valuesLabels": [item["ean"]],
                "options": {"identifiesProduct": True, "isGTIN": True},
            },
            {
                "id": PARAM_BRAND,
                "name": "Marka",
                "values": [item["brand"]],
                "valuesLabels": [item["brand"]],
                "options": {"identifiesProduct": True, "isGTIN": False},
            },
            {
                "id": PARAM_WEIGHT,
                "name": "Waga produktu",
                "values": [f"{item['weight_kg']:.3f}"],
                "valuesLabels": [f"{item['weight_kg']:.3f} kg"],
                "unit": "kg",
                "options": {"identifiesProduct": False, "isGTIN": False},
            },
            *product_parameter_values(leaf, _rng(spec, row, "parameters")),
        ],
        "description": {
            "sections": [{"items": [{"type": "TEXT", "content": f"<p>{item['description']}</p>"}]}]
        },
        "hasProtectedBrand": False,
        "publication": {"status": "LISTED"},
    }


def allegro_products_for_gtin(spec: CatalogueSpec, ean: str) -> list[dict[str, Any]]:
    row = row_for_ean(spec, ean)
    if row is None:
        return []
    return [allegro_product(spec, row, v) for v in range(allegro_presence(spec, row))]


PARAM_PACKAGING = "248467"  # "Stan opakowania": offer-level, required only for a used item
CONDITION_USED = "11323_2"


def _parameter(
    pid: str,
    name: str,
    kind: str,
    *,
    required: bool = False,
    for_product: bool = False,
    describes: bool = False,
    unit: str | None = None,
    restrictions: dict[str, Any] | None = None,
    values: list[str] | None = None,
    custom: bool = False,
    depends_on: tuple[str, dict[int, list[str]]] | None = None,
) -> dict[str, Any]:
    """One `CategoryParameter` (the subtype its `type` maps to). `depends_on`: the parameter
    whose values some dictionary values (by position, from 1) can only be combined with."""
    param: dict[str, Any] = {
        "id": pid,
        "name": name,
        "type": kind,
        "required": required,
        "requiredForProduct": for_product,
        "unit": unit,
        "options": {
            "describesProduct": describes,
            "customValuesEnabled": custom,
            "ambiguousValueId": None,
            "dependsOnParameterId": depends_on[0] if depends_on else None,
        },
        "restrictions": restrictions or {},
    }
    if kind == "dictionary":
        combined = depends_on[1] if depends_on else {}
        param["dictionary"] = [
            {"id": f"{pid}_{n}", "value": v, "dependsOnValueIds": combined.get(n, [])}
            for n, v in enumerate(values or [], start=1)
        ]
    return param


def _base_parameters() -> list[dict[str, Any]]:
    """Every leaf has these (ids as on Allegro where the sources give them)."""
    return [
        _parameter(
            PARAM_CONDITION,
            "Stan",
            "dictionary",
            required=True,
            restrictions={"multipleChoices": False},
            values=["Nowy", "Używany"],
        ),
        _parameter(
            PARAM_EAN,
            "EAN (GTIN)",
            "string",
            for_product=True,
            describes=True,
            restrictions={"minLength": 8, "maxLength": 14, "allowedNumberOfValues": 1},
        ),
        _parameter(
            PARAM_BRAND,
            "Marka",
            "string",
            for_product=True,
            describes=True,
            restrictions={"minLength": 1, "maxLength": 50, "allowedNumberOfValues": 1},
        ),
        _parameter(
            PARAM_WEIGHT,
            "Waga produktu",
            "float",
            describes=True,
            unit="kg",
            restrictions={"min": 0.001, "max": 1000.0, "range": False, "precision": 3},
        ),
        {
            **_parameter(
                PARAM_PACKAGING,
                "Stan opakowania",
                "dictionary",
                required=True,
                restrictions={"multipleChoices": False},
                values=["oryginalne", "zastępcze", "brak opakowania"],
                depends_on=(PARAM_CONDITION, {2: [CONDITION_USED], 3: [CONDITION_USED]}),
            ),
            # Required, and shown, only when Stan is "Używany".
            "requiredIf": {
                "parametersWithValue": [{"id": PARAM_CONDITION, "oneOfValueIds": [CONDITION_USED]}],
                "parametersWithoutValue": [],
            },
            "displayedIf": {
                "parametersWithValue": [{"id": PARAM_CONDITION, "oneOfValueIds": [CONDITION_USED]}]
            },
        },
    ]


# The pool each leaf draws its own parameters from: (id, name, type, unit, restrictions,
# dictionary values, describes the product).
_PARAMETER_POOL: list[tuple[str, str, str, str | None, dict[str, Any], list[str], bool]] = [
    (
        "224017",
        "Kod producenta",
        "string",
        None,
        {"minLength": 1, "maxLength": 35, "allowedNumberOfValues": 1},
        [],
        True,
    ),
    (
        "127448",
        "Kolor",
        "dictionary",
        None,
        {"multipleChoices": True},
        [
            "czarny",
            "biały",
            "szary",
            "niebieski",
            "czerwony",
            "zielony",
            "srebrny",
            "wielokolorowy",
        ],
        True,
    ),
    (
        "4388",
        "Materiał",
        "dictionary",
        None,
        {"multipleChoices": False},
        ["tworzywo sztuczne", "metal", "drewno", "szkło", "tkanina", "inny"],
        True,
    ),
    ("17450", "Moc", "integer", "W", {"min": 1, "max": 5000, "range": False}, [], True),
    ("202717", "Pojemność", "integer", "ml", {"min": 1, "max": 100000, "range": False}, [], True),
    (
        "15862",
        "Długość",
        "float",
        "cm",
        {"min": 0.1, "max": 1000.0, "range": False, "precision": 1},
        [],
        True,
    ),
    (
        "236042",
        "Zakres regulacji",
        "float",
        "cm",
        {"min": 0.0, "max": 500.0, "range": True, "precision": 1},
        [],
        True,
    ),
    (
        "3306",
        "Gwarancja producenta",
        "integer",
        "mies.",
        {"min": 0, "max": 120, "range": False},
        [],
        False,
    ),
    (
        "210886",
        "Informacje dodatkowe",
        "string",
        None,
        {"minLength": 3, "maxLength": 60, "allowedNumberOfValues": 3},
        [],
        False,
    ),
]


def _leaf_parameters(category_id: str) -> list[dict[str, Any]]:
    rng = random.Random(f"parameters:{category_id}")
    drawn = sorted(rng.sample(range(len(_PARAMETER_POOL)), 4))
    params = []
    product_required = False
    for index in drawn:
        pid, name, kind, unit, restrictions, values, describes = _PARAMETER_POOL[index]
        # The first product parameter drawn is required for new products in this leaf.
        for_product = describes and not product_required and kind != "float"
        product_required = product_required or for_product
        params.append(
            _parameter(
                pid,
                name,
                kind,
                for_product=for_product,
                describes=describes,
                unit=unit,
                restrictions=dict(restrictions),
                values=values,
            )
        )
    return params


_LEAF_PARAMETERS: dict[str, list[dict[str, Any]]] = {
    leaf: _base_parameters() + _leaf_parameters(leaf) for leaf in LEAF_CATEGORIES
}


def category_parameters(category_id: str) -> list[dict[str, Any]]:
    """`CategoryParameterList.parameters` of a leaf: the common ones (Stan, EAN, Marka, Waga,
    Stan opakowania) and four drawn for the leaf from its id. Shared: do not modify."""
    return _LEAF_PARAMETERS.get(category_id, [])


def product_parameter_values(category_id: str, rng: random.Random) -> list[dict[str, Any]]:
    """Valid values for a seeded product's leaf-specific product parameters."""
    values = []
    for param in _LEAF_PARAMETERS[category_id][5:]:
        if not param["options"]["describesProduct"]:
            continue
        r = param["restrictions"]
        entry: dict[str, Any] = {"id": param["id"], "name": param["name"]}
        if param["type"] == "dictionary":
            choice = rng.choice(param["dictionary"])
            entry.update(valuesIds=[choice["id"]], values=[], valuesLabels=[choice["value"]])
        elif r.get("range"):
            low = round(rng.uniform(r["min"], r["max"] / 2), 1)
            entry["rangeValue"] = {"from": f"{low:.1f}", "to": f"{low + 10:.1f}"}
        elif param["type"] == "integer":
            value = str(rng.randint(r["min"], min(r["max"], 2000)))
            entry.update(values=[value], valuesLabels=[value])
        elif param["type"] == "float":
            value = f"{rng.uniform(r['min'], r['max'] / 10):.1f}"
            entry.update(values=[value], valuesLabels=[value])
        else:
            value = f"MC-{rng.randint(10000, 99999)}"
            entry.update(values=[value], valuesLabels=[value])
        if param["unit"]:
            entry["unit"] = param["unit"]
        entry["options"] = {"identifiesProduct": False, "isGTIN": False}
        values.append(entry)
    return values


# --- Marketplaces, delivery methods, carriers -----
MARKETPLACES: dict[str, dict[str, str]] = {
    "allegro-pl": {"currency": "PLN", "country": "PL", "language": "pl-PL"},
    "allegro-cz": {"currency": "CZK", "country": "CZ", "language": "cs-CZ"},
    "allegro-sk": {"currency": "EUR", "country": "SK", "language": "sk-SK"},
    "allegro-hu": {"currency": "HUF", "country": "HU", "language": "hu-HU"},
}
COUNTRY_MARKETPLACE = {v["country"]: k for k, v in MARKETPLACES.items()}

# (id, name, destination country, payment policy, max package weight supported)
DELIVERY_METHODS: list[tuple[str, str, str, str, bool]] = [
    (
        "b20ef9e1-faa2-4f25-9032-adbea23e5cb9",
        "Allegro Paczkomaty InPost",
        "PL",
        "IN_ADVANCE",
        False,
    ),
    ("7203cb90-864c-4cab-b0a6-6a9b5d9f1d9b", "Allegro Kurier DPD", "PL", "IN_ADVANCE", True),
    (
        "98f86f81-0018-41c5-ac83-073a56fc7021",
        "Allegro Kurier DPD pobranie",
        "PL",
        "CASH_ON_DELIVERY",
        True,
    ),
    (
        "259b3d6a-2d4c-4a2a-9d4a-7f6f5e1c2b10",
        "Allegro One Box, One Kurier",
        "PL",
        "IN_ADVANCE",
        False,
    ),
    ("845efe05-3a18-4d3f-9a9f-9c9c2e1b4d21", "Allegro Kurier DPD Czechy", "CZ", "IN_ADVANCE", True),
    (
        "3c1f2e4d-5b6a-4c7d-8e9f-0a1b2c3d4e51",
        "Allegro Paczkomaty InPost Słowacja",
        "SK",
        "IN_ADVANCE",
        False,
    ),
    ("9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c61", "Allegro Kurier DPD Węgry", "HU", "IN_ADVANCE", True),
]
DELIVERY_METHOD_BY_ID = {m[0]: m for m in DELIVERY_METHODS}

CARRIERS: list[tuple[str, str]] = [
    ("ALLEGRO", "Allegro"),
    ("INPOST", "InPost"),
    ("DPD", "DPD"),
    ("DHL", "DHL"),
    ("GLS", "GLS"),
    ("UPS", "UPS"),
    ("POCZTA_POLSKA", "Poczta Polska"),
    ("ORLEN", "Orlen Paczka"),
    ("OTHER", "Inny"),
]


def main(argv: list[str] | None = None) -> None:
    """`python -m allegro_emulator.seed --size 1000`: the supplier catalogue as JSON lines."""
    parser = argparse.ArgumentParser(
        description="Write the seeded supplier catalogue as JSON lines"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--missing-share", type=float, default=0.1)
    parser.add_argument("--ambiguous-share", type=float, default=0.02)
    args = parser.parse_args(argv)
    spec = CatalogueSpec(args.seed, args.size, args.missing_share, args.ambiguous_share)
    for product in supplier_catalogue(spec):
        sys.stdout.write(json.dumps(product, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
