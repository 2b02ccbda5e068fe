"""Compile a rule tree to ONE parameterized SQLAlchemy WHERE clause.

The clause reads the tables of `fixture_query_base()`: fixtures JOIN leagues
JOIN teams (home_team, away_team aliases) LEFT JOIN fixture_odds. Use it as::

    base = fixture_query_base()
    query = base.select(Fixture.id).where(compile_rules(rules))

Semantics (identical on SQLite and PostgreSQL, and in `core.rules.oracle`):

* Two-valued logic. Every leaf is TRUE or FALSE, never unknown: a leaf whose field
  is NULL (missing odds, unknown kick-off time) is FALSE for every op except
  ``is_null`` (TRUE) and ``not_null`` (FALSE). So ``!=`` and ``not_in`` do not match
  a NULL field either.
* Groups are plain boolean logic over those leaves: ``all`` is AND (empty = TRUE),
  ``any`` is OR, ``not`` is the complement. ``{"not": {"field": "odds.pinnacle.home",
  "op": ">", "value": 2}}`` therefore matches fixtures without a Pinnacle price;
  write ``<=`` to require a price.
  SQL AND/OR already treat NULL like FALSE for the final WHERE; only NOT would
  turn an unknown into a match or a non-match inconsistently, so ``not`` compiles
  to ``NOT COALESCE(x, FALSE)``.
* Values are always bound parameters, typed by the field (Float, Integer,
  String, Date); nothing from the rules is ever written into the SQL text.
* Numbers compare as doubles. Derived fields (implied, fair, overround) are
  float arithmetic on the odds columns in the same order as the oracle's Python.
* Strings compare by code point: ``=``/``!=``/``in`` are exact and
  case-sensitive (index-friendly); ordering ops (< <= > >= between) use a
  binary collation so a locale-aware PostgreSQL collation cannot reorder them.
* Dates compare as dates; weekday (ISO, 1 = Monday), month and kick-off hour
  come from the dialect-aware functions in `core.rules.catalogue`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, bindparam, false, func, literal, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause
from sqlalchemy.sql.util import find_tables

from core.models import League, Team
from core.rules.catalogue import BinaryOrder, Field, FixtureTables, fixture_query_base
from core.rules.validate import Leaf, Node, Not, parse_rules

__all__ = [
    "compile_node",
    "compile_rules",
    "fixture_query_base",
    "matching_fixtures_query",
    "required_tables",
]

_ORDERING_OPS = ("<", "<=", ">", ">=", "between")

# Fields that name a row of a small table a fixture points to. A leaf on one compiles
# to `fixtures.<fk> IN (SELECT id FROM <table> WHERE <leaf>)`: the same rows as testing
# the joined column (the key is NOT NULL and points to exactly one row, so the leaf is
# true for the fixture exactly when it is true for that row), but the query needs no
# join, and the planner can use the foreign key's index: a league or team filter over
# a million fixtures reads only that league's or team's fixtures. Own aliases, so
# `_from_clause` pruning does not see the outer query's league and team tables used.
_LEAGUE_LOOKUP: FromClause = League.__table__.alias("league_lookup")
_TEAM_LOOKUP: FromClause = Team.__table__.alias("team_lookup")
_LOOKUPS: dict[str, tuple[str, FromClause, str]] = {
    "league": ("league_id", _LEAGUE_LOOKUP, "code"),
    "country": ("league_id", _LEAGUE_LOOKUP, "country"),
    "home_team": ("home_team_id", _TEAM_LOOKUP, "name"),
    "away_team": ("away_team_id", _TEAM_LOOKUP, "name"),
}


def compile_rules(rules: Any, tables: FixtureTables | None = None) -> ColumnElement[bool]:
    """Validate rules (raising the first RuleError) and compile them to a WHERE clause."""
    return compile_node(parse_rules(rules), tables or fixture_query_base())


def matching_fixtures_query(
    rules: Any, *columns: Any, tables: FixtureTables | None = None
) -> Select[Any]:
    """SELECT columns (default: fixture id) of the fixtures the rules match."""
    base = tables or fixture_query_base()
    selected = columns or (base.fixtures.c.id,)
    return base.select(*selected).where(compile_rules(rules, base))


def compile_node(node: Node, tables: FixtureTables) -> ColumnElement[bool]:
    if isinstance(node, Leaf):
        return _compile_leaf(node, tables)
    if isinstance(node, Not):
        # NOT NULL is NULL in SQL; coalescing first keeps `not` a true complement.
        return not_(func.coalesce(compile_node(node.child, tables), false()))
    children = [compile_node(child, tables) for child in node.children]
    if node.kind == "all":
        return and_(*children) if children else true()
    return or_(*children)


def _compile_leaf(leaf: Leaf, tables: FixtureTables) -> ColumnElement[bool]:
    lookup = _LOOKUPS.get(leaf.field.name)
    if lookup is None:
        return _predicate(leaf, leaf.field, leaf.field.sql(tables))
    foreign_key, table, column = lookup
    matching = select(table.c.id).where(_predicate(leaf, leaf.field, table.c[column]))
    return tables.fixtures.c[foreign_key].in_(matching)


def required_tables(rules: Any, tables: FixtureTables) -> set[FromClause]:
    """The LEFT JOINed tables (odds, features) that a fixture must have a row in for the
    rules to match it, so the query may join them inner.

    PostgreSQL makes that change itself only when it can prove the WHERE false on a missing
    row, which it cannot through the CASE of a derived field (overround, fav_odds, ...):
    kept outer, the join hashes the whole odds table before filtering it. A fixture with no
    row has every field of that table NULL, and a leaf on a NULL field is false for every op
    but is_null (the semantics above); a test holds every such field NULL on a missing row.
    """
    node = parse_rules(rules)
    return {table for table in (tables.odds, tables.features) if _requires(node, table, tables)}


def _requires(node: Node, table: FromClause, tables: FixtureTables) -> bool:
    if isinstance(node, Leaf):
        if node.op == "is_null" or node.field.name in _LOOKUPS:
            return False
        used = set(find_tables(node.field.sql(tables), check_columns=True, include_aliases=True))
        return used == {table}
    if isinstance(node, Not):  # the complement of false is true: a missing row may match
        return False
    found = [_requires(child, table, tables) for child in node.children]
    if node.kind == "all":
        return any(found)
    return bool(found) and all(found)


def lookup_condition(field_name: str, values: list[str], tables: FixtureTables) -> Any:
    """`field in values` for a lookup field (league, country, team), as a leaf would be."""
    foreign_key, table, column = _LOOKUPS[field_name]
    matching = select(table.c.id).where(table.c[column].in_(values))
    return tables.fixtures.c[foreign_key].in_(matching)


def _predicate(leaf: Leaf, field: Field, expr: ColumnElement[Any]) -> ColumnElement[bool]:
    if leaf.op == "is_null":
        return expr.is_(None)
    if leaf.op == "not_null":
        return expr.is_not(None)
    if field.type == "string" and leaf.op in _ORDERING_OPS:
        expr = BinaryOrder(expr)

    def bound(value: Any) -> ColumnElement[Any]:
        return literal(value, field.sql_type)

    value = leaf.value
    if leaf.op in ("in", "not_in", "between"):
        assert isinstance(value, tuple)
        if leaf.op == "between":
            return expr.between(bound(value[0]), bound(value[1]))
        # One expanding parameter: one cached statement whatever the list length.
        values = bindparam(None, list(value), type_=field.sql_type, expanding=True, unique=True)
        return expr.in_(values) if leaf.op == "in" else expr.not_in(values)
    operand = bound(value)
    if leaf.op == "=":
        return expr == operand
    if leaf.op == "!=":
        return expr != operand
    if leaf.op == "<":
        return expr < operand
    if leaf.op == "<=":
        return expr <= operand
    if leaf.op == ">":
        return expr > operand
    return expr >= operand
