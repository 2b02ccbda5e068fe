"""Rules as masks over the analysis frame, loaded from SQLite and from PostgreSQL: every op
on every field type, NULL semantics, calendar fields, string order, and each catalogue
field's array values == its Python values (the oracle's)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pytest

from core.errors import RuleError
from core.frame import FRAME_COLUMNS, frame_for
from core.rules import FIELDS, parse_rules
from core.rules.catalogue import Labels
from core.rules.mask import field_values, rule_columns, rule_mask
from core.rules.oracle import load_fixture_rows, matching_ids, row_columns
from core.services import FilterBetsService
from tests.factories import add_fixtures, random_fixture_specs

# Five fixtures with known values; the labels make expectations readable.
SPECS: list[dict[str, Any]] = [
    {  # Saturday, full odds
        "league": "E0",
        "season": "2019-20",
        "date": "2019-08-10",
        "time": "15:00",
        "home": "Arsenal",
        "away": "Burnley",
        "goals": (2, 1),
        "odds": {
            "pinnacle_home": 1.5,
            "pinnacle_draw": 4.2,
            "pinnacle_away": 7.0,
            "pinnacle_over25": 1.8,
            "pinnacle_under25": 2.05,
            "pinnacle_close_home": 1.4,
            "b365_home": 1.45,
            "b365_draw": 4.0,
            "b365_away": 7.5,
            "ah_line": -1.0,
        },
    },
    {  # Thursday, Pinnacle 1X2 only
        "league": "E0",
        "season": "2019-20",
        "date": "2019-12-26",
        "time": "12:30",
        "home": "Everton",
        "away": "Arsenal",
        "goals": (0, 0),
        "odds": {"pinnacle_home": 3.1, "pinnacle_draw": 3.3, "pinnacle_away": 2.4},
    },
    {  # Saturday, unknown kick-off time, no odds row at all
        "league": "D1",
        "season": "2018-19",
        "date": "2019-03-02",
        "home": "Bayern München",
        "away": "Dortmund",
        "goals": (5, 0),
    },
    {  # Sunday, an odds row with every price empty
        "league": "SP1",
        "season": "2018-19",
        "date": "2019-01-06",
        "time": "20:45",
        "home": "Alavés",
        "away": "Éibar",
        "goals": (1, 1),
        "odds": {},
    },
    {  # Monday, lower-case team name
        "league": "N1",
        "season": "2024-25",
        "date": "2024-11-04",
        "time": "20:00",
        "home": "ajax",
        "away": "Zwolle",
        "goals": (3, 0),
        "odds": {"pinnacle_home": 1.2, "pinnacle_draw": 7.5, "pinnacle_away": 12.0},
    },
]
LABELS = ("ars_bur", "eve_ars", "bay_dor", "ala_eib", "aja_zwo")


async def _setup(service: FilterBetsService) -> dict[str, int]:
    ids = await add_fixtures(service, SPECS)
    return dict(zip(LABELS, ids, strict=True))


async def _frame_ids(service: FilterBetsService, rules: Any) -> set[int]:
    node = parse_rules(rules)
    frame = await frame_for(service.db, rule_columns(node))
    return set(frame.fixture_id[rule_mask(node, frame)].tolist())


async def _check(service: FilterBetsService, ids: dict[str, int], rules: Any, *expected: str):
    """The frame and the oracle both give exactly the expected fixtures."""
    want = {ids[label] for label in expected}
    got = await _frame_ids(service, rules)
    oracle = set(matching_ids(rules, await load_fixture_rows(service.db)))
    named = {v: k for k, v in ids.items()}
    assert sorted(named[i] for i in got) == sorted(expected), rules
    assert oracle == want, rules


NUMBER_CASES = [
    ("=", 1.5, ["ars_bur"]),
    ("!=", 1.5, ["eve_ars", "aja_zwo"]),  # NULL prices never match !=
    ("<", 1.5, ["aja_zwo"]),
    ("<=", 1.5, ["ars_bur", "aja_zwo"]),
    (">", 1.5, ["eve_ars"]),
    (">=", 1.5, ["ars_bur", "eve_ars"]),
    ("between", [1.2, 1.5], ["ars_bur", "aja_zwo"]),
    ("between", [1.5, 1.5], ["ars_bur"]),
    ("in", [1.5, 3.1, 99], ["ars_bur", "eve_ars"]),
    ("not_in", [1.5], ["eve_ars", "aja_zwo"]),
    ("is_null", None, ["bay_dor", "ala_eib"]),
    ("not_null", None, ["ars_bur", "eve_ars", "aja_zwo"]),
    ("=", 3, []),  # an int value for a number field
    (">", 3, ["eve_ars"]),
]


@pytest.mark.parametrize(("op", "value", "expected"), NUMBER_CASES)
async def test_number_ops_on_an_odds_column(
    service: FilterBetsService, op: str, value: Any, expected: list[str]
) -> None:
    ids = await _setup(service)
    rule: dict[str, Any] = {"field": "odds.pinnacle.home", "op": op}
    if value is not None:
        rule["value"] = value
    await _check(service, ids, rule, *expected)


INTEGER_CASES = [
    ("weekday", "=", 6, ["ars_bur", "bay_dor"]),
    ("weekday", "between", [1, 5], ["eve_ars", "aja_zwo"]),
    ("weekday", "in", [7, 4], ["eve_ars", "ala_eib"]),
    ("weekday", ">", 6, ["ala_eib"]),
    ("weekday", "not_in", [6, 7], ["eve_ars", "aja_zwo"]),
    ("month", "=", 8, ["ars_bur"]),
    ("month", "<", 3, ["ala_eib"]),
    ("month", ">=", 11, ["eve_ars", "aja_zwo"]),
    ("month", "!=", 12, ["ars_bur", "bay_dor", "ala_eib", "aja_zwo"]),
    ("kickoff_hour", "=", 15, ["ars_bur"]),
    ("kickoff_hour", "<", 13, ["eve_ars"]),
    ("kickoff_hour", "<=", 20, ["ars_bur", "eve_ars", "ala_eib", "aja_zwo"]),
    ("kickoff_hour", "!=", 15, ["eve_ars", "ala_eib", "aja_zwo"]),  # unknown time excluded
    ("kickoff_hour", "not_in", [15], ["eve_ars", "ala_eib", "aja_zwo"]),
    ("kickoff_hour", "is_null", None, ["bay_dor"]),
    ("kickoff_hour", "not_null", None, ["ars_bur", "eve_ars", "ala_eib", "aja_zwo"]),
    ("kickoff_hour", "=", 20.0, ["ala_eib", "aja_zwo"]),  # an integral float is accepted
]


@pytest.mark.parametrize(("field", "op", "value", "expected"), INTEGER_CASES)
async def test_integer_calendar_fields(
    service: FilterBetsService, field: str, op: str, value: Any, expected: list[str]
) -> None:
    ids = await _setup(service)
    rule: dict[str, Any] = {"field": field, "op": op}
    if value is not None:
        rule["value"] = value
    await _check(service, ids, rule, *expected)


STRING_CASES = [
    ("league", "=", "E0", ["ars_bur", "eve_ars"]),
    ("league", "=", "e0", []),  # exact and case-sensitive
    ("league", "!=", "E0", ["bay_dor", "ala_eib", "aja_zwo"]),
    ("league", "<", "E1", ["ars_bur", "eve_ars", "bay_dor"]),
    ("league", "between", ["E0", "N1"], ["ars_bur", "eve_ars", "aja_zwo"]),
    ("league", "in", ["D1", "SP1"], ["bay_dor", "ala_eib"]),
    ("league", "not_in", ["E0"], ["bay_dor", "ala_eib", "aja_zwo"]),
    ("country", "=", "Germany", ["bay_dor"]),
    ("season", ">=", "2019-20", ["ars_bur", "eve_ars", "aja_zwo"]),
    ("season", "in", ["2018-19"], ["bay_dor", "ala_eib"]),
    # Code point order: upper case < lower case < accented, whatever the DB collation.
    ("home_team", "<", "Z", ["ars_bur", "eve_ars", "bay_dor", "ala_eib"]),
    ("home_team", ">", "Zwolle", ["aja_zwo"]),
    ("home_team", "=", "arsenal", []),
    ("away_team", ">", "z", ["ala_eib"]),
    ("away_team", "<=", "Burnley", ["eve_ars", "ars_bur"]),
    ("away_team", "is_null", None, []),
    ("away_team", "not_null", None, list(LABELS)),
]


@pytest.mark.parametrize(("field", "op", "value", "expected"), STRING_CASES)
async def test_string_fields(
    service: FilterBetsService, field: str, op: str, value: Any, expected: list[str]
) -> None:
    ids = await _setup(service)
    rule: dict[str, Any] = {"field": field, "op": op}
    if value is not None:
        rule["value"] = value
    await _check(service, ids, rule, *expected)


DATE_CASES = [
    ("=", "2019-08-10", ["ars_bur"]),
    ("!=", "2019-08-10", ["eve_ars", "bay_dor", "ala_eib", "aja_zwo"]),
    ("<", "2019-01-07", ["ala_eib"]),
    ("<=", "2019-03-02", ["ala_eib", "bay_dor"]),
    (">", "2019-12-26", ["aja_zwo"]),
    (">=", "2019-12-26", ["eve_ars", "aja_zwo"]),
    ("between", ["2019-01-06", "2019-08-10"], ["ala_eib", "bay_dor", "ars_bur"]),
    ("in", ["2019-08-10", "2024-11-04"], ["ars_bur", "aja_zwo"]),
    ("not_in", ["2019-08-10"], ["eve_ars", "bay_dor", "ala_eib", "aja_zwo"]),
    ("is_null", None, []),
]


@pytest.mark.parametrize(("op", "value", "expected"), DATE_CASES)
async def test_date_field(
    service: FilterBetsService, op: str, value: Any, expected: list[str]
) -> None:
    ids = await _setup(service)
    rule: dict[str, Any] = {"field": "date", "op": op}
    if value is not None:
        rule["value"] = value
    await _check(service, ids, rule, *expected)


DERIVED_CASES = [
    ({"field": "implied.pinnacle.home", "op": ">", "value": 0.6}, ["ars_bur", "aja_zwo"]),
    ({"field": "implied.pinnacle.home", "op": "is_null"}, ["bay_dor", "ala_eib"]),
    ({"field": "overround.pinnacle", "op": "between", "value": [0.045, 0.049]}, ["ars_bur"]),
    ({"field": "overround.pinnacle", "op": "not_null"}, ["ars_bur", "eve_ars", "aja_zwo"]),
    ({"field": "overround.b365", "op": ">", "value": 0}, ["ars_bur"]),
    ({"field": "fair.pinnacle.home", "op": ">", "value": 0.5}, ["ars_bur", "aja_zwo"]),
    ({"field": "fair.pinnacle.away", "op": ">", "value": 0.39}, ["eve_ars"]),
    ({"field": "fair.pinnacle.over25", "op": ">", "value": 0.5}, ["ars_bur"]),
    ({"field": "fair.pinnacle.under25", "op": "<", "value": 0.5}, ["ars_bur"]),
    ({"field": "fair.b365.over25", "op": "is_null"}, list(LABELS)),
    ({"field": "fav_odds.pinnacle", "op": "=", "value": 2.4}, ["eve_ars"]),
    ({"field": "fav_odds.pinnacle", "op": "<=", "value": 1.5}, ["ars_bur", "aja_zwo"]),
    ({"field": "dog_odds.pinnacle", "op": ">=", "value": 7}, ["ars_bur", "aja_zwo"]),
    ({"field": "dog_odds.pinnacle", "op": "=", "value": 3.1}, ["eve_ars"]),
    ({"field": "fav_odds.b365", "op": "not_null"}, ["ars_bur"]),
    ({"field": "ah_line", "op": "=", "value": -1}, ["ars_bur"]),
    ({"field": "odds.pinnacle_close.home", "op": "<", "value": 1.45}, ["ars_bur"]),
]


@pytest.mark.parametrize(("rule", "expected"), DERIVED_CASES)
async def test_derived_fields(
    service: FilterBetsService, rule: dict[str, Any], expected: list[str]
) -> None:
    ids = await _setup(service)
    await _check(service, ids, rule, *expected)


async def _field_values(service: FilterBetsService, name: str) -> dict[int, Any]:
    """fixture id -> the field's frame value, None where missing (labels as text)."""
    field = FIELDS[name]
    frame = await frame_for(service.db, field.columns)
    values = field_values(field, frame)
    out: dict[int, Any] = {}
    for row, fixture_id in enumerate(frame.fixture_id.tolist()):
        if isinstance(values, Labels):
            code = int(values.codes[row])
            out[fixture_id] = None if code < 0 else values.labels[code]
        else:
            value = float(values.values[row])
            out[fixture_id] = None if math.isnan(value) else value
    return out


