"""Settlement: which way each market goes, and what a stake makes.

Every expected value here is worked out by hand from the rules in the backtest
issue, not by re-running the code's own arithmetic.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.backtest import Candidate, bet_profit, bet_sort_key, settle, settle_bet
from core.backtest.settle import MARKETS, asian_handicap_outcome, settle_columns

W, L, P, HW, HL = "win", "loss", "push", "half_win", "half_loss"


# --- 1X2 and over/under -------------------------------------------------------


@pytest.mark.parametrize(
    ("home_goals", "away_goals", "home", "draw", "away"),
    [
        (2, 1, W, L, L),
        (0, 0, L, W, L),
        (3, 3, L, W, L),
        (0, 1, L, L, W),
        (1, 4, L, L, W),
    ],
)
def test_1x2_settles_on_the_full_time_result(
    home_goals: int, away_goals: int, home: str, draw: str, away: str
) -> None:
    assert settle("home", home_goals, away_goals) == home
    assert settle("draw", home_goals, away_goals) == draw
    assert settle("away", home_goals, away_goals) == away


@pytest.mark.parametrize(
    ("home_goals", "away_goals", "over", "under"),
    [
        (0, 0, L, W),
        (1, 1, L, W),
        (2, 0, L, W),
        (2, 1, W, L),  # three goals: over 2.5
        (0, 3, W, L),
        (4, 2, W, L),
    ],
)
def test_over_under_25_settles_on_total_goals(
    home_goals: int, away_goals: int, over: str, under: str
) -> None:
    assert settle("over25", home_goals, away_goals) == over
    assert settle("under25", home_goals, away_goals) == under


def test_under25_settles_on_its_own_outcome_and_profit_uses_the_price_given() -> None:
    # 1-1: under wins, over loses. The under bet is paid at the under price it was given.
    assert settle_bet("under25", 1, 1, 1.95, Decimal("10.00")) == (W, Decimal("9.5000"))
    assert settle_bet("over25", 1, 1, 1.95, Decimal("10.00")) == (L, Decimal("-10.0000"))


# --- Asian handicap -------------------------------------------------------------

# (home line, home goals, away goals, ah_home outcome, ah_away outcome), by hand:
# the home side's margin plus its line decides; quarter lines are two half-stakes
# on the neighbouring lines. ah_away backs the away side at the negated line.
AH_CASES = [
    # level ball (0): draw refunds
    (0.0, 1, 0, W, L),
    (0.0, 1, 1, P, P),
    (0.0, 0, 1, L, W),
    # home -0.25 (= 0 and -0.5) / away +0.25
    (-0.25, 1, 0, W, L),
    (-0.25, 2, 2, HL, HW),
    (-0.25, 0, 1, L, W),
    # home +0.25 (= 0 and +0.5) / away -0.25
    (0.25, 1, 0, W, L),
    (0.25, 0, 0, HW, HL),
    (0.25, 1, 2, L, W),
    # home -0.5 / away +0.5: no push possible
    (-0.5, 1, 0, W, L),
    (-0.5, 1, 1, L, W),
    (-0.5, 0, 2, L, W),
    # home +0.5 / away -0.5
    (0.5, 1, 1, W, L),
    (0.5, 0, 1, L, W),
    (0.5, 3, 0, W, L),
    # home -0.75 (= -0.5 and -1) / away +0.75
    (-0.75, 2, 0, W, L),
    (-0.75, 1, 0, HW, HL),
    (-0.75, 1, 1, L, W),
    (-0.75, 0, 1, L, W),
    # home +0.75 (= +0.5 and +1) / away -0.75
    (0.75, 0, 0, W, L),
    (0.75, 0, 1, HL, HW),
    (0.75, 0, 2, L, W),
    (0.75, 2, 1, W, L),
    # home -1 / away +1
    (-1.0, 2, 0, W, L),
    (-1.0, 2, 1, P, P),
    (-1.0, 1, 1, L, W),
    # home +1 / away -1
    (1.0, 1, 1, W, L),
    (1.0, 0, 1, P, P),
    (1.0, 0, 2, L, W),
    # home -1.25 (= -1 and -1.5) / away +1.25
    (-1.25, 2, 0, W, L),
    (-1.25, 1, 0, HL, HW),
    (-1.25, 0, 0, L, W),
    # home +1.25 (= +1 and +1.5) / away -1.25
    (1.25, 1, 1, W, L),
    (1.25, 0, 1, HW, HL),
    (1.25, 0, 2, L, W),
    # home -1.5 / away +1.5
    (-1.5, 2, 0, W, L),
    (-1.5, 3, 2, L, W),
    # home +1.5 / away -1.5
    (1.5, 0, 1, W, L),
    (1.5, 0, 2, L, W),
    # home -1.75 (= -1.5 and -2) / away +1.75
    (-1.75, 3, 0, W, L),
    (-1.75, 2, 0, HW, HL),
    (-1.75, 1, 0, L, W),
    # home +1.75 (= +1.5 and +2) / away -1.75
    (1.75, 0, 1, W, L),
    (1.75, 0, 2, HL, HW),
    (1.75, 0, 3, L, W),
    # home -2 / away +2
    (-2.0, 3, 0, W, L),
    (-2.0, 2, 0, P, P),
    (-2.0, 1, 0, L, W),
    # home +2 / away -2
    (2.0, 0, 1, W, L),
    (2.0, 0, 2, P, P),
    (2.0, 0, 3, L, W),
    # home -2.25 (= -2 and -2.5) / away +2.25
    (-2.25, 3, 0, W, L),
    (-2.25, 2, 0, HL, HW),
    # home +2.5 / away -2.5
    (2.5, 0, 2, W, L),
    (2.5, 0, 3, L, W),
]


@pytest.mark.parametrize(("line", "home_goals", "away_goals", "home", "away"), AH_CASES)
def test_asian_handicap_every_line_kind_for_both_sides(
    line: float, home_goals: int, away_goals: int, home: str, away: str
) -> None:
    assert settle("ah_home", home_goals, away_goals, line) == home
    assert settle("ah_away", home_goals, away_goals, line) == away


def test_asian_handicap_table_covers_every_outcome_on_both_sides() -> None:
    for side in (3, 4):
        assert {case[side] for case in AH_CASES} == {W, L, P, HW, HL}


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (W, Decimal("9.0000")),
        (L, Decimal("-10.0000")),
        (P, Decimal("0")),
        (HW, Decimal("4.5000")),
        (HL, Decimal("-5.0000")),
    ],
)
def test_profit_of_each_outcome_at_stake_10_odds_1_90(outcome: str, expected: Decimal) -> None:
    assert bet_profit(outcome, Decimal("10.00"), 1.90) == expected  # type: ignore[arg-type]


def test_quarter_line_bet_pays_like_two_half_stakes_on_the_neighbouring_lines() -> None:
    # Home -0.75 at 2.05, won 1-0: half on -0.5 wins (+5 * 1.05), half on -1 pushes.
    outcome, profit = settle_bet("ah_home", 1, 0, 2.05, Decimal("10.00"), -0.75)
    assert (outcome, profit) == (HW, Decimal("5.2500"))
    # Home -0.25 at 1.80, 2-2: half on 0 pushes, half on -0.5 loses.
    assert settle_bet("ah_home", 2, 2, 1.80, Decimal("10.00"), -0.25) == (HL, Decimal("-5.0000"))


_quarters = st.integers(min_value=-24, max_value=24).map(lambda q: q / 4)
_goals = st.integers(min_value=0, max_value=9)
_cents = st.integers(min_value=1, max_value=100_000).map(lambda c: Decimal(c).scaleb(-2))
_prices = st.integers(min_value=1_001, max_value=20_000).map(lambda p: p / 1000)


@given(line=_quarters, home_goals=_goals, away_goals=_goals)
def test_asian_handicap_sides_mirror_each_other(
    line: float, home_goals: int, away_goals: int
) -> None:
    mirror = {W: L, L: W, P: P, HW: HL, HL: HW}
    home = settle("ah_home", home_goals, away_goals, line)
    assert settle("ah_away", home_goals, away_goals, line) == mirror[home]
    # Swapping the teams and the line's sign gives the same bet.
    assert settle("ah_away", away_goals, home_goals, -line) == home


@given(line=_quarters, home_goals=_goals, away_goals=_goals, stake=_cents, odds=_prices)
def test_quarter_lines_equal_two_half_stakes_on_adjacent_lines(
    line: float, home_goals: int, away_goals: int, stake: Decimal, odds: float
) -> None:
    if (line * 4) % 2 == 0:
        return  # whole and half lines are a single bet
    _, profit = settle_bet("ah_home", home_goals, away_goals, odds, stake, line)
    half = stake / 2
    _, low = settle_bet("ah_home", home_goals, away_goals, odds, half, line - 0.25)
    _, high = settle_bet("ah_home", home_goals, away_goals, odds, half, line + 0.25)
    # Both sides are quantized to 4 dp, so allow one unit of rounding between them.
    assert abs(profit - (low + high)) <= Decimal("0.0001")


@pytest.mark.parametrize("line", [0.1, 0.3, -0.6, float("nan"), float("inf")])
def test_asian_handicap_line_off_the_quarter_grid_is_refused(line: float) -> None:
    with pytest.raises(ValueError):
        asian_handicap_outcome(0, line)
    with pytest.raises(ValueError):
        settle("ah_home", 1, 0, line)


def test_asian_handicap_without_a_line_is_refused() -> None:
    with pytest.raises(ValueError):
        settle("ah_home", 1, 0, None)
    with pytest.raises(ValueError):
        settle("ah_away", 1, 0)


# --- prices and money -----------------------------------------------------------


@pytest.mark.parametrize("odds", [None, 1.0, 0.5, float("nan"), float("inf")])
def test_settlement_refuses_a_missing_or_impossible_price(odds: float | None) -> None:
    with pytest.raises(ValueError):
        settle_bet("home", 1, 0, odds, Decimal("1.00"))
    with pytest.raises(ValueError):
        bet_profit("win", Decimal("1.00"), odds)


def test_profit_uses_the_quoted_price_not_its_binary_float() -> None:
    # 1.1 is 1.100000000000000088817... as a float; the profit must be exactly 0.1 per unit.
    assert bet_profit("win", Decimal("3.00"), 1.1) == Decimal("0.3000")


def test_profit_is_quantized_to_4dp_with_bankers_rounding() -> None:
    # 1.25 * 0.853 = 1.06625 -> tie, the kept digit 2 is even: 1.0662 (half-up would give 1.0663)
    assert bet_profit("win", Decimal("1.25"), 1.853) == Decimal("1.0662")
    # 1.25 * 0.859 = 1.07375 -> tie, the kept digit 7 is odd: rounds up to 1.0738
    assert bet_profit("win", Decimal("1.25"), 1.859) == Decimal("1.0738")
    # 1.01 * 0.855 / 2 = 0.431775 -> 0.4318
    assert bet_profit("half_win", Decimal("1.01"), 1.855) == Decimal("0.4318")
    # half a loss of 0.01 is -0.005 exactly: 4 dp keep it
    assert bet_profit("half_loss", Decimal("0.01"), 2.0) == Decimal("-0.0050")


def test_unknown_market_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown market"):
        settle("btts", 1, 1)
    with pytest.raises(ValueError, match="unknown market"):
        settle_columns("btts", [1], [1])


def test_column_settlement_agrees_with_single_bet_settlement() -> None:
    scores = list(itertools.product(range(5), range(5)))
    lines = [q / 4 for q in range(-12, 13)]
    for market in MARKETS:
        rows: list[tuple[int, int, float | None]]
        if market.startswith("ah_"):
            rows = [(h, a, line) for (h, a) in scores for line in lines]
        else:
            rows = [(h, a, None) for (h, a) in scores]
        columns = settle_columns(
            market,
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows] if market.startswith("ah_") else None,
        )
        assert columns == [settle(market, h, a, line) for h, a, line in rows], market


# --- settlement order -------------------------------------------------------------


def _candidate(
    fid: int,
    date: dt.date,
    time: dt.time | None,
    league: str,
    home: str,
    away: str = "Away",
) -> Candidate:
    return Candidate(
        fid, date, time, league, home, away, 1, 0, 2.0, None, None, None, "2023-24", date.month
    )


def test_sort_key_orders_by_date_time_league_then_home_team() -> None:
    d1, d2 = dt.date(2024, 1, 6), dt.date(2024, 1, 7)
    expected = [
        _candidate(1, d1, None, "E1", "Zulu"),  # unknown time sorts as 00:00
        _candidate(2, d1, dt.time(0, 0), "E1", "Zulu", "Zeta"),  # same slot: away name next
        _candidate(3, d1, dt.time(12, 30), "E0", "Arsenal"),
        _candidate(4, d1, dt.time(15, 0), "E0", "Burnley"),
        _candidate(5, d1, dt.time(15, 0), "E0", "Chelsea"),
        _candidate(6, d1, dt.time(15, 0), "E1", "Arsenal"),
        _candidate(7, d2, None, "D1", "Bayern"),
    ]
    shuffled = expected[:]
    random.Random(7).shuffle(shuffled)
    assert sorted(shuffled, key=bet_sort_key) == expected


def test_sort_key_breaks_a_complete_tie_by_fixture_id() -> None:
    day = dt.date(2024, 1, 6)
    twins = [_candidate(fid, day, None, "E0", "Same", "Same") for fid in (30, 10, 20)]
    for perm in itertools.permutations(twins):
        assert [c.fixture_id for c in sorted(perm, key=bet_sort_key)] == [10, 20, 30]


def test_sort_key_works_on_plain_tuples() -> None:
    day = dt.date(2024, 1, 6)
    rows = [
        tuple(_candidate(2, day, dt.time(15), "E0", "B")),
        list(_candidate(1, day, None, "E0", "A")),
    ]
    ordered = sorted(rows, key=bet_sort_key)  # type: ignore[arg-type]
    assert [r[0] for r in ordered] == [1, 2]
