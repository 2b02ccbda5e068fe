"""A strategy run's metrics (the `--json` keys). Ratios are fractions, not percent; a
metric that is undefined for the run is None (null in JSON).

* trades, wins (profit above 0), win_rate = wins / trades
* final_equity: cash after the last trade's exit fee; total_return = final_equity / cash - 1
* buy_and_hold_return = last close / first close - 1 over the tested range
* max_drawdown: the largest fall of the bar-close equity from its running peak, as a fraction
  of that peak; max_drawdown_duration: the longest run of bars whose close equity is below
  the running peak, {"bars": n, "days": n x minutes per bar / 1,440}
* sharpe = mean(r) / stdev(r, ddof=1) x √(bars per year) and
  sortino = mean(r) / √(mean(min(r, 0)²)) x √(bars per year), on the per-bar returns
  r_t = equity_t / equity_{t-1} - 1 for every bar after the first, risk-free rate 0;
  bars per year = 365 x 24 x 60 / minutes per bar
* calmar = CAGR / max_drawdown, CAGR = (final_equity / cash)^(1 / years) - 1,
  years = bars x minutes per bar / 525,600 (None when the CAGR overflows a float: a gain
  compounded over a few hours)
* profit_factor = winning trades' profits / -(losing trades' profits), in money (None when no
  trade lost); expectancy = the mean profit per trade, in money
* exposure: the fraction of bar closes at which a position is held
* fees_paid: every fee, the forced close's included
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from core.candles.execution import Execution
from core.candles.indicators import Floats

MINUTES_PER_YEAR = 525_600
METRIC_KEYS = (
    "trades",
    "wins",
    "win_rate",
    "final_equity",
    "total_return",
    "buy_and_hold_return",
    "max_drawdown",
    "max_drawdown_duration",
    "sharpe",
    "sortino",
    "calmar",
    "profit_factor",
    "expectancy",
    "exposure",
    "fees_paid",
)


def json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity: an undefined number is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    return value


def _longest_run(flags: np.ndarray[Any, np.dtype[np.bool_]]) -> int:
    if not flags.any():
        return 0
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def drawdown(equity: Floats) -> tuple[float, int]:
    """(max drawdown as a fraction of the peak, longest run of bars below the peak)."""
    if not len(equity):
        return 0.0, 0
    peak = np.maximum.accumulate(equity)
    below = equity < peak
    with np.errstate(divide="ignore", invalid="ignore"):
        falls = np.where(peak > 0, (peak - equity) / peak, 0.0)
    return float(falls.max()), _longest_run(below)


def compute_metrics(
    execution: Execution, close: Floats, minutes_per_bar: int, cash: float
) -> dict[str, Any]:
    profit = execution.profit
    trades = len(profit)
    wins = int((profit > 0).sum())
    final = execution.final_equity
    bars = len(execution.equity)
    bars_per_year = MINUTES_PER_YEAR / minutes_per_bar
    max_dd, dd_bars = drawdown(execution.equity)

    sharpe = sortino = None
    if bars >= 3:
        equity = execution.equity
        with np.errstate(divide="ignore", invalid="ignore"):
            returns = equity[1:] / equity[:-1] - 1.0
        if np.all(np.isfinite(returns)):
            mean = float(returns.mean())
            spread = float(returns.std(ddof=1))
            if spread > 0:
                sharpe = mean / spread * math.sqrt(bars_per_year)
            downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
            if downside > 0:
                sortino = mean / downside * math.sqrt(bars_per_year)

    calmar = None
    years = bars * minutes_per_bar / MINUTES_PER_YEAR
    if max_dd > 0 and years > 0:
        growth = final / cash
        try:
            cagr = growth ** (1.0 / years) - 1.0 if growth > 0 else -1.0
        except OverflowError:  # a big gain over a few bars: no meaningful yearly rate
            cagr = math.inf
        calmar = cagr / max_dd if math.isfinite(cagr) else None

    losses = float(-profit[profit < 0].sum())
    fees = float(execution.entry_fee.sum() + execution.exit_fee.sum())
    return {
        "trades": trades,
        "wins": wins,
        "win_rate": wins / trades if trades else None,
        "final_equity": final,
        "total_return": final / cash - 1.0,
        "buy_and_hold_return": float(close[-1] / close[0] - 1.0) if len(close) else None,
        "max_drawdown": max_dd,
        "max_drawdown_duration": {"bars": dd_bars, "days": dd_bars * minutes_per_bar / 1440},
        "sharpe": sharpe,
        "sortino": sortino,
        "calmar": calmar,
        "profit_factor": float(profit[profit > 0].sum()) / losses if losses > 0 else None,
        "expectancy": float(profit.mean()) if trades else None,
        "exposure": float(execution.held.mean()) if bars else 0.0,
        "fees_paid": fees,
    }
