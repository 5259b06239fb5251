"""docker-compose.yml: parsed against the platform's conventions (infrastructure, emulator, every
service, healthchecks, loopback ports, the monitoring profile) and validated by Docker's own
compose model (Debian's docker-compose 1.29 checks a file without an engine); kept in step with
`make run`."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml

from mci_testing.deploy import (
    BACKENDS,
    BIGBUY_EMULATOR_PORT,
    CONSOLE_PORT,
    DEPLOY,
    EMULATOR_PORT,
    ROOT,
    SERVICES,
    load_module,
    run,
    tool,
)
from shared.service import ServiceRuntime, create_app

# Compose services built from the one Dockerfile that are not one of BACKENDS.
PEERS = {"emulator": EMULATOR_PORT, "bigbuy-emulator": BIGBUY_EMULATOR_PORT}
# Each service and connector runs as `<name>` (--role api) and `<name>-worker` (--role worker).
WORKERS = {f"{name}-worker": name for name in BACKENDS}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def published(service: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(host ip, host port, container port) of every published port; the host port may be a
    `${VAR:-default}` interpolation."""
    result = []
    for entry in service.get("ports", []):
        ip, rest = str(entry).split(":", 1)
        host, container = rest.rsplit(":", 1)
        result.append((ip, host, int(container)))
    return result


def test_compose_has_infra_emulator_and_every_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["rabbitmq"]["image"] == "rabbitmq:3.13-management"
    expected = {*BACKENDS, *WORKERS, *PEERS, "console", "postgres", "rabbitmq"}
    assert expected <= set(services)


def test_compose_infra_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["rabbitmq"]["healthcheck"]["test"] == [
        "CMD",
        "rabbitmq-diagnostics",
        "-q",
        "ping",
    ]


