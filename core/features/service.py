"""Materialise point-in-time team features in fixture_features.

    await recompute_all(db)                 # every fixture, from scratch
    await recompute(db, affected)           # after an import: only what it can change

`recompute` rewrites only the rows a change can reach: from the earliest affected
date (the cut) on, every fixture of an affected league-season, and every fixture of
an affected team or of a team that has since played one (`compute.tainted_fixtures`).
Rows before the cut cannot change, so it resumes from them instead of replaying the
whole history: it reads the fixtures from the cut on, and for the teams, pairs and
league-seasons of the rows it rewrites, their latest 10 home and away matches, latest
5 meetings and earlier league-season fixtures before the cut (indexed, parameterized
queries, looked for in a window before the cut first); a team's streak and Elo after
its last match before the cut, and a pair's meeting count, come from the stored
pre-match values of its latest date (`compute.resume_features`). The rows equal a
recompute from scratch.

It falls back to replaying the whole history in memory when the stored rows cannot
be trusted to resume from: fixtures without a row other than those it rewrites (a
database that predates the table), or a stored row it needs missing. When more
fixtures lack a row than it would write, or the change reaches over half the
fixtures, the whole table is rewritten instead.

Consistency whatever moment a process dies at: every fixture has exactly one row once
its writer is done, and a fixture without a row is work left to do. A transaction that
adds or changes fixtures leaves them without a row (`forget`) and commits; the
recompute that follows writes their rows, and those of every fixture they reach, in
one transaction of its own. If the process dies in between, the fixtures without a row
say what was left, and `repair` (run by every import, and when the CLI, a worker or the
dashboard starts) recomputes from them what the lost recompute would have.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    case,
    delete,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.data_changes import record_data_change
from core.db import Database, Memoized, RawValue, as_date
from core.features.compute import (
    FeatureRow,
    FixtureInput,
    History,
    IncompleteHistory,
    StoredSides,
    compute_features,
    resume_features,
    tainted_fixtures,
)
from core.models import FEATURE_COLUMNS, Base, Fixture, FixtureFeatures, Team

_TABLE: Table = Base.metadata.tables[FixtureFeatures.__tablename__]
_COLUMNS = ("fixture_id", *FEATURE_COLUMNS)
# Rows per executemany batch and ids per DELETE ... IN (...).
WRITE_CHUNK = 20_000
DELETE_CHUNK = 500
# Above this share of all fixtures, rewriting the whole table is cheaper.
FULL_REWRITE_SHARE = 0.5


@dataclass
class AffectedFixtures:
    """What an import changed: league-seasons, teams, and the earliest match date."""

    seasons: set[tuple[int, str]] = field(default_factory=set)
    teams: set[int] = field(default_factory=set)
    since: dt.date | None = None

    def add(
        self, league_id: int, season: str, home_team_id: int, away_team_id: int, date: dt.date
    ) -> None:
        self.seasons.add((league_id, season))
        self.teams.add(home_team_id)
        self.teams.add(away_team_id)
        if self.since is None or date < self.since:
            self.since = date

    def merge(self, other: AffectedFixtures) -> None:
        self.seasons |= other.seasons
        self.teams |= other.teams
        if other.since is not None and (self.since is None or other.since < self.since):
            self.since = other.since

    def __bool__(self) -> bool:
        return bool(self.seasons or self.teams)


@dataclass(frozen=True)
class RecomputeSummary:
    fixtures: int
    """Fixtures read: all of them for a full replay, those from the cut on when resumed."""
    written: int
    """Feature rows rewritten."""
    seconds: float
    resumed: bool = False
    """True when resumed from the stored rows before the cut, False for a full replay."""


async def _load(conn: AsyncConnection) -> tuple[list[FixtureInput], dict[int, str]]:
    """Every fixture, and every team's name."""
    # Dates come back raw (text on SQLite) and are converted once per distinct day:
    # a million rows hold a few thousand dates. Straight through the driver: no bound
    # parameters, and SQLAlchemy's per-row work is most of the cost of a million rows.
    sql = str(select(*_input_columns()).compile(dialect=conn.dialect))
    driver: Any = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    if conn.dialect.name == "postgresql":
        result: Sequence[Any] = await driver.fetch(sql)
    else:
        result = await driver.execute_fetchall(sql)
    fixtures = await asyncio.to_thread(_to_inputs, result)
    return fixtures, await _team_names(conn)


