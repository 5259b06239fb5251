"""The offers service as a separate process with fixed Allegro tokens (no auth service here):

    python offers_worker.py [--die-after create|command] [--role worker|all] PORT ACCOUNT=TOKEN...

settings from `OFFERS_*` variables. With `--die-after create` it dies (SIGKILL) right after
Allegro answered a `POST /sale/product-offers`: the offer exists on Allegro, our database still
says `creating`; with `--die-after command`, right after a batch command's PUT: Allegro has the
command, our database says `new`. A test restarts it until the work is done, so each crashes at
that point once, whatever the timing. The role is `worker` when it is to die, else `all`."""

from __future__ import annotations

import argparse
import os
import signal
from typing import Any, Literal

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
    parser = argparse.ArgumentParser()
    parser.add_argument("--die-after", choices=["create", "command"])
    parser.add_argument("--role", choices=["worker", "all"])
    parser.add_argument("port", type=int)
    parser.add_argument("tokens", nargs="*")
    args = parser.parse_args()
    if args.die_after == "create":
        allegro.create_product_offer = _create_then_die
    elif args.die_after == "command":
        allegro.put_command = _put_command_then_die
    tokens = dict(pair.split("=", 1) for pair in args.tokens)
    role: Literal["worker", "all"] = args.role or ("worker" if args.die_after else "all")
    app = create_app(build(allegro_tokens=StaticTokens(tokens)), role)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)
