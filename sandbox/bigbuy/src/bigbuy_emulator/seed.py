"""BigBuy's catalogue, computed from the row number: nothing is held in memory.

Row `r` (0 <= r < size) is product id `PRODUCT_ID_BASE + r`; its SKU, EAN, texts, prices, stock
rows, images, variations and compliance data are all derived from `(seed, r)`, so a catalogue of
any size is served lazily and two runs with the same spec serve the same bytes. The traits the
platform must handle are seeded on purpose: EAN-8/EAN-13/GTIN-14 codes and missing ones (None,
"" or "0"), HTML descriptions, long titles, zero and placeholder weights, refurbished and
inactive items, variations under parents, several warehouses with different handling days, and
compliance (GPSR) data for most but not all products.

`python -m bigbuy_emulator.seed --size 100` prints the products as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from math import gcd
from typing import Any

Json = dict[str, Any]

PRODUCT_ID_BASE = 100_000
VARIATION_ID_BASE = 100_000_000  # + row * 10 + k: a variation id encodes its parent's row
IMAGE_ID_BASE = 5_000_000
MAX_ROWS = 9_000_000  # SKU digits and EAN bodies stay bijective below this
_SKU_STRIDE = 7919  # coprime with 10**7 and 10**10, so row -> code is a bijection
_SKU_INVERSE = pow(_SKU_STRIDE, -1, 10**7)
_SKU_LETTERS = "SABVZ"
_EPOCH = datetime(2021, 1, 4, 8, 0, tzinfo=UTC).timestamp()

# Variation parents are every 8th row (from row 5) with 2, 3, 4, 2, 3, 4, ... variations: a
# closed form, so the variations list pages without enumerating the products.
_PARENT_STEP, _PARENT_FIRST, _CYCLE = 8, 5, (2, 3, 4)


@dataclass(frozen=True)
class CatalogueSpec:
    seed: int = 7
    size: int = 3_000
    in_stock_share: float = 0.4


# --- taxonomies (the current category tree) and the legacy category ids ---------------------
# (id, parent id (0 at a root), {language: name}, legacy category id)
TAXONOMIES: list[tuple[int, int, dict[str, str], int]] = [
    (19653, 0, {"en": "Electronics", "es": "Electrónica", "pl": "Elektronika"}, 2609),
    (19700, 19653, {"en": "Computing", "es": "Informática", "pl": "Komputery"}, 2610),
    (21301, 19700, {"en": "Mice", "es": "Ratones", "pl": "Myszki"}, 2611),
    (21302, 19700, {"en": "Keyboards", "es": "Teclados", "pl": "Klawiatury"}, 2612),
    (19701, 19653, {"en": "Audio", "es": "Audio", "pl": "Audio"}, 2620),
    (21319, 19701, {"en": "Headphones", "es": "Auriculares", "pl": "Słuchawki"}, 2621),
    (21320, 19701, {"en": "Speakers", "es": "Altavoces", "pl": "Głośniki"}, 2622),
    (19656, 0, {"en": "Home and cooking", "es": "Hogar y cocina", "pl": "Dom i kuchnia"}, 2399),
    (19810, 19656, {"en": "Kitchen", "es": "Cocina", "pl": "Kuchnia"}, 2400),
    (21001, 19810, {"en": "Kitchen timers", "es": "Temporizadores", "pl": "Minutniki"}, 2401),
    (21002, 19810, {"en": "Cookware", "es": "Menaje", "pl": "Garnki"}, 2402),
    (19811, 19656, {"en": "Decoration", "es": "Decoración", "pl": "Dekoracje"}, 2410),
    (21010, 19811, {"en": "Lamps", "es": "Lámparas", "pl": "Lampy"}, 2411),
    (19661, 0, {"en": "Garden", "es": "Jardín", "pl": "Ogród"}, 2450),
    (21050, 19661, {"en": "Garden tools", "es": "Herramientas", "pl": "Narzędzia ogrodowe"}, 2451),
    (21051, 19661, {"en": "Watering", "es": "Riego", "pl": "Nawadnianie"}, 2452),
    (19756, 0, {"en": "Sport and outdoor", "es": "Deporte", "pl": "Sport i turystyka"}, 2491),
    (19900, 19756, {"en": "Fitness", "es": "Fitness", "pl": "Fitness"}, 2493),
    (21100, 19900, {"en": "Dumbbells", "es": "Mancuernas", "pl": "Hantle"}, 2510),
    (
        21101,
        19900,
        {"en": "Sports clothing", "es": "Ropa deportiva", "pl": "Odzież sportowa"},
        2511,
    ),
    (21102, 19756, {"en": "Tents", "es": "Tiendas de campaña", "pl": "Namioty"}, 2520),
]
TAXONOMY_BY_ID = {t[0]: t for t in TAXONOMIES}
_PARENTS = {t[1] for t in TAXONOMIES}
LEAF_TAXONOMIES = [t[0] for t in TAXONOMIES if t[0] not in _PARENTS]

# Per leaf: nouns per language, weight range (kg), wholesale price range (EUR).
_LEAF_PROFILE: dict[int, tuple[dict[str, list[str]], tuple[float, float], tuple[float, float]]] = {
    21301: (
        {
            "en": ["Wireless mouse", "Gaming mouse"],
            "es": ["Ratón inalámbrico"],
            "pl": ["Mysz bezprzewodowa"],
        },
        (0.05, 0.3),
        (4, 40),
    ),
    21302: (
        {
            "en": ["Mechanical keyboard"],
            "es": ["Teclado mecánico"],
            "pl": ["Klawiatura mechaniczna"],
        },
        (0.4, 1.4),
        (12, 90),
    ),
    21319: (
        {
            "en": ["Bluetooth headphones", "Earbuds"],
            "es": ["Auriculares Bluetooth"],
            "pl": ["Słuchawki Bluetooth"],
        },
        (0.05, 0.5),
        (6, 120),
    ),
    21320: (
        {"en": ["Portable speaker"], "es": ["Altavoz portátil"], "pl": ["Głośnik przenośny"]},
        (0.2, 3.0),
        (9, 150),
    ),
    21001: (
        {
            "en": ["Digital kitchen timer"],
            "es": ["Temporizador de cocina"],
            "pl": ["Minutnik kuchenny cyfrowy"],
        },
        (0.05, 0.3),
        (2, 15),
    ),
    21002: (
        {"en": ["Frying pan", "Saucepan"], "es": ["Sartén", "Cazo"], "pl": ["Patelnia", "Rondel"]},
        (0.5, 3.5),
        (8, 70),
    ),
    21010: (
        {
            "en": ["Table lamp", "LED ceiling lamp"],
            "es": ["Lámpara de mesa"],
            "pl": ["Lampa stołowa"],
        },
        (0.3, 4.0),
        (10, 110),
    ),
    21050: (
        {"en": ["Pruning shears", "Garden rake"], "es": ["Tijeras de podar"], "pl": ["Sekator"]},
        (0.2, 2.5),
        (4, 45),
    ),
    21051: (
        {"en": ["Garden hose", "Sprinkler"], "es": ["Manguera de jardín"], "pl": ["Wąż ogrodowy"]},
        (0.3, 6.0),
        (5, 60),
    ),
    21100: (
        {
            "en": ["Dumbbell set", "Kettlebell"],
            "es": ["Juego de mancuernas"],
            "pl": ["Zestaw hantli"],
        },
        (1.0, 30.0),
        (10, 140),
    ),
    21101: (
        {
            "en": ["Sports T-shirt", "Running leggings"],
            "es": ["Camiseta deportiva"],
            "pl": ["Koszulka sportowa"],
        },
        (0.1, 0.5),
        (3, 30),
    ),
    21102: (
        {
            "en": ["Camping tent 2 persons", "Family tent"],
            "es": ["Tienda de campaña"],
            "pl": ["Namiot turystyczny"],
        },
        (1.5, 12.0),
        (25, 260),
    ),
}
_ADJECTIVES = {
    "en": ["Premium", "Compact", "Professional", "Ergonomic", "Eco", "Ultra-light", "Deluxe"],
    "es": ["Premium", "Compacto", "Profesional", "Ergonómico", "Eco", "Ultraligero"],
    "pl": ["Premium", "Kompaktowy", "Profesjonalny", "Ergonomiczny", "Eko", "Ultralekki"],
}
_EXTRAS = {
    "en": [
        "with carrying case",
        "for home and office",
        "stainless steel",
        "rechargeable",
        "water resistant",
        "2-year warranty",
        "multi-colour",
        "extra long cable 3 m",
    ],
    "es": [
        "con funda de transporte",
        "para casa y oficina",
        "acero inoxidable",
        "recargable",
        "resistente al agua",
        "garantía de 2 años",
        "multicolor",
    ],
    "pl": [
        "z etui",
        "do domu i biura",
        "stal nierdzewna",
        "akumulatorowy",
        "wodoodporny",
        "2 lata gwarancji",
        "wielokolorowy",
    ],
}
_BOILERPLATE = {
    "en": "<p>Buy <strong>{brand}</strong> products at the best price!</p>",
    "es": "<p>¡Compra productos <strong>{brand}</strong> al mejor precio!</p>",
    "pl": "<p>Kupuj produkty <strong>{brand}</strong> w najlepszej cenie!</p>",
}

# --- manufacturers (brands) -----------------------------------------------------------------
_SYLLABLES = ["ka", "to", "mi", "ro", "ze", "lu", "va", "ne", "bo", "ti", "sa", "qu"]
MANUFACTURER_COUNT = 120


def manufacturer_id(index: int) -> int:
    return 1_000 + index * 7


def manufacturer(index: int) -> Json:
    a, b, c = index % 12, (index // 12) % 12, (index * 5 + 3) % 12
    name = (_SYLLABLES[a] + _SYLLABLES[b] + _SYLLABLES[c]).capitalize()
    if index % 9 == 0:
        name += " & Co."
    slug = name.lower().replace(" & co.", "-co")
    return {
        "id": manufacturer_id(index),
        "name": name,
        "urlImage": f"https://cdnbigbuy.com/images/brand/{slug}.png",
        "reference": 0,
    }


def manufacturer_index(mid: int) -> int | None:
    index, rest = divmod(mid - 1_000, 7)
    return index if rest == 0 and 0 <= index < MANUFACTURER_COUNT else None


# --- variation attributes -------------------------------------------------------------------
# (group id, {language: group name}, [(attribute id, SKU suffix, {language: value})])
ATTRIBUTE_GROUPS: list[tuple[int, dict[str, str], list[tuple[int, str, dict[str, str]]]]] = [
    (
        163,
        {"en": "Size", "es": "Talla", "pl": "Rozmiar"},
        [
            (812, "S", {"en": "S"}),
            (813, "M", {"en": "M"}),
            (814, "L", {"en": "L"}),
            (815, "XL", {"en": "XL"}),
        ],
    ),
    (
        164,
        {"en": "Colour", "es": "Color", "pl": "Kolor"},
        [
            (955, "BK", {"en": "Black", "es": "Negro", "pl": "Czarny"}),
            (956, "WH", {"en": "White", "es": "Blanco", "pl": "Biały"}),
            (957, "RD", {"en": "Red", "es": "Rojo", "pl": "Czerwony"}),
            (958, "BL", {"en": "Blue", "es": "Azul", "pl": "Niebieski"}),
        ],
    ),
]


def localized(names: dict[str, str], iso: str) -> str:
    return names.get(iso) or names["en"]


# --- cheap hashing --------------------------------------------------------------------------
def _mix(seed: int, row: int, salt: int) -> int:
    """splitmix64 of (seed, row, salt): cheap per-row traits, no Random object needed."""
    x = (seed * 0x9E3779B97F4A7C15 + row * 0xBF58476D1CE4E5B9 + salt * 0x94D049BB133111EB) & (
        2**64 - 1
    )
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    return x ^ (x >> 31)


def _unit(seed: int, row: int, salt: int) -> float:
    return _mix(seed, row, salt) / 2**64


def leaf_of(spec: CatalogueSpec, row: int) -> int:
    return LEAF_TAXONOMIES[_mix(spec.seed, row, 1) % len(LEAF_TAXONOMIES)]


def taxonomy_path(taxonomy: int) -> list[int]:
    """Ids from the root down to `taxonomy`."""
    path = []
    current = taxonomy
    while current:
        path.append(current)
        current = TAXONOMY_BY_ID[current][1]
    return path[::-1]


# --- codes ----------------------------------------------------------------------------------
def gtin_check_digit(body: str) -> str:
    """GS1 check digit: weights 3, 1, 3, ... from the rightmost digit of the body."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def is_valid_gtin(code: str) -> bool:
    return (
        code.isdigit() and len(code) in (8, 12, 13, 14) and gtin_check_digit(code[:-1]) == code[-1]
    )


