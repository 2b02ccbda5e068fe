"""The field catalogue: every field a filter rule can name, defined in one place.

Each field says what it is (name, type, group, description, whether it is known
before kick-off, whether it reads closing prices) and how to compute it twice:

* ``sql(tables)``: a SQLAlchemy column expression over the joined fixture tables
  (see `fixture_query_base`). Odds are plain columns; derived fields expand into
  arithmetic on columns, so a compiled filter stays a plain WHERE clause.
* ``py(row)``: the same value from a plain dict row (see `row_columns`), used by
  the in-memory oracle that checks the SQL compiler.

Every SQL difference between SQLite and PostgreSQL that rules need (day of week,
month, hour, binary string order) lives in the "Dialect-specific SQL" section
below and nowhere else.

A value is None/NULL when its inputs are missing: no odds row, an empty price, an
unknown kick-off time. Derived odds are NULL unless every price they read is
present and positive.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, partial
from types import MappingProxyType
from typing import Any, Literal

from sqlalchemy import Date, Float, Integer, Select, String, case, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement, Grouping
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import FromClause, Join
from sqlalchemy.types import TypeEngine

from core.models import (
    ALL_ODDS_COLUMNS,
    FEATURE_COLUMNS,
    H2H_FEATURES,
    MATCH_STAT_COLUMNS,
    ODDS_SELECTIONS,
    ODDS_SOURCES,
    ODDS_TIMINGS,
    SIDE_FEATURES,
    Fixture,
    FixtureFeatures,
    FixtureOdds,
    League,
    Team,
    odds_column_name,
)

FieldType = Literal["number", "integer", "string", "date"]
FieldGroup = Literal["Context", "Odds", "Derived", "Team form", "Post-match"]
GROUPS: tuple[FieldGroup, ...] = ("Context", "Odds", "Derived", "Team form", "Post-match")

Row = Mapping[str, Any]
"""A fixture as a plain dict, keyed by the labels of `row_columns`."""

# Rule-level odds sources: the pre-match four, then their closing twins.
RULE_ODDS_SOURCES: tuple[str, ...] = tuple(
    source + timing for timing in ODDS_TIMINGS for source in ODDS_SOURCES
)
RULE_ODDS_SELECTIONS: tuple[str, ...] = ODDS_SELECTIONS

_SOURCE_LABELS = {
    "b365": "Bet365",
    "pinnacle": "Pinnacle",
    "avg": "market average",
    "max": "market best",
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
# Dialect-specific SQL (the only place SQLite and PostgreSQL differ for rules)
# --------------------------------------------------------------------------------------


class IsoWeekday(FunctionElement[int]):
    """ISO day of week of a DATE: 1 = Monday ... 7 = Sunday."""

    type = Integer()
    name = "iso_weekday"
    inherit_cache = True


class MonthOf(FunctionElement[int]):
    """Month (1-12) of a DATE."""

    type = Integer()
    name = "month_of"
    inherit_cache = True


class HourOf(FunctionElement[int]):
    """Hour (0-23) of a TIME; NULL stays NULL."""

    type = Integer()
    name = "hour_of"
    inherit_cache = True


class BinaryOrder(FunctionElement[str]):
    """A string compared by code point, whatever the database's collation.

    PostgreSQL's default collation may be locale-aware ('a' < 'B'); "C" compares
    bytes, and UTF-8 byte order is code point order, which is what SQLite's
    BINARY collation and Python's str comparison use.
    """

    type = String()
    name = "binary_order"
    inherit_cache = True


def _arg(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(IsoWeekday)
def _iso_weekday_default(element: IsoWeekday, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(EXTRACT(ISODOW FROM {_arg(element, compiler, **kw)}) AS INTEGER)"


@compiles(IsoWeekday, "sqlite")
def _iso_weekday_sqlite(element: IsoWeekday, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite dates are 'YYYY-MM-DD' text; %w is 0 = Sunday, so shift to ISO numbering.
    return f"((CAST(strftime('%w', {_arg(element, compiler, **kw)}) AS INTEGER) + 6) % 7 + 1)"


@compiles(MonthOf)
def _month_default(element: MonthOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(EXTRACT(MONTH FROM {_arg(element, compiler, **kw)}) AS INTEGER)"


@compiles(MonthOf, "sqlite")
def _month_sqlite(element: MonthOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(strftime('%m', {_arg(element, compiler, **kw)}) AS INTEGER)"


@compiles(HourOf)
def _hour_default(element: HourOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(EXTRACT(HOUR FROM {_arg(element, compiler, **kw)}) AS INTEGER)"


@compiles(HourOf, "sqlite")
def _hour_sqlite(element: HourOf, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLAlchemy stores TIME on SQLite as 'HH:MM:SS.ffffff' text.
    return f"CAST(substr({_arg(element, compiler, **kw)}, 1, 2) AS INTEGER)"


@compiles(BinaryOrder)
def _binary_order_default(element: BinaryOrder, compiler: SQLCompiler, **kw: Any) -> str:
    return f'({_arg(element, compiler, **kw)}) COLLATE "C"'


@compiles(BinaryOrder, "sqlite")
def _binary_order_sqlite(element: BinaryOrder, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({_arg(element, compiler, **kw)}) COLLATE BINARY"


# --------------------------------------------------------------------------------------
# The FROM clause every rule is compiled against
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FixtureTables:
    """fixtures LEFT JOIN leagues, teams (home, away), fixture_odds and fixture_features.

    `fixtures`, `leagues` and `odds` are the mapped tables themselves, so ORM
    attributes (``Fixture.id``, ``FixtureOdds.pinnacle_home``) can be selected
    alongside; the two team aliases are reached through ``home_team.c.name``.
    """

    fixtures: FromClause
    leagues: FromClause
    home_team: FromClause
    away_team: FromClause
    odds: FromClause
    features: FromClause

    @property
    def from_clause(self) -> Join:
        f = self.fixtures.c
        # Outer joins on purpose: every fixture has its league and teams (NOT NULL foreign
        # keys), so the rows are the same, but SQLite never reorders an outer join. With
        # inner joins its planner may scan teams and probe fixtures by team, which is 10x
        # slower over a million fixtures than scanning fixtures once.
        return (
            self.fixtures.outerjoin(self.leagues, self.leagues.c.id == f.league_id)
            .outerjoin(self.home_team, self.home_team.c.id == f.home_team_id)
            .outerjoin(self.away_team, self.away_team.c.id == f.away_team_id)
            .outerjoin(self.odds, self.odds.c.fixture_id == f.id)
            .outerjoin(self.features, self.features.c.fixture_id == f.id)
        )

    def select(self, *columns: Any) -> Select[Any]:
        """SELECT columns FROM the joined tables (add .where(compile_rules(...)))."""
        return select(*columns).select_from(self.from_clause)


@cache
def fixture_query_base() -> FixtureTables:
    """The one shared set of tables and aliases that compiled rules refer to."""
    return FixtureTables(
        fixtures=Fixture.__table__,
        leagues=League.__table__,
        home_team=Team.__table__.alias("home_team"),
        away_team=Team.__table__.alias("away_team"),
        odds=FixtureOdds.__table__,
        features=FixtureFeatures.__table__,
    )


_FIXTURE_RESULT_COLUMNS = (
    "home_goals",
    "away_goals",
    "result",
    "half_time_home_goals",
    "half_time_away_goals",
    "half_time_result",
    *MATCH_STAT_COLUMNS,
    "referee",
)


def row_columns(tables: FixtureTables | None = None) -> list[ColumnElement[Any]]:
    """Labelled raw columns whose values make a `Row` for the fields' `py` functions."""
    t = tables or fixture_query_base()
    f = t.fixtures.c
    columns: list[ColumnElement[Any]] = [
        f.id.label("id"),
        t.leagues.c.code.label("league"),
        t.leagues.c.country.label("country"),
        f.season.label("season"),
        f.kickoff_date.label("kickoff_date"),
        f.kickoff_time.label("kickoff_time"),
        t.home_team.c.name.label("home_team"),
        t.away_team.c.name.label("away_team"),
    ]
    columns += [f[name].label(name) for name in _FIXTURE_RESULT_COLUMNS]
    columns += [t.odds.c[name].label(name) for name in ALL_ODDS_COLUMNS]
    columns += [t.features.c[name].label(name) for name in FEATURE_COLUMNS]
    return columns


