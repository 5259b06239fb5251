"""Rate limits as Allegro counts them (allegro-api.md section 12).

* per Client ID: 9,000 requests/min; on excess the whole Client ID is blocked for ~60 s;
* per seller and endpoint class (product-offers GET/PATCH/POST, a few per-second resources);
* batch commands counted in offer changes, per minute and per hour.

Each limit is a sliding window: what was accepted in the last `window_seconds` is remembered, so
no window of that length (any minute, not only clock minutes) ever holds more than `limit`. A
request that would exceed it is refused and blocks the key for the limit's block time (the
Client ID's `client_block_seconds`), as Allegro blocks a Client ID: nothing passes until it ends.
The single scale factor divides every window and block, so a benchmark can run the same scenario
`scale` times faster with the same proportions.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from allegro_emulator.config import EmulatorConfig, RateLimit
from allegro_emulator.errors import AllegroError, too_many_requests


@dataclass
class Window:
    """What one key spent under one limit: (accepted at, amount), oldest first."""

    spent: deque[tuple[float, int]] = field(default_factory=deque)
    total: int = 0
    blocked_until: float = 0.0

    def expire(self, horizon: float) -> None:
        spent = self.spent
        while spent and spent[0][0] <= horizon:
            self.total -= spent.popleft()[1]


class RateLimiter:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.windows: dict[tuple[str, str], Window] = {}
        self.rejected = 0  # 429s sent because of a limit

    def reset(self) -> None:
        self.windows.clear()

    def scaled(self, seconds: float) -> float:
        return seconds / max(self.config.rate_limit_scale, 1e-9)

    def _block_seconds(self, name: str, spec: RateLimit) -> float:
        if name == "client":
            return self.config.client_block_seconds
        if spec.block_seconds is not None:
            return spec.block_seconds
        # Undocumented for per-seller limits: blocked for the window, at most a minute.
        return min(spec.window_seconds, 60.0)

    def _refuse(self, retry_after: float) -> AllegroError:
        self.rejected += 1
        if not self.config.rate_limit_retry_after:
            return too_many_requests()
        return too_many_requests(max(1, math.ceil(retry_after)))

    def _admit(self, names: list[str], key: str, amount: int, now: float) -> None:
        """Charge `amount` to every named limit of `key`, or refuse it for all of them."""
        windows = []
        for name in names:
            spec = self.config.rate_limits[name]
            window = self.windows.get((name, key))
            if window is None:
                window = self.windows[(name, key)] = Window()
            if now < window.blocked_until:
                raise self._refuse(window.blocked_until - now)
            window.expire(now - self.scaled(spec.window_seconds))
            if window.total + amount > spec.limit:
                window.blocked_until = now + self.scaled(self._block_seconds(name, spec))
                raise self._refuse(window.blocked_until - now)
            windows.append(window)
        for window in windows:
            window.spent.append((now, amount))
            window.total += amount

    def check_client(self, client_id: str, now: float) -> None:
        """Count one request against the Client ID; raise 429 while it is blocked."""
        if self.config.rate_limits_enabled and "client" in self.config.rate_limits:
            self._admit(["client"], client_id, 1, now)

    def check(self, name: str, key: str, now: float, amount: int = 1) -> None:
        """Count `amount` against a per-seller limit (all limits of a family must allow it)."""
        if not self.config.rate_limits_enabled:
            return
        limits = self.config.rate_limits
        names = (
            [name]
            if name in limits
            else [n for n in (f"{name}:minute", f"{name}:hour") if n in limits]
        )
        # A single command larger than a whole window could never pass: it is not limited here.
        names = [n for n in names if amount <= limits[n].limit]
        if names:
            self._admit(names, key, amount, now)