async def test_fair_probabilities_sum_to_one_and_overround_is_exact(
    service: FilterBetsService,
) -> None:
    ids = await _setup(service)
    home, draw, away, overround = [
        (await _field_values(service, name))[ids["ars_bur"]]
        for name in (
            "fair.pinnacle.home",
            "fair.pinnacle.draw",
            "fair.pinnacle.away",
            "overround.pinnacle",
        )
    ]
    assert math.isclose(home + draw + away, 1.0)
    assert math.isclose(overround, 1 / 1.5 + 1 / 4.2 + 1 / 7.0 - 1)


def _comparable(field_type: str, value: Any) -> Any:
    """A Python field value as the frame holds it (dates as days since 1970)."""
    if value is None:
        return None
    if field_type == "date":
        return float((value - dt.date(1970, 1, 1)).days)
    if field_type in ("number", "integer"):
        return float(value)
    return value


async def test_every_catalogue_field_equals_its_python_value(service: FilterBetsService) -> None:
    """Each field's array values give exactly its Python value, row by row: derived doubles
    bit for bit, missing values missing."""
    await add_fixtures(service, random_fixture_specs(40, seed=11))
    await add_fixtures(service, SPECS)
    rows = {row["id"]: row for row in await load_fixture_rows(service.db)}
    assert len(rows) == 45
    mismatches = []
    for name, field in FIELDS.items():
        if not field.pre_match:
            continue
        values = await _field_values(service, name)
        assert values.keys() == rows.keys()
        for fixture_id, row in rows.items():
            expected = _comparable(field.type, field.py(row))
            if values[fixture_id] != expected:
                mismatches.append((fixture_id, name, values[fixture_id], expected))
    assert mismatches == []


