"""The luck report of a sweep of any kind: q-values, the walk-forward and PBO over a sweep's
per-variant period totals (core.backtest.luck), and the sentences that read them.

A football sweep (core.backtest.sweeps) and a candle strategy sweep (core.candles.sweep)
each turn their variants into `LuckInputs`; `luck_summary` is the one report both share.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any, Final

from core.backtest.luck import (
    PeriodTotals,
    benjamini_hochberg,
    best_in_sample_yield,
    probability_of_backtest_overfitting,
    walk_forward_choices,
)
from core.backtest.metrics import RATIO_CONTEXT, money
from core.backtest.request import RequestError

__all__ = [
    "DEFAULT_MIN_BETS",
    "DEFAULT_PBO_BLOCKS",
    "FOOTBALL_WORDS",
    "LuckInputs",
    "Vocabulary",
    "check_luck_options",
    "headline",
    "luck_summary",
    "pbo_reading",
]

DEFAULT_MIN_BETS: Final = 50
DEFAULT_PBO_BLOCKS: Final = 10


def check_luck_options(min_bets: Any, pbo_blocks: Any) -> None:
    """The luck report's options, as every kind of sweep takes them."""
    if isinstance(min_bets, bool) or not isinstance(min_bets, int) or min_bets < 0:
        raise RequestError(f"min-bets: must be a whole number of 0 or more, got {min_bets!r}")
    blocks = pbo_blocks
    if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 2 or blocks % 2:
        raise RequestError(f"pbo-blocks: must be an even number of at least 2, got {blocks!r}")


@dataclass(frozen=True)
class Vocabulary:
    """How a kind of sweep names its periods and its bets in the report's sentences."""

    period: str
    periods: str
    bets: str
    bet_days: str


FOOTBALL_WORDS: Final = Vocabulary("season", "seasons", "bets", "bet days")


@dataclass(frozen=True)
class LuckInputs:
    """What the luck report reads from a sweep of any kind.

    `periods` are the walk-forward's (seasons; calendar months or quarters), `blocks` the
    PBO's date blocks (None: fewer bet days than blocks), both as exact totals per variant
    (rows, grid order) and period (columns): bets, profit and stake in units of 0.0001. The
    periods and blocks are cut from the bets that at least one variant makes."""

    variants: list[dict[str, Any]]
    """Each variant's summary in grid order: `params` and `p_value` at least."""
    periods: PeriodTotals
    period_labels: list[str]
    blocks: PeriodTotals | None
    bet_days: int
    out_of_sample_p: Callable[[list[tuple[int, int]]], float | None]
    """The one-sided t-test's p over the bets of these (period, variant) pairs, in
    settlement order: the walk-forward's out-of-sample bets."""
    words: Vocabulary = FOOTBALL_WORDS


def luck_summary(
    inputs: LuckInputs, *, min_bets: int, walk_forward: bool, pbo_blocks: int
) -> dict[str, Any]:
    """The luck report's part common to every kind of sweep: the variants with their
    q-values, the walk-forward, PBO, and the sentences that read them."""
    variants = [dict(row) for row in inputs.variants]
    for row, q in zip(
        variants, benjamini_hochberg([row["p_value"] for row in variants]), strict=True
    ):
        row["q_value"] = q
    periods, words = inputs.periods, inputs.words
    best = best_in_sample_yield(
        periods.bets.sum(axis=1),
        periods.profit_units.sum(axis=1),
        periods.staked_units.sum(axis=1),
        min_bets,
    )
    labels = inputs.period_labels
    walk = None
    if walk_forward and len(labels) >= 3:
        walk = _walk_forward(inputs, min_bets, best)
    pbo = None
    pbo_detail: dict[str, Any] = {
        "blocks": 0 if inputs.blocks is None else inputs.blocks.periods,
        "bet_days": inputs.bet_days,
    }
    if inputs.blocks is not None:
        result = probability_of_backtest_overfitting(inputs.blocks)
        pbo = result.pbo
        pbo_detail |= {
            "evaluated_splits": result.evaluated_splits,
            "overfit_splits": result.overfit_splits,
        }
    warnings = []
    if walk_forward and len(labels) < 3:
        warnings.append(
            f"walk-forward needs {words.bets} in at least 3 {words.periods};"
            f" these variants have {words.bets} in {len(labels)}"
        )
    if inputs.blocks is None:
        warnings.append(
            f"PBO needs at least {pbo_blocks} {words.bet_days}; these variants have"
            f" {inputs.bet_days}"
        )
    return {
        "min_bets": min_bets,
        "seasons": labels,
        "variants": variants,
        "best_in_sample_yield": best,
        "walk_forward": walk,
        "pbo": pbo,
        "pbo_detail": pbo_detail,
        "pbo_reading": pbo_reading(pbo),
        "headline": headline(walk, best, words),
        "warnings": warnings,
    }


def _walk_forward(inputs: LuckInputs, min_bets: int, best: float | None) -> dict[str, Any]:
    periods, labels = inputs.periods, inputs.period_labels
    choices = walk_forward_choices(periods, min_bets)
    rows = []
    bets = units = staked = 0
    chosen_pairs: list[tuple[int, int]] = []
    for period, chosen in enumerate(choices, start=2):
        entry: dict[str, Any] = {"season": labels[period], "chosen": None, "bets": 0}
        period_units = period_staked = 0
        if chosen is not None:
            entry["chosen"] = inputs.variants[chosen]["params"]
            entry["bets"] = int(periods.bets[chosen, period])
            period_units = int(periods.profit_units[chosen, period])
            period_staked = int(periods.staked_units[chosen, period])
            chosen_pairs.append((period, chosen))
        entry |= _money_and_yield(period_units, period_staked)
        bets += entry["bets"]
        units += period_units
        staked += period_staked
        rows.append(entry)
    return {
        "seasons": rows,
        "bets": bets,
        **_money_and_yield(units, staked),
        "p_value": inputs.out_of_sample_p(chosen_pairs),
        "best_in_sample_yield": best,
    }


def _money_and_yield(units: int, staked_units: int) -> dict[str, Any]:
    profit = Decimal(units).scaleb(-4)
    staked = Decimal(staked_units).scaleb(-4)
    with localcontext(RATIO_CONTEXT):
        return {"profit": money(profit), "yield": float(profit / staked) if staked else None}


def pbo_reading(pbo: float | None) -> str:
    if pbo is None:
        return "PBO could not be estimated (too few variants with bets, or too few bet days)"
    return (
        f"the best variant in sample is at or below the median out of sample {pbo:.0%} of the time"
    )


def headline(
    walk: dict[str, Any] | None, best: float | None, words: Vocabulary = FOOTBALL_WORDS
) -> str:
    """The sweep's one-line verdict: out-of-sample yield against the best in-sample one."""

    def percent(value: float | None) -> str:
        return "-" if value is None or not math.isfinite(value) else f"{value:+.2%}"

    if walk is None:
        return (
            f"best in-sample yield {percent(best)}; no walk-forward (fewer than 3 {words.periods})"
        )
    return (
        f"walk-forward out-of-sample yield {percent(walk['yield'])} over {walk['bets']:,}"
        f" {words.bets}, against the best in-sample yield {percent(best)}"
    )
