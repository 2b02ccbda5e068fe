"""Team name aliases: another spelling of a team is read as the team itself.

`link_alias(db, "Atl. Madrid", "Ath Madrid")` stores the alias, so every later import
reads the name as "Ath Madrid". If a team was already stored under the other spelling,
its fixtures move to the team (a match stored under both spellings becomes one fixture)
and the other team row goes; the features of the fixtures concerned are recomputed, so
they follow the alias.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.data_changes import record_data_change
from core.db import Database, as_date, dialect_insert
from core.errors import TeamError
from core.features.service import AffectedFixtures, forget
from core.features.service import recompute as recompute_features
from core.importing.football_data import MAX_NAME_LENGTH, clean_name
from core.models import (
    ALL_ODDS_COLUMNS,
    Fixture,
    FixtureOdds,
    Team,
    TeamAlias,
    TeamLeague,
)

_FIXTURES: Table = Fixture.__table__  # type: ignore[assignment]
_ODDS: Table = FixtureOdds.__table__  # type: ignore[assignment]
_TEAMS: Table = Team.__table__  # type: ignore[assignment]
_ALIASES: Table = TeamAlias.__table__  # type: ignore[assignment]
_LINKS: Table = TeamLeague.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class AliasLink:
    alias: str
    team: str
    fixtures_moved: int
    """Fixtures stored under the alias that now belong to the team."""
    fixtures_merged: int
    """Of those, matches stored under both spellings, now one fixture."""


async def list_aliases(db: Database) -> list[tuple[str, str]]:
    """(alias, team name) pairs, by alias."""
    async with db.session() as session:
        rows = await session.execute(
            select(_ALIASES.c.alias, _ALIASES.c.team_name).order_by(_ALIASES.c.alias)
        )
        return [(str(alias), str(team)) for alias, team in rows]


async def link_alias(db: Database, alias: str, team: str) -> AliasLink:
    """Make `alias` another name of the stored team `team` (see the module docstring)."""
    alias, team = clean_name(alias), clean_name(team)
    if not alias or not team:
        raise TeamError("give the other spelling and the team's stored name")
    if alias == team:
        raise TeamError(f"{alias!r} is the team's own name")
    if len(alias) > MAX_NAME_LENGTH:
        raise TeamError(f"alias longer than {MAX_NAME_LENGTH} characters")
    affected = AffectedFixtures()
    async with db.session() as session:
        conn = await session.connection()
        team_id = await _team_id(conn, team)
        if team_id is None:
            raise TeamError(f"no team {team!r} in the database{await _hint(conn, team)}")
        target = await conn.scalar(select(_ALIASES.c.team_name).where(_ALIASES.c.alias == team))
        if target is not None:
            raise TeamError(f"{team!r} is itself an alias of {target!r}; link to {target!r}")
        insert = dialect_insert(db.dialect_name, _ALIASES).values(alias=alias, team_name=team)
        await conn.execute(
            insert.on_conflict_do_update(index_elements=["alias"], set_={"team_name": team})
        )
        # Aliases of the other spelling now lead to the team too.
        await conn.execute(
            update(_ALIASES).where(_ALIASES.c.team_name == alias).values(team_name=team)
        )
        moved = merged = 0
        alias_id = await _team_id(conn, alias)
        if alias_id is not None:
            moved, merged = await _merge_team(conn, alias_id, team_id, affected)
            await record_data_change(conn, f"team alias {alias} -> {team}")
    if affected:
        await recompute_features(db, affected)
    return AliasLink(alias, team, moved, merged)


async def _team_id(conn: AsyncConnection, name: str) -> int | None:
    found = await conn.scalar(select(_TEAMS.c.id).where(_TEAMS.c.name == name))
    return None if found is None else int(found)


async def _hint(conn: AsyncConnection, name: str) -> str:
    names = [str(n) for n in (await conn.execute(select(_TEAMS.c.name))).scalars()]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


async def _merge_team(
    conn: AsyncConnection, alias_id: int, team_id: int, affected: AffectedFixtures
) -> tuple[int, int]:
    """Move the alias team's fixtures to the team, then delete the alias team."""
    f = _FIXTURES.c
    rows = (
        await conn.execute(
            select(
                f.id, f.league_id, f.season, f.kickoff_date, f.home_team_id, f.away_team_id
            ).where(or_(f.home_team_id == alias_id, f.away_team_id == alias_id))
        )
    ).all()
    merged = 0
    changed: list[int] = []
    for fixture_id, league_id, season, day, home, away in rows:
        home = team_id if home == alias_id else home
        away = team_id if away == alias_id else away
        same = await conn.scalar(
            select(f.id).where(
                f.league_id == league_id,
                f.kickoff_date == day,
                f.home_team_id == home,
                f.away_team_id == away,
            )
        )
        if same is not None:
            # The match is stored under both spellings: keep one fixture.
            await _merge_fixtures(conn, int(same), int(fixture_id))
            changed.append(int(same))
            merged += 1
        else:
            changed.append(int(fixture_id))
            await conn.execute(
                update(_FIXTURES)
                .where(f.id == fixture_id)
                .values(home_team_id=home, away_team_id=away)
            )
        affected.add(int(league_id), str(season), home, away, as_date(day))
    leagues = (
        await conn.execute(select(_LINKS.c.league_id).where(_LINKS.c.team_id == alias_id))
    ).scalars()
    for league_id in leagues:
        insert = dialect_insert(conn.dialect.name, _LINKS).values(
            team_id=team_id, league_id=league_id
        )
        await conn.execute(insert.on_conflict_do_nothing(index_elements=["team_id", "league_id"]))
    # Stale until the recompute after this transaction; without rows they read as work
    # left, should the process die first (core.features.service).
    await forget(conn, changed)
    await conn.execute(delete(_LINKS).where(_LINKS.c.team_id == alias_id))
    await conn.execute(delete(_TEAMS).where(_TEAMS.c.id == alias_id))
    return len(rows), merged


