"""Metrics: counts, drawdown, runs, significance, CLV, splits, curve, and the Student-t.

Expected numbers are worked out by hand or from closed forms / independent
numerical integration computed inside the tests.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal

import pytest

from core.backtest import (
    Candidate,
    FlatStaking,
    KellyStaking,
    PercentStaking,
    compute_metrics,
    odds_band,
    run_backtest,
)
from core.backtest.staking import BacktestOutcome, StakingPlan
from core.backtest.stats import (
    normal_sf,
    one_sided_t_test,
    regularized_incomplete_beta,
    student_t_cdf,
    student_t_sf,
)

D = Decimal
START = dt.date(2024, 1, 1)

# Outcome shorthands for hand-built bets on "home" (and "ah_home" for halves and pushes).
SCORE = {"W": (1, 0, None), "L": (0, 1, None)}
AH = {"W": (1, 0, 0.0), "L": (0, 1, 0.0), "P": (1, 1, 0.0), "HW": (0, 0, 0.25), "HL": (0, 0, -0.25)}


def bet(
    fid: int,
    home_goals: int,
    away_goals: int,
    odds: float | None,
    *,
    day: int | None = None,
    line: float | None = None,
    close: float | None = None,
    league: str = "E0",
    season: str = "2023-24",
    month: int | None = None,
) -> Candidate:
    date = START + dt.timedelta(days=fid if day is None else day)
    return Candidate(
        fid,
        date,
        None,
        league,
        f"Home{fid}",
        f"Away{fid}",
        home_goals,
        away_goals,
        odds,
        line,
        None,
        close,
        season,
        date.month if month is None else month,
    )


def sequence(codes: str, odds: float = 2.0) -> list[Candidate]:
    """One bet a day on "home": W wins, L loses."""
    return [bet(i, *SCORE[c][:2], odds) for i, c in enumerate(codes)]


def ah_sequence(codes: list[str], odds: float = 2.0) -> list[Candidate]:
    """One AH bet a day: W, L, P (push), HW, HL."""
    rows = []
    for i, code in enumerate(codes):
        home, away, line = AH[code]
        rows.append(bet(i, home, away, odds, line=line))
    return rows


def metrics_of(
    rows: list[Candidate], plan: StakingPlan | None = None, market: str = "home", **kw: object
) -> dict[str, object]:
    outcome = run_backtest(rows, market, plan or FlatStaking())
    return compute_metrics(outcome, odds_source="pinnacle", **kw)  # type: ignore[arg-type]


# --- Student-t, normal and incomplete beta ------------------------------------------


def _t_density(x: float, df: float) -> float:
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(x * x / df))


def _simpson_tail(t: float, df: float) -> float:
    """P(T > t) = 1/2 - integral_0^t density: independent of the continued fraction."""
    steps = 20_000
    h = t / steps
    total = _t_density(0.0, df) + _t_density(t, df)
    for i in range(1, steps):
        total += (4 if i % 2 else 2) * _t_density(i * h, df)
    return 0.5 - total * h / 3


@pytest.mark.parametrize(
    ("t", "df", "p"),
    [
        # Textbook one-sided critical values: t_{alpha, df}.
        (1.812461123, 10, 0.05),
        (2.228138852, 10, 0.025),
        (2.763769458, 10, 0.01),
        (1.697260887, 30, 0.05),
        (6.313751515, 1, 0.05),
        (2.919985580, 2, 0.05),
        (1.644853627, 1e7, 0.05),  # df -> infinity: the normal's 5% point
    ],
)
def test_student_t_tail_matches_table_critical_values(t: float, df: float, p: float) -> None:
    assert student_t_sf(t, df) == pytest.approx(p, rel=1e-6)


def test_student_t_tail_at_2_with_10_df_is_0_03669() -> None:
    # The reference value; also checked against Simpson integration of the density.
    assert student_t_sf(2.0, 10) == pytest.approx(0.0366940, abs=1e-7)
    assert student_t_sf(2.0, 10) == pytest.approx(_simpson_tail(2.0, 10), rel=1e-9)


@pytest.mark.parametrize("t", [0.1, 0.5, 1.0, 2.5, 7.0, 40.0])
def test_student_t_tail_matches_closed_forms_for_1_2_and_3_df(t: float) -> None:
    cauchy = 0.5 - math.atan(t) / math.pi
    two = 0.5 - t / (2 * math.sqrt(2 + t * t))
    u = t / math.sqrt(3)
    three = 0.5 - (u / (1 + u * u) + math.atan(u)) / math.pi
    assert student_t_sf(t, 1) == pytest.approx(cauchy, rel=1e-10)
    assert student_t_sf(t, 2) == pytest.approx(two, rel=1e-10)
    assert student_t_sf(t, 3) == pytest.approx(three, rel=1e-9)


@pytest.mark.parametrize(("t", "df"), [(0.7, 4), (1.5, 5), (3.1, 17), (2.2, 120)])
def test_student_t_tail_matches_numerical_integration(t: float, df: float) -> None:
    assert student_t_sf(t, df) == pytest.approx(_simpson_tail(t, df), rel=1e-8)


def test_student_t_is_symmetric_and_cdf_complements_sf() -> None:
    for df in (1, 3, 29, 1000, 100_000):
        assert student_t_sf(0.0, df) == 0.5
        assert student_t_sf(-1.3, df) == pytest.approx(1 - student_t_sf(1.3, df), rel=1e-12)
        assert student_t_cdf(1.3, df) + student_t_sf(1.3, df) == pytest.approx(1.0)


def test_student_t_converges_for_a_100k_bet_backtest() -> None:
    # df = 1e5 is within ~1e-6 of the normal: the fraction must converge, not fail.
    assert student_t_sf(2.0, 99_999) == pytest.approx(normal_sf(2.0), abs=2e-6)
    assert student_t_sf(2.0, 99_999) > normal_sf(2.0)  # t tails are heavier


def test_incomplete_beta_special_cases() -> None:
    for x in (0.0, 0.1, 0.37, 0.9, 1.0):
        assert regularized_incomplete_beta(1, 1, x) == pytest.approx(x)
        assert regularized_incomplete_beta(3, 1, x) == pytest.approx(x**3)
        assert regularized_incomplete_beta(1, 4, x) == pytest.approx(1 - (1 - x) ** 4)


def test_normal_tail_known_values() -> None:
    assert normal_sf(0.0) == 0.5
    assert normal_sf(1.0) == pytest.approx(0.15865525393145707, rel=1e-12)
    assert normal_sf(1.959963984540054) == pytest.approx(0.025, rel=1e-12)
    assert normal_sf(-1.0) == pytest.approx(1 - 0.15865525393145707, rel=1e-12)


def test_t_test_is_undefined_for_fewer_than_two_values_or_no_variance() -> None:
    assert one_sided_t_test([]) is None
    assert one_sided_t_test([1.0]) is None
    assert one_sided_t_test([0.3, 0.3, 0.3]) is None
    result = one_sided_t_test([1.0, 1.0, 1.0, -1.0])
    assert result is not None
    assert result.t_stat == pytest.approx(1.0)


# --- the metrics dict -------------------------------------------------------------

REQUIRED_KEYS = {
    "bets",
    "wins",
    "losses",
    "pushes",
    "half_wins",
    "half_losses",
    "skipped_no_odds",
    "skipped_no_edge",
    "strike_rate",
    "staked",
    "profit",
    "yield",
    "roc",
    "avg_odds",
    "max_drawdown",
    "max_drawdown_pct",
    "drawdown_duration_bets",
    "longest_winning_run",
    "longest_losing_run",
    "t_stat",
    "p_value",
    "p_value_odds_weighted",
    "clv",
    "clv_coverage",
    "splits",
    "curve",
    "warnings",
    "odds_source",
    "market",
}


def test_metrics_have_every_key_and_are_strict_json() -> None:
    m = metrics_of(sequence("WLWWL"))
    assert set(m) >= REQUIRED_KEYS
    json.dumps(m, allow_nan=False)
    assert m["market"] == "home" and m["odds_source"] == "pinnacle"


def test_counts_totals_and_strike_rate_with_half_outcomes() -> None:
    rows = ah_sequence(["W", "L", "P", "HW", "HL", "W"], odds=2.0)
    rows.append(bet(99, 1, 0, None, line=0.0))  # no price: skipped
    m = metrics_of(rows, market="ah_home")
    assert (m["bets"], m["wins"], m["losses"], m["pushes"]) == (6, 2, 1, 1)
    assert (m["half_wins"], m["half_losses"], m["skipped_no_odds"]) == (1, 1, 1)
    # Non-push stake: 2 wins + 1 loss + 0.5 + 0.5 = 4; won: 2 + 0.5 = 2.5.
    assert m["strike_rate"] == pytest.approx(2.5 / 4)
    # +1 -1 0 +0.5 -0.5 +1 = 1 on 6 staked.
    assert (m["staked"], m["profit"]) == (6.0, 1.0)
    assert m["yield"] == pytest.approx(1 / 6)
    assert m["roc"] == pytest.approx(0.01)  # 1 on the 100 notional bank
    assert m["avg_odds"] == pytest.approx(2.0)


def test_empty_run_has_none_for_undefined_ratios() -> None:
    m = metrics_of([bet(1, 1, 0, None)])
    assert m["bets"] == 0 and m["skipped_no_odds"] == 1
    for key in ("strike_rate", "yield", "avg_odds", "t_stat", "p_value", "clv", "clv_coverage"):
        assert m[key] is None, key
    assert m["p_value_odds_weighted"] is None
    assert (m["max_drawdown"], m["drawdown_duration_bets"], m["curve"]) == (0.0, 0, [])
    assert "no bets placed" in m["warnings"]  # type: ignore[operator]


def test_drawdown_peak_starts_at_zero_so_opening_losses_count() -> None:
    # Unit stakes; a win at 3.0 is +2. Cumulative profit: -1, -2, 0, -1, +1, 0.
    results = zip("LLWLWL", [2.0, 2.0, 3.0, 2.0, 3.0, 2.0], strict=True)
    rows = [bet(i, *SCORE[c][:2], o) for i, (c, o) in enumerate(results)]
    m = metrics_of(rows)
    # Peak 0 -> trough -2 is 2 units; later peak +1 -> 0 is 1 unit.
    assert m["max_drawdown"] == 2.0
    # Below a previous peak after bets 1, 2 (peak 0), then bet 4 (peak 0), then bet 6
    # (peak 1): the longest streak is 2, as getting back to the peak at bet 3 ends one.
    assert m["drawdown_duration_bets"] == 2


def test_drawdown_duration_counts_pushes_inside_the_streak() -> None:
    m = metrics_of(ah_sequence(["W", "L", "P", "P", "L", "W"]), market="ah_home")
    # Cumulative: 1, 0, 0, 0, -1, 0 -> below the peak of 1 for bets 2..6 = 5 bets.
    assert m["drawdown_duration_bets"] == 5
    assert m["max_drawdown"] == 2.0


def test_bank_based_drawdown_pct_is_a_fraction_of_the_peak_bank() -> None:
    # 10% of bank: day 1 wins 10 -> 110 (peak); day 2 loses 11 -> 99; day 3 loses 9.90 -> 89.10.
    m = metrics_of(sequence("WLL"), PercentStaking(percent=D("10")))
    assert m["max_drawdown"] == pytest.approx(20.9)
    assert m["max_drawdown_pct"] == pytest.approx(20.9 / 110)  # 0.19
    assert m["final_bank"] == pytest.approx(89.1)
    assert metrics_of(sequence("WLL"))["max_drawdown_pct"] is None  # flat: no bank


def test_runs_ignore_pushes_and_count_halves_as_wins_or_losses() -> None:
    codes = ["W", "P", "HW", "W", "L", "P", "HL", "L", "P", "L", "W", "HW"]
    m = metrics_of(ah_sequence(codes), market="ah_home")
    # Wins: W (P) HW W = 3; losses: L (P) HL L (P) L = 4; then W HW = 2.
    assert (m["longest_winning_run"], m["longest_losing_run"]) == (3, 4)


def test_t_test_on_per_unit_returns_matches_the_closed_form() -> None:
    # Returns +1 +1 +1 -1: mean 0.5, sd 1, t = 0.5 / (1 / 2) = 1 with 3 df.
    m = metrics_of(sequence("WWWL"), FlatStaking(stake=D("5.00")))
    u = 1 / math.sqrt(3)
    expected = 0.5 - (u / (1 + u * u) + math.atan(u)) / math.pi  # closed form, df = 3
    assert m["t_stat"] == pytest.approx(1.0)
    assert m["p_value"] == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(0.19550111, abs=1e-8)


def test_t_test_is_none_without_variance_or_with_one_bet() -> None:
    assert metrics_of(sequence("W"))["p_value"] is None
    assert metrics_of(sequence("WWW"))["t_stat"] is None


def test_odds_weighted_p_value_for_flat_stakes() -> None:
    # Profit 3 - 1 = 2 units at stake 2 -> 2 units; sum(O - 1) = 4; z = 2 / 2 = 1.
    m = metrics_of(sequence("WWWL"), FlatStaking(stake=D("2.00")))
    assert m["profit"] == 4.0
    assert m["z_odds_weighted"] == pytest.approx(1.0)
    assert m["p_value_odds_weighted"] == pytest.approx(0.15865525393145707)
    assert metrics_of(sequence("WWWL"), PercentStaking())["p_value_odds_weighted"] is None


def test_clv_averages_over_bets_with_a_closing_price() -> None:
    rows = [
        bet(1, 1, 0, 2.1, close=2.0),  # +5%
        bet(2, 0, 1, 1.8, close=2.0),  # -10%
        bet(3, 1, 0, 3.0, close=None),
    ]
    m = metrics_of(rows)
    assert m["clv"] == pytest.approx(-0.025)
    assert m["clv_coverage"] == pytest.approx(2 / 3)


def test_clv_ignores_corrupt_closing_prices() -> None:
    rows = [
        bet(1, 1, 0, 2.2, close=2.0),  # +10%
        bet(2, 1, 0, 2.2, close=float("nan")),
        bet(3, 1, 0, 2.2, close=1.0),
        bet(4, 1, 0, 2.2, close=float("inf")),
    ]
    m = metrics_of(rows)
    assert m["clv"] == pytest.approx(0.1)
    assert m["clv_coverage"] == pytest.approx(0.25)


def test_odds_bands_are_closed_below_open_above() -> None:
    assert [
        odds_band(o) for o in (1.005, 1.01, 1.49, 1.5, 1.99, 2.0, 2.99, 3.0, 4.99, 5.0, 51)
    ] == [
        "<1.01",
        "1.01-1.5",
        "1.01-1.5",
        "1.5-2",
        "1.5-2",
        "2-3",
        "2-3",
        "3-5",
        "3-5",
        "5+",
        "5+",
    ]


def test_splits_by_season_league_month_and_odds_band() -> None:
    rows = [
        bet(1, 1, 0, 1.5, league="E0", season="2022-23", month=8),  # +0.5
        bet(2, 0, 1, 2.0, league="E0", season="2022-23", month=8),  # -1
        bet(3, 1, 0, 2.5, league="D1", season="2023-24", month=9),  # +1.5
        bet(4, 1, 0, 5.0, league="E0", season="2023-24", month=8),  # +4
    ]
    splits = metrics_of(rows)["splits"]
    assert splits["season"] == [  # type: ignore[index]
        {"key": "2022-23", "bets": 2, "staked": 2.0, "profit": -0.5, "yield": -0.25},
        {"key": "2023-24", "bets": 2, "staked": 2.0, "profit": 5.5, "yield": 2.75},
    ]
    assert splits["league"] == [  # type: ignore[index]
        {"key": "D1", "bets": 1, "staked": 1.0, "profit": 1.5, "yield": 1.5},
        {"key": "E0", "bets": 3, "staked": 3.0, "profit": 3.5, "yield": pytest.approx(3.5 / 3)},
    ]
    assert [(r["key"], r["bets"], r["profit"]) for r in splits["month"]] == [  # type: ignore[index]
        (8, 3, 3.5),
        (9, 1, 1.5),
    ]
    assert [(r["key"], r["profit"]) for r in splits["odds_band"]] == [  # type: ignore[index]
        ("1.5-2", 0.5),
        ("2-3", 0.5),
        ("5+", 4.0),
    ]


def test_curve_tracks_profit_for_flat_and_bank_for_bank_based_plans() -> None:
    flat = metrics_of(sequence("WL", odds=1.5))["curve"]
    assert flat == [
        {"bet": 1, "date": "2024-01-01", "profit": 0.5, "bank": None},
        {"bet": 2, "date": "2024-01-02", "profit": -0.5, "bank": None},
    ]
    banked = metrics_of(sequence("WL", odds=1.5), PercentStaking(percent=D("10")))["curve"]
    # 10.00 wins 5 -> 105; 10.50 loses -> 94.50.
    assert banked == [
        {"bet": 1, "date": "2024-01-01", "profit": 5.0, "bank": 105.0},
        {"bet": 2, "date": "2024-01-02", "profit": -5.5, "bank": 94.5},
    ]


def test_curve_downsample_keeps_first_last_and_the_extremes() -> None:
    codes = "W" * 40 + "L" * 70 + "W" * 90  # peak +40 at bet 40, trough -30 at bet 110
    curve = metrics_of(sequence(codes), curve_max_points=20)["curve"]
    assert len(curve) <= 20  # type: ignore[arg-type]
    bets = [p["bet"] for p in curve]  # type: ignore[attr-defined]
    assert bets == sorted(bets)
    assert bets[0] == 1 and bets[-1] == 200
    profits = [p["profit"] for p in curve]  # type: ignore[attr-defined]
    assert max(profits) == 60.0 and min(profits) == -30.0
    assert 40.0 in profits  # the early peak survives


def test_warnings_flag_small_samples_and_exhausted_banks() -> None:
    assert "fewer than 30 bets: results are noise" in metrics_of(sequence("WL"))["warnings"]  # type: ignore[operator]
    assert not any("fewer than" in w for w in metrics_of(sequence("WL" * 15))["warnings"])  # type: ignore[attr-defined]
    broke = metrics_of(sequence("LLW"), PercentStaking(percent=D("100")))
    assert broke["skipped_bankrupt"] == 2
    assert any("bank exhausted" in w for w in broke["warnings"])  # type: ignore[attr-defined]


def test_kelly_metrics_count_skips_and_warn_on_asian_handicap() -> None:
    rows = [
        bet(1, 1, 0, 2.0, line=0.0)._replace(pinnacle_fair_prob=0.55),
        bet(2, 1, 0, 2.0, line=0.0)._replace(pinnacle_fair_prob=0.45),  # no edge
        bet(3, 1, 0, 2.0, line=0.0),  # no Pinnacle probability
    ]
    m = metrics_of(rows, KellyStaking(), market="ah_home")
    assert (m["bets"], m["skipped_no_edge"], m["skipped_no_pinnacle_price"]) == (1, 1, 1)
    assert any("Kelly on Asian handicap" in w for w in m["warnings"])  # type: ignore[attr-defined]
    assert m["staking"] == {"kind": "kelly", "fraction": 0.25, "cap": 0.05, "bank": "100.00"}


def test_metrics_keep_money_exact_to_4dp_over_many_bets() -> None:
    # 0.1 + 0.2 style float drift must not show: 1000 wins of 0.0001 each at 1.0001.
    rows = [bet(i, 1, 0, 1.0001) for i in range(1000)]
    outcome: BacktestOutcome = run_backtest(rows, "home", FlatStaking())
    assert outcome.profit == D("0.1000")
    m = compute_metrics(outcome, odds_source="avg")
    assert m["profit"] == 0.1
    assert m["curve"][-1]["profit"] == 0.1


def test_a_runaway_bank_still_gives_strict_json() -> None:
    # A filter that "knows" the result, Kelly at full size: the bank x100 a day
    # passes float range (1e308) within ~160 days. Metrics must stay valid JSON.
    rows = [bet(i, 1, 0, 100.0)._replace(pinnacle_fair_prob=0.99) for i in range(200)]
    outcome = run_backtest(rows, "home", KellyStaking(fraction=1.0, cap=1.0))
    assert outcome.final_bank > D("1e400")  # Decimal keeps it exact
    m = compute_metrics(outcome, odds_source="pinnacle", curve_max_points=50)
    json.dumps(m, allow_nan=False)
    assert any("approximate" in w for w in m["warnings"])


@pytest.mark.parametrize("stake", [D("1.00"), D("2.37"), D("0.01")])
def test_flat_splits_shortcut_equals_summing_every_bet(stake: Decimal) -> None:
    """The flat-stake splits (counted pairs, integer profits) against plain Decimal sums."""
    import random

    from core.backtest.metrics import _splits

    rng = random.Random(7)
    candidates = [
        bet(
            fid,
            *rng.choice([(1, 0), (0, 1), (1, 1), (2, 2), (3, 1)]),
            rng.choice([1.01, 1.25, 1.5, 1.83, 2.0, 2.37, 3.1, 4.99, 5.0, 11.5]),
            day=fid // 3,
            league=rng.choice(["E0", "SP1", "D1"]),
            season=rng.choice(["2021-22", "2022-23"]),
        )
        for fid in range(1, 600)
    ]
    outcome = run_backtest(candidates, "home", FlatStaking(stake=stake))
    ledger, placed = outcome.ledger, outcome.placed
    odds = [row.odds for row in ledger]
    stakes = [row.stake for row in ledger]
    profits = [row.profit for row in ledger]
    shortcut = _splits(placed, odds, stakes, profits, stake)
    summed = _splits(placed, odds, stakes, profits, None)
    assert shortcut == summed
    assert sum(row["bets"] for row in shortcut["league"]) == len(ledger)
    assert math.isclose(
        sum(row["profit"] for row in shortcut["season"]), float(outcome.profit), abs_tol=1e-9
    )


def test_warning_counts_have_thousands_separators_and_no_clv_reads_plainly() -> None:
    """It said "10147 candidates ..." and "closing prices for only 0 of 7274 bets"."""
    import dataclasses

    from core.backtest.metrics import run_warnings

    outcome = run_backtest(sequence("WL" * 20), "home", FlatStaking())
    many = dataclasses.replace(outcome, skipped_no_odds=10_147, skipped_bankrupt=2_500)
    warnings = run_warnings(many, 7_274, 0)
    assert "10,147 candidates had no usable home price and were not bet" in warnings
    one = dataclasses.replace(outcome, skipped_no_odds=1)
    assert "1 candidate had no usable home price and was not bet" in run_warnings(one, 40, 40)
    assert "bank exhausted: 2,500 bets skipped for lack of funds" in warnings
    assert "no closing prices for these bets: CLV could not be measured" in warnings
    assert not any("only 0 of" in warning for warning in warnings)
    assert "closing prices for only 1,000 of 7,274 bets: CLV covers a subset" in run_warnings(
        outcome, 7_274, 1_000
    )


def test_the_report_says_clv_was_not_measured_rather_than_over_0_percent() -> None:
    from core.report import render_metrics

    text = render_metrics(metrics_of(sequence("WL" * 20)), title="t", result_id=None)
    assert "CLV  " in text
    assert "not measured: no Pinnacle closing prices for these bets" in text
    assert "over 0%" not in text
