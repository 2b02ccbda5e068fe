"""Slow the backtest engine's settling step down, for tests that must catch a job mid-run."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import core.backtest.engine as engine

PACE_ENV = "FILTERBETS_TEST_PACE_US"
# Put on a child's PYTHONPATH so its sitecustomize.py paces the child's engine too.
PACING_DIR = Path(__file__).resolve().parent
# 30 µs per candidate: the 60,000-fixture job data set spends ~1.8 s settling, whatever the
# machine's own speed, so a test polling every 50 ms sees it at progress 0.5.
DEFAULT_PACE_US = 30.0
HOLD_ENV = "FILTERBETS_TEST_PACE_HOLD"
"""A file: while it exists, a paced settling step waits after its pace, here and in the
processes a test starts, so the test can act on a job that is certainly still running
whatever the machine's load, then let it go by removing the file."""


# The engine's two settling steps: the row path's, and the columnar path's (flat stakes).
SETTLING_STEPS = ("run_backtest", "settle_flat")


def paced(settle: Callable[..., Any], microseconds_per_candidate: float) -> Callable[..., Any]:
    """A settling step, sleeping in proportion to its candidates first (in the engine's
    thread, so the event loop, heartbeats and cancel checks carry on)."""

    def run(candidates: Any, *args: Any, **kwargs: Any) -> Any:
        time.sleep(len(candidates) * microseconds_per_candidate / 1e6)
        hold = os.environ.get(HOLD_ENV)
        while hold and os.path.exists(hold):
            time.sleep(0.01)
        return settle(candidates, *args, **kwargs)

    return run


# The engine's metrics steps (row path, columnar path): paced too, a third as much per bet,
# so a run also spends a while in its later phases, where a test can see it.
METRICS_STEPS = ("_metrics", "_flat_metrics")


def paced_metrics(metrics: Callable[..., Any], microseconds_per_bet: float) -> Callable[..., Any]:
    def run(outcome: Any, *args: Any, **kwargs: Any) -> Any:
        time.sleep(outcome.bets * microseconds_per_bet / 3e6)
        return metrics(outcome, *args, **kwargs)

    return run


def paced_steps(microseconds: float) -> dict[str, Callable[..., Any]]:
    """Engine attribute -> its paced replacement."""
    steps = {name: paced(getattr(engine, name), microseconds) for name in SETTLING_STEPS}
    steps.update(
        {name: paced_metrics(getattr(engine, name), microseconds) for name in METRICS_STEPS}
    )
    return steps


def pace_engine(microseconds_per_candidate: float) -> None:
    for name, step in paced_steps(microseconds_per_candidate).items():
        setattr(engine, name, step)