ROW_KEYS: tuple[str, ...] = (
    "id",
    "league",
    "country",
    "season",
    "kickoff_date",
    "kickoff_time",
    "home_team",
    "away_team",
    *_FIXTURE_RESULT_COLUMNS,
    *ALL_ODDS_COLUMNS,
    *FEATURE_COLUMNS,
)
assert len(set(ROW_KEYS)) == len(ROW_KEYS), "row keys collide"


# --------------------------------------------------------------------------------------
# Fields
# --------------------------------------------------------------------------------------

SqlFn = Callable[[FixtureTables], ColumnElement[Any]]
PyFn = Callable[[Row], Any]

_SQL_TYPES: dict[FieldType, TypeEngine[Any]] = {
    "number": Float(),
    "integer": Integer(),
    "string": String(),
    "date": Date(),
}


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    group: FieldGroup
    description: str
    sql: SqlFn
    py: PyFn
    pre_match: bool = True
    closing: bool = False
    """Reads a closing price: known only at kick-off, so a backtest using it is optimistic."""
    alternative: str | None = None
    """For post-match fields: the pre-match field(s) to use instead."""
    bounds: tuple[int, int] | None = None
    """For integer fields with a closed range (month 1-12): the values a rule may compare
    with. Other integer fields take validation's general range."""

    @property
    def sql_type(self) -> TypeEngine[Any]:
        return _SQL_TYPES[self.type]


