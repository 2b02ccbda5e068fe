"""The luck report's statistics (core.backtest.luck): q-values, date blocks, walk-forward, PBO.

The property tests hold the vectorised code equal to slow references written straight from the
issue's definitions with Fractions and itertools.combinations.
"""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.backtest.luck import (
    PboResult,
    PeriodTotals,
    benjamini_hochberg,
    best_in_sample_yield,
    date_blocks,
    probability_of_backtest_overfitting,
    walk_forward_choices,
)

UNIT = 10_000  # a stake of 1 in units of 0.0001

# Consecutive Fibonacci ratios F(41)/F(40) and F(42)/F(41): they differ by exactly
# 1 / (F(40) * F(41)) yet round to the same float. The first is the larger.
HIGH = (165_580_141, 102_334_155)
LOW = (267_914_296, 165_580_141)
# Beyond 2**53 the int -> float conversions round: SMALLER's float yield (1 + 2**-52) is above
# LARGER's (1.0), while its exact yield, 1 + 19 / (2**58 + 796), is below 1 + 38 / (2**58 + 888).
SMALLER = (2**58 + 815, 2**58 + 796)
LARGER = (2**58 + 926, 2**58 + 888)


def table(cells: list[list[tuple[int, int, int]]] | np.ndarray) -> PeriodTotals:
    """PeriodTotals from rows of (bets, profit_units, staked_units) cells."""
    array = np.array(cells, dtype=np.int64).reshape(len(cells), -1, 3)
    return PeriodTotals(array[:, :, 0].copy(), array[:, :, 1].copy(), array[:, :, 2].copy())


def flat(bets: int, profit: float) -> tuple[int, int, int]:
    """A cell of `bets` bets at stake 1 with a total profit of `profit`."""
    return (bets, round(profit * UNIT), bets * UNIT)


NONE = (0, 0, 0)


# ---------------------------------------------------------------------------- references


def ref_yield(cells: list[tuple[int, int, int]]) -> Fraction | None:
    bets = sum(c[0] for c in cells)
    return Fraction(sum(c[1] for c in cells), sum(c[2] for c in cells)) if bets else None


def ref_best(yields: list[Fraction | None]) -> int | None:
    best = None
    for v, y in enumerate(yields):
        if y is not None and (best is None or y > yields[best]):  # strict: ties keep the earliest
            best = v
    return best


def ref_walk_forward(cells: list[list[tuple[int, int, int]]], min_bets: int) -> list[int | None]:
    choices = []
    for p in range(2, len(cells[0]) if cells else 0):
        yields = [
            ref_yield(row[:p]) if sum(c[0] for c in row[:p]) >= max(min_bets, 1) else None
            for row in cells
        ]
        choices.append(ref_best(yields))
    return choices


