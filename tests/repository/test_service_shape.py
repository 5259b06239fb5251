"""Every service has one shape (docs/service-anatomy.md), and this test keeps it so.

The services and the BigBuy connector (a service on the supplier's side, the same shape):

- the same top-level modules in every service;
- no route module (`api.py`, or the modules of an `api/` package) runs SQL or opens a
  transaction: routes parse, build a command, call the service layer, shape the answer;
- more generally, SQL lives in `repository.py` (or a `repository/` package, or a repository
  module per job beside it, `<job>_repository.py`) only, and no
  module but the service layer (`shared.uow.UnitsOfWork`) opens a transaction;
- no runtime module imports an emulator (Allegro's or BigBuy's): only `sandbox/`, tests,
  benchmarks and the local demo launcher may;
- no runtime package (shared, the services, the connector, the console, the CLI) imports test
  tooling. The console and the CLI store nothing and own no use case: only the last two apply.

A service not converted yet is listed in PENDING with what remains. A PENDING entry that
already passes fails the test, so the list only shrinks: remove it when the work is done.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each service's folder and its package.
SERVICES = {
    "auth": "services/auth/src/auth",
    "catalog": "services/catalog/src/catalog",
    "pricing": "services/pricing/src/pricing",
    "offers": "services/offers/src/offers",
    "orders": "services/orders/src/orders",
    "bigbuy": "connectors/bigbuy/src/bigbuy_connector",
}
MODULES = (
    "domain/",
    "handlers.py",
    "api.py",
    "consumer.py",
    "deps.py",
    "main.py",
    "settings.py",
    "repository.py",
)
EMULATORS = {"allegro_emulator", "bigbuy_emulator"}
# The packages that run in production, each service's and these.
RUNTIME = ("shared/src", "console/src", "cli/src")

# (service, check) -> what remains to do.
PENDING: dict[tuple[str, str], str] = {}
SQL_IN_ROUTES = re.compile(
    r"\bsa\.text\(|\btext\(|\.execute\(|\.exec_driver_sql\(|\.fetch(?:row|val)?\(|"
    r"\.scalars?\(|\.begin\(\)|\.connect\(\)|\bUnitOfWork\("
)
# Where the emulator may be imported besides sandbox/ and test directories: test support
# (the mci-testing package), benchmarks and the local demo launcher.
EMULATOR_ALLOWED = ("testing/", "bench/", "deploy/local/devstack.py")
# What runtime code must never import: test tooling and the fakes.
NOT_AT_RUNTIME = (*sorted(EMULATORS), "mci_testing", "pytest", "testcontainers")


def package(service: str) -> Path:
    return ROOT / SERVICES[service]


def service_dir(service: str) -> Path:
    return package(service).parents[1]


def route_modules(service: str) -> list[Path]:
    api = package(service) / "api"
    if api.is_dir():
        return sorted(api.rglob("*.py"))
    return [package(service) / "api.py"]


def imports_emulator(path: Path) -> bool:
    return bool(imported_roots(path) & EMULATORS)


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        roots.update(name.split(".")[0] for name in names)
    return roots


def missing_modules(service: str) -> list[str]:
    missing = []
    for module in MODULES:
        path = package(service) / module.rstrip("/")
        if module in ("api.py", "handlers.py", "repository.py") and path.with_suffix("").is_dir():
            continue  # a module split by job into a package of the same name
        if not (path.is_dir() if module.endswith("/") else path.is_file()):
            missing.append(module)
    if not (service_dir(service) / "README.md").is_file():
        missing.append("README.md")
    return missing


def sql_in_routes(service: str) -> list[str]:
    found = []
    for path in route_modules(service):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if SQL_IN_ROUTES.search(line.split("#")[0]):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def sql_outside_repository(service: str) -> list[str]:
    found = []
    for path in sorted(package(service).rglob("*.py")):
        relative = path.relative_to(package(service)).as_posix()
        if relative == "repository.py" or relative.startswith("repository/"):
            continue
        if re.fullmatch(r"[a-z_]+_repository\.py", relative):
            continue  # one job's repository beside repository.py (offers: shipping)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if SQL_IN_ROUTES.search(line.split("#")[0]):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def emulator_imports(service: str) -> list[str]:
    return [
        str(path.relative_to(ROOT))
        for path in sorted(package(service).rglob("*.py"))
        if imports_emulator(path)
    ]


CHECKS = {
    "same_modules": missing_modules,
    "routes_run_no_sql": sql_in_routes,
    "no_emulator_import": emulator_imports,
    "sql_only_in_repository": sql_outside_repository,
}


@pytest.mark.parametrize("check", sorted(CHECKS))
@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_one_shape(service: str, check: str) -> None:
    problems = CHECKS[check](service)
    pending = PENDING.get((service, check))
    if pending is not None:
        assert problems, f"{service} passes {check} now: remove it from PENDING ({pending})"
        pytest.xfail(pending)
    assert problems == [], f"{service} breaks {check}"


def test_only_the_sandbox_tests_benchmarks_and_the_demo_launcher_import_an_emulator() -> None:
    # Every file of the repository, the console and the CLI included.
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        parts = relative.split("/")
        if parts[0].startswith(".") or parts[0] == "sandbox" or "tests" in parts:
            continue
        if parts[0] == "conftest.py" or relative.startswith(EMULATOR_ALLOWED):
            continue
        if imports_emulator(path):
            offenders.append(relative)
    assert offenders == []


def test_no_runtime_package_imports_test_tooling() -> None:
    roots = [ROOT / folder for folder in RUNTIME] + [package(s) for s in SERVICES]
    offenders = {
        path.relative_to(ROOT).as_posix(): sorted(imported_roots(path) & set(NOT_AT_RUNTIME))
        for root in roots
        for path in sorted(root.rglob("*.py"))
    }
    assert {path: found for path, found in offenders.items() if found} == {}
