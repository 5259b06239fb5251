"""The orders service's Prometheus metrics (prefix mci_orders_, no per-order labels)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

orders_handed_off = Counter(
    "mci_orders_handed_off_total",
    "Checkout forms handed off, by event (OrderReceived, OrderCancelled), after commit.",
    ["event"],
)
import_lag = Histogram(
    "mci_orders_import_lag_seconds",
    "Age of a page's last order event when the page was stored (how far behind the import is).",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400),
)
write_backs = Counter(
    "mci_orders_write_backs_total",
    "Write-back attempts by kind (shipment, fulfillment_status) and outcome (done, retry, failed).",
    ["kind", "outcome"],
)