def ref_pbo(cells: list[list[tuple[int, int, int]]]) -> tuple[float | None, int, int, list[float]]:
    blocks = len(cells[0])
    if sum(1 for row in cells if any(c[0] for c in row)) < 2:
        return None, 0, 0, []
    evaluated = overfit = 0
    logits = []
    for in_sample in combinations(range(blocks), blocks // 2):
        out_sample = [b for b in range(blocks) if b not in in_sample]
        star = ref_best([ref_yield([row[b] for b in in_sample]) for row in cells])
        out = [ref_yield([row[b] for b in out_sample]) for row in cells]
        if star is None or out[star] is None:
            continue
        others = [y for y in out if y is not None]
        below = sum(1 for y in others if y < out[star])
        tied = sum(1 for y in others if y == out[star])
        rank = below + Fraction(tied + 1, 2)  # the average of ranks below+1 .. below+tied
        omega = rank / (len(others) + 1)
        evaluated += 1
        overfit += omega <= Fraction(1, 2)
        logits.append(math.log(omega / (1 - omega)))
    return (overfit / evaluated if evaluated else None), evaluated, overfit, logits


def assert_pbo(result: PboResult, expected: tuple[float | None, int, int, list[float]]) -> None:
    pbo, evaluated, overfit, logits = expected
    assert (result.pbo, result.evaluated_splits, result.overfit_splits) == (
        pbo,
        evaluated,
        overfit,
    )
    assert result.logits == pytest.approx(logits, rel=1e-12, abs=1e-12)


# ---------------------------------------------------------------------------- Benjamini-Hochberg


def test_bh_worked_example() -> None:
    # m = 4; sorted p 0.01, 0.02, 0.03, 0.5 -> m*p/i = 0.04, 0.04, 0.04, 0.5.
    # Running minimum from the largest down: 0.5, 0.04, 0.04, 0.04. Input order restored.
    assert benjamini_hochberg([0.5, 0.03, 0.01, 0.02]) == pytest.approx([0.5, 0.04, 0.04, 0.04])
    # m = 3; sorted 0.01, 0.04, 0.045 -> 0.03, 0.06, 0.045; the running minimum pulls
    # rank 2 down to rank 3's 0.045.
    assert benjamini_hochberg([0.04, 0.045, 0.01]) == pytest.approx([0.045, 0.045, 0.03])


def test_bh_classic_fifteen_p_values() -> None:
    # Benjamini & Hochberg (1995), section 4: 15 p-values; at q = 0.05 the procedure rejects 4.
    p = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459]
    p += [0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.000]
    # 15 * p_(i) / i, then the running minimum from i = 15 down:
    #  i=15 1.0 | 14 0.7590*15/14 = 0.8132142857 | 13 0.6528*15/13 = 0.7532307692
    #  12 0.5719*15/12 = 0.714875 | 11 0.4262*15/11 = 0.5811818182 | 10 0.3240*15/10 = 0.486
    #  9 0.0459*15/9 = 0.0765 | 8 0.0344*15/8 = 0.0645 | 7 0.0298*15/7 = 0.0638571429
    #  6 0.0278*15/6 = 0.0695 -> min with i=7: 0.0638571429 | 5 0.0201*15/5 = 0.0603
    #  4 0.0095*15/4 = 0.035625 | 3 0.0019*15/3 = 0.0095 | 2 0.0004*15/2 = 0.003
    #  1 0.0001*15 = 0.0015
    expected = [0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.0638571428571, 0.0638571428571]
    expected += [0.0645, 0.0765, 0.486, 0.581181818182, 0.714875, 0.753230769231]
    expected += [0.813214285714, 1.0]
    q = benjamini_hochberg(p)
    assert q == pytest.approx(expected, rel=1e-10)
    assert sum(1 for value in q if value is not None and value <= 0.05) == 4


def test_bh_none_ties_and_cap() -> None:
    # None is skipped and does not count: m = 3 here, not 5.
    # Sorted 0.02, 0.02, 0.9 -> 0.03, 0.03 (3*0.02/2), 0.9; equal p-values get equal q-values.
    assert benjamini_hochberg([None, 0.02, 0.9, None, 0.02]) == pytest.approx(
        [None, 0.03, 0.9, None, 0.03]
    )
    # 0.6 * 2 / 1 = 1.2 is capped at 1, and the running minimum keeps it at the later 0.7.
    assert benjamini_hochberg([0.6, 0.7]) == [0.7, 0.7]
    assert benjamini_hochberg([0.9, 0.95]) == [0.95, 0.95]
    assert benjamini_hochberg([1.0, 1.0, 1.0]) == [1.0, 1.0, 1.0]


def test_bh_empty_and_all_none() -> None:
    assert benjamini_hochberg([]) == []
    assert benjamini_hochberg([None, None]) == [None, None]
    assert benjamini_hochberg([0.2]) == [0.2]


@pytest.mark.parametrize("bad", [float("nan"), -0.1, 1.5])
def test_bh_rejects_a_value_that_is_no_p_value(bad: float) -> None:
    with pytest.raises(ValueError, match="p-value 1 is"):
        benjamini_hochberg([0.1, bad])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(0, 1)), max_size=30))
