"""Rule validation: one located line per problem, suggestions, limits, and the catalogue."""

from __future__ import annotations

import datetime as dt
import difflib
import pickle
from typing import Any

import pytest

from core.errors import FilterBetsError, RuleError
from core.rules import (
    CLOSING_PRICE_WARNING,
    FIELDS,
    GROUPS,
    MAX_DEPTH,
    MAX_LEAVES,
    Group,
    Leaf,
    Not,
    fields_by_group,
    fields_used,
    get_field,
    parse_rules,
    rule_errors,
    search_fields,
    suggest_field,
    uses_closing_prices,
    validate_rules,
)
from core.rules.oracle import evaluate

LEAF = {"field": "odds.pinnacle.home", "op": ">", "value": 2}


def only_error(rules: Any) -> str:
    errors = rule_errors(rules)
    assert len(errors) == 1, [str(e) for e in errors]
    text = str(errors[0])
    assert "\n" not in text
    return text


def test_unknown_field_names_the_path_and_suggests() -> None:
    rules = {
        "all": [
            LEAF,
            LEAF,
            {"any": [{"field": "odds.pinacle.away", "op": "<", "value": 3}]},
        ]
    }
    assert only_error(rules) == (
        "rules.all[2].any[0]: unknown field 'odds.pinacle.away' "
        "(did you mean 'odds.pinnacle.away'?)"
    )


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("leage", "league"),
        ("League", "league"),
        ("weekdya", "weekday"),
        ("fair.pinnacle.hom", "fair.pinnacle.home"),
        ("odds.pinnacle.close.home", "odds.pinnacle_close.home"),
        ("kickoff_hr", "kickoff_hour"),
    ],
)
def test_field_suggestions(name: str, suggestion: str) -> None:
    assert suggest_field(name) == suggestion
    assert f"(did you mean '{suggestion}'?)" in only_error({"field": name, "op": "=", "value": 1})


def test_unknown_field_without_a_close_name_has_no_suggestion() -> None:
    assert only_error([{"field": "zzzzzz", "op": "=", "value": 1}]) == (
        "rules[0]: unknown field 'zzzzzz'"
    )


@pytest.mark.parametrize(
    ("op", "suggestion"),
    [
        ("gte", ">="),
        ("==", "="),
        ("<>", "!="),
        ("not in", "not_in"),
        ("betwen", "between"),
        ("isnull", "is_null"),
        ("not_nul", "not_null"),
        ("IN", "in"),
    ],
)
def test_unknown_op_suggests_the_canonical_op(op: str, suggestion: str) -> None:
    assert only_error({"field": "league", "op": op, "value": "E0"}) == (
        f"rules: unknown op '{op}' (did you mean '{suggestion}'?)"
    )