def _to_inputs(rows: Sequence[Sequence[Any]]) -> list[FixtureInput]:
    days = Memoized(as_date)
    return [
        FixtureInput(r[0], r[1], r[2], days[r[3]], r[4], r[5], r[6], r[7], r[8], r[9]) for r in rows
    ]


def _insert_sql(dialect: str) -> str:
    if dialect == "postgresql":
        marks = ", ".join(f"${i}" for i in range(1, len(_COLUMNS) + 1))
    else:
        marks = ", ".join("?" for _ in _COLUMNS)
    # Table and column names are constants of this module, never input.
    return f"INSERT INTO {_TABLE.name} ({', '.join(_COLUMNS)}) VALUES ({marks})"  # noqa: S608


async def _insert(conn: AsyncConnection, rows: Sequence[FeatureRow]) -> None:
    sql = _insert_sql(conn.dialect.name)
    for start in range(0, len(rows), WRITE_CHUNK):
        await conn.exec_driver_sql(sql, list(rows[start : start + WRITE_CHUNK]))


async def recompute_all(db: Database) -> RecomputeSummary:
    """Rewrite fixture_features for every fixture in one transaction."""
    started = time.perf_counter()
    async with db.session() as session:
        conn = await session.connection()
        fixtures, names = await _load(conn)
        rows = await asyncio.to_thread(compute_features, fixtures, names)
        await conn.execute(delete(_TABLE))
        await _insert(conn, rows)
        await record_data_change(conn, "features recomputed")
    return RecomputeSummary(len(fixtures), len(rows), time.perf_counter() - started)


async def recompute(db: Database, affected: AffectedFixtures) -> RecomputeSummary:
    """Rewrite the feature rows an import of `affected` fixtures can change."""
    started = time.perf_counter()
    if not affected:
        return RecomputeSummary(0, 0, 0.0)
    async with db.session() as session:
        conn = await session.connection()
        total = int(await conn.scalar(select(func.count()).select_from(Fixture.__table__)) or 0)
        stored = int(await conn.scalar(select(func.count()).select_from(_TABLE)) or 0)
        resumed = None
        if affected.since is not None:
            resumed = await _resume(conn, affected, total, stored)
        if resumed is not None:
            replayed, rows = resumed
            full = False
        else:
            replayed, rows, full = await _replay_everything(conn, affected, stored)
        if full:
            await conn.execute(delete(_TABLE))
        else:
            ids = [int(row[0]) for row in rows if row[0] is not None]
            for start in range(0, len(ids), DELETE_CHUNK):
                chunk = ids[start : start + DELETE_CHUNK]
                await conn.execute(delete(_TABLE).where(_TABLE.c.fixture_id.in_(chunk)))
        await _insert(conn, rows)
        await record_data_change(conn, "features recomputed")
    return RecomputeSummary(
        replayed, len(rows), time.perf_counter() - started, resumed=resumed is not None
    )


async def _replay_everything(
    conn: AsyncConnection, affected: AffectedFixtures, stored: int
) -> tuple[int, list[FeatureRow], bool]:
    """The fallback: replay the whole history in memory; rows, and whether they are all."""
    fixtures, names = await _load(conn)

    def work() -> tuple[list[FeatureRow], bool]:
        ids = tainted_fixtures(fixtures, affected.seasons, affected.teams, affected.since)
        # More fixtures without a row than this rewrites (e.g. a database from before
        # fixture_features existed): fill in everything.
        unfilled = len(fixtures) - stored > len(ids)
        if unfilled or len(ids) > FULL_REWRITE_SHARE * len(fixtures):
            return compute_features(fixtures, names), True
        return compute_features(fixtures, names, only=ids), False

    rows, full = await asyncio.to_thread(work)
    return len(fixtures), rows, full


