"""Strategy sweeps in memory: the shared grid in strategy terms, each variant equal to its
single run, and what the luck report reads (periods, date blocks, the walk-forward)
checked against an independent reading of the trades."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from core.backtest.grid import GridError
from core.backtest.luck_report import luck_summary
from core.backtest.request import RequestError
from core.backtest.stats import one_sided_t_test
from core.candles.execution import PriceSeries
from core.candles.parse import read_candle_file
from core.candles.request import StrategyRequest
from core.candles.run import run_strategy
from core.candles.strategies import STRATEGIES
from core.candles.sweep import (
    StrategySweepRequest,
    calendar_periods,
    check_strategy_grid,
    sweep_strategy,
)
from tests.conftest import shared_data

HOURLY = "klines/bybit/ETHUSDT-1h-2023-12..2026-02.csv"


@pytest.fixture(scope="module")
def bars() -> tuple[PriceSeries, np.ndarray]:
    # Asked for here, not in a function-scoped fixture: a module fixture is set up first, so
    # only this call can skip its tests without the shared data folder (or fail them in CI).
    raw = read_candle_file(shared_data(HOURLY))
    keep = slice(0, 6_000)  # about eight months
    prices = PriceSeries(raw.open[keep], raw.high[keep], raw.low[keep], raw.close[keep])
    return prices, raw.open_us[keep] // 1000


def _request(strategy: str, grid: Any, **options: Any) -> StrategySweepRequest:
    fixed = options.pop("params", {})
    base = StrategyRequest("ETHUSDT", "1h", strategy, fixed, **options.pop("run", {}))
    return StrategySweepRequest(base, grid, **options).validated()


def test_the_grid_runs_in_order_with_the_last_parameter_fastest() -> None:
    grid = check_strategy_grid(
        STRATEGIES["sma_cross"], {"fast": [5, 10], "slow": {"from": 20, "to": 40, "step": 10}}, {}
    )
    assert [(v["fast"], v["slow"]) for v in grid] == [
        (5, 20),
        (5, 30),
        (5, 40),
        (10, 20),
        (10, 30),
        (10, 40),
    ]
    bands = check_strategy_grid(
        STRATEGIES["bollinger"], {"k": {"from": 1.5, "to": 3.0, "step": 0.1}}, {}
    )
    assert bands.values[0][-1] == 3.0 and bands.size == 16
    whole = check_strategy_grid(STRATEGIES["rsi"], {"period": [7.0, 14]}, {})
    assert [type(v) for v in whole.values[0]] == [int, int]  # typed as the parameter is
    request = _request("rsi", {"lower": [20, 25]}, params={"upper": 80})
    assert request.variant_params({"lower": 20.0}) == {"period": 14, "lower": 20.0, "upper": 80.0}


@pytest.mark.parametrize(
    ("grid", "fixed", "message"),
    [
        ({"fats": [5]}, {}, "grid: parameter 'fats': sma_cross has no such parameter"),
        ({"fast": []}, {}, "grid: parameter 'fast' has an empty list"),
        ({"fast": {"from": 5, "to": 9, "step": 0}}, {}, "parameter 'fast': range step must be"),
        ({"fast": [5.5]}, {}, "grid: parameter 'fast': 5.5 is not a whole number"),
        ({"fast": [0]}, {}, "grid: parameter 'fast': 0 is outside 1..10000"),
        ({"fast": [5]}, {"fast": 7}, "grid: parameter 'fast' is also fixed in the params"),
        (
            {"fast": list(range(1, 1001)), "slow": list(range(1, 1002))},
            {},
            "more than 1,000,000 variants",
        ),
    ],
)
def test_bad_grids_are_one_line_naming_the_parameter(
    grid: dict[str, Any], fixed: dict[str, Any], message: str
) -> None:
    with pytest.raises(GridError, match=message) as error:
        _request("sma_cross", grid, params=fixed)
    assert "\n" not in str(error.value)


def test_a_bad_option_is_refused_naming_it() -> None:
    with pytest.raises(RequestError, match="periods: 'week' is not month or quarter"):
        _request("sma_cross", {"fast": [5]}, periods="week")
    with pytest.raises(RequestError, match="pbo-blocks: must be an even number"):
        _request("sma_cross", {"fast": [5]}, pbo_blocks=3)
    # Fixed parameters that break the rule with the defaults are a variant's matter.
    request = _request("sma_cross", {"fast": [2, 3]}, params={"slow": 4})
    assert request.base.params == {"slow": 4}


def test_each_variant_equals_its_single_run(bars: tuple[PriceSeries, np.ndarray]) -> None:
    prices, open_ms = bars
    request = _request(
        "sma_cross",
        {"fast": [5, 12, 30], "slow": [20, 50]},
        run={"stop_loss_pct": 4, "long_short": True},
    )
    sweep = sweep_strategy(prices, open_ms, 60, request)
    assert len(sweep.variants) == 6
    skipped = [v for v in sweep.variants if v.skipped]
    assert [v.params for v in skipped] == [{"fast": 30, "slow": 20}]
    assert skipped[0].trades == 0 and skipped[0].skipped == "fast (30) must be less than slow (20)"
    assert skipped[0].row()["yield"] is None and skipped[0].row()["total_return"] is None
    for variant in sweep.variants:
        if variant.skipped:
            continue
        params = request.variant_params(variant.params)
        alone = run_strategy(prices, STRATEGIES["sma_cross"], params, request.base.options(), 60)
        assert variant.metrics is not None
        assert variant.metrics["final_equity"] == alone.metrics["final_equity"]
        assert variant.metrics["trades"] == alone.metrics["trades"] == variant.trades
        row = variant.row()
        assert row["bets"] == row["trades"] == variant.trades
        assert row["profit"] == pytest.approx(alone.metrics["final_equity"] - 10_000, abs=1e-3)
        entry_values = alone.execution.units * alone.execution.fills.entry_price
        assert row["staked"] == pytest.approx(float(entry_values.sum()), abs=1e-2)
        assert row["yield"] == pytest.approx(row["profit"] / row["staked"])


def _month(ms: int) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return f"{moment.year}-{moment.month:02d}"


def _day(ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date()


Cells = dict[Any, list[Any]]
_TOTALS = ("bets", "profit_units", "staked_units")


def _read_trades(
    prices: PriceSeries, open_ms: np.ndarray, request: StrategySweepRequest, params: Any
) -> tuple[Cells, Cells]:
    """Independently of the sweep: a variant's single run, its trades placed by the month
    and the day of their exit bars, each as [trades, profit, stake (0.0001 units), returns]."""
    strategy = request.strategy
    full = request.variant_params(params)
    by_month: Cells = defaultdict(lambda: [0, 0, 0, []])
    by_day: Cells = defaultdict(lambda: [0, 0, 0, []])
    if strategy.relation(full) is not None:
        return by_month, by_day
    execution = run_strategy(prices, strategy, full, request.base.options(), 60).execution
    for bar, profit, units, price, cash in zip(
        execution.fills.exit_bar.tolist(),
        execution.profit.tolist(),
        execution.units.tolist(),
        execution.fills.entry_price.tolist(),
        execution.cash_before.tolist(),
        strict=True,
    ):
        ms = int(open_ms[bar])
        for cells, key in ((by_month, _month(ms)), (by_day, _day(ms))):
            cell = cells[key]
            cell[0] += 1
            cell[1] += round(profit * 10_000)
            cell[2] += max(round(units * price * 10_000), 1)
            cell[3].append(profit / cash)
    return by_month, by_day


def test_periods_and_date_blocks_follow_the_exit_bars(
    bars: tuple[PriceSeries, np.ndarray],
) -> None:
    prices, open_ms = bars
    request = _request("rsi", {"period": [7, 14, 30]})
    sweep = sweep_strategy(prices, open_ms, 60, request)
    inputs = sweep.luck_inputs(pbo_blocks=10)
    read = [_read_trades(prices, open_ms, request, v.params) for v in sweep.variants]
    months = sorted({month for by_month, _ in read for month in by_month})
    days = sorted({day for _, by_day in read for day in by_day})
    assert inputs.period_labels == months
    assert inputs.bet_days == len(days)
    # 10 blocks of len(days) // 10 days, the first len(days) % 10 one day longer.
    size, extra = divmod(len(days), 10)
    block_of: dict[dt.date, int] = {}
    start = 0
    for block in range(10):
        length = size + (block < extra)
        block_of |= {day: block for day in days[start : start + length]}
        start += length
    assert inputs.blocks is not None and inputs.blocks.periods == 10
    for row, (by_month, by_day) in enumerate(read):
        for column, label in enumerate(months):
            got = [
                int(inputs.periods.bets[row, column]),
                int(inputs.periods.profit_units[row, column]),
                int(inputs.periods.staked_units[row, column]),
            ]
            assert got == by_month.get(label, [0, 0, 0, []])[:3], (row, label)
        blocks = [[0, 0, 0] for _ in range(10)]
        for day, cell in by_day.items():
            for i in range(3):
                blocks[block_of[day]][i] += cell[i]
        got_blocks = [
            [int(getattr(inputs.blocks, name)[row, b]) for name in _TOTALS] for b in range(10)
        ]
        assert got_blocks == blocks
        variant = sweep.variants[row]
        assert variant.metrics is not None and variant.trades == variant.metrics["trades"]
        # Each trade's profit is rounded once to 0.0001: the total is off by half that each.
        profit = variant.profit_units / 1e4
        assert (
            abs(profit - (variant.metrics["final_equity"] - 10_000)) <= variant.trades * 5e-5 + 1e-6
        )


def test_the_walk_forward_matches_an_independent_reading_of_the_trades(
    bars: tuple[PriceSeries, np.ndarray],
) -> None:
    """For each month from the third on: the variant with the highest pooled profit / entry
    value over ALL earlier months among those with at least min_bets trades there (ties to
    the earliest), then its trades in that month; p over all those trades' returns."""
    prices, open_ms = bars
    request = _request("ema_cross", {"fast": [5, 8, 12], "slow": [21, 26, 40]}, min_bets=20)
    sweep = sweep_strategy(prices, open_ms, 60, request)
    report = luck_summary(sweep.luck_inputs(10), min_bets=20, walk_forward=True, pbo_blocks=10)
    labels = report["seasons"]
    totals = [_read_trades(prices, open_ms, request, v.params)[0] for v in sweep.variants]
    expected = []
    returns: list[float] = []
    for at in range(2, len(labels)):
        best, best_yield = None, None
        for index, cells in enumerate(totals):
            trades = sum(cells[m][0] for m in labels[:at])
            if trades < 20:
                continue
            yield_ = sum(cells[m][1] for m in labels[:at]) / sum(cells[m][2] for m in labels[:at])
            if best_yield is None or yield_ > best_yield:
                best, best_yield = index, yield_
        if best is None:
            expected.append((labels[at], None, 0))
            continue
        expected.append((labels[at], sweep.variants[best].params, totals[best][labels[at]][0]))
        returns += totals[best][labels[at]][3]
    walk = report["walk_forward"]
    assert [(r["season"], r["chosen"], r["bets"]) for r in walk["seasons"]] == expected
    assert walk["bets"] == len(returns) > 0
    test = one_sided_t_test(returns)
    assert test is not None and walk["p_value"] == pytest.approx(test.p_value, rel=1e-9)
    assert len(report["variants"]) == 9 and all("q_value" in v for v in report["variants"])


def test_calendar_quarters_start_on_their_first_day() -> None:
    quarters = calendar_periods(
        1_701_216_000_000, 1_767_614_400_000, "quarter"
    )  # 2023-11-29..2026-01-05
    assert quarters.labels[0] == "2023Q4" and quarters.labels[-1] == "2026Q1"
    assert quarters.index(np.array([1_704_067_199_999, 1_704_067_200_000])).tolist() == [0, 1]
