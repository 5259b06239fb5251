"""The deployment files checked by the real tools: Docker's compose model, hadolint, kustomize,
kubernetes-validate, KEDA's own CRD schema, promtool.

The Debian tools (docker-compose, promtool) come from `make tools`; hadolint,
kubernetes-validate and check-jsonschema from requirements.lock. A missing tool fails its test
with the command that installs it: a skipped check would pass for nothing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
VENV_BIN = Path(sys.executable).parent
KUBERNETES_VERSION = "1.32.0"
KEDA_CRD = Path(__file__).parent / "schemas" / "keda.sh_scaledobjects.yaml"
APP_SERVICES = ("auth", "catalog", "pricing", "offers", "orders")

# The tools, and what installs each one.
DEBIAN_TOOLS = {"docker-compose": "make tools", "promtool": "make tools", "kubectl": "make tools"}
PYTHON_TOOLS = ("hadolint", "kubernetes-validate", "check-jsonschema")


def tool(name: str) -> str:
    """The path of `name`, or a failure naming what installs it."""
    if name in PYTHON_TOOLS:
        path = VENV_BIN / name
        if path.exists():
            return str(path)
        found = shutil.which(name)
        if found:
            return found
        pytest.fail(f"{name} is missing: run `make install` (it is in requirements.lock)")
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: run `make tools` (as root it installs it)")
    return found


def run(*args: str, cwd: Path = ROOT, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, input=stdin, capture_output=True, text=True, check=False, timeout=120
    )


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------
# docker compose: Docker's own compose model (docker-compose 1.29 validates without an engine)


def compose_config(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # --project-directory: relative mounts resolve against the repository, wherever the file is.
    return run(tool("docker-compose"), "--project-directory", str(ROOT), "-f", str(path), *extra)


def test_docker_compose_validates_the_compose_file() -> None:
    result = compose_config(ROOT / "docker-compose.yml", "config", "-q")
    assert result.returncode == 0, result.stderr


def test_docker_compose_rejects_what_its_model_does_not_know(tmp_path: Path) -> None:
    """The check has teeth: a key outside Compose v1's model (the top-level `name` the file
    had) and a healthcheck condition on a service that does not exist both fail."""
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    named = tmp_path / "named.yml"
    named.write_text("name: mci\n" + text, encoding="utf-8")
    result = compose_config(named, "config", "-q")
    assert result.returncode != 0
    assert "name" in result.stderr
    dangling = tmp_path / "dangling.yml"
    data = yaml.safe_load(text)
    data["services"]["catalog"]["depends_on"]["nowhere"] = {"condition": "service_healthy"}
    dangling.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = compose_config(dangling, "config", "-q")
    assert result.returncode != 0
    assert "nowhere" in result.stderr


def test_docker_compose_lists_every_service_with_the_monitoring_profile() -> None:
    result = compose_config(
        ROOT / "docker-compose.yml", "--profile", "monitoring", "config", "--services"
    )
    assert result.returncode == 0, result.stderr
    services = set(result.stdout.split())
    expected = {"postgres", "rabbitmq", "emulator", "emulator-setup", "prometheus", "grafana"}
    assert services == {*APP_SERVICES, *expected}


@pytest.fixture(scope="module")
def resolved_compose() -> dict[str, Any]:
    """The compose file as docker-compose resolves it (interpolated defaults, merged anchors)."""
    result = compose_config(ROOT / "docker-compose.yml", "--profile", "monitoring", "config")
    assert result.returncode == 0, result.stderr
    data = yaml.safe_load(result.stdout)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def devstack() -> ModuleType:
    return load_module(DEPLOY / "local" / "devstack.py", "mci_devstack")


@pytest.fixture(scope="module")
def config_reference() -> ModuleType:
    return load_module(DEPLOY / "config_reference.py", "mci_config_reference")


def compose_ports(service: dict[str, Any]) -> dict[int, int]:
    """container port -> published host port, from docker-compose's resolved form
    (`ip:host:container`, defaults interpolated)."""
    ports = {}
    for entry in service.get("ports", []):
        ip, host, container = str(entry).split(":")
        assert ip == "127.0.0.1"
        ports[int(container.removesuffix("/tcp"))] = int(host)
    return ports


def test_compose_runs_what_make_run_runs(
    resolved_compose: dict[str, Any],
    devstack: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """compose and `make run` (deploy/local/devstack.py) start the same components on the same
    ports with the same settings, so what works locally works in compose."""
    services = resolved_compose["services"]
    for component in devstack.COMPONENTS:
        service = services[component.name]
        assert compose_ports(service) == {component.port: component.port}, component.name
        env = service["environment"]
        if component.name == "emulator":
            assert env["ALLEGRO_EMULATOR_PORT"] == str(component.port)
            continue
        assert env[f"{component.name.upper()}_HTTP_PORT"] == str(component.port)
    app_services = {
        name for name, service in services.items() if "build" in service and "command" in service
    } - {"emulator-setup"}
    assert app_services == {c.name for c in devstack.COMPONENTS} - {"emulator"}

    # The settings `make run` gives every service, read from devstack itself.
    for name in list(os.environ):
        monkeypatch.delenv(name)
    monkeypatch.setattr(devstack, "development_admin_key", lambda: "mcik_devstack_x")
    local = devstack.environment()
    emulator_port = devstack.EMULATOR_PORT
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["ENVIRONMENT"] == local["ENVIRONMENT"] == "development", name
        for key in ("ALLEGRO_API_URL", "ALLEGRO_AUTH_URL"):
            assert local[key] == f"http://127.0.0.1:{emulator_port}"
            assert env[key] == f"http://emulator:{emulator_port}", (name, key)
    assert "AUTH_BOOTSTRAP_ADMIN_KEY" in local
    assert "AUTH_BOOTSTRAP_ADMIN_KEY" in services["auth"]["environment"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_compose_sets_only_variables_the_service_reads(
    resolved_compose: dict[str, Any], config_reference: ModuleType, name: str
) -> None:
    """A misspelt or outdated variable (AUTH_TOKEN_ENCRYPTION_KEY for
    AUTH_TOKEN_ENCRYPTION_KEYS, a client secret for a service with no such setting) would be
    ignored silently by the service; here it fails."""
    env = resolved_compose["services"][name]["environment"]
    unknown = set(env) - config_reference.env_names(name)
    assert not unknown, f"{name} does not read {sorted(unknown)}"


def test_compose_secrets_are_development_placeholders_only(
    resolved_compose: dict[str, Any],
) -> None:
    """Every service runs as development, the only mode that accepts the defaults."""
    for name in APP_SERVICES:
        assert resolved_compose["services"][name]["environment"]["ENVIRONMENT"] == "development"
    auth = resolved_compose["services"]["auth"]["environment"]
    assert "AUTH_TOKEN_ENCRYPTION_KEYS" in auth


# ---------------------------------------------------------------------------------------------
# Dockerfiles: hadolint


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
