"""`python -m allegro_emulator`: serve the emulator with uvicorn (one worker by default)."""

from __future__ import annotations

import argparse
import asyncio
import gc
from typing import Literal

import uvicorn

from allegro_emulator.app import create_app
from allegro_emulator.config import EmulatorConfig


def _ports(rest: int, oauth: int) -> list[tuple[int, Literal["on", "off"]]]:
    return [(rest, "on"), (oauth, "off")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Allegro REST API and OAuth emulator")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--oauth-port", type=int, help="also serve (OAuth) on this port")
    parser.add_argument("--rest-prefix")
    parser.add_argument("--oauth-prefix")
    parser.add_argument("--admin-prefix")
    parser.add_argument("--snapshot-path")
    parser.add_argument("--no-rate-limits", action="store_true", help="turn every rate limit off")
    parser.add_argument(
        "--rate-limit-scale", type=float, help="compress rate-limit windows by this factor"
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    config = EmulatorConfig.from_env(
        host=args.host,
        port=args.port,
        oauth_port=args.oauth_port,
        rest_prefix=args.rest_prefix,
        oauth_prefix=args.oauth_prefix,
        admin_prefix=args.admin_prefix,
        snapshot_path=args.snapshot_path,
        rate_limit_scale=args.rate_limit_scale,
        rate_limits_enabled=False if args.no_rate_limits else None,
    )
    app = create_app(config)
    # The state is many small dicts that live long; collecting young objects less often is
    # about a quarter faster on the command paths (measured with bench/emulator.py).
    gc.set_threshold(50_000, 20, 100)
    if not config.oauth_port or config.oauth_port == config.port:
        uvicorn.run(
            app, host=config.host, port=config.port, log_level=args.log_level, access_log=False
        )
        return
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                app,
                host=config.host,
                port=port,
                log_level=args.log_level,
                access_log=False,
                lifespan=lifespan,
            )
        )
        # One lifespan only: a single ticker and a single snapshot save.
        for port, lifespan in _ports(config.port, config.oauth_port)
    ]

    async def serve_both() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    asyncio.run(serve_both())


if __name__ == "__main__":
    main()
