"""How `make test` splits the suite between its two workers (mci_testing.scheduling): the
directories that start a stack of services are one unit, handed out first; a stack stops after
its directory's last test, before the next directory's tests run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from mci_testing.scheduling import LONG_UNITS, STACK_DIRECTORIES, STACKS, _priority, unit_of


def test_the_stack_directories_are_one_unit_and_other_files_their_own() -> None:
    for directory in STACK_DIRECTORIES:
        assert unit_of(f"{directory}test_x.py::test_y") == STACKS
    assert unit_of("sandbox/allegro/tests/test_basics.py::test_me") == "sandbox/allegro/tests/"
    assert unit_of("services/offers/tests/test_service.py::test_a[1]") == (
        "services/offers/tests/test_service.py"
    )


def test_the_stacks_go_first_then_the_long_units_then_the_biggest() -> None:
    units = {
        "shared/tests/test_small.py": dict.fromkeys("ab", False),
        "shared/tests/test_many.py": dict.fromkeys("abcdef", False),
        LONG_UNITS[1]: dict.fromkeys("a", False),
        LONG_UNITS[0]: dict.fromkeys("a", False),
        STACKS: dict.fromkeys("a", False),
    }
    ordered = sorted(units, key=lambda unit: _priority(unit, units[unit]))
    assert ordered == [
        STACKS,
        LONG_UNITS[0],
        LONG_UNITS[1],
        "shared/tests/test_many.py",
        "shared/tests/test_small.py",
    ]


def test_a_directorys_stack_stops_after_its_last_test_and_before_the_next_directory(
    tmp_path: Path,
) -> None:
    log = tmp_path / "log"
    (tmp_path / "stacked").mkdir()
    (tmp_path / "stacked" / "conftest.py").write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            import pytest
            from mci_testing.scheduling import close_when_leaving
            LOG = Path({str(log)!r})

            @pytest.fixture(scope="session")
            def stack():
                with LOG.open("a") as f:
                    f.write("up\\n")
                yield
                with LOG.open("a") as f:
                    f.write("down\\n")

            @pytest.hookimpl(trylast=True)
            def pytest_runtest_teardown(item, nextitem):
                close_when_leaving(Path(__file__).parent, item, nextitem, "stack")
            """
        )
    )
    for name in ("test_one.py", "test_two.py"):
        (tmp_path / "stacked" / name).write_text("def test_it(stack):\n    pass\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "test_after.py").write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path

            def test_the_stack_is_down():
                assert Path({str(log)!r}).read_text().split() == ["up", "down"]
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "stacked", "other"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
    # Started once for both files of its directory, stopped once: not again at the session end.
    assert log.read_text().split() == ["up", "down"]
