"""Settings every service shares: pydantic-settings, one env prefix per service.

Cross-service variables (`DATABASE_ADMIN_URL`, `AMQP_URL`, `ENVIRONMENT`) are read unprefixed,
so one line in a compose file or a ConfigMap configures all services; a prefixed variable
(`OFFERS_AMQP_URL`) overrides it for one service.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from shared.allegro.client import CLIENT_ID_MARGIN, AllegroSettings, upload_url_for

DEFAULT_DATABASE_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"

# Values a secret may never keep outside development: they are in the repository for all to see.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "changethis", "secret", "dev", "demo-secret", "password"}
)
# Words that mark a value as written for development or documentation, not generated.
PLACEHOLDER_MARKERS = (
    "changeme",
    "change-me",
    "change_me",
    "changethis",
    "placeholder",
    "example",
    "development",
    "password",
    "insecure",
)
# A secret we generate ourselves (a signing key): at least 32 bytes that look random.
MIN_SECRET_BYTES = 32
# Shannon entropy per character: random hex is ~3.8 bits, base64 ~5; a word repeated to
# length, or a run of one character, stays well below.
MIN_SECRET_BITS_PER_CHAR = 3.0


def placeholder_reason(value: str) -> str | None:
    """Why `value` reads as a placeholder (None if it does not)."""
    lowered = value.strip().lower()
    if lowered in PLACEHOLDER_SECRETS:
        return "is a placeholder"
    marker = next((m for m in PLACEHOLDER_MARKERS if m in lowered), None)
    return f"contains the placeholder word {marker!r}" if marker else None


def weak_secret_reason(value: str) -> str | None:
    """Why `value` is not a strong generated secret (None if it is)."""
    reason = placeholder_reason(value)
    if reason:
        return reason
    if len(value.encode()) < MIN_SECRET_BYTES:
        return f"is shorter than {MIN_SECRET_BYTES} bytes"
    counts = Counter(value)
    bits = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    if bits < MIN_SECRET_BITS_PER_CHAR:
        return "is too repetitive to be random"
    return None


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
    # Connections to its database: this process opens up to twice this many, as it needs them,
    # and keeps them. One variable for every service: a machine running the whole platform
    # (make run, the tests) sizes them all at once against PostgreSQL's max_connections.
    database_pool_size: int = Field(
        default_factory=lambda: int(_env("MCI_DATABASE_POOL_SIZE", "10")), ge=1
    )
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
    # Where images are uploaded (`POST /sale/images`: Allegro serves it on its own host).
    # Empty: derived from allegro_api_url (api.allegro.pl... -> upload.allegro.pl..., the
    # emulator's own URL otherwise, which serves both).
    allegro_upload_url: str = Field(default_factory=lambda: _env("ALLEGRO_UPLOAD_URL", ""))
    allegro_client_id: str = Field(default_factory=lambda: _env("ALLEGRO_CLIENT_ID", "demo-client"))
    # This service's share of the Client ID's 9,000 requests/min: 0.15 unless the service says
    # otherwise (catalog: mapping checks, coverage reports); offers has the most. The sum of the
    # five services' shares is 0.9: keep it at or below 1.
    allegro_client_share: float = 0.15
    # Allegro's limits times this and its blocks divided by it: only to run against the
    # emulator with its `rate_limit_scale` (benchmarks, tests); 1 against Allegro.
    allegro_rate_limit_scale: float = Field(default=1.0, gt=0)
    auth_url: str = Field(default_factory=lambda: _env("MCI_AUTH_URL", "http://127.0.0.1:8001"))
    outbox_batch_size: int = 500
    outbox_poll_interval_seconds: float = 1.0
    consumer_prefetch: int = 256
    consumer_batch_size: int = 100
    consumer_batch_wait_seconds: float = 0.02
    # JSON request bodies above this are refused (413) before anything reads them.
    max_body_bytes: int = 1_048_576

    @model_validator(mode="after")
    def _derive_defaults(self) -> ServiceSettings:
        if not self.database_url:
            self.database_url = database_url_for(f"mci_{self.service_name}")
        if not self.http_port:
            self.http_port = self.default_http_port
        return self

    # Secrets the platform generates itself: outside development they must be strong (at least
    # MIN_SECRET_BYTES, not repetitive). Other secrets (issued by others, e.g. Allegro's client
    # secret) must only not be placeholders. Subclasses add their own names.
    generated_secrets: ClassVar[frozenset[str]] = frozenset({"service_token_secret"})

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> ServiceSettings:
        if self.environment == "development":
            return self
        problems = [
            f"{name} {reason}"
            for name, value in sorted(self._secret_fields().items())
            if (reason := self.secret_problem(name, value.get_secret_value()))
        ]
        if problems:
            raise ValueError(f"refusing to start in {self.environment}: {'; '.join(problems)}")
        return self

    def secret_problem(self, name: str, value: str) -> str | None:
        """Why the secret `name` cannot be used outside development (None if it can)."""
        if name in self.generated_secrets:
            return weak_secret_reason(value)
        return placeholder_reason(value)

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
            upload_url=self.allegro_upload_url or upload_url_for(self.allegro_api_url),
            client_id=self.allegro_client_id,
            client_requests_per_minute=9000 * CLIENT_ID_MARGIN * self.allegro_client_share,
        ).scaled(self.allegro_rate_limit_scale)

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
