"""The flat-stake backtest over the analysis frame: the same bets, numbers and ledger as the
reference implementation (`staking.run_backtest` and `metrics.compute_metrics`), in numpy
arrays instead of one Python tuple per fixture.

A flat stake makes every bet's profit a function of its (price, outcome) pair
(`market.FlatPairs`), so each pair's profit is computed once, exactly in Decimal, and
everything else (outcomes, sums, drawdown, runs, splits, the t-test) is integer or IEEE float
arithmetic over arrays that gives the reference's results bit for bit.
tests/test_flat_path.py holds the two equal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from core.backtest.market import (
    HALF_WIN_CODE,
    PUSH_CODE,
    WIN_CODE,
    FlatPairs,
    MarketPrices,
)
from core.backtest.metrics import ODDS_BANDS, RATIO_CONTEXT, assemble_metrics, split_tables
from core.backtest.staking import BacktestOutcome, FlatStaking
from core.backtest.stats import exact_weighted_sum, grouped_one_sided_t_test
from core.frame import AnalysisFrame

__all__ = [
    "FlatSettlement",
    "flat_metrics",
    "settle_flat",
]

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]

_BAND_EDGES: Final = np.array([lo for _, lo, _ in ODDS_BANDS])
_EPOCH: Final = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True)
class FlatSettlement:
    """The placed bets in settlement order, and each distinct (price, outcome) pair."""

    plan: FlatStaking
    market: str
    candidates: int
    skipped_no_odds: int
    fixture_id: Ints
    day: Ints
    league_id: Ints
    league_codes: dict[int, str]
    season: Ints
    season_labels: Sequence[str]
    price: Floats
    closing_fair_odds: Floats
    outcome: Ints
    """Index into settle.OUTCOMES."""
    pair: Ints
    """Index into the pair arrays below."""
    pair_units: Ints
    """Each pair's exact profit in units of 0.0001."""
    pair_profit: Sequence[Decimal]
    pair_price: Floats
    pair_outcome: Ints

    @property
    def bets(self) -> int:
        return len(self.fixture_id)

    @property
    def units(self) -> Ints:
        """Each bet's profit in units of 0.0001."""
        return self.pair_units[self.pair]

    @property
    def profit(self) -> Decimal:
        return Decimal(int(self.units.sum(dtype=np.int64))).scaleb(-4)

    def outcome_summary(self) -> BacktestOutcome:
        """The row path's outcome record without its ledger (warnings and the stored row
        read only these fields)."""
        profit = self.profit
        return BacktestOutcome(
            market=self.market,
            staking=self.plan,
            starting_bank=self.plan.bank,
            final_bank=self.plan.bank + profit,
            staked=self.plan.stake * self.bets,
            profit=profit,
            candidates=self.candidates,
            skipped_no_odds=self.skipped_no_odds,
        )


def settle_flat(
    frame: AnalysisFrame,
    prices: MarketPrices,
    pairs: FlatPairs,
    candidates: Ints,
    plan: FlatStaking,
) -> FlatSettlement:
    """Bet every candidate row (frame rows, in settlement order) that has a usable price."""
    placed = candidates[prices.usable[candidates]]
    off_grid = prices.off_grid[placed]
    if off_grid.any():
        bad = float(prices.line[placed[off_grid.argmax()]])  # type: ignore[index]
        raise ValueError(f"Asian handicap line must be a multiple of 0.25, got {bad!r}")
    return FlatSettlement(
        plan=plan,
        market=prices.market,
        candidates=len(candidates),
        skipped_no_odds=len(candidates) - len(placed),
        fixture_id=frame.fixture_id[placed],
        day=frame.day[placed],
        league_id=frame.league[placed],
        league_codes=frame.league_codes,
        season=frame.season[placed],
        season_labels=frame.season_labels,
        price=prices.price[placed],
        closing_fair_odds=prices.closing_fair_odds[placed],
        outcome=prices.outcome[placed],
        pair=pairs.pair[placed].astype(np.int64),
        pair_units=pairs.units,
        pair_profit=pairs.profit,
        pair_price=pairs.price,
        pair_outcome=pairs.outcome,
    )


