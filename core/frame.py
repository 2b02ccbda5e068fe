"""The analysis frame: fixtures, their odds and their features as numpy columns in memory.

The database is the record; the frame is the workbench. Previews, backtests, sweeps and the
scanner evaluate rules and settle bets over these arrays instead of reading rows back out of
the database for every run (that read was most of a run's time).

* **Loaded once per process, column by column.** The fixtures' own columns (league, season,
  kick-off, teams, goals) load on first use; an odds or feature column loads the first time
  a rule, market or metric needs it, each as one streamed query of (fixture id, value).
* **Kept current by the data version.** Every write to fixtures, odds or features bumps one
  counter (`core.data_version`) in its own transaction. Each use reads it (a primary-key
  lookup); a changed version drops the frame and it reloads. A column is kept only when the
  version read before and after loading it is the frame's, so no column mixes two versions.
* **In settlement order.** Rows are sorted once, as bets settle (kick-off date, time with
  unknown as 00:00, league code, home team, away team, fixture id), so a rule's mask read
  from left to right is already a run's bet order.

Missing values are NaN in float columns and -1 in code columns (league, season, teams,
goals of a fixture not yet played, unknown kick-off seconds).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import itertools
import os
import sqlite3
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Float, Integer, Select, cast, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import FromClause

from core import frame_cache
from core.data_version import read_data_state
from core.db import Database
from core.models import (
    ALL_ODDS_COLUMNS,
    BOOK_CODES,
    BOOK_SELECTIONS,
    DATA_STATE_ID,
    FEATURE_COLUMNS,
    DataState,
    Fixture,
    FixtureBookPrices,
    FixtureFeatures,
    FixtureOdds,
    League,
    Team,
    odds_column_name,
)

__all__ = [
    "FRAME_COLUMNS",
    "AnalysisFrame",
    "forget_frame",
    "frame_for",
]

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]
AnySelect = Select[*tuple[Any, ...]]

_ODDS_TABLE: Final = FixtureOdds.__table__
_FEATURES_TABLE: Final = FixtureFeatures.__table__
_BOOKS_TABLE: Final = FixtureBookPrices.__table__


@dataclass(frozen=True)
class _Origin:
    """Where a frame column is read from: a column of a table, in the rows of one book and
    timing for fixture_book_prices."""

    table: FromClause
    column: str
    book: str | None = None
    closing: bool = False

    @property
    def group(self) -> tuple[Any, str | None, bool]:
        """Columns of one group are read by one query."""
        return (self.table, self.book, self.closing)


def _origins() -> dict[str, _Origin]:
    origins = {name: _Origin(_ODDS_TABLE, name) for name in ALL_ODDS_COLUMNS}
    origins |= {name: _Origin(_FEATURES_TABLE, name) for name in FEATURE_COLUMNS}
    for book in BOOK_CODES:
        for closing in (False, True):
            source = book + ("_close" if closing else "")
            for selection in BOOK_SELECTIONS:
                origins[odds_column_name(source, selection)] = _Origin(
                    _BOOKS_TABLE, selection, book, closing
                )
    return origins


FRAME_COLUMNS: Final[dict[str, _Origin]] = _origins()
"""Every loadable column by name: fixture_odds' and fixture_features' columns as named
there, and each other book's prices as `<book>[_close]_<selection>` (e.g. wh_close_home)."""

# Rows per fetch while streaming a column: bounds the Python objects alive at once.
_STREAM_ROWS: Final = 8_192
# Loading retries when an import commits mid-load; the last attempt keeps what it read.
_LOAD_ATTEMPTS: Final = 3


# --------------------------------------------------------------------------------------
# Dialect-specific SQL: kick-off date and time as integers
# --------------------------------------------------------------------------------------


class DaysSinceEpoch(FunctionElement[int]):
    """A DATE as whole days since 1970-01-01 (negative before)."""

    type = Integer()
    name = "days_since_epoch"
    inherit_cache = True


class SecondsOfDay(FunctionElement[int]):
    """A TIME as seconds after midnight; NULL stays NULL."""

    type = Integer()
    name = "seconds_of_day"
    inherit_cache = True


