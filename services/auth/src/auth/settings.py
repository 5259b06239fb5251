from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The auth service's settings; environment variables prefixed `AUTH_`."""

    service_name: ClassVar[str] = "auth"
    default_http_port: ClassVar[int] = 8001

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore", env_ignore_empty=True)
