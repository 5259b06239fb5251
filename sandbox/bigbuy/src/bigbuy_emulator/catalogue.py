"""`/rest/catalog/...`: the product lists, paged 0-based, each list in its own order, and the
single-item reads. Everything is computed from the seed plus the overrides kept in the state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from bigbuy_emulator import seed
from bigbuy_emulator.errors import bad_request, not_found
from bigbuy_emulator.state import Emulator, Item, Json
from bigbuy_emulator.web import emulator, json_response

router = APIRouter(prefix="/catalog")

MAX_PAGE_SIZE = 10_000
# BigBuy's 24 catalogue languages.
ALL_LANGUAGES: dict[str, str] = {
    "bg": "Bulgarian", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "et": "Estonian", "fi": "Finnish", "fr": "French",
    "hr": "Croatian", "hu": "Hungarian", "it": "Italian", "lt": "Lithuanian", "lv": "Latvian",
    "nl": "Dutch", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "sk": "Slovak",
    "sl": "Slovenian", "sv": "Swedish", "no": "Norwegian", "ru": "Russian",
}  # fmt: skip
DEFAULT_ISO = "es"

# Each list has its own order (salt 0 = id order), as BigBuy's do: a client must join on id.
SALT = {
    "products": 0,
    "productsinformation": 1,
    "productsimages": 2,
    "productsstockbyhandlingdays": 3,
    "productprices": 4,
    "productsvariations": 5,
    "productsvariationsstockbyhandlingdays": 6,
    "productvariationprices": 7,
    "variations": 8,
    "productstaxonomies": 9,
    "manufacturers": 10,
    "new-products": 11,
}


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"Parameter {name} must be an integer") from None


def page_window(request: Request) -> tuple[int, int]:
    """(page, pageSize): 0-based pages; pageSize 0 (the default) returns the whole list."""
    page = _int(request, "page", 0)
    size = _int(request, "pageSize", 0)
    if page < 0 or size < 0:
        raise bad_request("page and pageSize must not be negative")
    if size > MAX_PAGE_SIZE:
        raise bad_request(f"pageSize must be {MAX_PAGE_SIZE} or less")
    return page, size


def iso_code(request: Request, emu: Emulator) -> str:
    iso = request.query_params.get("isoCode") or DEFAULT_ISO
    if iso not in emu.config.languages:
        raise bad_request(f"isoCode {iso} is not a catalogue language")
    return iso


def _taxonomy_filter(request: Request, emu: Emulator) -> Callable[[int], bool] | None:
    """`parentTaxonomy`: keep the rows whose leaf lies under that taxonomy."""
    parent = _int(request, "parentTaxonomy", 0)
    if not parent:
        return None
    spec = emu.spec
    return lambda row: parent in seed.taxonomy_path(seed.leaf_of(spec, row))


def _positions(
    n: int, salt: int, page: int, size: int, keep: Callable[[int], bool] | None
) -> Iterator[int]:
    """Indices of one page of a list of `n` served in the order of `salt`."""
    if keep is None:
        if size == 0:
            start, stop = (0, n) if page == 0 else (n, n)
        else:
            start, stop = min(page * size, n), min((page + 1) * size, n)
        for position in range(start, stop):
            yield seed.permuted(position, n, salt)
        return
    skip = page * size
    taken = 0
    for position in range(n):
        index = seed.permuted(position, n, salt)
        if not keep(index):
            continue
        if skip:
            skip -= 1
            continue
        yield index
        taken += 1
        if size and taken == size:
            return


def _no_sandbox_catalogue(emu: Emulator) -> None:
    if emu.config.sandbox_mode:
        raise bad_request("The catalogue is not available")


def _product_list(request: Request, name: str, build: Callable[[Emulator, int], Json]) -> Response:
    emu = emulator(request)
    _no_sandbox_catalogue(emu)
    page, size = page_window(request)
    keep = _taxonomy_filter(request, emu)
    rows = _positions(emu.spec.size, SALT[name], page, size, keep)
    return json_response([build(emu, row) for row in rows])


def _variation_list(
    request: Request, name: str, build: Callable[[Emulator, int, int], Json]
) -> Response:
    emu = emulator(request)
    _no_sandbox_catalogue(emu)
    page, size = page_window(request)
    parent_keep = _taxonomy_filter(request, emu)
    keep = None
    if parent_keep is not None:
        outer = parent_keep
        keep = lambda index: outer(seed.variation_at(index)[0])  # noqa: E731
    total = seed.variations_total(emu.spec.size)
    indices = _positions(total, SALT[name], page, size, keep)
    return json_response([build(emu, *seed.variation_at(i)) for i in indices])


# --- lists ----------------------------------------------------------------------------------
@router.get("/products.json")
async def products(request: Request) -> Response:
    return _product_list(request, "products", lambda emu, row: emu.product(row))


@router.get("/new-products.json")
async def new_products(request: Request) -> Response:
    """Products added in the catalogue's last 7 days, in the products' shape."""
    emu = emulator(request)
    _no_sandbox_catalogue(emu)
    page, size = page_window(request)
    rows = seed.new_rows(emu.spec)
    outer = _taxonomy_filter(request, emu)
    keep = None if outer is None else (lambda index: outer(rows[index]))
    indices = _positions(len(rows), SALT["new-products"], page, size, keep)
    return json_response([emu.product(rows[i]) for i in indices])


@router.get("/productsinformation.json")
async def products_information(request: Request) -> Response:
    iso = iso_code(request, emulator(request))
    return _product_list(
        request,
        "productsinformation",
        lambda emu, row: seed.information(emu.spec, row, iso),
    )


@router.get("/productsimages.json")
async def products_images(request: Request) -> Response:
    return _product_list(request, "productsimages", lambda emu, row: seed.images(emu.spec, row))


@router.get("/productsstockbyhandlingdays.json")
async def products_stock(request: Request) -> Response:
    return _product_list(
        request,
        "productsstockbyhandlingdays",
        lambda emu, row: emu.stock_record(Item(row, None)),
    )


@router.get("/productprices.json")
async def product_prices(request: Request) -> Response:
    tiers = "includePriceLargeQuantities" in request.query_params
    return _product_list(
        request, "productprices", lambda emu, row: emu.prices(Item(row, None), tiers)
    )


@router.get("/productstaxonomies.json")
async def products_taxonomies(request: Request) -> Response:
    def build(emu: Emulator, row: int) -> Json:
        leaf = seed.leaf_of(emu.spec, row)
        return {"id": leaf, "taxonomy": leaf, "product": seed.PRODUCT_ID_BASE + row}

    return _product_list(request, "productstaxonomies", build)


@router.get("/productsvariations.json")
async def products_variations(request: Request) -> Response:
    return _variation_list(request, "productsvariations", lambda emu, r, k: emu.variation(r, k))


@router.get("/productsvariationsstockbyhandlingdays.json")
async def variations_stock(request: Request) -> Response:
    return _variation_list(
        request,
        "productsvariationsstockbyhandlingdays",
        lambda emu, r, k: emu.stock_record(Item(r, k)),
    )


@router.get("/productvariationprices.json")
async def variation_prices(request: Request) -> Response:
    tiers = "includePriceLargeQuantities" in request.query_params
    return _variation_list(
        request, "productvariationprices", lambda emu, r, k: emu.prices(Item(r, k), tiers)
    )


def _variation_attributes(row: int, k: int) -> Json:
    return {
        "id": seed.variation_id(row, k),
        "attributes": [{"id": seed.variation_attribute(row, k)[0]}],
    }


@router.get("/variations.json")
async def variations(request: Request) -> Response:
    return _variation_list(request, "variations", lambda emu, r, k: _variation_attributes(r, k))


def _small_list(request: Request, records: list[Any], salt: int = 0) -> Response:
    page, size = page_window(request)
    return json_response([records[i] for i in _positions(len(records), salt, page, size, None)])


def _taxonomy(entry: tuple[int, int, dict[str, str], int], iso: str) -> Json:
    tid, parent, names, _ = entry
    slug = "-".join(
        seed.localized(seed.TAXONOMY_BY_ID[t][2], iso).lower().replace(" ", "-")
        for t in seed.taxonomy_path(tid)
    )
    return {
        "id": tid,
        "name": seed.localized(names, iso),
        "url": slug,
        "parentTaxonomy": parent,
        "dateAdd": "2021-10-20 12:00:00",
        "dateUpd": "2024-05-01 08:00:00",
        "urlImages": f"https://cdnbigbuy.com/images/tax_{tid}.jpg",
        "isoCode": iso,
    }


@router.get("/taxonomies.json")
async def taxonomies(request: Request) -> Response:
    iso = iso_code(request, emulator(request))
    first_level = request.query_params.get("firstLevel") in ("1", "true")
    entries = [t for t in seed.TAXONOMIES if not first_level or t[1] == 0]
    return _small_list(request, [_taxonomy(t, iso) for t in entries])


@router.get("/manufacturers.json")
async def manufacturers(request: Request) -> Response:
    brands = [seed.manufacturer(i) for i in range(seed.MANUFACTURER_COUNT)]
    return _small_list(request, brands, SALT["manufacturers"])


@router.get("/attributegroups.json")
async def attribute_groups(request: Request) -> Response:
    iso = iso_code(request, emulator(request))
    groups = [
        {"id": gid, "name": seed.localized(names, iso), "isoCode": iso}
        for gid, names, _ in seed.ATTRIBUTE_GROUPS
    ]
    return _small_list(request, groups)


@router.get("/attributes.json")
async def attributes(request: Request) -> Response:
    iso = iso_code(request, emulator(request))
    values = [
        {"id": aid, "attributeGroup": gid, "name": seed.localized(names, iso), "isoCode": iso}
        for gid, _, members in seed.ATTRIBUTE_GROUPS
        for aid, _, names in members
    ]
    return _small_list(request, values)


@router.get("/languages.json")
async def languages(request: Request) -> Response:
    return json_response([{"name": n, "isoCode": iso} for iso, n in ALL_LANGUAGES.items()])


@router.get("/categories.json")
async def categories(request: Request) -> Response:
    # Deprecated by BigBuy: the route stays and answers an empty list.
    return json_response([])


# --- single items ---------------------------------------------------------------------------
def _product_row(emu: Emulator, product_id: int) -> int:
    row = seed.row_for_id(emu.spec, product_id)
    if row is None:
        raise not_found(f"Product {product_id} not found")
    return row


def _variation(emu: Emulator, variation_id: int) -> tuple[int, int]:
    found = seed.split_variation_id(emu.spec, variation_id)
    if found is None:
        raise not_found(f"Variation {variation_id} not found")
    return found


@router.get("/product/{product_id:int}.json")
async def product(request: Request, product_id: int) -> Response:
    emu = emulator(request)
    return json_response(emu.product(_product_row(emu, product_id)))


@router.get("/productinformation/{product_id:int}.json")
async def product_information(request: Request, product_id: int) -> Response:
    emu = emulator(request)
    iso = iso_code(request, emu)
    return json_response([seed.information(emu.spec, _product_row(emu, product_id), iso)])


@router.get("/productinformationalllanguages/{product_id:int}.json")
async def product_information_all_languages(request: Request, product_id: int) -> Response:
    emu = emulator(request)
    row = _product_row(emu, product_id)
    return json_response([seed.information(emu.spec, row, iso) for iso in emu.config.languages])


@router.get("/productinformationbysku/{sku}.json")
async def product_information_by_sku(request: Request, sku: str) -> Response:
    emu = emulator(request)
    iso = iso_code(request, emu)
    row = seed.row_for_sku(emu.spec, sku)
    if row is None:
        raise not_found(f"Product {sku} not found")
    return json_response([seed.information(emu.spec, row, iso)])


@router.get("/productimages/{product_id:int}.json")
async def product_images(request: Request, product_id: int) -> Response:
    emu = emulator(request)
    return json_response(seed.images(emu.spec, _product_row(emu, product_id)))


@router.get("/productstockbyhandlingdays/{product_id:int}.json")
async def product_stock(request: Request, product_id: int) -> Response:
    emu = emulator(request)
    return json_response(emu.stock_record(Item(_product_row(emu, product_id), None)))


@router.get("/productvariationsstockbyhandlingdays/{variation_id:int}.json")
async def variation_stock(request: Request, variation_id: int) -> Response:
    emu = emulator(request)
    return json_response(emu.stock_record(Item(*_variation(emu, variation_id))))


@router.get("/productvariations/{product_id:int}.json")
async def product_variations(request: Request, product_id: int) -> Response:
    emu = emulator(request)
    row = _product_row(emu, product_id)
    return json_response([emu.variation(row, k) for k in range(seed.variation_count(row))])


@router.get("/variation/{variation_id:int}.json")
async def variation(request: Request, variation_id: int) -> Response:
    emu = emulator(request)
    return json_response(_variation_attributes(*_variation(emu, variation_id)))


@router.get("/manufacturer/{manufacturer_id:int}.json")
async def manufacturer(request: Request, manufacturer_id: int) -> Response:
    index = seed.manufacturer_index(manufacturer_id)
    if index is None:
        raise not_found(f"Manufacturer {manufacturer_id} not found")
    return json_response(seed.manufacturer(index))


@router.get("/productcompliance/{product_id:int}.json")
async def product_compliance(request: Request, product_id: int) -> Response:
    emu = emulator(request)
    data = seed.compliance(emu.spec, _product_row(emu, product_id))
    if data is None:  # as in production: 404 for products without compliance data
        raise not_found(f"No compliance data for product {product_id}")
    return json_response(data)
