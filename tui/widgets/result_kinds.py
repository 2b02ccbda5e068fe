"""The Results list over both kinds of run: football filter backtests and sweeps, candle
strategy runs and sweeps.

A Kind column shows when the list holds more than one kind (a column with one value says
nothing); below 100 columns it takes the Market column's place, whose cell for a candle run
is its timeframe. Opening a candle run or sweep opens its own screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from rich.text import Text
from textual.screen import Screen

from core.results import ResultSummary

KIND_WIDTH = 7


def kind_label(row: ResultSummary) -> str:
    """filter (a football backtest), sweep (a football sweep), candles (a strategy run),
    c-sweep (a strategy sweep)."""
    if row.is_strategy:
        return "c-sweep" if row.kind == "sweep" else "candles"
    return "sweep" if row.kind == "sweep" else "filter"


def kind_cell(row: ResultSummary) -> Text:
    return Text(kind_label(row), style="dim" if row.kind == "backtest" else "")


def market_cell(row: ResultSummary) -> Text:
    """The market, or a candle run's timeframe."""
    return Text(row.market or row.timeframe or "-")


def staking_cell(row: ResultSummary) -> Text:
    return Text("-", style="dim") if row.is_strategy else Text(row.staking)


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


Column = TypeVar("Column", bound=_Keyed)


def fit_kind_column(
    columns: Sequence[Column], rows: Sequence[ResultSummary], wide: bool
) -> list[Column]:
    """The list's columns for these rows: Kind only when they mix kinds, and then in the
    Market column's place when the terminal is narrow."""
    mixed = len({kind_label(row) for row in rows}) > 1
    if not mixed:
        return [column for column in columns if column.key != "kind"]
    if not wide:
        return [column for column in columns if column.key != "market"]
    return list(columns)


def job_name_cell(info: Any) -> Text:
    """A job's name in the Jobs list: the filter's, or what a candle job runs."""
    strategy = info.request.get("strategy")
    if info.kind in ("strategy", "sweep", "sweep_part") or isinstance(strategy, dict):
        return Text(info.title)  # "sweep of 'X' on away", "part 1 of sweep 1a2b3c4d"
    return Text(info.filter_name or "inline rules")


def job_market_cell(info: Any) -> Text:
    """A job's market (a sweep's is in its backtest), or a candle job's timeframe."""
    request = info.request
    request = request.get("sweep") or request  # a part of a sweep: the sweep's
    inner = request.get("backtest") or request.get("strategy")
    source = inner if isinstance(inner, dict) else request
    return Text(str(source.get("market") or source.get("timeframe") or "?"))


def screen_for(row: ResultSummary | None) -> Screen[Any] | None:
    """A candle run's or sweep's own screen, or a football sweep's; None for a football
    backtest."""
    if row is None:
        return None
    if not row.is_strategy:
        if row.kind != "sweep":
            return None
        from tui.screens.sweep_result import SweepResultScreen

        return SweepResultScreen(row.id)
    if row.kind == "sweep":
        from tui.screens.strategy_sweep import StrategySweepScreen

        return StrategySweepScreen(row.id)
    from tui.screens.strategy_result import StrategyResultScreen

    return StrategyResultScreen(row.id)
