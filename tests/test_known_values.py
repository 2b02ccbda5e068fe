"""A league, country or team the database does not hold, named in a rule, is the same "did you
mean" error as `--leagues XX`; it ran and placed no bets before."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

import core.cli
from core.cli import main
from core.config import Settings
from core.errors import RuleError
from core.filters import FilterStore
from core.rules.known import check_known_values, unknown_value_errors
from core.services import FilterBetsService
from tests.conftest import wipe_all_tables
from tests.jobs_support import seed_small, sync_url

KNOWN = {
    "league": {"E0", "SP1"},
    "country": {"England", "Spain"},
    "team": {"Arsenal", "Chelsea", "Wolves"},
}


def test_unknown_values_of_closed_sets_are_located_with_a_suggestion() -> None:
    rules = {
        "all": [
            {"field": "league", "op": "in", "value": ["E0", "sp1"]},
            {"field": "country", "op": "=", "value": "Englnd"},
            {"field": "home_team", "op": "=", "value": "Arsenal"},
            {"any": [{"field": "away_team", "op": "in", "value": ["Chelsae"]}]},
        ]
    }
    assert [str(error) for error in unknown_value_errors(rules, KNOWN)] == [
        "rules.all[0]: no league 'sp1' in the database (did you mean 'SP1'?)",
        "rules.all[1]: no country 'Englnd' in the database (did you mean 'England'?)",
        "rules.all[3].any[0]: no team 'Chelsae' in the database (did you mean 'Chelsea'?)",
    ]
    with pytest.raises(RuleError, match=r"no league 'EPL' in the database$"):
        check_known_values({"field": "league", "op": "=", "value": "EPL"}, KNOWN)


def test_exclusions_and_ranges_are_not_checked() -> None:
    """`league != "XX"` is how people write "every league"; a range names no one team."""
    for rules in (
        {"field": "league", "op": "!=", "value": "XX"},
        {"field": "league", "op": "not_in", "value": ["XX"]},
        {"field": "home_team", "op": "between", "value": ["A", "M"]},
        {"field": "country", "op": "is_null"},
    ):
        check_known_values(rules, KNOWN)


async def _seeded(settings: Settings) -> None:
    service = await FilterBetsService.open(settings, migrate=False)
    try:
        await wipe_all_tables(service)  # PostgreSQL's test database is shared
        await seed_small(service)
    finally:
        await service.close()


def _rule(field: str, value: str) -> str:
    return json.dumps({"field": field, "op": "=", "value": value})


def test_a_rule_on_an_unknown_league_reads_as_leagues_does(
    settings: Settings, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_seeded(settings))
    monkeypatch.setattr(core.cli, "_say", lambda m, stream=None: print(m, file=sys.stderr))

    def run(*args: str) -> tuple[int, str]:
        capfd.readouterr()
        code = main(["--database-url", sync_url(settings), "--user", "tester", *args])
        return code, capfd.readouterr().err.strip()

    by_rule = run("backtest", "--market", "home", "--rules", _rule("league", "e0"))
    by_option = run("backtest", "--market", "home", "--rules", "[]", "--leagues", "e0")
    assert by_rule == (
        2,
        "filterbets: error: rules: no league 'e0' in the database (did you mean 'E0'?)",
    )
    assert by_option == (
        2,
        "filterbets: error: leagues: no league 'e0' in the database (did you mean 'E0'?)",
    )
    code, err = run("backtest", "--market", "home", "--rules", _rule("home_team", "Arsenl"))
    assert (code, err) == (
        2,
        "filterbets: error: rules: no team 'Arsenl' in the database (did you mean 'Arsenal'?)",
    )
    code, err = run("filters", "create", "epl", "--rules", _rule("league", "EPL"))
    assert (code, err) == (2, "filterbets: error: rules: no league 'EPL' in the database")
    assert run("filters", "show", "epl")[0] == 2  # not saved
    assert run("backtest", "--market", "away", "--rules", _rule("league", "E0"))[0] == 0


async def test_a_filter_saved_before_any_import_is_not_refused(
    service: FilterBetsService,
) -> None:
    store = FilterStore(service.db, service.user_id)
    saved = await store.create("premier", {"field": "league", "op": "=", "value": "E0"})
    assert saved.rules == {"field": "league", "op": "=", "value": "E0"}
    await seed_small(service)
    with pytest.raises(RuleError, match="no league 'I1' in the database"):
        await store.update(saved.id, rules={"field": "league", "op": "in", "value": ["I1"]})
