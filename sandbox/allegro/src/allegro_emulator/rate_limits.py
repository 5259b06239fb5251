"""Rate limits as Allegro applies them (allegro-api.md section 12).

* per Client ID: 9,000 requests/min; on excess the whole Client ID is blocked for ~60 s;
* per seller and endpoint class (product-offers GET/PATCH/POST, a few per-second resources);
* batch commands counted in offer changes, per minute and per hour.

Each limit is a token bucket holding `limit` tokens refilled over `window_seconds`. The single
scale factor divides every window and the block time, so a benchmark can run the same scenario
`scale` times faster with the same proportions.
"""

from __future__ import annotations

from dataclasses import dataclass

from allegro_emulator.config import EmulatorConfig
from allegro_emulator.errors import too_many_requests


@dataclass
class Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.buckets: dict[tuple[str, str], Bucket] = {}
        self.blocked_until: dict[str, float] = {}
        self.rejected = 0  # 429s sent because of a limit

    def reset(self) -> None:
        self.buckets.clear()
        self.blocked_until.clear()

    def _bucket(self, name: str, key: str, now: float) -> Bucket:
        """The bucket, refilled for the time since it was last used."""
        spec = self.config.rate_limits[name]
        window = spec.window_seconds / max(self.config.rate_limit_scale, 1e-9)
        bucket = self.buckets.get((name, key))
        if bucket is None:
            bucket = self.buckets[(name, key)] = Bucket(float(spec.limit), now)
        elif now > bucket.updated:
            refill = (now - bucket.updated) * spec.limit / window
            bucket.tokens = min(float(spec.limit), bucket.tokens + refill)
            bucket.updated = now
        return bucket

    def _take(self, name: str, key: str, amount: float, now: float) -> bool:
        if name not in self.config.rate_limits:
            return True
        bucket = self._bucket(name, key, now)
        if bucket.tokens < amount:
            return False
        bucket.tokens -= amount
        return True

    def check_client(self, client_id: str, now: float) -> None:
        """Count one request against the Client ID; raise 429 while it is blocked."""
        if not self.config.rate_limits_enabled:
            return
        until = self.blocked_until.get(client_id)
        if until is not None:
            if now < until:
                self.rejected += 1
                raise too_many_requests()
            del self.blocked_until[client_id]
        if not self._take("client", client_id, 1, now):
            # Crossing the global limit blocks the whole application for about a minute.
            self.blocked_until[client_id] = now + self.config.client_block_seconds / max(
                self.config.rate_limit_scale, 1e-9
            )
            self.rejected += 1
            raise too_many_requests()

    def check(self, name: str, key: str, now: float, amount: int = 1) -> None:
        """Count `amount` against a per-seller limit (all buckets of a family must allow it)."""
        if not self.config.rate_limits_enabled:
            return
        names = (
            [name]
            if name in self.config.rate_limits
            else [n for n in (f"{name}:minute", f"{name}:hour") if n in self.config.rate_limits]
        )
        # A single command larger than a whole window could never pass: it is not limited here.
        names = [n for n in names if amount <= self.config.rate_limits[n].limit]
        buckets = [self._bucket(n, key, now) for n in names]
        # Every bucket of the family must allow it before any is charged.
        if any(bucket.tokens < amount for bucket in buckets):
            self.rejected += 1
            raise too_many_requests()
        for bucket in buckets:
            bucket.tokens -= amount
