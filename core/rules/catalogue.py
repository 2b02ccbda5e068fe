"""The field catalogue: every field a filter rule can name, defined in one place.

Each field says what it is (name, type, group, description, whether it is known
before kick-off, whether it reads closing prices) and how to compute it twice:

* ``vector(frame)``: every fixture's value at once, over the analysis frame's columns
  (`core.frame`): `Numbers` (floats, NaN where missing) or `Labels` (codes into a label
  list, -1 where missing). ``columns`` names the frame columns it reads, so a filter
  loads only those.
* ``py(row)``: the same value from a plain dict row (see `core.rules.oracle`), used by
  the in-memory oracle that the tests hold the frame to.

A value is None/NaN when its inputs are missing: no odds row, an empty price, an
unknown kick-off time. Derived odds are missing unless every price they read is
present and positive. Both sides perform the same float operations in the same
order, so they produce bit-identical doubles.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from core.models import (
    BOOK_CODES,
    BOOKS,
    H2H_FEATURES,
    MATCH_STAT_COLUMNS,
    ODDS_SELECTIONS,
    ODDS_SOURCES,
    ODDS_TIMINGS,
    SIDE_FEATURES,
    odds_column_name,
)

if TYPE_CHECKING:
    from core.frame import AnalysisFrame

FieldType = Literal["number", "integer", "string", "date"]
FieldGroup = Literal["Context", "Odds", "Derived", "Team form", "Post-match"]
GROUPS: tuple[FieldGroup, ...] = ("Context", "Odds", "Derived", "Team form", "Post-match")

Row = Mapping[str, Any]
"""A fixture as a plain dict, keyed by the labels of `core.rules.oracle.row_columns`."""

# Rule-level odds sources: the pre-match four and every other book, then their closing
# twins.
RULE_ODDS_SOURCES: tuple[str, ...] = tuple(
    source + timing for timing in ODDS_TIMINGS for source in (*ODDS_SOURCES, *BOOK_CODES)
)
RULE_ODDS_SELECTIONS: tuple[str, ...] = ODDS_SELECTIONS

_SOURCE_LABELS = {
    "b365": "Bet365",
    "pinnacle": "Pinnacle",
    "avg": "market average",
    "max": "market best",
    **{book.code: book.label for book in BOOKS},
}
_SELECTION_LABELS = {
    "home": "home win",
    "draw": "draw",
    "away": "away win",
    "over25": "over 2.5 goals",
    "under25": "under 2.5 goals",
    "ah_home": "Asian handicap, home side",
    "ah_away": "Asian handicap, away side",
}
# Selections normalised together when removing the bookmaker's margin.
_MARKETS: dict[str, tuple[str, ...]] = {
    "home": ("home", "draw", "away"),
    "draw": ("home", "draw", "away"),
    "away": ("home", "draw", "away"),
    "over25": ("over25", "under25"),
    "under25": ("over25", "under25"),
    "ah_home": ("ah_home", "ah_away"),
    "ah_away": ("ah_home", "ah_away"),
}


# --------------------------------------------------------------------------------------
# Fields
# --------------------------------------------------------------------------------------

PyFn = Callable[[Row], Any]


@dataclass(frozen=True)
class Numbers:
    """Each fixture's value of a number, integer or date field (dates as days since
    1970-01-01); NaN where missing."""

    values: NDArray[np.float64]


@dataclass(frozen=True)
class Labels:
    """Each fixture's value of a string field, as an index into `labels` (-1: missing).
    Rules are decided once per distinct label, not once per fixture."""

    codes: NDArray[np.int64]
    labels: Sequence[str | None]
    """None marks an index no fixture uses."""


FieldValues = Numbers | Labels
VectorFn = Callable[["AnalysisFrame"], FieldValues]


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    group: FieldGroup
    description: str
    vector: VectorFn
    py: PyFn
    columns: tuple[str, ...] = ()
    """The frame columns (odds, features) `vector` reads."""
    pre_match: bool = True
    closing: bool = False
    """Reads a closing price: known only at kick-off, so a backtest using it is optimistic."""
    alternative: str | None = None
    """For post-match fields: the pre-match field(s) to use instead."""
    bounds: tuple[int, int] | None = None
    """For integer fields with a closed range (month 1-12): the values a rule may compare
    with. Other integer fields take validation's general range."""


