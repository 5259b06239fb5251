"""What the benchmarks (bench/) that run a service in its own process share: serving it, the
emulator beside it, waiting for readiness, events as the broker carries them, the emulator's
limits and counters read as a floor, percentiles, the load average.

A bench script runs itself with `--serve PORT ACCOUNT=TOKEN...` to become the service
(`serve`): the service's `main.build` with fixed Allegro tokens, since there is no auth service
in a benchmark; `spawn_service` starts that process with the service's settings in its
environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import orjson

from mci_testing import infra
from shared.events import Envelope, Event

ROOT = Path(__file__).resolve().parents[3]  # the repository (testing/src/mci_testing/..)


def unshadow(script: str) -> None:
    """Take a bench script's folder off the path: run as a script, it comes first, and its
    files' names (catalog.py, orders.py, offers.py) hide the services' packages."""
    here = Path(script).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]


def serve(service: str, port: int, pairs: Sequence[str]) -> None:
    """The service `service` (API and worker) with fixed Allegro tokens (`ACCOUNT=TOKEN`);
    its settings come from its environment."""
    import uvicorn

    unshadow(sys.argv[0])
    build = importlib.import_module(f"{service}.main").build
    from shared.allegro.tokens import StaticTokens
    from shared.service import create_app

    tokens = dict(pair.split("=", 1) for pair in pairs)
    app = create_app(build(allegro_tokens=StaticTokens(tokens)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def wait_ready(url: str, within: float = 60) -> None:
    """Until `url` answers 200 (RuntimeError after `within` seconds)."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer 200")
            await asyncio.sleep(0.2)


async def spawn_emulator(env: Mapping[str, str]) -> tuple[asyncio.subprocess.Process, str]:
    """The Allegro emulator in its own process (settings `ALLEGRO_EMULATOR_*` in `env`), ready:
    the process and its base URL."""
    port = infra.free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "allegro_emulator",
        "--port",
        str(port),
        env={**os.environ, **env},
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(f"{base}/__admin/config")
    except BaseException:
        await stop(process)
        raise
    return process, base


async def spawn_service(
    script: str, tokens: Mapping[str, str], env: Mapping[str, str]
) -> tuple[asyncio.subprocess.Process, str]:
    """`script --serve` in its own process with `env` (its settings), ready: the process and
    its URL."""
    port = infra.free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        script,
        "--serve",
        str(port),
        *(f"{account}={token}" for account, token in tokens.items()),
        env={**os.environ, **env},
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(f"{url}/health/ready")
    except BaseException:
        await stop(process)
        raise
    return process, url


async def stop(*processes: asyncio.subprocess.Process | None) -> None:
    """Terminate each process still running and wait for it."""
    for process in processes:
        if process is not None and process.returncode is None:
            process.terminate()
            await process.wait()


def message_of(event: Event, source: str) -> aio_pika.Message:
    """`event` in its envelope, as a producing service's relay publishes it."""
    envelope = Envelope(
        type=event.event_type,
        source=source,
        correlation_id=str(uuid.uuid4()),
        data=event.model_dump(mode="json"),
    )
    return aio_pika.Message(
        orjson.dumps(envelope.model_dump(mode="json")),
        message_id=str(envelope.id),
        type=envelope.type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


def per_second(config: dict[str, Any], name: str) -> float:
    """A limit of the emulator's `/__admin/config` as calls (or offer changes) per second, its
    `rate_limit_scale` applied."""
    spec = config["rate_limits"][name]
    return float(spec["limit"]) / float(spec["window_seconds"]) * float(config["rate_limit_scale"])


def answered(counters: dict[str, Any], operation: str | None = None, method: str = "POST") -> int:
    """Calls the emulator answered (its `/__admin/counters`), on `operation` or on any; 429s
    are not work: they were refused."""
    return sum(
        r["count"]
        for r in counters["requests"]
        if r["status"] != 429
        and (operation is None or (r["operation"] == operation and r["method"] == method))
    )


def calls_by_operation(counters: dict[str, Any], most: int | None = None) -> str:
    """The calls the emulator answered by method and operation, for a figure's note: all of
    them by name, or the `most` busiest."""
    found: Counter[str] = Counter()
    for r in counters["requests"]:
        if r["status"] != 429:
            found[f"{r['method']} {r['operation']}"] += r["count"]
    listed = sorted(found.items()) if most is None else found.most_common(most)
    return ", ".join(f"{k}: {v}" for k, v in listed)


def write_results(path: Path, results: list[dict[str, Any]]) -> None:
    """The run's figures into `path` (bench/results/<bench>.json, what `make bench-summary`
    reads), and on the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as the notes quote them."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())
