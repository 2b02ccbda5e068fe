"""Strategy sweeps: one strategy over a parameter grid, every variant over the same bars.

The grid gives each parameter a list of values or an inclusive range
`{"from": 5, "to": 50, "step": 5}` (stepped in decimal, so `to` is reached without float
drift); parameters not in the grid keep their defaults. Variants are the cartesian product in
grid order, the last parameter varying fastest. A variant whose parameters break the
strategy's rule (fast >= slow) is no error: it makes no trade and says why (`skipped`).

Indicators are shared: each distinct SMA (EMA, RSI, ...) is computed once for the whole grid.

For the luck report (walk-forward, PBO, q-values) every variant also carries its trades as
arrays (exit time, return, profit) and per-period aggregates by calendar month or quarter.
A trade belongs to the period in which it exits: its profit is known then, and only then.
Its stake is its entry value (units x entry price), so a period's yield is pooled profit over
pooled entry value, as a football sweep's is profit over stake (`period_totals` gives the
integer arrays core.backtest.luck.PeriodTotals takes). Its return is its profit over the
equity it started with (independent of earlier trades);
`t_stat`/`p_value` test the mean of those returns > 0 (one-sided), as a bet's return is
tested in a football sweep.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from core.backtest.stats import one_sided_t_test
from core.candles.execution import ExecutionOptions, PriceSeries
from core.candles.indicators import Floats, Indicators
from core.candles.run import run_strategy
from core.candles.strategies import Strategy, StrategyParamError
from core.errors import FilterBetsError

Ints = npt.NDArray[np.int64]
PeriodKind = Literal["month", "quarter"]
MAX_VARIANTS = 1_000_000


class SweepError(FilterBetsError):
    """A grid that cannot be swept; the message names the parameter."""


def _range_values(name: str, spec: Mapping[str, Any]) -> list[Any]:
    try:
        start, stop, step = (Decimal(str(spec[key])) for key in ("from", "to", "step"))
    except (KeyError, InvalidOperation) as exc:
        raise SweepError(f"grid.{name}: a range needs numbers from, to and step") from exc
    if step <= 0:
        raise SweepError(f"grid.{name}: step must be more than 0, got {spec['step']}")
    values: list[Any] = []
    value = start
    while value <= stop:
        values.append(int(value) if value == value.to_integral_value() else float(value))
        value += step
    return values


def expand_grid(strategy: Strategy, grid: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every variant's full parameters, in grid order with the last parameter fastest."""
    names = [param.name for param in strategy.params]
    for key in grid:
        if key not in names:
            raise SweepError(
                f"grid.{key}: {strategy.name} has no such parameter"
                f" (it takes {', '.join(names) or 'none'})"
            )
    axes: list[list[Any]] = []
    for key, spec in grid.items():
        raw = _range_values(key, spec) if isinstance(spec, Mapping) else spec
        if not isinstance(raw, list) or not raw:
            raise SweepError(f"grid.{key}: give a non-empty list of values or a range")
        param = next(p for p in strategy.params if p.name == key)
        try:
            axes.append([param.parse(value, strategy.name) for value in raw])
        except StrategyParamError as exc:
            raise SweepError(f"grid.{key}: {exc}") from exc
    count = 1
    for axis in axes:
        count *= len(axis)
    if count > MAX_VARIANTS:
        raise SweepError(f"grid: {count:,} variants is over the limit of {MAX_VARIANTS:,}")
    defaults = strategy.defaults()
    keys = list(grid)
    return [defaults | dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes)]


@dataclass(frozen=True)
class Periods:
    """Calendar months or quarters (UTC) covering a run's bars, each by its start."""

    kind: PeriodKind
    labels: tuple[str, ...]
    starts_ms: Ints

    def index(self, times_ms: Ints) -> Ints:
        return (np.searchsorted(self.starts_ms, times_ms, side="right") - 1).astype(np.int64)


