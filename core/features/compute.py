"""Point-in-time team features, computed in one chronological pass (pure, no I/O).

Fixtures are processed date by date. Every fixture of a date is given the features
of the state *before* that date, and only then are that date's results applied, so
a value never sees a match on the same date or later (no look-ahead). An upcoming
fixture (no result yet) gets its features the same way, as of its date, and adds
nothing to the state: a fixture's own row never depends on its result, so it is the
same before and after the match is settled.

Scopes:

* Table fields (played, points, ppg, position) use the fixture's league-season only.
* Form, rest, streak, Elo and head-to-head use every fixture in the data, all
  competitions and seasons.

Recent matches only: a team's form windows (points, goals and shots on target over its
last matches, at the venue or not) count only when their oldest match kicked off at most
RECENT_DAYS (365) days before the fixture; rest days and the streak only when its
previous match did. Otherwise they are None: with seasons missing from the database, a
team's first matches back would otherwise lean on results years old. A gap of more than
RECENT_DAYS between two of a team's matches also ends its streak.

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
from dataclasses import dataclass
from itertools import groupby
from typing import NamedTuple

ELO_START = 1500.0
ELO_K = 20.0
ELO_HOME_ADVANTAGE = 60.0
RECENT_DAYS = 365


class FixtureInput(NamedTuple):
    id: int
    league_id: int
    season: str
    kickoff_date: dt.date
    home_team_id: int
    away_team_id: int
    home_goals: int | None
    """None (with away_goals) for an upcoming fixture."""
    away_goals: int | None
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
    A form resumed from stored state (`resume_features`) holds only the latest matches
    before its cut date, which is all the windows read.
    """

    __slots__ = (
        "away_days",
        "cum_away",
        "cum_ga",
        "cum_gf",
        "cum_home",
        "cum_points",
        "cum_sot",
        "cum_sot_missing",
        "days",
        "home_days",
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
        # Each match's date (as an ordinal), in step with the windows: days[-5] is the
        # date of the fifth latest match, home_days[-5] of the fifth latest at home.
        self.days: list[int] = []
        self.home_days: list[int] = []
        self.away_days: list[int] = []
        self.streak = 0
        self.last_date: dt.date | None = None

    def add_match(self, pts: int, gf: int, ga: int, sot: int | None, day: int) -> None:
        """One more match in the all-venue windows (not venue, streak or date)."""
        self.days.append(day)
        self.cum_points.append(self.cum_points[-1] + pts)
        self.cum_gf.append(self.cum_gf[-1] + gf)
        self.cum_ga.append(self.cum_ga[-1] + ga)
        if sot is None:
            self.cum_sot.append(self.cum_sot[-1])
            self.cum_sot_missing.append(self.cum_sot_missing[-1] + 1)
        else:
            self.cum_sot.append(self.cum_sot[-1] + sot)
            self.cum_sot_missing.append(self.cum_sot_missing[-1])


def _points(gf: int, ga: int) -> int:
    return 3 if gf > ga else 1 if gf == ga else 0


def _next_streak(streak: int, pts: int) -> int:
    if pts == 3:
        return streak + 1 if streak > 0 else 1
    if pts == 0:
        return streak - 1 if streak < 0 else -1
    return 0


def _elo_change(home: float, away: float, home_goals: int, away_goals: int) -> float:
    """The home side's rating change (the away side's is minus this)."""
    expected: float = 1.0 / (1.0 + 10.0 ** ((away - (home + ELO_HOME_ADVANTAGE)) / 400.0))
    score = 1.0 if home_goals > away_goals else 0.5 if home_goals == away_goals else 0.0
    return ELO_K * (score - expected)


def _add_at_venue(form: _Form, home: bool, pts: int, day: int) -> None:
    venue = form.cum_home if home else form.cum_away
    venue.append(venue[-1] + pts)
    (form.home_days if home else form.away_days).append(day)


def _form_values(
    form: _Form | None, home: bool, date: dt.date, oldest: int
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
    """points_last5, points_last10, gf_avg5, ga_avg5, venue_points5, sot_avg5, streak, rest;
    each over recent matches only: `oldest` is the earliest day (ordinal) they may be on."""
    if form is None or form.last_date is None:
        return None, None, None, None, None, None, None, None
    days = form.days
    if days[-1] < oldest:
        return None, None, None, None, None, None, None, None
    points = form.cum_points
    n = len(days)
    p5 = p10 = gf5 = ga5 = sot5 = None
    if n >= 5 and days[-5] >= oldest:
        p5 = points[-1] - points[-6]
        gf5 = (form.cum_gf[-1] - form.cum_gf[-6]) / 5
        ga5 = (form.cum_ga[-1] - form.cum_ga[-6]) / 5
        missing = form.cum_sot_missing
        if missing[-1] == missing[-6]:
            sot5 = (form.cum_sot[-1] - form.cum_sot[-6]) / 5
        if n >= 10 and days[-10] >= oldest:
            p10 = points[-1] - points[-11]
    venue = form.cum_home if home else form.cum_away
    venue_days = form.home_days if home else form.away_days
    vp5 = venue[-1] - venue[-6] if len(venue_days) >= 5 and venue_days[-5] >= oldest else None
    return p5, p10, gf5, ga5, vp5, sot5, form.streak, (date - form.last_date).days


def _goals(f: FixtureInput) -> tuple[int, int]:
    """A played fixture's goals (an upcoming one here is a caller's mistake)."""
    if f.home_goals is None or f.away_goals is None:
        raise ValueError(f"fixture {f.id} has no result")
    return f.home_goals, f.away_goals


def _played(f: FixtureInput) -> bool:
    return f.home_goals is not None


def _add_to_table(table: dict[int, list[int]], f: FixtureInput, hp: int, ap: int) -> None:
    hg, ag = _goals(f)
    for team, gf, ga, pts in ((f.home_team_id, hg, ag, hp), (f.away_team_id, ag, hg, ap)):
        row = table.get(team)
        if row is None:
            table[team] = [1, pts, gf, ga]
        else:
            row[0] += 1
            row[1] += pts
            row[2] += gf
            row[3] += ga


def _pair(f: FixtureInput) -> tuple[int, int]:
    return (
        (f.home_team_id, f.away_team_id)
        if f.home_team_id < f.away_team_id
        else (f.away_team_id, f.home_team_id)
    )


def _winner(f: FixtureInput) -> int:
    """The winning team's id, 0 for a draw."""
    home_goals, away_goals = _goals(f)
    if home_goals > away_goals:
        return f.home_team_id
    return f.away_team_id if away_goals > home_goals else 0


class _State:
    """Everything a replay carries from one date to the next."""

    __slots__ = ("elo", "forms", "h2h", "tables")

    def __init__(self) -> None:
        # (league_id, season) -> team -> [played, points, goals for, goals against]
        self.tables: dict[tuple[int, str], dict[int, list[int]]] = {}
        self.forms: dict[int, _Form] = {}
        self.elo: dict[int, float] = {}
        # unordered team pair -> (meetings, last 5 winners (team id or 0 for a draw))
        self.h2h: dict[tuple[int, int], tuple[int, deque[int]]] = {}


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
    return _replay(ordered, team_names, _State(), only, seasons, teams, None)


def _replay(
    ordered: Sequence[FixtureInput],
    team_names: Mapping[int, str],
    state: _State,
    only: Collection[int] | None,
    seasons: Collection[tuple[int, str]] | None,
    teams: Collection[int] | None,
    known_elo: Mapping[int, tuple[float, float]] | None,
) -> list[FeatureRow]:
    """Replay `ordered` (by date, then id) on top of `state`; rows for `only` (or all).

    seasons / teams: keep tables, form and head-to-head for these alone (None: all).
    known_elo: when given, the ratings of teams outside `teams` are not tracked but
    read from it (fixture id -> pre-match home and away Elo), and matches between two
    such teams leave Elo alone.
    """
    tables, forms, elo, h2h = state.tables, state.forms, state.elo, state.h2h
    out: list[FeatureRow] = []
    for date, group in groupby(ordered, key=lambda f: f.kickoff_date):
        day = list(group)
        day_number = date.toordinal()
        oldest = day_number - RECENT_DAYS
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
                        *_form_values(forms.get(team), home, date, oldest),
                        elo.get(team, ELO_START),
                    )
                )
            meetings = h2h.get(_pair(f))
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
            if hg is None or ag is None:
                continue  # upcoming: no result to apply
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
                form.add_match(pts, gf, ga, sot, day_number)
                if home:
                    form.cum_home.append(form.cum_home[-1] + pts)
                    form.home_days.append(day_number)
                else:
                    form.cum_away.append(form.cum_away[-1] + pts)
                    form.away_days.append(day_number)
                if form.last_date is not None and (date - form.last_date).days > RECENT_DAYS:
                    form.streak = 0  # a long gap ends a run
                form.streak = _next_streak(form.streak, pts)
                form.last_date = date
            if known_elo is None:
                rh = elo.get(f.home_team_id, ELO_START)
                ra = elo.get(f.away_team_id, ELO_START)
            else:
                assert teams is not None
                home_tracked, away_tracked = f.home_team_id in teams, f.away_team_id in teams
                if not (home_tracked or away_tracked):
                    continue
                if home_tracked and away_tracked:
                    rh = elo.get(f.home_team_id, ELO_START)
                    ra = elo.get(f.away_team_id, ELO_START)
                else:
                    stored = known_elo[f.id]
                    rh = elo.get(f.home_team_id, ELO_START) if home_tracked else stored[0]
                    ra = elo.get(f.away_team_id, ELO_START) if away_tracked else stored[1]
            change = _elo_change(rh, ra, hg, ag)
            elo_delta[f.home_team_id] = elo_delta.get(f.home_team_id, 0.0) + change
            elo_delta[f.away_team_id] = elo_delta.get(f.away_team_id, 0.0) - change
            if teams is not None and not (f.home_team_id in teams and f.away_team_id in teams):
                continue
            pair = _pair(f)
            meetings = h2h.get(pair)
            winner = _winner(f)
            if meetings is None:
                h2h[pair] = (1, deque((winner,), maxlen=5))
            else:
                meetings[1].append(winner)
                h2h[pair] = (meetings[0] + 1, meetings[1])
        for team, delta in elo_delta.items():
            elo[team] = elo.get(team, ELO_START) + delta
    return out


