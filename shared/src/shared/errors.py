"""The one family of domain errors every service raises, and what HTTP status each one is.

A handler raises `NotFound`, `Conflict`, `Invalid` or `Unavailable` with a stable machine code,
a human message and a list of details; `shared.http.install_error_handlers` turns any of them
into `{"error": {"code", "message", "details": [...]}}` with 404, 409, 422 or 503. Routes and
handlers never build an `HTTPException` for a domain outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


class DomainError(Exception):
    """A use case's outcome the caller must hear about; never a bug of ours."""

    # A class's status; an instance may narrow it (a malformed OAuth callback is a 400).
    status: int = 400
    default_code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Iterable[Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message
        self.details: list[dict[str, Any]] = [dict(d) for d in details]
        # Only for what HTTP needs beside the body (e.g. Retry-After of an Unavailable).
        self.headers: dict[str, str] = dict(headers or {})


class NotFound(DomainError):
    """What the request names does not exist (404)."""

    status = 404
    default_code = "not_found"


class Conflict(DomainError):
    """The request conflicts with the current state (409)."""

    status = 409
    default_code = "conflict"


class Invalid(DomainError):
    """The request's values cannot be accepted (422); `details` say which and why."""

    status = 422
    default_code = "invalid"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request's values: which field, a stable code, why."""

    field: str
    code: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "reason": self.reason}


class InvalidFields(Invalid):
    """Every problem of a request's values at once: `code` is the first problem's (the one a
    client branches on), `details` all of them."""

    def __init__(self, problems: Sequence[Problem] = ()) -> None:
        self.problems = list(problems)
        super().__init__(
            "; ".join(f"{p.field}: {p.reason}" for p in self.problems),
            code=self.problems[0].code if self.problems else None,
            details=[p.as_dict() for p in self.problems],
        )


class Unavailable(DomainError):
    """Something the use case depends on cannot answer now (503); retrying later may work."""

    status = 503
    default_code = "unavailable"
