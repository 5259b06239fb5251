"""Oversized anonymous bodies do not get into the service's memory: catalog runs as its own
process with its default limits, four clients each push a 100 MB body at once, and the process's
peak resident memory (VmHWM, the kernel's high-water mark: no timing involved) stays far below
what reading even one of them would take."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mci_testing.fixtures import MakeDatabase
from mci_testing.infra import free_port

BODY = 100 * 1024**2
CHUNK = 1024**2


def peak_rss(pid: int) -> int:
    """VmHWM of /proc/<pid>/status, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.fixture
async def database_url(make_database: MakeDatabase) -> str:
    return await make_database("api_memory")


@pytest.fixture
def catalog_process(database_url: str, amqp_url: str) -> Iterator[tuple[int, int]]:
    port = free_port()
    env = {
        **os.environ,
        "CATALOG_DATABASE_URL": database_url,
        "CATALOG_AMQP_URL": amqp_url,
        "CATALOG_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "catalog", "--role", "api", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        while True:  # until it answers (pytest-timeout bounds a service that never does)
            assert process.poll() is None, "catalog exited"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health/live").status_code == 200:
                    break
            time.sleep(0.1)
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def push(port: int, head: bytes, chunked: bool) -> bytes:
    """Send the head, then up to BODY bytes until the server stops taking them; its answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = asyncio.create_task(reader.read(4096))
    writer.write(head)
    chunk = b"x" * CHUNK
    with contextlib.suppress(ConnectionError):
        for _ in range(BODY // CHUNK):
            if answer.done():
                break
            writer.write(f"{CHUNK:x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
            await writer.drain()
        if chunked and not answer.done():
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    try:
        return await answer
    except ConnectionError:
        return b""  # the answer was lost to the reset of a connection closed mid-body
    finally:
        writer.close()


async def test_four_100_mb_anonymous_bodies_never_reach_memory(
    catalog_process: tuple[int, int],
) -> None:
    port, pid = catalog_process
    json_route = (
        f"POST /screening/rules HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {BODY}\r\n\r\n"
    ).encode()
    streamed = (
        b"POST /screening/rules HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    streamed_import = (
        b"POST /imports?format=jsonl HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    before = peak_rss(pid)
    answers = await asyncio.gather(
        push(port, json_route, chunked=False),
        push(port, json_route, chunked=False),
        push(port, streamed, chunked=True),
        push(port, streamed_import, chunked=True),
    )
    grown = peak_rss(pid) - before
    assert grown < 40 * 1024**2, f"peak RSS grew by {grown / 1024**2:.0f} MB"
    # Refused (unless the answer was lost to the reset: test_bad_requests checks the answers).
    assert [a[:12] for a in answers] in (
        [s, t, u, v]
        for s in (b"", b"HTTP/1.1 413")
        for t in (b"", b"HTTP/1.1 413")
        for u in (b"", b"HTTP/1.1 413")
        for v in (b"", b"HTTP/1.1 401")
    ), answers
