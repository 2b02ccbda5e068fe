"""The strategy registry: each strategy's typed parameters, defaults and signals.

A strategy turns closed bars into two signals per bar, `buy` and `sell`, read at the bar's
close. The executor (core.candles.execution) decides what they do: long-only, a buy opens a
long and a sell closes it; long/short, a buy goes long and a sell goes short, reversing an
open position. A signal in the direction already held is ignored.

* sma_cross / ema_cross (fast, slow): buy on a cross up of the fast average through the slow
  one, sell on a cross down.
* rsi (period, lower, upper): buy when RSI crosses up through `lower`, sell when it crosses
  down through `upper`.
* macd (fast, slow, signal): buy when the MACD line crosses up through its signal line, sell
  on the cross down.
* bollinger (period, k), mean reversion: buy when the close crosses down through the lower
  band, sell when it crosses up through the upper band.
* buy_and_hold: buy at the first bar's close (filled at the second bar's open), held to the
  end: the benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.candles.indicators import Bools, Indicators, cross_down, cross_up
from core.errors import UsageMistake


class StrategyParamError(UsageMistake):
    """A strategy name or parameter that cannot be used; the message names it."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: type[int] | type[float]
    default: int | float
    minimum: float
    maximum: float
    help: str

    @property
    def type_name(self) -> str:
        return self.kind.__name__

    def parse(self, raw: Any, strategy: str) -> int | float:
        where = f"params.{self.name}"
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise StrategyParamError(
                f"{where}: {raw!r} is not a number ({strategy}.{self.name} is {self.type_name})"
            )
        if self.kind is int:
            if isinstance(raw, float) and not raw.is_integer():
                raise StrategyParamError(f"{where}: {raw} is not a whole number")
            value: int | float = int(raw)
        else:
            value = float(raw)
        if not self.minimum <= value <= self.maximum:
            raise StrategyParamError(
                f"{where}: {value} is outside {self.minimum:g}..{self.maximum:g}"
            )
        return value


Signals = tuple[Bools, Bools]
SignalFunction = Callable[[Indicators, Mapping[str, Any]], Signals]


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    params: tuple[Param, ...]
    signals: SignalFunction
    relation: Callable[[Mapping[str, Any]], str | None] = lambda _params: None
    """A rule between parameters (fast < slow): the problem, or None."""

    def defaults(self) -> dict[str, Any]:
        return {param.name: param.default for param in self.params}

    def parse_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The given parameters, each checked and typed (no rule between them checked)."""
        names = [param.name for param in self.params]
        unknown = [name for name in given if name not in names]
        if unknown:
            expected = ", ".join(names) or "none"
            raise StrategyParamError(
                f"params.{unknown[0]}: {self.name} has no such parameter (it takes {expected})"
            )
        return {
            param.name: param.parse(given[param.name], self.name)
            for param in self.params
            if param.name in given
        }

    def resolve(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """The full parameters: the given ones checked, the rest at their defaults."""
        resolved = self.defaults() | self.parse_params(dict(given or {}))
        problem = self.relation(resolved)
        if problem is not None:
            raise StrategyParamError(f"params: {problem}")
        return resolved


def _crossing(fast: Any, slow: Any) -> Signals:
    return cross_up(fast, slow), cross_down(fast, slow)


def _fast_below_slow(params: Mapping[str, Any]) -> str | None:
    if params["fast"] >= params["slow"]:
        return f"fast ({params['fast']}) must be less than slow ({params['slow']})"
    return None


def _lower_below_upper(params: Mapping[str, Any]) -> str | None:
    if params["lower"] >= params["upper"]:
        return f"lower ({params['lower']}) must be less than upper ({params['upper']})"
    return None


def _sma_cross(ind: Indicators, p: Mapping[str, Any]) -> Signals:
    return _crossing(ind.sma(p["fast"]), ind.sma(p["slow"]))


def _ema_cross(ind: Indicators, p: Mapping[str, Any]) -> Signals:
    return _crossing(ind.ema(p["fast"]), ind.ema(p["slow"]))


def _rsi(ind: Indicators, p: Mapping[str, Any]) -> Signals:
    values = ind.rsi(p["period"])
    lower = np.full(len(values), float(p["lower"]))
    upper = np.full(len(values), float(p["upper"]))
    return cross_up(values, lower), cross_down(values, upper)


def _macd(ind: Indicators, p: Mapping[str, Any]) -> Signals:
    line, signal = ind.macd(p["fast"], p["slow"], p["signal"])
    return _crossing(line, signal)


def _bollinger(ind: Indicators, p: Mapping[str, Any]) -> Signals:
    lower, _middle, upper = ind.bollinger(p["period"], p["k"])
    return cross_down(ind.close, lower), cross_up(ind.close, upper)


def _buy_and_hold(ind: Indicators, _p: Mapping[str, Any]) -> Signals:
    buy = np.zeros(len(ind.close), dtype=bool)
    buy[:1] = True
    return buy, np.zeros(len(ind.close), dtype=bool)


def _period(name: str, default: int, help_text: str) -> Param:
    return Param(name, int, default, 1, 10_000, help_text)


STRATEGIES: dict[str, Strategy] = {
    strategy.name: strategy
    for strategy in (
        Strategy(
            "sma_cross",
            "buy when SMA(fast) crosses up through SMA(slow), sell on the cross down",
            (
                _period("fast", 10, "bars of the fast SMA"),
                _period("slow", 30, "bars of the slow SMA"),
            ),
            _sma_cross,
            _fast_below_slow,
        ),
        Strategy(
            "ema_cross",
            "buy when EMA(fast) crosses up through EMA(slow), sell on the cross down",
            (
                _period("fast", 12, "bars of the fast EMA"),
                _period("slow", 26, "bars of the slow EMA"),
            ),
            _ema_cross,
            _fast_below_slow,
        ),
        Strategy(
            "rsi",
            "buy when RSI crosses up through lower, sell when it crosses down through upper",
            (
                _period("period", 14, "bars of Wilder's RSI"),
                Param("lower", float, 30.0, 0, 100, "RSI level to buy on"),
                Param("upper", float, 70.0, 0, 100, "RSI level to sell on"),
            ),
            _rsi,
            _lower_below_upper,
        ),
        Strategy(
            "macd",
            "buy when MACD crosses up through its signal line, sell on the cross down",
            (
                _period("fast", 12, "bars of the fast EMA"),
                _period("slow", 26, "bars of the slow EMA"),
                _period("signal", 9, "bars of the signal line's EMA"),
            ),
            _macd,
            _fast_below_slow,
        ),
        Strategy(
            "bollinger",
            "mean reversion: buy when the close crosses down through the lower band,"
            " sell when it crosses up through the upper band",
            (
                _period("period", 20, "bars of the middle SMA and the deviation"),
                Param("k", float, 2.0, 0.0, 100.0, "band width in standard deviations"),
            ),
            _bollinger,
        ),
        Strategy(
            "buy_and_hold",
            "buy on the first bar and hold to the end (the benchmark)",
            (),
            _buy_and_hold,
        ),
    )
}


def get_strategy(name: str) -> Strategy:
    found = STRATEGIES.get(name)
    if found is None:
        import difflib

        close = difflib.get_close_matches(name, list(STRATEGIES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise StrategyParamError(
            f"strategy: no strategy {name!r}{hint}; one of {', '.join(STRATEGIES)}"
        )
    return found