# Resuming from stored rows: above this many teams to rewrite, replay everything.
RESUME_MAX_TEAMS = 5_000
# The most matches a team's form windows read (points_last10).
_RECENT_MATCHES = 10
_LAST_MEETINGS = 5


async def _resume(
    conn: AsyncConnection, affected: AffectedFixtures, total: int, stored: int
) -> tuple[int, list[FeatureRow]] | None:
    """Rows rewritten by resuming from the stored rows before the cut (affected.since),
    with the number of fixtures read from the cut on; None to replay everything."""
    assert affected.since is not None
    cut = affected.since
    later, known_elo, rowless = await _load_later(conn, cut)
    ids = await asyncio.to_thread(
        tainted_fixtures, later, affected.seasons, affected.teams, affected.since
    )
    # Every fixture without a row must be one this rewrites (the import's new ones).
    if total - stored != len(rowless) or not rowless <= ids:
        return None
    if len(ids) > FULL_REWRITE_SHARE * total:
        return None
    wanted = [f for f in later if f.id in ids]
    teams = {f.home_team_id for f in wanted} | {f.away_team_id for f in wanted}
    if len(teams) > RESUME_MAX_TEAMS:
        return None
    if not wanted:
        return len(later), []
    history = await _load_history(conn, cut, wanted)
    names = await _team_names(conn)
    try:
        rows = await asyncio.to_thread(resume_features, history, later, names, ids, known_elo)
    except IncompleteHistory:
        return None
    return len(later), rows


_F = Fixture.__table__.c
_FF = _TABLE.c


def _input_columns() -> list[ColumnElement[Any]]:
    """FixtureInput's columns, the date read raw (text on SQLite)."""
    return [
        _F.id,
        _F.league_id,
        _F.season,
        type_coerce(_F.kickoff_date, RawValue()).label("kickoff_date"),
        _F.home_team_id,
        _F.away_team_id,
        _F.home_goals,
        _F.away_goals,
        _F.home_shots_on_target,
        _F.away_shots_on_target,
    ]


_STORED_COLUMNS = (
    _FF.fixture_id,
    _FF.home_streak,
    _FF.away_streak,
    _FF.home_elo,
    _FF.away_elo,
    _FF.h2h_meetings,
)


def _to_input(row: Sequence[Any], days: Memoized) -> FixtureInput:
    return FixtureInput(
        row[0], row[1], row[2], days[row[3]], row[4], row[5], row[6], row[7], row[8], row[9]
    )


async def _load_later(
    conn: AsyncConnection, cut: dt.date
) -> tuple[list[FixtureInput], dict[int, tuple[float, float]], set[int]]:
    """Fixtures from the cut on; their stored pre-match Elo; the ids that have no row."""
    query = (
        select(*_input_columns(), _FF.fixture_id, _FF.home_elo, _FF.away_elo)
        .select_from(Fixture.__table__.outerjoin(_TABLE, _FF.fixture_id == _F.id))
        .where(_F.kickoff_date >= cut)
    )
    rows = (await conn.execute(query)).all()

    def convert() -> tuple[list[FixtureInput], dict[int, tuple[float, float]], set[int]]:
        known_elo = {row[0]: (row[11], row[12]) for row in rows if row[10] is not None}
        rowless = {row[0] for row in rows if row[10] is None}
        return _to_inputs(rows), known_elo, rowless

    return await asyncio.to_thread(convert)


def _ranked(
    where: ColumnElement[bool], partition: Sequence[ColumnElement[Any]], keep: int
) -> Select[Any]:
    """Fixtures matching `where`, the latest `keep` per partition, with their stored
    streak, Elo and meeting count (NULL when a fixture has no row)."""
    number = func.row_number().over(
        partition_by=list(partition), order_by=(_F.kickoff_date.desc(), _F.id.desc())
    )
    ranked = select(*_input_columns(), number.label("rank")).where(where).subquery()
    return (
        select(*(ranked.c[i] for i in range(10)), *_STORED_COLUMNS)
        .select_from(ranked.outerjoin(_TABLE, _FF.fixture_id == ranked.c.id))
        .where(ranked.c.rank <= keep)
    )