def test_bh_matches_the_definition(p_values: list[float | None]) -> None:
    present = [p for p in p_values if p is not None]
    m = len(present)
    ordered = sorted(present)
    q = benjamini_hochberg(p_values)
    for value, p in zip(q, p_values, strict=True):
        if p is None:
            assert value is None
            continue
        # q(p) = min over ranks j at or above p's own (first) rank of m * p_(j) / j, capped at 1.
        first = ordered.index(p) + 1
        expected = min(1.0, min(m * ordered[j - 1] / j for j in range(first, m + 1)))
        assert value == pytest.approx(expected, rel=1e-12, abs=1e-15)


# ---------------------------------------------------------------------------- date blocks


def test_date_blocks_give_the_remainder_to_the_first_blocks() -> None:
    days = np.arange(10)  # D = 10, S = 3: 10 // 3 = 3 days each, the first 10 % 3 = 1 takes 4
    assert date_blocks(days, 3).tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert date_blocks(np.arange(11), 3).tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    assert date_blocks(np.arange(4), 4).tolist() == [0, 1, 2, 3]
    assert date_blocks(np.arange(9), 3).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_date_blocks_take_dates() -> None:
    days = np.array(["2024-01-01", "2024-01-05", "2024-02-01"], dtype="datetime64[D]")
    assert date_blocks(days, 2).tolist() == [0, 0, 1]


def test_date_blocks_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="cannot make 4 blocks"):
        date_blocks(np.arange(3), 4)
    with pytest.raises(ValueError, match="sorted"):
        date_blocks(np.array([1, 1, 2]), 2)
    with pytest.raises(ValueError, match="at least 1"):
        date_blocks(np.arange(3), 0)


# ---------------------------------------------------------------------------- walk-forward


def test_walk_forward_by_eye() -> None:
    cells = [
        # seasons:   0              1              2             3             4
        [flat(30, 6), flat(30, 6), flat(10, -5), flat(0, 0), flat(40, 1)],  # v0
        [flat(20, 8), flat(0, 0), flat(30, 3), flat(30, -30), flat(10, 0)],  # v1
        [flat(5, 5), flat(5, 5), flat(40, 40), flat(10, 10), flat(10, 10)],  # v2
    ]
    totals = table(cells)
    # In-sample (bets, yield) of v0, v1, v2:
    #   season 2 (0..1): (60, 12/60 = 0.2), (20, 8/20 = 0.4),   (10, 1)
    #   season 3 (0..2): (70, 7/70 = 0.1),  (50, 11/50 = 0.22), (50, 1)
    #   season 4 (0..3): (70, 0.1),         (80, -19/80),       (60, 1)
    assert walk_forward_choices(totals, 0) == [2, 2, 2]
    assert walk_forward_choices(totals, 15) == [1, 2, 2]  # v2's 10 bets too few in season 2
    assert walk_forward_choices(totals, 50) == [0, 2, 2]
    # Season 3 at 60: only v0 is eligible, and it has 0 bets in season 3.
    assert walk_forward_choices(totals, 60) == [0, 0, 2]
    assert walk_forward_choices(totals, 61) == [None, 0, 0]  # season 4: v0 0.1 beats v1
    assert walk_forward_choices(totals, 75) == [None, None, 1]
    assert walk_forward_choices(totals, 81) == [None, None, None]


def test_walk_forward_ties_go_to_the_earliest_and_min_bets_is_at_least_one() -> None:
    cells = [
        [NONE, NONE, flat(5, 5)],  # never bets in sample: not eligible even with min-bets 0
        [flat(10, 2), flat(10, 2), NONE],  # 4/20 = 0.2
        [flat(5, 1), flat(0, 0), NONE],  # 1/5 = 0.2, tied with v1 but later
        [flat(1, -1), flat(4, 2), NONE],  # 1/5 = 0.2 too
    ]
    assert walk_forward_choices(table(cells), 0) == [1]
    assert walk_forward_choices(table(cells), -3) == [1]
    assert walk_forward_choices(table(cells), 21) == [None]


def test_walk_forward_needs_three_periods() -> None:
    assert walk_forward_choices(table([[flat(5, 1), flat(5, 1)]]), 0) == []
    assert walk_forward_choices(table([[flat(5, 1), flat(5, 1), NONE]]), 0) == [0]


