from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

# The emulator's default key: refused outside development like any placeholder.
EMULATOR_KEY = "bigbuy-emulator-key"


class Settings(ServiceSettings):
    """The BigBuy connector's settings; environment variables prefixed `BIGBUY_`."""

    service_name: ClassVar[str] = "bigbuy"
    default_http_port: ClassVar[int] = 8006

    model_config = SettingsConfigDict(env_prefix="BIGBUY_", extra="ignore", env_ignore_empty=True)

    # BigBuy's REST root (production https://api.bigbuy.eu/rest); the emulator by default.
    api_url: str = "http://127.0.0.1:8410/rest"
    # The key from BigBuy's control panel (sent as a bearer token; never logged).
    api_key: SecretStr = SecretStr(EMULATOR_KEY)
    # Seconds one BigBuy call may take (a 10,000-product page takes ~20 s in production).
    request_timeout_seconds: float = 120.0
    # Added to `X-RateLimit-Reset` before the next call: the header is whole seconds and our
    # clock may run behind BigBuy's.
    rate_limit_margin_seconds: float = 2.0
    # A call waits for its budget at most this long; longer, the caller is told when to return.
    rate_limit_max_wait_seconds: float = 5.0

    # The background loops (a test drives them step by step on the emulator's clock instead).
    catalogue_enabled: bool = True
    orders_enabled: bool = True
    # GPSR data, read one product at a time (no list exists) for products in stock.
    gpsr_enabled: bool = True

    # Catalogue: rows per list page (BigBuy allows up to 10,000), language of texts.
    page_size: int = 10_000
    language: str = "pl"
    # Warehouse rows whose maxHandlingDays exceeds this do not count as available stock.
    max_handling_days: int = 3
    # A full refresh of every list this often; stock and prices in between (0: as soon as the
    # previous refresh is done, i.e. as often as the limits allow).
    full_refresh_interval_seconds: float = 8 * 3600.0
    stock_refresh_interval_seconds: float = 0.0
    # Products per SupplierProductsChanged event.
    products_per_event: int = 500
    # A replica holds the scheduler this long; a crashed replica's claim expires.
    scheduler_lease_seconds: float = 300.0
    # After a failed page (soft error, 5xx, network): wait this long before the next try.
    retry_after_error_seconds: float = 30.0

    # Orders: how they are paid and which carriers BigBuy may choose from.
    payment_method: str = "moneybox"
    carriers: list[str] = Field(
        default_factory=lambda: ["gls", "dhl", "dpd", "ups", "correos express"]
    )
    order_language: str = "pl"
    # EUR -> sale currency, to compare BigBuy's cost (EUR) with what a sale brings.
    eur_rates: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "EUR": Decimal("1"),
            "PLN": Decimal("4.30"),
            "CZK": Decimal("25.0"),
            "HUF": Decimal("395"),
        }
    )
    order_poll_interval_seconds: float = 5.0
    order_lease_seconds: float = 120.0
    order_retry_seconds: float = 60.0
    # Orders waiting for the wallet: how often the balance is read.
    wallet_poll_interval_seconds: float = 300.0
    # Tracking and statuses of sent orders: how often, and orders per tracking call.
    tracking_poll_interval_seconds: float = 1800.0
    tracking_batch_size: int = 50
    # BigBuy tracking carrier name (lower case) -> Allegro carrier id; others are OTHER.
    carrier_map: dict[str, str] = Field(
        default_factory=lambda: {
            "gls": "GLS",
            "dhl": "DHL",
            "dpd": "DPD",
            "ups": "UPS",
            "inpost": "INPOST",
            "fedex": "FEDEX",
            "tnt": "TNT",
            "correos express": "CORREOS_EXPRESS",
        }
    )

    generated_secrets: ClassVar[frozenset[str]] = frozenset({"service_token_secret"})

    def secret_problem(self, name: str, value: str) -> str | None:
        if name == "api_key" and value == EMULATOR_KEY:
            return "is the BigBuy emulator's development key"
        return super().secret_problem(name, value)
