"""Materialise point-in-time team features in fixture_features.

    await recompute_all(db)                 # every fixture, from scratch
    await recompute(db, affected)           # after an import: only what it can change

`recompute` replays the fixture history in memory (a few columns per fixture; Elo
of any team depends on every earlier match of its opponents), then rewrites only
the rows the change can reach: every fixture of an affected league-season, and from
the earliest affected date on, every fixture of an affected team or of a team that
has since played one (see `compute.tainted_fixtures`). When more fixtures lack a
row than that would write (a database that predates the table), or the change
reaches over half the fixtures, the whole table is rewritten instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, Table, delete, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeDecorator

from core.db import Database
from core.features.compute import FeatureRow, FixtureInput, compute_features, tainted_fixtures
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

    def __bool__(self) -> bool:
        return bool(self.seasons or self.teams)


@dataclass(frozen=True)
class RecomputeSummary:
    fixtures: int
    """Fixtures replayed."""
    written: int
    """Feature rows rewritten."""
    seconds: float


async def _load(conn: AsyncConnection) -> tuple[list[FixtureInput], dict[int, str]]:
    f = Fixture.__table__.c
    # Dates come back raw (text on SQLite) and are converted once per distinct day:
    # a million rows hold a few thousand dates.
    query = select(
        f.id,
        f.league_id,
        f.season,
        type_coerce(f.kickoff_date, _Raw()),
        f.home_team_id,
        f.away_team_id,
        f.home_goals,
        f.away_goals,
        f.home_shots_on_target,
        f.away_shots_on_target,
    )
    days: dict[Any, dt.date] = {}

    def day(raw: Any) -> dt.date:
        found = days.get(raw)
        if found is None:
            found = days[raw] = raw if isinstance(raw, dt.date) else dt.date.fromisoformat(raw)
        return found

    # Straight through the driver: no bound parameters, and SQLAlchemy's per-row work
    # is most of the cost of reading a million rows.
    sql = str(query.compile(dialect=conn.dialect))
    driver: Any = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    if conn.dialect.name == "postgresql":
        result: Sequence[Any] = await driver.fetch(sql)
    else:
        result = await driver.execute_fetchall(sql)
    fixtures = [
        FixtureInput(r[0], r[1], r[2], day(r[3]), r[4], r[5], r[6], r[7], r[8], r[9])
        for r in result
    ]
    teams = Team.__table__.c
    names = {int(id_): str(name) for id_, name in await conn.execute(select(teams.id, teams.name))}
    return fixtures, names


class _Raw(TypeDecorator[Any]):
    """A column read exactly as the driver returns it (no result processing)."""

    impl = String
    cache_ok = True

    def result_processor(self, dialect: Any, coltype: Any) -> None:
        return None


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
    return RecomputeSummary(len(fixtures), len(rows), time.perf_counter() - started)


async def recompute(db: Database, affected: AffectedFixtures) -> RecomputeSummary:
    """Rewrite the feature rows an import of `affected` fixtures can change."""
    started = time.perf_counter()
    if not affected:
        return RecomputeSummary(0, 0, 0.0)
    async with db.session() as session:
        conn = await session.connection()
        fixtures, names = await _load(conn)
        stored = int(await conn.scalar(select(func.count()).select_from(_TABLE)) or 0)

        def work() -> tuple[list[FeatureRow], bool]:
            ids = tainted_fixtures(fixtures, affected.seasons, affected.teams, affected.since)
            # More fixtures without a row than this rewrites (e.g. a database from before
            # fixture_features existed): fill in everything.
            unfilled = len(fixtures) - stored > len(ids)
            if unfilled or len(ids) > FULL_REWRITE_SHARE * len(fixtures):
                return compute_features(fixtures, names), True
            return compute_features(fixtures, names, only=ids), False

        rows, full = await asyncio.to_thread(work)
        if full:
            await conn.execute(delete(_TABLE))
        else:
            ids = [int(row[0]) for row in rows if row[0] is not None]
            for start in range(0, len(ids), DELETE_CHUNK):
                chunk = ids[start : start + DELETE_CHUNK]
                await conn.execute(delete(_TABLE).where(_TABLE.c.fixture_id.in_(chunk)))
        await _insert(conn, rows)
    return RecomputeSummary(len(fixtures), len(rows), time.perf_counter() - started)


async def feature_row_count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(_TABLE)) or 0)
