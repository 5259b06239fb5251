"""The offers service's own metrics (prefix `mci_offers_`, no per-offer labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

steps = Counter(
    "mci_offers_steps_total",
    "Worker steps on offers (check, create, poll, verify, end, activate) by the state they left"
    " the offer in (unchanged: retried later or still running).",
    ["step", "state"],
)

sync_commands = Counter(
    "mci_offers_sync_commands_total",
    "Batch commands of the price and stock sync by kind (price, quantity, publication) and how"
    " they ended (completed: tasks read; refused: Allegro refused the whole command).",
    ["kind", "outcome"],
)
sync_command_offers = Histogram(
    "mci_offers_sync_command_offers",
    "Offers per batch command sent (Allegro takes up to 1,000).",
    ["kind"],
    buckets=(1, 10, 50, 100, 250, 500, 750, 1000),
)
sync_task_failures = Counter(
    "mci_offers_sync_task_failures_total",
    "Offers whose task in a batch command failed, by kind and transience (transient: tried"
    " again after a backoff; permanent: surfaced to the operator).",
    ["kind", "transience"],
)
drift_found = Counter(
    "mci_offers_drift_found_total",
    "Differences between Allegro's offers and ours, by kind (price, stock, ended, status,"
    " missing_on_allegro, unknown_to_us) and where they were found (events, reconcile).",
    ["kind", "source"],
)
offer_events_read = Counter(
    "mci_offers_offer_events_read_total", "Allegro offer events read (GET /sale/offer-events)."
)
offer_events_cursor_lost = Counter(
    "mci_offers_offer_events_cursor_lost_total",
    "Offer-event cursors Allegro refused (older than its 24 hours): events lost, reconcile.",
)
offer_events_lag = Gauge(
    "mci_offers_offer_events_lag_seconds",
    "Age of the last offer event read while more were waiting (0: caught up), last read.",
)
