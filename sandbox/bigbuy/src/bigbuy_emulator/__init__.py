"""A stateful emulator of BigBuy's supplier API (see sandbox/bigbuy/README.md).

`bigbuy_emulator.seed` may be imported for seed data alone, so importing this package stays
light: the web app is loaded only when `create_app` is first used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EmulatorConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from bigbuy_emulator.app import create_app

        return create_app
    if name == "EmulatorConfig":
        from bigbuy_emulator.config import EmulatorConfig

        return EmulatorConfig
    raise AttributeError(name)
