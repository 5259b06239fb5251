from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The pricing service's settings; environment variables prefixed `PRICING_`."""

    service_name: ClassVar[str] = "pricing"
    default_http_port: ClassVar[int] = 8003

    model_config = SettingsConfigDict(env_prefix="PRICING_", extra="ignore", env_ignore_empty=True)

    # Its share of the Client ID (a commission look-up per category); the five services' sum 0.9.
    allegro_client_share: float = 0.05

    # A CatalogUpdated carries up to a few hundred items, each priced on four marketplaces: a
    # few messages per transaction keep commits (and so the relay's publishing) flowing while
    # the next messages are priced, instead of one long transaction per hundred messages.
    consumer_batch_size: int = 8
    # A fixed list of account ids instead of asking auth which accounts exist: for benchmarks
    # and scripts that run this service without auth. Unset (the default): auth is asked.
    known_accounts: list[str] | None = None
    # How long a category read from Allegro's tree (GET /sale/categories/{id}) is trusted before
    # it is read again: categories move rarely, and a move only changes a commission group.
    category_ttl_hours: float = 168.0
    # How often the worker looks for mapped categories whose parent chain is unknown or expired
    # (their products are priced with the highest commission until it is known).
    category_poll_seconds: float = 10.0
