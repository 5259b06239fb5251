"""Static checks of the deployment files: Dockerfile, compose, RabbitMQ, Kubernetes, monitoring.

No Docker engine or cluster is needed: every file is parsed and checked against the platform's
fixed conventions (ports, probes, queues), so a file that loses one of them fails here.
"""

from __future__ import annotations

import importlib.util
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
import yaml

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
    "orders.shipments": [
        ("mci.upstream", "supplier.shipment"),
        ("mci.upstream", "supplier.fulfillment"),
    ],
}
DELIVERY_LIMIT = 100  # the broker's backstop; the consumer counts handler failures itself
# DLQs are classic durable queues, as shared/messaging/topology.py declares them (RabbitMQ 3.10
# drops messages dead-lettered into quorum queues).
DLQ_ARGUMENTS = {"x-queue-type": "classic"}
# How a package registry's address gets into a file (this test names no registry itself).
REGISTRY_SETTINGS = ("index-url", "find-links", "trusted-host", "registry=", "[[tool.uv.index]]")


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


# ---------------------------------------------------------------------------------------------
# docker-compose.yml


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
    assert {*SERVICES, "emulator", "postgres", "rabbitmq"} <= set(services)


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


@pytest.mark.parametrize("name", [*SERVICES, "emulator"])
def test_compose_app_services(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    assert service["build"]["context"] == "."
    assert service["build"]["args"]["SERVICE"] == name
    health = service["healthcheck"]
    assert health["test"][0] in {"CMD", "CMD-SHELL"}
    assert "healthcheck.py" in " ".join(health["test"])
    port = SERVICES.get(name, EMULATOR_PORT)
    assert published(service) == [("127.0.0.1", str(port), port)]
    env = env_of(service)
    if name == "emulator":
        assert env["ALLEGRO_EMULATOR_PORT"] == str(port)
        return
    assert service["command"] == ["--role", "all"]
    upper = name.upper()
    assert env[f"{upper}_HTTP_PORT"] == str(port)
    assert env[f"{upper}_HTTP_HOST"] == "0.0.0.0"
    assert "@postgres:5432/" in env["DATABASE_ADMIN_URL"]
    assert env["AMQP_URL"].startswith("amqp://")
    assert "@rabbitmq:5672" in env["AMQP_URL"]
    assert env["ALLEGRO_API_URL"].endswith("http://emulator:8400}")
    assert env["ALLEGRO_AUTH_URL"].endswith("http://emulator:8400}")
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


# ---------------------------------------------------------------------------------------------
# deploy/rabbitmq/definitions.json


@pytest.fixture(scope="module")
def definitions() -> dict[str, Any]:
    data = json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_definitions_exchanges(definitions: dict[str, Any]) -> None:
    exchanges = {e["name"]: e for e in definitions["exchanges"]}
    assert exchanges["mci.events"]["type"] == "topic"
    assert exchanges["mci.upstream"]["type"] == "topic"
    assert exchanges["mci.dlx"]["type"] == "direct"
    for exchange in exchanges.values():
        assert exchange["durable"] is True
        assert exchange["vhost"] == "/"


@pytest.mark.parametrize("queue", list(TOPOLOGY))
def test_definitions_queue_dlq_and_bindings(definitions: dict[str, Any], queue: str) -> None:
    queues = {q["name"]: q for q in definitions["queues"]}
    main = queues[queue]
    assert main["durable"] is True
    # Exactly what shared/ declares: any other argument would make the service's own
    # declaration fail with PRECONDITION_FAILED (inequivalent arg).
    assert main["arguments"] == {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": "mci.dlx",
        "x-dead-letter-routing-key": queue,
    }
    dlq = queues[f"{queue}.dlq"]
    assert dlq["durable"] is True
    assert dlq["arguments"] == DLQ_ARGUMENTS
    bindings = {
        (b["source"], b["routing_key"])
        for b in definitions["bindings"]
        if b["destination"] == queue and b["destination_type"] == "queue"
    }
    assert bindings == set(TOPOLOGY[queue])
    dlq_bindings = {
        (b["source"], b["routing_key"])
        for b in definitions["bindings"]
        if b["destination"] == f"{queue}.dlq"
    }
    assert dlq_bindings == {("mci.dlx", queue)}


def test_definitions_match_what_shared_declares(definitions: dict[str, Any]) -> None:
    """definitions.json and shared/messaging/topology.py must agree argument for argument."""
    topology = pytest.importorskip("shared.messaging.topology")
    queues = {q["name"]: q for q in definitions["queues"]}
    for name in TOPOLOGY:
        spec = topology.QueueSpec(name=name, bindings=tuple(TOPOLOGY[name]))
        assert queues[name]["arguments"] == spec.queue_arguments()
        assert queues[spec.dlq]["arguments"] == topology.DLQ_ARGUMENTS
    assert topology.DEAD_LETTER_EXCHANGE == "mci.dlx"


@pytest.mark.parametrize("service", list(SERVICES))
def test_definitions_cover_each_services_subscriptions(
    definitions: dict[str, Any], service: str
) -> None:
    """Every queue a service subscribes to is exported, with the same bindings and arguments."""
    consumer = pytest.importorskip(f"{service}.consumer")
    queues = {q["name"]: q for q in definitions["queues"]}
    for subscription in consumer.SUBSCRIPTIONS:
        spec = subscription.queue
        assert spec.name in queues, f"{service} consumes {spec.name}, missing from definitions"
        assert queues[spec.name]["arguments"] == spec.queue_arguments()
        exported = {
            (b["source"], b["routing_key"])
            for b in definitions["bindings"]
            if b["destination"] == spec.name
        }
        assert exported == set(spec.bindings), spec.name


def test_definitions_declare_no_unknown_queues(definitions: dict[str, Any]) -> None:
    expected = set(TOPOLOGY) | {f"{q}.dlq" for q in TOPOLOGY}
    assert {q["name"] for q in definitions["queues"]} == expected


@pytest.mark.parametrize("queue", list(TOPOLOGY))
def test_definitions_dead_letter_policy(definitions: dict[str, Any], queue: str) -> None:
    matching = [
        p
        for p in definitions["policies"]
        if re.fullmatch(p["pattern"], queue) and p["apply-to"] in {"queues", "quorum_queues"}
    ]
    assert len(matching) == 1, "exactly one policy applies to a queue"
    policy = matching[0]["definition"]
    assert policy["dead-letter-exchange"] == "mci.dlx"
    assert policy["dead-letter-routing-key"] == queue
    assert policy["delivery-limit"] == DELIVERY_LIMIT
    assert policy["dead-letter-strategy"] == "at-least-once"
    assert policy["overflow"] == "reject-publish"
    # The policy must not also catch the DLQ (no dead-lettering out of a DLQ).
    for p in definitions["policies"]:
        assert not re.fullmatch(p["pattern"], f"{queue}.dlq")


def test_definitions_hold_no_users(definitions: dict[str, Any]) -> None:
    # Topology only: it can be imported into any cluster without touching its users.
    assert not definitions.get("users")
    assert not definitions.get("permissions")
    users = json.loads((DEPLOY / "rabbitmq" / "dev-users.json").read_text(encoding="utf-8"))
    assert [u["name"] for u in users["users"]] == ["mci"]


# ---------------------------------------------------------------------------------------------
# Prometheus and Grafana


@pytest.fixture(scope="module")
def prometheus() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def scrape_targets(prometheus: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """target -> (job, metrics path)."""
    targets = {}
    for job in prometheus["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                targets[target] = (job["job_name"], job.get("metrics_path", "/metrics"))
    return targets


def test_prometheus_scrapes_every_service_and_the_emulator(prometheus: dict[str, Any]) -> None:
    targets = scrape_targets(prometheus)
    for name, port in [*SERVICES.items(), ("emulator", EMULATOR_PORT)]:
        assert f"{name}:{port}" in targets, name
        assert targets[f"{name}:{port}"][1] == "/metrics"


def test_prometheus_k8s_discovers_the_annotated_pods(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    config = yaml.safe_load(
        (DEPLOY / "prometheus" / "prometheus-k8s.yml").read_text(encoding="utf-8")
    )
    assert [Path(f).name for f in config["rule_files"]] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    namespace = manifests["base/kustomization.yaml"][0]["namespace"]
    for name in ("mci", "allegro-emulator"):
        job = jobs[name]
        (sd,) = job["kubernetes_sd_configs"]
        assert sd["role"] == "pod"
        assert sd["namespaces"]["names"] == [namespace]
        relabel = job["relabel_configs"]
        assert {
            "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
            "action": "keep",
            "regex": "true",
        } in relabel
        assert any(
            r.get("target_label") == "service"
            and r["source_labels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
            for r in relabel
        )
    # ...and every pod it should find carries the annotations it keys on.
    for name, port in SERVICES.items():
        for role in ("api", "worker"):
            deployment = find(service_docs(manifests, name), "Deployment", f"{name}-{role}")
            annotations = deployment["spec"]["template"]["metadata"]["annotations"]
            assert annotations["prometheus.io/scrape"] == "true"
            assert annotations["prometheus.io/port"] == str(port)
            assert annotations["prometheus.io/path"] == "/metrics"


def test_prometheus_loads_the_alert_rules(prometheus: dict[str, Any]) -> None:
    rule_files = prometheus["rule_files"]
    assert [Path(f).name for f in rule_files] == ["alerts.yml"]
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    exprs = {r["alert"]: str(r["expr"]) for g in rules["groups"] for r in g["rules"]}
    assert any("mci_dlq_messages" in e and "> 0" in e for e in exprs.values())
    assert any("mci_outbox_oldest_pending_age_seconds" in e and "> 60" in e for e in exprs.values())
    assert any("mci_allegro_rate_limited_total" in e for e in exprs.values())
    assert any(re.search(r"\bup\{.*\} == 0", e) for e in exprs.values())
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in {"warning", "critical"}
            assert rule["annotations"]["summary"]


def test_grafana_provisioning_and_dashboard() -> None:
    grafana = DEPLOY / "grafana"
    datasources = yaml.safe_load(
        (grafana / "provisioning" / "datasources" / "prometheus.yml").read_text(encoding="utf-8")
    )
    source = datasources["datasources"][0]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load(
        (grafana / "provisioning" / "dashboards" / "mci.yml").read_text(encoding="utf-8")
    )
    assert providers["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"
    dashboard = json.loads((grafana / "dashboards" / "mci-overview.json").read_text("utf-8"))
    exprs = " ".join(
        t["expr"] for p in dashboard["panels"] if p["type"] != "row" for t in p["targets"]
    )
    for metric in (
        "mci_messages_consumed_total",
        "mci_messages_published_total",
        "mci_message_handler_duration_seconds_bucket",
        "mci_outbox_pending_messages",
        "mci_outbox_oldest_pending_age_seconds",
        "mci_dlq_messages",
        "mci_allegro_requests_total",
        "mci_allegro_rate_limited_total",
        "mci_allegro_limiter_wait_seconds",
        "http_requests_total",
    ):
        assert metric in exprs, metric
    assert "histogram_quantile(0.95" in exprs
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == source["uid"]


# ---------------------------------------------------------------------------------------------
# deploy/k8s

K8S = DEPLOY / "k8s"


def k8s_docs(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    for doc in docs:
        assert isinstance(doc, dict), path
    return docs


@pytest.fixture(scope="module")
def manifests() -> dict[str, list[dict[str, Any]]]:
    """Every YAML file under deploy/k8s, by path relative to it."""
    files = sorted(K8S.rglob("*.yaml"))
    assert files
    return {str(path.relative_to(K8S)): k8s_docs(path) for path in files}


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}"
    return matches[0]


def service_docs(manifests: dict[str, list[dict[str, Any]]], name: str) -> list[dict[str, Any]]:
    docs = [d for path, ds in manifests.items() if path.startswith(f"base/{name}/") for d in ds]
    return [d for d in docs if d.get("kind") != "Kustomization"]


def test_every_k8s_manifest_parses_and_has_a_kind(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    for path, docs in manifests.items():
        assert docs, path
        for doc in docs:
            assert doc.get("apiVersion"), path
            assert doc.get("kind"), path


def test_k8s_base_kustomization_lists_namespace_config_and_services(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    base = manifests["base/kustomization.yaml"][0]
    assert base["kind"] == "Kustomization"
    assert base["namespace"] == "mci"
    assert {"namespace.yaml", "configmap.yaml", *SERVICES} <= set(base["resources"])
    namespace = manifests["base/namespace.yaml"][0]
    assert namespace["kind"] == "Namespace"
    assert namespace["metadata"]["name"] == base["namespace"]
    for name in SERVICES:
        listed = manifests[f"base/{name}/kustomization.yaml"][0]["resources"]
        for filename in listed:
            assert (K8S / "base" / name / filename).is_file()
        on_disk = {p.name for p in (K8S / "base" / name).glob("*.yaml")} - {"kustomization.yaml"}
        assert set(listed) == on_disk, f"{name}: a manifest is not in its kustomization"


def container_of(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container = containers[0]
    assert isinstance(container, dict)
    return container


def probe_port(container: dict[str, Any], probe: dict[str, Any]) -> int:
    port = probe["httpGet"]["port"]
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    return int(named[port])


def check_probes(
    container: dict[str, Any], port: int, live: str = "/health/live", ready: str = "/health/ready"
) -> None:
    for probe, path in (("livenessProbe", live), ("readinessProbe", ready), ("startupProbe", live)):
        assert container[probe]["httpGet"]["path"] == path, probe
        assert probe_port(container, container[probe]) == port, probe
    # The startup probe must leave time for migrations: at least two minutes.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120


SECRET_KEYS = {"DATABASE_ADMIN_URL", "AMQP_URL", "MCI_SERVICE_TOKEN_SECRET"}
AUTH_SECRET_KEYS = {
    "AUTH_TOKEN_ENCRYPTION_KEYS",
    "AUTH_BOOTSTRAP_ADMIN_KEY",
    "ALLEGRO_CLIENT_ID",
    "ALLEGRO_CLIENT_SECRET",
}


@pytest.mark.parametrize("name", list(SERVICES))
@pytest.mark.parametrize("role", ["api", "worker"])
def test_k8s_service_deployments(
    manifests: dict[str, list[dict[str, Any]]], name: str, role: str
) -> None:
    docs = service_docs(manifests, name)
    deployment = find(docs, "Deployment", f"{name}-{role}")
    port = SERVICES[name]
    container = container_of(deployment)
    assert container["image"].split(":")[0].endswith(f"/{name}")
    assert container["args"] == ["--role", role]
    assert {"name": "http", "containerPort": port, "protocol": "TCP"} in container["ports"]
    check_probes(container, port)
    env = {e["name"]: e for e in container["env"]}
    upper = name.upper()
    assert env[f"{upper}_HTTP_PORT"]["value"] == str(port)
    assert env[f"{upper}_HTTP_HOST"]["value"] == "0.0.0.0"
    assert {"configMapRef": {"name": "mci-config"}} in container["envFrom"]
    wanted = SECRET_KEYS | (AUTH_SECRET_KEYS if name == "auth" else set())
    for key in wanted:
        ref = env[key]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "mci-secrets", "key": key}, key
    for key, entry in env.items():
        if any(word in key for word in ("SECRET", "_KEY", "PASSWORD", "_URL")):
            assert "value" not in entry, f"{key} must come from a Secret"
    resources = container["resources"]
    assert resources["requests"]["cpu"]
    assert resources["requests"]["memory"]
    assert resources["limits"]["memory"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 30
    assert pod["securityContext"]["runAsNonRoot"] is True
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for key, value in deployment["spec"]["selector"]["matchLabels"].items():
        assert template_labels[key] == value
    assert template_labels["app.kubernetes.io/component"] == role


@pytest.mark.parametrize("name", list(SERVICES))
def test_k8s_service_targets_the_api_pods(
    manifests: dict[str, list[dict[str, Any]]], name: str
) -> None:
    docs = service_docs(manifests, name)
    service = find(docs, "Service", name)
    api = find(docs, "Deployment", f"{name}-api")
    labels = api["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"]["selector"]
    assert selector
    assert all(labels.get(k) == v for k, v in selector.items())
    assert selector["app.kubernetes.io/component"] == "api"
    assert service["spec"]["ports"][0]["port"] == SERVICES[name]
    container = container_of(api)
    target = service["spec"]["ports"][0]["targetPort"]
    assert target in {"http", SERVICES[name]}
    assert probe_port(container, {"httpGet": {"port": target}}) == SERVICES[name]


@pytest.mark.parametrize("name", list(SERVICES))
def test_k8s_keda_scales_the_worker_on_its_queues(
    manifests: dict[str, list[dict[str, Any]]], name: str
) -> None:
    docs = service_docs(manifests, name)
    scaled = [d for d in docs if d["kind"] == "ScaledObject"]
    queues = queues_of(name)
    if not queues:
        assert not scaled, f"{name} consumes nothing"
        return
    assert len(scaled) == 1
    spec = scaled[0]["spec"]
    assert spec["scaleTargetRef"]["name"] == f"{name}-worker"
    assert spec["minReplicaCount"] >= 1, "the worker runs the outbox relay: never scale to 0"
    triggers = spec["triggers"]
    assert {t["type"] for t in triggers} == {"rabbitmq"}
    assert sorted(t["metadata"]["queueName"] for t in triggers) == sorted(queues)
    worker_env = {
        e["name"] for e in container_of(find(docs, "Deployment", f"{name}-worker"))["env"]
    }
    for trigger in triggers:
        meta = trigger["metadata"]
        assert meta["mode"] == "QueueLength"
        assert int(meta["value"]) > 0
        assert meta["hostFromEnv"] in worker_env


def test_k8s_emulator_component(manifests: dict[str, list[dict[str, Any]]]) -> None:
    component = manifests["components/emulator/kustomization.yaml"][0]
    assert component["kind"] == "Component"
    docs = [d for f in component["resources"] for d in manifests[f"components/emulator/{f}"]]
    deployment = find(docs, "Deployment", "emulator")
    container = container_of(deployment)
    assert container["args"] == ["--host", "0.0.0.0", "--port", str(EMULATOR_PORT)]
    # No /health/* routes in the emulator (yet): its admin config endpoint stands in.
    check_probes(container, EMULATOR_PORT, live="/__admin/config", ready="/__admin/config")
    service = find(docs, "Service", "emulator")
    assert service["spec"]["ports"][0]["port"] == EMULATOR_PORT
    patches = " ".join(p["patch"] for p in component["patches"])
    assert f"http://emulator:{EMULATOR_PORT}" in patches
    assert "emulator" not in " ".join(manifests["base/kustomization.yaml"][0]["resources"])


def test_k8s_manifests_are_rendered_from_the_current_script() -> None:
    render = load_module(K8S / "render_manifests.py", "render_manifests_under_test")
    rendered: dict[str, str] = render.render()
    for relative, text in rendered.items():
        assert (K8S / relative).read_text(encoding="utf-8") == text, (
            f"{relative} is stale: run python deploy/k8s/render_manifests.py"
        )


# kubectl kustomize and kubernetes-validate on every overlay: test_deploy_tools.py


# ---------------------------------------------------------------------------------------------
# deploy/README.md


def test_readme_covers_compose_k8s_policies_and_secret_rotation() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for needle in (
        "docker compose up --build -d",
        "--profile monitoring",
        "kubectl apply -k",
        "## RabbitMQ topology and policies",
        "which wins",
        "## Rotating secrets",
        "rollout restart",
    ):
        assert needle in readme, needle
    for queue in TOPOLOGY:
        assert f"`{queue}`" in readme, queue


# ---------------------------------------------------------------------------------------------
# No package registry address in any deployment file


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
