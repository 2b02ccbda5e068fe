"""What a database failure means, and the one line that says so (CLI, dashboard, workers).

Three kinds, told apart because each calls for something different:

* unreachable: the server is down, refuses or drops the connection, or a SQLite file is busy
  or cannot be opened. Worth retrying later; jobs go back to the queue.
* refused: the server answered and turned us away (wrong password, no such role or
  database), or a SQLite file is not a database. Retrying changes nothing until the
  settings or the file change.
* statement: the database ran our statement and refused it (a value out of range, a bug).
  Retrying changes nothing; a job fails at once with the reason.
"""

from __future__ import annotations

import errno
import socket
import sqlite3
from collections.abc import Iterator
from typing import Literal

from core.text import printable

FailureKind = Literal["unreachable", "refused", "statement"]

# SQLite errors that say the file is busy or cannot be opened, not that a statement is bad.
_SQLITE_UNAVAILABLE = (
    "database is locked",
    "database table is locked",
    "database is busy",
    "unable to open database file",
    "disk i/o error",
)
# SQLite errors that say the file itself is no usable database.
_SQLITE_UNUSABLE = ("file is not a database", "database disk image is malformed")
# asyncpg's InterfaceError for a connection already closed (others are client-side misuse).
_CLOSED_CONNECTION = ("connection is closed", "connection was closed")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _kind_of(exc: BaseException) -> FailureKind | None:
    """The kind of one exception in a chain, or None when it says nothing either way."""
    import asyncpg.exceptions as pg  # type: ignore[import-untyped]
    from sqlalchemy import exc as sa

    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return "unreachable"
    if isinstance(exc, sa.DisconnectionError | sa.TimeoutError):
        return "unreachable"
    if isinstance(exc, pg.InvalidAuthorizationSpecificationError | pg.InvalidCatalogNameError):
        return "refused"
    if isinstance(exc, sqlite3.DatabaseError) and any(
        text in str(exc).lower() for text in _SQLITE_UNUSABLE
    ):
        return "refused"
    if isinstance(exc, pg.QueryCanceledError):
        return "statement"  # a statement timeout or a cancel: running it again would repeat it
    if isinstance(
        exc,
        pg.PostgresConnectionError
        | pg.OperatorInterventionError
        | pg.InsufficientResourcesError
        | OSError
        | TimeoutError,
    ):
        return "unreachable"
    if isinstance(exc, pg.InterfaceError) and any(
        text in str(exc).lower() for text in _CLOSED_CONNECTION
    ):
        return "unreachable"
    if isinstance(exc, sqlite3.OperationalError) and any(
        text in str(exc).lower() for text in _SQLITE_UNAVAILABLE
    ):
        return "unreachable"
    if isinstance(exc, pg.PostgresError | pg.InterfaceError | sqlite3.Error | sa.DBAPIError):
        return "statement"
    return None


def failure_kind(exc: BaseException) -> FailureKind | None:
    """What a database failure means (see the module docstring); None when `exc` is not a
    database failure at all (a bug, a usage error)."""
    found: FailureKind | None = None
    for link in _chain(exc):
        kind = _kind_of(link)
        if kind in ("unreachable", "refused"):
            return kind  # the underlying cause outranks a wrapper's "statement"
        found = found or kind
    return found


def is_transient(exc: BaseException) -> bool:
    """A lost or refused connection, a busy SQLite file, a pool timeout: worth retrying
    once the database answers again (unlike a bad statement, a bad request or a bug)."""
    return failure_kind(exc) == "unreachable"


def _connect_reason(exc: BaseException) -> str | None:
    """Why a connection failed, in plain words, or None when `exc` is no connect error."""
    import asyncpg.exceptions as pg

    if isinstance(exc, socket.gaierror):
        return "host not found"
    if isinstance(exc, ConnectionRefusedError) or (
        isinstance(exc, OSError) and "connect call failed" in str(exc).lower()
    ):
        return "connection refused (is the server running?)"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, pg.InvalidPasswordError):
        return "password authentication failed"
    if isinstance(exc, pg.TooManyConnectionsError):
        return "the server has too many connections"
    if isinstance(exc, pg.CannotConnectNowError):
        return "the server is starting up or shutting down"
    if isinstance(exc, pg.InvalidAuthorizationSpecificationError | pg.InvalidCatalogNameError):
        return _first_line(exc)  # role "x" does not exist; database "y" does not exist
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return exc.strerror or _first_line(exc)
    return None


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception in the chain (its message is the plain one), else `exc`."""
    import asyncpg.exceptions as pg

    for link in _chain(exc):
        if isinstance(link, pg.PostgresError | pg.InterfaceError | sqlite3.Error | OSError):
            return link
    return exc


def describe_database_error(exc: BaseException, backend: str) -> str | None:
    """One plain line for a database failure, the same wherever it is shown; None when
    `exc` is not one. `backend` is Settings.describe_backend() (never holds a password)."""
    import asyncpg.exceptions as pg

    kind = failure_kind(exc)
    if kind is None:
        return None
    for link in _chain(exc):
        reason = _connect_reason(link)
        if reason is not None:
            return f"cannot connect to {backend}: {reason}"
    cause = _driver_error(exc)
    reason = printable(_first_line(cause))
    if isinstance(cause, OSError) and cause.strerror:
        reason = cause.strerror + (f": {cause.filename}" if cause.filename else "")
    if kind == "statement":
        return f"the database refused a statement on {backend}: {reason}"
    if backend.startswith("SQLite"):
        return f"cannot use {backend}: {reason}"
    if isinstance(cause, pg.PostgresConnectionError | pg.OperatorInterventionError):
        return f"lost the connection to {backend}: {reason}"
    return f"cannot connect to {backend}: {reason}"
