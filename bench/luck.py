"""Speed of the luck report's statistics (core.backtest.luck) on synthetic sweep totals.

Prints one JSON line per (variants, statistic) with the medians of several runs in milliseconds,
wall clock and CPU time of this process (on a busy shared machine the wall time is mostly waiting):
    uv run python bench/luck.py [--runs 9] [--variants 1000 10000] [--blocks 10]

Each variant bets 0 to 60 times a block at stake 1 on odds of its own (1.5 to 4.0, two decimals)
and wins with probability 1/odds, so yields tie as often as real flat-stake sweeps do.
The walk-forward runs over the same table with the blocks read as seasons.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.backtest.luck import (  # noqa: E402
    PeriodTotals,
    probability_of_backtest_overfitting,
    walk_forward_choices,
)

UNIT = 10_000


def synthetic_totals(variants: int, blocks: int, seed: int = 0) -> PeriodTotals:
    rng = np.random.default_rng(seed)
    odds_units = rng.integers(150, 401, size=(variants, 1)) * 100  # odds in 0.0001 units
    bets = rng.integers(0, 61, size=(variants, blocks))
    wins = rng.binomial(bets, UNIT / odds_units)
    profit = wins * (odds_units - UNIT) - (bets - wins) * UNIT
    return PeriodTotals(bets.astype(np.int64), profit.astype(np.int64), bets * UNIT)


def median_ms(run: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of `runs` calls after a warm-up call."""
    run()
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--variants", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--blocks", type=int, default=10)
    args = parser.parse_args()
    for variants in args.variants:
        totals = synthetic_totals(variants, args.blocks)
        pbo = probability_of_backtest_overfitting(totals)
        cases: list[tuple[str, Callable[[], object], dict[str, object]]] = [
            (
                "pbo",
                lambda t=totals: probability_of_backtest_overfitting(t),
                {"pbo": pbo.pbo, "evaluated_splits": pbo.evaluated_splits},
            ),
            ("walk_forward", lambda t=totals: walk_forward_choices(t, 50), {}),
        ]
        for name, run, extra in cases:
            wall, cpu = median_ms(run, args.runs)
            line = {"variants": variants, "blocks": args.blocks, "statistic": name}
            line |= {"median_ms": round(wall, 2), "median_cpu_ms": round(cpu, 2)}
            print(json.dumps(line | extra), flush=True)


if __name__ == "__main__":
    main()