# The latest matches before the cut are first looked for in these many days before
# it, and teams and pairs with fewer there are looked up again over all their
# history. Within the window, team ids are compared as `team_id + 0`, an expression
# no index covers, so the planner range-scans the date index (a year of all leagues:
# rows stored close together) instead of fetching every match a team ever played
# through the team index, scattered over the whole table.
RECENT_WINDOW_DAYS = 400
MEETINGS_WINDOW_DAYS = 1_200


def _team(column: ColumnElement[int], window: int | None) -> ColumnElement[int]:
    return column + 0 if window is not None else column


class _HistoryReader:
    """Reads what `resume_features` needs from before the cut."""

    def __init__(self, conn: AsyncConnection, cut: dt.date) -> None:
        self.conn = conn
        self.cut = cut
        self.days = Memoized(as_date)
        self.stored: dict[int, StoredSides] = {}

    async def latest(
        self,
        where: ColumnElement[bool],
        partition: Sequence[ColumnElement[Any]],
        keep: int,
        window_days: int | None,
    ) -> list[FixtureInput]:
        # Played matches only: an upcoming one before the cut adds nothing to form.
        conditions = [where, _F.kickoff_date < self.cut, _F.result.is_not(None)]
        if window_days is not None:
            conditions.append(_F.kickoff_date >= self.cut - dt.timedelta(days=window_days))
        out = []
        for row in await self.conn.execute(_ranked(and_(*conditions), partition, keep)):
            fixture = _to_input(row, self.days)
            if row[10] is not None:
                self.stored[fixture.id] = StoredSides(row[11], row[12], row[13], row[14], row[15])
            out.append(fixture)
        return out

    async def recent(self, teams: list[int]) -> dict[int, list[FixtureInput]]:
        """Each team's latest home and latest away matches (_RECENT_MATCHES of each)."""
        found: dict[tuple[int, bool], list[FixtureInput]] = {}
        for home in (True, False):
            side = _F.home_team_id if home else _F.away_team_id
            pending = teams
            for window in (RECENT_WINDOW_DAYS, None):
                by_team: dict[int, list[FixtureInput]] = {team: [] for team in pending}
                where = _team(side, window).in_(pending)
                for f in await self.latest(where, (side,), _RECENT_MATCHES, window):
                    by_team[f.home_team_id if home else f.away_team_id].append(f)
                for team, matches in by_team.items():
                    found[team, home] = matches
                pending = [t for t, matches in by_team.items() if len(matches) < _RECENT_MATCHES]
                if not pending:
                    break
        return {team: found[team, True] + found[team, False] for team in teams}

    async def meetings(
        self, pairs: set[tuple[int, int]]
    ) -> dict[tuple[int, int], list[FixtureInput]]:
        """Each pair's latest meetings (_LAST_MEETINGS)."""
        low = case((_F.home_team_id < _F.away_team_id, _F.home_team_id), else_=_F.away_team_id)
        high = case((_F.home_team_id < _F.away_team_id, _F.away_team_id), else_=_F.home_team_id)
        found: dict[tuple[int, int], list[FixtureInput]] = {}
        pending = pairs
        for window in (MEETINGS_WINDOW_DAYS, None):
            teams = sorted({team for pair in pending for team in pair})
            where = and_(
                _team(_F.home_team_id, window).in_(teams),
                _team(_F.away_team_id, window).in_(teams),
            )
            by_pair: dict[tuple[int, int], list[FixtureInput]] = {pair: [] for pair in pending}
            for f in await self.latest(where, (low, high), _LAST_MEETINGS, window):
                pair = (min(f.home_team_id, f.away_team_id), max(f.home_team_id, f.away_team_id))
                if pair in by_pair:
                    by_pair[pair].append(f)
            found.update(by_pair)
            pending = {pair for pair, last in by_pair.items() if len(last) < _LAST_MEETINGS}
            if not pending:
                break
        return found

    async def season_fixtures(self, seasons: set[tuple[int, str]]) -> list[FixtureInput]:
        """Every fixture of the league-seasons before the cut, for their tables."""
        by_league: dict[int, list[str]] = {}
        for league, season in sorted(seasons):
            by_league.setdefault(league, []).append(season)
        if not by_league:
            return []
        in_seasons = or_(
            *(
                and_(_F.league_id == league, _F.season.in_(names))
                for league, names in by_league.items()
            )
        )
        query = select(*_input_columns()).where(
            in_seasons, _F.kickoff_date < self.cut, _F.result.is_not(None)
        )
        return [_to_input(row, self.days) for row in await self.conn.execute(query)]


