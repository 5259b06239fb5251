"""deploy/k8s: the kustomize base and overlays, rendered by `kubectl kustomize`, validated by
`kubernetes-validate --strict` and KEDA's own CRD schema, and checked against the platform's
conventions: probes, secrets by reference, disruption budgets, migration jobs, network policies."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from mci_testing.deploy import (
    BACKENDS,
    BIGBUY_EMULATOR_PORT,
    CONSOLE_PORT,
    DEPLOY,
    EMULATOR_PORT,
    K8S,
    KUBERNETES_VERSION,
    ROOT,
    load_module,
    queues_of,
    run,
    tool,
)


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
    parts = {*BACKENDS, "console"}
    assert {"namespace.yaml", "configmap.yaml", *parts} <= set(base["resources"])
    namespace = manifests["base/namespace.yaml"][0]
    assert namespace["kind"] == "Namespace"
    assert namespace["metadata"]["name"] == base["namespace"]
    for name in parts:
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


# Addresses without credentials, set as plain values: BigBuy's public API root (the connector)
# and the services' in-cluster addresses (the console).
PUBLIC_URLS = {"BIGBUY_API_URL", *(f"CONSOLE_{s.upper()}_URL" for s in BACKENDS)}


def secretish(name: str) -> bool:
    words = ("SECRET", "_KEY", "PASSWORD", "_URL")
    return name not in PUBLIC_URLS and any(word in name for word in words)


AUTH_SECRET_KEYS = {
    "AUTH_TOKEN_ENCRYPTION_KEYS",
    "AUTH_BOOTSTRAP_ADMIN_KEY",
    "ALLEGRO_CLIENT_ID",
    "ALLEGRO_CLIENT_SECRET",
}


@pytest.mark.parametrize("name", list(BACKENDS))
@pytest.mark.parametrize("role", ["api", "worker"])
def test_k8s_service_deployments(
    manifests: dict[str, list[dict[str, Any]]], name: str, role: str
) -> None:
    docs = service_docs(manifests, name)
    deployment = find(docs, "Deployment", f"{name}-{role}")
    port = BACKENDS[name]
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
    if name == "bigbuy":
        wanted |= {"BIGBUY_API_KEY"}
        assert env["BIGBUY_API_URL"]["value"] == "https://api.bigbuy.eu/rest"
    for key in wanted:
        ref = env[key]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "mci-secrets", "key": key}, key
    for key, entry in env.items():
        if secretish(key):
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


@pytest.mark.parametrize("name", list(BACKENDS))
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
    assert service["spec"]["ports"][0]["port"] == BACKENDS[name]
    container = container_of(api)
    target = service["spec"]["ports"][0]["targetPort"]
    assert target in {"http", BACKENDS[name]}
    assert probe_port(container, {"httpGet": {"port": target}}) == BACKENDS[name]


@pytest.mark.parametrize("name", list(BACKENDS))
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
    check_probes(container, EMULATOR_PORT)
    service = find(docs, "Service", "emulator")
    assert service["spec"]["ports"][0]["port"] == EMULATOR_PORT
    patches = " ".join(p["patch"] for p in component["patches"])
    assert f"http://emulator:{EMULATOR_PORT}" in patches
    assert "emulator" not in " ".join(manifests["base/kustomization.yaml"][0]["resources"])


def test_k8s_bigbuy_emulator_component(
    manifests: dict[str, list[dict[str, Any]]], rendered: dict[str, list[dict[str, Any]]]
) -> None:
    component = manifests["components/bigbuy-emulator/kustomization.yaml"][0]
    assert component["kind"] == "Component"
    folder = "components/bigbuy-emulator"
    docs = [d for f in component["resources"] for d in manifests[f"{folder}/{f}"]]
    deployment = find(docs, "Deployment", "bigbuy-emulator")
    container = container_of(deployment)
    assert container["args"] == ["--host", "0.0.0.0", "--port", str(BIGBUY_EMULATOR_PORT)]
    check_probes(container, BIGBUY_EMULATOR_PORT)
    assert deployment["spec"]["replicas"] == 1, "its state is in memory"
    service = find(docs, "Service", "bigbuy-emulator")
    assert service["spec"]["ports"][0]["port"] == BIGBUY_EMULATOR_PORT
    # Rendered: dev's connector calls the emulator with the key the emulator accepts;
    # production's calls BigBuy with the key from the Secret.
    url = f"http://bigbuy-emulator:{BIGBUY_EMULATOR_PORT}/rest"
    for overlay, expected in (("dev", url), ("production", "https://api.bigbuy.eu/rest")):
        for role in ("api", "worker"):
            env = container_of(find(rendered[overlay], "Deployment", f"bigbuy-{role}"))["env"]
            values = {e["name"]: e.get("value") for e in env}
            assert values["BIGBUY_API_URL"] == expected, (overlay, role)
    (secret,) = by_kind(rendered["dev"], "Secret")
    key = base64.b64decode(secret["data"]["BIGBUY_API_KEY"]).decode()
    emulator_key = load_module(ROOT / "sandbox/bigbuy/src/bigbuy_emulator/config.py", "bb_config")
    assert key == emulator_key.EmulatorConfig().api_key.get_secret_value()
    assert "bigbuy-emulator" not in " ".join(manifests["base/kustomization.yaml"][0]["resources"])


def test_k8s_console(manifests: dict[str, list[dict[str, Any]]]) -> None:
    """The console: two replicas behind a budget, probes on its one health route, and the
    services' in-cluster addresses for every service it proxies to."""
    docs = manifests["base/console/console.yaml"]
    deployment = find(docs, "Deployment", "console")
    container = container_of(deployment)
    check_probes(container, CONSOLE_PORT, live="/health", ready="/health")
    assert deployment["spec"]["replicas"] >= 2
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["CONSOLE_HTTP_PORT"] == str(CONSOLE_PORT)
    assert env["CONSOLE_HTTP_HOST"] == "0.0.0.0"
    settings = load_module(ROOT / "console/src/mci_console/settings.py", "console_settings")
    for name in settings.SERVICES:
        assert env[f"CONSOLE_{name.upper()}_URL"] == f"http://{name}:{BACKENDS[name]}"
    assert "envFrom" not in container, "the console needs no database, broker or secret"
    assert find(docs, "Service", "console")["spec"]["ports"][0]["port"] == CONSOLE_PORT
    assert find(docs, "PodDisruptionBudget", "console")["spec"]["minAvailable"] == 1


