"""Where a failure comes from: the database (retry in-process) or the message's handler (count it).

A handler's own `OSError` or `TimeoutError` (an HTTP call, a file) says nothing about the
database, so the type alone cannot classify it. What can: the error came through the database
driver (SQLAlchemy's `DBAPIError` or asyncpg's own errors), and its SQLSTATE class says the
server, not the statement, is the problem; or the handler's database connection died under it.
"""

from __future__ import annotations

import enum

import asyncpg
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


class Failure(enum.Enum):
    OUTAGE = "outage"  # the database is unreachable or read-only: wait for it, forever
    CONTENTION = "contention"  # timeouts, locks, conflicts: retry soon, a few times
    HANDLER = "handler"  # the handler's own code failed on this message: counted


# SQLSTATE classes (prefixes) and codes, https://www.postgresql.org/docs/current/errcodes-appendix.html
_OUTAGE_SQLSTATES = (
    "08",  # connection exception
    "53",  # insufficient resources (disk full, out of memory, too many connections)
    "57P",  # operator intervention: admin/crash shutdown, cannot connect now, database dropped
    "58",  # system error (I/O)
    "25006",  # read_only_sql_transaction: connected to a standby, e.g. after a failover
)
_CONTENTION_SQLSTATES = (
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available: lock_timeout
    "57014",  # query_canceled: statement_timeout
)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, the driver error SQLAlchemy wraps, and their causes."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen) or len(seen) > 20:
            continue
        seen.append(current)
        todo += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return seen


def sqlstate(exc: BaseException) -> str | None:
    for link in _chain(exc):
        code = getattr(link, "sqlstate", None) or getattr(link, "pgcode", None)
        if isinstance(code, str) and code:
            return code
    return None


def _from_driver(exc: BaseException) -> bool:
    return any(
        isinstance(link, DBAPIError | asyncpg.PostgresError | asyncpg.InterfaceError)
        for link in _chain(exc)
    )


def database_failure(exc: BaseException) -> Failure | None:
    """OUTAGE or CONTENTION if `exc` came from the database server or connection, else None."""
    code = sqlstate(exc)
    if code is not None:
        if code.startswith(_OUTAGE_SQLSTATES):
            return Failure.OUTAGE
        if code.startswith(_CONTENTION_SQLSTATES):
            return Failure.CONTENTION
        return None  # a statement the server refused (constraint, syntax): the handler's fault
    if not _from_driver(exc):
        return None
    for link in _chain(exc):
        if isinstance(link, DBAPIError) and link.connection_invalidated:
            return Failure.OUTAGE
        # No SQLSTATE through the driver: the connection itself (closed, reset, timed out).
        if isinstance(
            link,
            OSError | TimeoutError | asyncpg.InterfaceError | InterfaceError | OperationalError,
        ):
            return Failure.OUTAGE
    return None


def infrastructure_failure(exc: BaseException) -> Failure | None:
    """For errors outside any handler (connecting, the inbox, COMMIT): the plumbing's failures.

    Here an `OSError` or `TimeoutError` can only come from a connection: asyncpg raises them
    unwrapped when it cannot connect at all.
    """
    found = database_failure(exc)
    if found is not None:
        return found
    if any(isinstance(link, OSError | TimeoutError) for link in _chain(exc)):
        return Failure.OUTAGE
    return None
