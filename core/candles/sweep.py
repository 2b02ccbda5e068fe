"""Strategy sweeps: one strategy over a parameter grid, every variant over the same bars, and
what the luck report (core.backtest.sweeps.luck_summary) reads from them.

The grid is a sweep grid like a football one (core.backtest.grid: lists or exact decimal
ranges, grid order with the last parameter fastest); its parameters are the strategy's, and
the others keep the request's values (`--params`) or their defaults. A variant whose
parameters break the strategy's rule (fast >= slow) is no error: it makes no trade and says
why (`skipped`). Indicators are shared: each distinct SMA (EMA, RSI, ...) is computed once.

How a strategy's trades meet the luck report's definitions (issue 11, section 3), a trade
being a bet:

* a trade belongs to the bar it exits in (a forced close: the last bar): its profit is known
  then, and only then. Its period is that bar's calendar month or quarter (UTC), its day
  that bar's UTC day;
* its stake is its entry value (units x entry price = size x equity at entry), so a yield is
  pooled profit / pooled entry value, as a football yield is profit / stake. Money is counted
  in exact integer units of 0.0001, each trade's profit and stake rounded once;
* the walk-forward's periods are the months (quarters) in which at least one variant has a
  trade exit, the PBO's dates the distinct exit days of the variants' trades;
* a trade's return (for `t_stat`, `p_value` and the walk-forward's p) is its profit over the
  equity it started with, independent of earlier trades.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from core.backtest.grid import Grid, GridError, parse_grid
from core.backtest.luck import PeriodTotals, date_blocks
from core.backtest.luck_report import (
    DEFAULT_MIN_BETS,
    DEFAULT_PBO_BLOCKS,
    LuckInputs,
    Vocabulary,
    check_luck_options,
)
from core.backtest.metrics import money
from core.backtest.request import RequestError
from core.backtest.stats import one_sided_t_test_of_array
from core.candles.execution import ExecutionOptions, PriceSeries
from core.candles.indicators import Floats, Indicators
from core.candles.metrics import METRIC_KEYS, json_safe
from core.candles.request import StrategyRequest, StrategyRequestError
from core.candles.run import run_strategy
from core.candles.strategies import Strategy, StrategyParamError, get_strategy
from core.errors import FilterBetsError

Ints = npt.NDArray[np.int64]
PeriodKind = Literal["month", "quarter"]
PERIOD_KINDS: Final = ("month", "quarter")
_DAY_MS: Final = 86_400_000
_EXACT_FLOAT_SUM: Final = 2**53


class SweepTotalsError(FilterBetsError):
    """A sweep's money is too large to total exactly in 0.0001 units."""


def check_strategy_grid(strategy: Strategy, raw: Any, fixed: dict[str, Any]) -> Grid:
    """The grid with each value parsed as its parameter's type; GridError names the
    parameter that is not the strategy's, fixed too, or has a value it cannot take."""
    grid = parse_grid(raw)
    names = [param.name for param in strategy.params]
    values: list[tuple[Any, ...]] = []
    for name, raw_values in zip(grid.names, grid.values, strict=True):
        if name not in names:
            raise GridError(
                f"grid: parameter {name!r}: {strategy.name} has no such parameter"
                f" (it takes {', '.join(names) or 'none'})"
            )
        if name in fixed:
            raise GridError(f"grid: parameter {name!r} is also fixed in the params")
        param = strategy.params[names.index(name)]
        try:
            values.append(tuple(param.parse(value, strategy.name) for value in raw_values))
        except StrategyParamError as exc:
            problem = str(exc).removeprefix(f"params.{name}: ")
            raise GridError(f"grid: parameter {name!r}: {problem}") from None
    return Grid(grid.names, tuple(values), grid.spec)


