"""Removing a partial import: a league-season, or what an import added, from the CLI and
the Data screen; results and their ledgers stay; features of what remains stay right."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.backtest.engine import BacktestEngine
from core.backtest.request import BacktestRequest
from core.cli import main
from core.config import Settings
from core.errors import RemovalError
from core.features import compute_features
from core.features.service import _load, repair
from core.importing import removal as removal_module
from core.importing.removal import plan_imports, plan_league_season, remove
from core.importing.service import import_paths
from core.models import (
    FEATURE_COLUMNS,
    BacktestBet,
    BacktestResult,
    Fixture,
    FixtureFeatures,
    FixtureOdds,
)
from core.results import ResultStore
from core.services import FilterBetsService
from tests.conftest import real_file, shared_data

# Shipped in tests/data, so these tests run without the shared data folder.
E0_2018 = real_file("football/E0_2018-19.csv")
E0_2019 = real_file("football/E0_2019-20.csv")


async def count(service: FilterBetsService, table: Any, *where: Any) -> int:
    async with service.db.session() as session:
        return int(
            (await session.execute(select(func.count()).select_from(table).where(*where))).scalar()
            or 0
        )


async def assert_features_as_from_scratch(service: FilterBetsService) -> None:
    columns = [FixtureFeatures.fixture_id, *(getattr(FixtureFeatures, c) for c in FEATURE_COLUMNS)]
    async with service.db.session() as session:
        stored = {row[0]: tuple(row) for row in (await session.execute(select(*columns))).all()}
        fixtures, names = await _load(await session.connection())
    expected = {row[0]: tuple(row) for row in compute_features(fixtures, names)}
    assert stored.keys() == expected.keys()
    assert [i for i in expected if stored[i] != expected[i]] == []


async def ledger(service: FilterBetsService, result_id: int) -> list[tuple[Any, ...]]:
    async with service.db.session() as session:
        rows = await session.execute(
            select(BacktestBet.seq, BacktestBet.fixture_id, BacktestBet.odds, BacktestBet.profit)
            .where(BacktestBet.result_id == result_id)
            .order_by(BacktestBet.seq)
        )
        return [tuple(row) for row in rows]


async def test_a_league_season_goes_and_results_with_their_ledgers_stay(
    service: FilterBetsService,
) -> None:
    await import_paths(service.db, [E0_2018, E0_2019])
    run = await BacktestEngine(service.db, service.user_id).run(
        BacktestRequest(market="home", rules={"field": "odds.pinnacle.home", "op": "<", "value": 2})
    )
    bets = await ledger(service, run.result_id)
    assert len(bets) > 100

    plan = await plan_league_season(service.db, "E0", "2019-20")
    assert plan.describe() == (
        "E0 2019-20: 380 fixtures from 2019-08-09 to 2020-07-26, with their odds and team"
        " features, will be deleted; stored backtest results and their ledgers are kept"
    )
    assert await remove(service.db, plan) == 380
    assert await count(service, Fixture) == 380
    assert await count(service, Fixture, Fixture.season == "2019-20") == 0
    assert await count(service, FixtureOdds) == 380
    assert await count(service, BacktestResult) == 1
    assert await ledger(service, run.result_id) == bets  # the snapshot is untouched
    # The dashboard's ledger still lists every bet, those of deleted fixtures blank.
    shown = await ResultStore(service.db, service.user_id).ledger(run.result_id)
    assert [(row.seq, row.odds) for row in shown] == [(seq, odds) for seq, _f, odds, _p in bets]
    season_start = dt.date(2019, 8, 1)
    gone = [row for row in shown if row.kickoff_date >= season_start]
    kept = [row for row in shown if row.kickoff_date < season_start]
    assert gone and all((row.league, row.home, row.away) == ("", "", "") for row in gone)
    assert kept and all(row.league == "E0" and row.home for row in kept)
    await assert_features_as_from_scratch(service)
    with pytest.raises(RemovalError, match="no fixtures of E0 2019-20 \\(did you mean '2018-19'"):
        await plan_league_season(service.db, "E0", "2019-20")
    with pytest.raises(RemovalError, match="no league 'E9' in the database \\(did you mean 'E0'"):
        await plan_league_season(service.db, "E9", "2019-20")


async def test_an_import_takes_back_what_it_added_and_what_it_settled_moves_on(
    service: FilterBetsService,
) -> None:
    upcoming = shared_data("upcoming")
    history = upcoming / "history-2026-04-24" / "E0_2025-26.csv"
    first = await import_paths(service.db, [history])
    fixtures_file = await import_paths(
        service.db, [upcoming / "fixtures_2026-04-24..2026-04-27.nobom.csv"]
    )
    [history_import], [fixtures_import] = first.import_ids, fixtures_file.import_ids
    # The full season settles the 7 upcoming E0 fixtures: they pass to its import.
    season = await import_paths(service.db, [shared_data("football-recent/E0_2025-26.csv")])
    [season_import] = season.import_ids
    assert season.settled == 7

    plan = await plan_imports(service.db, [fixtures_import])
    assert plan.fixtures == 186 - 7 and plan.upcoming == 186 - 7
    assert plan.label.startswith(f"import #{fixtures_import} (fixtures_2026-04-24..")
    assert await remove(service.db, plan) == 179
    assert await count(service, Fixture, Fixture.result.is_(None)) == 0
    assert await count(service, Fixture) == 380
    await assert_features_as_from_scratch(service)
    # The season's import owns the 380 - 332 - 7 = 41 fixtures it added and the 7 it
    # settled; the history's import its 332.
    assert season.fixtures_added == 41
    assert await count(service, Fixture, Fixture.import_id == season_import) == 41 + 7
    assert (await plan_imports(service.db, [season_import])).fixtures == 48
    assert (await plan_imports(service.db, [history_import])).fixtures == 332


async def test_a_delete_that_dies_before_its_recompute_is_repaired(
    service: FilterBetsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crash point simulated: the delete commits, its recompute never runs."""
    await import_paths(service.db, [E0_2018, E0_2019])
    calls: list[object] = []

    async def never(*args: object) -> None:
        calls.append(args)

    monkeypatch.setattr(removal_module, "recompute_features", never)
    await remove(service.db, await plan_league_season(service.db, "E0", "2018-19"))
    assert calls
    # The 2019-20 matches of the teams that played in 2018-19 read as work left ...
    assert await count(service, FixtureFeatures) < await count(service, Fixture) == 380
    done = await repair(service.db)
    assert done is not None and done.fixtures > 300
    await assert_features_as_from_scratch(service)