def calendar_periods(first_ms: int, last_ms: int, kind: PeriodKind) -> Periods:
    if kind not in ("month", "quarter"):
        raise SweepError(f"periods: {kind!r} is not month or quarter")
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    first = epoch + dt.timedelta(milliseconds=first_ms)
    last = epoch + dt.timedelta(milliseconds=last_ms)
    months = 3 if kind == "quarter" else 1
    year, month = first.year, (first.month - 1) // months * months + 1
    labels: list[str] = []
    starts: list[int] = []
    while (year, month) <= (last.year, last.month):
        start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
        starts.append((start - epoch) // dt.timedelta(milliseconds=1))
        labels.append(
            f"{year}Q{(month - 1) // 3 + 1}" if kind == "quarter" else f"{year}-{month:02d}"
        )
        month += months
        if month > 12:
            year, month = year + 1, month - 12
    return Periods(kind, tuple(labels), np.array(starts, dtype=np.int64))


@dataclass(frozen=True)
class VariantOutcome:
    params: dict[str, Any]
    metrics: dict[str, Any] | None
    """The single run's metrics (None for a skipped variant)."""
    skipped: str | None
    trade_exit_ms: Ints
    """Each trade's exit time (a forced close's: the end of the last bar), in trade order."""
    trade_return: Floats
    trade_profit: Floats
    trade_staked: Floats
    """Each trade's entry value (units x entry price = size x equity at entry): its stake."""
    period_trades: Ints
    period_profit: Floats
    period_staked: Floats
    period_return_sum: Floats
    t_stat: float | None
    p_value: float | None

    @property
    def trades(self) -> int:
        return len(self.trade_return)

    @property
    def mean_trade_return(self) -> float | None:
        return float(self.trade_return.mean()) if self.trades else None

    def to_json(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "skipped": self.skipped,
            **(self.metrics or {"trades": 0}),
            "mean_trade_return": self.mean_trade_return,
            "t_stat": self.t_stat,
            "p_value": self.p_value,
            "periods": {
                "trades": self.period_trades.tolist(),
                "profit": self.period_profit.tolist(),
                "staked": self.period_staked.tolist(),
                "return_sum": self.period_return_sum.tolist(),
            },
        }


@dataclass(frozen=True)
class StrategySweep:
    strategy: str
    grid: dict[str, Any]
    periods: Periods
    variants: list[VariantOutcome]

    def period_totals(self) -> tuple[Ints, Ints, Ints]:
        """(trades, profit, staked) per variant (rows) and period (columns), money in exact
        integer units of 0.0001: the shape of core.backtest.luck.PeriodTotals, so the luck
        report reads a strategy sweep as it reads a football one (a trade is a bet staking its
        entry value; yield = pooled profit / pooled entry value)."""
        trades = np.vstack([v.period_trades for v in self.variants]).astype(np.int64)
        profit = np.rint(np.vstack([v.period_profit for v in self.variants]) * 10_000)
        staked = np.rint(np.vstack([v.period_staked for v in self.variants]) * 10_000)
        return trades, profit.astype(np.int64), staked.astype(np.int64)

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "grid": self.grid,
            "trials": len(self.variants),
            "periods": {"kind": self.periods.kind, "labels": list(self.periods.labels)},
            "variants": [variant.to_json() for variant in self.variants],
        }


def sweep_strategy(
    prices: PriceSeries,
    open_ms: Ints,
    minutes_per_bar: int,
    strategy: Strategy,
    grid: Mapping[str, Any],
    options: ExecutionOptions,
    *,
    periods: PeriodKind = "month",
    progress: Callable[[int, int], None] | None = None,
) -> StrategySweep:
    """Run every variant of `grid` over the same bars (in memory; nothing is stored)."""
    variants = expand_grid(strategy, grid)
    bar_ms = minutes_per_bar * 60_000
    calendar = calendar_periods(int(open_ms[0]), int(open_ms[-1]) + bar_ms - 1, periods)
    count = len(calendar.labels)
    indicators = Indicators(prices.close)
    outcomes: list[VariantOutcome] = []
    for number, params in enumerate(variants, start=1):
        problem = strategy.relation(params)
        if problem is not None:
            outcomes.append(_skipped(params, problem, count))
        else:
            run = run_strategy(prices, strategy, params, options, minutes_per_bar, indicators)
            execution = run.execution
            fills = execution.fills
            exit_ms = open_ms[fills.exit_bar] + np.where(fills.reason == 3, bar_ms, 0)
            returns = execution.trade_return
            staked = execution.units * fills.entry_price
            where = calendar.index(exit_ms)
            test = one_sided_t_test(returns.tolist())
            outcomes.append(
                VariantOutcome(
                    params=params,
                    metrics=run.metrics,
                    skipped=None,
                    trade_exit_ms=exit_ms,
                    trade_return=returns,
                    trade_profit=execution.profit,
                    trade_staked=staked,
                    period_trades=np.bincount(where, minlength=count).astype(np.int64),
                    period_profit=np.bincount(
                        where, weights=execution.profit, minlength=count
                    ).astype(np.float64),
                    period_staked=np.bincount(where, weights=staked, minlength=count).astype(
                        np.float64
                    ),
                    period_return_sum=np.bincount(where, weights=returns, minlength=count).astype(
                        np.float64
                    ),
                    t_stat=None if test is None else test.t_stat,
                    p_value=None if test is None else test.p_value,
                )
            )
        if progress is not None:
            progress(number, len(variants))
    return StrategySweep(strategy.name, dict(grid), calendar, outcomes)


def _skipped(params: dict[str, Any], reason: str, periods: int) -> VariantOutcome:
    empty_i = np.zeros(0, dtype=np.int64)
    empty_f = np.zeros(0)
    return VariantOutcome(
        params=params,
        metrics=None,
        skipped=reason,
        trade_exit_ms=empty_i,
        trade_return=empty_f,
        trade_profit=empty_f,
        trade_staked=empty_f,
        period_trades=np.zeros(periods, dtype=np.int64),
        period_profit=np.zeros(periods),
        period_staked=np.zeros(periods),
        period_return_sum=np.zeros(periods),
        t_stat=None,
        p_value=None,
    )
