"""pytest-xdist scheduling for `make test` (`-n 2 --dist loadfile`): each test file runs whole
on one worker, so module-scoped servers start once; a directory whose last test reads what
the others recorded in the process runs whole on one worker, in file order."""

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


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling  # type: ignore[import-untyped]

    class ByFileOrDirectory(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

    return ByFileOrDirectory(config, log)
