from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The offers service's settings; environment variables prefixed `OFFERS_`."""

    service_name: ClassVar[str] = "offers"
    default_http_port: ClassVar[int] = 8004

    model_config = SettingsConfigDict(env_prefix="OFFERS_", extra="ignore", env_ignore_empty=True)