class StoredSides(NamedTuple):
    """A fixture's stored pre-match streak and Elo of both sides, and the number of
    earlier meetings of the pair (fixture_features)."""

    home_streak: int | None
    away_streak: int | None
    home_elo: float
    away_elo: float
    h2h_meetings: int


class IncompleteHistory(Exception):
    """A resumed replay lacks something it needs (a stored row): replay in full instead."""


@dataclass(frozen=True)
class History:
    """What a replay resumed at `cut` needs from before it (see `resume_features`).

    recent: per team, at least its last 10 home and its last 10 away matches before
        the cut (or all it has), any order.
    stored: the stored row of every match on each team's latest date before the cut,
        and of every meeting on each pair's latest date of meeting before it.
    season_fixtures: every fixture before the cut of the league-seasons whose table
        fields are wanted.
    meetings: per unordered team pair (lower id first), at least its latest 5
        meetings before the cut (all of them if fewer); pairs that never met may be
        left out.
    """

    cut: dt.date
    recent: Mapping[int, Sequence[FixtureInput]]
    stored: Mapping[int, StoredSides]
    season_fixtures: Sequence[FixtureInput]
    meetings: Mapping[tuple[int, int], Sequence[FixtureInput]]


def _resumed_form(
    team: int, matches: Sequence[FixtureInput], stored: Mapping[int, StoredSides]
) -> tuple[_Form, float]:
    """A team's form and Elo after its matches before a cut (the latest ones, sorted).

    The windows need the last 10 matches, 5 home and 5 away. The streak and Elo come
    from the stored pre-match values of the team's latest date, moved on by that
    date's results with the same formulas as the replay.
    """
    form = _Form()
    for f in matches[-10:]:
        home = f.home_team_id == team
        gf, ga = _goals(f) if home else _goals(f)[::-1]
        sot = f.home_sot if home else f.away_sot
        form.add_match(_points(gf, ga), gf, ga, sot, f.kickoff_date.toordinal())
    for home in (True, False):
        at_venue = [f for f in matches if (f.home_team_id == team) == home][-5:]
        for f in at_venue:
            gf, ga = _goals(f) if home else _goals(f)[::-1]
            _add_at_venue(form, home, _points(gf, ga), f.kickoff_date.toordinal())
    last_date = matches[-1].kickoff_date
    day = [f for f in matches if f.kickoff_date == last_date]
    if len(day) >= 10:
        # The latest date may hold more matches than were loaded.
        raise IncompleteHistory(f"team {team}: {len(day)} matches on {last_date}")
    try:
        first = stored[day[0].id]
    except KeyError:
        raise IncompleteHistory(f"fixture {day[0].id} has no stored features") from None
    home = day[0].home_team_id == team
    streak = first.home_streak if home else first.away_streak
    elo = first.home_elo if home else first.away_elo
    form.streak = 0 if streak is None else streak
    delta = 0.0
    for f in day:
        try:
            sides = stored[f.id]
        except KeyError:
            raise IncompleteHistory(f"fixture {f.id} has no stored features") from None
        home_goals, away_goals = _goals(f)
        change = _elo_change(sides.home_elo, sides.away_elo, home_goals, away_goals)
        if f.home_team_id == team:
            delta = delta + change
            pts = _points(home_goals, away_goals)
        else:
            delta = delta - change
            pts = _points(away_goals, home_goals)
        form.streak = _next_streak(form.streak, pts)
    form.last_date = last_date
    return form, elo + delta


