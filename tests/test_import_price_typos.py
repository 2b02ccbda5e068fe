"""Obvious price typos are stored as missing with a warning, never bet: a bookmaker's
group whose prices imply an impossible margin, and a maximum far above the average."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from core.backtest.engine import BacktestEngine
from core.backtest.request import BacktestRequest
from core.importing.football_data import ODDS_VALUE_COLUMNS, parse_file
from core.importing.service import import_paths
from core.models import BacktestBet, Fixture, FixtureOdds
from core.services import FilterBetsService
from tests.conftest import real_file

SP1 = "football/SP1_2009-10.csv"  # shipped in tests/data
HEADER = "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,B365H,B365D,B365A,AvgH,AvgD,AvgA,MaxH,MaxD,MaxA"


def odds(row: object, column: str) -> float | None:
    return row.odds[ODDS_VALUE_COLUMNS.index(column)]  # type: ignore[attr-defined]


def test_the_real_typos_are_missing_with_a_warning_and_the_rest_of_the_row_kept() -> None:
    parsed = parse_file(real_file(SP1))
    line2 = next(row for row in parsed.rows if row.line == 2)
    line147 = next(row for row in parsed.rows if row.line == 147)
    # BbMxAHH = 9 where the average is 1.92; the average pair implies a -36% margin.
    assert odds(line2, "max_ah_home") is None
    assert (odds(line2, "avg_ah_home"), odds(line2, "avg_ah_away")) == (None, None)
    assert (odds(line2, "b365_home"), odds(line2, "max_home")) == (1.25, 1.26)
    # BbMx>2.5 = 181; BbAv>2.5 = 7.30 beside BbAv<2.5 = 1.87.
    assert odds(line147, "max_over25") is None
    assert (odds(line147, "avg_over25"), odds(line147, "avg_under25")) == (None, None)
    assert odds(line147, "max_under25") == 1.96
    assert "SP1_2009-10.csv:2: BbMxAHH: 9: far above the average price 1.92 (BbAvAHH), a typo?" \
        " (stored as missing)" in parsed.warnings  # fmt: skip
    assert (
        "SP1_2009-10.csv:147: BbAv>2.5/BbAv<2.5: 7.3/1.87: the prices imply a bookmaker margin"
        " of -32.8%, outside -2% to +30%, a typo? (stored as missing)" in parsed.warnings
    )


@pytest.mark.parametrize(
    ("prices", "missing", "detail"),
    [
        # Ordinary: a 5% margin, a long shot's maximum twice its average.
        ("1.9,3.5,4.2,1.88,3.45,4.1,2.0,3.6,4.4", [], None),
        ("1.1,12,30,1.1,11.5,30.5,1.12,13,60", [], None),
        # Bet365's group sums to 1.35: all three missing.
        ("1.3,3.0,4.0,1.88,3.45,4.1,2.0,3.6,4.4", ["b365_home", "b365_draw", "b365_away"],
         "B365H/B365D/B365A: 1.3/3/4: the prices imply a bookmaker margin of +35.3%"),
        # The average away at 41 instead of 4.1: the average group goes (margin -15.4%).
        ("1.9,3.5,4.2,1.88,3.45,41,2.0,3.6,4.4", ["avg_home", "avg_draw", "avg_away"],
         "AvgH/AvgD/AvgA: 1.88/3.45/41: the prices imply a bookmaker margin of -15.4%"),
        # A maximum of 9 against an average of 1.88: that price alone goes.
        ("1.9,3.5,4.2,1.88,3.45,4.1,9,3.6,4.4", ["max_home"],
         "MaxH: 9: far above the average price 1.88 (AvgH), a typo? (stored as missing)"),
    ],
)  # fmt: skip
def test_margin_and_maximum_rules(
    tmp_path: Path, prices: str, missing: list[str], detail: str | None
) -> None:
    path = tmp_path / "E0_2019-20.csv"
    path.write_text(f"{HEADER}\nE0,10/08/2019,A,B,1,0,{prices}\n")
    parsed = parse_file(path)
    [row] = parsed.rows
    columns = [
        f"{source}_{s}" for source in ("b365", "avg", "max") for s in ("home", "draw", "away")
    ]
    assert [c for c in columns if odds(row, c) is None] == missing
    if detail is None:
        assert parsed.warnings == []
    else:
        [warning] = parsed.warnings
        assert warning.startswith(f"E0_2019-20.csv:2: {detail}")


async def test_a_typo_is_never_bet_and_the_import_reports_it(service: FilterBetsService) -> None:
    summary = await import_paths(service.db, [real_file(SP1)])
    typos = [w for w in summary.warnings if "a typo?" in w.detail]
    assert {w.line for w in typos} >= {2, 147}
    async with service.db.session() as session:
        real_madrid = (
            await session.execute(
                select(Fixture.id, FixtureOdds.max_ah_home)
                .join(FixtureOdds, FixtureOdds.fixture_id == Fixture.id)
                .where(Fixture.kickoff_date == dt.date(2009, 8, 29), Fixture.home_goals == 3)
            )
        ).one()
    assert real_madrid.max_ah_home is None
    request = BacktestRequest(
        market="ah_home",
        odds_source="max",
        rules={"field": "odds.max.ah_home", "op": ">", "value": 1.0},
    )
    run = await BacktestEngine(service.db, service.user_id).run(request)
    async with service.db.session() as session:
        prices = dict(
            (
                await session.execute(
                    select(BacktestBet.fixture_id, BacktestBet.odds).where(
                        BacktestBet.result_id == run.result_id
                    )
                )
            ).all()
        )
    assert run.metrics["bets"] == len(prices) > 300
    assert real_madrid.id not in prices
