"""The order of `make test` (two pytest-xdist workers, `-n 2 --dist loadfile`).

The directories that start a stack of services (the end-to-end tests' dozen processes, the
console's, the API-wide tests' and the CLI's served stacks) hold most of the run's PostgreSQL
connections (the server allows 100). They run as one unit, on one worker, one after the other;
each stack stops after its directory's last test (`close_when_leaving`), so that worker holds one
stack at a time. The other worker takes the rest file by file (module-scoped servers start once
per file), the heavy worker joins it when its unit is done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# In this order, in one unit: the end-to-end stack first, before the machine is busiest.
STACK_DIRECTORIES = ("tests/e2e/", "console/tests/", "tests/api/", "cli/tests/")
STACKS = "stacks: " + ", ".join(STACK_DIRECTORIES)
# sandbox/allegro/tests/test_zz_contract_coverage.py checks every answer the other files made
# the emulator give (module-level sets in that directory's conftest): that directory runs whole
# on one worker, in file order.
ONE_WORKER_DIRECTORIES = ("sandbox/allegro/tests/",)
# The units that took a minute and more in a full run (slowest first): handed out first, so that
# none is left to run alone at the end while the other worker waits. A unit not named here (a
# file renamed, a new one) comes after them, those with most tests first. The 429-storm file
# of offers waits for its offers with a deadline: not the first, beside the end-to-end stack's
# start (a dozen processes starting and publishing), where it ran out of time once.
LONG_UNITS = (
    "sandbox/allegro/tests/",
    "connectors/bigbuy/tests/test_catalogue.py",
    "services/offers/tests/test_rate_floor.py",
    "services/orders/tests/test_service.py",
    "tests/fault/test_messaging_faults.py",
    "services/offers/tests/test_sync_service.py",
    "services/offers/tests/test_service.py",
    "services/catalog/tests/test_selection.py",
    "services/offers/tests/test_drift_service.py",
    "services/catalog/tests/test_import_bad_files.py",
    "tests/deploy/test_k8s.py",
    "services/catalog/tests/test_ingestion.py",
    "services/auth/tests/test_accounts.py",
)


def _stack_rank(path: str) -> int:
    for rank, directory in enumerate(STACK_DIRECTORIES):
        if path.startswith(directory):
            return rank
    return len(STACK_DIRECTORIES)


def unit_of(nodeid: str) -> str:
    """The part of the suite a worker takes whole: the stacks, a directory above, or a file."""
    path = nodeid.split("::", 1)[0]
    if _stack_rank(path) < len(STACK_DIRECTORIES):
        return STACKS
    for directory in ONE_WORKER_DIRECTORIES:
        if path.startswith(directory):
            return directory
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The stack directories first, in STACK_DIRECTORIES' order; the rest as collected."""
    root = config.rootpath

    def rank(item: pytest.Item) -> int:
        try:
            return _stack_rank(item.path.relative_to(root).as_posix())
        except ValueError:
            return len(STACK_DIRECTORIES)

    items.sort(key=rank)


def close_when_leaving(
    directory: Path, item: pytest.Item, nextitem: pytest.Item | None, *fixtures: str
) -> None:
    """Tear down the named session-scoped fixtures of `directory`'s conftest after the last test
    under `directory`, instead of at the end of the session: a stack left running holds its
    connections and keeps polling (outbox relays, background loops) while other tests run.
    Called from that conftest's `pytest_runtest_teardown`; a later test under `directory` would
    start them again."""
    if nextitem is not None and nextitem.path.is_relative_to(directory):
        return
    manager = item.session._fixturemanager
    for name in fixtures:
        for fixturedef in manager.getfixturedefs(name, item) or ():
            fixturedef.finish(item._request)  # type: ignore[attr-defined]


def _priority(unit: str, tests: dict[str, bool]) -> tuple[int, int]:
    """The stacks first, then the long units in LONG_UNITS' order, then by number of tests."""
    if unit == STACKS:
        return (0, 0)
    if unit in LONG_UNITS:
        return (1, LONG_UNITS.index(unit))
    return (2, -len(tests))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling  # type: ignore[import-untyped]

    class StacksThenFiles(LoadFileScheduling):  # type: ignore[misc]
        """The stacks' unit first (the first worker takes it), then the other units in
        `_priority`'s order; each worker asks for the next unit as it finishes one."""

        collection: list[str] | None

        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

        def schedule(self) -> None:
            # The base class's, with the units in this order (it would sort them by size).
            assert self.collection_is_completed
            if self.collection is not None:
                for node in self.nodes:
                    self._reschedule(node)
                return
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            collection: list[str] = list(next(iter(self.registered_collections.values())))
            self.collection = collection
            units: dict[str, dict[str, bool]] = {}
            for nodeid in collection:
                units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            for scope, tests in sorted(units.items(), key=lambda unit: _priority(*unit)):
                self.workqueue[scope] = tests
            for _ in range(len(self.nodes) - len(self.workqueue)):
                self.assigned_work.popitem()[0].shutdown()
            for node in self.nodes:
                self._assign_work_unit(node)

    return StacksThenFiles(config, log)