@dataclass(frozen=True)
class StrategySweepRequest:
    """A strategy request whose parameters in `grid` vary; its own `params` are the fixed
    ones (the rest take their defaults)."""

    base: StrategyRequest
    grid: Any
    min_bets: int = DEFAULT_MIN_BETS
    walk_forward: bool = True
    pbo_blocks: int = DEFAULT_PBO_BLOCKS
    periods: PeriodKind = "month"

    @property
    def strategy(self) -> Strategy:
        return get_strategy(self.base.strategy)

    def validated(self) -> StrategySweepRequest:
        """Every field checked (the strategy request's, the fixed parameters one by one, the
        grid against the strategy); a fast >= slow is a variant's matter, not an error."""
        checked = replace(self.base, params={}).validated()
        strategy = get_strategy(checked.strategy)
        fixed = dict(self.base.params)
        try:
            parsed = strategy.parse_params(fixed)
        except StrategyParamError as exc:
            raise StrategyRequestError(str(exc)) from exc
        check_luck_options(self.min_bets, self.pbo_blocks)
        if self.periods not in PERIOD_KINDS:
            raise RequestError(f"periods: {self.periods!r} is not month or quarter")
        check_strategy_grid(strategy, self.grid, parsed)
        return replace(self, base=replace(checked, params=parsed))

    def grid_of(self) -> Grid:
        return check_strategy_grid(self.strategy, self.grid, self.base.params)

    def variant_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """A variant's full parameters: the defaults, the fixed ones, then its own."""
        return self.strategy.defaults() | self.base.params | params

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "sweep",
            "strategy": self.base.to_dict(),
            "grid": parse_grid(self.grid).spec,
            "min_bets": self.min_bets,
            "walk_forward": self.walk_forward,
            "pbo_blocks": self.pbo_blocks,
            "periods": self.periods,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StrategySweepRequest:
        try:
            raw = dict(data["strategy"])
            base = StrategyRequest.from_dict(raw | {"params": {}})
            return cls(
                base=replace(base, params=dict(raw.get("params") or {})),
                grid=data["grid"],
                min_bets=int(data.get("min_bets", DEFAULT_MIN_BETS)),
                walk_forward=bool(data.get("walk_forward", True)),
                pbo_blocks=int(data.get("pbo_blocks", DEFAULT_PBO_BLOCKS)),
                periods=data.get("periods", "month"),
            ).validated()
        except KeyError as exc:
            raise RequestError(f"sweep request: missing field {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise RequestError(f"sweep request: {exc}") from exc


# --------------------------------------------------------------------------------------
# Calendar periods
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Periods:
    """Calendar months or quarters (UTC) covering a run's bars, each by its start."""

    kind: PeriodKind
    labels: tuple[str, ...]
    starts_ms: Ints

    def index(self, times_ms: Ints) -> Ints:
        return (np.searchsorted(self.starts_ms, times_ms, side="right") - 1).astype(np.int64)


def calendar_periods(first_ms: int, last_ms: int, kind: PeriodKind) -> Periods:
    if kind not in PERIOD_KINDS:
        raise RequestError(f"periods: {kind!r} is not month or quarter")
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


# --------------------------------------------------------------------------------------
# Measuring variants
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantOutcome:
    params: dict[str, Any]
    """The grid's parameters of this variant."""
    metrics: dict[str, Any] | None
    """The single run's metrics (None for a skipped variant)."""
    skipped: str | None
    exit_ms: Ints
    """Open time of each trade's exit bar, in trade order."""
    returns: Floats
    profit_units: Ints
    """Each trade's profit in 0.0001 units of money."""
    staked_units: Ints
    """Each trade's entry value (its stake) in 0.0001 units, at least 1."""
    longest_losing_run: int
    t_stat: float | None
    p_value: float | None

    @property
    def trades(self) -> int:
        return len(self.returns)

    def row(self) -> dict[str, Any]:
        """The variant in `sweep --json`: its parameters, the strategy's metrics, and the
        luck report's bets (its trades), profit, staked (entry values) and yield."""
        profit, staked = int(self.profit_units.sum()), int(self.staked_units.sum())
        metrics = self.metrics or {key: None for key in METRIC_KEYS} | {"trades": 0, "wins": 0}
        return {
            "params": self.params,
            "skipped": self.skipped,
            "bets": self.trades,
            **json_safe(metrics),
            "profit": money(Decimal(profit).scaleb(-4)),
            "staked": money(Decimal(staked).scaleb(-4)),
            "yield": profit / staked if staked else None,
            "longest_losing_run": self.longest_losing_run,
            "t_stat": self.t_stat,
            "p_value": self.p_value,
        }


def _units(values: Floats) -> Ints:
    scaled = np.rint(values * 10_000.0)
    if scaled.size and float(np.abs(scaled).max()) >= _EXACT_FLOAT_SUM:
        raise SweepTotalsError(
            "a trade's money is too large to total exactly in 0.0001 units; use less --cash"
        )
    return scaled.astype(np.int64)


def _longest_run(flags: npt.NDArray[np.bool_]) -> int:
    if not flags.any():
        return 0
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def _skipped(params: dict[str, Any], reason: str) -> VariantOutcome:
    none_i = np.zeros(0, dtype=np.int64)
    return VariantOutcome(params, None, reason, none_i, np.zeros(0), none_i, none_i, 0, None, None)


def measure_variants(
    prices: PriceSeries,
    open_ms: Ints,
    minutes_per_bar: int,
    request: StrategySweepRequest,
    grid: Grid,
    progress: Callable[[int, int], None] | None = None,
) -> list[VariantOutcome]:
    """Every variant of `grid` run over the same bars (in memory), in grid order."""
    strategy = request.strategy
    options = request.base.options()
    indicators = Indicators(prices.close)
    outcomes: list[VariantOutcome] = []
    total = grid.size
    for index in range(total):
        own = grid.params(index)
        params = request.variant_params(own)
        problem = strategy.relation(params)
        if problem is not None:
            outcomes.append(_skipped(own, problem))
        else:
            outcomes.append(
                _measure(
                    prices, open_ms, minutes_per_bar, strategy, params, own, options, indicators
                )
            )
        if progress is not None:
            progress(index + 1, total)
    return outcomes


def _measure(
    prices: PriceSeries,
    open_ms: Ints,
    minutes_per_bar: int,
    strategy: Strategy,
    params: dict[str, Any],
    own: dict[str, Any],
    options: ExecutionOptions,
    indicators: Indicators,
) -> VariantOutcome:
    run = run_strategy(prices, strategy, params, options, minutes_per_bar, indicators)
    execution = run.execution
    returns = execution.trade_return
    test = one_sided_t_test_of_array(returns)
    return VariantOutcome(
        params=own,
        metrics=json_safe(run.metrics),
        skipped=None,
        exit_ms=open_ms[execution.fills.exit_bar],
        returns=returns,
        profit_units=_units(execution.profit),
        staked_units=np.maximum(_units(execution.units * execution.fills.entry_price), 1),
        longest_losing_run=_longest_run(execution.profit <= 0),
        t_stat=None if test is None else test.t_stat,
        p_value=None if test is None else test.p_value,
    )


# --------------------------------------------------------------------------------------
# What the luck report reads
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StrategySweep:
    """A measured sweep: its variants in grid order over one calendar."""

    calendar: Periods
    variants: list[VariantOutcome]

    def luck_inputs(self, pbo_blocks: int) -> LuckInputs:
        variants = self.variants
        counts = np.array([v.trades for v in variants], dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(counts)))
        owner = np.repeat(np.arange(len(variants), dtype=np.int64), counts)

        def joined(name: str, dtype: Any) -> Any:
            parts = [getattr(v, name) for v in variants]
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

        exit_ms = joined("exit_ms", np.int64)
        profit = joined("profit_units", np.int64)
        staked = joined("staked_units", np.int64)
        returns = joined("returns", np.float64)
        month = self.calendar.index(exit_ms)
        used = np.unique(month)
        period = np.searchsorted(used, month).astype(np.int64)
        labels = [self.calendar.labels[int(i)] for i in used]
        day = exit_ms // _DAY_MS
        days = np.unique(day)
        blocks = None
        if len(days) >= pbo_blocks:
            block = date_blocks(days, pbo_blocks)[np.searchsorted(days, day)]
            blocks = _totals(owner, block, pbo_blocks, len(variants), profit, staked)

        def out_of_sample_p(chosen: list[tuple[int, int]]) -> float | None:
            picked = []
            for at, variant in chosen:
                start, stop = int(offsets[variant]), int(offsets[variant + 1])
                picked.append(returns[start:stop][period[start:stop] == at])
            test = one_sided_t_test_of_array(np.concatenate(picked)) if picked else None
            return test.p_value if test else None

        return LuckInputs(
            variants=[v.row() for v in variants],
            periods=_totals(owner, period, len(labels), len(variants), profit, staked),
            period_labels=labels,
            blocks=blocks,
            bet_days=len(days),
            out_of_sample_p=out_of_sample_p,
            words=Vocabulary(
                self.calendar.kind, f"{self.calendar.kind}s", "trades", "trade exit days"
            ),
        )


