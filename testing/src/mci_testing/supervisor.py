"""Local processes under supervision: `make run`'s stack and the end-to-end tests share it.

Each process is `python -m <module> ...` in a session of its own (so a signal reaches every
process it spawned), its output appended to `<logs>/<name>.log`. Ready means its HTTP ready
path answers 200. `stop` is SIGTERM then, after a grace period, SIGKILL; `kill` is SIGKILL at
once (a crash: nothing flushed, nothing acked); `restart` starts the same command again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    module: str
    port: int
    ready_path: str = "/health/ready"
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [sys.executable, "-m", self.module, "--port", str(self.port), *self.args]


class ProcessFailed(RuntimeError):
    """A supervised process exited, or never became ready."""


@dataclass
class Supervised:
    spec: ProcessSpec
    process: subprocess.Popen[bytes]
    log: Path
    starts: int = 1

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


class Supervisor:
    """Starts, watches and stops a set of named processes; stops them in reverse order."""

    def __init__(self, logs: Path, env: Mapping[str, str]) -> None:
        self.logs = logs
        self.env = dict(env)
        self.running: dict[str, Supervised] = {}

    def start(self, spec: ProcessSpec, *, ready_within: float = 120.0) -> Supervised:
        """Start `spec` and wait until it answers its ready path."""
        self.logs.mkdir(parents=True, exist_ok=True)
        path = self.logs / f"{spec.name}.log"
        with path.open("ab") as log:
            process = subprocess.Popen(
                spec.argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**self.env, **spec.env},
                start_new_session=True,
            )
        previous = self.running.get(spec.name)
        handle = Supervised(spec, process, path, starts=previous.starts + 1 if previous else 1)
        self.running[spec.name] = handle
        self.wait_ready(spec.name, within=ready_within)
        return handle

    def wait_ready(self, name: str, within: float = 120.0) -> None:
        handle = self.running[name]
        url = handle.spec.url + handle.spec.ready_path
        # Generous: on a loaded machine a service's migrations and imports take a while.
        deadline = time.monotonic() + within
        with httpx.Client(timeout=5) as http:
            while True:
                if not handle.alive:
                    raise ProcessFailed(
                        f"{name} exited ({handle.process.returncode}); see {handle.log}"
                    )
                try:
                    if http.get(url).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise ProcessFailed(f"{name} not ready after {within:.0f} s; see {handle.log}")
                time.sleep(0.3)

    def url(self, name: str) -> str:
        return self.running[name].spec.url

    def dead(self) -> list[str]:
        """Processes that exited without being asked to."""
        return [name for name, handle in self.running.items() if not handle.alive]

    def _signal(self, handle: Supervised, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(handle.process.pid, sig)

    def kill(self, name: str) -> None:
        """SIGKILL (kill -9) the process and whatever it spawned, and reap it."""
        handle = self.running[name]
        self._signal(handle, signal.SIGKILL)
        handle.process.wait()

    def restart(self, name: str, *, ready_within: float = 120.0) -> Supervised:
        handle = self.running[name]
        if handle.alive:
            self.stop(name)
        return self.start(handle.spec, ready_within=ready_within)

    def stop(self, name: str, grace: float = 20.0) -> None:
        handle = self.running[name]
        if not handle.alive:
            return
        self._signal(handle, signal.SIGTERM)
        try:
            handle.process.wait(grace)
        except subprocess.TimeoutExpired:
            self._signal(handle, signal.SIGKILL)
            handle.process.wait()

    def stop_all(self, grace: float = 20.0) -> None:
        """SIGTERM to all at once (newest first), then SIGKILL for any still up after `grace`."""
        handles = list(reversed(self.running.values()))
        for handle in handles:
            if handle.alive:
                self._signal(handle, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for handle in handles:
            try:
                handle.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal(handle, signal.SIGKILL)
                handle.process.wait()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_all()