def _column(name: str) -> VectorFn:
    def vector(frame: AnalysisFrame) -> Numbers:
        return Numbers(frame.column(name))

    return vector


def _key(key: str) -> PyFn:
    def py(row: Row) -> Any:
        return row[key]

    return py


def _labels_by_id(names: dict[int, str]) -> list[str | None]:
    labels: list[str | None] = [None] * (max(names, default=-1) + 1)
    for key, name in names.items():
        labels[key] = name
    return labels


def _league_codes(frame: AnalysisFrame) -> Labels:
    return Labels(frame.league, _labels_by_id(frame.league_codes))


def _countries(frame: AnalysisFrame) -> Labels:
    return Labels(frame.league, _labels_by_id(frame.league_countries))


def _seasons(frame: AnalysisFrame) -> Labels:
    return Labels(frame.season, frame.season_labels)


def _home_teams(frame: AnalysisFrame) -> Labels:
    return Labels(frame.home_team, _labels_by_id(frame.team_names))


def _away_teams(frame: AnalysisFrame) -> Labels:
    return Labels(frame.away_team, _labels_by_id(frame.team_names))


def _dates(frame: AnalysisFrame) -> Numbers:
    return Numbers(frame.day.astype(np.float64))


def _weekdays(frame: AnalysisFrame) -> Numbers:
    # 1970-01-01 was a Thursday (ISO 4); numpy's % floors, as days before 1970 need.
    return Numbers(((frame.day + 3) % 7 + 1).astype(np.float64))


def _months(frame: AnalysisFrame) -> Numbers:
    months = frame.day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return Numbers((months % 12 + 1).astype(np.float64))


