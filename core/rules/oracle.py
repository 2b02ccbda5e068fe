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
from typing import Any

from core.db import Database
from core.rules.catalogue import FIELDS, Field, Row, fixture_query_base, row_columns
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
    """Every fixture as a dict of raw values (see `catalogue.row_columns`), by id."""
    base = fixture_query_base()
    query = base.select(*row_columns(base)).order_by(base.fixtures.c.id)
    async with db.session() as session:
        result = await session.execute(query)
        return [dict(row) for row in result.mappings()]
