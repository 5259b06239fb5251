"""A stateful emulator of Allegro's REST API and OAuth server (see sandbox/allegro/README.md)."""

from allegro_emulator.app import create_app
from allegro_emulator.config import EmulatorConfig

__all__ = ["EmulatorConfig", "create_app"]