def _code(spec: CatalogueSpec, row: int, modulus: int) -> int:
    return (row * _SKU_STRIDE + spec.seed) % modulus


def ean_for_row(spec: CatalogueSpec, row: int) -> str | None:
    """EAN-13 for most, EAN-8 and GTIN-14 for some; None, "" or "0" for about one in ten."""
    kind = _mix(spec.seed, row, 2) % 100
    if kind < 80:
        body = f"84{_code(spec, row, 10**10):010d}"
    elif kind < 86:
        body = f"{_code(spec, row, 10**7):07d}"
    elif kind < 90:
        body = f"184{_code(spec, row, 10**10):010d}"
    else:
        return (None, "", "0")[kind % 3]
    return body + gtin_check_digit(body)


def sku_for_row(spec: CatalogueSpec, row: int) -> str:
    digits = _code(spec, row, 10**7)
    return f"{_SKU_LETTERS[row % len(_SKU_LETTERS)]}{digits:07d}"


def row_for_sku(spec: CatalogueSpec, sku: str) -> int | None:
    if len(sku) != 8 or not sku[1:].isdigit():
        return None
    row = ((int(sku[1:]) - spec.seed) * _SKU_INVERSE) % 10**7
    if row >= spec.size or sku_for_row(spec, row) != sku:
        return None
    return row


