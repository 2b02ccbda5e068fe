"""Property: for random valid rule trees, the frame's masks and the in-memory oracle match
the same fixtures, with the frame loaded from SQLite and from PostgreSQL.

The database and its async engine belong to the test's event loop, so Hypothesis
runs in a worker thread (`asyncio.to_thread`) and sends each query back to the
loop with `run_coroutine_threadsafe`. Failures shrink and report as usual.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.backtest.engine import BacktestEngine
from core.backtest.request import BacktestRequest
from core.frame import frame_for
from core.rules import FIELDS, OPS, Field, parse_rules, rule_errors
from core.rules.mask import rule_columns, rule_mask
from core.rules.oracle import load_fixture_rows, matching_ids
from core.services import FilterBetsService
from tests.factories import add_fixtures, random_fixture_specs

MAX_TREE_DEPTH = 4
EXAMPLES = 150

PRE_MATCH = [field for field in FIELDS.values() if field.pre_match]
# Pick a kind of field first so the few context fields are drawn as often as odds.
FIELD_POOLS: list[list[Field]] = [
    [f for f in PRE_MATCH if f.group == "Context"],
    [f for f in PRE_MATCH if f.group == "Odds"],
    [f for f in PRE_MATCH if f.group == "Derived"],
    [f for f in PRE_MATCH if f.name.startswith(("odds.pinnacle.", "fair.pinnacle.", "fav_odds"))],
]
TEXT = st.text(alphabet="aAbBeEkKlLmMzZéÉ 0-.", max_size=6)


def _data_values(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    values: dict[str, list[Any]] = {}
    for field in PRE_MATCH:
        seen = {field.py(row) for row in rows}
        seen.discard(None)
        values[field.name] = sorted(seen)
    return values


def _value_strategy(field: Field, seen: list[Any]) -> st.SearchStrategy[Any]:
    """JSON values near the data: exact values, their neighbours, and some arbitrary ones."""
    if field.type == "number":
        anywhere = st.floats(-2.0, 15.0, allow_nan=False) | st.integers(-2, 15)
        if not seen:
            return anywhere
        exact = st.sampled_from(seen)
        neighbour = exact.flatmap(
            lambda v: st.sampled_from([math.nextafter(v, -math.inf), math.nextafter(v, math.inf)])
        )
        return st.one_of(exact, exact, neighbour, anywhere)
    if field.type == "integer":
        base = st.sampled_from(seen) if seen else st.integers(0, 23)
        low, high = field.bounds or (-(10**6), 10**6)  # a month is 1-12, nothing else
        return st.one_of(base, base.map(lambda v: v + 1), base.map(lambda v: v - 1)).map(
            lambda v: min(max(v, low), high)
        )
    if field.type == "date":
        dates = st.sampled_from(seen) if seen else st.dates()
        shifted = st.tuples(dates, st.integers(-3, 3)).map(lambda p: p[0] + dt.timedelta(p[1]))
        return st.one_of(dates, shifted).map(lambda d: d.isoformat())
    exact = st.sampled_from(seen) if seen else TEXT
    variants = st.one_of(
        exact.map(str.lower),
        exact.map(str.upper),
        exact.map(lambda s: s[:-1]),
        st.tuples(exact, TEXT).map("".join),
    )
    return st.one_of(exact, exact, variants, TEXT)


def _leaf_strategy(values: dict[str, list[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def leaf(draw: st.DrawFn) -> dict[str, Any]:
        field = draw(st.sampled_from(draw(st.sampled_from(FIELD_POOLS))))
        op = draw(st.sampled_from(OPS))
        rule: dict[str, Any] = {"field": field.name, "op": op}
        value = _value_strategy(field, values[field.name])
        if op in ("is_null", "not_null"):
            return rule
        if op == "between":
            pair = draw(st.lists(value, min_size=2, max_size=2))
            pair.sort()  # numbers, code-point strings and ISO dates all sort correctly
            rule["value"] = pair
        elif op in ("in", "not_in"):
            rule["value"] = draw(st.lists(value, min_size=1, max_size=4))
        else:
            rule["value"] = draw(value)
        return rule

    return leaf()


def _tree_strategy(values: dict[str, list[Any]]) -> st.SearchStrategy[Any]:
    leaf = _leaf_strategy(values)

    def node(depth: int) -> st.SearchStrategy[Any]:
        if depth == 1:
            return leaf
        child = node(depth - 1)
        return st.one_of(
            leaf,
            st.lists(child, max_size=3).map(lambda xs: {"all": xs}),
            st.lists(child, min_size=1, max_size=3).map(lambda xs: {"any": xs}),
            child.map(lambda x: {"not": x}),
        )

    # A bare top-level list is itself a level of the tree.
    return st.one_of(node(MAX_TREE_DEPTH), st.lists(node(MAX_TREE_DEPTH - 1), max_size=3))


async def test_frame_masks_and_oracle_agree_on_random_rule_trees(
    service: FilterBetsService,
) -> None:
    await add_fixtures(service, random_fixture_specs(60, seed=7))
    rows = await load_fixture_rows(service.db)
    assert len(rows) == 60
    # The data must have the gaps the property is about.
    assert any(row["kickoff_time"] is None for row in rows)
    assert any(row["pinnacle_home"] is None for row in rows)
    assert len({row["league"] for row in rows}) >= 4 and len({row["season"] for row in rows}) >= 3
    values = _data_values(rows)
    loop = asyncio.get_running_loop()

    async def frame_ids(rules: Any) -> set[int]:
        node = parse_rules(rules)
        frame = await frame_for(service.db, rule_columns(node))
        return set(frame.fixture_id[rule_mask(node, frame)].tolist())

    engine = BacktestEngine(service.db, service.user_id)

    async def engine_count(rules: Any) -> int:
        # The editor's live count (every fixture here has a result).
        return await engine.count(BacktestRequest(market="home", rules=rules))

    outcomes: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(rules=_tree_strategy(values))
    def property_holds(rules: Any) -> None:
        assert rule_errors(rules) == [], "the strategy made an invalid tree"
        expected = set(matching_ids(rules, rows))
        got = asyncio.run_coroutine_threadsafe(frame_ids(rules), loop).result(timeout=60)
        assert got == expected, (
            f"frame only: {sorted(got - expected)}; oracle only: {sorted(expected - got)}"
        )
        counted = asyncio.run_coroutine_threadsafe(engine_count(rules), loop).result(timeout=60)
        assert counted == len(expected)
        outcomes.append(len(got))

    await asyncio.to_thread(property_holds)
    # Guard against a vacuous pass: many trees must select some, but not all, fixtures.
    partial = sum(1 for n in outcomes if 0 < n < len(rows))
    assert partial >= len(outcomes) // 4, (partial, len(outcomes))
