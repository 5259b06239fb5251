"""Docker HEALTHCHECK: GET /health/live on this container's own HTTP port (stdlib only).

The port is `<SERVICE>_HTTP_PORT` (`ALLEGRO_EMULATOR_PORT`, `BIGBUY_EMULATOR_PORT` for the
emulators) when set, else the platform's default for MCI_SERVICE. Exit status 0 = healthy,
1 = unhealthy. The console, which has no /health/live, answers on /health.

The emulator has no /health/live yet, so for it the check falls back to its admin config
endpoint (`GET /__admin/config`), which answers as soon as the app serves requests.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_PORTS = {
    "auth": 8001,
    "catalog": 8002,
    "pricing": 8003,
    "offers": 8004,
    "orders": 8005,
    "bigbuy": 8006,
    "console": 8009,
    "emulator": 8400,
    "bigbuy-emulator": 8410,
}
PORT_VARIABLES = {"emulator": "ALLEGRO_EMULATOR_PORT", "bigbuy-emulator": "BIGBUY_EMULATOR_PORT"}
PATH = "/health/live"
FALLBACK_PATHS = {"emulator": ("/__admin/config",), "console": ("/health",)}


def port_for(service: str, environ: dict[str, str]) -> int:
    variable = PORT_VARIABLES.get(service, f"{service.upper()}_HTTP_PORT")
    override = environ.get(variable)
    if override:
        return int(override)
    return DEFAULT_PORTS[service]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return False


def main() -> int:
    service = os.environ.get("MCI_SERVICE", "")
    if service not in DEFAULT_PORTS:
        print(f"healthcheck: unknown MCI_SERVICE {service!r}", file=sys.stderr)
        return 1
    base = f"http://127.0.0.1:{port_for(service, dict(os.environ))}"
    for path in (PATH, *FALLBACK_PATHS.get(service, ())):
        if answers(base + path):
            return 0
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
