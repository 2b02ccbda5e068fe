"""One strategy over bars in memory: signals, execution and metrics (no database)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.candles.execution import Execution, ExecutionOptions, PriceSeries, execute
from core.candles.indicators import Indicators
from core.candles.metrics import compute_metrics
from core.candles.strategies import Strategy


@dataclass(frozen=True)
class StrategyOutcome:
    execution: Execution
    metrics: dict[str, Any]


def run_strategy(
    prices: PriceSeries,
    strategy: Strategy,
    params: Mapping[str, Any],
    options: ExecutionOptions,
    minutes_per_bar: int,
    indicators: Indicators | None = None,
) -> StrategyOutcome:
    """`params` must be resolved (Strategy.resolve); `indicators` may be shared between runs
    over the same closes (a sweep's variants)."""
    indicators = indicators or Indicators(prices.close)
    buy, sell = strategy.signals(indicators, params)
    execution = execute(prices, buy, sell, options)
    metrics = compute_metrics(execution, prices.close, minutes_per_bar, options.cash)
    return StrategyOutcome(execution, metrics)
