"""Allegro's errors as exceptions that keep Allegro's own words (code, path, userMessage)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AllegroErrorDetail:
    code: str
    message: str = ""
    path: str | None = None
    user_message: str | None = None
    details: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> AllegroErrorDetail:
        return cls(
            code=str(item.get("code") or "UNKNOWN"),
            message=str(item.get("message") or ""),
            path=item.get("path"),
            user_message=item.get("userMessage"),
            details=item.get("details"),
            metadata=dict(item.get("metadata") or {}),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "path": self.path,
            "userMessage": self.user_message,
            "details": self.details,
            "metadata": self.metadata,
        }


class AllegroError(Exception):
    """A non-2xx answer from Allegro's REST API, with its `errors[]`."""

    def __init__(self, status: int, errors: list[AllegroErrorDetail], method: str, url: str):
        self.status = status
        self.errors = errors
        self.method = method
        self.url = url
        first = errors[0] if errors else None
        super().__init__(
            f"{method} {url} -> {status}"
            + (f" {first.code}: {first.user_message or first.message}" if first else "")
        )

    @property
    def codes(self) -> list[str]:
        return [e.code for e in self.errors]


class RateLimited(AllegroError):
    """429: Allegro refused the call for its rate; every call on the same key now waits."""


class AllegroUnavailable(AllegroError):
    """5xx or no answer after the retries."""


class NotSentInTime(AllegroUnavailable):
    """The call's rate budget would only let it out after the caller's `send_by`: it was not
    sent (status 0). A caller whose right to act ends (a claim's lease) must not act late."""


class OAuthError(Exception):
    """An error of Allegro's OAuth server (`error`, `error_description`), e.g. invalid_grant."""

    def __init__(self, status: int, error: str, description: str = "") -> None:
        self.status = status
        self.error = error
        self.description = description
        super().__init__(f"{status} {error}: {description}")