def test_walk_forward_decides_yields_that_round_to_the_same_float_exactly() -> None:
    # v0 is LOW, v1 is HIGH: the same float, but v1's yield is the larger.
    assert HIGH[0] / HIGH[1] == LOW[0] / LOW[1]
    assert Fraction(*HIGH) > Fraction(*LOW)
    cells = [[(1, LOW[0], LOW[1]), NONE, NONE], [(1, HIGH[0], HIGH[1]), NONE, NONE]]
    assert walk_forward_choices(table(cells), 0) == [1]
    # Beyond int64 products: 2**60 / (2**60 - 1) rounds to 1.0 but beats 1.
    big = 2**60
    cells = [[(1, 5, 5), NONE, NONE], [(1, big, big - 1), NONE, NONE]]
    assert walk_forward_choices(table(cells), 0) == [1]
    # Both near 1 + 2**-60, so the cross products (~2**120) leave int64 and so does their
    # difference, 32 * (2**60 - 1): wrapped int64 arithmetic would call it a tie.
    assert (big + 32) / (big - 1) == big / (big - 1)
    cells = [[(1, big, big - 1), NONE, NONE], [(1, big + 32, big - 1), NONE, NONE]]
    assert walk_forward_choices(table(cells), 0) == [1]
    # Float yields (as numpy computes them) in the wrong order.
    assert float(SMALLER[0]) / float(SMALLER[1]) > float(LARGER[0]) / float(LARGER[1])
    assert Fraction(*SMALLER) < Fraction(*LARGER)
    cells = [[(1, *SMALLER), NONE, NONE], [(1, *LARGER), NONE, NONE]]
    assert walk_forward_choices(table(cells), 0) == [1]


def test_best_in_sample_yield() -> None:
    bets, profit, staked = [10, 60, 0, 3], [5 * UNIT, 6 * UNIT, 0, 3 * UNIT], [10, 60, 0, 3]
    staked = [b * UNIT for b in staked]
    assert best_in_sample_yield(bets, profit, staked, 0) == 1.0  # v3: 3/3
    assert best_in_sample_yield(bets, profit, staked, 4) == 0.5  # v0: 5/10
    assert best_in_sample_yield(bets, profit, staked, 11) == 0.1  # v1: 6/60
    assert best_in_sample_yield(bets, profit, staked, 61) is None
    assert best_in_sample_yield([0, 0], [0, 0], [0, 0], 0) is None
    assert best_in_sample_yield([], [], [], 0) is None


# ---------------------------------------------------------------------------- PBO


def test_pbo_skips_a_split_whose_best_has_no_out_of_sample_bets() -> None:
    cells = [
        [flat(2, 2), NONE],  # v0: yield 1 in block A, no bets in block B
        [flat(4, 0), flat(4, 1)],  # v1: 0 in A, 0.25 in B
    ]
    # In A / out B: n* = v0, which has no bets in B -> skipped.
    # In B / out A: n* = v1 (v0 takes no part); out A: v0 1 > v1 0 -> rank 1 of N = 2,
    #   omega = 1/3, lambda = ln(1/2) <= 0: overfit.
    result = probability_of_backtest_overfitting(table(cells))
    assert result == PboResult(1.0, 1, 1, [pytest.approx(math.log(0.5))])


def test_pbo_ties_in_and_out_of_sample() -> None:
    cells = [
        [flat(2, 1), flat(5, 1)],  # v0: A 0.5, B 0.2
        [flat(4, 2), flat(10, 2)],  # v1: A 0.5, B 0.2
        [flat(1, 0), flat(5, 1)],  # v2: A 0,   B 0.2
    ]
    # In A / out B: v0 and v1 tie at 0.5 -> n* = v0. Out B all three tie at 0.2: rank
    #   (1+2+3)/3 = 2, omega = 2/4, lambda = 0 -> overfit (lambda <= 0).
    # In B / out A: all tie -> n* = v0. Out A: v2 0 is rank 1; v0, v1 share (2+3)/2 = 2.5,
    #   omega = 2.5/4 = 0.625, lambda = ln(0.625/0.375) = ln(5/3) > 0.
    result = probability_of_backtest_overfitting(table(cells))
    assert (result.pbo, result.evaluated_splits, result.overfit_splits) == (0.5, 2, 1)
    assert result.logits == [0.0, pytest.approx(math.log(5 / 3))]