def row_for_id(spec: CatalogueSpec, product_id: int) -> int | None:
    row = product_id - PRODUCT_ID_BASE
    return row if 0 <= row < spec.size else None


# --- variations -----------------------------------------------------------------------------
def variation_count(row: int) -> int:
    if row % _PARENT_STEP != _PARENT_FIRST:
        return 0
    return _CYCLE[(row // _PARENT_STEP) % len(_CYCLE)]


def parents_total(size: int) -> int:
    return max(0, (size - _PARENT_FIRST + _PARENT_STEP - 1) // _PARENT_STEP)


def variations_total(size: int) -> int:
    parents = parents_total(size)
    full, rest = divmod(parents, len(_CYCLE))
    return full * sum(_CYCLE) + sum(_CYCLE[:rest])


def variation_at(index: int) -> tuple[int, int]:
    """(parent row, k) of the index-th variation in id order."""
    block, offset = divmod(index, sum(_CYCLE))
    for j, count in enumerate(_CYCLE):
        if offset < count:
            return (block * len(_CYCLE) + j) * _PARENT_STEP + _PARENT_FIRST, offset
        offset -= count
    raise AssertionError("unreachable")


def variation_id(row: int, k: int) -> int:
    return VARIATION_ID_BASE + row * 10 + k


def split_variation_id(spec: CatalogueSpec, vid: int) -> tuple[int, int] | None:
    row, k = divmod(vid - VARIATION_ID_BASE, 10)
    if vid < VARIATION_ID_BASE or row >= spec.size or k >= variation_count(row):
        return None
    return row, k


def _attribute_group(row: int) -> int:
    return (row // _PARENT_STEP) % len(ATTRIBUTE_GROUPS)


def variation_attribute(row: int, k: int) -> tuple[int, str, dict[str, str]]:
    return ATTRIBUTE_GROUPS[_attribute_group(row)][2][k]


def variation_sku(spec: CatalogueSpec, row: int, k: int) -> str:
    return f"{sku_for_row(spec, row)}-{variation_attribute(row, k)[1]}"


def split_variation_sku(spec: CatalogueSpec, sku: str) -> tuple[int, int] | None:
    parent, _, suffix = sku.partition("-")
    row = row_for_sku(spec, parent)
    if row is None:
        return None
    for k in range(variation_count(row)):
        if variation_attribute(row, k)[1] == suffix:
            return row, k
    return None


# --- the product record ---------------------------------------------------------------------
def _date(seconds: float) -> str:
    # isoformat is several times cheaper than strftime, and this runs for every row.
    return datetime.fromtimestamp(int(_EPOCH + seconds), UTC).isoformat(" ")[:19]


def _money(value: float) -> float:
    return round(value + 1e-9, 2)


def _rng(spec: CatalogueSpec, row: int, salt: int) -> random.Random:
    return random.Random(_mix(spec.seed, row, salt))


def brand_index(spec: CatalogueSpec, row: int) -> int:
    return _mix(spec.seed, row, 3) % MANUFACTURER_COUNT


def product(spec: CatalogueSpec, row: int) -> Json:
    """The `products.json` record of a row (base values: the emulator applies overrides)."""
    rng = _rng(spec, row, 10)
    leaf = leaf_of(spec, row)
    _, weights, prices = _LEAF_PROFILE[leaf]
    shape = _mix(spec.seed, row, 4) % 100
    if shape < 5:  # weight unknown to the supplier
        weight, dims = 0.0, (0.0, 0.0, 0.0)
    elif shape < 10:  # placeholder dimensions and weight of 1, as seen in production
        weight, dims = 1.0, (1.0, 1.0, 1.0)
    else:
        weight = round(rng.uniform(*weights), 3)
        dims = tuple(round(rng.uniform(2, 60), 1) for _ in range(3))  # type: ignore[assignment]
    wholesale = _money(rng.uniform(*prices))
    retail = _money(wholesale * rng.uniform(1.6, 2.6))
    in_shops = _money(retail * rng.uniform(1.33, 2.24))
    added = _added(spec, row)
    updated = min(added + _unit(spec.seed, row, 21) * 200 * 86_400, CATALOGUE_DAY)
    added_text, updated_text = _date(added), _date(updated)
    variations = variation_count(row)
    condition = "REFURBISHED_B" if _mix(spec.seed, row, 5) % 100 < 4 else "NEW"
    return {
        "id": PRODUCT_ID_BASE + row,
        "sku": sku_for_row(spec, row),
        "ean13": ean_for_row(spec, row),
        "manufacturer": manufacturer_id(brand_index(spec, row)),
        "taxonomy": leaf,
        "category": TAXONOMY_BY_ID[leaf][3],
        "weight": weight,
        "height": dims[0],
        "width": dims[1],
        "depth": dims[2],
        "wholesalePrice": wholesale,
        "retailPrice": retail,
        "inShopsPrice": in_shops,
        "priceLargeQuantities": tiers(spec, row, wholesale),
        "taxRate": 21,
        "taxId": 1,
        "canon": None,
        "active": 0 if _mix(spec.seed, row, 6) % 100 < 3 else 1,
        "condition": condition,
        "logisticClass": "ABC"[row % 3],
        "intrastat": f"{85_000_000 + _mix(spec.seed, row, 7) % 9_999_999}",
        "partNumber": f"PN-{_code(spec, row, 10**6):06d}",
        "video": "0" if row % 7 else f"yt{_code(spec, row, 10**8):08d}",
        "attributes": variations > 0,
        "categories": True,
        "images": True,
        "tags": False,
        "dateAdd": added_text,
        "dateUpd": updated_text,
        "dateUpdDescription": added_text,
        "dateUpdImages": added_text,
        "dateUpdStock": updated_text,
        "dateUpdProperties": None,
        "dateUpdCategories": None,
    }


def tiers(spec: CatalogueSpec, row: int, wholesale: float) -> list[Json]:
    if _mix(spec.seed, row, 8) % 10 >= 3:
        return []
    return [
        {"id": 300 + row % 50, "quantity": 10, "price": _money(wholesale * 0.95)},
        {"id": 400 + row % 50, "quantity": 50, "price": _money(wholesale * 0.9)},
    ]


def _title(spec: CatalogueSpec, row: int, iso: str) -> str:
    rng = _rng(spec, row, 11)
    nouns = _LEAF_PROFILE[leaf_of(spec, row)][0]
    lang = iso if iso in nouns else "en"
    brand = manufacturer(brand_index(spec, row))["name"]
    noun = rng.choice(nouns[lang])
    adjective = rng.choice(_ADJECTIVES[lang])
    title = f"{noun} {brand} {adjective}"
    if _mix(spec.seed, row, 12) % 100 < 15:  # titles longer than Allegro's 75 characters
        extras = rng.sample(_EXTRAS[lang], 5)
        title = f"{title} ({', '.join(extras)}) {rng.randint(100, 999)} mm"
    elif rng.random() < 0.5:
        title = f"{title} {rng.choice(_EXTRAS[lang])}"
    return title


def _slug(text: str) -> str:
    out = "".join(ch if ch.isalnum() else "-" for ch in text.lower())
    return "-".join(part for part in out.split("-") if part)


def information(spec: CatalogueSpec, row: int, iso: str) -> Json:
    title = _title(spec, row, iso)
    lang = iso if iso in _BOILERPLATE else "en"
    brand = manufacturer(brand_index(spec, row))["name"]
    rng = _rng(spec, row, 13)
    bullets = "".join(f"<li>{e}</li>" for e in rng.sample(_EXTRAS[lang], 3))
    description = (
        f"<p><strong>{title}</strong></p><ul>{bullets}</ul>"
        f"<p>Ref. <b>{sku_for_row(spec, row)}</b></p>" + _BOILERPLATE[lang].format(brand=brand)
    )
    return {
        "id": PRODUCT_ID_BASE + row,
        "sku": sku_for_row(spec, row),
        "name": title,
        "description": description,
        "url": _slug(title),
        "isoCode": iso,
        "dateUpdDescription": _date(_added(spec, row)),
    }


# The seeded catalogue's "today": the newest products were added in the 7 days before it.
CATALOGUE_DAY = 5 * 365 * 86_400 + 7 * 86_400


def new_rows(spec: CatalogueSpec) -> range:
    """The newest ids (about 1 %): what `new-products` lists."""
    return range(spec.size - max(1, spec.size // 100) if spec.size else 0, spec.size)


def _added(spec: CatalogueSpec, row: int) -> float:
    if row in new_rows(spec):
        return CATALOGUE_DAY - _unit(spec.seed, row, 20) * 7 * 86_400
    return _unit(spec.seed, row, 20) * 5 * 365 * 86_400


def images(spec: CatalogueSpec, row: int) -> Json:
    sku = sku_for_row(spec, row)
    count = 1 + _mix(spec.seed, row, 14) % 6
    return {
        "id": PRODUCT_ID_BASE + row,
        "images": [
            {
                "id": IMAGE_ID_BASE + row * 8 + i,
                "isCover": i == 0,
                "name": f"{sku}_{i + 1:02d}",
                "url": f"https://cdnbigbuy.com/images/{sku}_{i + 1:02d}.jpg",
                "position": i + 1,
                "logo": False,
                "whiteBackground": i == 0,
                "energyEfficiency": 0,
                "gpsrLabel": False,
                "gpsrWarning": False,
            }
            for i in range(count)
        ],
    }


# --- stock ----------------------------------------------------------------------------------
# Warehouses and their handling-day bands: most products ship from warehouse 1 in two bands.
WAREHOUSE_BANDS: dict[int, list[tuple[int, int]]] = {
    1: [(0, 1), (1, 2)],
    2: [(2, 4)],
    3: [(3, 5), (5, 10)],
}


def warehouse_of(spec: CatalogueSpec, row: int) -> int:
    pick = _mix(spec.seed, row, 15) % 10
    return 1 if pick < 7 else 2 if pick < 9 else 3


def _quantity(spec: CatalogueSpec, key: int, salt: int) -> int:
    if _unit(spec.seed, key, salt) >= spec.in_stock_share:
        return 0
    pick = _mix(spec.seed, key, salt + 1) % 100
    return 1 + pick % 4 if pick < 75 else 5 + pick % 56  # most hold 1-4 units


def base_quantities(spec: CatalogueSpec, row: int, k: int | None = None) -> list[int]:
    """Units per handling-days row of a product (k None) or of its k-th variation."""
    bands = WAREHOUSE_BANDS[warehouse_of(spec, row)]
    if k is None and variation_count(row):
        # A parent's row holds what its variations hold (BigBuy does not say; our choice).
        totals = [base_quantities(spec, row, j) for j in range(variation_count(row))]
        return [sum(q[i] for q in totals) for i in range(len(bands))]
    key = row if k is None else variation_id(row, k)
    total = _quantity(spec, key, 16)
    first = total - total // 3 if len(bands) > 1 else total
    return [first, total - first, *[0] * (len(bands) - 2)][: len(bands)]


def stock_record(ident: int, sku: str, warehouse: int, quantities: list[int]) -> Json:
    return {
        "id": ident,
        "sku": sku,
        "stocks": [
            {"quantity": q, "minHandlingDays": lo, "maxHandlingDays": hi, "warehouse": warehouse}
            for q, (lo, hi) in zip(quantities, WAREHOUSE_BANDS[warehouse], strict=True)
        ],
    }


# --- variations -----------------------------------------------------------------------------
def variation(spec: CatalogueSpec, row: int, k: int) -> Json:
    base = product(spec, row)
    rng = _rng(spec, variation_id(row, k), 17)
    factor = 1 + 0.05 * k
    ean = ean_for_row(spec, spec.size + variation_id(row, k) % MAX_ROWS)
    return {
        "id": variation_id(row, k),
        "product": PRODUCT_ID_BASE + row,
        "sku": variation_sku(spec, row, k),
        "ean13": ean,
        "extraWeight": round(base["weight"] * factor, 3),
        "wholesalePrice": _money(base["wholesalePrice"] * factor),
        "retailPrice": _money(base["retailPrice"] * factor),
        "inShopsPrice": _money(base["inShopsPrice"] * factor),
        "width": base["width"],
        "height": base["height"],
        "depth": base["depth"],
        "priceLargeQuantities": None if rng.random() < 0.5 else [],
        "logisticClass": base["logisticClass"],
    }


# --- compliance (GPSR) ----------------------------------------------------------------------
_GPSR_COUNTRIES = ["ES", "DE", "PL", "IT", "CN", "FR"]


def compliance(spec: CatalogueSpec, row: int) -> Json | None:
    """GPSR data for about 85 % of products; None for the rest (BigBuy answers 404)."""
    if _mix(spec.seed, row, 18) % 100 >= 85:
        return None
    brand = manufacturer(brand_index(spec, row))
    country = _GPSR_COUNTRIES[_mix(spec.seed, row, 19) % len(_GPSR_COUNTRIES)]
    slug = _slug(brand["name"])
    return {
        "id": PRODUCT_ID_BASE + row,
        "sku": sku_for_row(spec, row),
        "generalProductSafetyRegulations": [
            {
                "name": f"{brand['name']} Manufacturing S.L.",
                "countryIsoCode": country,
                "address": f"Calle Industria {1 + row % 90}, 46000 Valencia",
                "contact": f"safety@{slug}.example",
                "webSite": f"https://www.{slug}.example",
                "safetyWarnings": ["Keep out of reach of children."] if row % 4 == 0 else [],
            }
        ],
        "productComplianceDocuments": [],
    }


# --- list orders ----------------------------------------------------------------------------
def stride_for(n: int, salt: int) -> int:
    """A multiplier coprime with n: `(p * stride + salt) % n` visits every index once."""
    if n <= 1:
        return 1
    stride = (n // 3 + 2 * salt + 1) % n or 1
    while gcd(stride, n) != 1:
        stride = stride % (n - 1) + 1
    return stride


def permuted(position: int, n: int, salt: int) -> int:
    """The index at `position` of a list served in its own order (salt 0: id order)."""
    if salt == 0:
        return position
    return (position * stride_for(n, salt) + salt * 7919) % n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="BigBuy seed catalogue as JSON lines")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--size", type=int, default=100)
    args = parser.parse_args(argv)
    spec = CatalogueSpec(args.seed, args.size)
    for row in range(spec.size):
        sys.stdout.write(json.dumps(product(spec, row), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