def _hours(frame: AnalysisFrame) -> Numbers:
    seconds = frame.seconds
    return Numbers(np.where(seconds >= 0, seconds // 3600, np.nan))


def _context_fields() -> list[Field]:
    def weekday_py(row: Row) -> int:
        date: dt.date = row["kickoff_date"]
        return date.isoweekday()

    def month_py(row: Row) -> int:
        date: dt.date = row["kickoff_date"]
        return date.month

    def hour_py(row: Row) -> int | None:
        time: dt.time | None = row["kickoff_time"]
        return None if time is None else time.hour

    def ctx(
        name: str,
        type_: FieldType,
        description: str,
        vector: VectorFn,
        py: PyFn,
        bounds: tuple[int, int] | None = None,
    ) -> Field:
        return Field(name, type_, "Context", description, vector, py, bounds=bounds)

    return [
        ctx("league", "string", "League code, e.g. E0", _league_codes, _key("league")),
        ctx(
            "country", "string", "Country of the league, e.g. England", _countries, _key("country")
        ),
        ctx("season", "string", "Season, e.g. 2019-20", _seasons, _key("season")),
        ctx("date", "date", "Match date (YYYY-MM-DD)", _dates, _key("kickoff_date")),
        ctx(
            "weekday",
            "integer",
            "Day of the week, 1 = Monday ... 7 = Sunday",
            _weekdays,
            weekday_py,
            (1, 7),
        ),
        ctx("month", "integer", "Month of the match, 1-12", _months, month_py, (1, 12)),
        ctx(
            "kickoff_hour",
            "integer",
            "Kick-off hour, 0-23 (empty when the time is unknown)",
            _hours,
            hour_py,
            (0, 23),
        ),
        ctx("home_team", "string", "Home team name", _home_teams, _key("home_team")),
        ctx("away_team", "string", "Away team name", _away_teams, _key("away_team")),
    ]


def _describe_source(source: str) -> tuple[str, str]:
    base = source.removesuffix("_close")
    return _SOURCE_LABELS[base], "closing" if base != source else "pre-match"


def _odds_fields() -> list[Field]:
    fields: list[Field] = []
    for source in RULE_ODDS_SOURCES:
        label, timing = _describe_source(source)
        for selection in ODDS_SELECTIONS:
            column = odds_column_name(source, selection)
            fields.append(
                Field(
                    f"odds.{source}.{selection}",
                    "number",
                    "Odds",
                    f"{label} {timing} odds: {_SELECTION_LABELS[selection]}",
                    _column(column),
                    _key(column),
                    columns=(column,),
                    closing=source.endswith("_close"),
                )
            )
    fields.append(
        Field(
            "ah_line",
            "number",
            "Odds",
            "Asian handicap line for the home side, pre-match (e.g. -0.5)",
            _column("ah_line"),
            _key("ah_line"),
            columns=("ah_line",),
        )
    )
    fields.append(
        Field(
            "ah_line_close",
            "number",
            "Odds",
            "Asian handicap line for the home side, closing",
            _column("ah_line_close"),
            _key("ah_line_close"),
            columns=("ah_line_close",),
            closing=True,
        )
    )
    return fields


# Derived values: the array and Python versions below perform the same float operations
# in the same order, so both sides produce bit-identical doubles.

Floats = NDArray[np.float64]


def _implied_array(frame: AnalysisFrame, source: str, selection: str) -> Floats:
    price = frame.column(odds_column_name(source, selection))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(price > 0.0, 1.0 / price, np.nan)


def _implied_py(row: Row, source: str, selection: str) -> float | None:
    price: float | None = row[odds_column_name(source, selection)]
    if price is None or not price > 0:
        return None
    return 1.0 / price


def _sum_array(parts: list[Floats]) -> Floats:
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _sum_py(parts: list[float | None]) -> float | None:
    present = [part for part in parts if part is not None]
    if len(present) != len(parts):
        return None
    total = present[0]
    for part in present[1:]:
        total = total + part
    return total


def _price_columns(source: str, selections: Sequence[str]) -> tuple[str, ...]:
    return tuple(odds_column_name(source, selection) for selection in selections)


def _derived_fields() -> list[Field]:
    fields: list[Field] = []
    for source in RULE_ODDS_SOURCES:
        label, timing = _describe_source(source)
        closing = source.endswith("_close")
        for selection in ODDS_SELECTIONS:
            fields.append(
                Field(
                    f"implied.{source}.{selection}",
                    "number",
                    "Derived",
                    f"Implied probability 1/odds, {label} {timing}: {_SELECTION_LABELS[selection]}",
                    partial(_implied_vector, source=source, selection=selection),
                    partial(_implied_py, source=source, selection=selection),
                    columns=_price_columns(source, (selection,)),
                    closing=closing,
                )
            )
        fields.append(
            Field(
                f"overround.{source}",
                "number",
                "Derived",
                f"Bookmaker margin on 1X2, {label} {timing}: sum of implied - 1",
                partial(_overround_vector, source=source),
                partial(_overround_py, source=source),
                columns=_price_columns(source, _MARKETS["home"]),
                closing=closing,
            )
        )
        for selection in ODDS_SELECTIONS:
            fields.append(
                Field(
                    f"fair.{source}.{selection}",
                    "number",
                    "Derived",
                    f"Fair probability (margin removed proportionally), {label} {timing}: "
                    f"{_SELECTION_LABELS[selection]}",
                    partial(_fair_vector, source=source, selection=selection),
                    partial(_fair_py, source=source, selection=selection),
                    columns=_price_columns(source, _MARKETS[selection]),
                    closing=closing,
                )
            )
        for name, pick in (("fav_odds", "favourite (shorter)"), ("dog_odds", "underdog (longer)")):
            fields.append(
                Field(
                    f"{name}.{source}",
                    "number",
                    "Derived",
                    f"Odds of the {pick} of home and away, {label} {timing}",
                    partial(_fav_dog_vector, source=source, favourite=name == "fav_odds"),
                    partial(_fav_dog_py, source=source, favourite=name == "fav_odds"),
                    columns=_price_columns(source, ("home", "away")),
                    closing=closing,
                )
            )
    return fields


def _implied_vector(frame: AnalysisFrame, source: str, selection: str) -> Numbers:
    return Numbers(_implied_array(frame, source, selection))


def _overround_vector(frame: AnalysisFrame, source: str) -> Numbers:
    parts = [_implied_array(frame, source, sel) for sel in _MARKETS["home"]]
    return Numbers(_sum_array(parts) - 1.0)


def _overround_py(row: Row, source: str) -> float | None:
    total = _sum_py([_implied_py(row, source, sel) for sel in _MARKETS["home"]])
    return None if total is None else total - 1.0


def fair_probabilities(frame: AnalysisFrame, source: str, selection: str) -> Floats:
    """The margin-free probability of a selection at a source (NaN where a price of its
    market is missing): the `fair.<source>.<selection>` field's values."""
    market = [_implied_array(frame, source, sel) for sel in _MARKETS[selection]]
    return _implied_array(frame, source, selection) / _sum_array(market)


def _fair_vector(frame: AnalysisFrame, source: str, selection: str) -> Numbers:
    return Numbers(fair_probabilities(frame, source, selection))


def _fair_py(row: Row, source: str, selection: str) -> float | None:
    mine = _implied_py(row, source, selection)
    total = _sum_py([_implied_py(row, source, sel) for sel in _MARKETS[selection]])
    if mine is None or total is None:
        return None
    return mine / total


def _fav_dog_vector(frame: AnalysisFrame, source: str, favourite: bool) -> Numbers:
    home = frame.column(odds_column_name(source, "home"))
    away = frame.column(odds_column_name(source, "away"))
    # minimum/maximum keep NaN: a missing price leaves the value missing.
    return Numbers(np.minimum(home, away) if favourite else np.maximum(home, away))


def _fav_dog_py(row: Row, source: str, favourite: bool) -> float | None:
    home: float | None = row[odds_column_name(source, "home")]
    away: float | None = row[odds_column_name(source, "away")]
    if home is None or away is None:
        return None
    return min(home, away) if favourite else max(home, away)


def fair_price_columns(source: str, selection: str) -> tuple[str, ...]:
    """The frame columns `fair_probabilities(frame, source, selection)` reads."""
    return _price_columns(source, _MARKETS[selection])


_RESULT_ALTERNATIVE = "use odds.pinnacle.home or fair.pinnacle.home (or .draw/.away) instead"
_GOALS_ALTERNATIVE = "use ah_line or fair.pinnacle.home instead"
_TOTAL_ALTERNATIVE = "use odds.pinnacle.over25 or fair.pinnacle.over25 instead"
_STATS_ALTERNATIVE = (
    "match statistics are recorded after the match; filter on odds "
    "(e.g. fair.pinnacle.over25, ah_line) instead"
)


def _refused(name: str) -> VectorFn:
    def vector(frame: AnalysisFrame) -> Numbers:
        raise ValueError(f"{name!r} is known only after the match; rules cannot read it")

    return vector


def _post_match_fields() -> list[Field]:
    def total_goals_py(row: Row) -> int:
        return int(row["home_goals"]) + int(row["away_goals"])

    def post(
        name: str, type_: FieldType, description: str, alternative: str, py: PyFn | None = None
    ) -> Field:
        return Field(
            name,
            type_,
            "Post-match",
            description,
            _refused(name),
            py or _key(name),
            pre_match=False,
            alternative=alternative,
        )

    fields = [
        post("home_goals", "integer", "Full-time home goals", _GOALS_ALTERNATIVE),
        post("away_goals", "integer", "Full-time away goals", _GOALS_ALTERNATIVE),
        post(
            "total_goals",
            "integer",
            "Full-time total goals",
            _TOTAL_ALTERNATIVE,
            total_goals_py,
        ),
        post("result", "string", "Full-time result: H, D or A", _RESULT_ALTERNATIVE),
        post("half_time_home_goals", "integer", "Half-time home goals", _GOALS_ALTERNATIVE),
        post("half_time_away_goals", "integer", "Half-time away goals", _GOALS_ALTERNATIVE),
        post("half_time_result", "string", "Half-time result: H, D or A", _RESULT_ALTERNATIVE),
    ]
    for stat in MATCH_STAT_COLUMNS:
        side, _, what = stat.partition("_")
        fields.append(
            post(stat, "integer", f"{side.title()} {what.replace('_', ' ')}", _STATS_ALTERNATIVE)
        )
    fields.append(
        post(
            "referee",
            "string",
            "Referee (as recorded after the match)",
            "the data records the referee after the match; there is no pre-match equivalent",
        )
    )
    return fields


# Team form: point-in-time features from fixture_features (see core.features.compute).
# Every value uses only matches on earlier dates; NULL when there are too few of them.

_FORM_DESCRIPTIONS: dict[str, str] = {
    "played": "league matches played this season before the match (0 at the start)",
    "points": "league points this season before the match (NULL before the first match)",
    "ppg": "league points per game this season before the match (needs 1 match)",
    "position": (
        "league table position before the match: points, then goal difference, then "
        "goals scored, then name, among teams that have played (needs 1 match)"
    ),
    "points_last5": (
        "points from the last 5 matches, all competitions (needs 5, the oldest at most "
        "365 days back)"
    ),
    "points_last10": (
        "points from the last 10 matches, all competitions (needs 10, the oldest at most "
        "365 days back)"
    ),
    "gf_avg_last5": (
        "goals scored per match over the last 5 matches (needs 5, the oldest at most 365 days back)"
    ),
    "ga_avg_last5": (
        "goals conceded per match over the last 5 matches (needs 5, the oldest at most 365 "
        "days back)"
    ),
    "venue_points_last5": (
        "points from the last 5 matches at this venue: home matches for the home team, "
        "away matches for the away team (needs 5, the oldest at most 365 days back)"
    ),
    "sot_avg_last5": (
        "shots on target per match over the last 5 matches (NULL unless all 5 record shots "
        "and the oldest is at most 365 days back)"
    ),
    "streak": (
        "current run: +n straight wins, -n straight losses, 0 after a draw (needs a match "
        "in the last 365 days; a longer gap ends a run)"
    ),
    "rest_days": (
        "days since the team's previous match, any competition (NULL when it was more "
        "than 365 days back)"
    ),
    "elo": (
        "Elo rating before the match over all history in the database: start 1500, "
        "K = 20, home advantage 60 points, updated after each date's matches"
    ),
}
_SIDE_LABELS = {"home": "Home team", "away": "Away team"}


def _minus_py(home: str, away: str) -> PyFn:
    def py(row: Row) -> Any:
        a, b = row[home], row[away]
        if a is None or b is None:
            return None
        return a - b

    return py


def _minus_vector(home: str, away: str) -> VectorFn:
    def vector(frame: AnalysisFrame) -> Numbers:
        return Numbers(frame.column(home) - frame.column(away))

    return vector


def _team_form_fields() -> list[Field]:
    fields: list[Field] = []
    for side in ("home", "away"):
        for name, type_ in SIDE_FEATURES.items():
            column = f"{side}_{name}"
            fields.append(
                Field(
                    f"{side}.{name}",
                    "integer" if type_ == "integer" else "number",
                    "Team form",
                    f"{_SIDE_LABELS[side]}: {_FORM_DESCRIPTIONS[name]}",
                    _column(column),
                    _key(column),
                    columns=(column,),
                )
            )
    for name, type_ in SIDE_FEATURES.items():
        fields.append(
            Field(
                f"diff.{name}",
                "integer" if type_ == "integer" else "number",
                "Team form",
                f"Home minus away: {_FORM_DESCRIPTIONS[name]}",
                _minus_vector(f"home_{name}", f"away_{name}"),
                _minus_py(f"home_{name}", f"away_{name}"),
                columns=(f"home_{name}", f"away_{name}"),
            )
        )
    h2h_descriptions = {
        "h2h_home_wins_last5": (
            "Wins of the home team in the last 5 meetings of the two teams, either venue, "
            "all competitions (needs 1 meeting)"
        ),
        "h2h_meetings": "Earlier meetings of the two teams, either venue, all competitions",
    }
    for column in H2H_FEATURES:
        fields.append(
            Field(
                column.replace("h2h_", "h2h.", 1),
                "integer",
                "Team form",
                h2h_descriptions[column],
                _column(column),
                _key(column),
                columns=(column,),
            )
        )
    return fields


def _build() -> dict[str, Field]:
    fields = [
        *_context_fields(),
        *_odds_fields(),
        *_derived_fields(),
        *_team_form_fields(),
        *_post_match_fields(),
    ]
    by_name = {field.name: field for field in fields}
    assert len(by_name) == len(fields), "duplicate field name in the catalogue"
    return by_name


FIELDS: Mapping[str, Field] = MappingProxyType(_build())
"""Every field by name, in picker order (group by group)."""


# --------------------------------------------------------------------------------------
# Lookup helpers (validation messages and the TUI field picker)
# --------------------------------------------------------------------------------------


_LONGEST_GUESS = 64


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The closest choice to a mistyped word, or None when nothing is close."""
    if len(word) > _LONGEST_GUESS:
        return None  # no name is this long, and matching it would take quadratic time
    lowered = {choice.lower(): choice for choice in choices}
    if word.lower() in lowered:
        return lowered[word.lower()]
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def get_field(name: str) -> Field | None:
    return FIELDS.get(name)


def suggest_field(name: str) -> str | None:
    """The catalogue field a mistyped name most likely meant."""
    return did_you_mean(name, tuple(FIELDS))


def fields_by_group(*, pre_match_only: bool = False) -> dict[FieldGroup, list[Field]]:
    """Fields grouped for the picker, groups in GROUPS order (empty groups omitted)."""
    grouped: dict[FieldGroup, list[Field]] = {}
    for group in GROUPS:
        members = [
            f for f in FIELDS.values() if f.group == group and (f.pre_match or not pre_match_only)
        ]
        if members:
            grouped[group] = members
    return grouped


def search_fields(query: str, *, limit: int = 20, pre_match_only: bool = False) -> list[Field]:
    """Fuzzy search for the picker: name prefix, then substring of name or description,
    then close spellings of the name or of one of its dotted parts ("pinacle" finds the
    odds.pinnacle fields). An empty query lists fields in catalogue order."""
    candidates = [f for f in FIELDS.values() if f.pre_match or not pre_match_only]
    needle = query.strip().lower()
    if not needle:
        return candidates[:limit]
    scored: list[tuple[float, int, Field]] = []
    closeness = _Closeness(needle)
    for index, field in enumerate(candidates):
        name = field.name.lower()
        if name == needle:
            score = 4.0
        elif name.startswith(needle):
            score = 3.0
        elif needle in name:
            score = 2.0
        elif needle in field.description.lower():
            score = 1.0
        else:
            score = closeness.of(name)
            if score < CLOSE_SPELLING:
                continue
        scored.append((-score, index, field))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [field for _, _, field in scored[:limit]]


CLOSE_SPELLING: Final = 0.6
"""The least similarity (difflib's ratio) a misspelt search keeps."""


class _Closeness:
    """How like one search a name is: the best of difflib's ratio to the whole name and to
    each of its dotted parts, 0 below CLOSE_SPELLING. The parts repeat across the 1,200
    names (home, pinnacle, ...), so each is compared once per search, and the quick ratios,
    upper bounds of ratio(), rule most strings out without the full comparison."""

    def __init__(self, needle: str) -> None:
        self._needle_length = len(needle)
        self._matcher = difflib.SequenceMatcher(None, needle, "")
        self._seen: dict[str, float] = {}

    def of(self, name: str) -> float:
        parts = name.split(".")
        return max(self._ratio(text) for text in ((name, *parts) if len(parts) > 1 else (name,)))

    def _ratio(self, text: str) -> float:
        found = self._seen.get(text)
        if found is None:
            found = self._seen[text] = self._measure(text)
        return found

    def _measure(self, text: str) -> float:
        # real_quick_ratio() from the lengths alone, before the matcher indexes the text.
        if 2 * min(self._needle_length, len(text)) < CLOSE_SPELLING * (
            self._needle_length + len(text)
        ):
            return 0.0
        matcher = self._matcher
        matcher.set_seq2(text)
        if matcher.quick_ratio() < CLOSE_SPELLING:
            return 0.0
        ratio = matcher.ratio()
        return ratio if ratio >= CLOSE_SPELLING else 0.0


def closing_fields() -> list[str]:
    return [name for name, field in FIELDS.items() if field.closing]
