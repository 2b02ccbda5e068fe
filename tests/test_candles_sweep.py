"""Strategy sweeps: grid order and ranges, each variant equal to its single run, and the
per-period aggregates the luck report reads."""

from __future__ import annotations

import numpy as np
import pytest

from core.candles.execution import ExecutionOptions, PriceSeries
from core.candles.parse import read_candle_file
from core.candles.run import run_strategy
from core.candles.strategies import STRATEGIES
from core.candles.sweep import SweepError, calendar_periods, expand_grid, sweep_strategy
from tests.conftest import SHARED_DATA, shared_data


@pytest.fixture(autouse=True)
def _needs_shared_data() -> None:
    """Every test here reads the shared data folder: skipped without it (a failure under
    FILTERBETS_REQUIRE_CORPUS=1, as in CI; see tests/conftest.py)."""
    shared_data("klines")


HOURLY = SHARED_DATA / "klines/bybit/ETHUSDT-1h-2023-12..2026-02.csv"


@pytest.fixture(scope="module")
def bars() -> tuple[PriceSeries, np.ndarray]:
    raw = read_candle_file(HOURLY)
    keep = slice(0, 6_000)  # about eight months
    prices = PriceSeries(raw.open[keep], raw.high[keep], raw.low[keep], raw.close[keep])
    return prices, raw.open_us[keep] // 1000


def test_the_grid_runs_in_order_with_the_last_parameter_fastest() -> None:
    variants = expand_grid(
        STRATEGIES["sma_cross"], {"fast": [5, 10], "slow": {"from": 20, "to": 40, "step": 10}}
    )
    assert [(v["fast"], v["slow"]) for v in variants] == [
        (5, 20),
        (5, 30),
        (5, 40),
        (10, 20),
        (10, 30),
        (10, 40),
    ]
    bands = expand_grid(STRATEGIES["bollinger"], {"k": {"from": 1.5, "to": 3.0, "step": 0.1}})
    assert [v["k"] for v in bands][-1] == 3.0 and len(bands) == 16
    assert all(v["period"] == 20 for v in bands)  # not in the grid: the default


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"fats": [5]}, "grid.fats: sma_cross has no such parameter"),
        ({"fast": []}, "grid.fast: give a non-empty list"),
        ({"fast": {"from": 5, "to": 9, "step": 0}}, "grid.fast: step must be more than 0"),
        ({"fast": [5.5]}, "grid.fast: params.fast: 5.5 is not a whole number"),
        (
            {
                "fast": {"from": 1, "to": 1001, "step": 1},
                "slow": {"from": 1, "to": 1001, "step": 1},
            },
            "over the limit",
        ),
    ],
)
def test_bad_grids_are_refused_before_any_work(grid: dict[str, object], message: str) -> None:
    with pytest.raises(SweepError, match=message.replace("(", r"\(")):
        expand_grid(STRATEGIES["sma_cross"], grid)


def test_each_variant_equals_its_single_run(bars: tuple[PriceSeries, np.ndarray]) -> None:
    prices, open_ms = bars
    options = ExecutionOptions(stop_loss_pct=4, long_short=True)
    grid = {"fast": [5, 12, 30], "slow": [20, 50]}
    sweep = sweep_strategy(prices, open_ms, 60, STRATEGIES["sma_cross"], grid, options)
    assert len(sweep.variants) == 6
    skipped = [v for v in sweep.variants if v.skipped]
    assert [v.params for v in skipped] == [{"fast": 30, "slow": 20}]
    assert skipped[0].trades == 0 and "fast (30) must be less than slow (20)" in skipped[0].skipped
    for variant in sweep.variants:
        if variant.skipped:
            continue
        alone = run_strategy(prices, STRATEGIES["sma_cross"], variant.params, options, 60)
        assert variant.metrics == alone.metrics
        assert variant.trade_profit.tolist() == alone.execution.profit.tolist()


def test_period_aggregates_add_up_to_the_run_and_follow_exit_times(
    bars: tuple[PriceSeries, np.ndarray],
) -> None:
    prices, open_ms = bars
    sweep = sweep_strategy(
        prices,
        open_ms,
        60,
        STRATEGIES["rsi"],
        {"period": [7, 14]},
        ExecutionOptions(),
        periods="month",
    )
    assert sweep.periods.labels[0] == "2023-12" and len(sweep.periods.labels) == 9
    for variant in sweep.variants:
        assert variant.metrics is not None
        assert int(variant.period_trades.sum()) == variant.metrics["trades"]
        assert variant.period_profit.sum() == pytest.approx(
            variant.metrics["final_equity"] - 10_000
        )
        assert variant.period_return_sum.sum() == pytest.approx(variant.trade_return.sum())
        months = sweep.periods.index(variant.trade_exit_ms)
        assert np.bincount(months, minlength=9).tolist() == variant.period_trades.tolist()
        assert np.all(variant.trade_exit_ms >= open_ms[0])
    trades, profit, staked = sweep.period_totals()
    assert trades.shape == profit.shape == staked.shape == (2, 9) and trades.dtype == np.int64
    assert trades.tolist() == [v.period_trades.tolist() for v in sweep.variants]
    assert np.all(staked[trades > 0] > 0) and np.all(staked[trades == 0] == 0)
    first = sweep.variants[0]
    assert profit[0].sum() == pytest.approx(first.trade_profit.sum() * 10_000, abs=9)
    assert first.trade_staked[0] == pytest.approx(10_000.0)  # size 1: the whole first equity
    as_json = sweep.to_json()
    assert as_json["trials"] == 2 and as_json["variants"][0]["params"] == {
        "period": 7,
        "lower": 30.0,
        "upper": 70.0,
    }


def test_calendar_quarters_start_on_their_first_day() -> None:
    quarters = calendar_periods(
        1_701_216_000_000, 1_767_614_400_000, "quarter"
    )  # 2023-11-29..2026-01-05
    assert quarters.labels[0] == "2023Q4" and quarters.labels[-1] == "2026Q1"
    assert quarters.index(np.array([1_704_067_199_999, 1_704_067_200_000])).tolist() == [0, 1]