def test_compose_rabbitmq_loads_the_definitions(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["rabbitmq"]["volumes"]
    sources = {str(v).split(":")[0]: str(v).split(":")[1] for v in volumes}
    assert sources["./deploy/rabbitmq/definitions.json"].startswith("/etc/rabbitmq/definitions.d/")
    conf_target = sources["./deploy/rabbitmq/rabbitmq.conf"]
    assert conf_target.startswith("/etc/rabbitmq/conf.d/")
    conf = (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text(encoding="utf-8")
    assert "definitions.local.path = /etc/rabbitmq/definitions.d" in conf
    # Definitions are imported in file-name order: the user file must come first.
    users_target = sources["./deploy/rabbitmq/dev-users.json"]
    assert Path(users_target).name < Path(sources["./deploy/rabbitmq/definitions.json"]).name


@pytest.mark.parametrize("name", [*BACKENDS, *PEERS, "console"])
def test_compose_app_services(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    assert service["build"]["context"] == "."
    assert service["build"]["args"]["SERVICE"] == name
    health = service["healthcheck"]
    assert health["test"][0] in {"CMD", "CMD-SHELL"}
    assert "healthcheck.py" in " ".join(health["test"])
    port = {**BACKENDS, **PEERS, "console": CONSOLE_PORT}[name]
    assert published(service) == [("127.0.0.1", str(port), port)]
    env = env_of(service)
    if name in PEERS:
        variable = "ALLEGRO_EMULATOR_PORT" if name == "emulator" else "BIGBUY_EMULATOR_PORT"
        assert env[variable] == str(port)
        return
    if name == "console":
        assert env["CONSOLE_HTTP_PORT"] == str(port)
        assert env["CONSOLE_HTTP_HOST"] == "0.0.0.0"
        # The console reaches every service by its compose name, after each is healthy.
        for other, other_port in SERVICES.items():
            assert env[f"CONSOLE_{other.upper()}_URL"] == f"http://{other}:{other_port}"
            assert service["depends_on"][other]["condition"] == "service_healthy"
        return
    assert service["command"] == ["--role", "api"]
    upper = name.upper()
    assert env[f"{upper}_HTTP_PORT"] == str(port)
    assert env[f"{upper}_HTTP_HOST"] == "0.0.0.0"
    assert "@postgres:5432/" in env["DATABASE_ADMIN_URL"]
    assert env["AMQP_URL"].startswith("amqp://")
    assert "@rabbitmq:5672" in env["AMQP_URL"]
    assert env["ALLEGRO_API_URL"].endswith("http://emulator:8400}")
    assert env["ALLEGRO_AUTH_URL"].endswith("http://emulator:8400}")
    if name == "bigbuy":
        assert env["BIGBUY_API_URL"].endswith(
            f"http://bigbuy-emulator:{BIGBUY_EMULATOR_PORT}/rest}}"
        )
        assert service["depends_on"]["bigbuy-emulator"]["condition"] == "service_healthy"
    assert "MCI_SERVICE_TOKEN_SECRET" in env
    assert env["ENVIRONMENT"] == "development"
    depends = service["depends_on"]
    for infra in ("postgres", "rabbitmq"):
        assert depends[infra]["condition"] == "service_healthy"
    for other, condition in depends.items():
        expected = (
            "service_completed_successfully" if other == "emulator-setup" else "service_healthy"
        )
        assert condition["condition"] == expected, other


@pytest.mark.parametrize("worker", WORKERS)
def test_compose_runs_each_services_worker_beside_its_api(
    compose: dict[str, Any], worker: str
) -> None:
    """As on Kubernetes: the same image with `--role worker` (consumers, relay, background
    loops), the api's settings with migrations off (the api migrates), started once the api is
    healthy, its port not published (probes and /metrics inside the compose network)."""
    name = WORKERS[worker]
    api, service = compose["services"][name], compose["services"][worker]
    assert service["build"] == api["build"]
    assert service["image"] == api["image"]
    assert service["command"] == ["--role", "worker"]
    assert "ports" not in service
    assert service["healthcheck"] == api["healthcheck"]
    upper = name.upper()
    env, api_env = env_of(service), env_of(api)
    assert env.pop(f"{upper}_RUN_MIGRATIONS") == "false"
    assert f"{upper}_RUN_MIGRATIONS" not in api_env
    assert env == api_env
    depends = {other: c["condition"] for other, c in service["depends_on"].items()}
    assert depends.pop(name) == "service_healthy"
    # everything the api waits for, but the one-shot app registration (done before the api)
    api_depends = {o: c["condition"] for o, c in api["depends_on"].items() if o != "emulator-setup"}
    assert depends == api_depends


def route_paths(routes: Iterable[Any]) -> Iterator[str]:
    """Path templates of an app's routes, through the routers it includes."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from route_paths(included.routes)
        else:
            yield route.path


@pytest.mark.parametrize("name", BACKENDS)
def test_the_worker_role_runs_what_the_api_role_does_not(name: str) -> None:
    """What the two containers split: the api serves the routes, the worker runs the consumers,
    the outbox relay and the background loops (and no route of the service)."""
    module = "bigbuy_connector" if name == "bigbuy" else name
    definition = importlib.import_module(f"{module}.main").build()
    api, worker = ServiceRuntime(definition, "api"), ServiceRuntime(definition, "worker")
    assert worker.runs_worker and not api.runs_worker
    routes = {path for router in definition.routers for path in route_paths(router.routes)}
    assert routes
    api_paths = set(route_paths(create_app(definition, "api").routes))
    worker_paths = set(route_paths(create_app(definition, "worker").routes))
    assert routes <= api_paths
    assert not routes & worker_paths
    assert {"/metrics", "/health/live", "/health/ready"} <= worker_paths


def test_compose_registers_the_allegro_app_with_the_emulator_before_auth(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    setup = services["emulator-setup"]
    assert setup["depends_on"]["emulator"]["condition"] == "service_healthy"
    assert setup["restart"] == "no"
    mounts = {str(v).split(":")[0]: str(v).split(":")[1] for v in setup["volumes"]}
    script = mounts["./deploy/docker/emulator_setup.py"]
    assert setup["command"] == ["python", script]
    assert (ROOT / "deploy/docker/emulator_setup.py").is_file()
    env = env_of(setup)
    auth_env = env_of(services["auth"])
    assert env["ALLEGRO_CLIENT_ID"] == auth_env["ALLEGRO_CLIENT_ID"]
    assert env["ALLEGRO_CLIENT_SECRET"] == auth_env["ALLEGRO_CLIENT_SECRET"]
    assert env["EMULATOR_URL"] == f"http://emulator:{EMULATOR_PORT}"
    condition = services["auth"]["depends_on"]["emulator-setup"]["condition"]
    assert condition == "service_completed_successfully"


def test_compose_auth_gets_its_secrets(compose: dict[str, Any]) -> None:
    env = env_of(compose["services"]["auth"])
    for key in (
        "AUTH_TOKEN_ENCRYPTION_KEYS",
        "AUTH_BOOTSTRAP_ADMIN_KEY",
        "MCI_SERVICE_TOKEN_SECRET",
        "ALLEGRO_CLIENT_ID",
        "ALLEGRO_CLIENT_SECRET",
    ):
        assert env[key].startswith(f"${{{key}:-"), key


def test_compose_every_published_port_is_loopback_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for ip, _, _ in published(service):
            assert ip == "127.0.0.1", name


def test_compose_monitoring_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
    prom_mounts = " ".join(services["prometheus"]["volumes"])
    assert "./deploy/prometheus:/etc/prometheus" in prom_mounts
    graf_mounts = " ".join(services["grafana"]["volumes"])
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning" in graf_mounts
    assert "./deploy/grafana/dashboards:/etc/grafana/dashboards" in graf_mounts
    for name, service in services.items():
        if name not in {"prometheus", "grafana"}:
            assert "profiles" not in service, f"{name} must start without a profile"


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
    expected = {"postgres", "rabbitmq", "emulator-setup", "prometheus", "grafana", "console"}
    assert services == {*BACKENDS, *WORKERS, *PEERS, *expected}


@pytest.fixture(scope="module")
def resolved_compose() -> dict[str, Any]:
    """The compose file as docker-compose resolves it (interpolated defaults, merged anchors)."""
    result = compose_config(ROOT / "docker-compose.yml", "--profile", "monitoring", "config")
    assert result.returncode == 0, result.stderr
    data = yaml.safe_load(result.stdout)
    assert isinstance(data, dict)
    return data


def compose_ports(service: dict[str, Any]) -> dict[int, int]:
    """container port -> published host port, from docker-compose's resolved form
    (`ip:host:container`, defaults interpolated)."""
    ports = {}
    for entry in service.get("ports", []):
        ip, host, container = str(entry).split(":")
        assert ip == "127.0.0.1"
        ports[int(container.removesuffix("/tcp"))] = int(host)
    return ports


@pytest.fixture(scope="module")
def image_modules() -> dict[str, str]:
    """Image target (the compose build arg SERVICE) -> the Python module the image runs."""
    mci_image = load_module(DEPLOY / "docker" / "mci_image.py", "mci_image_for_compose")
    return {name: target.module for name, target in mci_image.TARGETS.items()}


def test_compose_runs_what_make_run_runs(
    resolved_compose: dict[str, Any],
    devstack: ModuleType,
    image_modules: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """compose and `make run` (deploy/local/devstack.py) start the same components (matched by
    the Python module each runs) on the same ports with the same settings, so what works locally
    works in compose. The component list is read from devstack itself: when `make run` gains a
    component (the BigBuy emulator and connector), compose must already run it."""
    services = resolved_compose["services"]
    # The workers publish no port: each module's published container is the one compared.
    by_module = {
        image_modules[service["build"]["args"]["SERVICE"]]: name
        for name, service in services.items()
        if "build" in service and name != "emulator-setup" and name not in WORKERS
    }
    for worker, name in WORKERS.items():
        assert services[worker]["build"] == services[name]["build"], worker
    local = [*devstack.COMPONENTS, devstack.CONSOLE]
    for component in local:
        assert component.module in by_module, f"compose does not run {component.module}"
        service = services[by_module[component.module]]
        assert compose_ports(service) == {component.port: component.port}, component.name
    # Everything compose builds, make run starts; except the BigBuy pair, until devstack has it.
    local_modules = {c.module for c in local}
    bigbuy_pair = {"bigbuy_connector", "bigbuy_emulator"}
    if not bigbuy_pair & local_modules:
        local_modules |= bigbuy_pair
    assert set(by_module) == local_modules

    # The settings `make run` gives every service, read from devstack itself.
    for name in list(os.environ):
        monkeypatch.delenv(name)
    monkeypatch.setattr(devstack, "development_admin_key", lambda: "mcik_devstack_x")
    local_env = devstack.environment()
    emulator_port = devstack.EMULATOR_PORT
    for name in [*BACKENDS, *WORKERS]:
        env = services[name]["environment"]
        assert env["ENVIRONMENT"] == local_env["ENVIRONMENT"] == "development", name
        for key in ("ALLEGRO_API_URL", "ALLEGRO_AUTH_URL"):
            assert local_env[key] == f"http://127.0.0.1:{emulator_port}"
            assert env[key] == f"http://emulator:{emulator_port}", (name, key)
    if "BIGBUY_API_URL" in local_env:
        local_url = httpx.URL(local_env["BIGBUY_API_URL"])
        compose_url = httpx.URL(services["bigbuy"]["environment"]["BIGBUY_API_URL"])
        assert (local_url.port, local_url.path) == (compose_url.port, compose_url.path)
    assert "AUTH_BOOTSTRAP_ADMIN_KEY" in local_env
    assert "AUTH_BOOTSTRAP_ADMIN_KEY" in services["auth"]["environment"]


@pytest.mark.parametrize("name", [*BACKENDS, *WORKERS, "console"])
def test_compose_sets_only_variables_the_service_reads(
    resolved_compose: dict[str, Any], config_reference: ModuleType, name: str
) -> None:
    """A misspelt or outdated variable (AUTH_TOKEN_ENCRYPTION_KEY for
    AUTH_TOKEN_ENCRYPTION_KEYS, a client secret for a service with no such setting) would be
    ignored silently by the service; here it fails."""
    env = resolved_compose["services"][name]["environment"]
    unknown = set(env) - config_reference.env_names(WORKERS.get(name, name))
    assert not unknown, f"{name} does not read {sorted(unknown)}"


def test_compose_secrets_are_development_placeholders_only(
    resolved_compose: dict[str, Any],
) -> None:
    """Every service runs as development, the only mode that accepts the defaults."""
    for name in [*BACKENDS, *WORKERS]:
        assert resolved_compose["services"][name]["environment"]["ENVIRONMENT"] == "development"
    auth = resolved_compose["services"]["auth"]["environment"]
    assert "AUTH_TOKEN_ENCRYPTION_KEYS" in auth


def test_compose_postgres_creates_one_database_per_service(
    resolved_compose: dict[str, Any],
) -> None:
    volumes = resolved_compose["services"]["postgres"]["volumes"]
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in volumes}
    script = Path(mounts["/docker-entrypoint-initdb.d/10-mci.sql"])
    created = re.findall(r"^CREATE DATABASE (\w+);$", script.read_text(encoding="utf-8"), re.M)
    assert created == [f"mci_{s}" for s in BACKENDS]


def test_compose_rabbitmq_runs_the_management_and_prometheus_plugins(
    resolved_compose: dict[str, Any],
) -> None:
    rabbitmq = resolved_compose["services"]["rabbitmq"]
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in rabbitmq["volumes"]}
    plugins = Path(mounts["/etc/rabbitmq/enabled_plugins"]).read_text(encoding="utf-8")
    assert plugins.strip() == "[rabbitmq_management,rabbitmq_prometheus]."
    assert 15692 in compose_ports(rabbitmq)


def test_compose_every_service_reaches_auth_and_auth_accepts_them(
    resolved_compose: dict[str, Any],
) -> None:
    """Operator API keys are checked at auth: each service must find auth by its compose name
    (127.0.0.1, the default, is the service's own container) and be a caller auth accepts."""
    services = resolved_compose["services"]
    for name in [*BACKENDS, *WORKERS]:
        env = services[name]["environment"]
        prefix = WORKERS.get(name, name).upper()
        url = env.get(f"{prefix}_AUTH_URL", env.get("MCI_AUTH_URL"))
        assert url == f"http://auth:{BACKENDS['auth']}", name
    callers = services["auth"]["environment"]["AUTH_INTROSPECTION_CALLERS"].split(",")
    assert set(callers) == set(BACKENDS) - {"auth"}
