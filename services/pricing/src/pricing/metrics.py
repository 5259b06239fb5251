"""The pricing service's Prometheus metrics (prefix mci_pricing_, no per-SKU labels)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

prices_computed = Counter(
    "mci_pricing_prices_computed_total",
    "Prices computed (product x marketplace), by result (priced or the unpriced reason).",
    ["result"],
)
prices_changed = Counter(
    "mci_pricing_prices_changed_total", "Computed prices that differ from the stored ones."
)
runs = Counter(
    "mci_pricing_runs_total",
    "Pricing runs by kind (catalog, rules, fx, fees, confirm) and outcome (applied, held).",
    ["kind", "outcome"],
)
run_duration = Histogram(
    "mci_pricing_run_duration_seconds",
    "Time to price one run (a CatalogUpdated message or an account recompute).",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