def test_pbo_only_the_best_betting_out_of_sample_counts_as_overfit() -> None:
    cells = [[flat(3, 3), flat(3, 3)], [flat(3, 0), NONE]]
    # In A / out B: n* = v0, alone out of sample: rank 1 of 1, omega 1/2, lambda 0 -> overfit.
    # In B / out A: n* = v0 (v1 takes no part); out A: v0 1 > v1 0: rank 2 of 2,
    #   omega 2/3, lambda ln 2.
    result = probability_of_backtest_overfitting(table(cells))
    assert result == PboResult(0.5, 2, 1, [0.0, pytest.approx(math.log(2))])


def test_pbo_skips_a_split_with_no_in_sample_bets() -> None:
    cells = [[NONE, flat(3, 3)], [NONE, flat(3, 0)]]
    # In A: nobody bets, no n*. In B / out A: n* = v0 with no bets in A. Nothing evaluated.
    assert probability_of_backtest_overfitting(table(cells)) == PboResult(None, 0, 0, [])


def test_pbo_needs_two_variants_with_bets() -> None:
    one = [[flat(3, 1), flat(3, 2)], [NONE, NONE], [NONE, NONE]]
    assert probability_of_backtest_overfitting(table(one)) == PboResult(None, 0, 0, [])


@pytest.mark.parametrize("blocks", [1, 3, 5])
def test_pbo_refuses_an_odd_block_count(blocks: int) -> None:
    cells = [[flat(1, 1)] * blocks, [flat(1, 0)] * blocks]
    with pytest.raises(ValueError, match="even number of blocks"):
        probability_of_backtest_overfitting(table(cells))


