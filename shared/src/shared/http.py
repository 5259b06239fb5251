"""HTTP plumbing every service shares: correlation ids, error bodies, probes, metrics, DLQ admin,
the request guard (body limits, NUL characters) and the documented error responses."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Annotated, Any

import asyncpg
import orjson
import sqlalchemy.exc
from annotated_types import Interval
from fastapi import APIRouter, Body, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import metrics
from shared.allegro.errors import AllegroError
from shared.allegro.tokens import AccountUnavailable
from shared.errors import DomainError
from shared.logs import correlation_scope, get_logger
from shared.messaging.dlq import DeadLetters, UnknownQueue
from shared.security import Admin

CORRELATION_HEADER = "x-correlation-id"
log = get_logger(__name__)

# PostgreSQL's integer columns: a path or query integer beyond them is a 422, not a DB error.
INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1
INT8_MIN, INT8_MAX = -(2**63), 2**63 - 1
Int4 = Annotated[int, Interval(ge=INT4_MIN, le=INT4_MAX)]
Int8 = Annotated[int, Interval(ge=INT8_MIN, le=INT8_MAX)]
# A serial (int4) or bigserial (int8) id: positive.
Int4Id = Annotated[int, Interval(ge=1, le=INT4_MAX)]
Int8Id = Annotated[int, Interval(ge=1, le=INT8_MAX)]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# The largest JSON body the request guard reads whole to check it; beyond, bodies are streamed.
MAX_BUFFERED_BYTES = 64 * 1024 * 1024


class CorrelationMiddleware:
    """Binds the caller's X-Correlation-ID (or X-Request-ID, or a new one) and echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(CORRELATION_HEADER.encode()) or headers.get(b"x-request-id")
        with correlation_scope(incoming.decode() if incoming else None) as cid:

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message.setdefault("headers", []).append(
                        (CORRELATION_HEADER.encode(), cid.encode())
                    )
                await send(message)

            await self.app(scope, receive, send_with_id)


class RequestMetrics:
    """Counts and times every answered request by its route template; a path no route matched
    is counted as `unmatched`, so scanners cannot mint new series."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            metrics.http_requests.labels(method, route, str(status)).inc()
            metrics.http_request_duration.labels(method, route).observe(
                time.perf_counter() - started
            )


def error_body(
    code: str, message: str, details: list[dict[str, Any]] | dict[str, Any] | None = None
) -> dict[str, Any]:
    """The one error shape of our HTTP APIs: machine-readable code, human message, details."""
    if isinstance(details, dict):
        details = [details] if details else []
    return {"error": {"code": code, "message": message, "details": details or []}}


# --- the request guard ---------------------------------------------------------------------


def too_large_body(limit: int) -> dict[str, Any]:
    return error_body(
        "payload_too_large",
        f"the request body is larger than {limit} bytes",
        [{"limit_bytes": limit}],
    )


class PayloadTooLarge(HTTPException):
    """Raised while a streamed body is read: more bytes arrived than the route takes."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=too_large_body(limit)["error"])
        self.limit = limit


NUL_REASON = "NUL characters (\\u0000) are not accepted"


def nul_refusal(field: str) -> dict[str, Any]:
    return error_body(
        "validation_failed",
        "the request is not valid",
        [{"field": field, "reason": NUL_REASON, "type": "nul_character"}],
    )


def _nul_in_json(value: Any, path: str = "") -> str | None:
    """The path of the first string (or key) holding a NUL, or None."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return where or "body"
        elif isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    return where or "body"
                stack.append((f"{where}.{key}" if where else key, child))
        elif isinstance(item, list):
            stack.extend((f"{where}.{i}" if where else str(i), c) for i, c in enumerate(item))
    return None


def _json_refusal(body: bytes) -> dict[str, Any] | None:
    """Why a JSON body cannot be taken (not UTF-8 JSON, or a NUL in a string), or None."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return error_body(
            "validation_failed",
            "the request is not valid",
            [{"field": "body", "reason": f"not valid JSON: {exc}"[:300], "type": "json_invalid"}],
        )
    # Only a "\u0000" escape can put a NUL into a JSON string: walk the document only then.
    field = _nul_in_json(document) if b"\\u0000" in body else None
    return None if field is None else nul_refusal(field)


