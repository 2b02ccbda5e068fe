"""The luck report of a sweep: q-values, walk-forward and the probability of backtest overfitting.

Pure statistics over per-variant totals; no database. Money enters as exact integers in units of
0.0001 (``profit_units``, ``staked_units``), so every comparison that decides a choice, a tie or
a rank is exact; floats appear only where a result is reported (yields, logits, q-values).

Definitions (issue 11, section 3; these numbers swing widely between plausible readings):

* **Yield** of a variant over a set of bets = pooled profit / pooled stake over them. The issue
  writes "profit / bets"; every sweep variant has the same flat stake, so the two differ by a
  constant factor and order variants identically; profit / staked is ``backtest``'s ``yield``.
  A variant with no bets in a set has no yield there and takes no part in any choice or rank.
  Two yields a/b and c/d are compared by a*d against c*b (b, d > 0), never as floats: distinct
  yields can round to the same float.

* **q-values** (``benjamini_hochberg``): the Benjamini-Hochberg (1995) step-up adjusted
  p-values. With the m non-None p-values sorted ascending, p_(1) <= ... <= p_(m),
  q_(i) = min(1, min over j >= i of m * p_(j) / j): the running minimum from the largest p down,
  capped at 1. Equal p-values get equal q-values. None stays None and does not count in m. A
  p-value outside [0, 1] (or NaN) is a ValueError.

* **Date blocks** (``date_blocks``): the D distinct kick-off days of the fixtures that at least
  one variant bets on, sorted, cut into S contiguous blocks of D // S days each; the first
  D % S blocks take one more day. D < S is a ValueError (the report shows no PBO then).

* **Walk-forward** (``walk_forward_choices``), periods = seasons in chronological order: for
  each period p from the third on (index 2 .. P-1), the variant with the highest in-sample
  yield pooled over ALL earlier periods (0 .. p-1), among variants with at least
  max(min_bets, 1) in-sample bets; ties go to the lowest variant index (grid order). None when
  no variant is eligible (no bets that period). With fewer than 3 periods the list is empty.
  ``best_in_sample_yield`` is the highest whole-data yield among variants with at least
  max(min_bets, 1) bets, or None.

* **PBO** (``probability_of_backtest_overfitting``), combinatorially symmetric cross-validation
  (Bailey, Borwein, Lopez de Prado and Zhu, 2015) with the S date blocks as the partitions.
  S must be even and at least 2 (otherwise ValueError; the caller requires it). Each of the
  C(S, S/2) subsets of S/2 blocks is an in-sample half once, in the order of
  ``itertools.combinations(range(S), S // 2)``, the other blocks being its out-of-sample half;
  so a split and its mirror are both counted. For each split:

  - n* = the variant with the highest in-sample yield, ties to the lowest index, no min-bets
    filter. When no variant bets in-sample (n* does not exist) or n* has no out-of-sample bet,
    the split is skipped.
  - Otherwise the N variants with out-of-sample bets (n* among them) are ranked by
    out-of-sample yield, 1 the worst, ties sharing their average rank:
    rank(n*) = (number strictly below) + (t + 1) / 2, t the size of n*'s tie group (n*
    included). omega = rank(n*) / (N + 1), lambda = ln(omega / (1 - omega)); the split is
    overfit when lambda <= 0, decided exactly as 2 * rank(n*) <= N + 1. So a split where n* is
    the only variant betting out of sample (rank 1 of 1, lambda = 0) counts as overfit.
  - PBO = overfit splits / evaluated splits; None with fewer than 2 variants that bet at all
    or with no evaluated split. ``logits`` lists lambda of each evaluated split in split order.

Speed: everything runs on [halves, variants] integer sums. The C(S, S/2) / 2 halves that hold
block 0 are summed along their combinations order, sharing prefixes; the others are their
complements (total - half), and the complement of the h-th half in combinations order is the
(K-1-h)-th. Float yields rank everything outside a narrow band around each decisive value;
inside the band the order is settled by exact integer cross-multiplication.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "PboResult",
    "PeriodTotals",
    "benjamini_hochberg",
    "best_in_sample_yield",
    "date_blocks",
    "probability_of_backtest_overfitting",
    "walk_forward_choices",
]

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]

# Each variant's totals (|profit| and stake summed over all periods) stay below this, so every
# partial sum and the difference of two of them fit in int64.
_TOTAL_LIMIT = 2**62
# A float yield (two int->float conversions and one division) is within 3 roundoffs (2**-53
# each, relative) of the exact yield. So a float below f - 16 * 2**-53 * |f| has an exact yield
# below f's, and one above f + that has one above (a yield of exactly 0 is exactly 0.0). Floats
# rank everything outside this band (4 times wider again); inside, the order is settled exactly.
_BAND = 64 * 2.0**-53


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values (q-values) in input order; None stays None."""
    present = [i for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = [None] * len(p_values)
    if not present:
        return out
    p = np.array([p_values[i] for i in present], dtype=np.float64)
    bad = np.flatnonzero(~((p >= 0.0) & (p <= 1.0)))
    if bad.size:
        i = present[int(bad[0])]
        raise ValueError(f"p-value {i} is {p_values[i]!r}, not in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    stepped_up = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(stepped_up, 1.0)
    for i, value in zip(present, q.tolist(), strict=True):
        out[i] = value
    return out


def date_blocks(distinct_days: np.ndarray, blocks: int) -> Ints:
    """Block index (0 .. blocks-1) of each sorted distinct day; earlier blocks may be larger."""
    days = len(distinct_days)
    if blocks < 1:
        raise ValueError(f"blocks must be at least 1, got {blocks}")
    if days < blocks:
        raise ValueError(f"{days} distinct days cannot make {blocks} blocks")
    if days > 1 and not bool(np.all(distinct_days[1:] > distinct_days[:-1])):
        raise ValueError("distinct_days must be sorted ascending without repeats")
    size, extra = divmod(days, blocks)
    sizes = np.full(blocks, size, dtype=np.int64)
    sizes[:extra] += 1
    return np.repeat(np.arange(blocks, dtype=np.int64), sizes)


@dataclass(frozen=True)
class PeriodTotals:
    """Per variant (rows) and period (columns): bets, exact profit and stake in 0.0001 units."""

    bets: Ints
    profit_units: Ints
    staked_units: Ints

    def __post_init__(self) -> None:
        arrays = {"bets": self.bets, "profit_units": self.profit_units}
        arrays["staked_units"] = self.staked_units
        for name, array in arrays.items():
            if not isinstance(array, np.ndarray) or array.dtype != np.int64 or array.ndim != 2:
                raise ValueError(f"PeriodTotals.{name} must be a 2-D int64 numpy array")
        if not self.bets.shape == self.profit_units.shape == self.staked_units.shape:
            raise ValueError(
                "PeriodTotals arrays differ in shape: "
                f"{self.bets.shape}, {self.profit_units.shape}, {self.staked_units.shape}"
            )
        if self.bets.size == 0:
            return
        if int(self.bets.min()) < 0:
            raise ValueError("PeriodTotals.bets has a negative count")
        idle = self.bets == 0
        if bool(np.any(self.staked_units[idle] != 0) or np.any(self.profit_units[idle] != 0)):
            raise ValueError("PeriodTotals has stake or profit in a cell without bets")
        if bool(np.any(self.staked_units[~idle] <= 0)):
            raise ValueError("PeriodTotals has a cell with bets but no positive stake")
        periods = self.bets.shape[1]
        for name, array in arrays.items():
            # max |cell| < 2**62 / P keeps every row total, and sums of two, inside int64.
            if max(int(array.max()), -int(array.min())) >= _TOTAL_LIMIT // periods:
                raise ValueError(f"PeriodTotals.{name} is too large for exact int64 sums")

    @property
    def variants(self) -> int:
        return int(self.bets.shape[0])

    @property
    def periods(self) -> int:
        return int(self.bets.shape[1])


@dataclass(frozen=True)
class PboResult:
    pbo: float | None
    """Overfit splits / evaluated splits; None when it cannot be measured."""
    evaluated_splits: int
    overfit_splits: int
    logits: list[float]
    """lambda of each evaluated split, in split order (for a histogram)."""


def _yields(profit: Ints, staked: Ints, active: Bools) -> Floats:
    """Float yields where active, -inf elsewhere."""
    out = np.full(profit.shape, -np.inf)
    np.divide(profit, staked, out=out, where=active)
    return out


def _compare(pa: Ints, sa: Ints, pb: Ints, sb: Ints) -> Ints:
    """Exact sign of pa/sa - pb/sb, elementwise (stakes positive)."""
    if pa.size == 0:
        return np.zeros(0, dtype=np.int64)
    largest_profit = max(int(np.abs(pa).max()), int(np.abs(pb).max()))
    largest_stake = max(int(sa.max()), int(sb.max()))
    if largest_profit * largest_stake < _TOTAL_LIMIT:
        diff: np.ndarray = pa * sb - pb * sa
    else:  # the products would overflow int64: Python integers, on the few values in the band
        diff = pa.astype(object) * sb.astype(object) - pb.astype(object) * sa.astype(object)
    return (diff > 0).astype(np.int64) - (diff < 0).astype(np.int64)


def _exact_best(profit: list[int], staked: list[int]) -> int:
    """Position of the highest yield, the first on ties (Python integers, no overflow)."""
    best = 0
    for i in range(1, len(profit)):
        if profit[i] * staked[best] > profit[best] * staked[i]:
            best = i
    return best


def _exact_argmax(profit: Ints, staked: Ints, eligible: Bools, yields: Floats) -> Ints:
    """Per row, the lowest column with the highest exact yield among eligible ones; -1 if none.

    Rows are periods or halves, columns variants (rows contiguous, so reductions are fast).
    """
    rows, columns = profit.shape
    if columns == 0:
        return np.full(rows, -1, dtype=np.int64)
    every = np.arange(rows)
    lead = np.argmax(yields, axis=1)
    top = yields[every, lead]
    choice = np.where(eligible[every, lead], lead, -1)
    # Only yields at or above `floor` can equal or beat the float leader exactly (rows with no
    # eligible column get +inf: nothing to settle).
    floor = np.where(choice >= 0, top - _BAND * np.abs(top), np.inf)
    near = yields >= floor[:, None]
    crowded = np.flatnonzero(np.count_nonzero(near, axis=1) > 1)
    if crowded.size == 0:
        return choice
    ri, vj = np.nonzero(near[crowded])
    row = crowded[ri]
    leader = lead[row]
    sign = _compare(profit[row, vj], staked[row, vj], profit[row, leader], staked[row, leader])
    best = np.full(crowded.size, columns, dtype=np.int64)
    np.minimum.at(best, ri[sign == 0], vj[sign == 0])
    choice[crowded] = best
    # The float leader was beaten exactly (distinct yields that round alike): settle in Python.
    for i in np.unique(ri[sign > 0]).tolist():
        r = int(crowded[i])
        candidates = vj[ri == i]
        pick = _exact_best(profit[r, candidates].tolist(), staked[r, candidates].tolist())
        choice[r] = candidates[pick]
    return choice


def walk_forward_choices(totals: PeriodTotals, min_bets: int) -> list[int | None]:
    """The variant chosen for each period from the third on (None: no eligible variant)."""
    periods = totals.periods
    if periods < 3:
        return []
    bets, profit, staked = (
        np.ascontiguousarray(np.cumsum(array, axis=1)[:, 1 : periods - 1].T)
        for array in (totals.bets, totals.profit_units, totals.staked_units)
    )
    eligible = bets >= max(min_bets, 1)
    choice = _exact_argmax(profit, staked, eligible, _yields(profit, staked, eligible))
    return [None if c < 0 else c for c in choice.tolist()]


def best_in_sample_yield(
    bets: ArrayLike, profit_units: ArrayLike, staked_units: ArrayLike, min_bets: int
) -> float | None:
    """Highest whole-data yield among variants with at least max(min_bets, 1) bets, or None."""
    totals = PeriodTotals(
        *(np.asarray(a, dtype=np.int64).reshape(-1, 1) for a in (bets, profit_units, staked_units))
    )
    profit, staked = totals.profit_units.T, totals.staked_units.T
    eligible = np.greater_equal(totals.bets.T, max(min_bets, 1))
    choice = int(_exact_argmax(profit, staked, eligible, _yields(profit, staked, eligible))[0])
    if choice < 0:
        return None
    return int(profit[0, choice]) / int(staked[0, choice])  # int / int rounds correctly


def _half_sums(by_block: Ints, halves: list[tuple[int, ...]]) -> Ints:
    """[halves, variants] sums of the [blocks, variants] table over every half.

    The first K/2 halves (those holding block 0) are summed along their combinations order,
    which shares prefixes: each step adds one block row to a kept partial sum. The others are
    their complements in reverse order: total - sum.
    """
    held = halves[: len(halves) // 2]
    out = np.empty((len(halves), by_block.shape[1]), dtype=np.int64)
    partial: list[Ints] = []
    previous: tuple[int, ...] = ()
    for h, members in enumerate(held):
        shared = 0
        while shared < len(previous) and previous[shared] == members[shared]:
            shared += 1
        del partial[shared:]
        for k in range(shared, len(members)):
            partial.append(by_block[members[k]] + partial[-1] if k else by_block[members[k]])
        out[h] = partial[-1]
        previous = members
    np.subtract(by_block.sum(axis=0), out[len(held) - 1 :: -1], out=out[len(held) :])
    return out


def probability_of_backtest_overfitting(totals: PeriodTotals) -> PboResult:
    """PBO by combinatorially symmetric cross-validation over the S (even) date blocks."""
    blocks = totals.periods
    if blocks < 2 or blocks % 2:
        raise ValueError(f"PBO needs an even number of blocks, at least 2; got {blocks}")
    # Variants that never bet take part in no half; dropping them keeps the index order.
    betting = np.flatnonzero(totals.bets.sum(axis=1) > 0)
    variants = betting.size
    if variants < 2:
        return PboResult(None, 0, 0, [])
    halves = list(combinations(range(blocks), blocks // 2))
    splits = len(halves)
    # [halves, variants]; a variant bets in a half exactly when it staked something there.
    profit = _half_sums(np.ascontiguousarray(totals.profit_units[betting].T), halves)
    staked = _half_sums(np.ascontiguousarray(totals.staked_units[betting].T), halves)
    active = staked > 0
    yields = _yields(profit, staked, active)

    # Split k has half k in sample and half K-1-k (its complement) out of sample.
    star = _exact_argmax(profit, staked, active, yields)
    outside = splits - 1 - np.arange(splits)
    evaluated = np.flatnonzero((star >= 0) & active[outside, np.maximum(star, 0)])
    if evaluated.size == 0:
        return PboResult(None, 0, 0, [])
    star, outside = star[evaluated], outside[evaluated]
    out_yields = yields[::-1] if evaluated.size == splits else yields[outside]
    n = np.count_nonzero(active[outside], axis=1)

    # Yields outside [low, high] rank by their floats; inside, exactly against n*'s.
    star_yield = yields[outside, star]
    band = _BAND * np.abs(star_yield)
    low, high = (star_yield - band)[:, None], (star_yield + band)[:, None]
    below = np.count_nonzero(out_yields < low, axis=1) - (variants - n)  # less the -inf idlers
    ri, vj = np.nonzero((out_yields >= low) & (out_yields <= high))
    row, leader = outside[ri], star[ri]
    sign = _compare(profit[row, vj], staked[row, vj], profit[row, leader], staked[row, leader])
    below += np.bincount(ri[sign < 0], minlength=evaluated.size)
    tied = np.bincount(ri[sign == 0], minlength=evaluated.size)  # n* itself included

    twice_rank = 2 * below + tied + 1
    overfit = int(np.count_nonzero(twice_rank <= n + 1))
    logits = np.log(twice_rank / (2 * (n + 1) - twice_rank))
    return PboResult(
        pbo=overfit / evaluated.size,
        evaluated_splits=int(evaluated.size),
        overfit_splits=overfit,
        logits=logits.tolist(),
    )
