"""Prometheus metrics shared by every service (prefix `mci_`, base units, no per-item labels)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

messages_consumed = Counter(
    "mci_messages_consumed_total",
    "Messages taken from a queue, by outcome (handled, duplicate, retried, dead_lettered).",
    ["queue", "result"],
)
messages_published = Counter(
    "mci_messages_published_total",
    "Outbox events published to the broker, by outcome (confirmed, failed, returned).",
    ["routing_key", "result"],
)
handler_duration = Histogram(
    "mci_message_handler_duration_seconds",
    "Time to handle one batch of messages in one transaction.",
    ["queue"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
outbox_pending = Gauge(
    "mci_outbox_pending_messages", "Outbox rows not yet confirmed by the broker."
)
outbox_oldest_age = Gauge(
    "mci_outbox_oldest_pending_age_seconds", "Age of the oldest outbox row not yet published."
)
dlq_depth = Gauge("mci_dlq_messages", "Messages waiting in a dead-letter queue.", ["queue"])
# By route template (`/accounts/{account_id}/offers`), never by raw path: no per-SKU series.
http_requests = Counter(
    "mci_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
http_request_duration = Histogram(
    "mci_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
