"""Static checks of the deployment files: Dockerfile, compose, RabbitMQ, Kubernetes, monitoring.

No Docker engine or cluster is needed: every file is parsed and checked against the platform's
fixed conventions (ports, probes, queues), so a file that loses one of them fails here.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

SERVICES: dict[str, int] = {
    "auth": 8001,
    "catalog": 8002,
    "pricing": 8003,
    "offers": 8004,
    "orders": 8005,
}
EMULATOR_PORT = 8400

# The RabbitMQ topology every service relies on: queue -> [(exchange, routing key)].
ACCOUNT_EVENTS = ["account.connected", "account.disconnected", "account.refresh-failed"]
TOPOLOGY: dict[str, list[tuple[str, str]]] = {
    "catalog.supplier-products": [("mci.upstream", "supplier.products")],
    "catalog.orders": [("mci.events", "order.received"), ("mci.events", "order.cancelled")],
    "pricing.catalog-updates": [("mci.events", "catalog.updated")],
    "offers.catalog-updates": [("mci.events", "catalog.updated")],
    "offers.prices": [("mci.events", "price.computed")],
    "offers.accounts": [("mci.events", key) for key in ACCOUNT_EVENTS],
    "orders.accounts": [("mci.events", key) for key in ACCOUNT_EVENTS],
    "orders.shipments": [("mci.upstream", "supplier.shipment")],
}
DELIVERY_LIMIT = 10
REGISTRY_HOSTS = (
    "pypi.org",
    "files.pythonhosted.org",
    "deb.debian.org",
    "registry.npmjs.org",
    "pypi.python.org",
)


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def queues_of(service: str) -> list[str]:
    return [q for q in TOPOLOGY if q.split(".", 1)[0] == service]


# ---------------------------------------------------------------------------------------------
# Dockerfile, .dockerignore and the image helpers


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def mci_image() -> ModuleType:
    return load_module(DEPLOY / "docker" / "mci_image.py", "mci_image_under_test")


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile)
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        word, _, rest = stripped.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def test_dockerfile_is_multi_stage_on_python_311_slim(dockerfile: str) -> None:
    steps = instructions(dockerfile)
    args = dict(a.split("=", 1) for kind, a in steps if kind == "ARG" and "=" in a and " " not in a)
    froms = [a for kind, a in steps if kind == "FROM"]
    assert len(froms) >= 2, "builder and runtime stages"
    for base in froms:
        image = base.split()[0]
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), image)
        assert resolved == "python:3.11-slim"
    assert any(kind == "ARG" and a.startswith("SERVICE") for kind, a in steps)


def test_dockerfile_installs_uv_with_pip_and_syncs_the_hashed_lock(dockerfile: str) -> None:
    runs = " ".join(a for kind, a in instructions(dockerfile) if kind == "RUN")
    assert re.search(r"pip install \"?uv", runs)
    assert "uv pip sync" in runs
    assert "--require-hashes" in runs
    assert "mci_image.py requirements" in runs
    assert "--no-deps" in runs


def test_dockerfile_runs_as_non_root_with_a_liveness_healthcheck(dockerfile: str) -> None:
    steps = instructions(dockerfile)
    runtime = steps[max(i for i, (kind, _) in enumerate(steps) if kind == "FROM") :]
    users = [a for kind, a in runtime if kind == "USER"]
    assert users, "the runtime stage sets USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    healthchecks = [a for kind, a in runtime if kind == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "healthcheck.py" in healthchecks[0]
    healthcheck = (DEPLOY / "docker" / "healthcheck.py").read_text(encoding="utf-8")
    assert 'PATH = "/health/live"' in healthcheck
    assert any(kind == "ENTRYPOINT" and "mci-entrypoint" in a for kind, a in runtime)


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert "**" in lines, "allow-list style"
    for needed in ("!requirements.lock", "!shared/", "!services/", "!sandbox/", "!deploy/docker/"):
        assert needed in lines
    assert "**/tests" in lines
    assert "**/.venv" in lines


@pytest.mark.parametrize("service", [*SERVICES, "emulator"])
def test_image_requirements_hold_only_runtime_dependencies(
    mci_image: ModuleType, service: str
) -> None:
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    text: str = mci_image.service_requirements(lock, service)
    names = {
        line.split("==")[0] for line in text.splitlines() if line and not line[0].isspace()
    } - {"#"}
    names = {n for n in names if not n.startswith("#")}
    assert not any(line.startswith("-e ") for line in text.splitlines())
    for dev_tool in ("pytest", "mypy", "ruff", "testcontainers", "openapi-core", "psutil"):
        assert dev_tool not in names
    assert {"fastapi", "uvicorn", "pydantic"} <= names
    if service == "emulator":
        assert "aio-pika" not in names
        assert "sqlalchemy" not in names
    else:
        assert {"aio-pika", "sqlalchemy", "asyncpg", "alembic", "prometheus-client"} <= names
    # Every kept requirement is still hash-pinned.
    blocks = re.split(r"\n(?=\S)", text.split("\n", 1)[1].strip())
    for block in blocks:
        assert "==" in block, block
        assert "--hash=sha256:" in block, block


def test_image_paths_install_only_the_service_and_shared(mci_image: ModuleType) -> None:
    for service in SERVICES:
        target = mci_image.TARGETS[service]
        assert target.paths == ("shared", f"services/{service}")
        assert target.port == SERVICES[service]
        assert (ROOT / f"services/{service}/pyproject.toml").exists()
    assert mci_image.TARGETS["emulator"].paths == ("sandbox/allegro",)
    assert mci_image.TARGETS["emulator"].module == "allegro_emulator"
    with pytest.raises(SystemExit):
        mci_image.get_target("nonsense")


def run_entrypoint(tmp_path: Path, service: str, *args: str) -> list[str]:
    """Run deploy/docker/entrypoint.sh with a fake `python` that prints what it was given."""
    fake = tmp_path / "python"
    fake.write_text(
        '#!/bin/sh\nprintf "%s\\n" "$@"\nprintf "HOST=%s\\n" "${CATALOG_HTTP_HOST:-}"\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "MCI_SERVICE": service}
    result = subprocess.run(
        ["sh", str(DEPLOY / "docker" / "entrypoint.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    return result.stdout.splitlines()


def test_entrypoint_starts_the_service_module(tmp_path: Path) -> None:
    assert run_entrypoint(tmp_path, "catalog") == ["-m", "catalog", "--role", "all", "HOST=0.0.0.0"]
    assert run_entrypoint(tmp_path, "catalog", "--role", "worker")[:4] == [
        "-m",
        "catalog",
        "--role",
        "worker",
    ]
    assert run_entrypoint(tmp_path, "emulator")[:6] == [
        "-m",
        "allegro_emulator",
        "--host",
        "0.0.0.0",
        "--port",
        "8400",
    ]


@pytest.fixture
def live_server() -> Iterator[tuple[int, list[str]]]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200 if self.path == "/health/live" else 404)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_gets_health_live(live_server: tuple[int, list[str]]) -> None:
    port, seen = live_server
    script = str(DEPLOY / "docker" / "healthcheck.py")
    env = {**os.environ, "MCI_SERVICE": "orders", "ORDERS_HTTP_PORT": str(port)}
    ok = subprocess.run([sys.executable, script], env=env, check=False, timeout=10)
    assert ok.returncode == 0
    assert seen == ["/health/live"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    env["ORDERS_HTTP_PORT"] = str(closed_port)
    down = subprocess.run(
        [sys.executable, script], env=env, check=False, timeout=10, capture_output=True
    )
    assert down.returncode == 1


# ---------------------------------------------------------------------------------------------
# No package registry address in any deployment file


def test_no_registry_urls_in_deploy_files() -> None:
    files = [ROOT / "Dockerfile", ROOT / ".dockerignore", ROOT / "docker-compose.yml"]
    files += [p for p in DEPLOY.rglob("*") if p.is_file()]
    for path in files:
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for host in REGISTRY_HOSTS:
            assert host not in text, f"{path.relative_to(ROOT)} names {host}"
