"""Point-in-time team features, pure: an independent recomputation, and no look-ahead."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.features import (
    ELO_START,
    FeatureRow,
    FixtureInput,
    History,
    IncompleteHistory,
    StoredSides,
    compute_features,
    resume_features,
    tainted_fixtures,
)
from core.models import FEATURE_COLUMNS

COL = {name: i + 1 for i, name in enumerate(FEATURE_COLUMNS)}
FeatureRowMap = dict[int, FeatureRow]


def _world(seed: int, count: int = 400) -> tuple[list[FixtureInput], dict[int, str]]:
    """Two leagues over two seasons, a cup across them, same-day matches, some shot gaps."""
    rng = random.Random(seed)
    names = {t: f"Team {chr(65 + t)}" for t in range(1, 13)}
    leagues = {1: list(range(1, 7)), 2: list(range(7, 13))}
    fixtures: list[FixtureInput] = []
    start = dt.date(2020, 8, 1)
    for i in range(count):
        league = rng.choice((1, 2, 3))
        pool = leagues[league] if league in leagues else list(names)
        home, away = rng.sample(pool, 2)
        date = start + dt.timedelta(days=rng.randrange(600))
        season = "2020-21" if date < dt.date(2021, 7, 1) else "2021-22"
        sot = rng.random() < 0.9
        fixtures.append(
            FixtureInput(
                i + 1,
                league,
                season,
                date,
                home,
                away,
                rng.randrange(5),
                rng.randrange(4),
                rng.randrange(10) if sot else None,
                rng.randrange(10) if sot else None,
            )
        )
    return fixtures, names


def _points(gf: int, ga: int) -> int:
    return 3 if gf > ga else 1 if gf == ga else 0


def _position_from_scratch(
    fixtures: list[FixtureInput], names: dict[int, str], target: FixtureInput, team: int
) -> int | None:
    table: dict[int, list[int]] = {}
    for f in fixtures:
        if (f.league_id, f.season) != (target.league_id, target.season):
            continue
        if f.kickoff_date >= target.kickoff_date:
            continue
        sides = (
            (f.home_team_id, f.home_goals, f.away_goals),
            (f.away_team_id, f.away_goals, f.home_goals),
        )
        for t, gf, ga in sides:
            row = table.setdefault(t, [0, 0, 0])
            row[0] += _points(gf, ga)
            row[1] += gf - ga
            row[2] += gf
    if team not in table:
        return None
    order = sorted(table, key=lambda t: (-table[t][0], -table[t][1], -table[t][2], names[t]))
    return order.index(team) + 1


def _last5_from_scratch(
    fixtures: list[FixtureInput], target: FixtureInput, team: int
) -> int | None:
    earlier = sorted(
        (
            f
            for f in fixtures
            if f.kickoff_date < target.kickoff_date and team in (f.home_team_id, f.away_team_id)
        ),
        key=lambda f: (f.kickoff_date, f.id),
    )
    if len(earlier) < 5:
        return None
    total = 0
    for f in earlier[-5:]:
        mine, theirs = (
            (f.home_goals, f.away_goals) if f.home_team_id == team else (f.away_goals, f.home_goals)
        )
        total += _points(mine, theirs)
    return total


def test_position_and_last5_points_match_a_recomputation_from_scratch() -> None:
    fixtures, names = _world(seed=11)
    rows = {row[0]: row for row in compute_features(fixtures, names)}
    sample = random.Random(3).sample(fixtures, 120)
    checked_positions = 0
    for f in sample:
        row = rows[f.id]
        for side, team in (("home", f.home_team_id), ("away", f.away_team_id)):
            expected = _position_from_scratch(fixtures, names, f, team)
            assert row[COL[f"{side}_position"]] == expected, (f, side)
            checked_positions += expected is not None
            assert row[COL[f"{side}_points_last5"]] == _last5_from_scratch(fixtures, f, team)
    assert checked_positions > 100


def test_minimums_give_null_not_zero() -> None:
    fixtures, names = _world(seed=5)
    first = min(fixtures, key=lambda f: (f.kickoff_date, f.id))
    row = {r[0]: r for r in compute_features(fixtures, names)}[first.id]
    for side in ("home", "away"):
        assert row[COL[f"{side}_played"]] == 0
        for name in (
            "points",
            "ppg",
            "position",
            "points_last5",
            "points_last10",
            "gf_avg_last5",
            "ga_avg_last5",
            "venue_points_last5",
            "sot_avg_last5",
            "streak",
            "rest_days",
        ):
            assert row[COL[f"{side}_{name}"]] is None, name
        assert row[COL[f"{side}_elo"]] == ELO_START
    assert row[COL["h2h_meetings"]] == 0
    assert row[COL["h2h_home_wins_last5"]] is None


def test_hand_checked_small_history() -> None:
    d = dt.date(2020, 1, 1)
    day = dt.timedelta(days=1)
    names = {1: "A", 2: "B", 3: "C"}
    fixtures = [
        FixtureInput(1, 1, "s", d, 1, 2, 2, 0, 5, 1),  # A beats B
        FixtureInput(2, 1, "s", d, 3, 1, 0, 0, 2, 2),  # same day: C v A, neither sees match 1
        FixtureInput(3, 1, "s", d + 3 * day, 2, 1, 1, 3, 4, 6),  # B v A
    ]
    rows = {r[0]: r for r in compute_features(fixtures, names)}
    assert rows[2][COL["away_played"]] == 0 and rows[2][COL["away_rest_days"]] is None
    third = rows[3]
    assert third[COL["away_played"]] == 2 and third[COL["away_points"]] == 4
    assert third[COL["away_position"]] == 1  # A 4 pts; C 1 pt; B 0 pts
    assert third[COL["home_position"]] == 3
    assert third[COL["away_rest_days"]] == 3
    assert third[COL["away_streak"]] == 0  # same-date matches apply in id order: win, then draw
    assert third[COL["h2h_meetings"]] == 1
    assert third[COL["h2h_home_wins_last5"]] == 0  # B never beat A
    assert third[COL["home_streak"]] == -1
    # Elo: both same-day matches used 1500 ratings; A won at home (+) and drew away (+).
    assert third[COL["away_elo"]] > ELO_START > third[COL["home_elo"]]


# Every per-side field with its own window or state; the look-ahead test checks each by
# name, and `test_changes_reach_every_field_later_on` shows the changes it draws do move
# them (after the change), so the property is not vacuous for any of them.
FORM_FIELDS = (
    "points_last5",
    "points_last10",
    "gf_avg_last5",
    "ga_avg_last5",
    "venue_points_last5",
    "sot_avg_last5",
    "streak",
    "rest_days",
)
CHANGES = ("result", "shots", "swap_venue", "insert", "delete")


def _changed_world(
    fixtures: list[FixtureInput], changed: FixtureInput, kind: str, goals: tuple[int, int]
) -> tuple[list[FixtureInput], set[int]]:
    """The fixtures with one change at `changed`'s date; ids whose row is not comparable
    (the fixture itself when it is replaced, added or removed)."""
    new_id = max(f.id for f in fixtures) + 1
    others = [f for f in fixtures if f.id != changed.id]
    if kind == "result":
        return [*others, changed._replace(home_goals=goals[0], away_goals=goals[1])], set()
    if kind == "shots":
        shots = changed._replace(home_sot=None if goals[0] > 4 else goals[0], away_sot=goals[1])
        return [*others, shots], set()
    if kind == "swap_venue":
        swapped = changed._replace(
            id=new_id,
            home_team_id=changed.away_team_id,
            away_team_id=changed.home_team_id,
            home_goals=goals[0],
            away_goals=goals[1],
        )
        return [*others, swapped], {changed.id, new_id}
    if kind == "insert":
        extra = changed._replace(id=new_id, home_goals=goals[0], away_goals=goals[1])
        return [*fixtures, extra], {new_id}
    assert kind == "delete"
    return others, {changed.id}


def _differing_fields(before: FeatureRowMap, after: FeatureRowMap, fixture_id: int) -> list[str]:
    return [
        name
        for name in FEATURE_COLUMNS
        if before[fixture_id][COL[name]] != after[fixture_id][COL[name]]
    ]


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    pick=st.integers(0, 10_000),
    kind=st.sampled_from(CHANGES),
    goals=st.tuples(st.integers(0, 6), st.integers(0, 6)),
)
def test_changing_a_result_never_changes_features_at_or_before_its_date(
    seed: int, pick: int, kind: str, goals: tuple[int, int]
) -> None:
    fixtures, names = _world(seed, count=150)
    changed = fixtures[pick % len(fixtures)]
    altered, replaced = _changed_world(fixtures, changed, kind, goals)
    before = {r[0]: r for r in compute_features(fixtures, names)}
    after = {r[0]: r for r in compute_features(altered, names)}
    for f in fixtures:
        if f.kickoff_date <= changed.kickoff_date and f.id not in replaced:
            # Field by field (form, table, Elo, head-to-head), so a failure names it.
            assert _differing_fields(before, after, f.id) == [], (kind, f, changed)
    # And everything that did change is within what an incremental recompute rewrites.
    reach = tainted_fixtures(
        fixtures,
        {(changed.league_id, changed.season)},
        {changed.home_team_id, changed.away_team_id},
        changed.kickoff_date,
    )
    for f in fixtures:
        if f.id not in replaced and before[f.id] != after[f.id]:
            assert f.id in reach


def test_changes_reach_every_field_later_on() -> None:
    """The changes the look-ahead test draws do move every field of later fixtures."""
    seen: set[str] = set()
    rng = random.Random(17)
    for seed in range(12):
        fixtures, names = _world(seed, count=150)
        before = {r[0]: r for r in compute_features(fixtures, names)}
        for kind in CHANGES:
            changed = fixtures[rng.randrange(len(fixtures) // 2)]
            goals = (rng.randrange(7), rng.randrange(7))
            altered, replaced = _changed_world(fixtures, changed, kind, goals)
            after = {r[0]: r for r in compute_features(altered, names)}
            for f in fixtures:
                if f.kickoff_date > changed.kickoff_date and f.id not in replaced:
                    seen.update(_differing_fields(before, after, f.id))
    for side in ("home", "away"):
        for name in (*FORM_FIELDS, "played", "points", "ppg", "position", "elo"):
            assert f"{side}_{name}" in seen
    assert {"h2h_home_wins_last5", "h2h_meetings"} <= seen


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), share=st.floats(0.0, 1.0))
def test_rows_built_for_a_subset_equal_the_full_computation(seed: int, share: float) -> None:
    fixtures, names = _world(seed, count=200)
    rng = random.Random(seed)
    only = {f.id for f in fixtures if rng.random() < share}
    full = {r[0]: r for r in compute_features(fixtures, names)}
    subset = compute_features(fixtures, names, only=only)
    assert sorted(r[0] for r in subset) == sorted(only)
    assert all(row == full[row[0]] for row in subset)


def _history_at(
    fixtures: list[FixtureInput], rows: FeatureRowMap, cut: dt.date
) -> tuple[History, dict[int, tuple[float, float]]]:
    """What the service loads for a resume at `cut`, from `rows` as stored: the
    minimum the contract asks for (last 10 home and away, last 5 meetings)."""
    before = sorted(
        (f for f in fixtures if f.kickoff_date < cut), key=lambda f: (f.kickoff_date, f.id)
    )
    teams = {f.home_team_id for f in fixtures} | {f.away_team_id for f in fixtures}
    recent = {
        team: [f for f in before if f.home_team_id == team][-10:]
        + [f for f in before if f.away_team_id == team][-10:]
        for team in teams
    }
    meetings: dict[tuple[int, int], list[FixtureInput]] = {}
    for f in before:
        pair = (min(f.home_team_id, f.away_team_id), max(f.home_team_id, f.away_team_id))
        meetings.setdefault(pair, []).append(f)
    stored = {
        f.id: StoredSides(
            rows[f.id][COL["home_streak"]],  # type: ignore[arg-type]
            rows[f.id][COL["away_streak"]],  # type: ignore[arg-type]
            rows[f.id][COL["home_elo"]],  # type: ignore[arg-type]
            rows[f.id][COL["away_elo"]],  # type: ignore[arg-type]
            rows[f.id][COL["h2h_meetings"]],  # type: ignore[arg-type]
        )
        for f in before
    }
    known_elo = {
        f.id: (rows[f.id][COL["home_elo"]], rows[f.id][COL["away_elo"]])
        for f in fixtures
        if f.kickoff_date >= cut and f.id in rows
    }
    history = History(
        cut,
        recent,
        stored,
        before,
        {pair: found[-5:] for pair, found in meetings.items()},
    )
    return history, known_elo  # type: ignore[return-value]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    at=st.floats(0.0, 1.0),
    new_share=st.floats(0.0, 0.3),
    changed_share=st.floats(0.0, 0.1),
)
def test_a_replay_resumed_from_stored_rows_equals_the_full_computation(
    seed: int, at: float, new_share: float, changed_share: float
) -> None:
    """An import at any point of history (new fixtures, changed results): the rows
    rewritten by a resumed replay, with the untouched stored rows, equal a recompute
    from scratch."""
    fixtures, names = _world(seed, count=260)
    rng = random.Random(seed)
    dates = sorted({f.kickoff_date for f in fixtures})
    cut = dates[min(int(at * len(dates)), len(dates) - 1)]
    later = [f for f in fixtures if f.kickoff_date >= cut]
    new = {f.id for f in later if rng.random() < new_share} or {later[0].id}
    changed = {f.id for f in later if f.id not in new and rng.random() < changed_share}
    old_world = [
        f._replace(home_goals=f.away_goals, away_goals=f.home_goals, home_sot=None)
        if f.id in changed
        else f
        for f in fixtures
        if f.id not in new
    ]
    stored = {r[0]: r for r in compute_features(old_world, names)}
    expected = {r[0]: r for r in compute_features(fixtures, names)}
    touched = [f for f in fixtures if f.id in new | changed]
    seasons = {(f.league_id, f.season) for f in touched}
    teams = {f.home_team_id for f in touched} | {f.away_team_id for f in touched}
    since = min(f.kickoff_date for f in touched)
    history, known_elo = _history_at(fixtures, stored, since)
    later = [f for f in fixtures if f.kickoff_date >= since]
    ids = tainted_fixtures(later, seasons, teams, since)
    rows = resume_features(history, later, names, ids, known_elo)
    assert sorted(row[0] for row in rows) == sorted(ids)  # type: ignore[type-var]
    result = dict(stored) | {row[0]: row for row in rows}
    assert result.keys() == expected.keys()
    differing = [i for i in expected if result[i] != expected[i]]
    assert differing == [], [(result[i], expected[i]) for i in differing[:1]]


def test_resuming_carries_long_streaks_same_day_doubles_and_shot_gaps() -> None:
    """A streak longer than the loaded matches, two matches of a team on its last date
    before the cut, missing shots, and a team with no history before the cut."""
    d = dt.date(2020, 1, 1)
    names = {1: "A", 2: "B", 3: "C", 4: "D"}
    fixtures = [
        FixtureInput(i + 1, 1, "s", d + dt.timedelta(days=i), 1, 2 + i % 2, 2, 0, 5, None)
        for i in range(14)
    ]  # A wins 14 in a row
    last = d + dt.timedelta(days=20)
    fixtures += [
        FixtureInput(20, 1, "s", last, 1, 2, 0, 0, 3, 3),  # A draws and ...
        FixtureInput(21, 2, "t", last, 3, 1, 0, 1, None, 2),  # ... wins on the same day
        FixtureInput(22, 1, "s", last + dt.timedelta(days=4), 2, 1, 1, 2, 4, 4),
        FixtureInput(23, 1, "s", last + dt.timedelta(days=4), 4, 3, 3, 3, 1, 1),
        FixtureInput(24, 1, "s", last + dt.timedelta(days=9), 1, 4, 0, 2, 2, 2),
    ]
    expected = {r[0]: r for r in compute_features(fixtures, names)}
    for cut in (d + dt.timedelta(days=10), last, last + dt.timedelta(days=4)):
        history, known_elo = _history_at(fixtures, expected, cut)
        later = [f for f in fixtures if f.kickoff_date >= cut]
        for only in ({f.id for f in later}, {later[-1].id}):
            rows = resume_features(history, later, names, only, known_elo)
            assert {r[0]: r for r in rows} == {i: expected[i] for i in only}
    assert expected[20][COL["home_streak"]] == 14  # more than the 10 matches loaded
    assert expected[22][COL["away_streak"]] == 1  # the same-day draw, then the win
    assert expected[24][COL["home_streak"]] == 2
    assert expected[22][COL["home_sot_avg_last5"]] is None  # B: gaps in its last 5
    # A stored row the resume needs is missing: the caller replays in full instead.
    cut = last + dt.timedelta(days=4)
    history, known_elo = _history_at(fixtures, expected, cut)
    gap = History(cut, history.recent, {}, history.season_fixtures, history.meetings)
    with pytest.raises(IncompleteHistory):
        resume_features(gap, fixtures[-3:], names, {22, 23}, known_elo)