async def test_calendar_fields_over_a_whole_year(service: FilterBetsService) -> None:
    start = dt.date(2023, 1, 1)
    specs = [
        {
            "league": "E0",
            "season": "2022-23" if day < 200 else "2023-24",
            "date": start + dt.timedelta(days=day),
            "time": dt.time(day % 24, 59),
            "home": f"Home {day % 7}",
            "away": f"Away {day}",
            "goals": (0, 0),
        }
        for day in range(0, 365, 5)
    ]
    ids = await add_fixtures(service, specs)
    by_id = dict(zip(ids, specs, strict=True))
    for weekday in range(1, 8):
        got = await _frame_ids(service, {"field": "weekday", "op": "=", "value": weekday})
        assert got == {i for i, s in by_id.items() if s["date"].isoweekday() == weekday}
        assert got
    for month in range(1, 13):
        got = await _frame_ids(service, {"field": "month", "op": "=", "value": month})
        assert got == {i for i, s in by_id.items() if s["date"].month == month}
        assert got
    for hour in (0, 9, 10, 23):
        got = await _frame_ids(service, {"field": "kickoff_hour", "op": "=", "value": hour})
        assert got == {i for i, s in by_id.items() if s["time"].hour == hour}
        assert got


async def test_null_semantics_and_not(service: FilterBetsService) -> None:
    ids = await _setup(service)
    above = {"field": "odds.pinnacle.home", "op": ">", "value": 2}
    # A leaf on a NULL field is FALSE, so `not` of it is TRUE: `not` is a true complement.
    await _check(service, ids, {"not": above}, "ars_bur", "bay_dor", "ala_eib", "aja_zwo")
    await _check(service, ids, {"not": {"not": above}}, "eve_ars")
    await _check(
        service,
        ids,
        {"not": {"any": [above, {"field": "odds.b365.home", "op": "<", "value": 2}]}},
        "bay_dor",
        "ala_eib",
        "aja_zwo",
    )
    await _check(
        service,
        ids,
        {"not": {"all": [above, {"field": "kickoff_hour", "op": "<", "value": 13}]}},
        "ars_bur",
        "bay_dor",
        "ala_eib",
        "aja_zwo",
    )
    await _check(
        service,
        ids,
        {"not": {"field": "kickoff_hour", "op": "!=", "value": 15}},
        "ars_bur",
        "bay_dor",
    )
    await _check(
        service,
        ids,
        {"not": {"field": "kickoff_hour", "op": "is_null"}},
        "ars_bur",
        "eve_ars",
        "ala_eib",
        "aja_zwo",
    )