def _longest_run(mask: NDArray[np.bool_]) -> int:
    """The longest stretch of consecutive True values."""
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate(([0], mask.view(np.int8), [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def flat_metrics(
    settled: FlatSettlement, *, odds_source: str, curve_max_points: int | None
) -> dict[str, Any]:
    """`metrics.compute_metrics` of the same run, key for key."""
    with localcontext(RATIO_CONTEXT):
        return _flat_metrics(settled, odds_source, curve_max_points)


def _flat_metrics(
    settled: FlatSettlement, odds_source: str, curve_max_points: int | None
) -> dict[str, Any]:
    plan = settled.plan
    n = settled.bets
    outcome = settled.outcome
    wins, losses, pushes, half_wins, half_losses = (
        int(c) for c in np.bincount(outcome, minlength=5)
    )

    # Runs skip pushes: they neither count nor break one.
    decided = outcome[outcome != PUSH_CODE]
    won = (decided == WIN_CODE) | (decided == HALF_WIN_CODE)
    longest_win = _longest_run(won)
    longest_loss = _longest_run(~won)

    units = settled.pair_units[settled.pair]
    cum_units = np.cumsum(units, dtype=np.int64)
    cum = cum_units / 1e4
    # Peak after each bet, starting from 0; a bet is below it exactly when it did not set it.
    peak = np.maximum.accumulate(np.maximum(cum, 0.0)) if n else cum
    below = cum < peak
    max_dd = round(float((peak - cum).max()), 4) if n else 0.0
    max_dd = max(max_dd, 0.0)
    longest_below = _longest_run(below)

    stake_float = float(plan.stake)
    pair_returns = [float(p) / stake_float for p in settled.pair_profit]
    # Over the distinct (price, outcome) pairs with their counts: the same sums, to the last
    # bit, as over every bet (math.fsum), without a Python float per bet.
    pair_counts = np.bincount(settled.pair, minlength=len(pair_returns)).tolist()
    closing = settled.closing_fair_odds
    with_close = (closing > 1.0) & (closing < math.inf)  # NaN fails both
    return assemble_metrics(
        settled.outcome_summary(),
        odds_source=odds_source,
        bets=n,
        outcome_counts=(wins, losses, pushes, half_wins, half_losses),
        odds_sum=exact_weighted_sum(settled.pair_price.tolist(), pair_counts),
        drawdown=(max_dd, None, longest_below),
        runs=(longest_win, longest_loss),
        test=grouped_one_sided_t_test(pair_returns, pair_counts),
        clv_ratios=(settled.price[with_close] / closing[with_close]).tolist(),
        splits=_flat_splits(settled),
        curve=_curve(settled, cum, curve_max_points),
        extremes=(float(cum.max()), float(cum.min())) if n else (0.0, 0.0),
    )


def _flat_splits(settled: FlatSettlement) -> dict[str, list[dict[str, Any]]]:
    """Bets and exact profit per key: each bet's profit as integer units of 0.0001, summed
    per key (in float64, exact while a key's total stays under 2**53 units)."""
    stake = settled.plan.stake
    weights = settled.units.astype(np.float64)  # once, not once per split

    def group(keys: Ints, labels: Sequence[Any]) -> dict[Any, list[Any]]:
        bets = np.bincount(keys, minlength=len(labels)).tolist()
        sums = np.bincount(keys, weights=weights, minlength=len(labels))
        if np.abs(sums).max(initial=0.0) >= 2.0**53:
            raise OverflowError("a split's profit is too large to total exactly")
        out: dict[Any, list[Any]] = {}
        for key, (count, total) in enumerate(zip(bets, sums.tolist(), strict=True)):
            if count:
                out[labels[key]] = [count, stake * count, Decimal(int(total)).scaleb(-4)]
        return out

    # League ids are small: counted by id (no sort), in id order as before.
    league_id = settled.league_id.astype(np.int64)
    top = int(league_id.max(initial=-1)) + 1
    league_labels = [settled.league_codes.get(i) for i in range(top)]
    months = _months(settled.day)
    bands = np.searchsorted(_BAND_EDGES, settled.price, side="right")
    return split_tables(
        group(settled.season, settled.season_labels),
        group(league_id, league_labels),
        group(months - 1, list(range(1, 13))),
        group(bands.astype(np.int64), list(range(len(_BAND_EDGES) + 1))),
    )


def _months(day: Ints) -> Ints:
    dates = _EPOCH + day.astype("timedelta64[D]")
    return (dates.astype("datetime64[M]").astype(np.int64) % 12 + 1).astype(np.int64)


def _curve(settled: FlatSettlement, cum: Floats, max_points: int | None) -> list[dict[str, Any]]:
    indices = _curve_indices(cum, max_points)
    days = settled.day[indices]
    distinct, where = np.unique(days, return_inverse=True)
    iso = [str(d) for d in (_EPOCH + distinct.astype("timedelta64[D]")).tolist()]
    return [
        {"bet": i + 1, "date": iso[w], "profit": p, "bank": None}
        for i, w, p in zip(indices.tolist(), where.tolist(), cum[indices].tolist(), strict=True)
    ]


def _curve_indices(values: Floats, max_points: int | None) -> Ints:
    """`metrics._curve_indices` over an array: first, last, and each bucket's first lowest
    and first highest point (argmin and argmax return the first, as min and max do)."""
    n = len(values)
    if max_points is None or n <= max_points:
        return np.arange(n, dtype=np.int64)
    if max_points < 4:
        step = (n - 1) / max(max_points - 1, 1)
        return np.array(sorted({round(i * step) for i in range(max_points)}), dtype=np.int64)
    buckets = (max_points - 2) // 2
    inner = n - 2
    edges = 1 + np.arange(buckets + 1, dtype=np.int64) * inner // buckets
    starts = edges[:-1][edges[:-1] < edges[1:]]  # non-empty buckets only
    ends = np.append(starts[1:], n - 1)
    # Each bucket's first lowest and first highest point, as argmin and argmax give them.
    lows = np.minimum.reduceat(values[: n - 1], starts)
    highs = np.maximum.reduceat(values[: n - 1], starts)
    bucket = np.repeat(np.arange(len(starts)), ends - starts)
    span = values[1 : n - 1]
    positions = np.arange(1, n - 1)
    first_low = _first_per_bucket(positions, span == lows[bucket], bucket, len(starts))
    first_high = _first_per_bucket(positions, span == highs[bucket], bucket, len(starts))
    chosen = np.concatenate(([0, n - 1], first_low, first_high))
    return np.unique(chosen).astype(np.int64)


def _first_per_bucket(positions: Ints, hit: NDArray[np.bool_], bucket: Ints, count: int) -> Ints:
    """The first position of each bucket where `hit` holds (every bucket has one)."""
    found = np.full(count, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(found, bucket[hit], positions[hit])
    return found
