"""The worker role's loop: device-flow polls every tick, token refreshes every minute."""

from __future__ import annotations

import asyncio

from auth.deps import AuthDeps
from auth.handlers.connections import poll_device_flows
from auth.handlers.tokens import refresh_expiring
from shared.logs import get_logger

log = get_logger(__name__)


async def background(deps: AuthDeps) -> None:
    """The worker's loop: poll device flows every tick, refresh tokens before they expire."""
    last_refresh = 0.0
    loop = asyncio.get_running_loop()
    while True:
        try:
            await poll_device_flows(deps)
            if loop.time() - last_refresh > 60:
                last_refresh = loop.time()
                await refresh_expiring(deps)
        except Exception:
            log.exception("auth_background_failed")
        await asyncio.sleep(deps.settings.poll_tick_seconds)
