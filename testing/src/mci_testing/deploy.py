"""What the deployment tests share: the repository's layout, the platform's fixed conventions
(service ports, the RabbitMQ topology), and how to find and run the tools that check the files.

The Debian tools (docker-compose, promtool, prometheus) come from `make tools`; hadolint,
kubernetes-validate and check-jsonschema from requirements.lock. A missing tool fails its test
with the command that installs it: a skipped check would pass for nothing.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]


DEPLOY = ROOT / "deploy"


SERVICES: dict[str, int] = {
    "auth": 8001,
    "catalog": 8002,
    "pricing": 8003,
    "offers": 8004,
    "orders": 8005,
}


# The BigBuy connector runs like a service: its own database, the broker, api and worker roles.
CONNECTORS: dict[str, int] = {"bigbuy": 8006}


# Every service and connector: what has a database, a migrations Job, api and worker Deployments.
BACKENDS: dict[str, int] = {**SERVICES, **CONNECTORS}


EMULATOR_PORT = 8400


BIGBUY_EMULATOR_PORT = 8410


# The operator console: stateless, talks to the services' APIs only.
CONSOLE_PORT = 8009


# The RabbitMQ topology every service relies on: queue -> [(exchange, routing key)].
ACCOUNT_EVENTS = ["account.connected", "account.disconnected", "account.refresh-failed"]


TOPOLOGY: dict[str, list[tuple[str, str]]] = {
    "catalog.supplier-products": [("mci.upstream", "supplier.products")],
    "catalog.supplier-reference-lists": [("mci.upstream", "supplier.reference-lists")],
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
    "orders.offers": [("mci.events", "offer.published")],
    "bigbuy.orders": [("mci.events", "order.received"), ("mci.events", "order.cancelled")],
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


K8S = DEPLOY / "k8s"


VENV_BIN = Path(sys.executable).parent


KUBERNETES_VERSION = "1.32.0"


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