async def _merge_fixtures(conn: AsyncConnection, kept_id: int, other_id: int) -> None:
    """Fold `other_id` (the same match under the alias) into `kept_id`, then delete it.

    The fixture with the result gives the values; prices missing from it come from the
    other (which was usually imported first, from a fixtures file).
    """
    f = _FIXTURES.c
    results = dict(
        (await conn.execute(select(f.id, f.result).where(f.id.in_((kept_id, other_id))))).all()
    )
    if results.get(kept_id) is None and results.get(other_id) is not None:
        # The alias's fixture has the result: its values win.
        played = (await conn.execute(select(_FIXTURES).where(f.id == other_id))).mappings().one()
        keep = {k: v for k, v in played.items() if k not in _FIXTURE_KEY}
        await conn.execute(update(_FIXTURES).where(f.id == kept_id).values(**keep))
    both = select(_ODDS).where(_ODDS.c.fixture_id.in_((kept_id, other_id)))
    prices = {row["fixture_id"]: row for row in (await conn.execute(both)).mappings()}
    other_prices = prices.get(other_id)
    kept_prices = prices.get(kept_id)
    if other_prices is not None and kept_prices is None:
        copied = {column: other_prices[column] for column in ALL_ODDS_COLUMNS}
        await conn.execute(_ODDS.insert().values(fixture_id=kept_id, **copied))
    elif other_prices is not None and kept_prices is not None:
        filled = {
            column: other_prices[column]
            for column in ALL_ODDS_COLUMNS
            if kept_prices[column] is None and other_prices[column] is not None
        }
        if filled:
            await conn.execute(update(_ODDS).where(_ODDS.c.fixture_id == kept_id).values(**filled))
    # Odds and features go with the fixture (ON DELETE CASCADE).
    await conn.execute(delete(_FIXTURES).where(f.id == other_id))


_FIXTURE_KEY = frozenset(
    {"id", "league_id", "kickoff_date", "home_team_id", "away_team_id", "imported_at"}
)