class RequestGuard:
    """Refuses what no route can take before anything reads, authenticates or parses it.

    - A body beyond the route's limit: 413 `payload_too_large`. A declared Content-Length is
      checked up front (nothing is read); a streamed body is counted as it arrives.
    - A NUL character in the path or the query string, or in a JSON body's strings: 422
      (PostgreSQL cannot store NUL in text, so it would otherwise surface as a 500).

    The limit is `max_body_bytes`, or the route's own in `route_limits` (path template ->
    bytes: file imports, large selections). A JSON body within MAX_BUFFERED_BYTES is read here
    whole, checked and handed on: its route would read it whole anyway. Any other body is
    streamed to the app and counted.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        route_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._route_limits = [
            (compile_path(template)[0], limit) for template, limit in (route_limits or {}).items()
        ]

    def _limit(self, scope: Scope) -> int:
        path = scope.get("path", "")
        for pattern, limit in self._route_limits:
            if pattern.match(path):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if "\x00" in scope.get("path", ""):
            await JSONResponse(nul_refusal("path"), 422)(scope, receive, send)
            return
        if b"%00" in query or b"\x00" in query:
            await JSONResponse(nul_refusal("query"), 422)(scope, receive, send)
            return
        limit = self._limit(scope)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await self._too_large(scope, receive, send, limit)
            return
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        # FastAPI parses only a body declared as JSON; anything else reaches no JSON parser.
        if not content_type.endswith(b"json") or limit > MAX_BUFFERED_BYTES:
            await self._stream(scope, receive, send, limit)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > limit:
                await self._too_large(scope, receive, send, limit)
                return
            if not message.get("more_body", False):
                break
        if body.strip():
            refusal = _json_refusal(bytes(body))
            if refusal is not None:
                await JSONResponse(refusal, 422)(scope, receive, send)
                return
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _stream(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except PayloadTooLarge:
            if started:
                raise
            await self._too_large(scope, receive, send, limit)

    @staticmethod
    async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = JSONResponse(too_large_body(limit), 413, headers={"Connection": "close"})
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: disconnect notices

    return replay


# --- error handlers --------------------------------------------------------------------------


def _data_error_message(exc: BaseException) -> str | None:
    """PostgreSQL's (or asyncpg's) words when `exc` is invalid input (SQLSTATE class 22)."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None) or ""
        cause = exc.orig.__cause__ if exc.orig is not None else None
        if sqlstate.startswith("22") or isinstance(cause, asyncpg.exceptions._base.DataError):
            return str(cause or exc.orig)
        return None
    if isinstance(exc, asyncpg.exceptions.DataError | asyncpg.exceptions._base.DataError):
        return str(exc)
    return None


def install_error_handlers(app: FastAPI) -> None:
    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = [
            {
                "field": ".".join(str(p) for p in err["loc"] if p != "body"),
                "reason": err["msg"],
                "type": err["type"],
            }
            for err in exc.errors()
        ]
        return JSONResponse(
            error_body("validation_failed", "the request is not valid", details), status_code=422
        )

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail: Any = exc.detail
        if isinstance(detail, dict) and "code" in detail:
            body = error_body(detail["code"], detail.get("message", ""), detail.get("details"))
        else:
            body = error_body(f"http_{exc.status_code}", str(detail))
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def on_database_error(request: Request, exc: Exception) -> JSONResponse:
        """The safety net: a value the database refuses as data (class 22) is the caller's 422.

        Anything else stays a server error. A hit means a route lacks validation: it is logged.
        """
        message = _data_error_message(exc)
        if message is None:
            raise exc
        log.warning("invalid_input_reached_the_database", path=request.url.path, error=message)
        return JSONResponse(
            error_body(
                "invalid_value",
                "a value of the request cannot be stored",
                [{"reason": message[:300], "type": "data_exception"}],
            ),
            status_code=422,
        )

    async def on_account_unavailable(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AccountUnavailable)
        return JSONResponse(error_body("account_unavailable", str(exc)), status_code=409)

    async def on_allegro_error(_: Request, exc: Exception) -> JSONResponse:
        """What Allegro refused on the caller's behalf is a bad gateway, not our crash."""
        assert isinstance(exc, AllegroError)
        return JSONResponse(
            error_body("allegro_error", str(exc)[:500], [{"allegro_status": exc.status}]),
            status_code=502,
        )

    async def on_domain_error(_: Request, exc: Exception) -> JSONResponse:
        # The one mapping of the shared error family (shared.errors) to HTTP.
        assert isinstance(exc, DomainError)
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details),
            status_code=exc.status,
            headers=exc.headers or None,
        )

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(AccountUnavailable, on_account_unavailable)
    app.add_exception_handler(AllegroError, on_allegro_error)
    # Starlette's own (404 for an unknown path, 405, FastAPI's 400 for an unreadable body) too.
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(sqlalchemy.exc.DBAPIError, on_database_error)
    app.add_exception_handler(asyncpg.exceptions.DataError, on_database_error)
    app.add_exception_handler(asyncpg.exceptions._base.DataError, on_database_error)