def _arg(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(DaysSinceEpoch)
def _days_default(element: DaysSinceEpoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({_arg(element, compiler, **kw)} - DATE '1970-01-01')"


@compiles(DaysSinceEpoch, "sqlite")
def _days_sqlite(element: DaysSinceEpoch, compiler: SQLCompiler, **kw: Any) -> str:
    # julianday of a date is a whole day + .5 exactly, so the difference is exact.
    return f"CAST(julianday({_arg(element, compiler, **kw)}) - 2440587.5 AS INTEGER)"


@compiles(SecondsOfDay)
def _seconds_default(element: SecondsOfDay, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {_arg(element, compiler, **kw)}) AS INTEGER)"


@compiles(SecondsOfDay, "sqlite")
def _seconds_sqlite(element: SecondsOfDay, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLAlchemy stores TIME on SQLite as 'HH:MM:SS[.ffffff]' text.
    t = _arg(element, compiler, **kw)
    return (
        f"(CAST(substr({t}, 1, 2) AS INTEGER) * 3600 + CAST(substr({t}, 4, 2) AS INTEGER) * 60"
        f" + CAST(substr({t}, 7, 2) AS INTEGER))"
    )


# --------------------------------------------------------------------------------------
# The frame
# --------------------------------------------------------------------------------------


@dataclass
class AnalysisFrame:
    """One data version of the fixtures as columns, in settlement order. Fixture ids are
    int64; the other integer columns int32 (goals int16)."""

    version: int
    fixture_id: Ints
    day: Any
    """Kick-off date as days since 1970-01-01."""
    seconds: Any
    """Kick-off time as seconds after midnight; -1 when unknown."""
    league: Any
    """League id."""
    season: Any
    """Index into `season_labels`."""
    home_team: Any
    away_team: Any
    home_goals: Any
    """-1 for a fixture without a result yet."""
    away_goals: Any
    league_codes: dict[int, str]
    league_countries: dict[int, str]
    team_names: dict[int, str]
    season_labels: list[str]
    _by_id: Ints = field(repr=False)
    """Fixture ids in ascending order (for placing loaded columns)."""
    _position_of_sorted: Any = field(repr=False)
    """Row of each id of `_by_id` in this (settlement-ordered) frame."""
    columns: dict[str, Floats] = field(default_factory=dict, repr=False)
    """Loaded odds and feature columns by name; NaN where missing."""
    changed_at: dt.datetime | None = None
    """When the data last changed (with the version read last)."""
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)
    """Values derived from the columns (field values, market settlements), per version."""

    def __len__(self) -> int:
        return len(self.fixture_id)

    @property
    def settled(self) -> Bools:
        """Fixtures with a result (only these can be backtested)."""
        found = self.cache.get("settled")
        if found is None:
            found = self.cache["settled"] = np.asarray(
                (self.home_goals >= 0) & (self.away_goals >= 0), dtype=np.bool_
            )
        return found

    def column(self, name: str) -> Floats:
        """A loaded odds or feature column (load it with `frame_for(db, [name])`)."""
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"frame column {name!r} was not loaded") from None

    def rows_of(self, fixture_ids: Sequence[int] | Ints) -> Any:
        """Frame rows of the given fixture ids (each must be in the frame)."""
        ids = np.asarray(fixture_ids, dtype=np.int64)
        where = np.searchsorted(self._by_id, ids)
        where = np.minimum(where, len(self._by_id) - 1)
        if len(ids) and not np.array_equal(self._by_id[where], ids):
            raise KeyError("fixture ids not in the frame")
        return self._position_of_sorted[where]

    def _place(self, ids: Ints, values: Floats) -> Floats | None:
        """A full column from (fixture id, value) pairs; None if an id is unknown (the data
        changed under the load)."""
        out = np.full(len(self), np.nan)
        if not len(ids):
            return out
        where = np.searchsorted(self._by_id, ids)
        if where.max() >= len(self._by_id) or not np.array_equal(self._by_id[where], ids):
            return None
        out[self._position_of_sorted[where]] = values
        return out


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