def _totals(
    owner: Ints, column: Ints, columns: int, variants: int, profit: Ints, staked: Ints
) -> PeriodTotals:
    cell = owner * columns + column
    size = variants * columns

    def summed(weights: Ints | None) -> Ints:
        if weights is None:
            return np.bincount(cell, minlength=size).astype(np.int64).reshape(variants, columns)
        sums = np.bincount(cell, weights=weights, minlength=size)
        if sums.size and float(np.abs(sums).max()) >= _EXACT_FLOAT_SUM:
            raise SweepTotalsError(
                "a variant's money is too large to total exactly in 0.0001 units; use less --cash"
            )
        return sums.astype(np.int64).reshape(variants, columns)

    return PeriodTotals(summed(None), summed(profit), summed(staked))


def sweep_strategy(
    prices: PriceSeries,
    open_ms: Ints,
    minutes_per_bar: int,
    request: StrategySweepRequest,
    progress: Callable[[int, int], None] | None = None,
) -> StrategySweep:
    """Run every variant of a (validated) request over the same bars; nothing is stored."""
    grid = request.grid_of()
    bar_ms = minutes_per_bar * 60_000
    calendar = calendar_periods(int(open_ms[0]), int(open_ms[-1]) + bar_ms - 1, request.periods)
    return StrategySweep(
        calendar, measure_variants(prices, open_ms, minutes_per_bar, request, grid, progress)
    )


def variant_columns(row: dict[str, Any]) -> dict[str, Any]:
    """A strategy variant's `sweep_variants` columns (the mapping is SweepVariant's)."""
    return {
        "params": row["params"],
        "bets": row["bets"],
        "wins": row["wins"],
        "profit": Decimal(repr(row["profit"])),
        "staked": Decimal(repr(row["staked"])),
        "yield_": row["yield"],
        "max_drawdown": row["max_drawdown"] or 0.0,
        "longest_losing_run": row["longest_losing_run"],
        "t_stat": row["t_stat"],
        "p_value": row["p_value"],
        "q_value": row["q_value"],
        "metrics": {key: row[key] for key in METRIC_KEYS} | {"skipped": row["skipped"]},
    }
