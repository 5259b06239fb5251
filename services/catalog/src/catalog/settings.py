from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The catalog service's settings; environment variables prefixed `CATALOG_`."""

    service_name: ClassVar[str] = "catalog"
    default_http_port: ClassVar[int] = 8002

    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore", env_ignore_empty=True)

    # An import file is streamed, so it may be large; every other body is small (shared limit).
    import_max_bytes: int = 2 * 1024**3
    # A selection may name up to 200,000 SKUs: more than the shared 1 MB JSON limit.
    selection_max_bytes: int = 32 * 1024**2
    # A SupplierProductsChanged carries hundreds of products: a few messages per transaction
    # keep CatalogUpdated flowing to pricing and offers while the next are applied. At the
    # shared 100, a 45,000-product burst went into two transactions, the second of 41,500
    # products and over two minutes, in which nothing reached pricing or offers.
    consumer_batch_size: int = 8
    # A fixed list of account ids instead of asking auth which accounts exist: for benchmarks
    # and scripts that run this service without auth. Unset (the default): auth is asked.
    known_accounts: list[str] | None = None
