"""ResultStore on SQLite and PostgreSQL: lists, detail, ledger pages, exports, summaries."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.backtest.engine import BacktestEngine
from core.backtest.request import BacktestRequest
from core.filters import FilterStore
from core.models import BacktestBet
from core.results import (
    ResultError,
    ResultStore,
    default_export_path,
    export_paths,
    summary_text,
)
from core.services import FilterBetsService
from tests.factories import add_fixtures

AWAY_2_TO_3 = {"field": "odds.pinnacle.away", "op": "between", "value": [2.0, 3.0]}
HOME_UNDER_2 = {"field": "odds.pinnacle.home", "op": "<", "value": 2.0}


def _match(
    date: str, home: str, away: str, goals: tuple[int, int], league: str = "E0", **odds: float
) -> dict[str, Any]:
    season = "2019-20" if date < "2020-07-01" else "2020-21"
    return {
        "league": league,
        "season": season,
        "date": date,
        "home": home,
        "away": away,
        "goals": goals,
        "odds": odds,
    }


async def seed(service: FilterBetsService) -> None:
    """Five away bets (3 wins) for AWAY_2_TO_3 and two home bets for HOME_UNDER_2."""
    await add_fixtures(
        service,
        [
            _match("2019-08-10", "Arsenal", "Burnley", (0, 1), pinnacle_away=2.5),
            _match("2019-08-11", "Chelsea", "Everton", (2, 0), pinnacle_away=2.0),
            _match("2019-08-13", "Wolves", "Spurs", (1, 3), pinnacle_away=3.0),
            _match("2020-09-12", "Alavés", "Éibar", (1, 2), league="SP1", pinnacle_away=2.2),
            _match("2020-09-13", "Leeds", "Fulham", (1, 1), pinnacle_away=2.8),
            _match("2019-08-17", "Stoke", "QPR", (2, 0), league="E1", pinnacle_home=1.5),
            _match("2019-08-18", "Barnsley", "Reading", (0, 0), league="E1", pinnacle_home=1.8),
        ],
    )


async def run(service: FilterBetsService, market: str, rules: Any, name: str) -> int:
    store = FilterStore(service.db, service.user_id)
    saved = await store.create(name, rules)
    engine = BacktestEngine(service.db, service.user_id)
    result = await engine.run(BacktestRequest(market=market, filter_ref=str(saved.id)))
    return result.result_id


async def test_list_sorts_by_yield_profit_bets_and_date(service: FilterBetsService) -> None:
    await seed(service)
    away = await run(service, "away", AWAY_2_TO_3, "Away 2-3")  # 5 bets, +2.70, +54%
    home = await run(service, "home", HOME_UNDER_2, "Home fav")  # 2 bets, -0.50, -25%
    no_bets = {"field": "odds.pinnacle.home", "op": ">", "value": 999}
    empty = await run(service, "home", no_bets, "None")
    results = ResultStore(service.db, service.user_id)

    by_date = await results.list_results("date")
    assert [r.id for r in by_date] == [empty, home, away]
    assert [r.id for r in await results.list_results("date", desc=False)] == [away, home, empty]

    by_yield = await results.list_results("yield")
    # No bets, no yield: last both ways.
    assert [r.id for r in by_yield] == [away, home, empty]
    assert [r.id for r in await results.list_results("yield", desc=False)] == [home, away, empty]

    assert [r.id for r in await results.list_results("profit")] == [away, empty, home]
    assert [r.id for r in await results.list_results("bets")] == [away, home, empty]

    first = by_yield[0]
    assert (first.filter_name, first.market, first.odds_source, first.staking) == (
        "Away 2-3",
        "away",
        "pinnacle",
        "flat",
    )
    assert (first.bets, first.profit) == (5, Decimal("2.7"))
    assert first.yield_ == pytest.approx(2.7 / 5)

    with pytest.raises(ResultError, match="sort"):
        await results.list_results("odds")  # type: ignore[arg-type]


async def test_detail_and_other_users_results(service: FilterBetsService) -> None:
    await seed(service)
    result_id = await run(service, "away", AWAY_2_TO_3, "Away 2-3")
    detail = await ResultStore(service.db, service.user_id).get(result_id)
    assert detail.rules == AWAY_2_TO_3
    assert detail.metrics["bets"] == 5
    assert {s["key"] for s in detail.metrics["splits"]["league"]} == {"E0", "SP1"}
    assert detail.request["market"] == "away"
    assert detail.data_fingerprint["fixtures_in_scope"] == 7

    stranger = ResultStore(service.db, service.user_id + 999)
    with pytest.raises(ResultError, match=f"no result #{result_id}"):
        await stranger.get(result_id)
    with pytest.raises(ResultError):
        await stranger.ledger_page(result_id)
    assert await stranger.list_results() == []


async def test_ledger_pages_carry_the_fixture_and_sort(service: FilterBetsService) -> None:
    await seed(service)
    result_id = await run(service, "away", AWAY_2_TO_3, "Away 2-3")
    results = ResultStore(service.db, service.user_id)

    first = await results.ledger_page(result_id, offset=0, limit=2)
    assert (first.total, first.page, first.pages) == (5, 1, 3)
    assert [row.label for row in first.rows] == [
        "2019-08-10 E0 Arsenal v Burnley",
        "2019-08-11 E0 Chelsea v Everton",
    ]
    top = first.rows[0]
    assert (top.seq, top.odds, top.stake, top.outcome, top.profit) == (
        1,
        2.5,
        Decimal("1"),
        "win",
        Decimal("1.5"),
    )
    last = await results.ledger_page(result_id, offset=4, limit=2)
    assert last.page == 3
    assert [row.fixture for row in last.rows] == ["Leeds v Fulham"]
    assert last.rows[0].outcome == "loss"

    by_odds = await results.ledger_page(result_id, limit=10, sort_by="odds", desc=True)
    assert [row.odds for row in by_odds.rows] == [3.0, 2.8, 2.5, 2.2, 2.0]
    by_fixture = await results.ledger_page(result_id, limit=10, sort_by="fixture")
    assert [row.home for row in by_fixture.rows] == [
        "Alavés",
        "Arsenal",
        "Chelsea",
        "Leeds",
        "Wolves",
    ]
    by_profit = await results.ledger_page(result_id, limit=10, sort_by="profit")
    # Two losses (-1 each) first, in bet order, then the wins.
    assert [(row.profit, row.seq) for row in by_profit.rows][:2] == [
        (Decimal("-1"), 2),
        (Decimal("-1"), 5),
    ]
    with pytest.raises(ResultError, match="page"):
        await results.ledger_page(result_id, offset=-1)


async def test_csv_export_writes_ledger_metrics_and_splits_and_never_overwrites(
    service: FilterBetsService, tmp_path: Path
) -> None:
    await seed(service)
    result_id = await run(service, "away", AWAY_2_TO_3, "Away 2-3")
    results = ResultStore(service.db, service.user_id)
    target = default_export_path(result_id, "csv", tmp_path)
    assert target == tmp_path / f"result-{result_id}.csv"

    written = await results.export(result_id, target, "csv")
    assert written.paths == export_paths(target, "csv")
    assert written.bets == 5
    with target.open(newline="", encoding="utf-8") as handle:
        ledger = list(csv.DictReader(handle))
    assert [row["home"] for row in ledger] == ["Arsenal", "Chelsea", "Wolves", "Alavés", "Leeds"]
    assert ledger[3] == {
        "seq": "4",
        "date": "2020-09-12",
        "league": "SP1",
        "home": "Alavés",
        "away": "Éibar",
        "odds": "2.2",
        "stake": "1.00",
        "outcome": "win",
        "profit": ledger[3]["profit"],
        "bank_after": "",
        "fixture_id": ledger[3]["fixture_id"],
    }
    assert Decimal(ledger[3]["profit"]) == Decimal("1.2")

    metrics_rows = list(csv.reader(written.paths[1].open(encoding="utf-8")))
    metrics = dict(row for row in metrics_rows[1:] if row[0] != "warning")
    assert metrics_rows[0] == ["metric", "value"]
    assert metrics["result_id"] == str(result_id)
    assert metrics["filter"] == "Away 2-3"
    assert metrics["bets"] == "5"
    assert float(metrics["profit"]) == pytest.approx(2.7)
    assert ["warning", "fewer than 30 bets: results are noise"] in metrics_rows

    splits = list(csv.DictReader(written.paths[2].open(encoding="utf-8")))
    seasons = {row["key"]: row for row in splits if row["split"] == "season"}
    assert set(seasons) == {"2019-20", "2020-21"}
    assert seasons["2019-20"]["bets"] == "3"

    # The same target again: refused, nothing touched; the next default name is free.
    before = target.read_bytes()
    with pytest.raises(ResultError, match="not overwriting"):
        await results.export(result_id, target, "csv")
    assert target.read_bytes() == before
    assert default_export_path(result_id, "csv", tmp_path).name == f"result-{result_id}-2.csv"
    again = await results.export(result_id, target, "csv", overwrite=True)
    assert again.paths[0].read_bytes() == before


async def test_json_export_is_one_document(service: FilterBetsService, tmp_path: Path) -> None:
    await seed(service)
    result_id = await run(service, "away", AWAY_2_TO_3, "Away 2-3")
    results = ResultStore(service.db, service.user_id)
    target = tmp_path / "away.json"
    written = await results.export(result_id, target, "json")
    assert written.paths == (target,)
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["format"] == "filterbets.result/1"
    assert document["result"]["id"] == result_id
    assert document["rules"] == AWAY_2_TO_3
    assert document["metrics"]["bets"] == 5
    assert [bet["outcome"] for bet in document["ledger"]] == ["win", "loss", "win", "win", "loss"]
    assert document["ledger"][0]["home"] == "Arsenal"

    with pytest.raises(ResultError, match="no such folder"):
        await results.export(result_id, tmp_path / "missing" / "x.json", "json")


async def test_summary_text_for_the_clipboard(service: FilterBetsService) -> None:
    await seed(service)
    result_id = await run(service, "away", AWAY_2_TO_3, "Away 2-3")
    results = ResultStore(service.db, service.user_id)
    text = await results.summary_text(result_id)
    lines = text.splitlines()
    assert lines[0].startswith(f"FilterBets result #{result_id}: Away 2-3 (")
    assert lines[1] == "market away at pinnacle odds, flat 1.00"
    assert "bets 5 (W 3 / L 2)" in lines[2]
    assert "profit +2.70 units, yield +54.00%" in lines[3]
    assert any(line.startswith("rules {") for line in lines)
    assert "warning: fewer than 30 bets: results are noise" in lines
    assert text == summary_text(await results.get(result_id))


async def _ledger_size(service: FilterBetsService, result_id: int) -> int:
    async with service.db.session() as session:
        query = select(func.count()).where(BacktestBet.result_id == result_id)
        return int((await session.execute(query)).scalar_one())


async def test_delete_removes_the_result(service: FilterBetsService) -> None:
    await seed(service)
    result_id = await run(service, "away", AWAY_2_TO_3, "Away 2-3")
    results = ResultStore(service.db, service.user_id)
    assert await _ledger_size(service, result_id) > 0
    await results.delete(result_id)
    assert await results.list_results() == []
    assert await _ledger_size(service, result_id) == 0  # the trigger took the ledger too
    with pytest.raises(ResultError):
        await results.delete(result_id)
