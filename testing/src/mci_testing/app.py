"""Run a service app's lifespan (migrations, broker, relay, consumers) and talk to it over ASGI."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx
from fastapi import FastAPI


class running_app:
    def __init__(self, app: FastAPI, base_url: str = "http://service") -> None:
        self.app = app
        self.base_url = base_url

    async def __aenter__(self) -> httpx.AsyncClient:
        self._lifespan: Any = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=self.base_url
        )
        return self._client

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.aclose()
        await self._lifespan.__aexit__(exc_type, exc, tb)
