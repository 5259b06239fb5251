"""Settings every service shares: pydantic-settings, one env prefix per service.

Cross-service variables (`DATABASE_ADMIN_URL`, `AMQP_URL`, `ENVIRONMENT`) are read unprefixed,
so one line in a compose file or a ConfigMap configures all services; a prefixed variable
(`OFFERS_AMQP_URL`) overrides it for one service.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from shared.allegro.client import AllegroSettings

DEFAULT_DATABASE_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"

# Values a secret may never keep outside development: they are in the repository for all to see.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "changethis", "secret", "dev", "demo-secret"}
)


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def database_url_for(database: str, admin_url: str | None = None) -> str:
    """The asyncpg URL of `database` on the server that `admin_url` points to."""
    url = make_url(admin_url or _env("DATABASE_ADMIN_URL", DEFAULT_DATABASE_ADMIN_URL))
    return url.set(drivername="postgresql+asyncpg", database=database).render_as_string(
        hide_password=False
    )


class ServiceSettings(BaseSettings):
    """Base class; a service subclasses it, sets `service_name` and an env prefix."""

    service_name: ClassVar[str] = "service"
    default_http_port: ClassVar[int] = 8000

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    environment: Literal["development", "test", "production"] = Field(
        default_factory=lambda: _env("ENVIRONMENT", "development")  # type: ignore[arg-type]
    )
    database_url: str = ""
    amqp_url: str = Field(default_factory=lambda: _env("AMQP_URL", DEFAULT_AMQP_URL))
    http_host: str = "127.0.0.1"
    http_port: int = 0
    log_level: str = "INFO"
    log_json: bool | None = None
    run_migrations: bool = True
    # The shared key that services use to sign and verify service/operator tokens.
    service_token_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(_env("MCI_SERVICE_TOKEN_SECRET", "changeme"))
    )
    # Where this service reaches Allegro (the emulator by default) and the auth service.
    allegro_api_url: str = Field(
        default_factory=lambda: _env("ALLEGRO_API_URL", "http://127.0.0.1:8400")
    )
    allegro_auth_url: str = Field(
        default_factory=lambda: _env("ALLEGRO_AUTH_URL", "http://127.0.0.1:8400")
    )
    allegro_client_id: str = Field(default_factory=lambda: _env("ALLEGRO_CLIENT_ID", "demo-client"))
    # This service's share of the Client ID's 9,000 requests/min (shares of all services <= 1).
    allegro_client_share: float = 0.2
    auth_url: str = Field(default_factory=lambda: _env("MCI_AUTH_URL", "http://127.0.0.1:8001"))
    outbox_batch_size: int = 500
    outbox_poll_interval_seconds: float = 1.0
    consumer_prefetch: int = 256
    consumer_batch_size: int = 100
    consumer_batch_wait_seconds: float = 0.02
    delivery_limit: int = 10

    @model_validator(mode="after")
    def _derive_defaults(self) -> ServiceSettings:
        if not self.database_url:
            self.database_url = database_url_for(f"mci_{self.service_name}")
        if not self.http_port:
            self.http_port = self.default_http_port
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> ServiceSettings:
        if self.environment == "development":
            return self
        left = [
            name
            for name, value in self._secret_fields().items()
            if value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS
        ]
        if left:
            raise ValueError(
                f"secrets left at a placeholder in {self.environment}: {', '.join(sorted(left))}"
            )
        return self

    def _secret_fields(self) -> dict[str, SecretStr]:
        return {
            name: value
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), SecretStr)
        }

    def allegro_settings(self) -> AllegroSettings:
        return AllegroSettings(
            api_url=self.allegro_api_url,
            auth_url=self.allegro_auth_url,
            client_id=self.allegro_client_id,
            client_requests_per_minute=9000 * 0.9 * self.allegro_client_share,
        )

    @property
    def database_name(self) -> str:
        return make_url(self.database_url).database or ""

    def public_dict(self) -> dict[str, Any]:
        """Settings safe to log: secrets masked, passwords hidden in URLs."""
        out = self.model_dump()
        for name in self._secret_fields():
            out[name] = "**********"
        for name in ("database_url", "amqp_url"):
            out[name] = (
                make_url(out[name]).render_as_string()
                if "postgres" in out[name]
                else (_hide_amqp_password(out[name]))
            )
        return out


def _hide_amqp_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
