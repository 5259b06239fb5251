"""The console's settings (env prefix `CONSOLE_`): where each service's API is, and its own port.

The console keeps no state and holds no credential of its own: the operator's API key comes
with every request from the browser and is forwarded as it came.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

# The services the console speaks to, in the order its pages name them.
SERVICES = ("auth", "catalog", "pricing", "offers", "orders", "bigbuy")


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore")

    # Interface and port of the console's HTTP server.
    http_host: str = "127.0.0.1"
    http_port: int = 8009
    # Each service's base URL (the local ports `make run` uses by default).
    auth_url: str = "http://127.0.0.1:8001"
    catalog_url: str = "http://127.0.0.1:8002"
    pricing_url: str = "http://127.0.0.1:8003"
    offers_url: str = "http://127.0.0.1:8004"
    orders_url: str = "http://127.0.0.1:8005"
    # The BigBuy connector (supplier orders and the wallet).
    bigbuy_url: str = "http://127.0.0.1:8006"
    # Where Allegro sends the seller back after logging in: this console's `/oauth/callback`
    # (register it with the Allegro app and in auth's AUTH_OAUTH_ALLOWED_REDIRECT_URIS).
    # Empty: auth's own callback, which answers JSON.
    oauth_redirect_uri: str = ""
    # How long a proxied call may take (a large catalogue import streams for minutes).
    timeout_seconds: float = 300.0
    log_level: str = "INFO"

    def service_urls(self) -> dict[str, str]:
        return {name: str(getattr(self, f"{name}_url")).rstrip("/") for name in SERVICES}
