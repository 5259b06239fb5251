"""A service served over real HTTP (uvicorn in its own thread and event loop) on its own
database, for tests that talk to services as a client would: the API-wide tests of tests/api
and the CLI's tests, which run the installed `mci` against them."""

from __future__ import annotations

import importlib
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn

from mci_testing.infra import free_port
from shared.security import issue_service_token, issue_token
from shared.service import create_app


@dataclass
class Served:
    name: str
    url: str
    secret: str
    server: uvicorn.Server
    thread: threading.Thread

    def token(self, role: str) -> str:
        return issue_token(self.secret, f"test-{role}", role)  # type: ignore[arg-type]

    def service_headers(self, service: str = "offers") -> dict[str, str]:
        """A service token of a platform service (the callers auth's internal routes list)."""
        return {"Authorization": f"Bearer {issue_service_token(self.secret, service)}"}

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def serve(
    service: str,
    database_url: str,
    amqp_url: str,
    emulator_url: str,
    auth_url: str | None,
    *,
    settings: dict[str, Any] | None = None,
    build: dict[str, Any] | None = None,
) -> Served:
    """Start `service` (its `main.build(Settings(...), **build)`) on a free port.

    `settings` are extra Settings fields; `build` the keyword arguments of its `build`, e.g.
    `accounts=StaticAccounts(...)` (without it catalog and pricing ask `auth_url`)."""
    main = importlib.import_module(f"{service}.main")
    settings_module = importlib.import_module(f"{service}.settings")
    config = settings_module.Settings(
        database_url=database_url,
        amqp_url=amqp_url,
        allegro_api_url=emulator_url,
        allegro_auth_url=emulator_url,
        outbox_poll_interval_seconds=0.2,
        # Served stacks live for a whole session beside others: a small pool each.
        database_pool_size=1,
        **({"auth_url": auth_url} if auth_url else {}),
        **(settings or {}),
    )
    app = create_app(main.build(config, **(build or {})))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True, name=f"{service}-api")
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{service} did not start")
        time.sleep(0.05)
    secret = config.service_token_secret.get_secret_value()
    return Served(service, f"http://127.0.0.1:{port}", secret, server, thread)