@dataclass
class _Store:
    frame: AnalysisFrame | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    probe: sqlite3.Connection | None = None
    """SQLite: a read-only connection kept open for the version check every use makes (a
    tenth of a millisecond, where a session of the async driver took one)."""
    probe_lock: threading.Lock = field(default_factory=threading.Lock)
    """A cancelled check leaves its thread running after the asyncio lock is released;
    the next check waits for it instead of sharing the connection."""

    async def current_version(self, db: Database) -> tuple[int, dt.datetime | None]:
        path = db.settings.sqlite_path if db.dialect_name == "sqlite" else None
        if path is None:
            async with db.session() as session:
                return await read_data_state(session)
        dialect = db.engine.dialect

        def check() -> tuple[int, dt.datetime | None]:
            with self.probe_lock:
                if self.probe is None:
                    self.probe = _open_read_only(path)
                return _sqlite_version(self.probe, dialect)

        if self.probe is None:
            db.close_on_dispose(self.close_probe)
        return await asyncio.to_thread(check)

    def close_probe(self) -> None:
        with self.probe_lock:
            if self.probe is not None:
                self.probe.close()
                self.probe = None


_STORES: weakref.WeakKeyDictionary[Database, _Store] = weakref.WeakKeyDictionary()


def forget_frame(db: Database) -> None:
    """Drop this process's frame of `db` (the next use reloads it)."""
    store = _STORES.pop(db, None)
    if store is not None:
        store.close_probe()  # blocking, but only a close: no query in flight under its lock


async def frame_for(db: Database, columns: Iterable[str] = ()) -> AnalysisFrame:
    """The current frame of `db` with `columns` loaded (names from FRAME_COLUMNS).

    Costs one version read when everything asked for is loaded already.
    """
    wanted = set(columns)
    unknown = wanted - FRAME_COLUMNS.keys()
    if unknown:
        raise KeyError(f"no frame column {sorted(unknown)[0]!r}")
    store = _STORES.get(db)
    if store is None:
        store = _STORES[db] = _Store()
    async with store.lock:
        version, changed_at = await store.current_version(db)
        frame = store.frame
        if frame is not None and frame.version == version:
            frame.changed_at = changed_at
            if wanted <= frame.columns.keys():
                return frame
        cached = _DiskCache.of(db)
        for _ in range(_LOAD_ATTEMPTS):
            # One snapshot for the version and every column read with it, so nothing read
            # mixes two versions of the data.
            async with _snapshot(db) as reader:
                version, changed_at = await reader.version()
                if frame is None or frame.version != version:
                    frame = await cached.base(version, changed_at)
                    if frame is None:
                        frame = await _load_base(reader, version)
                        await cached.keep_base(frame, changed_at)
                missing = wanted - frame.columns.keys()
                loaded = await cached.columns(frame, changed_at, missing)
                read = await _load_columns(reader, frame, sorted(missing - loaded.keys()))
            if read is None:  # cannot happen inside one snapshot, but never mix versions
                frame = store.frame = None
                continue
            await cached.keep_columns(frame, changed_at, read)
            frame.columns.update(loaded | read)
            frame.changed_at = changed_at
            store.frame = frame
            await asyncio.to_thread(release_freed_memory)
            return frame
    raise RuntimeError("the data kept changing while the analysis frame loaded")


