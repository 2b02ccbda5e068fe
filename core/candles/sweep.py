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

Memory stays small however many variants: each keeps its totals per period and per exit
day, not its trades; the walk-forward's p reruns the few variants it chose.
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
from core.candles.execution import PriceSeries
from core.candles.indicators import Floats, Indicators
from core.candles.metrics import METRIC_KEYS, json_safe
from core.candles.request import StrategyRequest, StrategyRequestError
from core.candles.run import StrategyOutcome, run_strategy
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
    """One variant's numbers, its trades already totalled per calendar period and per exit
    day (a sweep of thousands of variants keeps no per-trade arrays)."""

    params: dict[str, Any]
    """The grid's parameters of this variant."""
    metrics: dict[str, Any] | None
    """The single run's metrics (None for a skipped variant)."""
    skipped: str | None
    trades: int
    profit_units: int
    """Its trades' profits, each rounded to 0.0001 units of money, summed."""
    staked_units: int
    """Its trades' entry values (their stakes), each rounded to 0.0001 units (at least 1)."""
    period: PeriodTotals
    """Trades, profit and stake per calendar period of the sweep (one row)."""
    days: Ints
    """The distinct days its trades exit on (days since 1970, UTC), ascending."""
    by_day: PeriodTotals
    """Trades, profit and stake on each of `days` (one row)."""
    longest_losing_run: int
    t_stat: float | None
    p_value: float | None

    def row(self) -> dict[str, Any]:
        """The variant in `sweep --json`: its parameters, the strategy's metrics, and the
        luck report's bets (its trades), profit, staked (entry values) and yield."""
        profit, staked = self.profit_units, self.staked_units
        metrics = self.metrics or {key: None for key in METRIC_KEYS} | {"trades": 0, "wins": 0}
        return {
            "params": self.params,
            "skipped": self.skipped,
            "bets": self.trades,
            **metrics,
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


def _totals(column: Ints, columns: int, profit: Ints, staked: Ints) -> PeriodTotals:
    """One row of exact totals: trades, profit and stake by `column`."""

    def summed(weights: Ints) -> Ints:
        sums = np.bincount(column, weights=weights, minlength=columns)
        if sums.size and float(np.abs(sums).max()) >= _EXACT_FLOAT_SUM:
            raise SweepTotalsError(
                "a variant's money is too large to total exactly in 0.0001 units; use less --cash"
            )
        return sums.astype(np.int64).reshape(1, columns)

    bets = np.bincount(column, minlength=columns).astype(np.int64).reshape(1, columns)
    return PeriodTotals(bets, summed(profit), summed(staked))


@dataclass(frozen=True)
class TradeList:
    """A variant's trades as the luck report reads them."""

    period: Ints
    """The calendar period of each trade's exit bar."""
    day: Ints
    """The UTC day of each trade's exit bar (days since 1970)."""
    returns: Floats
    profit_units: Ints
    staked_units: Ints


class StrategySweeper:
    """Runs a (validated) request's variants over one set of bars, sharing indicators."""

    def __init__(
        self,
        prices: PriceSeries,
        open_ms: Ints,
        minutes_per_bar: int,
        request: StrategySweepRequest,
    ) -> None:
        self.prices = prices
        self.open_ms = open_ms
        self.minutes_per_bar = minutes_per_bar
        self.request = request
        self.grid = request.grid_of()
        self.strategy = request.strategy
        self.options = request.base.options()
        self.indicators = Indicators(prices.close)
        bar_ms = minutes_per_bar * 60_000
        self.calendar = calendar_periods(
            int(open_ms[0]), int(open_ms[-1]) + bar_ms - 1, request.periods
        )

    def problem(self, index: int) -> str | None:
        """Why variant `index` cannot trade (its parameters break the strategy's rule)."""
        return self.strategy.relation(self.request.variant_params(self.grid.params(index)))

    def trades(self, index: int) -> tuple[TradeList, StrategyOutcome]:
        """Variant `index` run in full (it must have no problem)."""
        params = self.request.variant_params(self.grid.params(index))
        run = run_strategy(
            self.prices, self.strategy, params, self.options, self.minutes_per_bar, self.indicators
        )
        execution = run.execution
        exit_ms = self.open_ms[execution.fills.exit_bar]
        trades = TradeList(
            period=self.calendar.index(exit_ms),
            day=exit_ms // _DAY_MS,
            returns=execution.trade_return,
            profit_units=_units(execution.profit),
            staked_units=np.maximum(_units(execution.units * execution.fills.entry_price), 1),
        )
        return trades, run

    def measure(self, index: int) -> VariantOutcome:
        own = self.grid.params(index)
        periods = len(self.calendar.labels)
        problem = self.problem(index)
        if problem is not None:
            empty = np.zeros(0, dtype=np.int64)
            return VariantOutcome(
                params=own,
                metrics=None,
                skipped=problem,
                trades=0,
                profit_units=0,
                staked_units=0,
                period=_totals(empty, periods, empty, empty),
                days=empty,
                by_day=_totals(empty, 0, empty, empty),
                longest_losing_run=0,
                t_stat=None,
                p_value=None,
            )
        trades, run = self.trades(index)
        days, on_day = np.unique(trades.day, return_inverse=True)
        test = one_sided_t_test_of_array(trades.returns)
        return VariantOutcome(
            params=own,
            metrics=json_safe(run.metrics),
            skipped=None,
            trades=len(trades.returns),
            profit_units=int(trades.profit_units.sum()),
            staked_units=int(trades.staked_units.sum()),
            period=_totals(trades.period, periods, trades.profit_units, trades.staked_units),
            days=days.astype(np.int64),
            by_day=_totals(
                on_day.astype(np.int64), len(days), trades.profit_units, trades.staked_units
            ),
            longest_losing_run=_longest_run(run.execution.profit <= 0),
            t_stat=None if test is None else test.t_stat,
            p_value=None if test is None else test.p_value,
        )

    def run(self, progress: Callable[[int, int], None] | None = None) -> StrategySweep:
        """Every variant, in grid order (nothing is stored)."""
        total = self.grid.size
        outcomes = []
        for index in range(total):
            outcomes.append(self.measure(index))
            if progress is not None:
                progress(index + 1, total)
        return StrategySweep(self, outcomes)


# --------------------------------------------------------------------------------------
# What the luck report reads
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StrategySweep:
    """A measured sweep: its variants in grid order, and the sweeper that ran them."""

    sweeper: StrategySweeper
    variants: list[VariantOutcome]

    @property
    def calendar(self) -> Periods:
        return self.sweeper.calendar

    def luck_inputs(self, pbo_blocks: int) -> LuckInputs:
        variants = self.variants
        count = len(variants)
        by_period = PeriodTotals(
            *(
                np.vstack([getattr(v.period, name) for v in variants])
                for name in ("bets", "profit_units", "staked_units")
            )
        )
        used = np.flatnonzero(by_period.bets.sum(axis=0) > 0)
        periods = PeriodTotals(
            by_period.bets[:, used],
            by_period.profit_units[:, used],
            by_period.staked_units[:, used],
        )
        labels = [self.calendar.labels[int(i)] for i in used]
        all_days = [v.days for v in variants]
        days = np.unique(np.concatenate(all_days)) if all_days else np.zeros(0, dtype=np.int64)
        blocks = None
        if len(days) >= pbo_blocks:
            block_of_day = date_blocks(days, pbo_blocks)
            arrays = {name: np.zeros((count, pbo_blocks), np.int64) for name in _TOTALS}
            for row, variant in enumerate(variants):
                block = block_of_day[np.searchsorted(days, variant.days)]
                for name in _TOTALS:
                    np.add.at(arrays[name][row], block, getattr(variant.by_day, name)[0])
            blocks = PeriodTotals(*(arrays[name] for name in _TOTALS))

        def out_of_sample_p(chosen: list[tuple[int, int]]) -> float | None:
            """Rerun each chosen variant (a few) for its trades' returns in its period."""
            picked = []
            for at, variant in chosen:
                trades, _run = self.sweeper.trades(variant)
                picked.append(trades.returns[trades.period == used[at]])
            test = one_sided_t_test_of_array(np.concatenate(picked)) if picked else None
            return test.p_value if test else None

        kind = self.calendar.kind
        return LuckInputs(
            variants=[v.row() for v in variants],
            periods=periods,
            period_labels=labels,
            blocks=blocks,
            bet_days=len(days),
            out_of_sample_p=out_of_sample_p,
            words=Vocabulary(kind, f"{kind}s", "trades", "trade exit days"),
        )


_TOTALS: Final = ("bets", "profit_units", "staked_units")


def sweep_strategy(
    prices: PriceSeries,
    open_ms: Ints,
    minutes_per_bar: int,
    request: StrategySweepRequest,
    progress: Callable[[int, int], None] | None = None,
) -> StrategySweep:
    """Run every variant of a (validated) request over the same bars; nothing is stored."""
    return StrategySweeper(prices, open_ms, minutes_per_bar, request).run(progress)


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
