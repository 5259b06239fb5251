"""The offers service's own metrics (prefix `mci_offers_`, no per-offer labels)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

from offers.domain import states
from offers.domain.commands import StateCount

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

# By state and the account's base marketplace only: no account label (one series per account
# would grow with the customers), no per-offer label.
offers = Gauge(
    "mci_offers_offers",
    "Offers by state and the base marketplace of their account, as the worker last counted them"
    " (every OFFERS_STATE_METRICS_INTERVAL_SECONDS; each worker replica reports the same count:"
    " take the max across replicas, not the sum).",
    ["state", "marketplace"],
)
published = Counter(
    "mci_offers_published_total",
    "Offers that went live on Allegro (OfferPublished: created, or reactivated after a"
    " restock), by the base marketplace of their account.",
    ["marketplace"],
)


def report_offer_counts(counts: Iterable[StateCount], marketplaces: set[str]) -> set[str]:
    """Set the gauge from a fresh count: every state of every marketplace seen (now or before)
    gets a value, 0 when it holds no offer, so a state that empties does not keep its last
    count and a series exists before its first offer. The publication counter starts at 0 for
    each marketplace (a rate over it then counts the first offer). Returns the marketplaces
    seen so far."""
    found = {(count.state, count.marketplace): count.offers for count in counts}
    seen = marketplaces | {marketplace for _, marketplace in found}
    for marketplace in seen:
        published.labels(marketplace)
        for state in {*states.STATES, *(s for s, m in found if m == marketplace)}:
            offers.labels(state, marketplace).set(found.get((state, marketplace), 0))
    return seen
