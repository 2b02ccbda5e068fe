"""Execution rules on tiny hand-made candle series, and the executor against a bar-by-bar
reference simulation on random series."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.candles.execution import (
    REASON_END,
    REASON_SIGNAL,
    REASON_STOP,
    REASON_TAKE_PROFIT,
    ExecutionOptions,
    PriceSeries,
    _events,
    _fills_with_exits,
    execute,
    find_fills,
)
from core.candles.metrics import compute_metrics, drawdown


def _prices(rows: list[tuple[float, float, float, float]]) -> PriceSeries:
    table = np.array(rows, dtype=np.float64)
    return PriceSeries(table[:, 0], table[:, 1], table[:, 2], table[:, 3])


def _flat(*closes: float) -> PriceSeries:
    return _prices([(c, c, c, c) for c in closes])


def _signals(bars: int, buys: list[int], sells: list[int]) -> tuple[np.ndarray, np.ndarray]:
    buy = np.zeros(bars, dtype=bool)
    sell = np.zeros(bars, dtype=bool)
    buy[buys] = True
    sell[sells] = True
    return buy, sell


def test_a_signal_fills_at_the_next_open_and_pays_the_fee_on_both_fills() -> None:
    prices = _flat(100, 101, 102, 104, 103)
    buy, sell = _signals(5, [0], [2])
    options = ExecutionOptions(fee=0.001, cash=1000.0)
    run = execute(prices, buy, sell, options)
    assert run.fills.entry_bar.tolist() == [1] and run.fills.exit_bar.tolist() == [3]
    assert run.fills.entry_price.tolist() == [101.0] and run.fills.exit_price.tolist() == [104.0]
    units = 1000 / 101
    assert run.units[0] == pytest.approx(units)
    assert run.entry_fee[0] == pytest.approx(0.001 * units * 101)
    assert run.exit_fee[0] == pytest.approx(0.001 * units * 104)
    profit = units * 104 - units * 101 - 0.001 * units * 101 - 0.001 * units * 104
    assert run.profit[0] == pytest.approx(profit)
    assert run.final_equity == pytest.approx(1000 + profit)
    # Equity is cash plus units x close at every close; cash went to -fee at the entry.
    want = [1000, -1 + units * 101, -1 + units * 102, 1000 + profit, 1000 + profit]
    assert run.equity.tolist() == pytest.approx(want)
    assert run.held.tolist() == [False, True, True, False, False]


def test_a_repeated_buy_is_ignored_and_a_signal_on_the_last_bar_gets_no_fill() -> None:
    prices = _flat(100, 101, 102, 103, 104)
    buy, sell = _signals(5, [0, 1], [4])
    run = execute(prices, buy, sell, ExecutionOptions(fee=0.0, cash=1000.0))
    assert len(run.fills) == 1
    # The sell on the last bar does not fill: the position is closed at the last close.
    assert run.fills.exit_bar.tolist() == [4]
    assert run.fills.reason.tolist() == [REASON_END]
    assert run.fills.exit_price.tolist() == [104.0]


def test_a_position_open_after_the_last_bar_is_closed_at_its_close_after_the_fee() -> None:
    prices = _prices([(100, 100, 100, 100), (100, 100, 100, 100), (110, 120, 105, 115)])
    buy, sell = _signals(3, [0], [])
    options = ExecutionOptions(fee=0.01, cash=100.0)
    run = execute(prices, buy, sell, options)
    units = 100 / 100
    final = 100 - 1 + units * 115 - 0.01 * units * 115 - units * 100
    assert run.final_equity == pytest.approx(final)
    # The last bar's equity mark is taken after that close.
    assert run.equity[-1] == pytest.approx(final)
    assert not run.held[-1]
    metrics = compute_metrics(run, prices.close, 60, options.cash)
    assert metrics["trades"] == 1
    assert metrics["fees_paid"] == pytest.approx(1 + 1.15)
    assert sum(run.profit) == pytest.approx(metrics["final_equity"] - 100)


@pytest.mark.parametrize(
    ("bar", "exit_price", "reason"),
    [
        ((100, 106, 94, 100), 95.0, REASON_STOP),  # both touched: the stop first
        ((100, 106, 99, 100), 105.0, REASON_TAKE_PROFIT),
        ((90, 92, 89, 91), 90.0, REASON_STOP),  # opened below the stop: filled at the open
        ((108, 109, 107, 108), 108.0, REASON_TAKE_PROFIT),  # opened above the target
    ],
)
def test_stop_loss_and_take_profit_are_checked_within_the_bar(
    bar: tuple[float, float, float, float], exit_price: float, reason: int
) -> None:
    prices = _prices([(100, 100, 100, 100), (100, 101, 99, 100), bar, (100, 100, 100, 100)])
    buy, sell = _signals(4, [0], [])
    options = ExecutionOptions(fee=0.0, cash=1000.0, stop_loss_pct=5, take_profit_pct=5)
    run = execute(prices, buy, sell, options)
    assert run.fills.exit_bar.tolist() == [2]
    assert run.fills.exit_price.tolist() == [exit_price]
    assert run.fills.reason.tolist() == [reason]
    assert not run.held[2]


def test_a_stop_can_hit_in_the_entry_bar_and_a_short_stop_is_above_the_entry() -> None:
    prices = _prices([(100, 100, 100, 100), (100, 101, 94, 96), (96, 96, 96, 96)])
    buy, sell = _signals(3, [0], [])
    run = execute(prices, buy, sell, ExecutionOptions(fee=0.0, stop_loss_pct=5))
    assert run.fills.exit_bar.tolist() == [1] and run.fills.exit_price.tolist() == [95.0]
    up = _prices([(100, 100, 100, 100), (100, 106, 99, 104), (104, 104, 104, 104)])
    buy, sell = _signals(3, [], [0])
    short = execute(up, buy, sell, ExecutionOptions(fee=0.0, stop_loss_pct=5, long_short=True))
    assert short.fills.side.tolist() == [-1]
    assert short.fills.exit_price.tolist() == [105.0]
    assert short.profit[0] == pytest.approx(-(105 - 100) * (10_000 / 100))


def test_long_short_reverses_at_the_same_open_and_a_short_gains_when_prices_fall() -> None:
    prices = _flat(100, 100, 100, 90, 80)
    buy, sell = _signals(5, [0], [2])
    run = execute(prices, buy, sell, ExecutionOptions(fee=0.0, cash=1000.0, long_short=True))
    assert run.fills.side.tolist() == [1, -1]
    assert run.fills.entry_bar.tolist() == [1, 3]
    assert run.fills.exit_bar.tolist() == [3, 4]
    assert run.fills.reason.tolist() == [REASON_SIGNAL, REASON_END]
    # Long 100 -> 90 loses 10%; the short then sells 900/90 = 10 units at 90, buys at 80.
    assert run.profit.tolist() == pytest.approx([-100.0, 100.0])
    assert run.final_equity == pytest.approx(1000.0)
    long_only = execute(prices, buy, sell, ExecutionOptions(fee=0.0, cash=1000.0))
    assert long_only.fills.side.tolist() == [1]


def test_slippage_moves_each_fill_against_the_trader_and_size_is_a_fraction() -> None:
    prices = _flat(100, 100, 110, 110)
    buy, sell = _signals(4, [0], [1])
    options = ExecutionOptions(fee=0.0, cash=1000.0, slippage_bps=10, size=0.5)
    run = execute(prices, buy, sell, options)
    assert run.fills.entry_price[0] == pytest.approx(100 * 1.001)
    assert run.fills.exit_price[0] == pytest.approx(110 * 0.999)
    assert run.units[0] == pytest.approx(500 / (100 * 1.001))


def test_metrics_follow_their_definitions() -> None:
    assert drawdown(np.array([100.0, 120.0, 90.0, 110.0, 130.0, 125.0])) == (0.25, 2)
    prices = _flat(100, 100, 120, 90, 90, 110, 100)
    buy, sell = _signals(7, [0, 3], [1, 5])
    options = ExecutionOptions(fee=0.0, cash=1000.0)
    run = execute(prices, buy, sell, options)
    m = compute_metrics(run, prices.close, 1440, options.cash)
    # Trades: 100 -> 120 (+200), 90 -> 100 (+111.1...): no loss, so no profit factor.
    assert m["trades"] == 2 and m["wins"] == 2 and m["win_rate"] == 1.0
    assert m["profit_factor"] is None
    assert m["buy_and_hold_return"] == 0.0
    assert m["exposure"] == pytest.approx(3 / 7)
    equity = run.equity
    returns = equity[1:] / equity[:-1] - 1
    per_year = 365
    assert m["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(per_year))
    downside = math.sqrt(np.mean(np.minimum(returns, 0) ** 2))
    assert m["sortino"] == pytest.approx(returns.mean() / downside * math.sqrt(per_year))
    peak = np.maximum.accumulate(equity)
    assert m["max_drawdown"] == pytest.approx(((peak - equity) / peak).max())
    years = 7 / 365
    cagr = (m["final_equity"] / 1000) ** (1 / years) - 1
    assert m["calmar"] == pytest.approx(cagr / m["max_drawdown"])
    # Equity 1000, 1000, 1200, 1200, 1200, 1466.67, 1333.33: one close below its peak.
    assert run.equity.tolist() == pytest.approx([1000, 1000, 1200, 1200, 1200, 4400 / 3, 4000 / 3])
    assert m["max_drawdown_duration"] == {"bars": 1, "days": 1.0}
    assert m["expectancy"] == pytest.approx(sum(run.profit) / 2)
    assert m["total_return"] == pytest.approx(m["final_equity"] / 1000 - 1)


def test_calmar_is_null_when_a_short_run_compounds_beyond_a_float() -> None:
    prices = _flat(100, 100, 150, 120)
    buy, sell = _signals(4, [0], [])
    run = execute(prices, buy, sell, ExecutionOptions(fee=0.0))
    assert compute_metrics(run, prices.close, 1, 10_000.0)["calmar"] is None


def test_a_run_without_trades_keeps_its_cash_and_has_no_ratios() -> None:
    prices = _flat(100, 101, 102)
    buy, sell = _signals(3, [], [])
    run = execute(prices, buy, sell, ExecutionOptions())
    m = compute_metrics(run, prices.close, 60, 10_000.0)
    assert m["trades"] == 0 and m["final_equity"] == 10_000.0
    assert m["win_rate"] is None and m["expectancy"] is None and m["sharpe"] is None
    assert m["calmar"] is None and m["max_drawdown"] == 0.0


# -- the executor against a bar-by-bar reference -----------------------------------------


def _reference(
    prices: PriceSeries, buy: np.ndarray, sell: np.ndarray, options: ExecutionOptions
) -> tuple[list[tuple[int, int, int, float, float]], list[float]]:
    """Step through every bar exactly as the rules read: (side, entry bar, exit bar, entry
    price, exit price) per trade, and equity at each close."""
    slip = options.slippage_bps / 10_000
    cash, units, side, entry_bar, entry_price = options.cash, 0.0, 0, 0, 0.0
    trades: list[tuple[int, int, int, float, float]] = []
    equity: list[float] = []
    pending = 0
    bars = len(prices)

    def close(bar: int, raw: float) -> None:
        nonlocal cash, units, side
        price = raw * (1 - slip if side > 0 else 1 + slip)
        cash += side * units * price - options.fee * units * price
        trades.append((side, entry_bar, bar, entry_price, price))
        units, side = 0.0, 0

    for t in range(bars):
        if pending:
            if side:
                close(t, prices.open[t])
            side, entry_bar = pending, t
            entry_price = prices.open[t] * (1 + slip if side > 0 else 1 - slip)
            units = options.size * cash / entry_price
            cash -= side * units * entry_price + options.fee * units * entry_price
            pending = 0
        if side:
            o, h, lo = prices.open[t], prices.high[t], prices.low[t]
            stop_hit = target_hit = None
            if options.stop_loss_pct is not None:
                level = entry_price * (1 - side * options.stop_loss_pct / 100)
                if (lo <= level) if side > 0 else (h >= level):
                    stop_hit = (
                        level if t == entry_bar else (min(o, level) if side > 0 else max(o, level))
                    )
            if options.take_profit_pct is not None:
                level = entry_price * (1 + side * options.take_profit_pct / 100)
                if (h >= level) if side > 0 else (lo <= level):
                    target_hit = (
                        level if t == entry_bar else (max(o, level) if side > 0 else min(o, level))
                    )
            if stop_hit is not None:
                close(t, stop_hit)
            elif target_hit is not None:
                close(t, target_hit)
        if t == bars - 1 and side:
            close(t, prices.close[t])
        equity.append(cash + side * units * prices.close[t])
        if t < bars - 1 and buy[t] != sell[t]:
            wanted = 1 if buy[t] else -1
            if wanted != side and (options.long_short or wanted == 1 or side == 1):
                pending = wanted if (options.long_short or wanted == 1) else 0
                if not options.long_short and wanted == -1:
                    close(t + 1, prices.open[t + 1])  # long-only sell: flat at the next open
                    pending = 0
    return trades, equity


@st.composite
def _market(draw: st.DrawFn) -> tuple[PriceSeries, np.ndarray, np.ndarray]:
    bars = draw(st.integers(min_value=2, max_value=60))
    closes = draw(st.lists(st.integers(80, 120), min_size=bars, max_size=bars))
    rows = []
    previous = 100
    for c in closes:
        o = previous
        rows.append(
            (o, max(o, c) + draw(st.integers(0, 6)), min(o, c) - draw(st.integers(0, 6)), c)
        )
        previous = c
    signals = draw(st.lists(st.sampled_from([0, 0, 0, 1, 2, 3]), min_size=bars, max_size=bars))
    buy = np.array([s in (1, 3) for s in signals])
    sell = np.array([s in (2, 3) for s in signals])
    return _prices([tuple(map(float, r)) for r in rows]), buy, sell


@settings(max_examples=300, deadline=None)
@given(
    market=_market(),
    long_short=st.booleans(),
    stop=st.sampled_from([None, 2.0, 5.0]),
    target=st.sampled_from([None, 3.0, 8.0]),
    slippage=st.sampled_from([0.0, 5.0]),
)
def test_the_executor_agrees_with_a_bar_by_bar_simulation(
    market: tuple[PriceSeries, np.ndarray, np.ndarray],
    long_short: bool,
    stop: float | None,
    target: float | None,
    slippage: float,
) -> None:
    prices, buy, sell = market
    options = ExecutionOptions(
        long_short=long_short,
        fee=0.001,
        slippage_bps=slippage,
        stop_loss_pct=stop,
        take_profit_pct=target,
        size=0.8,
        cash=1000.0,
    )
    run = execute(prices, buy, sell, options)
    trades, equity = _reference(prices, buy, sell, options)
    got = list(
        zip(
            run.fills.side.tolist(),
            run.fills.entry_bar.tolist(),
            run.fills.exit_bar.tolist(),
            run.fills.entry_price.tolist(),
            run.fills.exit_price.tolist(),
            strict=True,
        )
    )
    assert [t[:3] for t in got] == [t[:3] for t in trades]
    assert [p for t in got for p in t[3:]] == pytest.approx(
        [float(p) for t in trades for p in t[3:]]
    )
    assert run.equity.tolist() == pytest.approx(equity, rel=1e-9)
    assert float(np.sum(run.profit)) == pytest.approx(run.final_equity - 1000.0, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(market=_market(), long_short=st.booleans())
def test_the_array_path_equals_the_loop_path_when_no_exit_is_reachable(
    market: tuple[PriceSeries, np.ndarray, np.ndarray], long_short: bool
) -> None:
    prices, buy, sell = market
    options = ExecutionOptions(long_short=long_short)
    fast = find_fills(prices, buy, sell, options)
    at, direction = _events(buy, sell, len(prices))
    unreachable = ExecutionOptions(long_short=long_short, stop_loss_pct=99, take_profit_pct=9999)
    loop = _fills_with_exits(prices, at, direction, unreachable)
    for name in ("side", "entry_bar", "exit_bar", "entry_price", "exit_price", "reason"):
        assert getattr(fast, name).tolist() == getattr(loop, name).tolist(), name