@dataclass(frozen=True)
class _DiskCache:
    """The frame's files beside a SQLite database (core.frame_cache): what a new process
    reads instead of the tables. Nothing for PostgreSQL or an in-memory database."""

    path: Path | None

    @classmethod
    def of(cls, db: Database) -> _DiskCache:
        path = db.settings.sqlite_path if db.dialect_name == "sqlite" else None
        return cls(path if path is not None and _CACHE_ENABLED else None)

    async def base(self, version: int, changed_at: dt.datetime | None) -> AnalysisFrame | None:
        if self.path is None:
            return None
        stored = await asyncio.to_thread(frame_cache.read, self.path, version, changed_at, "base")
        return None if stored is None else _frame_from_arrays(version, stored)

    async def keep_base(self, frame: AnalysisFrame, changed_at: dt.datetime | None) -> None:
        if self.path is not None:
            arrays = _frame_arrays(frame)
            await asyncio.to_thread(
                frame_cache.write, self.path, frame.version, changed_at, "base", arrays
            )

    async def columns(
        self, frame: AnalysisFrame, changed_at: dt.datetime | None, names: Collection[str]
    ) -> dict[str, Floats]:
        if self.path is None or not names:
            return {}
        path, version, rows = self.path, frame.version, len(frame)

        def read() -> dict[str, Floats]:
            found: dict[str, Floats] = {}
            for name in names:
                stored = frame_cache.read(path, version, changed_at, f"column.{name}")
                values = None if stored is None else stored.get("values")
                if values is not None and values.shape == (rows,) and values.dtype == np.float64:
                    found[name] = values
            return found

        return await asyncio.to_thread(read)

    async def keep_columns(
        self, frame: AnalysisFrame, changed_at: dt.datetime | None, columns: dict[str, Floats]
    ) -> None:
        if self.path is None or not columns:
            return
        path, version = self.path, frame.version

        def write() -> None:
            for name, values in columns.items():
                frame_cache.write(path, version, changed_at, f"column.{name}", {"values": values})

        await asyncio.to_thread(write)


_CACHE_ENABLED = os.environ.get("FILTERBETS_FRAME_CACHE", "1").strip() != "0"
"""FILTERBETS_FRAME_CACHE=0 turns the files off (to measure a load from the tables)."""

_BASE_ARRAYS: Final = (
    "fixture_id",
    "day",
    "seconds",
    "league",
    "season",
    "home_team",
    "away_team",
    "home_goals",
    "away_goals",
    "_by_id",
    "_position_of_sorted",
)


def _frame_arrays(frame: AnalysisFrame) -> dict[str, Any]:
    arrays = {name: getattr(frame, name) for name in _BASE_ARRAYS}
    arrays["labels"] = frame_cache.labels_to_array(
        {
            "league_codes": frame.league_codes,
            "league_countries": frame.league_countries,
            "team_names": frame.team_names,
            "season_labels": frame.season_labels,
        }
    )
    return arrays


def _frame_from_arrays(version: int, stored: dict[str, Any]) -> AnalysisFrame | None:
    try:
        labels = frame_cache.labels_from_array(stored["labels"])
        arrays = {name: stored[name] for name in _BASE_ARRAYS}
    except (KeyError, ValueError):
        return None
    if len({len(values) for values in arrays.values()}) != 1:
        return None
    return AnalysisFrame(
        version=version,
        league_codes={int(k): str(v) for k, v in labels["league_codes"].items()},
        league_countries={int(k): str(v) for k, v in labels["league_countries"].items()},
        team_names={int(k): str(v) for k, v in labels["team_names"].items()},
        season_labels=[str(label) for label in labels["season_labels"]],
        **arrays,
    )


def release_freed_memory() -> None:
    """Hand the heap a bulk load freed back to the OS (glibc keeps it otherwise: 40 MB at
    a million fixtures). Best effort: elsewhere it does nothing."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _glibc() -> Any:
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 (both exist: glibc)
    except (OSError, AttributeError):
        return None
    return libc


def _return_large_arrays_to_the_os() -> None:
    """glibc serves an allocation of 4 MiB or more (a column of half a million fixtures) by
    mmap and unmaps it when freed only until the first such free: then it raises its
    threshold and keeps freed columns in the heap. Fixed at 4 MiB, a million-fixture frame's
    freed temporaries go back to the OS (measured: 300 -> 220 MB resident).

    Fixing it also fixes the trim threshold at glibc's 128 KiB, so the heap shrank and grew
    again around every smaller temporary: a 1,000-variant strategy sweep over 74k bars spent
    1.8 s in page faults. Up to 32 MiB of free heap top is kept instead (0.03 s)."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(-3, 4 * 2**20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 32 * 2**20)  # M_TRIM_THRESHOLD


