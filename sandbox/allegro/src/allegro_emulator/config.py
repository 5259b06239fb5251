"""Emulator settings: where it listens, how fast its asynchronous work settles, its limits.

Everything can be set from the environment (`ALLEGRO_EMULATOR_<FIELD>` in upper case) and most
of it can be changed at run time through `PUT /__admin/config`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

ENV_PREFIX = "ALLEGRO_EMULATOR_"


@dataclass
class RateLimit:
    """`limit` requests (or offer changes) in any `window_seconds`, before the scale factor;
    an excess blocks the key for `block_seconds` (None: the window, at most 60 s)."""

    limit: int
    window_seconds: float
    block_seconds: float | None = None


def default_rate_limits() -> dict[str, RateLimit]:
    # Figures from allegro-api.md section 12.
    return {
        "client": RateLimit(9_000, 60),
        "product-offers:GET": RateLimit(3_500, 60),
        "product-offers:PATCH": RateLimit(2_500, 60),
        "product-offers:POST": RateLimit(2_400, 60),
        "offer-changes:price:minute": RateLimit(9_000, 60),
        "offer-changes:price:hour": RateLimit(150_000, 3_600),
        "offer-changes:quantity:minute": RateLimit(9_000, 60),
        "offer-changes:quantity:hour": RateLimit(250_000, 3_600),
        "offer-changes:modification:minute": RateLimit(9_000, 60),
        "offer-changes:modification:hour": RateLimit(250_000, 3_600),
        "offer-changes:publication:minute": RateLimit(9_000, 60),
        "offer-changes:publication:hour": RateLimit(250_000, 3_600),
        "matching-categories": RateLimit(5, 1),
        "offer-fee-preview": RateLimit(25, 1),
        "shipments": RateLimit(50, 1),
    }


@dataclass
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8400
    # 0 = OAuth on `port` too; otherwise the same app is also served on this port, so OAuth can
    # live on its own host:port as allegro.pl/auth/oauth does beside api.allegro.pl.
    oauth_port: int = 0
    # REST resources and the OAuth server may share one port under different prefixes, so the
    # platform switches between emulator, Allegro sandbox and production by base URLs only.
    rest_prefix: str = ""
    oauth_prefix: str = "/auth/oauth"
    admin_prefix: str = "/__admin"
    snapshot_path: str = ""

    # Seed data.
    catalogue_seed: int = 42
    catalogue_size: int = 1_000_000
    missing_share: float = 0.1
    ambiguous_share: float = 0.02

    # Asynchronous behaviour (seconds until work settles; shares are probabilities 0..1).
    async_offer_share: float = 0.3
    operation_seconds: float = 1.0
    command_seconds: float = 0.5
    qualification_seconds: float = 0.5
    late_validation_share: float = 0.0
    late_validation_seconds: float = 2.0
    duplicate_event_share: float = 0.05
    random_seed: int = 1

    # Rate limits: a scale factor > 1 compresses time (windows and blocks shrink by it) so a
    # benchmark can replay the same scenario faster while the proportions stay Allegro's.
    rate_limits_enabled: bool = True
    rate_limit_scale: float = 1.0
    client_block_seconds: float = 60.0
    # Whether Allegro's 429 carries Retry-After is unconfirmed (allegro-api.md 12): off by
    # default, so clients are tested without it, and with it when turned on.
    rate_limit_retry_after: bool = False
    rate_limits: dict[str, RateLimit] = field(default_factory=default_rate_limits)

    # Orders.
    order_event_retention_days: int = 60
    offer_event_retention_hours: int = 24
    command_retention_days: int = 7  # then COMMAND_NOT_FOUND, as on Allegro
    # Memory guard for long benchmarks: beyond this many offer events per seller the oldest go.
    max_offer_events: int = 500_000
    waybill_max_orders: int = 10
    shipping_rates_limit: int = 250
    # Images per offer (Allegro's gallery: 16 on buy-now offers, GallerySizeException beyond).
    gallery_size_limit: int = 16
    # An uploaded image no offer uses is removed this long after its upload (`expiresAt`).
    image_expiry_hours: float = 24.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> EmulatorConfig:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or f.name == "rate_limits":
                continue
            values[f.name] = _parse(raw, f.default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        config = cls(**values)
        # Individual limits: ALLEGRO_EMULATOR_RATE_LIMITS='{"client": {"limit": 9000,
        # "window_seconds": 60}}' (merged over the defaults).
        raw_limits = env.get(ENV_PREFIX + "RATE_LIMITS")
        if raw_limits:
            config.update({"rate_limits": json.loads(raw_limits)})
        return config

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update (admin call); unknown keys raise KeyError."""
        names = {f.name for f in dataclasses.fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise KeyError(key)
            if key == "rate_limits":
                for name, spec in value.items():
                    block = spec.get("block_seconds")
                    self.rate_limits[name] = RateLimit(
                        int(spec["limit"]),
                        float(spec["window_seconds"]),
                        None if block is None else float(block),
                    )
            else:
                setattr(self, key, value)


def _parse(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw
