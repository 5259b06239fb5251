"""The order of `make test`: the end-to-end tests first (in one process: before any
session-long stack starts). With pytest-xdist (`-n 2 --dist loadfile`): each test file runs
whole on one worker, so module-scoped servers start once; a directory whose last test reads
what the others recorded in the process runs whole on one worker, in file order."""

from __future__ import annotations

from typing import Any

import pytest

# sandbox/allegro/tests/test_zz_contract_coverage.py checks every answer the other files made
# the emulator give (module-level sets in that directory's conftest). The others start a stack
# of services once per session for all their files: split across workers, each worker would
# start its own and hold its connections (PostgreSQL allows 100) to the end of the run.
ONE_WORKER_DIRECTORIES = (
    "sandbox/allegro/tests/",
    "console/tests/",
    "tests/api/",
    "cli/tests/",
)


def unit_of(nodeid: str) -> str:
    """The part of the suite a worker takes whole: a directory above, else the file."""
    path = nodeid.split("::", 1)[0]
    for directory in ONE_WORKER_DIRECTORIES:
        if path.startswith(directory):
            return directory
    return path


# Run first: its stack of a dozen service processes must not meet the session-long stacks
# (the console's, the CLI's, the API tests') on PostgreSQL's 100 connections.
FIRST_DIRECTORIES = ("tests/e2e/",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The end-to-end tests first, everything else in its collected order."""
    root = config.rootpath

    def first(item: pytest.Item) -> bool:
        try:
            path = item.path.relative_to(root).as_posix()
        except ValueError:
            return False
        return path.startswith(FIRST_DIRECTORIES)

    items.sort(key=lambda item: not first(item))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling  # type: ignore[import-untyped]

    class ByFileOrDirectory(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

    return ByFileOrDirectory(config, log)
