"""Request helpers shared by the resource modules."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from bigbuy_emulator.errors import bad_request
from bigbuy_emulator.state import Emulator


def emulator(request: Request) -> Emulator:
    emu: Emulator = request.app.state.emulator
    return emu


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers=headers, media_type="application/json")


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise bad_request("The request body is empty")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("The request body is not valid JSON") from None