_return_large_arrays_to_the_os()


# What a missing value reads as in bulk reads (SQLite has no NaN, and numpy's fromiter takes
# no None): the most negative double, which no price, line or feature ever is.
_MISSING: Final = -sys.float_info.max


class _Reader:
    """Bulk reads inside one database snapshot, as float arrays without a Python object
    per row where the driver allows."""

    async def version(self) -> tuple[int, dt.datetime | None]:
        """The data version and when the data last changed, in this snapshot."""
        raise NotImplementedError

    async def floats(self, query: AnySelect, width: int) -> Floats:
        """Each row of a query of `width` numeric columns; NaN where NULL."""
        raise NotImplementedError

    async def rows(self, query: AnySelect) -> list[tuple[Any, ...]]:
        """A small query's rows."""
        raise NotImplementedError


def _bulk(query: AnySelect, width: int) -> AnySelect:
    """The query with each column as a double, NULL as _MISSING."""
    columns = list(query.selected_columns)
    assert len(columns) == width
    return query.with_only_columns(
        *(func.coalesce(cast(column, Float), literal(_MISSING, Float)) for column in columns),
        maintain_column_froms=True,
    )


def _missing_as_nan(values: Floats) -> Floats:
    values[values == _MISSING] = np.nan
    return values


class _SqliteReader(_Reader):
    """A read-only connection of the sqlite3 module, in a worker thread, inside one read
    transaction (under WAL, a snapshot). It steps rows straight into numpy: about three
    times faster than streaming them through the async driver, whose rows and their tuples
    also left the heap fragmented."""

    def __init__(self, path: Path, dialect: Any) -> None:
        self.path = path
        self.dialect = dialect
        self.connection: sqlite3.Connection | None = None
        # A cancelled load leaves its read running in its thread; closing the connection
        # under that read crashed the process. Every use of it holds this lock.
        self.in_use = threading.Lock()

    def open(self) -> None:
        with self.in_use:
            self.connection = _open_read_only(self.path)
            self.connection.execute("BEGIN")

    def close(self) -> None:
        with self.in_use:
            if self.connection is not None:
                self.connection.close()
                self.connection = None

    def _all(self, query: AnySelect) -> list[tuple[Any, ...]]:
        with self.in_use:
            assert self.connection is not None
            return self.connection.execute(*_positional(query, self.dialect)).fetchall()

    def _version(self) -> tuple[int, dt.datetime | None]:
        with self.in_use:
            assert self.connection is not None
            return _sqlite_version(self.connection, self.dialect)

    async def version(self) -> tuple[int, dt.datetime | None]:
        return await asyncio.to_thread(self._version)

    async def rows(self, query: AnySelect) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(self._all, query)

    async def floats(self, query: AnySelect, width: int) -> Floats:
        sql, params = _positional(_bulk(query, width), self.dialect)

        def read() -> Floats:
            with self.in_use:
                assert self.connection is not None
                cursor = self.connection.execute(sql, params)
                flat = np.fromiter(itertools.chain.from_iterable(cursor), dtype=np.float64)
            return _missing_as_nan(flat.reshape(-1, width))

        return await asyncio.to_thread(read)