def _col(table: str, column: str) -> SqlFn:
    def sql(t: FixtureTables) -> ColumnElement[Any]:
        return getattr(t, table).c[column]  # type: ignore[no-any-return]

    return sql


def _key(key: str) -> PyFn:
    def py(row: Row) -> Any:
        return row[key]

    return py


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
        sql: SqlFn,
        py: PyFn,
        bounds: tuple[int, int] | None = None,
    ) -> Field:
        return Field(name, type_, "Context", description, sql, py, bounds=bounds)

    return [
        ctx("league", "string", "League code, e.g. E0", _col("leagues", "code"), _key("league")),
        ctx(
            "country",
            "string",
            "Country of the league, e.g. England",
            _col("leagues", "country"),
            _key("country"),
        ),
        ctx(
            "season",
            "string",
            "Season, e.g. 2019-20",
            _col("fixtures", "season"),
            _key("season"),
        ),
        ctx(
            "date",
            "date",
            "Match date (YYYY-MM-DD)",
            _col("fixtures", "kickoff_date"),
            _key("kickoff_date"),
        ),
        ctx(
            "weekday",
            "integer",
            "Day of the week, 1 = Monday ... 7 = Sunday",
            lambda t: IsoWeekday(t.fixtures.c.kickoff_date),
            weekday_py,
            (1, 7),
        ),
        ctx(
            "month",
            "integer",
            "Month of the match, 1-12",
            lambda t: MonthOf(t.fixtures.c.kickoff_date),
            month_py,
            (1, 12),
        ),
        ctx(
            "kickoff_hour",
            "integer",
            "Kick-off hour, 0-23 (empty when the time is unknown)",
            lambda t: HourOf(t.fixtures.c.kickoff_time),
            hour_py,
            (0, 23),
        ),
        ctx(
            "home_team",
            "string",
            "Home team name",
            _col("home_team", "name"),
            _key("home_team"),
        ),
        ctx(
            "away_team",
            "string",
            "Away team name",
            _col("away_team", "name"),
            _key("away_team"),
        ),
    ]


