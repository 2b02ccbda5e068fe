"""Backtest engine core: settle bets, size stakes, compute metrics. Pure Python, no database.

Typical use::

    outcome = run_backtest(candidates, "home", FlatStaking())
    metrics = compute_metrics(outcome, odds_source="pinnacle")
    rows = outcome.ledger  # (fixture_id, odds, stake, outcome, profit, bank_after)
"""

from __future__ import annotations

from core.backtest.metrics import ODDS_BANDS, compute_metrics, odds_band
from core.backtest.settle import (
    MARKETS,
    OUTCOMES,
    Candidate,
    Market,
    Outcome,
    asian_handicap_outcome,
    bet_profit,
    bet_sort_key,
    settle,
    settle_bet,
)
from core.backtest.staking import (
    BacktestOutcome,
    FlatStaking,
    KellyStaking,
    LedgerRow,
    PercentStaking,
    StakingPlan,
    run_backtest,
    staking_from_dict,
)
from core.backtest.stats import normal_sf, one_sided_t_test, student_t_cdf, student_t_sf

__all__ = [
    "MARKETS",
    "ODDS_BANDS",
    "OUTCOMES",
    "BacktestOutcome",
    "Candidate",
    "FlatStaking",
    "KellyStaking",
    "LedgerRow",
    "Market",
    "Outcome",
    "PercentStaking",
    "StakingPlan",
    "asian_handicap_outcome",
    "bet_profit",
    "bet_sort_key",
    "compute_metrics",
    "normal_sf",
    "odds_band",
    "one_sided_t_test",
    "run_backtest",
    "settle",
    "settle_bet",
    "staking_from_dict",
    "student_t_cdf",
    "student_t_sf",
]