async def _load_history(
    conn: AsyncConnection, cut: dt.date, wanted: Sequence[FixtureInput]
) -> History:
    """What `resume_features` needs from before the cut to build the wanted rows."""
    teams = sorted({f.home_team_id for f in wanted} | {f.away_team_id for f in wanted})
    pairs = {
        (min(f.home_team_id, f.away_team_id), max(f.home_team_id, f.away_team_id)) for f in wanted
    }
    reader = _HistoryReader(conn, cut)
    recent = await reader.recent(teams)
    meetings = await reader.meetings(pairs)
    seasons = {(f.league_id, f.season) for f in wanted}
    season_fixtures = await reader.season_fixtures(seasons)
    return History(cut, recent, reader.stored, season_fixtures, meetings)


async def _team_names(conn: AsyncConnection) -> dict[int, str]:
    teams = Team.__table__.c
    return {int(id_): str(name) for id_, name in await conn.execute(select(teams.id, teams.name))}


async def forget(conn: AsyncConnection, fixture_ids: Sequence[int]) -> None:
    """Delete the rows of fixtures a transaction changes, so that they read as work left
    until the recompute after it (see the module docstring)."""
    for start in range(0, len(fixture_ids), DELETE_CHUNK):
        chunk = list(fixture_ids[start : start + DELETE_CHUNK])
        await conn.execute(delete(_TABLE).where(_TABLE.c.fixture_id.in_(chunk)))


async def rowless(db: Database, *, expected: int = 0) -> tuple[AffectedFixtures, int]:
    """The fixtures without a feature row: as the change that would rewrite them, and how
    many. Two counts first (rows exist only for fixtures): when `expected` fixtures lack a
    row (the caller's own, already known to it), nothing else is looked for."""
    affected = AffectedFixtures()
    missing = 0
    async with db.session() as session:
        conn = await session.connection()
        fixtures = int(await conn.scalar(select(func.count()).select_from(Fixture.__table__)) or 0)
        rows = int(await conn.scalar(select(func.count()).select_from(_TABLE)) or 0)
        if fixtures - rows == expected:
            return affected, 0
        query = (
            select(_F.league_id, _F.season, _F.home_team_id, _F.away_team_id, _F.kickoff_date)
            .select_from(Fixture.__table__.outerjoin(_TABLE, _FF.fixture_id == _F.id))
            .where(_FF.fixture_id.is_(None))
        )
        for league_id, season, home, away, day in await conn.execute(query):
            affected.add(league_id, season, home, away, day)
            missing += 1
    return affected, missing


@dataclass(frozen=True)
class Repair:
    fixtures: int
    """Fixtures that had no feature row."""
    summary: RecomputeSummary


async def repair(db: Database) -> Repair | None:
    """Recompute what an interrupted writer left undone (fixtures without a row and every
    row they reach); None when nothing was left, or when another process was already
    writing the same rows (its recompute does the work)."""
    affected, missing = await rowless(db)
    if not affected:
        return None
    try:
        return Repair(missing, await recompute(db, affected))
    except IntegrityError:
        return None


async def feature_row_count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(_TABLE)) or 0)
