"""The orders service as a separate process with fixed Allegro tokens (the test kills it -9).

`python crash_worker.py <port> <account>=<token> ...`; settings from `ORDERS_*` variables."""

from __future__ import annotations

import sys

import uvicorn

from orders.main import build
from shared.allegro.tokens import StaticTokens
from shared.service import create_app

if __name__ == "__main__":
    port = int(sys.argv[1])
    tokens = dict(pair.split("=", 1) for pair in sys.argv[2:])
    app = create_app(build(allegro_tokens=StaticTokens(tokens)), "worker")
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
