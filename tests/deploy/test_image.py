"""The image: the one Dockerfile pattern, .dockerignore, the image helpers (entrypoint,
healthcheck, emulator setup), hadolint on every Dockerfile, and no package registry address in
anything the image is built from."""

from __future__ import annotations

import json
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

from mci_testing.deploy import (
    BACKENDS,
    BIGBUY_EMULATOR_PORT,
    DEPLOY,
    REGISTRY_SETTINGS,
    ROOT,
    SERVICES,
    load_module,
    run,
    tool,
)


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
    # Without the workspace root in the image, `{ workspace = true }` sources must be ignored.
    assert "--no-sources" in runs


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
    for needed in (
        "!requirements.lock",
        "!shared/",
        "!services/",
        "!sandbox/",
        "!connectors/",
        "!console/",
        "!deploy/docker/",
    ):
        assert needed in lines
    assert "**/tests" in lines
    assert "**/.venv" in lines


@pytest.mark.parametrize("service", [*BACKENDS, "emulator", "bigbuy-emulator", "console"])
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
    if service not in BACKENDS:
        # The emulators and the console hold no database and no broker connection.
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
    bigbuy = mci_image.TARGETS["bigbuy"]
    assert bigbuy.paths == ("shared", "connectors/bigbuy")
    assert (bigbuy.module, bigbuy.port) == ("bigbuy_connector", BACKENDS["bigbuy"])
    emulator = mci_image.TARGETS["bigbuy-emulator"]
    assert (emulator.paths, emulator.port) == (("sandbox/bigbuy",), BIGBUY_EMULATOR_PORT)
    console = mci_image.TARGETS["console"]
    assert (console.paths, console.module, console.port) == (("console",), "mci_console", 8009)
    for target in mci_image.TARGETS.values():
        for path in target.paths:
            assert (ROOT / path / "pyproject.toml").exists(), path
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
    assert run_entrypoint(tmp_path, "bigbuy")[:4] == ["-m", "bigbuy_connector", "--role", "all"]
    assert run_entrypoint(tmp_path, "bigbuy-emulator")[:6] == [
        "-m",
        "bigbuy_emulator",
        "--host",
        "0.0.0.0",
        "--port",
        "8410",
    ]
    assert run_entrypoint(tmp_path, "console")[:6] == [
        "-m",
        "mci_console",
        "--host",
        "0.0.0.0",
        "--port",
        "8009",
    ]


@pytest.fixture
def live_server() -> Iterator[tuple[int, list[str], set[str]]]:
    """A fake service: answers 200 on the paths in the returned set (mutable), 404 elsewhere."""
    seen: list[str] = []
    ok_paths = {"/health/live"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200 if self.path in ok_paths else 404)
            self.end_headers()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(f"POST {self.path} {self.headers['Content-Type']} {body.decode()}")
            self.send_response(201 if self.path in ok_paths else 404)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen, ok_paths
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_falls_back_for_the_emulator_only(
    live_server: tuple[int, list[str], set[str]],
) -> None:
    port, seen, ok_paths = live_server
    script = str(DEPLOY / "docker" / "healthcheck.py")
    ok_paths.clear()
    ok_paths.add("/__admin/config")
    env = {**os.environ, "MCI_SERVICE": "emulator", "ALLEGRO_EMULATOR_PORT": str(port)}
    emulator = subprocess.run([sys.executable, script], env=env, check=False, timeout=10)
    assert emulator.returncode == 0
    assert seen == ["/health/live", "/__admin/config"]
    seen.clear()
    env = {**os.environ, "MCI_SERVICE": "pricing", "PRICING_HTTP_PORT": str(port)}
    service = subprocess.run(
        [sys.executable, script], env=env, check=False, timeout=10, capture_output=True
    )
    assert service.returncode == 1, "a service must answer on /health/live itself"
    assert seen == ["/health/live"]


def test_healthcheck_finds_the_console_and_the_bigbuy_emulator(
    live_server: tuple[int, list[str], set[str]],
) -> None:
    """The console answers on /health only; the BigBuy emulator on /health/live, on the port
    BIGBUY_EMULATOR_PORT names."""
    port, seen, ok_paths = live_server
    script = str(DEPLOY / "docker" / "healthcheck.py")
    ok_paths.clear()
    ok_paths.add("/health")
    env = {**os.environ, "MCI_SERVICE": "console", "CONSOLE_HTTP_PORT": str(port)}
    console = subprocess.run([sys.executable, script], env=env, check=False, timeout=10)
    assert console.returncode == 0
    assert seen[-1] == "/health"
    ok_paths.clear()
    ok_paths.add("/health/live")
    seen.clear()
    env = {**os.environ, "MCI_SERVICE": "bigbuy-emulator", "BIGBUY_EMULATOR_PORT": str(port)}
    emulator = subprocess.run([sys.executable, script], env=env, check=False, timeout=10)
    assert emulator.returncode == 0
    assert seen == ["/health/live"]


def test_emulator_setup_registers_the_client(
    live_server: tuple[int, list[str], set[str]],
) -> None:
    port, seen, ok_paths = live_server
    ok_paths.add("/__admin/clients")
    env = {
        **os.environ,
        "EMULATOR_URL": f"http://127.0.0.1:{port}",
        "ALLEGRO_CLIENT_ID": "id-1",
        "ALLEGRO_CLIENT_SECRET": "secret-1",
    }
    script = str(DEPLOY / "docker" / "emulator_setup.py")
    result = subprocess.run(
        [sys.executable, script], env=env, check=False, timeout=10, capture_output=True
    )
    assert result.returncode == 0, result.stderr
    method, path, content_type, body = seen[0].split(" ", 3)
    assert (method, path, content_type) == ("POST", "/__admin/clients", "application/json")
    assert json.loads(body) == {
        "clientId": "id-1",
        "clientSecret": "secret-1",
        "name": "mci platform",
    }


def test_healthcheck_gets_health_live(live_server: tuple[int, list[str], set[str]]) -> None:
    port, seen, _ = live_server
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


def test_no_registry_urls_in_deploy_files() -> None:
    files = [ROOT / "Dockerfile", ROOT / ".dockerignore", ROOT / "docker-compose.yml"]
    files += [p for p in DEPLOY.rglob("*") if p.is_file()]
    files += [ROOT / "pyproject.toml", *ROOT.glob("*/pyproject.toml")]
    files += [*ROOT.glob("services/*/pyproject.toml"), *ROOT.glob("sandbox/*/pyproject.toml")]
    for path in files:
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for setting in REGISTRY_SETTINGS:
            assert setting not in text, f"{path.relative_to(ROOT)} configures a registry"
    lock = (ROOT / "requirements.lock").read_text()
    assert "://" not in lock, "requirements.lock must name versions and hashes, no addresses"


def dockerfiles() -> list[Path]:
    skip = {".venv", ".git", "node_modules"}
    return sorted(
        path
        for path in ROOT.rglob("*Dockerfile*")
        if path.is_file() and not skip & set(path.relative_to(ROOT).parts)
    )


def test_there_is_one_dockerfile_pattern() -> None:
    assert dockerfiles() == [ROOT / "Dockerfile"]


@pytest.mark.parametrize("path", dockerfiles(), ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint_passes(path: Path) -> None:
    result = run(tool("hadolint"), "--no-color", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /app && pip install flask\n", encoding="utf-8")
    result = run(tool("hadolint"), "--no-color", str(bad))
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest tag
    assert "DL3003" in result.stdout  # cd instead of WORKDIR
