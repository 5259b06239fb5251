"""HTTP plumbing every service shares: correlation ids, error bodies, probes, metrics, DLQ admin."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import metrics
from shared.logs import correlation_scope
from shared.messaging.dlq import DeadLetters, UnknownQueue
from shared.security import Principal, require_role

CORRELATION_HEADER = "x-correlation-id"
Admin = Annotated[Principal, Depends(require_role("admin"))]


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


def error_body(
    code: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The one error shape of our HTTP APIs: machine-readable code, human message, details."""
    return {"error": {"code": code, "message": message, "details": details or []}}


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
        assert isinstance(exc, HTTPException)
        detail: Any = exc.detail
        if isinstance(detail, dict) and "code" in detail:
            body = error_body(detail["code"], detail.get("message", ""), detail.get("details"))
        else:
            body = error_body(f"http_{exc.status_code}", str(detail))
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)


ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


def health_router(readiness: ReadinessCheck) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/health/ready")
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


def dlq_router(dead_letters: Callable[[], DeadLetters]) -> APIRouter:
    """Operators' DLQ endpoints: list, inspect, replay, purge (admin role)."""
    router = APIRouter(prefix="/admin/dlq", tags=["dead letters"])

    def unknown(queue: str) -> HTTPException:
        return HTTPException(
            404, detail={"code": "unknown_queue", "message": f"this service has no queue {queue}"}
        )

    @router.get("")
    async def depths(_: Admin) -> dict[str, int]:
        return await dead_letters().depths()

    @router.get("/{queue}")
    async def list_dead_letters(queue: str, _: Admin, limit: int = 100) -> list[dict[str, Any]]:
        try:
            return [letter.summary() for letter in await dead_letters().list(queue, limit)]
        except UnknownQueue:
            raise unknown(queue) from None

    @router.get("/{queue}/{message_id}")
    async def inspect(queue: str, message_id: str, _: Admin) -> dict[str, Any]:
        try:
            letter = await dead_letters().inspect(queue, message_id)
        except UnknownQueue:
            raise unknown(queue) from None
        if letter is None:
            raise HTTPException(
                404, detail={"code": "not_found", "message": "no such message in the DLQ"}
            )
        return {**letter.summary(), "body": letter.body}

    @router.post("/{queue}/replay")
    async def replay(
        queue: str,
        _: Admin,
        message_ids: Annotated[list[str] | None, Body(embed=True)] = None,
    ) -> dict[str, int]:
        try:
            return {"replayed": await dead_letters().replay(queue, message_ids)}
        except UnknownQueue:
            raise unknown(queue) from None

    @router.post("/{queue}/purge")
    async def purge(
        queue: str,
        _: Admin,
        message_ids: Annotated[list[str] | None, Body(embed=True)] = None,
    ) -> dict[str, int]:
        try:
            return {"purged": await dead_letters().purge(queue, message_ids)}
        except UnknownQueue:
            raise unknown(queue) from None

    return router