@pytest.mark.parametrize(("blocks", "splits"), [(2, 2), (4, 6), (6, 20), (8, 70), (10, 252)])
def test_pbo_evaluates_every_split_when_everyone_bets_everywhere(blocks: int, splits: int) -> None:
    assert math.comb(blocks, blocks // 2) == splits
    rng = np.random.default_rng(blocks)
    cells = [[flat(5, float(rng.integers(-5, 6))) for _ in range(blocks)] for _ in range(4)]
    result = probability_of_backtest_overfitting(table(cells))
    assert result.evaluated_splits == splits
    assert len(result.logits) == splits
    assert result.overfit_splits == sum(1 for lam in result.logits if lam <= 0)


def test_pbo_decides_yields_that_round_to_the_same_float_exactly() -> None:
    assert HIGH[0] / HIGH[1] == LOW[0] / LOW[1]
    cells = [
        [(1, LOW[0], LOW[1]), flat(2, 0)],  # v0: A LOW, B 0
        [(1, HIGH[0], HIGH[1]), flat(2, -1)],  # v1: A HIGH (exactly above LOW), B -0.5
        [flat(2, 0), flat(2, 1)],  # v2: A 0, B 0.5
    ]
    # In A / out B: n* = v1 (a float argmax would take v0). Out B: v1 -0.5 is rank 1 of 3,
    #   omega 1/4, lambda ln(1/3).
    # In B / out A: n* = v2; out A: v2 0 is rank 1 of 3 -> ln(1/3) again.
    result = probability_of_backtest_overfitting(table(cells))
    assert result == PboResult(1.0, 2, 2, [pytest.approx(math.log(1 / 3))] * 2)

    # LOW and HIGH are near 1.618.
    cells = [
        [flat(2, 0), flat(1, 2)],  # v0: A 0, B 2
        [flat(2, 1), (1, LOW[0], LOW[1])],  # v1: A 0.5, B LOW
        [flat(2, 2), (1, HIGH[0], HIGH[1])],  # v2: A 1, B HIGH
    ]
    # In A / out B: n* = v2; out B: LOW (v1) < HIGH (v2) < 2 (v0): rank 2 of 3, omega 1/2,
    #   lambda 0 -> overfit. Treating LOW and HIGH as a tie would give rank 1.5, ln(3/5).
    # In B / out A: n* = v0 (2); out A it is the worst: rank 1 of 3, ln(1/3).
    assert probability_of_backtest_overfitting(table(cells)) == PboResult(
        1.0, 2, 2, [0.0, pytest.approx(math.log(1 / 3))]
    )


def test_pbo_with_totals_beyond_int64_products() -> None:
    big = 2**60
    cells = [
        [(1, 5, 5), flat(1, 1)],  # v0: A 1, B 1
        [(1, big, big - 1), flat(1, 0)],  # v1: A just above 1 (rounds to 1.0), B 0
        [flat(1, 0), (1, big - 1, big)],  # v2: A 0, B just below 1 (rounds to 1.0)
    ]
    # In A / out B: n* = v1 (a float argmax would take v0); out B: v1 0 < v2 < v0 1: rank 1,
    #   ln(1/3).
    # In B / out A: n* = v0 (exactly above v2); out A: v2 0 < v0 1 < v1: rank 2 of 3, lambda 0
    #   -> overfit. A float tie of v0 with v1 would give rank 2.5 and lambda ln(5/3).
    assert probability_of_backtest_overfitting(table(cells)) == PboResult(
        1.0, 2, 2, [pytest.approx(math.log(1 / 3)), 0.0]
    )


def test_pbo_with_float_yields_in_the_wrong_order() -> None:
    cells = [
        [flat(1, 2), (1, *SMALLER)],  # v0: A 2, B SMALLER
        [flat(1, 0), (1, *LARGER)],  # v1: A 0, B LARGER
        [flat(1, 1), flat(1, 1)],  # v2: A 1, B 1
    ]
    # In A / out B: n* = v0; out B: 1 (v2) < SMALLER (v0) < LARGER (v1): rank 2 of 3, lambda 0
    #   -> overfit. Ranked by floats, v0 would be on top: ln 3.
    # In B / out A: n* = v1 (floats would take v0); out A it is the worst: ln(1/3).
    assert probability_of_backtest_overfitting(table(cells)) == PboResult(
        1.0, 2, 2, [0.0, pytest.approx(math.log(1 / 3))]
    )


def noise(rng: np.random.Generator, variants: int, blocks: int) -> np.ndarray:
    """[variants, blocks, 3] cells of random +-1 bets (10 to 30 a block) at stake 1."""
    bets = rng.integers(10, 31, size=(variants, blocks))
    wins = rng.binomial(bets, 0.5)
    return np.stack([bets, (2 * wins - bets) * UNIT, bets * UNIT], axis=-1)


def test_pbo_of_pure_noise_is_near_one_half() -> None:
    # One run swings widely (0.17 to 0.84 over 30 seeds: the 252 splits share their data), so
    # the band is on the mean of 20 seeded runs, whose spread is about 0.03.
    results = [
        probability_of_backtest_overfitting(table(noise(np.random.default_rng(seed), 200, 10)))
        for seed in range(20)
    ]
    assert all(r.evaluated_splits == 252 and r.pbo is not None for r in results)
    mean = sum(r.pbo or 0.0 for r in results) / len(results)
    assert 0.4 <= mean <= 0.6


def test_pbo_of_a_real_edge_among_noise_is_near_zero() -> None:
    rng = np.random.default_rng(20150102)
    cells = noise(rng, 200, 10)
    # Variant 57 wins 14 of 20 bets in every block: yield 0.4 everywhere, while the best of
    # 200 noise variants over half the data (about 100 bets, sd 0.1) is near 0.28.
    cells[57] = [20, 8 * UNIT, 20 * UNIT]
    result = probability_of_backtest_overfitting(table(cells))
    assert result.evaluated_splits == 252
    assert result.pbo is not None
    assert result.pbo < 0.1


# ---------------------------------------------------------------------------- properties


def cells_strategy(max_periods: int, even: bool) -> st.SearchStrategy[list[list[tuple]]]:
    """Small tables whose yields tie often (profits per bet from a short list), or any ints."""

    def cell(tied: bool) -> st.SearchStrategy[tuple[int, int, int]]:
        if tied:
            per_bet = st.sampled_from([-UNIT, 0, UNIT // 2, UNIT, 2 * UNIT])
            return st.integers(0, 3).flatmap(
                lambda n: st.lists(per_bet, min_size=n, max_size=n).map(
                    lambda ps: (len(ps), sum(ps), len(ps) * UNIT)
                )
            )
        return st.one_of(
            st.just(NONE),
            st.tuples(st.integers(1, 5), st.integers(-(2**40), 2**40), st.integers(1, 2**40)),
        )

    periods = st.sampled_from(
        [p for p in range(2, max_periods + 1) if p % 2 == 0] if even else range(1, max_periods + 1)
    )
    return st.tuples(st.integers(1, 7), periods, st.booleans()).flatmap(
        lambda vpt: st.lists(
            st.lists(cell(vpt[2]), min_size=vpt[1], max_size=vpt[1]),
            min_size=vpt[0],
            max_size=vpt[0],
        )
    )


@settings(max_examples=200, deadline=None)
@given(cells_strategy(max_periods=6, even=True))
def test_pbo_matches_the_reference(cells: list[list[tuple[int, int, int]]]) -> None:
    assert_pbo(probability_of_backtest_overfitting(table(cells)), ref_pbo(cells))


@pytest.mark.parametrize("blocks", [8, 10])
def test_pbo_matches_the_reference_on_many_blocks(blocks: int) -> None:
    rng = np.random.default_rng(blocks)
    bets = rng.integers(0, 4, size=(6, blocks))
    profit = rng.integers(-1, 3, size=(6, blocks)) * bets * UNIT // 2  # ties are common
    cells = np.stack([bets, profit, bets * UNIT], axis=-1)
    assert_pbo(probability_of_backtest_overfitting(table(cells)), ref_pbo(cells.tolist()))


@settings(max_examples=200, deadline=None)
@given(cells_strategy(max_periods=6, even=False), st.integers(-1, 6))
def test_walk_forward_matches_the_reference(
    cells: list[list[tuple[int, int, int]]], min_bets: int
) -> None:
    assert walk_forward_choices(table(cells), min_bets) == ref_walk_forward(cells, min_bets)


@settings(max_examples=200, deadline=None)
@given(cells_strategy(max_periods=1, even=False), st.integers(-1, 4))
def test_best_in_sample_yield_matches_the_reference(
    cells: list[list[tuple[int, int, int]]], min_bets: int
) -> None:
    column = [row[0] for row in cells]
    eligible = [c for c in column if c[0] >= max(min_bets, 1)]
    expected = max((Fraction(c[1], c[2]) for c in eligible), default=None)
    got = best_in_sample_yield(*zip(*column, strict=True), min_bets)
    assert got == (None if expected is None else float(expected))


# ---------------------------------------------------------------------------- PeriodTotals


def test_period_totals_refuse_inconsistent_cells() -> None:
    with pytest.raises(ValueError, match="without bets"):
        table([[(0, 5, 0)]])
    with pytest.raises(ValueError, match="no positive stake"):
        table([[(2, 5, 0)]])
    with pytest.raises(ValueError, match="negative"):
        table([[(-1, 0, 0)]])
    with pytest.raises(ValueError, match="too large"):
        table([[(1, 2**62, 1), NONE]])
    with pytest.raises(ValueError, match="too large"):
        table([[(1, -(2**63), 1)]])
    with pytest.raises(ValueError, match="2-D int64"):
        PeriodTotals(np.zeros((1, 1)), np.zeros((1, 1)), np.zeros((1, 1)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shape"):
        z = np.zeros((1, 2), dtype=np.int64)
        PeriodTotals(z, z, np.zeros((2, 1), dtype=np.int64))
