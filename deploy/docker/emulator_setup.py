"""Register the platform's Allegro app (Client ID and secret) with the emulator (stdlib only).

docker compose runs this once, after the emulator is healthy and before auth starts, so that
auth's OAuth calls to the emulator use the same ALLEGRO_CLIENT_ID / ALLEGRO_CLIENT_SECRET as
real Allegro would. The emulator keeps its state in memory: after restarting the emulator alone,
run `docker compose up -d emulator-setup` again.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request


def register_client(base_url: str, client_id: str, client_secret: str) -> int:
    body = json.dumps(
        {"clientId": client_id, "clientSecret": client_secret, "name": "mci platform"}
    ).encode()
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/__admin/clients",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def main() -> int:
    base_url = os.environ.get("EMULATOR_URL", "http://emulator:8400")
    client_id = os.environ.get("ALLEGRO_CLIENT_ID", "")
    client_secret = os.environ.get("ALLEGRO_CLIENT_SECRET", "")
    if not client_id or not client_secret:
        print(
            "emulator-setup: ALLEGRO_CLIENT_ID and ALLEGRO_CLIENT_SECRET are required",
            file=sys.stderr,
        )
        return 1
    try:
        status = register_client(base_url, client_id, client_secret)
    except (urllib.error.URLError, OSError) as exc:
        print(f"emulator-setup: {base_url}: {exc}", file=sys.stderr)
        return 1
    print(f"emulator-setup: registered client {client_id} ({status})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
