"""An offer's gallery: the supplier's images (cover first) as Allegro-hosted locations. Pure.

Allegro shows only images it hosts: each supplier URL is uploaded once per account
(`POST /sale/images`) and its location reused by every offer showing it. An upload no offer
uses is removed by Allegro a day later (`expiresAt`); one an offer uses stays. The description's
images are uploaded the same way (Allegro takes only images it hosts there too). A URL whose
upload Allegro refused (the image itself: not found, bad format, too small) is remembered per
account and not uploaded again for a while.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def description_sources(content: Mapping[str, Any] | None) -> list[str]:
    """The supplier's image URLs of the description's IMAGE items, each once: Allegro takes
    only images it hosts there too, so they are uploaded as the gallery's are."""
    found: list[str] = []
    for section in (content or {}).get("description_sections") or []:
        for item in (section or {}).get("items") or []:
            url = (item or {}).get("url")
            if (item or {}).get("type") == "IMAGE" and isinstance(url, str) and url not in found:
                found.append(url)
    return found


def described(
    sections: Sequence[Mapping[str, Any]], hosted: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The description's sections with each IMAGE item's supplier URL replaced by its Allegro
    location; an image with none (its upload refused) is left out, and so is a section left
    empty by it. Each item carries only its type's field (the catalogue's items carry both,
    one null)."""
    found: list[dict[str, Any]] = []
    for section in sections:
        items: list[dict[str, Any]] = []
        for item in section.get("items") or []:
            if item.get("type") == "TEXT":
                items.append({"type": "TEXT", "content": item.get("content") or ""})
            elif item.get("type") == "IMAGE" and item.get("url") in hosted:
                items.append({"type": "IMAGE", "url": hosted[item["url"]]})
        if items:
            found.append({"items": items})
    return found


def still_refused(refused_at: datetime, now: datetime, retry_after: timedelta) -> bool:
    """A URL whose upload Allegro refused is not uploaded again for `retry_after` (the supplier
    may fix the image meanwhile)."""
    return refused_at + retry_after > now


def reusable(expires_at: datetime | None, now: datetime) -> bool:
    """A cached location still good for an offer: used by one already, or not about to go."""
    return expires_at is None or expires_at > now + REUSE_MARGIN


@dataclass(frozen=True)
class Gallery:
    """The offer's images: the supplier URLs wanted, the Allegro locations to send (in the
    same order, without the refused ones), the refused URLs with Allegro's answer, and the
    description's image URLs with the locations of all (`hosted`: supplier URL -> location)."""

    sources: list[str]
    locations: list[str]
    refused: dict[str, str] = field(default_factory=dict)
    in_description: list[str] = field(default_factory=list)
    hosted: dict[str, str] = field(default_factory=dict)

    def description(self, sections: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The description to send: its images Allegro-hosted, the refused ones left out."""
        return described(sections, self.hosted)

    def note(self) -> dict[str, Any] | None:
        """The offer's history entry for images Allegro refused (None: all sent)."""
        if not self.refused:
            return None
        detail = "; ".join(f"{url}: {why}" for url, why in self.refused.items())
        sent = f"{len(self.locations)} of {len(self.sources)} images sent"
        if any(url in self.refused for url in self.in_description):
            kept = sum(1 for url in self.in_description if url in self.hosted)
            sent += f", {kept} of {len(self.in_description)} description images"
        return states.reason("image_not_uploaded", detail=f"{sent}; {detail}")
