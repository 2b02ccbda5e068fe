"""Hand-built leagues, teams, fixtures and odds for tests.

    ids = await add_fixtures(service, [
        {"league": "E0", "season": "2019-20", "date": "2019-08-10", "time": "15:00",
         "home": "Arsenal", "away": "Burnley", "goals": (2, 1),
         "odds": {"pinnacle_home": 1.5, "pinnacle_draw": 4.2, "pinnacle_away": 7.0}},
    ])

Leagues and teams are created on first use (and reused across calls); a spec
without "odds" gets no fixture_odds row at all, while ``"odds": {}`` gets a row of
empty prices. The result (H/D/A) follows from "goals" unless given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, NotRequired, TypedDict

from sqlalchemy import select

from core.data_version import bump_data_version
from core.features import recompute_all
from core.models import (
    ALL_ODDS_COLUMNS,
    BOOK_CODES,
    BOOK_SELECTIONS,
    Fixture,
    FixtureBookPrices,
    FixtureOdds,
    League,
    Team,
    TeamLeague,
)
from core.services import FilterBetsService

# Names and countries for the codes football-data uses; anything else gets its code.
KNOWN_LEAGUES: dict[str, tuple[str, str]] = {
    "E0": ("Premier League", "England"),
    "E1": ("Championship", "England"),
    "D1": ("Bundesliga", "Germany"),
    "F1": ("Ligue 1", "France"),
    "I1": ("Serie A", "Italy"),
    "SP1": ("La Liga", "Spain"),
    "N1": ("Eredivisie", "Netherlands"),
}


class FixtureSpec(TypedDict):
    league: str
    season: str
    date: dt.date | str
    home: str
    away: str
    goals: tuple[int, int] | None
    time: NotRequired[dt.time | str | None]
    result: NotRequired[str]
    half_time: NotRequired[tuple[int, int] | None]
    stats: NotRequired[Mapping[str, int | None]]
    referee: NotRequired[str | None]
    country: NotRequired[str]
    league_name: NotRequired[str]
    odds: NotRequired[Mapping[str, float | None]]


def _result(home: int, away: int) -> str:
    return "H" if home > away else "A" if away > home else "D"


def _date(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _time(value: dt.time | str | None) -> dt.time | None:
    if value is None or isinstance(value, dt.time):
        return value
    return dt.time.fromisoformat(value)


async def add_fixtures(
    service: FilterBetsService,
    specs: Iterable[FixtureSpec | Mapping[str, Any]],
    *,
    features: bool = True,
) -> list[int]:
    """Insert the fixtures (and any missing leagues/teams); return their ids in order.

    With `features` (the default) every fixture's team features are recomputed
    afterwards, as an import would.
    """
    specs = list(specs)
    ids = await _add_fixtures(service, specs)
    if features:
        await recompute_all(service.db)
    return ids


async def _add_fixtures(
    service: FilterBetsService, specs: list[FixtureSpec | Mapping[str, Any]]
) -> list[int]:
    async with service.db.session() as session:
        leagues = {row.code: row for row in (await session.scalars(select(League))).all()}
        teams = {row.name: row for row in (await session.scalars(select(Team))).all()}
        for spec in specs:
            code = spec["league"]
            if code not in leagues:
                name, country = KNOWN_LEAGUES.get(code, (code, "Unknown"))
                leagues[code] = League(
                    code=code,
                    name=spec.get("league_name", name),
                    country=spec.get("country", country),
                )
                session.add(leagues[code])
            for team in (spec["home"], spec["away"]):
                if team not in teams:
                    teams[team] = Team(name=team)
                    session.add(teams[team])
        await session.flush()

        links = set((await session.execute(select(TeamLeague.team_id, TeamLeague.league_id))).all())
        fixtures: list[Fixture] = []
        for spec in specs:
            league_id = leagues[spec["league"]].id
            for team in (spec["home"], spec["away"]):
                link = (teams[team].id, league_id)
                if link not in links:
                    links.add(link)
                    session.add(TeamLeague(team_id=link[0], league_id=link[1]))
            # No goals: an upcoming fixture, without a result yet.
            home_goals, away_goals = spec["goals"] or (None, None)
            half_time = spec.get("half_time")
            fixture = Fixture(
                league_id=league_id,
                season=spec["season"],
                kickoff_date=_date(spec["date"]),
                kickoff_time=_time(spec.get("time")),
                home_team_id=teams[spec["home"]].id,
                away_team_id=teams[spec["away"]].id,
                home_goals=home_goals,
                away_goals=away_goals,
                result=spec.get(
                    "result", None if home_goals is None else _result(home_goals, away_goals)
                ),
                half_time_home_goals=half_time[0] if half_time else None,
                half_time_away_goals=half_time[1] if half_time else None,
                half_time_result=_result(*half_time) if half_time else None,
                referee=spec.get("referee"),
                **dict(spec.get("stats", {})),
            )
            session.add(fixture)
            fixtures.append(fixture)
        await session.flush()

        for spec, fixture in zip(specs, fixtures, strict=True):
            if "odds" not in spec:
                continue
            odds = dict(spec["odds"])
            books: dict[tuple[str, bool], dict[str, float]] = {}
            for key in [key for key in odds if key in BOOK_KEYS]:
                book, closing, selection = BOOK_KEYS[key]
                books.setdefault((book, closing), {})[selection] = odds.pop(key)
            unknown = sorted(set(odds) - set(ALL_ODDS_COLUMNS))
            if unknown:
                raise ValueError(f"unknown odds columns: {unknown}")
            session.add(FixtureOdds(fixture_id=fixture.id, **odds))
            for (book, closing), prices in books.items():
                session.add(
                    FixtureBookPrices(fixture_id=fixture.id, book=book, closing=closing, **prices)
                )
        await bump_data_version(session)  # as an import does
        return [fixture.id for fixture in fixtures]


# Other books' prices in an "odds" spec: "wh_home", "bfe_close_draw", ...
BOOK_KEYS: dict[str, tuple[str, bool, str]] = {
    f"{book}{'_close' if closing else ''}_{selection}": (book, closing, selection)
    for book in BOOK_CODES
    for closing in (False, True)
    for selection in BOOK_SELECTIONS
}


# A varied little world for property tests: several leagues, seasons and teams
# (with non-ASCII and lower-case names, so string order is exercised), unknown
# kick-off times, fixtures without an odds row, odds rows with gaps, tied prices.
_WORLD: dict[str, list[str]] = {
    "E0": ["Arsenal", "Burnley", "Chelsea", "Everton", "Man United", "Wolves"],
    "E1": ["Barnsley", "Leeds", "Stoke", "QPR"],
    "D1": ["Bayern München", "1. FC Köln", "Dortmund", "Schalke 04"],
    "SP1": ["Alavés", "Atlético Madrid", "Barcelona", "Málaga", "Éibar"],
    "N1": ["ajax", "AZ Alkmaar", "Zwolle", "PSV"],
}
_SEASONS = ("2018-19", "2019-20", "2023-24")
_AH_LINES = (-1.5, -1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0)
_PRICE_SOURCES = tuple(
    source + timing for timing in ("", "_close") for source in ("b365", "pinnacle", "avg", "max")
)


def random_fixture_specs(count: int = 60, seed: int = 7) -> list[FixtureSpec]:
    """A deterministic, varied list of fixture specs (see the comment above)."""
    import random

    rng = random.Random(seed)
    books = random.Random(seed + 1)  # its own stream: the other draws stay as they were
    specs: list[FixtureSpec] = []
    used: set[tuple[str, dt.date, str, str]] = set()
    while len(specs) < count:
        league = rng.choice(list(_WORLD))
        home, away = rng.sample(_WORLD[league], 2)
        season = rng.choice(_SEASONS)
        start = dt.date(int(season[:4]), 8, 1)
        date = start + dt.timedelta(days=rng.randrange(300))
        if (league, date, home, away) in used:
            continue
        used.add((league, date, home, away))
        spec: FixtureSpec = {
            "league": league,
            "season": season,
            "date": date,
            "home": home,
            "away": away,
            "goals": (rng.randrange(5), rng.randrange(4)),
            "time": None
            if rng.random() < 0.2
            else dt.time(rng.choice((0, 12, 13, 15, 17, 19, 20, 23)), rng.choice((0, 30, 45))),
        }
        if rng.random() < 0.85:
            spec["odds"] = _random_odds(rng) | _random_book_prices(books)
        specs.append(spec)
    return specs


def _random_book_prices(rng: Any) -> dict[str, float]:
    """Prices of two books of fixture_book_prices: William Hill's 1X2 (pre-match and
    closing) and the Betfair exchange's 1X2 and over/under, some missing."""
    prices: dict[str, float] = {}
    for source, selections in (
        ("wh", ("home", "draw", "away")),
        ("wh_close", ("home", "draw", "away")),
        ("bfe", ("home", "draw", "away", "over25", "under25")),
    ):
        if rng.random() < 0.3:
            continue
        for selection in selections:
            if rng.random() < 0.1:
                continue
            prices[f"{source}_{selection}"] = round(rng.uniform(1.2, 7.0), 2)
    return prices


