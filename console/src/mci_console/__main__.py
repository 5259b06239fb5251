"""`python -m mci_console [--host H] [--port P]`: the console's server (uvicorn)."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from mci_console.app import create_app
from mci_console.settings import ConsoleSettings


def main() -> None:
    parser = argparse.ArgumentParser(prog="mci-console")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    settings = ConsoleSettings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s %(message)s")
    # uvicorn's access log would print query strings (an OAuth callback's code): the app logs
    # method, path and status instead.
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.http_host,
        port=args.port or settings.http_port,
        access_log=False,
        log_config=None,
    )


if __name__ == "__main__":
    main()
