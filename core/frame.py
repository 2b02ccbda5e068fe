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
import weakref
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Integer, Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import FromClause

from core.data_version import read_data_version
from core.db import Database
from core.models import (
    ALL_ODDS_COLUMNS,
    FEATURE_COLUMNS,
    Fixture,
    FixtureFeatures,
    FixtureOdds,
    League,
    Team,
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

_ODDS_TABLE: Final = FixtureOdds.__table__
_FEATURES_TABLE: Final = FixtureFeatures.__table__
FRAME_COLUMNS: Final[dict[str, FromClause]] = {
    **dict.fromkeys(ALL_ODDS_COLUMNS, _ODDS_TABLE),
    **dict.fromkeys(FEATURE_COLUMNS, _FEATURES_TABLE),
}
"""Every loadable column by name (as in its table), with the table it lives in."""

# Rows per fetch while streaming a column: bounds the Python objects alive at once.
_STREAM_ROWS: Final = 65_536
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
    """One data version of the fixtures as columns, in settlement order."""

    version: int
    fixture_id: Ints
    day: Ints
    """Kick-off date as days since 1970-01-01."""
    seconds: Ints
    """Kick-off time as seconds after midnight; -1 when unknown."""
    league: Ints
    """League id."""
    season: Ints
    """Index into `season_labels`."""
    home_team: Ints
    away_team: Ints
    home_goals: Ints
    """-1 for a fixture without a result yet."""
    away_goals: Ints
    league_codes: dict[int, str]
    league_countries: dict[int, str]
    team_names: dict[int, str]
    season_labels: list[str]
    _by_id: Ints = field(repr=False)
    """Fixture ids in ascending order (for placing loaded columns)."""
    _position_of_sorted: Ints = field(repr=False)
    """Row of each id of `_by_id` in this (settlement-ordered) frame."""
    columns: dict[str, Floats] = field(default_factory=dict, repr=False)
    """Loaded odds and feature columns by name; NaN where missing."""
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)
    """Values derived from the columns (field values, market settlements), per version."""

    def __len__(self) -> int:
        return len(self.fixture_id)

    @property
    def settled(self) -> Bools:
        """Fixtures with a result (only these can be backtested)."""
        found = self.cache.get("settled")
        if found is None:
            found = self.cache["settled"] = (self.home_goals >= 0) & (self.away_goals >= 0)
        return found

    def column(self, name: str) -> Floats:
        """A loaded odds or feature column (load it with `frame_for(db, [name])`)."""
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"frame column {name!r} was not loaded") from None

    def rows_of(self, fixture_ids: Sequence[int] | Ints) -> Ints:
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


_STORES: weakref.WeakKeyDictionary[Database, _Store] = weakref.WeakKeyDictionary()


def forget_frame(db: Database) -> None:
    """Drop this process's frame of `db` (the next use reloads it)."""
    _STORES.pop(db, None)


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
        for attempt in range(_LOAD_ATTEMPTS):
            last = attempt == _LOAD_ATTEMPTS - 1
            async with db.session() as session:
                version = await read_data_version(session)
                frame = store.frame
                if frame is None or frame.version != version:
                    frame = store.frame = await _load_base(session, version)
                missing = sorted(wanted - frame.columns.keys())
                loaded = await _load_columns(session, frame, missing)
                if loaded is None or (await read_data_version(session) != version and not last):
                    store.frame = None  # written to mid-load: start again
                    continue
                frame.columns.update(loaded)
                return frame
    raise RuntimeError("the data kept changing while the analysis frame loaded")


async def _stream(session: AsyncSession, query: Select[Any]) -> list[list[tuple[Any, ...]]]:
    """A query's rows in chunks, so a million-row column never exists as one list of
    Python tuples; each row as a plain tuple (numpy probes a Row's attributes slowly)."""
    result = await session.stream(query.execution_options(yield_per=_STREAM_ROWS))
    return [list(map(tuple, chunk)) async for chunk in result.partitions()]


def _float_columns(chunks: list[list[tuple[Any, ...]]], width: int) -> Floats:
    if not chunks:
        return np.zeros((0, width))
    # None becomes NaN in a float array: missing values need no pass of their own.
    return np.concatenate(
        [np.array(chunk, dtype=np.float64).reshape(-1, width) for chunk in chunks]
    )


async def _load_base(session: AsyncSession, version: int) -> AnalysisFrame:
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
    ).order_by(f.id)
    table = _float_columns(await _stream(session, numbers), 8)
    season_chunks = await _stream(session, select(f.season).order_by(f.id))
    leagues = (await session.execute(select(League.id, League.code, League.country))).all()
    teams = {int(i): str(n) for i, n in (await session.execute(select(Team.id, Team.name))).all()}
    return await asyncio.to_thread(_base_frame, version, table, season_chunks, leagues, teams)


def _base_frame(
    version: int,
    table: Floats,
    season_chunks: list[list[tuple[Any, ...]]],
    leagues: Sequence[Any],
    teams: dict[int, str],
) -> AnalysisFrame:
    def ints(column: int, missing: int = -1) -> Ints:
        values = table[:, column]
        return np.where(np.isnan(values), missing, values).astype(np.int64)

    ids = ints(0)
    labels: dict[str, int] = {}
    code = labels.setdefault
    season = np.fromiter(
        (code(row[0], len(labels)) for chunk in season_chunks for row in chunk),
        dtype=np.int64,
        count=len(ids),
    )
    league_codes = {int(row[0]): str(row[1]) for row in leagues}
    league_countries = {int(row[0]): str(row[2]) for row in leagues}
    day, seconds, league = ints(1), ints(2), ints(3)
    home_team, away_team = ints(4), ints(5)
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
    position_of_sorted = np.empty(len(ids), dtype=np.int64)
    position_of_sorted[order] = np.arange(len(ids), dtype=np.int64)
    return AnalysisFrame(
        version=version,
        fixture_id=ids[order],
        day=day[order],
        seconds=seconds[order],
        league=league[order],
        season=season[order],
        home_team=home_team[order],
        away_team=away_team[order],
        home_goals=ints(6)[order],
        away_goals=ints(7)[order],
        league_codes=league_codes,
        league_countries=league_countries,
        team_names=teams,
        season_labels=list(labels),
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
    session: AsyncSession, frame: AnalysisFrame, names: Collection[str]
) -> dict[str, Floats] | None:
    """The named columns, each table's in one streamed query; None when a row belongs to
    a fixture the frame does not have (an import committed in between)."""
    loaded: dict[str, Floats] = {}
    for table in (_ODDS_TABLE, _FEATURES_TABLE):
        wanted = [name for name in names if FRAME_COLUMNS[name] is table]
        if not wanted:
            continue
        query = select(table.c.fixture_id, *(table.c[name] for name in wanted)).order_by(
            table.c.fixture_id
        )
        values = _float_columns(await _stream(session, query), len(wanted) + 1)
        ids = values[:, 0].astype(np.int64)
        for i, name in enumerate(wanted, start=1):
            placed = frame._place(ids, values[:, i])
            if placed is None:
                return None
            loaded[name] = placed
    return loaded
