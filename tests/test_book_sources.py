"""Every bookmaker as an odds source, the best price among books a user holds, and the
exchange's commission, on both backends."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from core.backtest.engine import BacktestEngine
from core.backtest.request import BacktestRequest, RequestError
from core.services import FilterBetsService
from tests.factories import add_fixtures, random_fixture_specs
from tests.test_flat_path import _assert_same, _ledger, reference_run


def _match(day: int, goals: tuple[int, int], odds: dict[str, float]) -> dict[str, Any]:
    return {
        "league": "E0",
        "season": "2019-20",
        "date": f"2019-09-{day:02d}",
        "home": f"Home {day}",
        "away": f"Away {day}",
        "goals": goals,
        "odds": odds,
    }


EVERY_HOME = {"field": "league", "op": "=", "value": "E0"}


@pytest.mark.parametrize(("source", "staking"), [("wh", "flat"), ("wh_close", "percent")])
async def test_a_run_at_another_books_prices_equals_the_reference(
    service: FilterBetsService, source: str, staking: str
) -> None:
    await add_fixtures(service, random_fixture_specs(150, seed=41))
    request = BacktestRequest(
        market="home", rules={"field": f"odds.{source}.home", "op": ">", "value": 1.5},
        odds_source=source, staking=staking,
    )  # fmt: skip
    run = await BacktestEngine(service.db, service.user_id).run(request)
    metrics, reference_id = await reference_run(service, request)
    assert run.metrics["bets"] > 10
    _assert_same(run.metrics, metrics)
    assert await _ledger(service, run.result_id) == await _ledger(service, reference_id)


async def test_the_best_price_among_the_books_a_user_holds(service: FilterBetsService) -> None:
    await add_fixtures(
        service,
        [
            _match(1, (1, 0), {"b365_home": 2.0, "wh_home": 2.2}),  # William Hill's 2.2 taken
            _match(2, (0, 1), {"b365_home": 3.0}),  # only Bet365 prices it: 3.0, lost
            _match(3, (2, 2), {"wh_home": 1.5}),  # only William Hill: 1.5, lost
            _match(4, (3, 1), {"pinnacle_home": 9.0}),  # neither book: not bet
        ],
    )
    run = await BacktestEngine(service.db, service.user_id).run(
        BacktestRequest(market="home", rules=EVERY_HOME, odds_source="best:b365,wh")
    )
    ledger = await _ledger(service, run.result_id)
    assert [row[3] for row in ledger] == [2.2, 3.0, 1.5]
    assert run.metrics["skipped_no_odds"] == 1 and run.metrics["profit"] == pytest.approx(-0.8)
    assert run.metrics["odds_source"] == "best:b365,wh"


async def test_an_exchange_win_pays_its_commission(service: FilterBetsService) -> None:
    await add_fixtures(
        service,
        [
            _match(1, (1, 0), {"bfe_home": 3.0}),
            _match(2, (2, 0), {"bfe_home": 1.81}),
            _match(3, (0, 0), {"bfe_home": 2.5}),
        ],
    )
    engine = BacktestEngine(service.db, service.user_id)
    default = await engine.run(BacktestRequest(market="home", rules=EVERY_HOME, odds_source="bfe"))
    # Wins pay 95% of their winnings: 2 * 0.95 + 0.81 * 0.95 - 1 = 1.6695.
    assert default.metrics["profit"] == 1.6695
    assert default.request["commission"] == "0.05"
    two = await engine.run(
        BacktestRequest(market="home", rules=EVERY_HOME, odds_source="bfe", commission="0.02")
    )
    assert two.metrics["profit"] == pytest.approx(2.81 * 0.98 - 1)
    # Bank-based plans pay it too.
    percent = await engine.run(
        BacktestRequest(
            market="home", rules=EVERY_HOME, odds_source="bfe", staking="percent", stake="10"
        )
    )
    # 10% of 100 at 3.0: 10 * 2 * 0.95 = 19; of 119 at 1.81: 11.90 * 0.81 * 0.95 = 9.15705,
    # 9.1570 to 4 dp (half to even); of 128.157: 12.82 lost.
    ledger = await _ledger(service, percent.result_id)
    assert [row[6] for row in ledger] == [
        Decimal("19.0000"),
        Decimal("9.1570"),
        Decimal("-12.8200"),
    ]


@pytest.mark.parametrize(
    ("source", "commission", "message"),
    [
        ("willhill", None, "unknown source 'willhill'"),
        ("best:b365", None, "names at least two books"),
        ("best:b365,bfe", None, "bet the exchange 'bfe' on its own"),
        ("best:b365,whh", None, "no book 'whh' \\(did you mean 'wh'\\?\\)"),
        ("b365", "0.05", "only an exchange's winnings pay commission"),
        ("bfe", "1.5", "commission: must be a fraction"),
    ],
)
def test_bad_sources_and_commissions_are_one_line_errors(
    source: str, commission: str | None, message: str
) -> None:
    with pytest.raises(RequestError, match=message) as error:
        BacktestRequest(
            market="home", rules=EVERY_HOME, odds_source=source, commission=commission
        ).validated()
    assert "\n" not in str(error.value)
