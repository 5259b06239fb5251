from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The orders service's settings; environment variables prefixed `ORDERS_`."""

    service_name: ClassVar[str] = "orders"
    default_http_port: ClassVar[int] = 8005

    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore", env_ignore_empty=True)
