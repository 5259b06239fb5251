"""The offers service as a separate process with fixed Allegro tokens, which dies (SIGKILL)
right after Allegro answered a `POST /sale/product-offers`: the offer exists on Allegro, our
database still says `creating`. The test restarts it until every offer is active, so every
create crashes at that point once, whatever the timing. With `CRASH_AFTER=command` it dies
right after a batch command's PUT instead (Allegro has the command, our database says `new`);
with `CRASH_AFTER=` (empty) it does not die.

`python crash_worker.py <port> <account>=<token> ...`; settings from `OFFERS_*` variables."""

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
_put_command = allegro.put_command


async def _create_then_die(*args: Any, **kwargs: Any) -> allegro.Answer:
    answer = await _create(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # Allegro has the offer; we have not stored it
    return answer


async def _put_command_then_die(*args: Any, **kwargs: Any) -> None:
    await _put_command(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # Allegro has the command; we have not stored it


if __name__ == "__main__":
    crash_after = os.environ.get("CRASH_AFTER", "create")
    if crash_after == "create":
        allegro.create_product_offer = _create_then_die
    elif crash_after == "command":
        allegro.put_command = _put_command_then_die
    port = int(sys.argv[1])
    tokens = dict(pair.split("=", 1) for pair in sys.argv[2:])
    app = create_app(build(allegro_tokens=StaticTokens(tokens)), "worker")
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