def _describe_source(source: str) -> tuple[str, str]:
    base, _, timing = source.partition("_")
    return _SOURCE_LABELS[base], "closing" if timing else "pre-match"


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
                    _col("odds", column),
                    _key(column),
                    closing=source.endswith("_close"),
                )
            )
    fields.append(
        Field(
            "ah_line",
            "number",
            "Odds",
            "Asian handicap line for the home side, pre-match (e.g. -0.5)",
            _col("odds", "ah_line"),
            _key("ah_line"),
        )
    )
    fields.append(
        Field(
            "ah_line_close",
            "number",
            "Odds",
            "Asian handicap line for the home side, closing",
            _col("odds", "ah_line_close"),
            _key("ah_line_close"),
            closing=True,
        )
    )
    return fields


# Derived values: SQL and Python below perform the same float operations in the
# same order, so both sides produce bit-identical doubles.


def _implied_sql(t: FixtureTables, source: str, selection: str) -> ColumnElement[Any]:
    price = t.odds.c[odds_column_name(source, selection)]
    # CASE without ELSE gives NULL: no division by zero on PostgreSQL (SQLite would give NULL).
    return case((price > literal(0.0, Float()), _divide(literal(1.0, Float()), price)))


def _divide(numerator: ColumnElement[Any], denominator: ColumnElement[Any]) -> ColumnElement[Any]:
    # A bare "/" on two doubles: SQLAlchemy's own truediv adds "+ 0.0" or a CAST to force
    # float division, which these Float operands never need.
    # Explicit parentheses: a custom operator does not group its operands by precedence.
    return Grouping(numerator).op("/", return_type=Float())(Grouping(denominator))


def _implied_py(row: Row, source: str, selection: str) -> float | None:
    price: float | None = row[odds_column_name(source, selection)]
    if price is None or not price > 0:
        return None
    return 1.0 / price


def _sum_sql(parts: list[ColumnElement[Any]]) -> ColumnElement[Any]:
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
                    partial(_implied_sql, source=source, selection=selection),
                    partial(_implied_py, source=source, selection=selection),
                    closing=closing,
                )
            )
        fields.append(
            Field(
                f"overround.{source}",
                "number",
                "Derived",
                f"Bookmaker margin on 1X2, {label} {timing}: sum of implied - 1",
                partial(_overround_sql, source=source),
                partial(_overround_py, source=source),
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
                    partial(_fair_sql, source=source, selection=selection),
                    partial(_fair_py, source=source, selection=selection),
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
                    partial(_fav_dog_sql, source=source, favourite=name == "fav_odds"),
                    partial(_fav_dog_py, source=source, favourite=name == "fav_odds"),
                    closing=closing,
                )
            )
    return fields


def _overround_sql(t: FixtureTables, source: str) -> ColumnElement[Any]:
    return _sum_sql([_implied_sql(t, source, sel) for sel in _MARKETS["home"]]) - literal(
        1.0, Float()
    )


def _overround_py(row: Row, source: str) -> float | None:
    total = _sum_py([_implied_py(row, source, sel) for sel in _MARKETS["home"]])
    return None if total is None else total - 1.0


def _fair_sql(t: FixtureTables, source: str, selection: str) -> ColumnElement[Any]:
    market = [_implied_sql(t, source, sel) for sel in _MARKETS[selection]]
    return _divide(_implied_sql(t, source, selection), _sum_sql(market))


def _fair_py(row: Row, source: str, selection: str) -> float | None:
    mine = _implied_py(row, source, selection)
    total = _sum_py([_implied_py(row, source, sel) for sel in _MARKETS[selection]])
    if mine is None or total is None:
        return None
    return mine / total