def test_unknown_op_without_suggestion_lists_the_ops() -> None:
    text = only_error({"field": "league", "op": "~~", "value": "E0"})
    assert text.startswith("rules: unknown op '~~'; ops are =, !=, <")


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"field": "odds.pinnacle.home", "op": ">", "value": "2.1"},
            "field 'odds.pinnacle.home' takes a number, got string \"2.1\"",
        ),
        (
            {"field": "odds.pinnacle.home", "op": ">", "value": True},
            "takes a number, got true/false true",
        ),
        ({"field": "weekday", "op": "=", "value": 1.5}, "takes a whole number, got number 1.5"),
        ({"field": "league", "op": "=", "value": 5}, "field 'league' takes a string, got number 5"),
        (
            {"field": "date", "op": ">", "value": "10/08/2019"},
            "field 'date' takes an ISO date 'YYYY-MM-DD', got string \"10/08/2019\"",
        ),
        ({"field": "date", "op": ">", "value": "2019-02-30"}, '"2019-02-30" is not a real date'),
        ({"field": "date", "op": ">", "value": 20190810}, "takes an ISO date"),
        (
            {"field": "odds.pinnacle.home", "op": "=", "value": float("nan")},
            "takes a finite number",
        ),
        (
            {"field": "league", "op": "between", "value": ["E1", "E0"]},
            'op \'between\' needs lo <= hi, got ["E1", "E0"]',
        ),
        (
            {"field": "date", "op": "between", "value": ["2020-01-02", "2020-01-01"]},
            "needs lo <= hi",
        ),
        ({"field": "ah_line", "op": "between", "value": [1]}, "takes [lo, hi], got a list of 1"),
        ({"field": "ah_line", "op": "between", "value": 1}, "takes [lo, hi], got number 1"),
        (
            {"field": "ah_line", "op": "between", "value": ["a", 1]},
            "lo: field 'ah_line' takes a number",
        ),
        ({"field": "league", "op": "in", "value": []}, "op 'in' takes a non-empty list"),
        ({"field": "league", "op": "not_in", "value": "E0"}, "op 'not_in' takes a non-empty list"),
        (
            {"field": "league", "op": "in", "value": ["E0", 1]},
            "item 1 of the list: field 'league' takes a string, got number 1",
        ),
        ({"field": "league", "op": "=", "value": ["E0"]}, "use 'in' for several values"),
        ({"field": "league", "op": "="}, "missing 'value' for op '='"),
        ({"field": "league", "op": "=", "value": None}, "use 'is_null' to match blanks"),
        ({"field": "league", "op": "is_null", "value": "E0"}, "op 'is_null' takes no value"),
        ({"field": "league", "value": "E0"}, "missing 'op'"),
        ({"op": "=", "value": "E0"}, "missing 'field'"),
        ({"field": 3, "op": "=", "value": "E0"}, "'field' must be a field name, got number 3"),
        ({"field": "league", "op": 3, "value": "E0"}, "'op' must be a string"),
        (
            {"field": "league", "op": "=", "valeu": "E0"},
            "unexpected key 'valeu' in a rule (did you mean 'value'?)",
        ),
        ({"al": [LEAF]}, "unexpected key 'al' (did you mean 'all'?)"),
        ({}, "empty rule object"),
        ("league = E0", 'expected a rule object, got string "league = E0"'),
        ({"any": []}, "'any' needs at least one rule"),
        ({"all": LEAF}, "'all' takes a list of rules, got object"),
        ({"all": [LEAF], "any": [LEAF]}, "unexpected key 'any'"),
        ({"all": [LEAF], "field": "league"}, "unexpected key 'field'"),
    ],
)
def test_each_error_class_has_a_clear_message(rule: dict[str, Any], message: str) -> None:
    text = only_error(rule)
    assert text.startswith("rules: "), text
    assert message in text, text


def test_paths_through_not_and_lists() -> None:
    bad = {"field": "nope", "op": "=", "value": 1}
    assert str(rule_errors({"not": bad})[0]).startswith("rules.not: unknown field")
    assert str(rule_errors([LEAF, {"not": {"all": [LEAF, bad]}}])[0]).startswith(
        "rules[1].not.all[1]: unknown field"
    )
    assert only_error({"not": [LEAF]}).startswith("rules.not: 'not' takes one rule object")
    assert only_error({"all": [[LEAF]]}).startswith("rules.all[0]: a bare list is only allowed")


def test_rule_errors_reports_every_problem_in_tree_order() -> None:
    rules = [
        {"field": "nope", "op": "=", "value": 1},
        LEAF,
        {"any": [{"field": "league", "op": "like", "value": "E"}, {"field": "result"}]},
    ]
    paths = [error.path for error in rule_errors(rules)]
    assert paths[:3] == ["rules[0]", "rules[2].any[0]", "rules[2].any[1]"]
    assert rule_errors([LEAF]) == []


def test_validate_and_parse_raise_the_first_error_as_a_rule_error() -> None:
    with pytest.raises(RuleError) as caught:
        validate_rules([LEAF, {"field": "nope", "op": "=", "value": 1}, {"field": "x"}])
    error = caught.value
    assert isinstance(error, FilterBetsError)
    assert error.path == "rules[1]"
    assert error.message == "unknown field 'nope'"
    assert str(error) == "rules[1]: unknown field 'nope'"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.message, str(copy)) == (error.path, error.message, str(error))
    with pytest.raises(RuleError):
        parse_rules({"field": "nope", "op": "=", "value": 1})
    with pytest.raises(RuleError):
        evaluate({"field": "nope", "op": "=", "value": 1}, {})


def test_validate_returns_the_rules_unchanged() -> None:
    rules = [LEAF, {"not": {"field": "date", "op": ">=", "value": "2020-01-01"}}]
    assert validate_rules(rules) is rules


