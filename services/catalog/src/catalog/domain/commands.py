"""What an operator asks of the catalog, as typed messages: each is handled by one function of
`catalog.handlers` taking `(message, uow)`. Commands change state; queries only read."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from catalog.domain.model import ProductRecord
from catalog.domain.names import ListRow
from catalog.domain.selection import Selection
from catalog.domain.validation import RowError
from shared.pagination import PageRequest

# --- products --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListProducts:
    page: PageRequest
    category: str | None = None  # a supplier category: its whole subtree
    text: str | None = None  # SKU or EAN exactly, or part of the title (an operator's search)


@dataclass(frozen=True)
class GetProduct:
    sku: str


@dataclass(frozen=True)
class SetTitle:
    """The operator's title for a SKU, or None: back to the supplier's."""

    sku: str
    title: str | None
    by: str | None


# --- imports ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListImports:
    format: str | None
    page: PageRequest


@dataclass(frozen=True)
class GetImport:
    import_id: uuid.UUID


@dataclass(frozen=True)
class ListImportErrors:
    import_id: uuid.UUID
    page: PageRequest


# --- reference lists and settings ------------------------------------------------------------


@dataclass(frozen=True)
class SaveReferenceLists:
    """BigBuy's taxonomies (names in `language` unless a row says) and manufacturers; either
    may be empty (the operator sends one list at a time, the connector both)."""

    taxonomies: Sequence[ListRow]
    manufacturers: Sequence[ListRow]
    language: str


@dataclass(frozen=True)
class CountReference:
    pass


@dataclass(frozen=True)
class GetStockSettings:
    pass


@dataclass(frozen=True)
class SetReservationLag:
    lag: timedelta


# --- selection and listing -------------------------------------------------------------------


@dataclass(frozen=True)
class GetSelection:
    account_id: str


@dataclass(frozen=True)
class SaveSelection:
    account_id: str
    selection: Selection
    by: str


@dataclass(frozen=True)
class PatchSelection:
    """Each part given ("include", "exclude") replaces that part of the saved selection."""

    account_id: str
    changes: dict[str, Any]
    by: str


@dataclass(frozen=True)
class PreviewSelection:
    account_id: str
    selection: Selection
    page: PageRequest


@dataclass(frozen=True)
class GetListing:
    account_id: str


@dataclass(frozen=True)
class SetListing:
    account_id: str
    not_blocking: Sequence[str]
    product_cap: int | None = None
    cap_order: str = "margin"
    priority: Sequence[str] = ()


# --- screening -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListScreeningRules:
    page: PageRequest


@dataclass(frozen=True)
class AddScreeningRule:
    kind: str
    pattern: str
    reason: str


@dataclass(frozen=True)
class DeleteScreeningRule:
    rule_id: int


@dataclass(frozen=True)
class ListScreened:
    account_id: str
    page: PageRequest


@dataclass(frozen=True)
class ListNotListable:
    account_id: str
    page: PageRequest


# --- category mappings -----------------------------------------------------------------------


@dataclass(frozen=True)
class ListMappings:
    page: PageRequest


@dataclass(frozen=True)
class MapCategory:
    supplier_category: str
    marketplace: str
    allegro_category_id: str


@dataclass(frozen=True)
class UnmapCategory:
    supplier_category: str
    marketplace: str


@dataclass(frozen=True)
class ListUnmapped:
    page: PageRequest  # largest first: the first page holds the largest ones


@dataclass(frozen=True)
class AcceptSuggestions:
    supplier_categories: Sequence[str] = field(default_factory=list)


# --- coverage --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartCoverage:
    account_id: str
    selection: Selection | None  # None: the account's saved one


@dataclass(frozen=True)
class GetCoverage:
    report_id: uuid.UUID


@dataclass(frozen=True)
class LatestCoverage:
    account_id: str


@dataclass(frozen=True)
class ResumeCoverage:
    report_id: uuid.UUID


# --- steps of work spanning several units of work -----------------------------------------
# An import commits chunk by chunk; suggestions and coverage ask Allegro between their units.


@dataclass(frozen=True)
class SaveImportReport:
    report: dict[str, Any]  # the columns of `imports` by name


@dataclass(frozen=True)
class ApplyChunk:
    records: Sequence[ProductRecord]
    source: str
    import_id: uuid.UUID


@dataclass(frozen=True)
class WriteImportErrors:
    import_id: uuid.UUID
    first_seq: int
    errors: Sequence[RowError]


@dataclass(frozen=True)
class CountImportSkus:
    import_id: uuid.UUID


@dataclass(frozen=True)
class ForgetImportSkus:
    import_id: uuid.UUID


@dataclass(frozen=True)
class CachedLookups:
    eans: Sequence[str]
    since: datetime


@dataclass(frozen=True)
class SaveLookups:
    found: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class SampleCategory:
    supplier_category: str
    refresh: bool
    sample: int


@dataclass(frozen=True)
class SaveSuggestions:
    supplier_category: str
    suggestions: list[dict[str, Any]]
    computed_at: datetime


@dataclass(frozen=True)
class CreateCoverage:
    report_id: uuid.UUID
    account_id: str
    selection: Selection


@dataclass(frozen=True)
class ClaimStaleCoverage:
    before: datetime


@dataclass(frozen=True)
class FailCoverage:
    report_id: uuid.UUID
    error: str


@dataclass(frozen=True)
class CoverageResumePoint:
    report_id: uuid.UUID


@dataclass(frozen=True)
class ScanProducts:
    after: str | None
    limit: int


@dataclass(frozen=True)
class AdvanceCoverage:
    report_id: uuid.UUID
    processed: int
    last_sku: str | None
    counts: dict[str, int]
    by_category: dict[str, dict[str, int]]


@dataclass(frozen=True)
class FinishCoverage:
    report_id: uuid.UUID
