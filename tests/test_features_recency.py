"""Team form counts only recent matches: with seasons missing from the database, a
team's first matches back must not lean on results years old (form, averages, rest days
and streak are NULL instead), while a resumed replay still equals a full one."""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import aliased

from core.features import FixtureInput, compute_features, resume_features, tainted_fixtures
from core.features.compute import RECENT_DAYS
from core.importing.service import import_paths
from core.models import FEATURE_COLUMNS, Fixture, FixtureFeatures, Team
from core.services import FilterBetsService
from tests.conftest import real_file
from tests.test_features_compute import COL, _history_at

NAMES = {1: "A", 2: "B", 3: "C", 4: "D"}
FORM = ("points_last5", "points_last10", "gf_avg_last5", "ga_avg_last5", "venue_points_last5",
        "sot_avg_last5", "streak", "rest_days")  # fmt: skip


def a_season(start: dt.date, first_id: int, matches: int) -> list[FixtureInput]:
    """A (team 1) plays B, C, D in turn, home and away, a week apart, and always wins."""
    out = []
    for i in range(matches):
        day = start + dt.timedelta(days=7 * i)
        other = 2 + i % 3
        home, away = (1, other) if i % 2 == 0 else (other, 1)
        goals = (2, 0) if home == 1 else (0, 2)
        out.append(FixtureInput(first_id + i, 1, "s", day, home, away, *goals, 4, 1))
    return out


def side(row: tuple[object, ...], fixture: FixtureInput, team: int, name: str) -> object:
    prefix = "home" if fixture.home_team_id == team else "away"
    return row[COL[f"{prefix}_{name}"]]


def test_a_team_back_after_missing_seasons_has_no_form_but_keeps_its_elo() -> None:
    before = a_season(dt.date(2014, 8, 16), 1, 12)
    back = a_season(dt.date(2018, 8, 11), 100, 7)
    rows = {r[0]: r for r in compute_features(before + back, NAMES)}
    first_back = back[0]
    for name in FORM:
        assert side(rows[first_back.id], first_back, 1, name) is None, name
    assert side(rows[first_back.id], first_back, 1, "elo") > 1500  # 12 wins stay in Elo
    # Form returns as recent matches accumulate: 5 wins since the gap, streak from 0.
    sixth = back[5]
    assert side(rows[sixth.id], sixth, 1, "points_last5") == 15
    assert side(rows[sixth.id], sixth, 1, "streak") == 5
    assert side(rows[sixth.id], sixth, 1, "points_last10") is None
    assert side(rows[sixth.id], sixth, 1, "rest_days") == 7


def test_the_oldest_match_of_a_window_may_be_365_days_back_not_366() -> None:
    played = a_season(dt.date(2019, 1, 5), 1, 5)  # A's last 5, the first on 5 Jan 2019
    for days, counted in ((RECENT_DAYS, True), (RECENT_DAYS + 1, False)):
        fixture = FixtureInput(50, 1, "s", played[0].kickoff_date + dt.timedelta(days=days),
                               1, 2, None, None, None, None)  # fmt: skip
        [row] = compute_features([*played, fixture], NAMES, only={50})
        assert (side(row, fixture, 1, "points_last5") is not None) is counted
    last = played[-1].kickoff_date
    for days, expected in ((RECENT_DAYS, RECENT_DAYS), (RECENT_DAYS + 1, None)):
        fixture = FixtureInput(60, 1, "s", last + dt.timedelta(days=days), 1, 2,
                               None, None, None, None)  # fmt: skip
        [row] = compute_features([*played, fixture], NAMES, only={60})
        assert side(row, fixture, 1, "rest_days") == expected


def _gap_world(seed: int, count: int) -> list[FixtureInput]:
    """Matches in two eras three years apart; some teams play in both, some in one."""
    rng = random.Random(seed)
    eras = (dt.date(2014, 8, 1), dt.date(2017, 8, 1))
    out = []
    for i in range(count):
        era = rng.randrange(2)
        pool = (1, 2, 3, 4, 5, 6) if era == 0 else (1, 2, 3, 7, 8, 9)
        home, away = rng.sample(pool, 2)
        day = eras[era] + dt.timedelta(days=rng.randrange(300))
        goals = (rng.randrange(4), rng.randrange(3))
        out.append(FixtureInput(i + 1, 1 + era, f"s{era}", day, home, away, *goals, 3, None))
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), at=st.floats(0.0, 1.0))
def test_a_resumed_replay_across_a_gap_equals_the_full_one(seed: int, at: float) -> None:
    fixtures = _gap_world(seed, 160)
    names = {t: f"T{t}" for t in range(1, 10)}
    expected = {r[0]: r for r in compute_features(fixtures, names)}
    dates = sorted({f.kickoff_date for f in fixtures})
    cut = dates[min(int(at * len(dates)), len(dates) - 1)]
    later = [f for f in fixtures if f.kickoff_date >= cut]
    history, known_elo = _history_at(fixtures, expected, cut)
    touched = later[:3]
    seasons = {(f.league_id, f.season) for f in touched}
    teams = {f.home_team_id for f in touched} | {f.away_team_id for f in touched}
    ids = tainted_fixtures(later, seasons, teams, cut)
    rows = resume_features(history, later, names, ids, known_elo)
    assert {r[0]: r for r in rows} == {i: expected[i] for i in ids}


async def test_real_seasons_with_a_gap_between_them(service: FilterBetsService) -> None:
    """E0 2013-14, then (2014-18 missing) 2018-19: Crystal Palace's first match back."""
    files = [real_file("football/E0_2013-14.csv"), real_file("football/E0_2018-19.csv")]
    assert (await import_paths(service.db, files)).file_errors == []
    home, away = aliased(Team), aliased(Team)
    query = (
        select(Fixture.kickoff_date, home.name,
               *(getattr(FixtureFeatures, c) for c in FEATURE_COLUMNS))
        .join(home, home.id == Fixture.home_team_id)
        .join(away, away.id == Fixture.away_team_id)
        .join(FixtureFeatures, FixtureFeatures.fixture_id == Fixture.id)
        .where((home.name == "Crystal Palace") | (away.name == "Crystal Palace"))
        .where(Fixture.season == "2018-19")
        .order_by(Fixture.kickoff_date)
    )  # fmt: skip
    async with service.db.session() as session:
        rows = (await session.execute(query)).all()
    assert len(rows) == 38

    def value(row: tuple[object, ...], name: str) -> object:
        prefix = "home" if row[1] == "Crystal Palace" else "away"
        return row[2 + FEATURE_COLUMNS.index(f"{prefix}_{name}")]

    for name in FORM:
        assert value(rows[0], name) is None, name
    assert value(rows[0], "elo") != 1500.0  # the 2013-14 ratings still stand
    assert value(rows[5], "points_last5") is not None
    assert value(rows[10], "points_last10") is not None
