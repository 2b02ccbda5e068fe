"""Point-in-time team features, computed in one chronological pass (pure, no I/O).

Fixtures are processed date by date. Every fixture of a date is given the features
of the state *before* that date, and only then are that date's results applied, so
a value never sees a match on the same date or later (no look-ahead).

Scopes:

* Table fields (played, points, ppg, position) use the fixture's league-season only.
* Form, rest, streak, Elo and head-to-head use every fixture in the data, all
  competitions and seasons.

Minimum history (a field with fewer earlier matches is None, never 0):

* played: none (0 before the team's first match of the league-season)
* points, ppg, position: 1 league-season match
* points_last5, gf_avg_last5, ga_avg_last5: 5 matches; points_last10: 10 matches
* venue_points_last5: 5 home matches (home side) / 5 away matches (away side)
* sot_avg_last5: the last 5 matches, all with shots on target recorded
* streak, rest_days: 1 match
* elo: none (every team starts at ELO_START)
* h2h_meetings: none (0 before the first meeting); h2h_home_wins_last5: 1 meeting

Position: rank among the league-season's teams that have played at least one match
before the date, by points, then goal difference, then goals scored (all
descending), then team name (code point order).

Elo: ELO_START = 1500 for a team's first match; expected home score
1 / (1 + 10 ** ((away - (home + ELO_HOME_ADVANTAGE)) / 400)), both ratings move by
ELO_K * (score - expected) with score 1 / 0.5 / 0. All of a date's matches use the
ratings from before that date. The stored value is the pre-match rating.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from itertools import groupby
from typing import NamedTuple

ELO_START = 1500.0
ELO_K = 20.0
ELO_HOME_ADVANTAGE = 60.0


class FixtureInput(NamedTuple):
    id: int
    league_id: int
    season: str
    kickoff_date: dt.date
    home_team_id: int
    away_team_id: int
    home_goals: int
    away_goals: int
    home_sot: int | None
    away_sot: int | None


FeatureRow = tuple[int | float | None, ...]
"""fixture_id, then the values in `core.models.FEATURE_COLUMNS` order."""

_Side = tuple[
    int | None,  # played
    int | None,  # points
    float | None,  # ppg
    int | None,  # position
    int | None,  # points_last5
    int | None,  # points_last10
    float | None,  # gf_avg_last5
    float | None,  # ga_avg_last5
    int | None,  # venue_points_last5
    float | None,  # sot_avg_last5
    int | None,  # streak
    int | None,  # rest_days
    float,  # elo
]


class _Form:
    """A team's all-competition history as running totals (O(1) windows of the last n).

    cum_* hold totals after each match, starting at 0: the last 5 matches' points are
    cum_points[-1] - cum_points[-6]. Shots on target count matches without a figure in
    cum_sot_missing, so a window is complete when that count did not grow across it.
    """

    __slots__ = (
        "cum_away",
        "cum_ga",
        "cum_gf",
        "cum_home",
        "cum_points",
        "cum_sot",
        "cum_sot_missing",
        "last_date",
        "streak",
    )

    def __init__(self) -> None:
        self.cum_points = [0]
        self.cum_gf = [0]
        self.cum_ga = [0]
        self.cum_sot = [0]
        self.cum_sot_missing = [0]
        self.cum_home = [0]
        self.cum_away = [0]
        self.streak = 0
        self.last_date: dt.date | None = None


def _points(gf: int, ga: int) -> int:
    return 3 if gf > ga else 1 if gf == ga else 0


def _form_values(
    form: _Form | None, home: bool, date: dt.date
) -> tuple[
    int | None,
    int | None,
    float | None,
    float | None,
    int | None,
    float | None,
    int | None,
    int | None,
]:
    """points_last5, points_last10, gf_avg5, ga_avg5, venue_points5, sot_avg5, streak, rest."""
    if form is None or form.last_date is None:
        return None, None, None, None, None, None, None, None
    points = form.cum_points
    n = len(points) - 1
    p5 = p10 = gf5 = ga5 = sot5 = None
    if n >= 5:
        p5 = points[-1] - points[-6]
        gf5 = (form.cum_gf[-1] - form.cum_gf[-6]) / 5
        ga5 = (form.cum_ga[-1] - form.cum_ga[-6]) / 5
        missing = form.cum_sot_missing
        if missing[-1] == missing[-6]:
            sot5 = (form.cum_sot[-1] - form.cum_sot[-6]) / 5
        if n >= 10:
            p10 = points[-1] - points[-11]
    venue = form.cum_home if home else form.cum_away
    vp5 = venue[-1] - venue[-6] if len(venue) > 5 else None
    return p5, p10, gf5, ga5, vp5, sot5, form.streak, (date - form.last_date).days


def _add_to_table(table: dict[int, list[int]], f: FixtureInput, hp: int, ap: int) -> None:
    hg, ag = f.home_goals, f.away_goals
    for team, gf, ga, pts in ((f.home_team_id, hg, ag, hp), (f.away_team_id, ag, hg, ap)):
        row = table.get(team)
        if row is None:
            table[team] = [1, pts, gf, ga]
        else:
            row[0] += 1
            row[1] += pts
            row[2] += gf
            row[3] += ga


def compute_features(
    fixtures: Iterable[FixtureInput],
    team_names: Mapping[int, str],
    only: Collection[int] | None = None,
) -> list[FeatureRow]:
    """Feature rows for every fixture given (any order), by chronological replay.

    The input must hold every fixture the wanted values depend on: the whole
    league-season for table fields and all earlier fixtures for the rest. With
    `only`, rows are built for those fixture ids alone, and the replay keeps only the
    state they read: tables of their league-seasons, form and head-to-head of their
    teams, and Elo of every team (a rating depends on all earlier opponents).
    """
    ordered = sorted(fixtures, key=lambda f: (f.kickoff_date, f.id))
    seasons: set[tuple[int, str]] | None = None
    teams: set[int] | None = None
    if only is not None:
        wanted = [f for f in ordered if f.id in only]
        seasons = {(f.league_id, f.season) for f in wanted}
        teams = {f.home_team_id for f in wanted} | {f.away_team_id for f in wanted}
    # (league_id, season) -> team -> [played, points, goals for, goals against]
    tables: dict[tuple[int, str], dict[int, list[int]]] = {}
    forms: dict[int, _Form] = {}
    elo: dict[int, float] = {}
    # unordered team pair -> (meetings, last 5 winners (team id or 0 for a draw))
    h2h: dict[tuple[int, int], tuple[int, deque[int]]] = {}
    out: list[FeatureRow] = []
    for date, group in groupby(ordered, key=lambda f: f.kickoff_date):
        day = list(group)
        positions: dict[tuple[int, str], dict[int, int]] = {}
        for f in day:
            if only is not None and f.id not in only:
                continue
            key = (f.league_id, f.season)
            table = tables.get(key)
            if table is not None and key not in positions:
                ranked = sorted(
                    table.items(),
                    key=lambda item: (
                        -item[1][1],
                        item[1][3] - item[1][2],
                        -item[1][2],
                        team_names.get(item[0], ""),
                    ),
                )
                positions[key] = {team: i + 1 for i, (team, _) in enumerate(ranked)}
            ranks = positions.get(key, {})
            sides: list[_Side] = []
            for team, home in ((f.home_team_id, True), (f.away_team_id, False)):
                row = table.get(team) if table is not None else None
                if row is None:
                    played, pts, ppg, pos = 0, None, None, None
                else:
                    played, pts = row[0], row[1]
                    ppg, pos = pts / played, ranks[team]
                sides.append(
                    (
                        played,
                        pts,
                        ppg,
                        pos,
                        *_form_values(forms.get(team), home, date),
                        elo.get(team, ELO_START),
                    )
                )
            pair = (
                (f.home_team_id, f.away_team_id)
                if f.home_team_id < f.away_team_id
                else (f.away_team_id, f.home_team_id)
            )
            meetings = h2h.get(pair)
            if meetings is None:
                h2h_values: tuple[int | None, int | None] = (None, 0)
            else:
                wins = sum(1 for winner in meetings[1] if winner == f.home_team_id)
                h2h_values = (wins, meetings[0])
            out.append((f.id, *sides[0], *sides[1], *h2h_values))
        # Apply the date's results, Elo from the ratings before the date.
        elo_delta: dict[int, float] = {}
        for f in day:
            hg, ag = f.home_goals, f.away_goals
            hp, ap = _points(hg, ag), _points(ag, hg)
            key = (f.league_id, f.season)
            if seasons is None or key in seasons:
                _add_to_table(tables.setdefault(key, {}), f, hp, ap)
            for team, gf, ga, pts, sot, home in (
                (f.home_team_id, hg, ag, hp, f.home_sot, True),
                (f.away_team_id, ag, hg, ap, f.away_sot, False),
            ):
                if teams is not None and team not in teams:
                    continue
                form = forms.get(team)
                if form is None:
                    form = forms[team] = _Form()
                form.cum_points.append(form.cum_points[-1] + pts)
                form.cum_gf.append(form.cum_gf[-1] + gf)
                form.cum_ga.append(form.cum_ga[-1] + ga)
                if sot is None:
                    form.cum_sot.append(form.cum_sot[-1])
                    form.cum_sot_missing.append(form.cum_sot_missing[-1] + 1)
                else:
                    form.cum_sot.append(form.cum_sot[-1] + sot)
                    form.cum_sot_missing.append(form.cum_sot_missing[-1])
                venue = form.cum_home if home else form.cum_away
                venue.append(venue[-1] + pts)
                if pts == 3:
                    form.streak = form.streak + 1 if form.streak > 0 else 1
                elif pts == 0:
                    form.streak = form.streak - 1 if form.streak < 0 else -1
                else:
                    form.streak = 0
                form.last_date = date
            rh = elo.get(f.home_team_id, ELO_START)
            ra = elo.get(f.away_team_id, ELO_START)
            expected = 1.0 / (1.0 + 10.0 ** ((ra - (rh + ELO_HOME_ADVANTAGE)) / 400.0))
            score = 1.0 if hg > ag else 0.5 if hg == ag else 0.0
            change = ELO_K * (score - expected)
            elo_delta[f.home_team_id] = elo_delta.get(f.home_team_id, 0.0) + change
            elo_delta[f.away_team_id] = elo_delta.get(f.away_team_id, 0.0) - change
            if teams is not None and not (f.home_team_id in teams and f.away_team_id in teams):
                continue
            pair = (
                (f.home_team_id, f.away_team_id)
                if f.home_team_id < f.away_team_id
                else (f.away_team_id, f.home_team_id)
            )
            meetings = h2h.get(pair)
            winner = f.home_team_id if hg > ag else f.away_team_id if ag > hg else 0
            if meetings is None:
                h2h[pair] = (1, deque((winner,), maxlen=5))
            else:
                meetings[1].append(winner)
                h2h[pair] = (meetings[0] + 1, meetings[1])
        for team, delta in elo_delta.items():
            elo[team] = elo.get(team, ELO_START) + delta
    return out


def tainted_fixtures(
    fixtures: Sequence[FixtureInput],
    seasons: set[tuple[int, str]],
    teams: set[int],
    since: dt.date | None,
) -> set[int]:
    """Ids whose features may change when the given league-seasons, or the given teams'
    matches from `since` on, changed.

    Every fixture of an affected league-season (table fields); and from `since` on,
    every fixture of an affected team, where a match also taints the opponent from
    then on (its Elo and form now depend on the changed match).
    """
    ids = {f.id for f in fixtures if (f.league_id, f.season) in seasons}
    if since is None:
        return ids
    tainted = set(teams)
    later = sorted((f for f in fixtures if f.kickoff_date >= since), key=lambda f: f.kickoff_date)
    for _, group in groupby(later, key=lambda f: f.kickoff_date):
        day = list(group)
        touched: set[int] = set()
        for f in day:
            if f.home_team_id in tainted or f.away_team_id in tainted:
                ids.add(f.id)
                touched.add(f.home_team_id)
                touched.add(f.away_team_id)
        tainted |= touched
    return ids