def test_k8s_manifests_are_rendered_from_the_current_script() -> None:
    render = load_module(K8S / "render_manifests.py", "render_manifests_under_test")
    rendered: dict[str, str] = render.render()
    for relative, text in rendered.items():
        assert (K8S / relative).read_text(encoding="utf-8") == text, (
            f"{relative} is stale: run python deploy/k8s/render_manifests.py"
        )


KEDA_CRD = Path(__file__).parent / "schemas" / "keda.sh_scaledobjects.yaml"


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
    # One per worker that consumes a queue: every service but auth, and the connector.
    assert sorted(d["metadata"]["name"] for d in scaled) == [
        f"{s}-worker" for s in sorted(BACKENDS) if s != "auth"
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
                if secretish(entry["name"]):
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
        if service in {"emulator", "bigbuy-emulator"}:
            continue
        env = {e["name"] for e in container.get("env", [])}
        if {"configMapRef": {"name": "mci-config"}} in container.get("envFrom", []):
            env |= set(config["data"])
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
        if labels["app.kubernetes.io/component"] == "emulator":
            continue  # one in-memory replica: nothing to keep available
        assert any(all(labels.get(k) == v for k, v in b.items()) for b in budgets), deployment
        if labels["app.kubernetes.io/component"] == "console":
            continue  # no database
        env = {
            e["name"]: e.get("value")
            for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        service = labels["app.kubernetes.io/name"]
        assert env[f"{service.upper()}_RUN_MIGRATIONS"] == "false"
    jobs = {d["metadata"]["name"]: d for d in by_kind(docs, "Job")}
    assert sorted(jobs) == sorted(f"{s}-migrate" for s in BACKENDS)
    for name, job in jobs.items():
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["python", "/usr/local/lib/mci/migrate.py"], name


MIGRATIONS = {
    "catalog": ROOT / "services/catalog/migrations/versions",
    "bigbuy": ROOT / "connectors/bigbuy/migrations/versions",
}


@pytest.mark.parametrize("service", sorted(MIGRATIONS))
def test_the_migration_job_script_migrates_a_database(service: str) -> None:
    """What the Job runs, on the real PostgreSQL: a fresh database ends at Alembic's head (the
    connector's package is not named after it: bigbuy -> bigbuy_connector)."""
    import asyncio
    import uuid

    import asyncpg

    from mci_testing.infra import admin_database_url, with_database

    name = f"mci_ops_migrate_{service}_{uuid.uuid4().hex[:8]}"
    admin_url = admin_database_url()
    url = with_database(admin_url, name)
    env = {**os.environ, f"{service.upper()}_DATABASE_URL": url, "ENVIRONMENT": "development"}
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "docker" / "migrate.py"), service],
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
    assert f"{service}: database {name} migrated to head" in result.stdout
    heads = sorted(MIGRATIONS[service].glob("*.py"))
    assert version is not None
    assert any(version in path.read_text(encoding="utf-8") for path in heads)


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


