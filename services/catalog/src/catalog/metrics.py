"""The catalog's own Prometheus metrics (the messaging ones come from shared.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

import_rows = Counter(
    "mci_catalog_import_rows_total",
    "Rows read by bulk imports, by format and result (valid, invalid).",
    ["format", "result"],
)
products_changed = Counter(
    "mci_catalog_products_changed_total",
    "Products whose content changed, by source (upstream, import).",
    ["source"],
)
upstream_rejected = Counter(
    "mci_catalog_upstream_records_rejected_total",
    "Upstream product records that failed validation and were skipped.",
)
items_emitted = Counter(
    "mci_catalog_items_emitted_total",
    "CatalogUpdated items written to the outbox, by listed (true, false).",
    ["listed"],
)
