"""A stateful emulator of Allegro's REST API and OAuth server (see sandbox/allegro/README.md).

`allegro_emulator.seed` is imported by other packages for seed data, so importing this package
stays light: the web app is loaded only when `create_app` is first used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EmulatorConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from allegro_emulator.app import create_app

        return create_app
    if name == "EmulatorConfig":
        from allegro_emulator.config import EmulatorConfig

        return EmulatorConfig
    raise AttributeError(name)
