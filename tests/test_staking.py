"""Staking and the backtest loop: order, sizing, skips and the ledger.

Small hand-built data; every stake, profit and bank below is worked out by hand.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from decimal import Decimal, getcontext, localcontext

import pytest

from core.backtest import (
    Candidate,
    FlatStaking,
    KellyStaking,
    LedgerRow,
    PercentStaking,
    run_backtest,
    staking_from_dict,
)

D = Decimal
DAY1, DAY2, DAY3, DAY4 = (dt.date(2024, 3, d) for d in (2, 3, 9, 10))


def bet(
    fid: int,
    date: dt.date,
    home_goals: int,
    away_goals: int,
    odds: float | None,
    *,
    time: dt.time | None = None,
    league: str = "E0",
    home: str | None = None,
    line: float | None = None,
    prob: float | None = None,
    close: float | None = None,
) -> Candidate:
    return Candidate(
        fixture_id=fid,
        date=date,
        time=time,
        league=league,
        home_team=home or f"Home{fid}",
        away_team=f"Away{fid}",
        home_goals=home_goals,
        away_goals=away_goals,
        odds=odds,
        ah_line=line,
        pinnacle_fair_prob=prob,
        closing_fair_odds=close,
        season="2023-24",
        month=date.month,
    )


# --- flat -------------------------------------------------------------------------


def test_flat_ledger_has_exact_profits_and_running_bank() -> None:
    out = run_backtest(
        [bet(1, DAY1, 2, 0, 2.10), bet(2, DAY2, 0, 1, 1.75), bet(3, DAY3, 3, 1, 1.5)],
        "home",
        FlatStaking(stake=D("2.00")),
    )
    assert out.ledger == [
        LedgerRow(1, 2.10, D("2.00"), "win", D("2.2000"), D("102.2000")),
        LedgerRow(2, 1.75, D("2.00"), "loss", D("-2.0000"), D("100.2000")),
        LedgerRow(3, 1.5, D("2.00"), "win", D("1.0000"), D("101.2000")),
    ]
    assert (out.staked, out.profit, out.final_bank) == (D("6.00"), D("1.2000"), D("101.2000"))
    assert [c.fixture_id for c in out.placed] == [1, 2, 3]
    assert out.bets == 3 and out.candidates == 3


def test_a_bet_without_a_usable_price_is_never_placed() -> None:
    out = run_backtest(
        [
            bet(1, DAY1, 1, 0, None),
            bet(2, DAY1, 1, 0, float("nan")),
            bet(3, DAY1, 1, 0, 1.0),
            bet(4, DAY1, 1, 0, 2.0),
        ],
        "home",
        FlatStaking(),
    )
    assert out.skipped_no_odds == 3
    assert [row.fixture_id for row in out.ledger] == [4]
    assert out.candidates == 4


def test_asian_handicap_price_without_its_line_counts_as_no_odds() -> None:
    out = run_backtest(
        [bet(1, DAY1, 1, 0, 1.9, line=None), bet(2, DAY2, 1, 1, 1.9, line=0.25)],
        "ah_home",
        FlatStaking(),
    )
    assert out.skipped_no_odds == 1
    assert [(r.fixture_id, r.outcome, r.profit) for r in out.ledger] == [
        (2, "half_win", D("0.4500"))
    ]


def test_under25_bets_are_paid_at_the_odds_given_on_the_under_outcome() -> None:
    out = run_backtest(
        [bet(1, DAY1, 1, 0, 1.80), bet(2, DAY2, 2, 2, 1.70)], "under25", FlatStaking()
    )
    assert [(r.outcome, r.profit) for r in out.ledger] == [
        ("win", D("0.8000")),
        ("loss", D("-1.0000")),
    ]


def test_flat_stakes_never_go_bankrupt_the_bank_is_notional() -> None:
    losers = [bet(i, DAY1, 0, 1, 2.0) for i in range(5)]
    out = run_backtest(losers, "home", FlatStaking(stake=D("30.00"), bank=D("100.00")))
    assert out.bets == 5 and out.skipped_bankrupt == 0
    assert out.final_bank == D("-50.0000")


def test_unknown_market_and_bad_line_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown market"):
        run_backtest([], "corners", FlatStaking())
    with pytest.raises(ValueError, match=r"multiple of 0\.25"):
        run_backtest([bet(1, DAY1, 1, 0, 1.9, line=0.3)], "ah_home", FlatStaking())


# --- order --------------------------------------------------------------------------


def test_bets_settle_in_kickoff_order_whatever_order_they_arrive_in() -> None:
    rows = [
        bet(1, DAY2, 1, 0, 2.0),
        bet(2, DAY1, 1, 0, 2.0, time=dt.time(20, 0)),
        bet(3, DAY1, 1, 0, 2.0, time=None),  # unknown time: 00:00
        bet(4, DAY1, 1, 0, 2.0, time=dt.time(15, 0), league="E1", home="A"),
        bet(5, DAY1, 1, 0, 2.0, time=dt.time(15, 0), league="E0", home="Z"),
        bet(6, DAY1, 1, 0, 2.0, time=dt.time(15, 0), league="E0", home="B"),
    ]
    out = run_backtest(rows, "home", FlatStaking())
    assert [r.fixture_id for r in out.ledger] == [3, 6, 5, 4, 2, 1]


def test_order_and_ledger_are_deterministic_with_complete_ties() -> None:
    # Same date, time, league and home team: fixture id decides, for every arrival order.
    rows = [bet(fid, DAY1, 1, 0, 2.0, home="Same") for fid in (9, 3, 7)]
    ledgers = {
        tuple(run_backtest(list(p), "home", PercentStaking(percent=D("10"))).ledger)
        for p in itertools.permutations(rows)
    }
    assert len(ledgers) == 1
    assert [r.fixture_id for r in next(iter(ledgers))] == [3, 7, 9]


def test_presorted_input_is_taken_as_is_and_plain_tuples_work() -> None:
    rows = [tuple(bet(2, DAY2, 1, 0, 2.0)), list(bet(1, DAY1, 0, 1, 2.0))]
    out = run_backtest(rows, "home", FlatStaking(), presorted=True)  # type: ignore[arg-type]
    assert [r.fixture_id for r in out.ledger] == [2, 1]
    assert [r.fixture_id for r in run_backtest(rows, "home", FlatStaking()).ledger] == [1, 2]  # type: ignore[arg-type]


# --- percent ------------------------------------------------------------------------


def test_same_day_bets_are_sized_from_the_bank_at_the_start_of_the_day() -> None:
    rows = [
        bet(1, DAY1, 2, 0, 2.5, time=dt.time(12, 30)),  # wins +15
        bet(2, DAY1, 0, 0, 3.0, time=dt.time(15, 0)),  # loses -10
        bet(3, DAY2, 1, 0, 2.0),
    ]
    out = run_backtest(rows, "home", PercentStaking(percent=D("10"), bank=D("100.00")))
    # Day 1: both stakes are 10% of 100, not 10% of 115 for the later kick-off.
    # Day 2: 10% of 105.
    assert [(r.stake, r.profit, r.bank_after) for r in out.ledger] == [
        (D("10.00"), D("15.0000"), D("115.0000")),
        (D("10.00"), D("-10.0000"), D("105.0000")),
        (D("10.50"), D("10.5000"), D("115.5000")),
    ]
    assert out.staked == D("30.50")


def test_percent_stake_is_rounded_to_cents_half_even() -> None:
    # 2.5% of 100.50 = 2.5125 -> 2.51; the next day 2.5% of 102.6310 = 2.565775 -> 2.57
    rows = [bet(1, DAY1, 1, 0, 1.849), bet(2, DAY2, 1, 0, 2.0)]
    out = run_backtest(rows, "home", PercentStaking(percent=D("2.5"), bank=D("100.50")))
    assert out.ledger[0].stake == D("2.51")
    assert out.ledger[0].profit == D("2.1310")  # 2.51 * 0.849 = 2.13099 -> 2.1310
    assert out.ledger[1].stake == D("2.57")  # 2.5% of 102.6310 = 2.565775


def test_a_days_stakes_cannot_exceed_the_bank_then_the_bank_is_exhausted() -> None:
    rows = [
        bet(1, DAY1, 0, 1, 2.0, time=dt.time(12, 0)),
        bet(2, DAY1, 0, 1, 2.0, time=dt.time(15, 0)),  # only 40 of the 100 left
        bet(3, DAY1, 0, 1, 2.0, time=dt.time(17, 0)),  # nothing left today
        bet(4, DAY2, 1, 0, 2.0),  # bank is 0: exhausted
        bet(5, DAY3, 1, 0, None),  # no price is counted first
    ]
    out = run_backtest(rows, "home", PercentStaking(percent=D("60"), bank=D("100.00")))
    assert [(r.stake, r.bank_after) for r in out.ledger] == [
        (D("60.00"), D("40.0000")),
        (D("40.00"), D("0.0000")),
    ]
    assert out.day_funds_limited == 2
    assert out.skipped_bankrupt == 2
    assert out.skipped_no_odds == 1
    assert out.final_bank == D("0.0000")


def test_bank_never_goes_below_zero_under_percent_staking() -> None:
    rng = random.Random(3)
    rows = [
        bet(i, DAY1 + dt.timedelta(days=i // 7), 0, 1, 1.5, time=dt.time(rng.randrange(24)))
        for i in range(200)
    ]
    out = run_backtest(rows, "home", PercentStaking(percent=D("30")))
    assert all(r.bank_after >= 0 for r in out.ledger)
    assert out.bets + out.skipped_bankrupt == 200


# --- kelly -------------------------------------------------------------------------


def test_kelly_stake_is_fraction_times_edge_times_bank() -> None:
    # p = 0.55 at 2.0: k = (1.1 - 1) / 1 = 0.1; 0.25 * 0.1 = 2.5% of 100
    out = run_backtest([bet(1, DAY1, 1, 0, 2.0, prob=0.55)], "home", KellyStaking())
    assert out.ledger[0].stake == D("2.50")


def test_kelly_stake_is_capped_as_a_fraction_of_the_bank() -> None:
    # p = 0.5 at 3.0: k = 0.5 / 2 = 0.25; 0.25 * 0.25 = 6.25% > cap 5% -> 5.00
    out = run_backtest([bet(1, DAY1, 1, 0, 3.0, prob=0.5)], "home", KellyStaking(cap=0.05))
    assert out.ledger[0].stake == D("5.00")
    uncapped = run_backtest([bet(1, DAY1, 1, 0, 3.0, prob=0.5)], "home", KellyStaking(cap=0.10))
    assert uncapped.ledger[0].stake == D("6.25")


def test_kelly_without_a_pinnacle_probability_skips_the_bet() -> None:
    out = run_backtest(
        [bet(1, DAY1, 1, 0, 2.0, prob=None), bet(2, DAY2, 1, 0, 2.0, prob=0.6)],
        "home",
        KellyStaking(),
    )
    assert out.skipped_no_pinnacle_price == 1
    assert [r.fixture_id for r in out.ledger] == [2]


def test_kelly_with_no_positive_edge_places_no_bet() -> None:
    rows = [
        bet(1, DAY1, 1, 0, 2.0, prob=0.5),  # k = 0
        bet(2, DAY1, 1, 0, 2.0, prob=0.4),  # k < 0
        bet(3, DAY1, 1, 0, 2.0002, prob=0.5),  # k ~ 1e-4: 0.0025 rounds to 0.00
    ]
    out = run_backtest(rows, "home", KellyStaking())
    assert out.bets == 0
    assert out.skipped_no_edge == 3


def test_kelly_same_day_sizing_and_bankruptcy() -> None:
    plan = KellyStaking(fraction=1.0, cap=1.0, bank=D("10.00"))
    rows = [
        bet(1, DAY1, 0, 1, 2.0, prob=0.8, time=dt.time(13)),  # k = 0.6 -> 6.00, loses
        bet(2, DAY1, 0, 1, 2.0, prob=0.8, time=dt.time(15)),  # 6.00 wanted, 4.00 left, loses
        bet(3, DAY2, 1, 0, 2.0, prob=0.8),  # bank 0: exhausted
    ]
    out = run_backtest(rows, "home", plan)
    assert [r.stake for r in out.ledger] == [D("6.00"), D("4.00")]
    assert out.skipped_bankrupt == 1
    assert out.final_bank == D("0.0000")


def test_kelly_on_asian_handicap_uses_the_simple_formula_with_p_as_given() -> None:
    # p = 0.55 at 2.0 on a quarter line: k = 0.1, stake 2.50; a half win pays 2.5 * 1 / 2.
    out = run_backtest([bet(1, DAY1, 0, 0, 2.0, line=0.25, prob=0.55)], "ah_home", KellyStaking())
    assert [(r.stake, r.outcome, r.profit) for r in out.ledger] == [
        (D("2.50"), "half_win", D("1.2500"))
    ]


# --- money hygiene and plans ---------------------------------------------------------


def test_a_callers_decimal_context_does_not_change_the_result() -> None:
    rows = [bet(i, DAY1 + dt.timedelta(days=i), 1, i % 2, 1.857, line=None) for i in range(20)]
    expected = run_backtest(rows, "home", PercentStaking(percent=D("3")))
    with localcontext() as ctx:
        ctx.prec = 3
        assert run_backtest(rows, "home", PercentStaking(percent=D("3"))).ledger == expected.ledger
    assert getcontext().prec == 28


def test_ledger_profits_sum_exactly_to_the_totals() -> None:
    rng = random.Random(11)
    rows = [
        bet(
            i,
            DAY1 + dt.timedelta(days=i // 5),
            rng.randrange(4),
            rng.randrange(4),
            round(rng.uniform(1.05, 6.0), 3),
            line=rng.randrange(-8, 9) / 4,
            prob=rng.uniform(0.2, 0.7),
        )
        for i in range(500)
    ]
    for plan in (FlatStaking(stake=D("1.37")), PercentStaking(percent=D("1.5")), KellyStaking()):
        out = run_backtest(rows, "ah_away", plan)
        assert sum(r.profit for r in out.ledger) == out.profit
        assert sum(r.stake for r in out.ledger) == out.staked
        assert out.ledger[-1].bank_after == out.final_bank == out.starting_bank + out.profit


@pytest.mark.parametrize(
    "build",
    [
        lambda: FlatStaking(stake=D("1.005")),
        lambda: FlatStaking(stake=D("0")),
        lambda: PercentStaking(percent=D("0")),
        lambda: PercentStaking(percent=D("101")),
        lambda: KellyStaking(fraction=0.0),
        lambda: KellyStaking(cap=1.5),
        lambda: KellyStaking(bank=D("-1")),
    ],
)
def test_bad_plans_are_refused(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


def test_staking_plans_round_trip_through_dicts() -> None:
    for plan in (
        FlatStaking(stake=D("2.50"), bank=D("50.00")),
        PercentStaking(percent=D("2.5")),
        KellyStaking(fraction=0.5, cap=0.1, bank=D("1000.00")),
    ):
        assert staking_from_dict(plan.to_dict()) == plan
    assert staking_from_dict({"kind": "kelly"}) == KellyStaking()
    with pytest.raises(ValueError):
        staking_from_dict({"kind": "martingale"})
    with pytest.raises(ValueError):
        staking_from_dict({"kind": "flat", "stake": "1", "colour": "red"})