def service_of(pod_name: str) -> str:
    """catalog-api -> catalog; bigbuy-emulator and console are their own."""
    service, _, role = pod_name.rpartition("-")
    return service if role in {"api", "worker", "migrate"} else pod_name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_only_what_must_talk(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    pod = pods(docs)
    emulators = {"emulator", "bigbuy-emulator"}
    peers = emulators | {"console"}
    apps = [p for name, p in pod.items() if not name.endswith("-migrate") and name not in peers]
    calls_allegro = {"auth", "offers", "orders"}
    calls_bigbuy = {"bigbuy"}
    port = BACKENDS

    # Everything resolves names; the apps and the migrations reach PostgreSQL and RabbitMQ.
    for name, endpoint in pod.items():
        assert allows(docs, endpoint, DNS_POD, 53, "UDP"), name
        assert not allows(docs, endpoint, OUTSIDE, 6379), name
    for name, endpoint in pod.items():
        if name in peers:
            assert not allows(docs, endpoint, OUTSIDE, 5432), name
            continue
        assert allows(docs, endpoint, OUTSIDE, 5432), name
        # The migrations need the database only.
        assert allows(docs, endpoint, OUTSIDE, 5672) == (not name.endswith("-migrate")), name
    # Every api and worker reaches auth's API; nothing else between services.
    for endpoint in apps:
        assert allows(docs, endpoint, pod["auth-api"], 8001)
        assert not allows(docs, endpoint, pod["pricing-api"], 8003)
        assert not allows(docs, endpoint, pod["bigbuy-api"], 8006)
        assert not allows(docs, endpoint, pod["auth-worker"], 8001)
    assert not allows(docs, pod["catalog-migrate"], pod["auth-api"], 8001)
    # Only the services that call Allegro, and the connector that calls BigBuy, reach HTTPS
    # outside.
    for name, endpoint in pod.items():
        service = service_of(name)
        calls = service in calls_allegro | calls_bigbuy and not name.endswith("-migrate")
        assert allows(docs, endpoint, OUTSIDE, 443) == calls, name
    # The console reaches the APIs of the services and the connector it proxies to, and
    # nothing else of ours.
    console = pod["console"]
    for service in BACKENDS:
        assert allows(docs, console, pod[f"{service}-api"], port[service]), service
        assert not allows(docs, console, pod[f"{service}-worker"], port[service]), service
    assert allows(docs, INGRESS_POD, console, CONSOLE_PORT)
    assert not allows(docs, STRANGER_POD, console, CONSOLE_PORT)
    assert not allows(docs, pod["catalog-api"], console, CONSOLE_PORT)
    # From outside the namespace: the ingress namespaces reach the APIs only; monitoring
    # reaches every pod's http port; anything else reaches nothing.
    for service, number in port.items():
        assert allows(docs, INGRESS_POD, pod[f"{service}-api"], number)
        assert not allows(docs, INGRESS_POD, pod[f"{service}-worker"], number)
        assert allows(docs, MONITORING_POD, pod[f"{service}-worker"], number)
        assert not allows(docs, MONITORING_POD, pod[f"{service}-api"], 5432)
        assert not allows(docs, STRANGER_POD, pod[f"{service}-api"], number)
    if overlay == "dev":
        for emulator_name, emulator_port, callers in (
            ("emulator", EMULATOR_PORT, calls_allegro),
            ("bigbuy-emulator", BIGBUY_EMULATOR_PORT, calls_bigbuy),
        ):
            emulator = pod[emulator_name]
            for name, endpoint in pod.items():
                service = service_of(name)
                calls = service in callers and not name.endswith("-migrate")
                assert allows(docs, endpoint, emulator, emulator_port) == calls, (
                    name,
                    emulator_name,
                )
            assert allows(docs, INGRESS_POD, emulator, emulator_port)
            assert not allows(docs, STRANGER_POD, emulator, emulator_port)
    else:
        assert not emulators & set(pod)


def test_prometheus_k8s_discovers_the_annotated_pods(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    config = yaml.safe_load(
        (DEPLOY / "prometheus" / "prometheus-k8s.yml").read_text(encoding="utf-8")
    )
    assert [Path(f).name for f in config["rule_files"]] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    namespace = manifests["base/kustomization.yaml"][0]["namespace"]
    for name in ("mci", "console", "emulators"):
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
    for name, port in BACKENDS.items():
        for role in ("api", "worker"):
            deployment = find(service_docs(manifests, name), "Deployment", f"{name}-{role}")
            annotations = deployment["spec"]["template"]["metadata"]["annotations"]
            assert annotations["prometheus.io/scrape"] == "true"
            assert annotations["prometheus.io/port"] == str(port)
            assert annotations["prometheus.io/path"] == "/metrics"
    # The console and both emulators serve /metrics too (console, emulators jobs).
    stand_ins = [
        ("base/console/console.yaml", "console", CONSOLE_PORT),
        ("components/emulator/emulator.yaml", "emulator", EMULATOR_PORT),
        (
            "components/bigbuy-emulator/bigbuy-emulator.yaml",
            "bigbuy-emulator",
            BIGBUY_EMULATOR_PORT,
        ),
    ]
    for path, name, port in stand_ins:
        template = find(manifests[path], "Deployment", name)["spec"]["template"]
        component = template["metadata"]["labels"]["app.kubernetes.io/component"]
        assert component in {"console", "emulator"}
        assert template["metadata"]["annotations"] == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port),
            "prometheus.io/path": "/metrics",
        }, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_every_service_reaches_auth_and_auth_accepts_them(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    """Every service checks operator API keys at auth's Service, and auth lets each of them
    (the BigBuy connector included, which auth's default leaves out) ask."""
    docs = rendered[overlay]
    (config,) = by_kind(docs, "ConfigMap")
    assert (
        config["data"]["MCI_AUTH_URL"]
        == f"http://{find(docs, 'Service', 'auth')['metadata']['name']}:8001"
    )
    env = {
        e["name"]: e.get("value") for e in container_of(find(docs, "Deployment", "auth-api"))["env"]
    }
    assert set(env["AUTH_INTROSPECTION_CALLERS"].split(",")) == set(BACKENDS) - {"auth"}
