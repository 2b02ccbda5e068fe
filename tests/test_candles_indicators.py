"""Indicators against values computed by hand, and the crossover definition."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.candles.indicators import (
    Indicators,
    bollinger,
    cross_down,
    cross_up,
    decimal_places,
    ema,
    macd,
    rsi,
    sma,
)

CLOSES = np.array([10.0, 11.0, 12.0, 11.0, 10.0, 12.0, 14.0])


def _same(got: np.ndarray, want: list[float]) -> None:
    assert len(got) == len(want)
    for value, expected in zip(got.tolist(), want, strict=True):
        if math.isnan(expected):
            assert math.isnan(value)
        else:
            assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_sma_is_the_mean_of_the_last_n_closes_undefined_before() -> None:
    nan = math.nan
    _same(sma(CLOSES, 3), [nan, nan, 11.0, 34 / 3, 11.0, 11.0, 12.0])
    _same(sma(CLOSES, 1), CLOSES.tolist())
    _same(sma(CLOSES[:2], 3), [nan, nan])


def test_sma_of_decimal_quotes_is_the_correctly_rounded_mean() -> None:
    # 0.1 + 0.2 + 0.3 summed in floats is 0.6000000000000001; exact integer sums are not.
    values = np.array([0.1, 0.2, 0.3])
    assert decimal_places(values) == 1
    assert sma(values, 3)[-1] == 0.2
    # Quotes with no short decimal form fall back to a float running sum.
    irrational = np.array([math.pi, math.e, math.sqrt(2)])
    assert decimal_places(irrational) is None
    assert sma(irrational, 3)[-1] == pytest.approx((math.pi + math.e + math.sqrt(2)) / 3)


def test_ema_is_seeded_with_the_sma_then_smoothed_with_alpha_two_over_n_plus_one() -> None:
    nan = math.nan
    # n = 3: alpha 0.5, seeded at bar 2 with (10 + 11 + 12) / 3 = 11.
    _same(ema(CLOSES, 3), [nan, nan, 11.0, 11.0, 10.5, 11.25, 12.625])
    # A later start (the MACD signal line): seeded with the mean of values[2:4].
    _same(ema(CLOSES, 2, start=2), [nan, nan, nan, 11.5, 10.5, 11.5, 13.166666666666666])


def test_rsi_uses_wilders_smoothing_seeded_with_simple_means() -> None:
    # Changes: +1, +1, -1, -1, +2, +2. n = 3: seed at bar 3 with gains (1+1+0)/3 and
    # losses (0+0+1)/3: RSI = 100 - 100 / (1 + 2) = 66.67.
    got = rsi(CLOSES, 3)
    gain, loss = 2 / 3, 1 / 3
    want = [math.nan] * 3 + [100 - 100 / (1 + gain / loss)]
    for g, lo in ((0, 1), (2, 0), (2, 0)):
        gain = (gain * 2 + g) / 3
        loss = (loss * 2 + lo) / 3
        want.append(100 - 100 / (1 + gain / loss))
    _same(got, want)
    assert got[4] == pytest.approx(100 - 100 / (1 + (4 / 9) / (5 / 9)))


def test_rsi_is_100_without_losses_and_50_without_any_move() -> None:
    assert rsi(np.array([1.0, 2.0, 3.0, 4.0]), 2)[-1] == 100.0
    assert rsi(np.array([5.0, 5.0, 5.0, 5.0]), 2)[-1] == 50.0


def test_macd_is_the_difference_of_two_emas_with_an_ema_signal_line() -> None:
    line, signal = macd(CLOSES, 2, 3, 2)
    fast, slow = ema(CLOSES, 2), ema(CLOSES, 3)
    _same(line, (fast - slow).tolist())
    # MACD is defined from bar 2 (slow - 1); its signal from bar 3, seeded with the mean
    # of the MACD at bars 2 and 3.
    assert math.isnan(signal[2]) and not math.isnan(signal[3])
    assert signal[3] == pytest.approx((line[2] + line[3]) / 2)
    assert signal[4] == pytest.approx(2 / 3 * line[4] + 1 / 3 * signal[3])


def test_bollinger_bands_are_the_sma_plus_and_minus_k_population_deviations() -> None:
    lower, middle, upper = bollinger(CLOSES, 3, 2.0)
    window = CLOSES[4:7]  # 10, 12, 14: mean 12, population sd sqrt(8/3)
    spread = math.sqrt(8 / 3)
    assert middle[6] == 12.0
    assert upper[6] == pytest.approx(12 + 2 * spread)
    assert lower[6] == pytest.approx(12 - 2 * spread)
    assert float(np.std(window)) == pytest.approx(spread)
    assert math.isnan(lower[1])


def test_a_cross_needs_both_bars_defined_and_counts_a_touch_as_not_above() -> None:
    fast = np.array([math.nan, 1.0, 2.0, 2.0, 3.0, 1.0])
    slow = np.array([1.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    # Bar 2 is level (2 = 2: not above); bar 4 rises above after level bars: a cross up.
    assert cross_up(fast, slow).tolist() == [False, False, False, False, True, False]
    assert cross_down(fast, slow).tolist() == [False, False, False, False, False, True]
    # Bar 1 follows an undefined bar: no cross even though fast < slow there.
    assert not cross_down(fast, slow)[1]


def test_indicators_are_computed_once_per_distinct_parameters() -> None:
    indicators = Indicators(CLOSES)
    assert indicators.sma(3) is indicators.sma(3)
    assert indicators.sma(2) is not indicators.sma(3)
    line, signal = indicators.macd(2, 3, 2)
    want_line, want_signal = macd(CLOSES, 2, 3, 2)
    _same(line, want_line.tolist())
    _same(signal, want_signal.tolist())
    lower, _mid, upper = indicators.bollinger(3, 2.0)
    _same(upper, bollinger(CLOSES, 3, 2.0)[2].tolist())
    _same(lower, bollinger(CLOSES, 3, 2.0)[0].tolist())
