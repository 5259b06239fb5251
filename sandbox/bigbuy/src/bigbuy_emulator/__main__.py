"""`python -m bigbuy_emulator`: serve the emulator with uvicorn (one worker)."""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from bigbuy_emulator.app import create_app
from bigbuy_emulator.config import EmulatorConfig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="BigBuy API emulator")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--catalogue-size", type=int, help="number of seeded products")
    parser.add_argument("--no-rate-limits", action="store_true", help="turn every limit off")
    parser.add_argument("--rate-limit-scale", type=float, help="shrink every window by this factor")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "catalogue_size": args.catalogue_size,
        "rate_limit_scale": args.rate_limit_scale,
        "rate_limits_enabled": False if args.no_rate_limits else None,
    }
    # Command-line values win over the environment (BIGBUY_EMULATOR_*), which wins over defaults.
    config = EmulatorConfig(**{k: v for k, v in overrides.items() if v is not None})
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        log_level=args.log_level,
        access_log=False,  # request lines are noise here; the key is never logged either way
    )


if __name__ == "__main__":
    main()
