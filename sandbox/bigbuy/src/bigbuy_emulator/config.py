"""Emulator settings: where it listens, the seeded catalogue, the limits, the quirks, the orders.

Read from the environment (`BIGBUY_EMULATOR_<FIELD>` in upper case) by pydantic-settings; every
field can also be changed at run time through `PUT /__admin/config`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "BIGBUY_EMULATOR_"


class EmulatorConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, validate_assignment=True)

    host: str = "127.0.0.1"
    port: int = 8410
    # BigBuy serves everything under /rest; the platform switches base URLs only.
    rest_prefix: str = "/rest"
    admin_prefix: str = "/__admin"
    # The bearer key a client must send. Development value only: BigBuy issues real ones.
    api_key: SecretStr = SecretStr("bigbuy-emulator-key")

    # Seeded catalogue: computed from the row number, so its size costs no memory.
    catalogue_seed: int = 7
    catalogue_size: int = Field(default=3_000, ge=0, le=9_000_000)
    # Share of products with some stock (production showed ~1 %; a demo wants more to sell).
    in_stock_share: float = Field(default=0.4, ge=0, le=1)
    # Languages `productsinformation` serves (BigBuy has 24; these are the ones we sell in).
    languages: list[str] = Field(default_factory=lambda: ["es", "en", "pl", "cs", "sk", "hu"])

    # Rate limits as BigBuy documents them; the scale factor shrinks every window.
    rate_limits_enabled: bool = True
    rate_limit_scale: float = Field(default=1.0, gt=0)

    # Quirks (shares 0..1 of the requests they may affect; 1 = always, 0 = never).
    # A request that would succeed gets 200 with an error body instead (nothing done).
    quirk_soft_error_share: float = Field(default=0.0, ge=0, le=1)
    # A 404 is sent as an empty 200.
    quirk_empty_not_found_share: float = Field(default=0.0, ge=0, le=1)
    # An error body comes with `code` and `message` swapped.
    quirk_swapped_fields_share: float = Field(default=0.0, ge=0, le=1)
    random_seed: int = 1

    # Behave like BigBuy's own sandbox as measured: product lists answer 400 (no catalogue),
    # no carriers, an unknown order reference is a 500 instead of a 404.
    sandbox_mode: bool = False

    # Orders.
    wallet_balance: str = "5000.00"  # EUR, the moneybox orders are paid from
    minimum_purchase: str = "0.00"  # ER007 below this (products, ex-VAT); 0 = none
    minimum_bankwire: str = "100.00"  # ER012 below this total
    vat_rate: int = 21
    # Seconds after creation at which a paid order reaches each next status.
    processing_after_seconds: float = 600.0
    shipped_after_seconds: float = 86_400.0
    delivered_after_seconds: float = 3 * 86_400.0

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update (admin call); unknown keys raise KeyError, bad values
        ValueError (validated on assignment)."""
        for key in changes:
            if key not in type(self).model_fields:
                raise KeyError(key)
        for key, value in changes.items():
            setattr(self, key, value)

    def public(self) -> dict[str, Any]:
        """The settings as JSON, the key masked (secrets are never shown or logged)."""
        data = self.model_dump(mode="json")
        data["api_key"] = "**********"
        return data
