"""The console's Prometheus metrics: the same HTTP series as every service (`mci_http_*`, by
route template, never by raw path), so the dashboards' HTTP panels show the console beside them.
The console has no other state worth a series (it stores nothing)."""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A registry of the console's own: the names are the services' (shared.metrics), and a process
# that imports both (the test suite) must not register one name twice.
REGISTRY = CollectorRegistry()
for collector in (ProcessCollector, PlatformCollector, GCCollector):
    collector(registry=REGISTRY)

http_requests = Counter(
    "mci_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
http_request_duration = Histogram(
    "mci_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
STATIC_PREFIX = "/static"


def route_of(scope: Scope) -> str:
    """The route template that answered (`/api/{service}/{path:path}`), `/static` for the
    pages' files, `unmatched` otherwise: a scanner's paths mint no series."""
    route = getattr(scope.get("route"), "path", None)
    if route:
        return str(route)
    path = str(scope.get("path", ""))
    if path == STATIC_PREFIX or path.startswith(STATIC_PREFIX + "/"):
        return STATIC_PREFIX
    return "unmatched"


class RequestMetrics:
    """Counts and times every answered request by its route template (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route, method = route_of(scope), scope["method"]
            http_requests.labels(method, route, str(status)).inc()
            http_request_duration.labels(method, route).observe(time.perf_counter() - started)


def render() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