# --- documented error responses -------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """`{"error": {"code", "message", "details": [...]}}`: every 4xx and 5xx of our APIs."""

    error: ErrorDetail


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The request cannot be carried out as sent",
    401: "No bearer credential, or one that is not valid",
    403: "The credential's role is below what this route requires",
    404: "What the path names does not exist",
    409: "The request conflicts with the current state",
    413: "The request body is larger than this route accepts",
    422: "The request is not valid (fields, types, ranges, NUL characters)",
    502: "Allegro refused or failed the call made on the caller's behalf",
    503: "A service this route depends on is unavailable",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for error statuses, all in the shared error shape."""
    return {
        status: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS.get(status, "Error")}
        for status in statuses
    }


def required_role(route: APIRoute) -> str | None:
    """The role a route's guard from shared.security asks for (None: a public route).

    The guards (`require_role(minimum)`, `require_service(...)`) carry it as `required_role`,
    so the route itself says what it requires: an operator role, or `service`.
    """
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        pending.extend(dependency.dependencies)
        role = getattr(dependency.call, "required_role", None)
        if isinstance(role, str):
            return role
    return None


def api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI keeps those as nested objects)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from api_routes(nested.routes)


def document_errors(routes: Iterable[Any]) -> None:
    """Declare on every route what the shared layers may answer besides the route itself.

    413 and 422 from the request guard and validation, 401 and 403 where a role is required
    (named in the `x-required-role` extension, which the route-guard tests read). Routes declare
    their own 404/409/... with `responses=error_responses(...)`.
    """
    for route in api_routes(routes):
        statuses = [413, 422]
        role = required_role(route)
        if role is not None:
            statuses += [401, 403]
            route.openapi_extra = {**(route.openapi_extra or {}), "x-required-role": role}
        for status, response in error_responses(*statuses).items():
            route.responses.setdefault(status, response)


ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


def health_router(readiness: ReadinessCheck) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/health/ready", responses={503: {"description": "Not ready"}})
    async def ready() -> JSONResponse:
        checks = await readiness()
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks},
            status_code=200 if ok else 503,
        )

    @router.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return router


# DLQ message ids are the envelopes' UUIDs: anything else is a 422, not a crash mid-replay.
MessageIds = Annotated[list[uuid.UUID] | None, Body(embed=True, max_length=10_000)]


def dlq_router(dead_letters: Callable[[], DeadLetters]) -> APIRouter:
    """Operators' DLQ endpoints: list, inspect, replay, purge (admin role)."""
    router = APIRouter(prefix="/admin/dlq", tags=["dead letters"])

    def unknown(queue: str) -> HTTPException:
        return HTTPException(
            404, detail={"code": "unknown_queue", "message": f"this service has no queue {queue}"}
        )

    def ids(message_ids: list[uuid.UUID] | None) -> list[str] | None:
        return None if message_ids is None else [str(m) for m in message_ids]

    @router.get("")
    async def depths(_: Admin) -> dict[str, int]:
        return await dead_letters().depths()

    @router.get("/{queue}", responses=error_responses(404))
    async def list_dead_letters(
        queue: str, _: Admin, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
    ) -> list[dict[str, Any]]:
        try:
            return [letter.summary() for letter in await dead_letters().list(queue, limit)]
        except UnknownQueue:
            raise unknown(queue) from None

    @router.get("/{queue}/{message_id}", responses=error_responses(404))
    async def inspect_letter(queue: str, message_id: uuid.UUID, _: Admin) -> dict[str, Any]:
        try:
            letter = await dead_letters().inspect(queue, str(message_id))
        except UnknownQueue:
            raise unknown(queue) from None
        if letter is None:
            raise HTTPException(
                404, detail={"code": "not_found", "message": "no such message in the DLQ"}
            )
        return {**letter.summary(), "body": letter.body}

    @router.post("/{queue}/replay", responses=error_responses(404))
    async def replay(queue: str, _: Admin, message_ids: MessageIds = None) -> dict[str, int]:
        try:
            return {"replayed": await dead_letters().replay(queue, ids(message_ids))}
        except UnknownQueue:
            raise unknown(queue) from None

    @router.post("/{queue}/purge", responses=error_responses(404))
    async def purge(queue: str, _: Admin, message_ids: MessageIds = None) -> dict[str, int]:
        try:
            return {"purged": await dead_letters().purge(queue, ids(message_ids))}
        except UnknownQueue:
            raise unknown(queue) from None

    return router
