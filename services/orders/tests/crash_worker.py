"""The orders service as a separate process with fixed Allegro tokens, which dies (SIGKILL)
right after it has committed one page of order events: after the page, its forms, its outbox
rows and the new cursor are stored, before the relay has published anything. The test restarts
it until the whole journal is read, so every run crashes at that point, whatever the timing.

`python crash_worker.py <port> <account>=<token> ...`; settings from `ORDERS_*` variables."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import uvicorn

from orders import handlers
from orders.main import build
from shared.allegro.tokens import StaticTokens
from shared.service import create_app
from shared.uow import UnitsOfWork

_handle = UnitsOfWork.handle


async def _handle_then_die(self: UnitsOfWork, handler: Any, message: Any) -> Any:
    result = await _handle(self, handler, message)
    if handler is handlers.store_order_events:  # committed: the page and its cursor are stored
        os.kill(os.getpid(), signal.SIGKILL)
    return result


if __name__ == "__main__":
    UnitsOfWork.handle = _handle_then_die  # type: ignore[method-assign]
    port = int(sys.argv[1])
    tokens = dict(pair.split("=", 1) for pair in sys.argv[2:])
    app = create_app(build(allegro_tokens=StaticTokens(tokens)), "worker")
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
