"""The offers service as a separate process with fixed Allegro tokens (no auth service here):

    python offers_worker.py [--die-after-create] <port> <account>=<token> ...

settings from `OFFERS_*` variables. With `--die-after-create` it runs the worker role only and
dies (SIGKILL) right after Allegro answered a `POST /sale/product-offers`: the offer exists on
Allegro, our database still says `creating` (a test restarts it until every offer is active,
so every create crashes at that point once, whatever the timing)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import uvicorn

from offers import allegro
from offers.main import build
from shared.allegro.tokens import StaticTokens
from shared.service import create_app

_create = allegro.create_product_offer


async def _create_then_die(*args: Any, **kwargs: Any) -> allegro.Answer:
    answer = await _create(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # Allegro has the offer; we have not stored it
    return answer


if __name__ == "__main__":
    argv = sys.argv[1:]
    die = argv[:1] == ["--die-after-create"]
    if die:
        allegro.create_product_offer = _create_then_die
        argv = argv[1:]
    port = int(argv[0])
    tokens = dict(pair.split("=", 1) for pair in argv[1:])
    app = create_app(build(allegro_tokens=StaticTokens(tokens)), "worker" if die else "all")
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
