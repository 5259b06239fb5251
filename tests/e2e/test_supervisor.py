"""The process supervisor `make run` and the end-to-end tests share: start until ready, SIGKILL,
restart, stop cleanly, and a process that dies at start is reported with its log."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from mci_testing.infra import free_port
from mci_testing.supervisor import ProcessFailed, ProcessSpec, Supervisor

pytestmark = pytest.mark.e2e


def emulator(port: int) -> ProcessSpec:
    return ProcessSpec(
        "bigbuy-emulator",
        "bigbuy_emulator",
        port,
        "/__admin/config",
        args=("--catalogue-size", "10", "--no-rate-limits"),
    )


def test_start_kill_restart_and_stop(tmp_path: Path) -> None:
    port = free_port()
    with Supervisor(tmp_path, os.environ) as supervisor:
        first = supervisor.start(emulator(port))
        assert httpx.get(f"{supervisor.url('bigbuy-emulator')}/__admin/config").status_code == 200

        supervisor.kill("bigbuy-emulator")
        assert first.process.returncode == -signal.SIGKILL
        assert supervisor.dead() == ["bigbuy-emulator"]
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/__admin/config")

        second = supervisor.restart("bigbuy-emulator")
        assert second.starts == 2 and second.process.pid != first.process.pid
        assert supervisor.dead() == []
        assert httpx.get(f"http://127.0.0.1:{port}/__admin/config").status_code == 200

        supervisor.stop_all()
        # SIGTERM: uvicorn shuts down and exits on it (re-raising it), not killed after the grace.
        assert second.process.returncode in (0, -signal.SIGTERM)
    assert second.log == tmp_path / "bigbuy-emulator.log"
    assert second.log.exists()


def test_a_process_that_dies_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    broken = ProcessSpec("broken", "bigbuy_emulator", free_port(), args=("--no-such-option",))
    with Supervisor(tmp_path, os.environ) as supervisor, pytest.raises(ProcessFailed) as failed:
        supervisor.start(broken, ready_within=60)
    assert "broken exited" in str(failed.value) and "broken.log" in str(failed.value)
    assert "--no-such-option" in (tmp_path / "broken.log").read_text()