class _PostgresReader(_Reader):
    """A REPEATABLE READ transaction (one snapshot); bulk reads come as binary COPY, which
    numpy reads in place: no Python object per row at all."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def version(self) -> tuple[int, dt.datetime | None]:
        return await read_data_state(self.session)

    async def rows(self, query: AnySelect) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in (await self.session.execute(query)).all()]

    async def floats(self, query: AnySelect, width: int) -> Floats:
        connection = await self.session.connection()
        sql, params = _positional(_bulk(query, width), connection.dialect)
        driver: Any = (await connection.get_raw_connection()).driver_connection
        parts: list[bytes] = []

        async def keep(data: bytes) -> None:
            parts.append(bytes(data))

        await driver.copy_from_query(sql, *params, output=keep, format="binary")
        return await asyncio.to_thread(_parse_binary_copy, b"".join(parts), width)


_COPY_HEADER = 19  # signature (11), flags (4), header extension length (4, zero here)


def _parse_binary_copy(data: bytes, width: int) -> Floats:
    """PostgreSQL's binary COPY of `width` non-NULL float8 columns: each row is a field
    count (int16), then per field a length (int32) and 8 big-endian bytes."""
    fields = [("count", ">i2")]
    for i in range(width):
        fields += [(f"length{i}", ">i4"), (f"value{i}", ">f8")]
    row = np.dtype(fields)
    rows = (len(data) - _COPY_HEADER - 2) // row.itemsize  # 2: the trailer
    table = np.frombuffer(data, dtype=row, count=rows, offset=_COPY_HEADER)
    out = np.empty((rows, width), dtype=np.float64)
    for i in range(width):
        out[:, i] = table[f"value{i}"]
    return _missing_as_nan(out)


class _SessionReader(_Reader):
    """Any other database: rows streamed through the async driver."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def version(self) -> tuple[int, dt.datetime | None]:
        return await read_data_state(self.session)

    async def rows(self, query: AnySelect) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in (await self.session.execute(query)).all()]

    async def floats(self, query: AnySelect, width: int) -> Floats:
        result = await self.session.stream(
            _bulk(query, width).execution_options(yield_per=_STREAM_ROWS)
        )
        chunks = [
            np.array(list(map(tuple, chunk)), dtype=np.float64).reshape(-1, width)
            async for chunk in result.partitions()
        ]
        return _missing_as_nan(np.concatenate(chunks) if chunks else np.zeros((0, width)))


_VERSION_QUERY: Final = select(DataState.version, DataState.changed_at).where(
    DataState.id == DATA_STATE_ID
)


def _open_read_only(path: Path) -> sqlite3.Connection:
    uri = f"{path.resolve().as_uri()}?mode=ro"
    # Autocommit: outside an explicit BEGIN each read sees the latest commit.
    connection = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA busy_timeout=15000")
    return connection


@functools.cache
def _version_sql(dialect: Any) -> tuple[str, tuple[Any, ...]]:
    return _positional(_VERSION_QUERY, dialect)


def _positional(query: Any, dialect: Any) -> tuple[str, tuple[Any, ...]]:
    """A query as the driver's own SQL text and its bound values in order, for the bulk
    readers that talk to the driver directly (values are never written into the text)."""
    compiled = query.compile(dialect=dialect)
    params = compiled.construct_params()
    order = compiled.positiontup or []
    return str(compiled), tuple(params[name] for name in order)


def _sqlite_version(connection: sqlite3.Connection, dialect: Any) -> tuple[int, dt.datetime | None]:
    row = connection.execute(*_version_sql(dialect)).fetchone()
    if row is None or row[0] is None:
        return 0, None
    changed = row[1]
    changed_at = dt.datetime.fromisoformat(changed).replace(tzinfo=dt.UTC) if changed else None
    return int(row[0]), changed_at


@asynccontextmanager
async def _snapshot(db: Database) -> AsyncIterator[_Reader]:
    path = db.settings.sqlite_path if db.dialect_name == "sqlite" else None
    if path is not None:
        reader = _SqliteReader(path, db.engine.dialect)
        await asyncio.to_thread(reader.open)
        try:
            yield reader
        finally:
            await asyncio.to_thread(reader.close)
        return
    async with db.session() as session:
        if db.dialect_name == "postgresql":
            await session.execute(
                text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            )
            yield _PostgresReader(session)
        else:
            yield _SessionReader(session)


