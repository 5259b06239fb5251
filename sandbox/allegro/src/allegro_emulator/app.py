"""The FastAPI application: routers, the Allegro media-type rules, faults, counters, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import re
from collections.abc import AsyncIterator

import orjson
from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from allegro_emulator import (
    admin,
    after_sales,
    catalogue,
    commands,
    gpsr,
    metrics,
    oauth,
    offer_events,
    offers,
    orders,
    pricing,
    shipping,
)
from allegro_emulator.config import EmulatorConfig
from allegro_emulator.errors import MEDIA_TYPE, AllegroError, AuthError, error, too_many_requests
from allegro_emulator.state import Emulator

TICK_SECONDS = 0.02
PRUNE_SECONDS = 1.0
_MEDIA = MEDIA_TYPE.encode()


def _error_bytes(code: str, message: str) -> bytes:
    return orjson.dumps({"errors": [error(code, message)]})


class AllegroMiddleware:
    """Pure ASGI (cheap per request): media types, trace-id, injected faults, counters."""

    def __init__(self, app: ASGIApp, emu: Emulator) -> None:
        self.app = app
        self.emu = emu
        self._trace = itertools.count(1)
        self._trace_prefix = os.urandom(6).hex()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        config = self.emu.config
        path: str = scope["path"]
        if (
            path.startswith(config.admin_prefix)
            or path.startswith("/health/")
            or path == "/metrics"
        ):
            await self.app(scope, receive, send)
            return
        trace = f"{self._trace_prefix}{next(self._trace):010d}".encode()
        status_box = [0]

        async def send_traced(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"trace-id", trace)]
            await send(message)

        faults = self.emu.faults
        if faults.active and path.startswith(faults.path_prefix) and await self._fault(send_traced):
            self._count(scope, status_box[0])
            return
        is_rest = not path.startswith(config.oauth_prefix) and path.startswith(config.rest_prefix)
        if is_rest:
            rejection = self._media_rejection(scope)
            if rejection is not None:
                status, body = rejection
                await _send(send_traced, status, body)
                self._count(scope, status)
                return
        await self.app(scope, receive, send_traced)
        self._count(scope, status_box[0])

    def _media_rejection(self, scope: Scope) -> tuple[int, bytes] | None:
        accept = content_type = b""
        for name, value in scope["headers"]:
            if name == b"accept":
                accept = value
            elif name == b"content-type":
                content_type = value
        if _MEDIA not in accept:
            return 406, _error_bytes("NotAcceptableException", "Not acceptable representation")
        if (
            scope["method"] in ("POST", "PUT", "PATCH")
            and content_type
            and not content_type.startswith(_MEDIA)
            # Image uploads may send the image bytes themselves.
            and not (content_type.startswith(b"image/") and scope["path"].endswith("/sale/images"))
        ):
            return 415, _error_bytes("UnsupportedMediaTypeException", "Unsupported media type")
        return None

    async def _fault(self, send: Send) -> bool:
        """Apply injected faults; True when the request was answered here."""
        faults, rng = self.emu.faults, self.emu.random
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.forced_429 > 0:
            faults.forced_429 -= 1
            self.emu.limiter.rejected += 1
            extra: list[tuple[bytes, bytes]] = []
            if self.emu.config.rate_limit_retry_after:
                # As if the Client ID were blocked: its block time, scaled.
                block = self.emu.limiter.scaled(self.emu.config.client_block_seconds)
                extra.append((b"retry-after", str(max(1, math.ceil(block))).encode()))
            err = too_many_requests()
            await _send(send, 429, orjson.dumps({"errors": err.errors}), extra)
            return True
        if faults.timeout_share and rng.random() < faults.timeout_share:
            await asyncio.sleep(faults.timeout_seconds)
            await _send(send, 504, _error_bytes("GatewayTimeout", "Gateway timeout"))
            return True
        if faults.error_share and rng.random() < faults.error_share:
            await _send(
                send, faults.error_status, _error_bytes("ServiceUnavailable", "Service unavailable")
            )
            return True
        return False

    def _count(self, scope: Scope, status: int) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "(unmatched)"
        key = (scope["method"], template, status)
        counters = self.emu.counters
        counters[key] = counters.get(key, 0) + 1


async def _send(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", _MEDIA), (b"content-length", str(len(body)).encode())]
    headers += extra or []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(config: EmulatorConfig | None = None, emu: Emulator | None = None) -> FastAPI:
    config = config or EmulatorConfig.from_env()
    emu = emu or Emulator(config)
    if not (config.snapshot_path and _load(emu)):
        admin.seed_defaults(emu)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        ticker = asyncio.create_task(_tick(emu))
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            if config.snapshot_path:
                emu.save_snapshot()

    app = FastAPI(
        title="Allegro emulator", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.emulator = emu
    # Routers are matched in order, so the hot ones (commands, offers) come first. Within a
    # router, literal paths are registered before templated ones so that they win.
    for router in (
        commands.router,
        offers.router,
        offer_events.router,
        orders.router,
        catalogue.router,
        shipping.router,
        after_sales.router,
        gpsr.router,
        pricing.router,
    ):
        app.include_router(router, prefix=config.rest_prefix)
    app.include_router(oauth.router, prefix=config.oauth_prefix)
    app.include_router(admin.router, prefix=config.admin_prefix)
    app.add_middleware(AllegroMiddleware, emu=emu)

    @app.get("/health/live")
    async def live() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/health/ready")
    async def ready() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        body = metrics.exposition(emu.counters, emu.limiter.rejected)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    @app.exception_handler(AllegroError)
    async def allegro_error(request: Request, exc: AllegroError) -> Response:
        return exc.response(_error_media(request), request.headers.get("accept-language", ""))

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> Response:
        oauth_path = request.url.path.startswith(config.oauth_prefix)
        return exc.response("application/json" if oauth_path else _error_media(request))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = "NOT_FOUND" if exc.status_code == 404 else "HTTP_ERROR"
        return AllegroError(exc.status_code, code, str(exc.detail)).response(_error_media(request))

    return app


def _load(emu: Emulator) -> bool:
    try:
        return emu.load_snapshot()
    except Exception:  # e.g. a snapshot from an older emulator version: start afresh
        logging.getLogger("allegro_emulator").exception("cannot load the snapshot; starting fresh")
        return False


# Resources whose error answers the spec gives as application/json (400/401 of offer events
# and of scheduled parameter changes, every error of the GPSR resources).
_JSON_ERRORS = re.compile(
    r"/sale/(offer-events|category-parameters-scheduled-changes|responsible-producers"
    r"|responsible-persons)(/|$)"
)


def _error_media(request: Request) -> str:
    return "application/json" if _JSON_ERRORS.search(request.url.path) else MEDIA_TYPE


async def _tick(emu: Emulator) -> None:
    last_prune = 0.0
    while True:
        await asyncio.sleep(TICK_SECONDS)
        try:
            emu.run_due()
            orders.run_buyer(emu)
            if emu.now() - last_prune > PRUNE_SECONDS:
                last_prune = emu.now()
                emu.prune()
        except Exception:  # a failing job must not stop the clock
            logging.getLogger("allegro_emulator").exception("scheduled job failed")
