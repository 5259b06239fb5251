"""BigBuy's per-endpoint rate limits: a fixed window opened by the first call.

Each endpoint (a path with its ids taken out) has its own budget. The first call opens a window
of the limit's length; calls are counted until it ends, then the next call opens a new one
(measured: a first call at 07:52 reset at 08:52). A call over the budget gets 429 and does not
count, nor does one answered 400. `X-RateLimit-Reset` is the window's end as a Unix time on the
emulator's clock. The scale factor divides every window, so a demo or a test sees the same
budgets in less time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bigbuy_emulator.config import EmulatorConfig

HOUR = 3600.0
# With limits off every limited endpoint still answers its X-RateLimit-* headers (BigBuy always
# sends them), with this many calls per window: a client that trusts the headers runs freely
# instead of falling back to the documented budgets.
UNLIMITED_CALLS = 1_000_000


@dataclass(frozen=True)
class Limit:
    calls: int
    seconds: float


# (endpoint pattern, limit): first match wins. Figures from BigBuy's documentation.
RULES: list[tuple[re.Pattern[str], Limit]] = [
    (
        re.compile(
            r"^catalog/(products|productprices|productsstockbyhandlingdays|productsimages"
            r"|productsvariations|productvariationprices|productsvariationsstockbyhandlingdays"
            r"|variations|languages)$"
        ),
        Limit(10, HOUR),
    ),
    (
        re.compile(
            r"^catalog/(productsinformation|taxonomies|attributes|attributegroups|tags"
            r"|productstags|categories)$"
        ),
        Limit(24, HOUR),
    ),
    (re.compile(r"^catalog/(manufacturers|productstaxonomies)$"), Limit(5, HOUR)),
    (re.compile(r"^catalog/new-products$"), Limit(2, HOUR)),
    (re.compile(r"^catalog/"), Limit(1, 5.0)),  # any single item
    (re.compile(r"^shipping/lowest-shipping-costs-by-country/"), Limit(36, 6 * HOUR)),
    (re.compile(r"^(order|shipping|tracking|user)/"), Limit(1, 1.0)),
]


# Segments followed by a non-numeric variable (an order reference, a SKU, a country code).
_BEFORE_VARIABLE = ("reference", "productinformationbysku", "lowest-shipping-costs-by-country")


def endpoint_key(path: str) -> str:
    """`catalog/product/123.json` -> `catalog/product/{}`: one budget per endpoint."""
    path = path.removesuffix(".json").strip("/")
    parts = path.split("/")
    key: list[str] = []
    for i, part in enumerate(parts):
        # Ids are numeric; other variables follow a known literal segment.
        variable = any(ch.isdigit() for ch in part) or (i > 0 and parts[i - 1] in _BEFORE_VARIABLE)
        key.append("{}" if variable and i > 0 else part)
    return "/".join(key)


def limit_for(key: str) -> Limit | None:
    for pattern, limit in RULES:
        if pattern.search(key):
            return limit
    return None


@dataclass
class Window:
    started: float
    ends: float
    used: int = 0


@dataclass
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: float  # Unix time the window ends


class RateLimiter:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.windows: dict[str, Window] = {}
        # The windows counted while limits are off: turning limits on starts from fresh ones.
        self.unlimited_windows: dict[str, Window] = {}
        self.rejected = 0

    def reset(self) -> None:
        self.windows.clear()
        self.unlimited_windows.clear()
        self.rejected = 0

    def check(self, key: str, now: float) -> Verdict | None:
        """Count one call to endpoint `key`; None when that endpoint has no limit. With limits
        off the window still runs, with `UNLIMITED_CALLS` calls, so the headers say so."""
        limit = limit_for(key)
        if limit is None:
            return None
        windows = self.windows
        if not self.config.rate_limits_enabled:
            limit, windows = Limit(UNLIMITED_CALLS, limit.seconds), self.unlimited_windows
        window = windows.get(key)
        if window is None or now >= window.ends:
            length = limit.seconds / self.config.rate_limit_scale
            window = windows[key] = Window(now, now + length)
        if window.used >= limit.calls:
            self.rejected += 1
            return Verdict(False, limit.calls, 0, window.ends)
        window.used += 1
        return Verdict(True, limit.calls, limit.calls - window.used, window.ends)

    def refund(self, key: str) -> None:
        """A call answered 400 does not count (one observation of BigBuy's behaviour)."""
        windows = self.windows if self.config.rate_limits_enabled else self.unlimited_windows
        window = windows.get(key)
        if window is not None and window.used > 0:
            window.used -= 1
