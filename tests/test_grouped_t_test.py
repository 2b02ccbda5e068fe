"""The grouped t-test (a sample given as distinct values and their counts) and the array
one against the plain one over the expanded sample: the same floats to the last bit."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from core.backtest.stats import (
    exact_weighted_sum,
    grouped_one_sided_t_test,
    one_sided_t_test,
    one_sided_t_test_of_array,
)

RETURNS = st.floats(-1.0, 50.0, allow_nan=False, allow_infinity=False) | st.sampled_from(
    [-1.0, -0.5, 0.0, 0.85, 1.1, 0.425]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(RETURNS, st.integers(0, 40)), min_size=1, max_size=25))
def test_grouped_equals_the_expanded_sample(pairs: list[tuple[float, int]]) -> None:
    values = [v for v, _ in pairs]
    counts = [c for _, c in pairs]
    expanded = [v for v, c in pairs for _ in range(c)]
    assert exact_weighted_sum(values, counts) == math.fsum(expanded)
    assert grouped_one_sided_t_test(values, counts) == one_sided_t_test(expanded)
    assert one_sided_t_test_of_array(np.array(expanded)) == one_sided_t_test(expanded)


def test_a_flat_run_of_one_repeated_return_has_no_t_test() -> None:
    assert grouped_one_sided_t_test([0.85, -1.0], [10, 0]) is None
    assert grouped_one_sided_t_test([0.85], [1]) is None
    test = grouped_one_sided_t_test([0.85, -1.0], [10, 5])
    assert test is not None and test == one_sided_t_test([0.85] * 10 + [-1.0] * 5)
