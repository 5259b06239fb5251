"""The offers service's own metrics (prefix `mci_offers_`, no per-offer labels)."""

from __future__ import annotations

from prometheus_client import Counter

steps = Counter(
    "mci_offers_steps_total",
    "Worker steps on offers (check, create, poll, verify, end, activate) by the state they left"
    " the offer in (unchanged: retried later or still running).",
    ["step", "state"],
)