def _random_odds(rng: Any) -> dict[str, float | None]:
    odds: dict[str, float | None] = {}
    for source in _PRICE_SOURCES:
        if rng.random() < 0.15:
            continue  # this bookmaker has no prices for the match
        home = round(rng.uniform(1.1, 9.0), 2)
        away = home if rng.random() < 0.1 else round(rng.uniform(1.1, 9.0), 2)
        over = round(rng.uniform(1.4, 2.8), 2)
        prices = {
            "home": home,
            "draw": round(rng.uniform(2.8, 5.5), 2),
            "away": away,
            "over25": over,
            "under25": round(rng.uniform(1.4, 2.8), 2),
            "ah_home": round(rng.uniform(1.7, 2.2), 2),
            "ah_away": round(rng.uniform(1.7, 2.2), 2),
        }
        for selection, price in prices.items():
            if rng.random() < 0.1:
                continue  # a single missing price
            odds[f"{source}_{selection}"] = price
    if rng.random() < 0.8:
        odds["ah_line"] = rng.choice(_AH_LINES)
    if rng.random() < 0.7:
        odds["ah_line_close"] = rng.choice(_AH_LINES)
    if rng.random() < 0.05:
        odds["pinnacle_draw"] = 0.0  # a bad price: implied odds treat it as missing
    return odds
