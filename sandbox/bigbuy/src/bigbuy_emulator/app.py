"""The FastAPI application: the bearer key, the rate limits, forced errors and quirks, counters."""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bigbuy_emulator import admin, catalogue, metrics, orders
from bigbuy_emulator.config import EmulatorConfig
from bigbuy_emulator.errors import INVALID_TOKEN, RATE_LIMIT_TEXT, BigBuyError
from bigbuy_emulator.rate_limits import Verdict, endpoint_key
from bigbuy_emulator.state import Emulator

# The two soft failures BigBuy has been seen to send with status 200.
SOFT_ERRORS: list[tuple[bytes, bytes]] = [
    (
        b"application/json",
        b'{"code":409,"message":"Something went wrong 56783360c34fff84fe56880fbf62179b"}',
    ),
    (
        b"application/json",
        b"HTTP/1.0 500 Internal Server Error\r\nCache-Control: no-cache, private\r\n"
        b"Content-Type:  application/json\r\n\r\n"
        b'{"error":"Information is not available right now. Try it again later"}',
    ),
]


class BigBuyMiddleware:
    """Pure ASGI, in front of every API path: key, limit, forced errors, soft errors."""

    def __init__(self, app: ASGIApp, emu: Emulator) -> None:
        self.app = app
        self.emu = emu

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        config = self.emu.config
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(config.rest_prefix + "/"):
            await self.app(scope, receive, send)
            return
        emu = self.emu
        key = endpoint_key(path[len(config.rest_prefix) :])
        status_box = [0]

        async def answer(status: int, body: bytes, media: bytes, extra: list[Any]) -> None:
            status_box[0] = status
            headers = [(b"content-type", media), (b"content-length", str(len(body)).encode())]
            await send(
                {"type": "http.response.start", "status": status, "headers": headers + extra}
            )
            await send({"type": "http.response.body", "body": body})

        try:
            if not self._authorized(scope):
                await answer(401, orjson.dumps(INVALID_TOKEN), b"application/json", [])
                return
            verdict = emu.limiter.check(key, emu.now())
            limit_headers = _limit_headers(verdict)
            if verdict is not None and not verdict.allowed:
                await answer(429, RATE_LIMIT_TEXT.encode(), b"text/plain", limit_headers)
                return
            forced = next((f for f in emu.forced if f.remaining > 0 and f.path in path), None)
            if forced is not None:
                forced.remaining -= 1
                if isinstance(forced.body, str):
                    body, media = forced.body.encode(), b"text/plain"
                else:
                    body, media = orjson.dumps(forced.body), b"application/json"
                await answer(forced.status, body, media, limit_headers)
                return
            share = config.quirk_soft_error_share
            if share and emu.random.random() < share:
                media, body = SOFT_ERRORS[emu.random.randrange(len(SOFT_ERRORS))]
                await answer(200, body, media, limit_headers)
                return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status_box[0] = message["status"]
                    message["headers"] = [*message.get("headers", []), *limit_headers]
                await send(message)

            await self.app(scope, receive, send_with_headers)
            if status_box[0] == 400 and verdict is not None:
                emu.limiter.refund(key)
        finally:
            counters = emu.counters
            counter = (key, status_box[0])
            counters[counter] = counters.get(counter, 0) + 1

    def _authorized(self, scope: Scope) -> bool:
        expected = b"Bearer " + self.emu.config.api_key.get_secret_value().encode()
        for name, value in scope["headers"]:
            if name == b"authorization":
                return secrets.compare_digest(value, expected)
        return False


def _limit_headers(verdict: Verdict | None) -> list[tuple[bytes, bytes]]:
    if verdict is None:
        return []
    return [
        (b"x-ratelimit-limit", str(verdict.limit).encode()),
        (b"x-ratelimit-remaining", str(verdict.remaining).encode()),
        (b"x-ratelimit-reset", str(int(verdict.reset)).encode()),
    ]


def render_error(emu: Emulator, status: int, body: Any) -> Response:
    """An error as BigBuy sends it, bent by the quirks that are switched on."""
    config = emu.config
    if status == 404 and emu.random.random() < config.quirk_empty_not_found_share:
        return Response(b"", 200)
    if (
        isinstance(body, dict)
        and "code" in body
        and "message" in body
        and emu.random.random() < config.quirk_swapped_fields_share
    ):
        # Seen once: {"code":"Bad request","message":400}.
        reason = {400: "Bad request", 404: "Not found", 409: "Conflict"}.get(status, "Error")
        body = {**body, "code": reason, "message": status}
    return Response(orjson.dumps(body), status, media_type="application/json")


def create_app(config: EmulatorConfig | None = None, emu: Emulator | None = None) -> FastAPI:
    config = config or EmulatorConfig()
    emu = emu or Emulator(config)
    app = FastAPI(title="BigBuy emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = emu
    app.include_router(catalogue.router, prefix=config.rest_prefix)
    app.include_router(orders.router, prefix=config.rest_prefix)
    app.include_router(admin.router, prefix=config.admin_prefix)
    app.add_middleware(BigBuyMiddleware, emu=emu)

    @app.get("/health/live")
    async def live() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/health/ready")
    async def ready() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        body = metrics.exposition(emu.counters)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    @app.exception_handler(BigBuyError)
    async def bigbuy_error(request: Request, exc: BigBuyError) -> Response:
        if request.url.path.startswith(config.admin_prefix):
            return Response(orjson.dumps(exc.body), exc.status, media_type="application/json")
        return render_error(emu, exc.status, exc.body)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = "Not Found" if exc.status_code == 404 else str(exc.detail)
        body = {"code": exc.status_code, "message": message}
        if request.url.path.startswith(config.admin_prefix):
            return Response(orjson.dumps(body), exc.status_code, media_type="application/json")
        return render_error(emu, exc.status_code, body)

    return app
