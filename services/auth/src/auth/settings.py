from __future__ import annotations

import os
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The auth service's settings; environment variables prefixed `AUTH_`."""

    service_name: ClassVar[str] = "auth"
    default_http_port: ClassVar[int] = 8001

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore", env_ignore_empty=True)

    # Comma-separated Fernet keys; the first encrypts, all decrypt (see auth/crypto.py).
    token_encryption_keys: SecretStr = SecretStr("changeme")
    # An admin API key accepted from first start (`mcik_<id>_<secret>`), to create real keys.
    bootstrap_admin_key: SecretStr | None = None
    allegro_client_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(os.environ.get("ALLEGRO_CLIENT_SECRET") or "demo-secret")
    )
    oauth_redirect_uri: str = "http://127.0.0.1:8001/accounts/oauth/callback"
    refresh_ahead_seconds: int = 3600
    authorization_attempt_seconds: int = 900
    operator_token_ttl_seconds: int = 900
    poll_tick_seconds: float = 1.0
    allegro_client_share: float = 0.1
