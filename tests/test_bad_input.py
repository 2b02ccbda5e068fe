"""Hostile rule input: every way a fuzz run crashed the CLI is a one-line usage error (exit 2),
the same on SQLite and PostgreSQL, and nothing of it is saved."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core.cli
from core.cli import _read_rules_argument, main
from core.errors import RuleError
from core.rules import FIELDS, OPS, validate_rules
from tests.conftest import skip_or_fail_without_postgres

LEAF = '{"field": "odds.pinnacle.home", "op": ">", "value": %s}'


def _leaf(field: str, op: str, value: str) -> str:
    return f'{{"field": "{field}", "op": "{op}", "value": {value}}}'


# Each of these crashed with a traceback (exit 1) before, on one backend or both.
CRASHERS: dict[str, str] = {
    "nested 1,000 arrays": "[" * 1000 + "]" * 1000,
    "nested 1,000 nots": '{"not": ' * 1000 + LEAF % 2 + "}" * 1000,
    "an integer of 4,301 digits": LEAF % ("9" * 4301),
    "a number of 400 digits": LEAF % ("9" * 400),
    "a float past double range": LEAF % "1e400",
    "NaN": LEAF % "NaN",
    "month 2**63": _leaf("month", "=", str(2**63)),
    "kickoff_hour 2**31": _leaf("kickoff_hour", ">", str(2**31)),
    "streak 2**31": _leaf("home.streak", ">=", str(2**31)),
    "streak below int32": _leaf("diff.streak", "<", str(-(2**31) - 1)),
    "weekday 0": _leaf("weekday", "in", "[0, 1]"),
    "a lone surrogate": _leaf("league", "=", '"E\\ud800"'),
    "a NUL in a string": _leaf("home_team", "=", '"Arsenal\\u0000"'),
    "a surrogate in a field name": _leaf("leag\\udc80ue", "=", '"E0"'),
}


def _one_line_usage_error(code: int, err: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("filterbets: error: ")
    return lines[0]


@pytest.fixture
def urls(
    tmp_path: Path,
    migrated_sqlite_template: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """A fresh SQLite database and the session's PostgreSQL one, as CLI URLs."""
    import shutil

    # core.cli._say looks sys.stderr up per call, so capfd sees it.
    monkeypatch.setattr(core.cli, "_say", lambda m, stream=None: print(m, file=sys.stderr))
    sqlite = tmp_path / "cli.db"
    shutil.copyfile(migrated_sqlite_template, sqlite)
    postgres = request.getfixturevalue("migrated_postgres_url")
    if postgres is None:
        skip_or_fail_without_postgres("the bad-input tests compare both backends")
    return {"sqlite": f"sqlite:///{sqlite}", "postgresql": postgres}


def _run(url: str, capfd: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capfd.readouterr()
    try:
        code = main(["--database-url", url, "--user", "fuzz", *args])
    except SystemExit as exited:
        code = int(exited.code or 0)
    out, err = capfd.readouterr()
    return code, out, err


def _both(
    urls: dict[str, str], capfd: pytest.CaptureFixture[str], *args: str
) -> Iterator[tuple[int, str, str]]:
    for url in urls.values():
        yield _run(url, capfd, *args)


@pytest.mark.parametrize("case", list(CRASHERS))
def test_crashing_rules_are_one_line_usage_errors_on_both_backends(
    case: str, urls: dict[str, str], capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rules = CRASHERS[case]
    export = tmp_path / "export.json"
    export.write_text(
        '{"format": "filterbets.filter/1", "name": "fuzzed", "rules": ' + rules + "}",
        encoding="utf-8",
    )
    commands = {
        "backtest": ("backtest", "--market", "home", "--rules", rules),
        "filters create": ("filters", "create", "fuzzed", "--rules", rules),
        "filters import": ("filters", "import", str(export)),
        "jobs submit": ("jobs", "submit", "--market", "home", "--rules", rules),
    }
    for command, args in commands.items():
        answers = [
            _one_line_usage_error(code, err) for code, _out, err in _both(urls, capfd, *args)
        ]
        assert len(set(answers)) == 1, (command, answers)
    for url in urls.values():  # nothing was saved or queued
        assert "no filters yet" in _run(url, capfd, "filters", "list")[1]
        assert _run(url, capfd, "jobs", "list")[1].strip() == "no jobs"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("filters", "create", "a\x00b", "--rules", "[]"), "name: contains a NUL character"),
        (("filters", "create", "a\udcffb", "--rules", "[]"), "name: contains a lone surrogate"),
        (("filters", "create", "x", "--rules", "[]", "--stake", "NaN"), "stake: 'NaN' is not"),
        (("filters", "show", "a\x00b"), "no filter named 'a\\x00b'"),
        (("backtest", "--market", "home", "--rules", "[]", "--seasons", "2019\x00"), "seasons:"),
        (("backtest", "--market", "home", "--rules", "[]", "--bank", "1e999999"), "bank: at most"),
        (("--user", "bob\x00", "filters", "list"), "user: 'bob\\x00' contains a NUL"),
    ],
)
def test_text_no_database_can_store_is_refused_before_it_gets_there(
    args: tuple[str, ...], expected: str, urls: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    answers = []
    for url in urls.values():
        capfd.readouterr()
        try:
            code = main(["--database-url", url, *args])
        except SystemExit as exited:
            code = int(exited.code or 0)
        answers.append(_one_line_usage_error(code, capfd.readouterr().err))
    assert answers[0] == answers[1]
    assert expected in answers[0]


# The fuzzer: rule-shaped JSON with hostile values, and plain hostile text.

_any_text = st.text(st.characters(codec=None, categories=None), max_size=12)
_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**450), max_value=10**450)
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False)
    | _any_text
    | st.sampled_from(["E0", "2019-20", "2019-02-30", "1e400"]),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=8,
)
_leaves = st.fixed_dictionaries(
    {
        "field": st.sampled_from(sorted(FIELDS)) | _any_text,
        "op": st.sampled_from(OPS) | _any_text,
        "value": _values,
    }
)
_trees = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.builds(lambda kids: {"all": kids}, st.lists(inner, max_size=4))
        | st.builds(lambda kids: {"any": kids}, st.lists(inner, max_size=4))
        | st.builds(lambda kid: {"not": kid}, inner)
    ),
    max_leaves=10,
)


@st.composite
def _rules_text(draw: st.DrawFn) -> str:
    tree: Any = draw(_trees)
    for _ in range(draw(st.integers(0, 3)) * draw(st.sampled_from([1, 10, 400]))):
        tree = {"not": tree}
    text = json.dumps(tree, ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 9)) == 0:  # now and then, damage it
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(_any_text) + text[cut:]
    return text


def _check_one(text: str) -> None:
    try:
        validate_rules(_read_rules_argument(text))
    except RuleError as exc:
        message = str(exc)
        assert "\n" not in message
        message.encode("utf-8")  # printable: no lone surrogate reaches the terminal


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_rules_text() | _any_text)
def test_fuzzed_rules_are_a_value_or_a_one_line_error(text: str) -> None:
    _check_one(text)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(text=_rules_text())
def test_fuzzed_rules_get_the_same_answer_on_both_backends(
    text: str, urls: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    answers = list(_both(urls, capfd, "backtest", "--market", "home", "--json", "--rules", text))
    codes = {code for code, _out, _err in answers}
    assert len(codes) == 1 and codes <= {0, 2}, answers
    if codes == {2}:
        assert len({_one_line_usage_error(code, err) for code, _out, err in answers}) == 1
