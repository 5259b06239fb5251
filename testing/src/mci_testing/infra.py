"""Throw-away PostgreSQL databases and RabbitMQ vhosts for one test run.

URLs come from `TEST_DATABASE_URL` / `TEST_AMQP_URL` (defaulting to the local servers). Every
name carries the creating process id, so a run can drop what a killed earlier run left behind
without touching a run in progress. testcontainers is used only when those servers are
unreachable and a Docker engine is.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Awaitable, Callable
from contextlib import suppress
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import asyncpg
import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.settings import DEFAULT_AMQP_URL, DEFAULT_DATABASE_ADMIN_URL

DB_PREFIX = "mci_test_"
VHOST_PREFIX = "mci-test-"


def run_tag() -> str:
    return f"{os.getpid()}_{secrets.token_hex(3)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_pid(name: str, prefix: str) -> int | None:
    head = name[len(prefix) :].split("_" if prefix == DB_PREFIX else "-")[0]
    return int(head) if head.isdigit() else None


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
        return True
    except Exception:
        return False


# --- PostgreSQL ------------------------------------------------------------------------------


def admin_database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_DATABASE_ADMIN_URL


def with_database(admin_url: str, database: str, driver: str = "postgresql+asyncpg") -> str:
    parts = urlsplit(admin_url)
    return urlunsplit((driver, parts.netloc, f"/{database}", parts.query, ""))


async def create_database(admin_url: str, name: str) -> str:
    conn = await asyncpg.connect(with_database(admin_url, "postgres", "postgresql"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(with_database(admin_url, "postgres", "postgresql"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def drop_databases(admin_url: str, names: list[str], at_once: int = 8) -> None:
    """Drop several databases concurrently: each DROP DATABASE waits for a checkpoint, and
    concurrent drops share one instead of queueing for one each (a run creates dozens)."""
    gate = asyncio.Semaphore(at_once)

    async def drop(name: str) -> None:
        async with gate:
            await drop_database(admin_url, name)

    await asyncio.gather(*(drop(name) for name in names))


async def drop_stale_databases(admin_url: str) -> list[str]:
    conn = await asyncpg.connect(with_database(admin_url, "postgres", "postgresql"))
    try:
        names = [
            r["datname"]
            for r in await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1", DB_PREFIX + "%"
            )
        ]
    finally:
        await conn.close()
    stale = [n for n in names if (pid := _owner_pid(n, DB_PREFIX)) and not _pid_alive(pid)]
    await drop_databases(admin_url, stale)
    return stale


# --- RabbitMQ --------------------------------------------------------------------------------


def base_amqp_url() -> str:
    return os.environ.get("TEST_AMQP_URL") or DEFAULT_AMQP_URL


def with_vhost(amqp_url: str, vhost: str) -> str:
    parts = urlsplit(amqp_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), parts.query, ""))


def vhost_of(amqp_url: str) -> str:
    """The vhost an AMQP URL names (`with_vhost` read back): `/` when it names none."""
    path = urlsplit(amqp_url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


class VhostAdmin:
    """Creates and deletes vhosts through the management API if it answers, else rabbitmqctl."""

    def __init__(self, amqp_url: str) -> None:
        parts = urlsplit(amqp_url)
        self.user = parts.username or "guest"
        self.password = parts.password or "guest"
        self.management = os.environ.get(
            "TEST_RABBITMQ_MANAGEMENT_URL", f"http://{parts.hostname or '127.0.0.1'}:15672"
        )
        self._use_http: bool | None = None

    def _http(self) -> bool:
        if self._use_http is None:
            try:
                httpx.get(
                    f"{self.management}/api/overview", auth=(self.user, self.password), timeout=2
                ).raise_for_status()
                self._use_http = True
            except Exception:
                if shutil.which("rabbitmqctl") is None:
                    raise RuntimeError(
                        "cannot create a RabbitMQ vhost: no management API and no rabbitmqctl"
                    ) from None
                self._use_http = False
        return self._use_http

    def _ctl(self, *args: str) -> str:
        return subprocess.run(
            ["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=120
        ).stdout

    def create(self, vhost: str) -> None:
        if self._http():
            auth = (self.user, self.password)
            httpx.put(f"{self.management}/api/vhosts/{quote(vhost, safe='')}", auth=auth)
            httpx.put(
                f"{self.management}/api/permissions/{quote(vhost, safe='')}/{self.user}",
                json={"configure": ".*", "write": ".*", "read": ".*"},
                auth=auth,
            ).raise_for_status()
        else:
            self._ctl("add_vhost", vhost)
            self._ctl("set_permissions", "-p", vhost, self.user, ".*", ".*", ".*")

    def delete(self, vhost: str) -> None:
        with suppress(Exception):
            if self._http():
                httpx.delete(
                    f"{self.management}/api/vhosts/{quote(vhost, safe='')}",
                    auth=(self.user, self.password),
                )
            else:
                self._ctl("delete_vhost", vhost)

    def names(self) -> list[str]:
        if self._http():
            response = httpx.get(f"{self.management}/api/vhosts", auth=(self.user, self.password))
            return [v["name"] for v in response.json()]
        return [
            line.strip() for line in self._ctl("list_vhosts", "name").splitlines() if line.strip()
        ]

    def delete_stale(self) -> list[str]:
        stale = [
            name
            for name in self.names()
            if name.startswith(VHOST_PREFIX)
            and (pid := _owner_pid(name, VHOST_PREFIX))
            and not _pid_alive(pid)
        ]
        for name in stale:
            self.delete(name)
        return stale

    def close_all_connections(self, vhost: str, reason: str = "fault test") -> None:
        """Drop every client connection of one vhost (a broker-side network failure)."""
        if self._http():
            conns = httpx.get(
                f"{self.management}/api/vhosts/{quote(vhost, safe='')}/connections",
                auth=(self.user, self.password),
            ).json()
            for conn in conns:
                httpx.delete(
                    f"{self.management}/api/connections/{quote(conn['name'], safe='')}",
                    auth=(self.user, self.password),
                    headers={"X-Reason": reason},
                )
        else:
            self._ctl("close_all_connections", "-p", vhost, reason)


def free_port() -> int:
    """A local TCP port free at the time of asking (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], within: float = 30.0, interval: float = 0.1
) -> None:
    """Poll an async predicate until it returns true; fail with a clear message after `within` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if await predicate():
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within} s: {predicate}")
        await asyncio.sleep(interval)


class Throwaway:
    """A vhost and any number of databases for one benchmark run, all removed on exit.

    `async with Throwaway() as env: url = await env.database("catalog")`; `env.amqp_url`.
    """

    def __init__(self) -> None:
        self.admin_url = admin_database_url()
        self.tag = run_tag()
        self.vhosts = VhostAdmin(base_amqp_url())
        self.vhost = f"{VHOST_PREFIX}{self.tag.replace('_', '-')}"
        self.amqp_url = with_vhost(base_amqp_url(), self.vhost)
        self._databases: list[str] = []

    async def start(self) -> Throwaway:
        self.vhosts.delete_stale()
        await drop_stale_databases(self.admin_url)
        self.vhosts.create(self.vhost)
        return self

    async def __aenter__(self) -> Throwaway:
        return await self.start()

    async def database(self, label: str) -> str:
        name = f"{DB_PREFIX}{self.tag}_{label}"
        self._databases.append(name)
        return await create_database(self.admin_url, name)

    async def close(self) -> None:
        self.vhosts.delete(self.vhost)
        await drop_databases(self.admin_url, self._databases)

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def lock_waits(engine: AsyncEngine, statement_like: str = "%") -> int:
    """Backends of `engine`'s database waiting for a lock, running a statement LIKE
    `statement_like`: how a test knows the transaction it started has reached the lock it set
    up (for `wait_until`)."""
    async with engine.connect() as conn:
        found = await conn.scalar(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE :q"
            ),
            {"q": statement_like},
        )
    return int(found or 0)
