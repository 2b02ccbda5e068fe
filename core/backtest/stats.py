"""Small, dependency-free statistics: Student-t and normal tails, one-sided tests.

The Student-t tail comes from the regularized incomplete beta function,
evaluated with the modified Lentz continued fraction (Numerical Recipes 6.4),
so that scipy is not needed for two tail functions. Accuracy is ~1e-12 relative over
the ranges a backtest produces (df from 1 to millions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import repeat
from operator import mul, sub
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "TTest",
    "exact_weighted_sum",
    "grouped_one_sided_t_test",
    "normal_sf",
    "one_sided_t_test",
    "one_sided_t_test_of_array",
    "regularized_incomplete_beta",
    "student_t_cdf",
    "student_t_sf",
]

_EPS = 1e-15
_TINY = 1e-300
# Iterations grow like sqrt(max(a, b)); 1e5 covers df far beyond any real backtest.
_MAX_ITER = 100_000


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction for I_x(a, b) (modified Lentz); converges for x < (a+1)/(a+b+2)."""
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _TINY:
        d = _TINY
    d = 1.0 / d
    h = d
    for m in range(1, _MAX_ITER + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return h
    # Never return a silently wrong p-value.
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if a <= 0.0 or b <= 0.0:
        raise ValueError("a and b must be positive")
    if not 0.0 <= x <= 1.0:
        raise ValueError("x must be in [0, 1]")
    if x == 0.0:
        return 0.0
    if x == 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    # Use the fraction on whichever side converges quickly (symmetry I_x(a,b) = 1 - I_{1-x}(b,a)).
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b


def student_t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with df degrees of freedom (the one-sided upper tail)."""
    if df <= 0.0:
        raise ValueError("df must be positive")
    if math.isnan(t):
        raise ValueError("t is NaN")
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    # P(|T| > |t|) = I_{df/(df+t^2)}(df/2, 1/2); computing the tail directly keeps
    # tiny p-values accurate instead of losing them to 1 - cdf cancellation.
    x = df / (df + t * t)
    two_tail = regularized_incomplete_beta(df / 2.0, 0.5, x)
    return 0.5 * two_tail if t > 0 else 1.0 - 0.5 * two_tail


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with df degrees of freedom."""
    return 1.0 - student_t_sf(t, df) if t > 0 else student_t_sf(-t, df)


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal (via erfc, accurate far into the tail)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


class TTest(NamedTuple):
    t_stat: float
    p_value: float
    """One-sided: P(T > t_stat) under a true mean of 0."""


def one_sided_t_test(values: Sequence[float]) -> TTest | None:
    """One-sample t-test of mean > 0 with n-1 degrees of freedom.

    None when it is undefined: fewer than two values, a non-finite value, or
    all values equal (zero variance; checked exactly, not with a tolerance).
    """
    n = len(values)
    if n < 2:
        return None
    if not all(map(math.isfinite, values)) or max(values) == min(values):
        return None
    mean = math.fsum(values) / n
    # Two-pass (centred) variance, summed with fsum; map/operator keep it at C speed.
    deviations = list(map(sub, values, repeat(mean, n)))
    variance = math.fsum(map(mul, deviations, deviations)) / (n - 1)
    if variance <= 0.0:
        return None
    t = mean / math.sqrt(variance / n)
    return TTest(t, student_t_sf(t, n - 1))


def one_sided_t_test_of_array(values: NDArray[np.float64]) -> TTest | None:
    """`one_sided_t_test` of an array, with the same result to the last bit: the same
    fsum over the same floats, the deviations taken in numpy (IEEE, as Python does)."""
    n = len(values)
    if n < 2:
        return None
    if not np.isfinite(values).all() or values.max() == values.min():
        return None
    mean = math.fsum(values.tolist()) / n
    deviations = values - mean
    variance = math.fsum((deviations * deviations).tolist()) / (n - 1)
    if variance <= 0.0:
        return None
    t = mean / math.sqrt(variance / n)
    return TTest(t, student_t_sf(t, n - 1))


def exact_weighted_sum(values: Sequence[float], counts: Sequence[int]) -> float:
    """sum(value * count) computed exactly and rounded once to the nearest float: what
    math.fsum returns over the sample holding each value `count` times.

    Every finite float is an integer over a power of two; scaled to the largest of those
    denominators, the sum is one exact integer, and Python's int / int is correctly
    rounded. No Fraction is built, so this stays fast in a sweep's inner loop.
    """
    ratios = [value.as_integer_ratio() for value in values]
    scale = max((denominator for _, denominator in ratios), default=1)
    total = 0
    for (numerator, denominator), count in zip(ratios, counts, strict=True):
        if count:
            total += numerator * (scale // denominator) * count
    return total / scale


def grouped_one_sided_t_test(values: Sequence[float], counts: Sequence[int]) -> TTest | None:
    """`one_sided_t_test` of a sample holding each of `values` `counts` times, computed from
    the distinct values alone, with the same result to the last bit.

    math.fsum returns the correctly rounded exact sum, and so does `exact_weighted_sum`: the
    mean, each deviation and each squared deviation are the same floats as over the full
    sample.
    """
    present = [(v, c) for v, c in zip(values, counts, strict=True) if c > 0]
    n = sum(c for _, c in present)
    if n < 2:
        return None
    distinct = [v for v, _ in present]
    if not all(map(math.isfinite, distinct)) or max(distinct) == min(distinct):
        return None
    weights = [c for _, c in present]
    mean = exact_weighted_sum(distinct, weights) / n
    squares = [(v - mean) * (v - mean) for v in distinct]
    variance = exact_weighted_sum(squares, weights) / (n - 1)
    if variance <= 0.0:
        return None
    t = mean / math.sqrt(variance / n)
    return TTest(t, student_t_sf(t, n - 1))