async def test_a_plan_that_no_longer_matches_deletes_nothing(service: FilterBetsService) -> None:
    await import_paths(service.db, [E0_2018])
    plan = await plan_league_season(service.db, "E0", "2018-19")
    stale = type(plan)(**{**plan.__dict__, "fixtures": plan.fixtures - 1})
    with pytest.raises(RemovalError, match=r"379 confirmed .* nothing deleted"):
        await remove(service.db, stale)
    assert await count(service, Fixture) == 380


def test_the_cli_names_what_goes_and_asks_for_yes(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'del.db'}"
    assert main(["--database-url", url, "import", "--quiet", str(E0_2018), str(E0_2019)]) == 0
    capfd.readouterr()
    assert main(["--database-url", url, "data", "imports"]) == 0
    listed = capfd.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == ["2", "1"]
    assert listed[0].endswith("E0_2019-20.csv  380 fixtures added")
    # Not a terminal and no --yes: it says what would go and deletes nothing.
    assert main(["--database-url", url, "data", "delete", "--import", "2"]) == 2
    err = capfd.readouterr().err
    assert "import #2 (E0_2019-20.csv" in err and err.rstrip().endswith("add --yes to delete")
    assert main(["--database-url", url, "data", "delete", "--league", "E0"]) == 2
    assert "give --league CODE --season SEASON, or --import ID" in capfd.readouterr().err
    assert main(["--database-url", url, "data", "delete", "--import", "2", "--yes"]) == 0
    out = capfd.readouterr().out
    assert out.startswith("deleted 380 fixtures of import #2 (E0_2019-20.csv")
    assert main(["--database-url", url, "data", "imports"]) == 0
    assert "380 fixtures added, 0 left" in capfd.readouterr().out


async def test_the_import_record_is_written_with_the_files_rows(settings: Settings) -> None:
    """A refused file leaves no import record behind."""
    service = await FilterBetsService.open(settings, migrate=False)
    try:
        if settings.backend == "postgresql":
            from tests.conftest import wipe_all_tables

            await wipe_all_tables(service)
        summary = await import_paths(service.db, [real_file("football-corrupt")])
        assert summary.import_ids == []
        assert await removal_module.list_imports(service.db) == []
    finally:
        await service.close()
