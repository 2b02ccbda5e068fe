"""Indicators, as the strategy tester defines them (no TA library; each is a few lines).

* SMA(n): the mean of the last n values; undefined (NaN) for the first n-1 bars. When the
  values are decimals of at most 8 places (exchange quotes are), each window's sum is taken
  exactly in integers and divided once, so every SMA is the correctly rounded mean, and two
  SMAs compare as the exact means do: a crossover never hinges on summation order.
* EMA(n): alpha = 2 / (n + 1), seeded at bar n-1 with the SMA of the first n values, then
  ema[t] = alpha * x[t] + (1 - alpha) * ema[t-1].
* RSI(n): Wilder's smoothing of gains and losses (close-to-close changes), seeded at bar n
  with the simple means of the first n of each; then avg = (avg * (n - 1) + current) / n.
  RSI = 100 - 100 / (1 + avg_gain / avg_loss); 100 when avg_loss is 0 (50 when both are 0).
* MACD(fast, slow, signal): EMA(fast) - EMA(slow), from bar slow-1; its signal line is the
  EMA of the MACD over `signal` bars, seeded with the mean of its first `signal` values.
* Bollinger(n, k): the SMA(n) middle band and middle ± k population standard deviations
  (ddof 0) of the same n closes.

`Indicators` memoizes each (kind, parameters) for one close series, so a sweep computes each
distinct SMA once however many variants use it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

_MAX_DECIMALS = 8
_EXACT_LIMIT = 2**53  # integers below this are exact float64s


def decimal_places(values: Floats) -> int | None:
    """The fewest decimal places (up to 8) that write every value exactly, or None."""
    if not len(values) or not np.all(np.isfinite(values)):
        return None
    for places in range(_MAX_DECIMALS + 1):
        scale = 10.0**places
        if np.array_equal(np.rint(values * scale) / scale, values):
            return places
    return None


def _window_sums_exact(values: Floats, n: int) -> tuple[npt.NDArray[np.int64], float] | None:
    places = decimal_places(values)
    if places is None:
        return None
    scale = 10**places
    scaled = np.rint(values * scale)
    if float(np.abs(scaled).sum()) >= _EXACT_LIMIT:
        return None
    ints = scaled.astype(np.int64)
    cumulative = np.concatenate((np.zeros(1, dtype=np.int64), np.cumsum(ints)))
    return cumulative[n:] - cumulative[:-n], float(scale)


def sma(values: Floats, n: int) -> Floats:
    if n < 1:
        raise ValueError("an SMA needs n >= 1")
    out = np.full(len(values), np.nan)
    if len(values) < n:
        return out
    exact = _window_sums_exact(values, n)
    if exact is not None:
        sums, scale = exact
        out[n - 1 :] = sums / (n * scale)
        return out
    # Not decimal quotes: a float running sum, centred on the first value to keep it small.
    base = float(values[0])
    cumulative = np.concatenate(([0.0], np.cumsum(values - base)))
    out[n - 1 :] = (cumulative[n:] - cumulative[:-n]) / n + base
    return out


def ema(values: Floats, n: int, start: int = 0) -> Floats:
    """EMA(n) of values[start:], seeded at start + n - 1 (earlier bars NaN)."""
    if n < 1:
        raise ValueError("an EMA needs n >= 1")
    out = np.full(len(values), np.nan)
    seed_at = start + n - 1
    if seed_at >= len(values):
        return out
    alpha = 2.0 / (n + 1)
    keep = 1.0 - alpha
    level = math.fsum(values[start : seed_at + 1].tolist()) / n
    out[seed_at] = level
    smoothed: list[float] = []
    append = smoothed.append
    for value in values[seed_at + 1 :].tolist():
        level = alpha * value + keep * level
        append(level)
    out[seed_at + 1 :] = smoothed
    return out


def rsi(close: Floats, n: int) -> Floats:
    if n < 1:
        raise ValueError("an RSI needs n >= 1")
    out = np.full(len(close), np.nan)
    if len(close) <= n:
        return out
    change = np.diff(close)
    gains = np.where(change > 0, change, 0.0).tolist()
    losses = np.where(change < 0, -change, 0.0).tolist()
    gain = math.fsum(gains[:n]) / n
    loss = math.fsum(losses[:n]) / n
    values = [_rsi_value(gain, loss)]
    append = values.append
    for current_gain, current_loss in zip(gains[n:], losses[n:], strict=True):
        gain = (gain * (n - 1) + current_gain) / n
        loss = (loss * (n - 1) + current_loss) / n
        append(_rsi_value(gain, loss))
    out[n:] = values
    return out


def _rsi_value(gain: float, loss: float) -> float:
    if loss == 0.0:
        return 100.0 if gain > 0.0 else 50.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


def macd(close: Floats, fast: int, slow: int, signal: int) -> tuple[Floats, Floats]:
    """(MACD line, signal line)."""
    line = ema(close, fast) - ema(close, slow)
    first = max(fast, slow) - 1
    return line, ema(line, signal, start=first)


def rolling_stdev(values: Floats, n: int) -> Floats:
    """Population standard deviation (ddof 0) of each window of n values."""
    out = np.full(len(values), np.nan)
    if len(values) >= n:
        out[n - 1 :] = np.lib.stride_tricks.sliding_window_view(values, n).std(axis=1)
    return out


def bollinger(close: Floats, n: int, k: float) -> tuple[Floats, Floats, Floats]:
    """(lower, middle, upper)."""
    middle = sma(close, n)
    spread = rolling_stdev(close, n)
    return middle - k * spread, middle, middle + k * spread


def cross_up(a: Floats, b: Floats) -> Bools:
    """a[t] > b[t] and a[t-1] <= b[t-1], all four defined (NaN compares false)."""
    out = np.zeros(len(a), dtype=bool)
    out[1:] = (a[1:] > b[1:]) & (a[:-1] <= b[:-1])
    return out


def cross_down(a: Floats, b: Floats) -> Bools:
    """a[t] < b[t] and a[t-1] >= b[t-1], all four defined."""
    out = np.zeros(len(a), dtype=bool)
    out[1:] = (a[1:] < b[1:]) & (a[:-1] >= b[:-1])
    return out


class Indicators:
    """Indicators of one close series, each computed once per distinct parameters."""

    def __init__(self, close: Floats) -> None:
        self.close = close
        self._cache: dict[tuple[Any, ...], Any] = {}

    def _memo(self, key: tuple[Any, ...], compute: Any) -> Any:
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = compute()
        return found

    def sma(self, n: int) -> Floats:
        return self._memo(("sma", n), lambda: sma(self.close, n))  # type: ignore[no-any-return]

    def ema(self, n: int) -> Floats:
        return self._memo(("ema", n), lambda: ema(self.close, n))  # type: ignore[no-any-return]

    def rsi(self, n: int) -> Floats:
        return self._memo(("rsi", n), lambda: rsi(self.close, n))  # type: ignore[no-any-return]

    def macd(self, fast: int, slow: int, signal: int) -> tuple[Floats, Floats]:
        def compute() -> tuple[Floats, Floats]:
            line = self.ema(fast) - self.ema(slow)
            return line, ema(line, signal, start=max(fast, slow) - 1)

        return self._memo(("macd", fast, slow, signal), compute)  # type: ignore[no-any-return]

    def bollinger(self, n: int, k: float) -> tuple[Floats, Floats, Floats]:
        def compute() -> tuple[Floats, Floats, Floats]:
            middle = self.sma(n)
            spread = self._memo(("stdev", n), lambda: rolling_stdev(self.close, n))
            return middle - k * spread, middle, middle + k * spread

        return self._memo(("bollinger", n, k), compute)  # type: ignore[no-any-return]
