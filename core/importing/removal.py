"""Deleting fixtures: a whole league-season, or the fixtures some imports added.

    removal = await plan_league_season(db, "E0", "2019-20")   # or plan_imports(db, [12])
    print(removal.describe())                                 # confirm with the user
    await remove(db, removal)

Only the chosen fixtures are deleted (with their odds and team features, by the foreign
keys' cascade), with DELETE, never DROP or TRUNCATE. Stored backtest results and their
ledgers are kept: a ledger is a snapshot (its bets keep their dates, prices and outcomes,
their fixtures then show blank). An import's fixtures are those it added, and the
upcoming ones it gave their result; fixtures it only corrected existed before it and
stay. The features of the fixtures that depended on
the deleted ones (later matches of their teams, the rest of their league-seasons) are
recomputed; they are left without rows in the deleting transaction, so a process dying
before the recompute leaves work that the next start repairs (core.features.service).
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, and_, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.data_changes import record_data_change
from core.db import Database, as_date
from core.errors import RemovalError
from core.features.service import AffectedFixtures, forget
from core.features.service import recompute as recompute_features
from core.models import Fixture, ImportRecord, League, TeamLeague

_FIXTURES: Table = Fixture.__table__  # type: ignore[assignment]
_IMPORTS: Table = ImportRecord.__table__  # type: ignore[assignment]
_LINKS: Table = TeamLeague.__table__  # type: ignore[assignment]
_F = _FIXTURES.c
_CHUNK = 500


@dataclass(frozen=True)
class Removal:
    """What a delete would take: shown for confirmation, then passed to `remove`."""

    label: str
    """"E0 2019-20", or "import #12 (E0_2019-20.csv, 2026-12-06 10:15 UTC)"."""
    fixtures: int
    upcoming: int
    """Of fixtures: those without a result."""
    first_date: dt.date | None
    last_date: dt.date | None
    seasons: tuple[str, ...]
    """League-seasons touched, e.g. "E0 2019-20"."""
    league_id: int | None = None
    season: str | None = None
    import_ids: tuple[int, ...] = ()

    def condition(self) -> ColumnElement[bool]:
        if self.import_ids:
            return _F.import_id.in_(self.import_ids)
        return and_(_F.league_id == self.league_id, _F.season == self.season)

    def describe(self) -> str:
        """One line naming what goes and what stays."""
        if self.fixtures == 0:
            return f"{self.label}: no fixtures left to delete"
        upcoming = f" ({self.upcoming:,} upcoming)" if self.upcoming else ""
        span = (
            f" from {self.first_date} to {self.last_date}"
            if self.first_date != self.last_date
            else f" on {self.first_date}"
        )
        where = "" if self.league_id is not None else f" in {', '.join(self.seasons)}"
        return (
            f"{self.label}: {self.fixtures:,} fixtures{upcoming}{where}{span}, with their odds"
            " and team features, will be deleted; stored backtest results and their ledgers"
            " are kept"
        )


@dataclass(frozen=True)
class ImportInfo:
    id: int
    file_name: str
    imported_at: dt.datetime
    fixtures_added: int
    fixtures_left: int
    """Of those it added, the fixtures still stored."""


async def list_imports(db: Database) -> list[ImportInfo]:
    """Every recorded import, newest first."""
    left = (
        select(func.count())
        .where(_F.import_id == _IMPORTS.c.id)
        .correlate(_IMPORTS)
        .scalar_subquery()
    )
    query = select(
        _IMPORTS.c.id,
        _IMPORTS.c.file_name,
        _IMPORTS.c.imported_at,
        _IMPORTS.c.fixtures_added,
        left,
    ).order_by(_IMPORTS.c.id.desc())
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return [ImportInfo(int(r[0]), str(r[1]), r[2], int(r[3]), int(r[4])) for r in rows]


async def plan_league_season(db: Database, code: str, season: str) -> Removal:
    """The fixtures of one league-season; RemovalError (with a suggestion) if none."""
    async with db.session() as session:
        conn = await session.connection()
        league_id = await conn.scalar(select(League.id).where(League.code == code))
        if league_id is None:
            codes = list((await conn.execute(select(League.code))).scalars())
            raise RemovalError(f"no league {code!r} in the database{_hint(code, codes)}")
        removal = Removal(
            f"{code} {season}", 0, 0, None, None, (), league_id=int(league_id), season=season
        )
        found = await _measure(conn, removal)
        if found.fixtures == 0:
            seasons = list(
                (
                    await conn.execute(
                        select(_F.season).where(_F.league_id == league_id).distinct()
                    )
                ).scalars()
            )
            raise RemovalError(f"no fixtures of {code} {season}{_hint(season, seasons)}")
    return found


async def plan_imports(db: Database, import_ids: Sequence[int]) -> Removal:
    """The fixtures the given imports added (and that are still stored)."""
    ids = tuple(dict.fromkeys(import_ids))
    async with db.session() as session:
        conn = await session.connection()
        records = (
            await conn.execute(
                select(_IMPORTS.c.id, _IMPORTS.c.file_name, _IMPORTS.c.imported_at).where(
                    _IMPORTS.c.id.in_(ids)
                )
            )
        ).all()
        missing = sorted(set(ids) - {int(r[0]) for r in records})
        if missing:
            raise RemovalError(f"no import #{missing[0]} (filterbets data imports lists them)")
        if len(records) == 1:
            record = records[0]
            when = record[2].strftime("%Y-%m-%d %H:%M UTC")
            label = f"import #{record[0]} ({record[1]}, {when})"
        else:
            label = f"{len(records)} imports ({', '.join(str(r[1]) for r in records[:3])}"
            label += f" and {len(records) - 3} more)" if len(records) > 3 else ")"
        return await _measure(conn, Removal(label, 0, 0, None, None, (), import_ids=ids))


async def _measure(conn: AsyncConnection, removal: Removal) -> Removal:
    """The removal with its counts, dates and league-seasons filled in."""
    totals = (
        await conn.execute(
            select(
                func.count(),
                func.count().filter(_F.result.is_(None)),
                func.min(_F.kickoff_date),
                func.max(_F.kickoff_date),
            ).where(removal.condition())
        )
    ).one()
    per_season = (
        await conn.execute(
            select(League.code, _F.season, func.count())
            .join(League, League.id == _F.league_id)
            .where(removal.condition())
            .group_by(League.code, _F.season)
            .order_by(League.code, _F.season)
        )
    ).all()
    first, last = (None if d is None else as_date(d) for d in totals[2:4])
    return Removal(
        removal.label,
        int(totals[0]),
        int(totals[1]),
        first,
        last,
        tuple(f"{code} {season}" for code, season, _count in per_season),
        league_id=removal.league_id,
        season=removal.season,
        import_ids=removal.import_ids,
    )


async def remove(db: Database, removal: Removal) -> int:
    """Delete what `removal` names, as it was confirmed: RemovalError (nothing deleted)
    if the fixtures it selects changed since it was planned. Returns fixtures deleted."""
    affected = AffectedFixtures()
    async with db.session() as session:
        conn = await session.connection()
        rows = (
            await conn.execute(
                select(
                    _F.id, _F.league_id, _F.season, _F.home_team_id, _F.away_team_id,
                    _F.kickoff_date,
                ).where(removal.condition())
            )
        ).all()  # fmt: skip
        if len(rows) != removal.fixtures:
            raise RemovalError(
                f"{removal.label}: {len(rows):,} fixtures now, not the {removal.fixtures:,}"
                " confirmed (an import ran meanwhile?); nothing deleted, ask again"
            )
        if not rows:
            return 0
        for _id, league_id, season, home, away, day in rows:
            affected.add(int(league_id), str(season), int(home), int(away), as_date(day))
        doomed = [int(row[0]) for row in rows]
        await forget(conn, await _dependents(conn, affected, set(doomed)))
        for start in range(0, len(doomed), _CHUNK):
            chunk = doomed[start : start + _CHUNK]
            # Odds and feature rows go with them (ON DELETE CASCADE).
            await conn.execute(delete(_FIXTURES).where(_F.id.in_(chunk)))
        # A team with no fixture left in a league no longer plays in it.
        links = _LINKS.c
        for league_id in {league for league, _season in affected.seasons}:
            plays = exists().where(
                _F.league_id == league_id,
                or_(_F.home_team_id == links.team_id, _F.away_team_id == links.team_id),
            )
            await conn.execute(delete(_LINKS).where(links.league_id == league_id, ~plays))
        await record_data_change(conn, f"deleted {removal.label}")
    await recompute_features(db, affected)
    return len(doomed)


async def _dependents(
    conn: AsyncConnection, affected: AffectedFixtures, doomed: set[int]
) -> list[int]:
    """Fixtures whose features read the doomed ones: the rest of their league-seasons
    (tables), and their teams' matches from the first doomed date on (form, Elo)."""
    assert affected.since is not None
    found: set[int] = set()
    teams = sorted(affected.teams)
    for start in range(0, len(teams), _CHUNK):
        chunk = teams[start : start + _CHUNK]
        query = select(_F.id).where(
            _F.kickoff_date >= affected.since,
            or_(_F.home_team_id.in_(chunk), _F.away_team_id.in_(chunk)),
        )
        found.update(int(i) for i in (await conn.execute(query)).scalars())
    for league_id, season in affected.seasons:
        query = select(_F.id).where(_F.league_id == league_id, _F.season == season)
        found.update(int(i) for i in (await conn.execute(query)).scalars())
    return sorted(found - doomed)


def _hint(given: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(given, list(known), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""