def _meetings_before_cut(ordered: Sequence[FixtureInput], stored: Mapping[int, StoredSides]) -> int:
    """How many times a pair met before the cut, from the latest meetings (sorted): the
    stored count before their latest date, plus the meetings on that date."""
    last_date = ordered[-1].kickoff_date
    day = [f for f in ordered if f.kickoff_date == last_date]
    if len(day) >= 5:
        # The latest date may hold more meetings than were loaded.
        raise IncompleteHistory(f"{len(day)} meetings on {last_date}")
    try:
        return stored[day[0].id].h2h_meetings + len(day)
    except KeyError:
        raise IncompleteHistory(f"fixture {day[0].id} has no stored features") from None


def resume_features(
    history: History,
    later: Iterable[FixtureInput],
    team_names: Mapping[int, str],
    only: Collection[int],
    known_elo: Mapping[int, tuple[float, float]],
) -> list[FeatureRow]:
    """Rows for the `only` fixtures, by a replay resumed at `history.cut`.

    `later` holds every fixture on or after the cut (at least those of the wanted
    fixtures' teams and league-seasons), and `only` may name none before it. The
    state at the cut is rebuilt from `history`: form from each team's latest matches,
    its streak and Elo from the stored values of its latest date, tables from the
    league-seasons' earlier fixtures, head-to-head from the latest meetings and the
    stored count of the latest one. Teams
    that no wanted fixture involves are not replayed: where they meet a replayed
    team, their pre-match Elo comes from `known_elo` (fixture id -> stored pre-match
    home and away Elo), which is still right for those fixtures (not in `only`).

    The rows equal `compute_features` over the whole history. IncompleteHistory when a
    stored value it needs is missing.
    """
    cut = history.cut
    later = sorted(later, key=lambda f: (f.kickoff_date, f.id))
    wanted = [f for f in later if f.id in only]
    if len(wanted) != len(only) or any(f.kickoff_date < cut for f in later):
        raise ValueError("resume_features: every fixture wanted and given is on or after the cut")
    seasons = {(f.league_id, f.season) for f in wanted}
    teams = {f.home_team_id for f in wanted} | {f.away_team_id for f in wanted}
    state = _State()
    for team in teams:
        matches = sorted(
            (f for f in history.recent.get(team, ()) if f.kickoff_date < cut and _played(f)),
            key=lambda f: (f.kickoff_date, f.id),
        )
        if matches:
            state.forms[team], state.elo[team] = _resumed_form(team, matches, history.stored)
    for f in history.season_fixtures:
        key = (f.league_id, f.season)
        if key in seasons and f.kickoff_date < cut and _played(f):
            hg, ag = _goals(f)
            _add_to_table(state.tables.setdefault(key, {}), f, _points(hg, ag), _points(ag, hg))
    for pair, last in history.meetings.items():
        if pair[0] in teams and pair[1] in teams:
            ordered = sorted(
                (f for f in last if f.kickoff_date < cut and _played(f)),
                key=lambda f: (f.kickoff_date, f.id),
            )
            if ordered:
                count = _meetings_before_cut(ordered, history.stored)
                state.h2h[pair] = (count, deque((_winner(f) for f in ordered[-5:]), maxlen=5))
    replayed = [
        f
        for f in later
        if f.home_team_id in teams or f.away_team_id in teams or (f.league_id, f.season) in seasons
    ]
    for f in replayed:
        one_side = (f.home_team_id in teams) != (f.away_team_id in teams)
        if one_side and _played(f) and f.id not in known_elo:
            raise IncompleteHistory(f"fixture {f.id} has no stored features")
    return _replay(replayed, team_names, state, only, seasons, teams, known_elo)


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
