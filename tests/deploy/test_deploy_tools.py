"""The deployment files checked by the real tools: Docker's compose model, hadolint, kustomize,
kubernetes-validate, KEDA's own CRD schema, promtool.

The Debian tools (docker-compose, promtool) come from `make tools`; hadolint,
kubernetes-validate and check-jsonschema from requirements.lock. A missing tool fails its test
with the command that installs it: a skipped check would pass for nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
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

# Python tools come from requirements.lock (make install); the others from make tools.
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


# ---------------------------------------------------------------------------------------------
# Kubernetes: kubectl kustomize, kubernetes-validate --strict, KEDA's CRD schema

OVERLAYS = sorted(p.parent.name for p in (K8S / "overlays").glob("*/kustomization.yaml"))
KEDA_KINDS = {("keda.sh/v1alpha1", "ScaledObject")}


def test_there_are_dev_and_production_overlays() -> None:
    assert OVERLAYS == ["dev", "production"]


def kustomize(target: Path) -> list[dict[str, Any]]:
    result = run(tool("kubectl"), "kustomize", str(target))
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {overlay: kustomize(K8S / "overlays" / overlay) for overlay in OVERLAYS}


def kubernetes_validate(docs: list[dict[str, Any]], tmp_path: Path) -> list[str]:
    """kubernetes-validate --strict on `docs`; returns the resources it passed (kind/name).
    Fails on any error, and on any warning: a kind it has no schema for would pass unseen."""
    path = tmp_path / "resources.yaml"
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    result = run(tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, str(path))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARN" not in output and "ERROR" not in output, output
    return re.findall(r"passed for resource (\S+) against", output)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_validate_strict_passes_every_core_resource(
    rendered: dict[str, list[dict[str, Any]]], overlay: str, tmp_path: Path
) -> None:
    docs = [d for d in rendered[overlay] if (d["apiVersion"], d["kind"]) not in KEDA_KINDS]
    passed = kubernetes_validate(docs, tmp_path)
    expected = [f"{d['kind'].lower()}/{d['metadata']['name']}" for d in docs]
    assert sorted(passed) == sorted(expected)


def test_kubernetes_validate_strict_rejects_an_unknown_field(
    rendered: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    deployment = next(d for d in rendered["production"] if d["kind"] == "Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = run(tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, str(path))
    assert result.returncode != 0
    assert "livenesProbe" in result.stdout + result.stderr


def strict(schema: Any) -> Any:
    """The CRD's structural schema as the API server applies it with strict field validation
    (kubectl's default): a field the schema does not declare is an error, not pruned."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
        if "properties" in schema and "additionalProperties" not in schema:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


@pytest.fixture(scope="module")
def keda_schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    crd = yaml.safe_load(KEDA_CRD.read_text(encoding="utf-8"))
    assert crd["spec"]["names"]["kind"] == "ScaledObject"
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    schema = strict(version["schema"]["openAPIV3Schema"])
    # metadata is validated by the API server itself; apiVersion and kind are fixed.
    schema["properties"]["apiVersion"] = {"const": "keda.sh/v1alpha1"}
    schema["properties"]["kind"] = {"const": "ScaledObject"}
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    path = tmp_path_factory.mktemp("keda") / "scaledobject.schema.json"
    path.write_text(json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", **schema}))
    return path


def check_scaled_objects(schema: Path, docs: list[dict[str, Any]], tmp_path: Path) -> str:
    paths = []
    for index, doc in enumerate(docs):
        path = tmp_path / f"scaledobject-{index}.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        paths.append(str(path))
    result = run(tool("check-jsonschema"), "--schemafile", str(schema), *paths)
    return ("ok" if result.returncode == 0 else "failed: ") + result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_scaled_objects_match_kedas_crd(
    rendered: dict[str, list[dict[str, Any]]], keda_schema: Path, overlay: str, tmp_path: Path
) -> None:
    scaled = [d for d in rendered[overlay] if (d["apiVersion"], d["kind"]) in KEDA_KINDS]
    # One per worker that consumes a queue: every service but auth.
    assert sorted(d["metadata"]["name"] for d in scaled) == [
        f"{s}-worker" for s in sorted(APP_SERVICES) if s != "auth"
    ]
    outcome = check_scaled_objects(keda_schema, scaled, tmp_path)
    assert outcome.startswith("ok"), outcome
    deployments = {d["metadata"]["name"] for d in rendered[overlay] if d["kind"] == "Deployment"}
    for doc in scaled:
        assert doc["spec"]["scaleTargetRef"]["name"] in deployments


def test_kedas_crd_rejects_a_misspelt_field(
    rendered: dict[str, list[dict[str, Any]]], keda_schema: Path, tmp_path: Path
) -> None:
    scaled = next(d for d in rendered["production"] if d["kind"] == "ScaledObject")
    misspelt = json.loads(json.dumps(scaled))
    misspelt["spec"]["minReplicas"] = misspelt["spec"].pop("minReplicaCount")
    outcome = check_scaled_objects(keda_schema, [misspelt], tmp_path)
    assert outcome.startswith("failed"), outcome
    assert "minReplicas" in outcome
    untyped = json.loads(json.dumps(scaled))
    untyped["spec"]["triggers"][0]["metadata"]["value"] = 200  # metadata values are strings
    assert check_scaled_objects(keda_schema, [untyped], tmp_path).startswith("failed")


# What each overlay may and may not contain.


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"])
        for d in docs
        if d["kind"] in {"Deployment", "Job"}
    ]


def test_production_takes_every_secret_by_reference(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["production"]
    assert by_kind(docs, "Secret") == []
    assert "changeme" not in yaml.safe_dump_all(docs)
    (config,) = by_kind(docs, "ConfigMap")
    assert config["data"]["ENVIRONMENT"] == "production"
    assert config["data"]["ALLEGRO_API_URL"] == "https://api.allegro.pl"
    refs = 0
    for name, pod in pod_specs(docs):
        for container in pod["containers"]:
            assert "emulator" not in container["image"], name
            assert container["image"].startswith("registry.example.com/mci/"), name
            for entry in container.get("env", []):
                secretish = any(w in entry["name"] for w in ("SECRET", "_KEY", "PASSWORD", "_URL"))
                if secretish:
                    assert "value" not in entry, f"{name}: {entry['name']} must be a reference"
                    assert entry["valueFrom"]["secretKeyRef"]["name"] == "mci-secrets"
                    refs += 1
    assert refs > 0


def test_dev_placeholders_only_with_development(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["dev"]
    (secret,) = by_kind(docs, "Secret")
    assert "AUTH_TOKEN_ENCRYPTION_KEYS" in secret["data"]
    (config,) = by_kind(docs, "ConfigMap")
    assert config["data"]["ENVIRONMENT"] == "development"
    assert config["data"]["ALLEGRO_API_URL"] == "http://emulator:8400"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_sets_only_variables_the_service_reads(
    rendered: dict[str, list[dict[str, Any]]], config_reference: ModuleType, overlay: str
) -> None:
    docs = rendered[overlay]
    (config,) = by_kind(docs, "ConfigMap")
    for name, pod in pod_specs(docs):
        (container,) = pod["containers"]
        service = container["image"].rsplit("/", 1)[1].split(":")[0]
        if service == "emulator":
            continue
        env = {e["name"] for e in container.get("env", [])} | set(config["data"])
        unknown = env - config_reference.env_names(service)
        assert not unknown, f"{name} sets {sorted(unknown)}, which {service} does not read"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_disruption_budget_and_every_service_a_migration_job(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    budgets = [d["spec"]["selector"]["matchLabels"] for d in by_kind(docs, "PodDisruptionBudget")]
    for deployment in by_kind(docs, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        if labels["app.kubernetes.io/name"] == "emulator":
            continue  # one in-memory replica: nothing to keep available
        assert any(all(labels.get(k) == v for k, v in b.items()) for b in budgets), deployment
        env = {
            e["name"]: e.get("value")
            for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        service = labels["app.kubernetes.io/name"]
        assert env[f"{service.upper()}_RUN_MIGRATIONS"] == "false"
    jobs = {d["metadata"]["name"]: d for d in by_kind(docs, "Job")}
    assert sorted(jobs) == sorted(f"{s}-migrate" for s in APP_SERVICES)
    for name, job in jobs.items():
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["python", "/usr/local/lib/mci/migrate.py"], name


def test_the_migration_job_script_migrates_a_database() -> None:
    """What the Job runs, on the real PostgreSQL: a fresh database ends at Alembic's head."""
    import asyncio
    import uuid

    import asyncpg

    from mci_testing.infra import admin_database_url, with_database

    name = f"mci_ops_migrate_{uuid.uuid4().hex[:8]}"
    admin_url = admin_database_url()
    url = with_database(admin_url, name)
    env = {**os.environ, "CATALOG_DATABASE_URL": url, "ENVIRONMENT": "development"}
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "docker" / "migrate.py"), "catalog"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    async def version_and_drop() -> str | None:
        plain = url.replace("postgresql+asyncpg", "postgresql")
        try:
            connection = await asyncpg.connect(plain)
            try:
                return str(await connection.fetchval("select version_num from alembic_version"))
            finally:
                await connection.close()
        finally:
            admin = await asyncpg.connect(admin_url)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await admin.close()

    version = asyncio.run(version_and_drop())
    assert result.returncode == 0, result.stderr
    assert f"catalog: database {name} migrated to head" in result.stdout
    heads = sorted((ROOT / "services/catalog/migrations/versions").glob("*.py"))
    assert version is not None
    assert any(version in path.read_text(encoding="utf-8") for path in heads)


# NetworkPolicies: evaluated on the rendered overlays, the way the API documents them (a pod
# selected by any policy of a type is isolated for that type; rules of all policies add up).

MCI_NAMESPACE = {"kubernetes.io/metadata.name": "mci", "app.kubernetes.io/part-of": "mci"}
DNS = {"k8s-app": "kube-dns"}
KUBE_SYSTEM = {"kubernetes.io/metadata.name": "kube-system"}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
    return True


class Endpoint:
    """A pod (labels, its namespace's labels, named ports) or, with no labels, the outside."""

    def __init__(
        self,
        labels: dict[str, str] | None,
        namespace: dict[str, str] | None = None,
        ports: dict[str, int] | None = None,
    ) -> None:
        self.labels = labels
        self.namespace = MCI_NAMESPACE if namespace is None else namespace
        self.ports = ports or {}

    @property
    def in_mci(self) -> bool:
        return self.labels is not None and self.namespace is MCI_NAMESPACE


def peer_matches(peer: dict[str, Any], other: Endpoint) -> bool:
    if other.labels is None:
        return "ipBlock" in peer
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], other.namespace):
            return False
    elif not other.in_mci:
        return False  # a bare podSelector means this namespace only
    return selects(peer.get("podSelector", {}), other.labels)


def port_matches(rule: dict[str, Any], target: Endpoint, port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    for entry in ports:
        number = entry.get("port")
        if isinstance(number, str):
            number = target.ports.get(number)
        if entry.get("protocol", "TCP") == protocol and (number is None or number == port):
            return True
    return False


def allows(
    docs: list[dict[str, Any]], src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP"
) -> bool:
    policies = [d["spec"] for d in docs if d["kind"] == "NetworkPolicy"]
    if src.in_mci:
        assert src.labels is not None
        egress = [
            p
            for p in policies
            if "Egress" in p["policyTypes"] and selects(p["podSelector"], src.labels)
        ]
        if egress and not any(
            (not rule.get("to") or any(peer_matches(peer, dst) for peer in rule["to"]))
            and port_matches(rule, dst, port, protocol)
            for p in egress
            for rule in p.get("egress", [])
        ):
            return False
    if dst.in_mci:
        assert dst.labels is not None
        ingress = [
            p
            for p in policies
            if "Ingress" in p["policyTypes"] and selects(p["podSelector"], dst.labels)
        ]
        if ingress and not any(
            (not rule.get("from") or any(peer_matches(peer, src) for peer in rule["from"]))
            and port_matches(rule, dst, port, protocol)
            for p in ingress
            for rule in p.get("ingress", [])
        ):
            return False
    return True


def pods(docs: list[dict[str, Any]]) -> dict[str, Endpoint]:
    result = {}
    for doc in docs:
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        template = doc["spec"]["template"]
        ports = {
            p["name"]: p["containerPort"]
            for c in template["spec"]["containers"]
            for p in c.get("ports", [])
        }
        result[doc["metadata"]["name"]] = Endpoint(template["metadata"]["labels"], ports=ports)
    return result


OUTSIDE = Endpoint(None)
DNS_POD = Endpoint(DNS, namespace=KUBE_SYSTEM)
INGRESS_POD = Endpoint({"app": "ingress-nginx"}, namespace={"mci/access": "ingress"})
MONITORING_POD = Endpoint({"app": "prometheus"}, namespace={"mci/access": "monitoring"})
STRANGER_POD = Endpoint({"app": "something"}, namespace={"kubernetes.io/metadata.name": "other"})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_only_what_must_talk(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    pod = pods(docs)
    apps = [p for name, p in pod.items() if not name.endswith("-migrate") and name != "emulator"]
    calls_allegro = {"auth", "offers", "orders"}
    port = {"auth": 8001, "catalog": 8002, "pricing": 8003, "offers": 8004, "orders": 8005}

    # Everything resolves names; the apps and the migrations reach PostgreSQL and RabbitMQ.
    for name, endpoint in pod.items():
        assert allows(docs, endpoint, DNS_POD, 53, "UDP"), name
        assert not allows(docs, endpoint, OUTSIDE, 6379), name
    for name, endpoint in pod.items():
        if name == "emulator":
            continue
        assert allows(docs, endpoint, OUTSIDE, 5432), name
        # The migrations need the database only.
        assert allows(docs, endpoint, OUTSIDE, 5672) == (not name.endswith("-migrate")), name
    # Every api and worker reaches auth's API; nothing else between services.
    for endpoint in apps:
        assert allows(docs, endpoint, pod["auth-api"], 8001)
        assert not allows(docs, endpoint, pod["pricing-api"], 8003)
        assert not allows(docs, endpoint, pod["auth-worker"], 8001)
    assert not allows(docs, pod["catalog-migrate"], pod["auth-api"], 8001)
    # Only the services that call Allegro reach HTTPS outside.
    for name, endpoint in pod.items():
        service = name.rsplit("-", 1)[0]
        calls = service in calls_allegro and not name.endswith("-migrate")
        assert allows(docs, endpoint, OUTSIDE, 443) == calls, name
    # From outside the namespace: the ingress namespaces reach the APIs only; monitoring
    # reaches every pod's http port; anything else reaches nothing.
    for service, number in port.items():
        assert allows(docs, INGRESS_POD, pod[f"{service}-api"], number)
        assert not allows(docs, INGRESS_POD, pod[f"{service}-worker"], number)
        assert allows(docs, MONITORING_POD, pod[f"{service}-worker"], number)
        assert not allows(docs, MONITORING_POD, pod[f"{service}-api"], 5432)
        assert not allows(docs, STRANGER_POD, pod[f"{service}-api"], number)
    if overlay == "dev":
        emulator = pod["emulator"]
        for name, endpoint in pod.items():
            service = name.rsplit("-", 1)[0]
            calls = service in calls_allegro and not name.endswith("-migrate")
            assert allows(docs, endpoint, emulator, 8400) == calls, name
        assert allows(docs, INGRESS_POD, emulator, 8400)
        assert not allows(docs, STRANGER_POD, emulator, 8400)
    else:
        assert "emulator" not in pod


# ---------------------------------------------------------------------------------------------
# Prometheus: promtool check and unit-test the alert rules

PROMETHEUS = DEPLOY / "prometheus"
# The issue's list: DLQ not empty, outbox age, 429s, token refresh failures, consumer down,
# publication stalled, wallet too low; plus the broker's DLQ view and a service down.
REQUIRED_ALERTS = {
    "MciDeadLetterQueueNotEmpty",
    "MciDeadLetterQueueNotEmptyBroker",
    "MciOutboxStuck",
    "MciAllegroRateLimited",
    "MciTokenRefreshFailed",
    "MciConsumerDown",
    "MciPublicationStalled",
    "MciSupplierWalletLow",
    "MciServiceDown",
}


def alert_names(path: Path) -> list[str]:
    rules = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_check_rules() -> None:
    result = run(tool("promtool"), "check", "rules", str(PROMETHEUS / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    count = len(alert_names(PROMETHEUS / "alerts.yml"))
    assert f"SUCCESS: {count} rules found" in result.stdout


def test_promtool_check_config_with_its_rules() -> None:
    result = run(tool("promtool"), "check", "config", "prometheus.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


def test_every_required_alert_exists_and_fires_in_a_unit_test() -> None:
    alerts = alert_names(PROMETHEUS / "alerts.yml")
    assert set(alerts) == REQUIRED_ALERTS
    cases = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text(encoding="utf-8"))
    fires: set[str] = set()
    quiet: set[str] = set()
    for test in cases["tests"]:
        for case in test["alert_rule_test"]:
            (fires if case["exp_alerts"] else quiet).add(case["alertname"])
    assert fires == REQUIRED_ALERTS, "an alert with no case where it fires"
    assert quiet == REQUIRED_ALERTS, "an alert with no case where it stays quiet"


def test_promtool_test_rules() -> None:
    result = run(tool("promtool"), "test", "rules", "alerts_test.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules_catches_a_broken_rule(tmp_path: Path) -> None:
    """The unit tests have teeth: an outbox threshold of 10 minutes instead of 1 fails them."""
    rules = (PROMETHEUS / "alerts.yml").read_text(encoding="utf-8")
    broken = rules.replace("(mci_outbox_oldest_pending_age_seconds) > 60", "(...) > 600")
    broken = broken.replace("(...)", "(mci_outbox_oldest_pending_age_seconds)")
    assert broken != rules
    (tmp_path / "alerts.yml").write_text(broken, encoding="utf-8")
    shutil.copy(PROMETHEUS / "alerts_test.yml", tmp_path / "alerts_test.yml")
    result = run(tool("promtool"), "test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "MciOutboxStuck" in result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# docs/operations.md: the configuration reference is generated from the settings classes


def test_operations_guide_config_reference_is_current(config_reference: ModuleType) -> None:
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert config_reference.updated(guide) == guide, "run python deploy/config_reference.py"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_config_reference_names_every_setting(config_reference: ModuleType, service: str) -> None:
    """Each field of the service's settings class is in the reference, under the name the service
    reads, with its unprefixed fallback where it has one."""
    text = config_reference.render()
    for variable in config_reference.variables(service):
        generic = f"`<SERVICE>_{variable.field.upper()}`"
        assert generic in text or all(f"`{n}`" in text for n in variable.names), variable
        for fallback in variable.fallbacks:
            assert f"`{fallback}`" in text, (variable.field, fallback)


def test_config_reference_finds_fallbacks_by_running_the_defaults(
    config_reference: ModuleType,
) -> None:
    by_field = {v.field: v for v in config_reference.variables("auth")}
    assert by_field["environment"].fallbacks == ("ENVIRONMENT",)
    assert by_field["service_token_secret"].fallbacks == ("MCI_SERVICE_TOKEN_SECRET",)
    assert by_field["allegro_client_secret"].fallbacks == ("ALLEGRO_CLIENT_SECRET",)
    assert by_field["token_encryption_keys"].names[0] == "AUTH_TOKEN_ENCRYPTION_KEYS"
    assert by_field["token_encryption_keys"].secret
    assert by_field["http_host"].fallbacks == ()


def test_operations_guide_covers_the_issue() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for needle in (
        "## Scaling out",
        "SKIP LOCKED",
        "Competing consumers",
        "RabbitMQ cluster",
        "KEDA",
        "## Backup and restore",
        "pg_dump",
        "pg_restore",
        "## Replaying the dead-letter queue",
        "/admin/dlq/catalog.orders/replay",
        "AUTH_TOKEN_ENCRYPTION_KEYS",
        "/admin/token-keys/rotate",
        "MCI_SERVICE_TOKEN_SECRET",
        "apps.developer.allegro.pl.allegrosandbox.pl",
        "AUTH_OAUTH_REDIRECT_URI",
        "_ALLEGRO_CLIENT_SHARE",
    ):
        assert needle in guide, needle


def test_alert_label_values_are_ones_the_code_emits() -> None:
    """A rule on `result="acked"` when the consumer counts `handled` never matches: every
    `result` value an alert names for the messaging counters is one shared/ emits."""
    source = "\n".join(
        path.read_text(encoding="utf-8")
        for path in (ROOT / "shared/src/shared/messaging").glob("*.py")
    )
    rules = (PROMETHEUS / "alerts.yml").read_text(encoding="utf-8")
    used = re.findall(r'mci_messages_(?:consumed|published)_total\{[^}]*result=~?"([^"]+)"', rules)
    assert used
    for values in used:
        for value in values.split("|"):
            assert f'"{value}"' in source, value


# ---------------------------------------------------------------------------------------------
# make tools (deploy/tools/install.sh)


def test_make_tools_names_the_missing_packages_when_not_root(tmp_path: Path) -> None:
    """Not root and nothing installed: no apt-get, exit 1, and the packages to install named."""
    fake_id = tmp_path / "id"
    fake_id.write_text("#!/bin/sh\necho 1000\n", encoding="utf-8")
    fake_id.chmod(0o755)
    result = subprocess.run(
        ["/bin/bash", str(DEPLOY / "tools" / "install.sh")],
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "missing Debian packages: docker-compose prometheus" in result.stderr
    assert "apt-get install -y --no-install-recommends docker-compose prometheus" in result.stderr


def test_make_tools_is_idempotent_when_everything_is_there() -> None:
    for name in ("docker-compose", "promtool", "prometheus", "kubectl"):
        tool(name)
    result = run("/bin/bash", str(DEPLOY / "tools" / "install.sh"))
    assert result.returncode == 0, result.stderr
    assert "installing" not in result.stdout
    assert "docker-compose 1.29" in result.stdout


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-k8s.yml"])
def test_both_scrape_configs_collect_the_broker_series_the_alerts_use(config: str) -> None:
    """MciConsumerDown and MciPublicationStalled read rabbitmq_detailed_queue_consumers and
    _messages_ready: families queue_consumer_count and queue_coarse_metrics."""
    rules = (PROMETHEUS / "alerts.yml").read_text(encoding="utf-8")
    assert "rabbitmq_detailed_queue_consumers" in rules
    assert "rabbitmq_detailed_queue_messages_ready" in rules
    data = yaml.safe_load((PROMETHEUS / config).read_text(encoding="utf-8"))
    (job,) = [j for j in data["scrape_configs"] if j["job_name"] == "rabbitmq"]
    assert job["metrics_path"] == "/metrics/detailed"
    assert set(job["params"]["family"]) == {"queue_coarse_metrics", "queue_consumer_count"}


def test_compose_postgres_creates_one_database_per_service(
    resolved_compose: dict[str, Any],
) -> None:
    volumes = resolved_compose["services"]["postgres"]["volumes"]
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in volumes}
    script = Path(mounts["/docker-entrypoint-initdb.d/10-mci.sql"])
    created = re.findall(r"^CREATE DATABASE (\w+);$", script.read_text(encoding="utf-8"), re.M)
    assert created == [f"mci_{s}" for s in APP_SERVICES]


def test_compose_rabbitmq_runs_the_management_and_prometheus_plugins(
    resolved_compose: dict[str, Any],
) -> None:
    rabbitmq = resolved_compose["services"]["rabbitmq"]
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in rabbitmq["volumes"]}
    plugins = Path(mounts["/etc/rabbitmq/enabled_plugins"]).read_text(encoding="utf-8")
    assert plugins.strip() == "[rabbitmq_management,rabbitmq_prometheus]."
    assert 15692 in compose_ports(rabbitmq)
