"""The console's server: its pages (files of this package) and `/api/<service>/<path>`, a thin
same-origin proxy to the services' HTTP APIs.

The proxy forwards the method, the query, the body (streamed both ways) and the headers that
carry meaning (`Authorization`, `Content-Type`, `Accept`); the service decides everything,
including who may do what. It never forwards to a service's internal routes (service tokens
only) and never logs a header or a query string (an OAuth callback's query carries its code).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask

from mci_console import metrics
from mci_console.settings import SERVICES, ConsoleSettings

log = logging.getLogger("mci_console")

STATIC = resources.files("mci_console") / "static"
# Request headers the services read; everything else (cookies included) stays here.
FORWARDED_REQUEST = ("authorization", "content-type", "content-length", "accept")
# Response headers the pages read.
FORWARDED_RESPONSE = (
    "content-type",
    "content-encoding",
    "content-disposition",
    "retry-after",
    "www-authenticate",
    "x-correlation-id",
)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# Pages only load what the console serves; images of products may come from the supplier.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: https: http:; object-src 'none';"
        " base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    # The OAuth callback's URL carries a code: never sent on as a referrer.
    "Referrer-Policy": "no-referrer",
}


def error(status: int, code: str, message: str, **details: Any) -> JSONResponse:
    """The services' one error shape (docs/http.md), for what the console itself refuses."""
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": [details] if details else []}},
        status_code=status,
    )


def create_app(
    settings: ConsoleSettings | None = None, transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    settings = settings or ConsoleSettings()
    urls = settings.service_urls()
    state: dict[str, httpx.AsyncClient] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        timeout = httpx.Timeout(settings.timeout_seconds, connect=10.0)
        async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:
            state["client"] = client
            yield

    app = FastAPI(title="mci console", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.openapi_url = None

    @app.middleware("http")
    async def headers_and_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.monotonic()
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if request.url.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        # The path only: no query string, no header.
        log.info(
            "%s %s %s %.0f ms",
            request.method,
            request.url.path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response

    def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return page()

    @app.get("/oauth/callback", include_in_schema=False)
    async def oauth_callback() -> FileResponse:
        """Where Allegro sends the seller back: the page hands `code` and `state` to auth."""
        return page()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/config.json")
    async def config() -> dict[str, Any]:
        """What the pages need to know: the services and the OAuth redirect URI."""
        return {
            "services": list(SERVICES),
            "oauth_redirect_uri": settings.oauth_redirect_uri or None,
        }

    @app.api_route("/api/{service}/{path:path}", methods=METHODS)
    async def proxy(service: str, path: str, request: Request) -> Response:
        base = urls.get(service)
        if base is None:
            return error(404, "unknown_service", f"no service {service!r}", service=service)
        if path == "internal" or path.startswith("internal/"):
            return error(404, "not_proxied", "internal routes are not for operators", path=path)
        headers = {
            name: value
            for name in FORWARDED_REQUEST
            if (value := request.headers.get(name)) is not None
        }
        has_body = request.method in ("POST", "PUT", "PATCH") or "content-length" in headers
        outgoing = state["client"].build_request(
            request.method,
            f"{base}/{path}",
            params=request.url.query or None,
            headers=headers,
            content=request.stream() if has_body else None,
        )
        try:
            upstream = await state["client"].send(outgoing, stream=True)
        except httpx.TransportError as exc:
            return error(
                502,
                "service_unreachable",
                f"{service} cannot be reached ({type(exc).__name__})",
                service=service,
            )
        return StreamingResponse(
            upstream.aiter_raw(),
            status_code=upstream.status_code,
            headers={
                name: value
                for name in FORWARDED_RESPONSE
                if (value := upstream.headers.get(name)) is not None
            },
            background=BackgroundTask(upstream.aclose),
        )

    app.mount(metrics.STATIC_PREFIX, StaticFiles(directory=str(STATIC)), name="static")
    # Outermost: counts every answer, the middleware's own refusals included.
    app.add_middleware(metrics.RequestMetrics)
    return app
