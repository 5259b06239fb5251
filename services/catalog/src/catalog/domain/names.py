"""BigBuy's reference lists: category ids and brand ids to names.

BigBuy's files and API carry numbers: a product's category is a path of ids (`2399 > 2403`)
into its taxonomies list, its brand an id into its manufacturers list. Products keep the ids
(they are what the supplier sends, and stable across a rename); everything that works on
names (screening, selection by name, suggestions, the items sent on) sees the product with
its names resolved from the imported lists. A category or brand that is a number the lists do
not know is left as the number and flagged (`unknown_category`, `unknown_brand`): never
silently taken for a name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from catalog.domain.model import CATEGORY_SEPARATOR, Product

# The first language a taxonomy has a name in, in this order: English first because the
# screening defaults and fee rows name BigBuy's English categories, Polish for Allegro.
LANGUAGES = ("en", "pl")


def is_id(value: str) -> bool:
    return value.isascii() and value.isdigit()


@dataclass
class Names:
    taxonomies: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> {lang: name}
    manufacturers: dict[str, str] = field(default_factory=dict)  # id -> name

    def __post_init__(self) -> None:
        self._paths: dict[str, tuple[str, bool]] = {}

    def category_name(self, taxonomy_id: str) -> str | None:
        names = self.taxonomies.get(taxonomy_id)
        if not names:
            return None
        for language in LANGUAGES:
            if names.get(language):
                return names[language]
        return next(iter(sorted(names.items())))[1]

    def path(self, category_path: str | None) -> tuple[str | None, bool]:
        """The path with every id named, and whether an id was unknown (left as the id)."""
        if not category_path:
            return category_path, False
        if (held := self._paths.get(category_path)) is not None:
            return held
        unknown = False
        parts = []
        for part in category_path.split(CATEGORY_SEPARATOR):
            name = self.category_name(part) if is_id(part) else None
            if name is None and is_id(part):
                unknown = True
            parts.append(name or part)
        resolved = (CATEGORY_SEPARATOR.join(parts), unknown)
        self._paths[category_path] = resolved
        return resolved

    def brand(self, brand: str | None) -> tuple[str | None, bool]:
        if not brand or not is_id(brand):
            return brand, False
        name = self.manufacturers.get(brand)
        return (name, False) if name else (brand, True)

    def resolve(self, product: Product) -> Product:
        """The product as name-based features see it (ids replaced by names where known)."""
        if not self.taxonomies and not self.manufacturers:
            return product
        path, _ = self.path(product.category_path)
        brand, _ = self.brand(product.brand)
        if path == product.category_path and brand == product.brand:
            return product
        return replace(product, category_path=path, brand=brand)

    def flags(self, product: Product) -> list[str]:
        out = []
        if self.path(product.category_path)[1]:
            out.append("unknown_category")
        if self.brand(product.brand)[1]:
            out.append("unknown_brand")
        return out


NO_NAMES = Names()


@dataclass(frozen=True)
class ListRow:
    id: str
    name: str
    parent: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class ListError:
    line: int
    field: str
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {
            "line": self.line,
            "field": self.field,
            "code": "invalid_value",
            "reason": self.reason,
        }


def _cell(value: object) -> str:
    return "" if value is None else str(value).strip()


def read_list(
    records: Sequence[Mapping[str, object]], *, taxonomies: bool
) -> tuple[list[ListRow], list[ListError]]:
    """Rows of BigBuy's `taxonomies` (`{id, name, parentTaxonomy, isoCode}`) or
    `manufacturers` (`{id, name}`) list, from its JSON or a CSV with the same column names
    (`parent` is taken for `parentTaxonomy`); `line` is the record's position (CSV: its line).
    A bad record is one error; the rest applies."""
    rows: list[ListRow] = []
    errors: list[ListError] = []
    for number, record in enumerate(records, 1):
        line = int(str(record.get("__line__", number)))
        item_id, name = _cell(record.get("id")), _cell(record.get("name"))
        if not is_id(item_id) or len(item_id) > 18:
            errors.append(ListError(line, "id", "not a numeric id"))
            continue
        if not name or len(name) > 200:
            errors.append(ListError(line, "name", "required, at most 200 characters"))
            continue
        parent = _cell(record.get("parentTaxonomy", record.get("parent"))) if taxonomies else ""
        if parent in ("0", ""):
            parent = ""  # a root: BigBuy sends 0 or nothing
        elif not is_id(parent):
            errors.append(ListError(line, "parentTaxonomy", "not a numeric id"))
            continue
        language = _cell(record.get("isoCode")).lower() or None
        if language is not None and (len(language) != 2 or not language.isalpha()):
            errors.append(ListError(line, "isoCode", "not a two-letter language code"))
            continue
        rows.append(ListRow(item_id, name, parent or None, language))
    return rows, errors
