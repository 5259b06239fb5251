"""An offer's gallery: the supplier's images (cover first) as Allegro-hosted locations. Pure.

Allegro shows only images it hosts: each supplier URL is uploaded once per account
(`POST /sale/images`) and its location reused by every offer showing it. An upload no offer
uses is removed by Allegro a day later (`expiresAt`); one an offer uses stays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from offers.domain import states

# Allegro's gallery on a buy-now offer (`GallerySizeException` beyond it).
GALLERY_SIZE = 16
# A cached upload is used only if Allegro keeps it at least this much longer: the create that
# uses it may wait for its rate budget.
REUSE_MARGIN = timedelta(hours=1)


def wanted_sources(content: Mapping[str, Any] | None) -> list[str]:
    """The supplier's image URLs to show, in the catalogue's order (cover first), each once,
    at most the gallery's size."""
    found: list[str] = []
    for url in (content or {}).get("images") or []:
        if isinstance(url, str) and url.startswith(("http://", "https://")) and url not in found:
            found.append(url)
    return found[:GALLERY_SIZE]


def reusable(expires_at: datetime | None, now: datetime) -> bool:
    """A cached location still good for an offer: used by one already, or not about to go."""
    return expires_at is None or expires_at > now + REUSE_MARGIN


@dataclass(frozen=True)
class Gallery:
    """The offer's images: the supplier URLs wanted, the Allegro locations to send (in the
    same order, without the refused ones) and the refused URLs with Allegro's answer."""

    sources: list[str]
    locations: list[str]
    refused: dict[str, str] = field(default_factory=dict)

    def note(self) -> dict[str, Any] | None:
        """The offer's history entry for images Allegro refused (None: all sent)."""
        if not self.refused:
            return None
        detail = "; ".join(f"{url}: {why}" for url, why in self.refused.items())
        sent = f"{len(self.locations)} of {len(self.sources)} images sent"
        return states.reason("image_not_uploaded", detail=f"{sent}; {detail}")
