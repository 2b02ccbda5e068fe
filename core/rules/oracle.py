"""An in-memory evaluator of rule trees over plain dict rows: the tests' oracle.

It is written apart from the SQL compiler on purpose. It walks the raw JSON
itself, converts values itself and applies the ops in Python; it shares only
the catalogue's field definitions (each field's ``py`` function) and the
validator's yes/no verdict on whether the rules are valid at all.

Semantics (the contract `core.rules.compile` must meet): a leaf whose field
value is None is False for every op except ``is_null``; ``all``/``any``/``not``
are ordinary boolean AND/OR/complement over the leaves; strings compare by code
point; numbers as floats; dates as dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause, Join

from core.db import Database
from core.models import (
    ALL_ODDS_COLUMNS,
    BOOK_CODES,
    BOOK_SELECTIONS,
    FEATURE_COLUMNS,
    MATCH_STAT_COLUMNS,
    Fixture,
    FixtureBookPrices,
    FixtureFeatures,
    FixtureOdds,
    League,
    Team,
    odds_column_name,
)
from core.rules.catalogue import FIELDS, Field, Row
from core.rules.validate import validate_rules


def _convert(field: Field, value: Any) -> Any:
    if field.type == "number":
        return float(value)
    if field.type == "integer":
        return int(value)
    if field.type == "date" and isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


def _leaf(node: dict[str, Any], row: Row) -> bool:
    field = FIELDS[node["field"]]
    actual = field.py(row)
    op = node["op"]
    if op == "is_null":
        return actual is None
    if op == "not_null":
        return actual is not None
    if actual is None:
        return False
    raw = node["value"]
    if op in ("in", "not_in"):
        found = any(actual == _convert(field, item) for item in raw)
        return found if op == "in" else not found
    if op == "between":
        low, high = (_convert(field, item) for item in raw)
        return bool(low <= actual <= high)
    value = _convert(field, raw)
    results = {
        "=": actual == value,
        "!=": actual != value,
        "<": actual < value,
        "<=": actual <= value,
        ">": actual > value,
        ">=": actual >= value,
    }
    return bool(results[op])


def _evaluate(node: Any, row: Row) -> bool:
    if isinstance(node, list):
        return all(_evaluate(child, row) for child in node)
    if "all" in node:
        return all(_evaluate(child, row) for child in node["all"])
    if "any" in node:
        return any(_evaluate(child, row) for child in node["any"])
    if "not" in node:
        return not _evaluate(node["not"], row)
    return _leaf(node, row)


def evaluate(rules: Any, row: Row) -> bool:
    """Whether one fixture row matches the rules (raises RuleError on invalid rules)."""
    validate_rules(rules)
    return _evaluate(rules, row)


def matching_ids(rules: Any, rows: Iterable[Row]) -> list[int]:
    """Ids of the rows the rules match, in row order."""
    validate_rules(rules)
    return [int(row["id"]) for row in rows if _evaluate(rules, row)]


async def load_fixture_rows(db: Database) -> list[dict[str, Any]]:
    """Every fixture as a dict of raw values (see `row_columns`), by id, with every other
    book's prices as `<book>[_close]_<selection>` (None where the book has none)."""
    base = fixture_query_base()
    query = base.select(*row_columns(base)).order_by(base.fixtures.c.id)
    async with db.session() as session:
        rows = [dict(row) for row in (await session.execute(query)).mappings()]
        priced = (await session.execute(select(FixtureBookPrices.__table__))).mappings().all()
    by_id = {row["id"]: row for row in rows}
    for row in rows:
        row.update(dict.fromkeys(BOOK_PRICE_KEYS))
    for price in priced:
        source = price["book"] + ("_close" if price["closing"] else "")
        for selection in BOOK_SELECTIONS:
            by_id[price["fixture_id"]][odds_column_name(source, selection)] = price[selection]
    return rows


BOOK_PRICE_KEYS: tuple[str, ...] = tuple(
    odds_column_name(book + timing, selection)
    for book in BOOK_CODES
    for timing in ("", "_close")
    for selection in BOOK_SELECTIONS
)


# The rows the oracle reads: every fixture joined to its league, teams, odds and features.


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
