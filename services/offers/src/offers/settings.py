from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The offers service's settings; environment variables prefixed `OFFERS_`."""

    service_name: ClassVar[str] = "offers"
    default_http_port: ClassVar[int] = 8004

    model_config = SettingsConfigDict(env_prefix="OFFERS_", extra="ignore", env_ignore_empty=True)

    # Allegro's limit of shipping price lists per account (they cannot be deleted): a shipping
    # configuration whose lists would take the account past it is refused.
    shipping_rates_limit: int = 250
    # How long one apply of an account's shipping lists holds the account; a crashed apply's
    # hold runs out after it.
    shipping_apply_lease_seconds: float = 300.0