async def test_groups_bare_list_and_empty_all(service: FilterBetsService) -> None:
    ids = await _setup(service)
    leaf_a = {"field": "league", "op": "=", "value": "E0"}
    leaf_b = {"field": "weekday", "op": "=", "value": 6}
    await _check(service, ids, [leaf_a, leaf_b], "ars_bur")
    await _check(service, ids, {"all": [leaf_a, leaf_b]}, "ars_bur")
    await _check(service, ids, {"any": [leaf_a, leaf_b]}, "ars_bur", "eve_ars", "bay_dor")
    await _check(service, ids, [], *LABELS)
    await _check(service, ids, {"all": []}, *LABELS)
    await _check(
        service,
        ids,
        {
            "any": [
                {"all": [leaf_a, {"not": leaf_b}]},
                {"field": "country", "op": "=", "value": "Spain"},
            ]
        },
        "eve_ars",
        "ala_eib",
    )


async def test_quotes_and_sql_in_values_are_plain_text(service: FilterBetsService) -> None:
    ids = await _setup(service)
    nasty = "x'); DROP TABLE fixtures; --"
    rules = {
        "any": [
            {"field": "home_team", "op": "=", "value": nasty},
            {"field": "away_team", "op": "<", "value": nasty},
            {"field": "league", "op": "in", "value": [nasty, "E0"]},
        ]
    }
    # Upper case sorts before lower case, so only 'Éibar' is not below the text.
    await _check(service, ids, rules, "ars_bur", "eve_ars", "bay_dor", "aja_zwo")


