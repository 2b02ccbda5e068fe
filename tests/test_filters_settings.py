"""A filter's backtest settings (market, odds source, staking) are saved with it, on both
backends: create, update, duplicate, export and import carry them, and a bad value is a
one-line error naming the field."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.filters import FilterError, FilterStore, clean_backtest_settings
from core.services import FilterBetsService

RULES = [{"field": "league", "op": "=", "value": "E0"}]


async def test_settings_are_saved_updated_duplicated_and_round_trip(
    service: FilterBetsService, tmp_path: Path
) -> None:
    store = FilterStore(service.db, service.user_id)
    created = await store.create(
        "Draws",
        RULES,
        backtest_settings={"market": "draw", "staking": "percent", "stake": "2", "bank": 50},
    )
    expected = {
        "market": "draw",
        "odds_source": "pinnacle",
        "staking": "percent",
        "stake": "2",
        "bank": "50",
        "kelly_fraction": 0.25,
        "kelly_cap": 0.05,
    }
    assert created.backtest_settings == expected
    assert (await store.get("Draws")).backtest_settings == expected
    assert (await store.list())[0].backtest_settings == expected

    # An update without settings keeps them; with settings replaces them.
    renamed = await store.update(created.id, name="Draws 2")
    assert renamed.backtest_settings == expected
    kelly = {"market": "away", "odds_source": "avg", "staking": "kelly", "kelly_fraction": 0.5}
    updated = await store.update(created.id, backtest_settings=kelly)
    assert updated.backtest_settings is not None
    assert updated.backtest_settings["staking"] == "kelly"
    assert updated.backtest_settings["kelly_fraction"] == 0.5
    assert (await store.get(created.id)).backtest_settings == updated.backtest_settings

    copy = await store.duplicate(created.id)
    assert copy.name == "Draws 2 (copy)"
    assert copy.backtest_settings == updated.backtest_settings

    document = store.export_document(await store.get(created.id))
    assert document["backtest_settings"] == updated.backtest_settings
    document["name"] = "Imported"
    path = tmp_path / "filter.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    imported = await store.import_file(path)
    assert imported.backtest_settings == updated.backtest_settings


async def test_filters_without_settings_stay_null(
    service: FilterBetsService, tmp_path: Path
) -> None:
    store = FilterStore(service.db, service.user_id)
    plain = await store.create("Plain", RULES)
    assert plain.backtest_settings is None
    assert (await store.duplicate(plain.id)).backtest_settings is None
    document = store.export_document(plain)
    assert "backtest_settings" not in document
    # An export from before settings were kept imports as a filter without any.
    document["name"] = "Old export"
    path = tmp_path / "old.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    assert (await store.import_file(path)).backtest_settings is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"market": "drw"}, "market: unknown market 'drw' (did you mean 'draw'?)"),
        ({"odds_source": "pinacle"}, "odds: unknown source 'pinacle'"),
        ({"staking": "martingale"}, "staking: unknown plan 'martingale'"),
        ({"stake": "-1"}, "stake: must be a positive number"),
        ({"staking": "percent", "stake": 150}, "stake: 150% of the bank"),
        ({"bank": "lots"}, "bank: 'lots' is not a number"),
        ({"kelly_fraction": "half"}, "kelly_fraction: 'half' is not a number"),
        ({"kelly_cap": 2}, "kelly-cap: 2.0 must be in (0, 1]"),
        ({"leagues": ["E0"]}, "leagues: not a backtest setting"),
        (["draw"], "backtest settings: expected an object"),
    ],
)
def test_bad_settings_name_the_field(settings: object, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        clean_backtest_settings(settings)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


async def test_bad_settings_are_refused_by_the_store(
    service: FilterBetsService, tmp_path: Path
) -> None:
    store = FilterStore(service.db, service.user_id)
    with pytest.raises(FilterError, match=r"^market: unknown market"):
        await store.create("Bad", RULES, backtest_settings={"market": "nope"})
    saved = await store.create("Good", RULES, backtest_settings={"market": "away"})
    with pytest.raises(FilterError, match=r"^staking: unknown plan"):
        await store.update(saved.id, backtest_settings={"staking": "double"})
    assert (await store.get(saved.id)).backtest_settings == saved.backtest_settings
    assert [f.name for f in await store.list()] == ["Good"]
    document = store.export_document(saved) | {"name": "Bad import"}
    document["backtest_settings"] = {"market": "away", "bank": -5}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(FilterError, match=r"bad\.json: backtest_settings: bank: must be"):
        await store.import_file(path)


def test_cli_create_takes_market_odds_and_staking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.cli

    # core.cli._say binds sys.stderr at import; send it to the stderr capsys sees.
    monkeypatch.setattr(
        core.cli, "_say", lambda message, stream=None: print(message, file=sys.stderr)
    )
    base = ["--database-url", f"sqlite:///{tmp_path / 'cli.db'}", "filters"]
    rules = json.dumps(RULES)
    assert main([*base, "create", "Aways", "--rules", rules, "--market", "away"]) == 0
    assert main([*base, "create", "Typo", "--rules", rules, "--market", "awya"]) != 0
    assert "market: unknown market 'awya' (did you mean 'away'?)" in capsys.readouterr().err
    assert main([*base, "export", "Aways"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["backtest_settings"]["market"] == "away"
    assert document["backtest_settings"]["staking"] == "flat"
    assert main([*base, "create", "Plain", "--rules", rules]) == 0
    assert main([*base, "export", "Plain"]) == 0
    assert "backtest_settings" not in json.loads(capsys.readouterr().out.split("\n", 1)[1])