@pytest.mark.parametrize(
    ("field", "alternative"),
    [
        ("result", "use odds.pinnacle.home or fair.pinnacle.home"),
        ("half_time_result", "use odds.pinnacle.home or fair.pinnacle.home"),
        ("total_goals", "use odds.pinnacle.over25 or fair.pinnacle.over25"),
        ("home_goals", "use ah_line or fair.pinnacle.home"),
        ("home_shots", "match statistics are recorded after the match"),
        ("referee", "no pre-match equivalent"),
    ],
)
def test_post_match_fields_are_refused_with_an_alternative(field: str, alternative: str) -> None:
    value = "H" if FIELDS[field].type == "string" else 2
    text = only_error([LEAF, {"any": [{"field": field, "op": "=", "value": value}]}])
    assert text.startswith(
        f"rules[1].any[0]: '{field}' is known only after the match, so a filter cannot use it; "
    )
    assert alternative in text


def test_post_match_fields_are_refused_even_for_null_checks() -> None:
    assert "known only after the match" in only_error({"field": "home_shots", "op": "is_null"})


def _nested(depth: int) -> Any:
    node: Any = LEAF
    for _ in range(depth - 1):
        node = {"all": [node]}
    return node


def test_depth_limit() -> None:
    assert rule_errors(_nested(MAX_DEPTH)) == []
    assert rule_errors([_nested(MAX_DEPTH - 1)]) == []  # the bare list counts as a level
    text = only_error(_nested(MAX_DEPTH + 1))
    assert text == (
        "rules" + ".all[0]" * MAX_DEPTH + ": rules are nested too deeply (the limit is 8 levels)"
    )
    assert "nested too deeply" in only_error({"not": _nested(MAX_DEPTH)})


def test_leaf_limit() -> None:
    assert rule_errors([LEAF] * MAX_LEAVES) == []
    assert only_error([LEAF] * (MAX_LEAVES + 1)) == "rules: too many rules: 101 (the limit is 100)"
    spread = {"any": [{"all": [LEAF] * 60}, {"all": [LEAF] * 41}]}
    assert "too many rules: 101" in only_error(spread)


def test_too_many_rules_is_refused_before_any_rule_is_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """5,000 misspelled leaves took 22.8 s to say "too many rules": each leaf's field was
    looked up and a suggestion searched for before the count was checked."""
    import core.rules.validate as validate

    def no_suggestions(name: str) -> str | None:
        raise AssertionError(f"field {name!r} checked before the rule limit")

    monkeypatch.setattr(validate, "suggest_field", no_suggestions)
    misspelled = {"field": "odds.pinacle.home", "op": ">", "value": 2}
    assert [str(e) for e in rule_errors({"all": [misspelled] * 5000})] == [
        "rules: too many rules: 5,000 (the limit is 100)"
    ]


def test_parse_builds_a_typed_tree() -> None:
    tree = parse_rules(
        [
            {"field": "date", "op": "between", "value": ["2019-01-01", "2019-06-30"]},
            {"not": {"field": "weekday", "op": "in", "value": [6, 7.0]}},
            {"any": [{"field": "ah_line", "op": "=", "value": -1}, LEAF]},
            {"field": "kickoff_hour", "op": "is_null"},
        ]
    )
    assert isinstance(tree, Group) and tree.kind == "all" and tree.path == "rules"
    date_leaf, negation, any_group, null_leaf = tree.children
    assert isinstance(date_leaf, Leaf)
    assert date_leaf.value == (dt.date(2019, 1, 1), dt.date(2019, 6, 30))
    assert isinstance(negation, Not) and isinstance(negation.child, Leaf)
    assert negation.child.value == (6, 7) and negation.child.path == "rules[1].not"
    assert isinstance(any_group, Group) and any_group.kind == "any"
    ah_leaf = any_group.children[0]
    assert isinstance(ah_leaf, Leaf) and ah_leaf.value == -1.0 and isinstance(ah_leaf.value, float)
    assert isinstance(null_leaf, Leaf) and null_leaf.value is None


def test_uses_closing_prices() -> None:
    assert not uses_closing_prices([LEAF, {"field": "fair.pinnacle.home", "op": ">", "value": 0}])
    for name in (
        "odds.pinnacle_close.home",
        "ah_line_close",
        "implied.avg_close.draw",
        "overround.max_close",
        "fair.b365_close.over25",
        "dog_odds.pinnacle_close",
    ):
        nested = {"any": [LEAF, {"not": {"field": name, "op": "not_null"}}]}
        assert uses_closing_prices(nested), name
    assert CLOSING_PRICE_WARNING == "uses closing prices, known only at kick-off"
    with pytest.raises(RuleError):
        uses_closing_prices({"field": "nope", "op": "=", "value": 1})