async def test_invalid_rules_are_refused_before_any_mask(service: FilterBetsService) -> None:
    with pytest.raises(RuleError, match=r"rules\[0\]: unknown field"):
        await _frame_ids(service, [{"field": "nope", "op": "=", "value": 1}])
    with pytest.raises(RuleError, match="known only after the match"):
        await _frame_ids(service, {"field": "result", "op": "=", "value": "H"})


def test_row_columns_cover_every_python_input() -> None:
    labels = {column.key for column in row_columns()}
    assert {"id", "league", "kickoff_date", "pinnacle_close_ah_away", "ah_line"} <= labels


async def test_every_odds_or_features_field_is_missing_on_a_fixture_without_a_row(
    service: FilterBetsService,
) -> None:
    """A fixture without an odds or features row has every field computed from those
    columns missing (no default, no zero), so no leaf but is_null can match it."""
    (fixture_id,) = await add_fixtures(
        service,
        [
            {
                "league": "E0",
                "season": "2019-20",
                "date": "2019-08-10",
                "home": "Arsenal",
                "away": "Burnley",
                "goals": (1, 0),
            }
        ],
        features=False,
    )
    checked = []
    for field in FIELDS.values():
        if not field.pre_match or not field.columns:
            continue
        assert set(field.columns) <= FRAME_COLUMNS.keys(), field.name
        value = (await _field_values(service, field.name))[fixture_id]
        assert value is None, f"{field.name} is {value!r} on a fixture with no row"
        checked.append(field.name)
    assert {"odds.pinnacle.home", "overround.pinnacle", "fav_odds.b365"} <= set(checked)
    assert any(name.startswith("diff.") for name in checked), checked


def test_integer_values_beyond_a_double_compare_as_exact_integers() -> None:
    from core.rules.mask import numbers_mask

    values = np.array([3.0, np.nan, -5.0])
    field = FIELDS["home.streak"]
    huge = 2**60
    assert numbers_mask(field, "<", huge, values).tolist() == [True, False, True]
    assert numbers_mask(field, ">", -huge, values).tolist() == [True, False, True]
    assert numbers_mask(field, "=", huge, values).tolist() == [False, False, False]
    assert numbers_mask(field, "!=", huge, values).tolist() == [True, False, True]
