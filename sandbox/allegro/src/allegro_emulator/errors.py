"""Error bodies exactly as Allegro sends them.

REST resources answer with the spec's `ErrorsHolder` (`{"errors": [Error...]}`); the OAuth server
and the 401s of bearer-protected resources answer with `AuthError`
(`{"error", "error_description"}`).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

MEDIA_TYPE = "application/vnd.allegro.public.v1+json"


def error(
    code: str,
    message: str,
    *,
    path: str | None = None,
    user_message: str | None = None,
    details: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One `Error` object of the spec."""
    return {
        "code": code,
        "message": message,
        "details": details,
        "path": path,
        "userMessage": user_message or message,
        "metadata": metadata or {},
    }


class AllegroError(Exception):
    """Raised by a handler; turned into an `ErrorsHolder` response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        path: str | None = None,
        user_message: str | None = None,
        metadata: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        user_message_pl: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        # `userMessage` follows Accept-Language (English by default); a few errors carry Polish.
        self.user_message_pl = user_message_pl
        self.errors = errors or [
            error(code, message, path=path, user_message=user_message, metadata=metadata)
        ]
        self.headers = headers

    def response(self, media_type: str = MEDIA_TYPE, language: str = "en-US") -> Response:
        errors = self.errors
        if language.startswith("pl") and self.user_message_pl:
            errors = [{**errors[0], "userMessage": self.user_message_pl}, *errors[1:]]
        return Response(
            orjson.dumps({"errors": errors}), self.status, self.headers, media_type=media_type
        )


class AuthError(Exception):
    """OAuth-style error: the token endpoint's errors and 401 on resources."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def response(self, media_type: str = "application/json") -> Response:
        body = {"error": self.error, "error_description": self.description}
        return Response(orjson.dumps(body), self.status, media_type=media_type)


def not_found(what: str, ident: str) -> AllegroError:
    return AllegroError(
        404, "NOT_FOUND", f"{what} {ident} not found", user_message=f"{what} not found"
    )


def validation(message: str, path: str | None = None, status: int = 422) -> AllegroError:
    return AllegroError(status, "VALIDATION_ERROR", message, path=path)


def too_many_requests(retry_after: int | None = None) -> AllegroError:
    # The body observed in allegro/allegro-api#10696; Retry-After only when configured.
    return AllegroError(
        429,
        "TooManyRequestsException",
        "An error occurred",
        user_message="Server is unable to respond to your query. Try again in a few minutes.",
        headers=None if retry_after is None else {"Retry-After": str(retry_after)},
    )
