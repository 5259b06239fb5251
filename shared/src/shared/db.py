"""Async SQLAlchemy helpers: engines, the service database's creation, migrations at start."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_

# Every statement is planned for its parameters, each time it runs. asyncpg prepares each
# statement once a connection, and after five runs PostgreSQL may keep a generic plan for the
# connection's life: one made while a table was nearly empty stays until an ANALYZE of that
# table, even as the table grows a hundred thousand rows. In bench-offers, marking an offer's
# images used kept a plan made on an empty `offer_images` that read every upload of the
# account (15 ms a create at 45,000 products, and growing with each one). Planning these
# statements takes a fraction of a millisecond.
SESSION_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


def create_engine(url: str, *, pool_size: int = 10, application_name: str = "mci") -> AsyncEngine:
    """An engine of at most twice `pool_size` connections, each opened when first needed and
    then kept. As a pool of `pool_size` with as many again in overflow, every connection past
    `pool_size` was closed when given back and opened again at the next burst: in bench-offers
    the offers process opened 8-14 PostgreSQL sessions a second (a backend started, its
    catalogue caches and prepared statements built anew each time)."""
    engine = create_async_engine(
        url,
        pool_size=2 * pool_size,
        max_overflow=0,
        connect_args={"server_settings": SESSION_SETTINGS | {"application_name": application_name}},
    )
    # A backend killed by the server (failover, pg_terminate_backend) is noticed before use.
    event.listen(engine.sync_engine, "checkout", _ping)
    event.listen(engine.sync_engine, "checkin", _given_back)
    return engine


# A connection given back this recently is not pinged at its next checkout: it answered a
# moment ago. Under load connections come back within milliseconds, and every unit of work
# and rate-budget reservation checks one out, so nearly every ping was of a live backend (a
# round trip each, a few percent of the offers process's CPU in bench-offers). A backend
# killed within that second fails its next statement instead; a disconnect invalidates the
# pool's older connections, and the caller's retry gets fresh ones.
RECENTLY_USED_SECONDS = 1.0


def _given_back(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info["given_back_at"] = time.monotonic()


def _ping(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
    """One round trip at a checkout (but of a connection given back a moment ago). SQLAlchemy's
    own `pool_pre_ping` on asyncpg takes three (BEGIN, the ping, ROLLBACK: a transaction kept
    for pgbouncer's transaction mode, not used here)."""
    given_back_at = record.info.get("given_back_at")
    if given_back_at is not None and time.monotonic() - given_back_at < RECENTLY_USED_SECONDS:
        return
    connection = record.driver_connection
    assert connection is not None  # a checked-out entry holds its connection
    try:
        await_(connection.fetchrow(";"))
    except Exception as error:
        # The pool drops this connection and checks out another (a fresh one, if need be).
        raise exc.DisconnectionError(repr(error)) from error


def plain_dsn(url: str) -> str:
    """asyncpg's own DSN form of a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def ensure_database(url: str) -> None:
    """Create the database `url` names if it is missing (the server's `postgres` db admits us)."""
    target = make_url(url)
    admin = plain_dsn(target.set(database="postgres").render_as_string(hide_password=False))
    conn = await asyncpg.connect(admin)
    try:
        exists = await conn.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", target.database
        )
        if not exists:
            # Another replica may create it first.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{target.database}"')
    finally:
        await conn.close()


def alembic_config(migrations_dir: Path, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def migrate(migrations_dir: Path, url: str) -> None:
    """Create the database if needed and upgrade it to head.

    Alembic's async env runs its own event loop, so it runs in a worker thread.
    """
    await ensure_database(url)
    await asyncio.to_thread(command.upgrade, alembic_config(migrations_dir, url), "head")
