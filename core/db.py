"""One async engine and session factory for all of core/, plus the dialect-specific bits.

Every difference between SQLite and PostgreSQL that the rest of core/ needs
(JSON vs JSONB, upsert syntax, connection setup) lives in this module.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import JSON, DateTime, String, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.types import TypeDecorator

from core.config import Settings, driver_connect_args, prepare_sqlite_file

logger = logging.getLogger(__name__)

# JSONB on PostgreSQL (indexable, compact), plain JSON on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class RawValue(TypeDecorator[Any]):
    """A column read exactly as the driver returns it (no result processing).

    For hot reads of dates and times: SQLite returns them as text and SQLAlchemy parses
    each one with a regex; a million rows hold a few thousand distinct days, so the
    caller converts each distinct value once instead.
    """

    impl = String
    cache_ok = True

    def result_processor(self, dialect: Any, coltype: Any) -> None:
        return None


class Memoized(dict[Any, Any]):
    """value -> convert(value), each distinct value converted once.

    Hot loops over a run's rows see few distinct values (a few thousand dates, a few
    hundred stakes and profits), so a dict lookup replaces most conversions.
    """

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        super().__init__()
        self._convert = convert

    def __missing__(self, value: Any) -> Any:
        converted = self[value] = self._convert(value)
        return converted


def as_date(raw: Any) -> dt.date:
    """A date column read raw: text on SQLite, a date on PostgreSQL."""
    return raw if isinstance(raw, dt.date) else dt.date.fromisoformat(raw)


def as_time(raw: Any) -> dt.time | None:
    """A time column read raw: text or NULL on SQLite, a time or None on PostgreSQL."""
    return raw if raw is None or isinstance(raw, dt.time) else dt.time.fromisoformat(raw)


SQLITE_BUSY_TIMEOUT_MS = 15_000
# A committing connection folds the WAL into the database file once it passes this many
# pages, and that checkpoint (an fsync) costs a quarter of a second on a 1 GB database.
# Big writes (a backtest's ledger) checkpoint in the background instead, after their
# commit (`Database.checkpoint_soon`); this is the backstop for everything else.
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 25_000


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on both backends.

    SQLite has no timezone type, so values are stored as naive UTC and given
    their tzinfo back on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC timestamp is required")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the dashboard read while a worker writes; NORMAL is durable enough under WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")  # = SQLITE_BUSY_TIMEOUT_MS
    cursor.execute("PRAGMA wal_autocheckpoint=25000")  # = SQLITE_WAL_AUTOCHECKPOINT_PAGES
    cursor.close()


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    if settings.is_sqlite:
        prepare_sqlite_file(settings)
        engine = create_async_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, future=True
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        return engine
    server_settings = {
        # JIT compiles a 1M-fixture filter for 40-50 ms and gains nothing back on these
        # scans: counts 5-15% faster without it (bench/backtest.py).
        "jit": "off",
    }
    if "application_name" not in url.query:  # the URL's own wins
        server_settings["application_name"] = "filterbets"
    return engine_for(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_recycle=1800,
        connect_args={"server_settings": server_settings},
    )


def engine_for(url: URL, **kwargs: Any) -> AsyncEngine:
    """create_async_engine, with a PostgreSQL URL's libpq options (sslmode=require,
    connect_timeout=10, ...) handed to asyncpg in the form it takes."""
    if url.get_backend_name() != "postgresql":
        return create_async_engine(url, **kwargs)
    url, driver_args = driver_connect_args(url)
    return create_async_engine(
        url, **(kwargs | {"connect_args": driver_args | kwargs.get("connect_args", {})})
    )


class Database:
    """The engine and session factory, shared by every service in core/."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )
        self._checkpoint: asyncio.Task[None] | None = None
        self._closers: list[Callable[[], None]] = []

    def close_on_dispose(self, close: Callable[[], None]) -> None:
        """Have dispose() call `close` (blocking; run in a thread): for connections opened
        beside the engine. A reader left open keeps SQLite from folding its WAL into the
        file when the last writer closes, so a copy of the file alone missed recent writes."""
        self._closers.append(close)

    @property
    def dialect_name(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits on success, rolls back on any error."""
        async with self.sessions() as session, session.begin():
            yield session

    def checkpoint_soon(self) -> None:
        """SQLite: fold the WAL into the database file in the background.

        Called after a big commit, so the commit itself returns without the checkpoint's
        fsync. PASSIVE never blocks readers or writers; one at a time is enough.
        """
        if self.dialect_name != "sqlite" or (
            self._checkpoint is not None and not self._checkpoint.done()
        ):
            return
        self._checkpoint = asyncio.get_running_loop().create_task(self._run_checkpoint())

    async def _run_checkpoint(self) -> None:
        try:
            async with self.engine.connect() as connection:
                await connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:  # best effort: the next checkpoint, or closing, catches up
            logger.debug("background WAL checkpoint failed", exc_info=True)

    async def dispose(self) -> None:
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
        closers, self._closers = self._closers, []
        for close in closers:
            await asyncio.to_thread(close)
        await self.engine.dispose()


def dialect_insert(dialect_name: str, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ON CONFLICT on both SQLite and PostgreSQL."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def chunked(rows: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]
