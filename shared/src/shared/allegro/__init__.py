"""The one Allegro HTTP client every service uses (ARCHITECTURE.md section 5)."""

from shared.allegro.client import AllegroClient, AllegroSettings, TokenProvider
from shared.allegro.errors import (
    AllegroError,
    AllegroErrorDetail,
    AllegroUnavailable,
    OAuthError,
    RateLimited,
)

__all__ = [
    "AllegroClient",
    "AllegroError",
    "AllegroErrorDetail",
    "AllegroSettings",
    "AllegroUnavailable",
    "OAuthError",
    "RateLimited",
    "TokenProvider",
]