async def _load_base(reader: _Reader, version: int) -> AnalysisFrame:
    f = Fixture.__table__.c
    numbers = select(
        f.id,
        DaysSinceEpoch(f.kickoff_date),
        SecondsOfDay(f.kickoff_time),
        f.league_id,
        f.home_team_id,
        f.away_team_id,
        f.home_goals,
        f.away_goals,
        # Seasons come as codes (the server ranks the labels) and their labels apart: one
        # numeric read, no string per fixture.
        func.dense_rank().over(order_by=f.season) - 1,
    ).order_by(f.id)
    table = await reader.floats(numbers, 9)
    labels = [
        str(row[0]) for row in await reader.rows(select(f.season).distinct().order_by(f.season))
    ]
    leagues = await reader.rows(select(League.id, League.code, League.country))
    teams = {int(i): str(n) for i, n in await reader.rows(select(Team.id, Team.name))}
    return await asyncio.to_thread(_base_frame, version, table, labels, leagues, teams)


def _base_frame(
    version: int,
    table: Floats,
    season_labels: list[str],
    leagues: Sequence[Any],
    teams: dict[int, str],
) -> AnalysisFrame:
    def ints(column: int, dtype: type[np.integer[Any]] = np.int32) -> Any:
        """A column as integers, -1 where missing. Narrow types: a million fixtures' worth
        of int64 columns would be a fifth of the process's memory."""
        values = table[:, column]
        return np.where(np.isnan(values), -1, values).astype(dtype)

    ids = ints(0, np.int64)
    season = ints(8)
    league_codes = {int(row[0]): str(row[1]) for row in leagues}
    league_countries = {int(row[0]): str(row[2]) for row in leagues}
    day, seconds, league = ints(1), ints(2), ints(3)
    home_team, away_team = ints(4), ints(5)
    home_goals, away_goals = ints(6, np.int16), ints(7, np.int16)
    # Settlement order: date, time (unknown as 00:00), league code, home team, away team,
    # fixture id. lexsort takes its keys last-first.
    league_rank = _name_ranks(league_codes)[league]
    team_rank = _name_ranks(teams)
    order = np.lexsort(
        (
            ids,
            team_rank[away_team],
            team_rank[home_team],
            league_rank,
            np.maximum(seconds, 0),
            day,
        )
    )
    position_of_sorted = np.empty(len(ids), dtype=np.int32)
    position_of_sorted[order] = np.arange(len(ids), dtype=np.int32)
    return AnalysisFrame(
        version=version,
        fixture_id=ids[order],
        day=day[order],
        seconds=seconds[order],
        league=league[order],
        season=season[order],
        home_team=home_team[order],
        away_team=away_team[order],
        home_goals=home_goals[order],
        away_goals=away_goals[order],
        league_codes=league_codes,
        league_countries=league_countries,
        team_names=teams,
        season_labels=season_labels,
        _by_id=ids,  # the query ordered by id
        _position_of_sorted=position_of_sorted,
    )


def _name_ranks(names: dict[int, str]) -> Ints:
    """id -> rank of its name in Python's string order (code points; equal names share a
    rank), as an array indexed by id."""
    if not names:
        return np.zeros(1, dtype=np.int64)
    rank_of = {name: rank for rank, name in enumerate(sorted(set(names.values())))}
    ranks = np.zeros(max(names) + 1, dtype=np.int64)
    for key, name in names.items():
        ranks[key] = rank_of[name]
    return ranks


async def _load_columns(
    reader: _Reader, frame: AnalysisFrame, names: Collection[str]
) -> dict[str, Floats] | None:
    """The named columns, those of one table (and book and timing) in one query; None when a
    row belongs to a fixture the frame does not have (read from another snapshot)."""
    groups: dict[Any, list[str]] = {}
    for name in names:
        groups.setdefault(FRAME_COLUMNS[name].group, []).append(name)
    loaded: dict[str, Floats] = {}
    for (table, book, closing), wanted in groups.items():
        query = select(
            table.c.fixture_id, *(table.c[FRAME_COLUMNS[name].column] for name in wanted)
        ).order_by(table.c.fixture_id)
        if book is not None:
            query = query.where(table.c.book == book, table.c.closing.is_(closing))
        values = await reader.floats(query, len(wanted) + 1)
        ids = values[:, 0].astype(np.int64)
        for i, name in enumerate(wanted, start=1):
            placed = frame._place(ids, values[:, i])
            if placed is None:
                return None
            loaded[name] = placed
    return loaded