def test_fields_used_in_first_use_order() -> None:
    rules = [LEAF, {"any": [{"field": "league", "op": "=", "value": "E0"}, LEAF]}]
    assert fields_used(rules) == ["odds.pinnacle.home", "league"]


def test_catalogue_shape() -> None:
    grouped = fields_by_group()
    assert tuple(grouped) == GROUPS
    assert [f.name for f in grouped["Context"]] == [
        "league",
        "country",
        "season",
        "date",
        "weekday",
        "month",
        "kickoff_hour",
        "home_team",
        "away_team",
    ]
    sources = ("b365", "pinnacle", "avg", "max")
    selections = ("home", "draw", "away", "over25", "under25", "ah_home", "ah_away")
    for source in (*sources, *(s + "_close" for s in sources)):
        for sel in selections:
            for prefix in ("odds", "implied", "fair"):
                assert f"{prefix}.{source}.{sel}" in FIELDS
        for prefix in ("overround", "fav_odds", "dog_odds"):
            assert f"{prefix}.{source}" in FIELDS
    assert FIELDS["ah_line"].group == "Odds" and not FIELDS["ah_line"].closing
    assert FIELDS["ah_line_close"].closing
    for field in FIELDS.values():
        assert field.description and field.type in ("number", "integer", "string", "date")
        assert field.pre_match == (field.group != "Post-match")
        assert (field.alternative is not None) == (not field.pre_match)
    assert all(f.pre_match for fs in fields_by_group(pre_match_only=True).values() for f in fs)
    assert "Post-match" not in fields_by_group(pre_match_only=True)
    assert get_field("weekday") is FIELDS["weekday"] and get_field("nope") is None


def test_search_fields_for_the_picker() -> None:
    assert search_fields("league")[0].name == "league"
    names = [f.name for f in search_fields("fair.pinnacle", limit=50)]
    assert names[:3] == ["fair.pinnacle.home", "fair.pinnacle.draw", "fair.pinnacle.away"]
    assert "kickoff_hour" in [f.name for f in search_fields("kick")]
    assert "weekday" in [f.name for f in search_fields("monday")]  # matches the description
    assert search_fields("weekdya")[0].name == "weekday"  # close spelling
    # A misspelt part of a name: the book is the part people type.
    assert [f.name for f in search_fields("pinacle")][:3] == [
        "odds.pinnacle.home",
        "odds.pinnacle.draw",
        "odds.pinnacle.away",
    ]
    assert search_fields("hme.ppg")[0].name == "home.ppg"
    assert all(f.pre_match for f in search_fields("goals", pre_match_only=True))
    assert "total_goals" in [f.name for f in search_fields("goals")]
    assert len(search_fields("", limit=5)) == 5


def _ranked_by_the_definition(query: str, pre_match_only: bool) -> list[str]:
    """search_fields' ranking written plainly: a full similarity ratio for every name and
    every dotted part of it."""
    needle = query.strip().lower()
    scored = []
    for index, field in enumerate(f for f in FIELDS.values() if f.pre_match or not pre_match_only):
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
            parts = [name, *name.split(".")]
            score = max(difflib.SequenceMatcher(None, needle, part).ratio() for part in parts)
            if score < 0.6:
                continue
        scored.append((-score, index, field.name))
    return [name for _, _, name in sorted(scored)]


@pytest.mark.parametrize("pre_match_only", [False, True])
def test_search_fields_ranks_as_the_plain_definition(pre_match_only: bool) -> None:
    # The quick ratios rule strings out before the full comparison; the ranking must not move.
    names = list(FIELDS)
    queries = ["weekdya", "pinacle", "odds.pinacle.hom", "hme.ppg", "ovrround", "xq", "b365", "a"]
    queries += [name[:i] + "z" + name[i + 1 :] for name in names[::97] for i in (0, len(name) // 2)]
    for query in queries:
        found = [
            f.name for f in search_fields(query, limit=len(FIELDS), pre_match_only=pre_match_only)
        ]
        assert found == _ranked_by_the_definition(query, pre_match_only), query
