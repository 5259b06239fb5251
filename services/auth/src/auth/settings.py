from __future__ import annotations

import base64
import binascii
import os
from typing import Annotated, Any, ClassVar

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from auth.crypto import DEVELOPMENT_KEY
from auth.domain.model import parse_api_key
from shared.settings import ServiceSettings, placeholder_reason, weak_secret_reason

# The key id of the bootstrap admin key `make run` generates: refused outside development.
DEVELOPMENT_BOOTSTRAP_KEY_ID = "devstack"
# Every service that may call auth's internal routes today (auth itself reads its own tables).
PLATFORM_SERVICES = ("catalog", "pricing", "offers", "orders")
# Connectors check operators' keys for their own endpoints; they need no Allegro token.
CONNECTORS = ("bigbuy",)

CommaList = Annotated[list[str], NoDecode]


def fernet_key_problem(key: str) -> str | None:
    """Why `key` is not a usable Fernet key (None if it is)."""
    try:
        raw = base64.urlsafe_b64decode(key.encode())
    except (binascii.Error, ValueError):
        return "is not url-safe base64"
    if len(raw) != 32:
        return "does not decode to 32 bytes"
    if key.encode() == DEVELOPMENT_KEY:
        return "is the development key"
    if len(set(raw)) < 16:  # 32 random bytes repeat some values, never this many
        return "is too repetitive to be random"
    return None


class Settings(ServiceSettings):
    """The auth service's settings; environment variables prefixed `AUTH_`."""

    service_name: ClassVar[str] = "auth"
    default_http_port: ClassVar[int] = 8001
    generated_secrets: ClassVar[frozenset[str]] = ServiceSettings.generated_secrets | {
        "bootstrap_admin_key"
    }

    model_config = SettingsConfigDict(
        env_prefix="AUTH_", extra="ignore", env_ignore_empty=True, validate_by_name=True
    )

    # Comma-separated Fernet keys; the first encrypts, all decrypt (see auth/crypto.py).
    # AUTH_TOKEN_ENCRYPTION_KEY (one key) is read too, for configurations written before the
    # deploy files took the setting's own name.
    token_encryption_keys: SecretStr = Field(
        default=SecretStr("changeme"),
        validation_alias=AliasChoices("AUTH_TOKEN_ENCRYPTION_KEYS", "AUTH_TOKEN_ENCRYPTION_KEY"),
    )
    # An admin API key accepted while it is set (`mcik_<id>_<secret>`), to create real keys.
    # Removing it revokes it at the next start.
    bootstrap_admin_key: SecretStr | None = None
    allegro_client_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(os.environ.get("ALLEGRO_CLIENT_SECRET") or "demo-secret")
    )
    oauth_redirect_uri: str = "http://127.0.0.1:8001/accounts/oauth/callback"
    # The redirect URIs an operator may ask for (comma-separated); empty: only the one above.
    oauth_allowed_redirect_uris: CommaList = Field(default_factory=list)
    # Which services' tokens each internal route accepts (comma-separated service names).
    access_token_callers: CommaList = Field(default_factory=lambda: list(PLATFORM_SERVICES))
    introspection_callers: CommaList = Field(
        default_factory=lambda: [*PLATFORM_SERVICES, *CONNECTORS]
    )
    account_directory_callers: CommaList = Field(default_factory=lambda: list(PLATFORM_SERVICES))
    refresh_ahead_seconds: int = 3600
    authorization_attempt_seconds: int = 900
    operator_token_ttl_seconds: int = 900
    poll_tick_seconds: float = 1.0
    # Its share of the Client ID (token refreshes, device-flow polls); the five services' sum 0.9.
    allegro_client_share: float = 0.1

    @field_validator(
        "oauth_allowed_redirect_uris",
        "access_token_callers",
        "introspection_callers",
        "account_directory_callers",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @model_validator(mode="after")
    def _bootstrap_key_shape(self) -> Settings:
        key = self.bootstrap_admin_key
        if key is None:
            return self
        if self.environment == "development" and placeholder_reason(key.get_secret_value()):
            # A compose file's `changeme` default means "no bootstrap key" in development.
            self.bootstrap_admin_key = None
            return self
        if parse_api_key(key.get_secret_value()) is None:
            raise ValueError("AUTH_BOOTSTRAP_ADMIN_KEY must look like mcik_<id>_<secret>")
        return self

    @property
    def redirect_uris(self) -> list[str]:
        """The redirect URIs an operator may pass; the first is the default."""
        extra = [u for u in self.oauth_allowed_redirect_uris if u != self.oauth_redirect_uri]
        return [self.oauth_redirect_uri, *extra]

    def secret_problem(self, name: str, value: str) -> str | None:
        if name == "token_encryption_keys":
            if reason := placeholder_reason(value):
                return reason
            keys = [k.strip() for k in value.split(",") if k.strip()]
            if not keys:
                return "is empty"
            for position, key in enumerate(keys, 1):
                problem = fernet_key_problem(key)
                if problem:
                    return f"key {position} {problem} (a Fernet key: auth.crypto.new_key())"
            return None
        if name == "bootstrap_admin_key":
            if reason := placeholder_reason(value):
                return reason
            parsed = parse_api_key(value)
            if parsed is None:
                return "must look like mcik_<id>_<secret>"
            key_id, secret = parsed
            if key_id == DEVELOPMENT_BOOTSTRAP_KEY_ID:
                return "is the development key of `make run`"
            problem = weak_secret_reason(secret)
            return f"secret part {problem}" if problem else None
        return super().secret_problem(name, value)