def _fav_dog_sql(t: FixtureTables, source: str, favourite: bool) -> ColumnElement[Any]:
    home = t.odds.c[odds_column_name(source, "home")]
    away = t.odds.c[odds_column_name(source, "away")]
    # Neither branch is taken when a price is NULL, so the result is NULL.
    if favourite:
        return case((home <= away, home), (home > away, away))
    return case((home >= away, home), (home < away, away))


def _fav_dog_py(row: Row, source: str, favourite: bool) -> float | None:
    home: float | None = row[odds_column_name(source, "home")]
    away: float | None = row[odds_column_name(source, "away")]
    if home is None or away is None:
        return None
    return min(home, away) if favourite else max(home, away)


_RESULT_ALTERNATIVE = "use odds.pinnacle.home or fair.pinnacle.home (or .draw/.away) instead"
_GOALS_ALTERNATIVE = "use ah_line or fair.pinnacle.home instead"
_TOTAL_ALTERNATIVE = "use odds.pinnacle.over25 or fair.pinnacle.over25 instead"
_STATS_ALTERNATIVE = (
    "match statistics are recorded after the match; filter on odds "
    "(e.g. fair.pinnacle.over25, ah_line) instead"
)


def _post_match_fields() -> list[Field]:
    def total_goals_py(row: Row) -> int:
        return int(row["home_goals"]) + int(row["away_goals"])

    def post(
        name: str,
        type_: FieldType,
        description: str,
        alternative: str,
        sql: SqlFn | None = None,
        py: PyFn | None = None,
    ) -> Field:
        return Field(
            name,
            type_,
            "Post-match",
            description,
            sql or _col("fixtures", name),
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
            lambda t: t.fixtures.c.home_goals + t.fixtures.c.away_goals,
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
    "points_last5": "points from the last 5 matches, all competitions (needs 5)",
    "points_last10": "points from the last 10 matches, all competitions (needs 10)",
    "gf_avg_last5": "goals scored per match over the last 5 matches (needs 5)",
    "ga_avg_last5": "goals conceded per match over the last 5 matches (needs 5)",
    "venue_points_last5": (
        "points from the last 5 matches at this venue: home matches for the home team, "
        "away matches for the away team (needs 5)"
    ),
    "sot_avg_last5": (
        "shots on target per match over the last 5 matches (NULL unless all 5 record shots)"
    ),
    "streak": "current run: +n straight wins, -n straight losses, 0 after a draw (needs 1)",
    "rest_days": "days since the team's previous match, any competition (needs 1)",
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


def _minus_sql(home: str, away: str) -> SqlFn:
    def sql(t: FixtureTables) -> ColumnElement[Any]:
        return t.features.c[home] - t.features.c[away]

    return sql


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
                    _col("features", column),
                    _key(column),
                )
            )
    for name, type_ in SIDE_FEATURES.items():
        fields.append(
            Field(
                f"diff.{name}",
                "integer" if type_ == "integer" else "number",
                "Team form",
                f"Home minus away: {_FORM_DESCRIPTIONS[name]}",
                _minus_sql(f"home_{name}", f"away_{name}"),
                _minus_py(f"home_{name}", f"away_{name}"),
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
                _col("features", column),
                _key(column),
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
    then close spellings. An empty query lists fields in catalogue order."""
    candidates = [f for f in FIELDS.values() if f.pre_match or not pre_match_only]
    needle = query.strip().lower()
    if not needle:
        return candidates[:limit]
    scored: list[tuple[float, int, Field]] = []
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
            ratio = difflib.SequenceMatcher(None, needle, name).ratio()
            if ratio < 0.6:
                continue
            score = ratio
        scored.append((-score, index, field))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [field for _, _, field in scored[:limit]]


def closing_fields() -> list[str]:
    return [name for name, field in FIELDS.items() if field.closing]
