"""The offers service's own metrics (prefix `mci_offers_`, no per-offer labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

steps = Counter(
    "mci_offers_steps_total",
    "Worker steps on offers (check, create, poll, verify, end, activate) by the state they left"
    " the offer in (unchanged: retried later or still running).",
    ["step", "state"],
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
