"""Bet settlement: which way a market went, and what a stake made.

Markets settle on full-time goals only:

* ``home`` / ``draw`` / ``away``: the 1X2 result.
* ``over25`` / ``under25``: total goals >= 3 / <= 2. Each market settles on its
  own outcome; pricing ``under25`` with the under odds is the caller's job.
* ``ah_home`` / ``ah_away``: Asian handicap. ``ah_line`` is always the HOME
  side's handicap (football-data's ``AHh``: -0.5 means home gives half a goal);
  ``ah_away`` is settled with the negated line from the away side. Whole and
  half lines settle as one bet; a quarter line (x.25 / x.75) splits the stake in
  two halves on the adjacent half and whole lines, which yields ``half_win``
  (one half won, one pushed) or ``half_loss`` (one half lost, one pushed).

Profit for stake S at decimal odds O: win S*(O-1); loss -S; push 0;
half_win S*(O-1)/2; half_loss -S/2. Profit is computed exactly in Decimal from
the odds' shortest decimal repr (1.85, never 1.8500000000000000888) and then
quantized to 4 dp with ROUND_HALF_EVEN. That is exact for whole-cent stakes at
the 2-3 dp prices of football-data except some half-wins; 4 dp is the finest
unit kept, so a ledger's profits always sum exactly to its total.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import repeat
from operator import add, eq, ge, gt, le, neg, sub
from typing import Any, Final, Literal, NamedTuple, cast

__all__ = [
    "AH_MARKETS",
    "HALF_LOSS",
    "HALF_WIN",
    "LOSS",
    "MARKETS",
    "OUTCOMES",
    "PUSH",
    "WIN",
    "Candidate",
    "Market",
    "Outcome",
    "Settler",
    "asian_handicap_outcome",
    "bet_profit",
    "bet_sort_key",
    "odds_to_decimal",
    "profit_factor",
    "settle",
    "settle_bet",
    "settle_columns",
    "settler_for",
]

Market = Literal["home", "draw", "away", "over25", "under25", "ah_home", "ah_away"]
Outcome = Literal["win", "loss", "push", "half_win", "half_loss"]

MARKETS: Final[tuple[Market, ...]] = (
    "home",
    "draw",
    "away",
    "over25",
    "under25",
    "ah_home",
    "ah_away",
)
AH_MARKETS: Final[frozenset[str]] = frozenset({"ah_home", "ah_away"})

WIN: Final = "win"
LOSS: Final = "loss"
PUSH: Final = "push"
HALF_WIN: Final = "half_win"
HALF_LOSS: Final = "half_loss"
OUTCOMES: Final[tuple[Outcome, ...]] = (WIN, LOSS, PUSH, HALF_WIN, HALF_LOSS)

PROFIT_QUANTUM: Final = Decimal("0.0001")
_ONE: Final = Decimal(1)
_TWO: Final = Decimal(2)
_ZERO: Final = Decimal(0)
_MINUS_ONE: Final = Decimal(-1)
_MINUS_HALF: Final = Decimal("-0.5")
_MIDNIGHT: Final = dt.time(0, 0)


class Candidate(NamedTuple):
    """One fixture the filter selected, with everything needed to bet it.

    Field order is the contract: the engine may pass plain tuples or lists in
    exactly this order instead of Candidate instances.
    """

    fixture_id: int
    date: dt.date
    time: dt.time | None
    """Kick-off time; None (unknown) sorts as 00:00."""
    league: str
    """League code, e.g. "E0"."""
    home_team: str
    away_team: str
    home_goals: int
    away_goals: int
    odds: float | None
    """Decimal price taken for the backtested market; None = no price, never bet."""
    ah_line: float | None
    """The HOME side's Asian handicap line (AH markets only)."""
    pinnacle_fair_prob: float | None
    """Pinnacle's margin-free probability of this selection at the same timing (Kelly)."""
    closing_fair_odds: float | None
    """Pinnacle closing margin-free fair odds of this selection, for CLV."""
    season: str
    month: int
    """Calendar month 1-12 (the split key; any sortable value works)."""


# (home_goals, away_goals, ah_line) -> outcome; the line is ignored outside AH.
Settler = Callable[[int, int, "float | None"], Outcome]


def asian_handicap_outcome(goal_difference: int, line: float) -> Outcome:
    """Settle a handicap bet from the backed side's point of view.

    ``goal_difference`` is the backed side's goals minus the opponent's and
    ``line`` the backed side's handicap. Works in quarter-goal integer units so
    no float comparison decides a result.
    """
    quarters = float(line) * 4.0
    if not quarters.is_integer():
        raise ValueError(f"Asian handicap line must be a multiple of 0.25, got {line!r}")
    q = int(quarters)
    margin = 4 * goal_difference + q  # adjusted margin in quarter goals
    if q % 2 == 0:  # whole or half line: a single bet
        if margin > 0:
            return WIN
        return PUSH if margin == 0 else LOSS
    # Quarter line: halves on margin-1 and margin+1 (both even, half a goal apart),
    # so at most one half can push and the halves never split win/loss.
    if margin - 1 > 0:
        return WIN
    if margin - 1 == 0:
        return HALF_WIN
    if margin + 1 == 0:
        return HALF_LOSS
    return LOSS


def _home(home_goals: int, away_goals: int, line: float | None) -> Outcome:
    return WIN if home_goals > away_goals else LOSS


def _draw(home_goals: int, away_goals: int, line: float | None) -> Outcome:
    return WIN if home_goals == away_goals else LOSS


def _away(home_goals: int, away_goals: int, line: float | None) -> Outcome:
    return WIN if away_goals > home_goals else LOSS


def _over25(home_goals: int, away_goals: int, line: float | None) -> Outcome:
    return WIN if home_goals + away_goals >= 3 else LOSS


def _under25(home_goals: int, away_goals: int, line: float | None) -> Outcome:
    return WIN if home_goals + away_goals <= 2 else LOSS


def _ah_home(home_goals: int, away_goals: int, line: float | None) -> Outcome:
    if line is None:
        raise ValueError("ah_home needs an Asian handicap line")
    return asian_handicap_outcome(home_goals - away_goals, line)


def _ah_away(home_goals: int, away_goals: int, line: float | None) -> Outcome:
    if line is None:
        raise ValueError("ah_away needs an Asian handicap line")
    # The stored line is the home side's; the away side gets its negation.
    return asian_handicap_outcome(away_goals - home_goals, -line)


_BY_FLAG: Final[tuple[Outcome, Outcome]] = (LOSS, WIN)  # indexed by a bool
# market -> (comparison, left side, right side): WIN when comparison(left, right).
_COMPARE_MARKETS: Final[dict[str, tuple[Callable[[Any, Any], bool], str, Any]]] = {
    "home": (gt, "home", "away"),
    "draw": (eq, "home", "away"),
    "away": (gt, "away", "home"),
    "over25": (ge, "total", 3),
    "under25": (le, "total", 2),
}

_SETTLERS: Final[dict[str, Settler]] = {
    "home": _home,
    "draw": _draw,
    "away": _away,
    "over25": _over25,
    "under25": _under25,
    "ah_home": _ah_home,
    "ah_away": _ah_away,
}


def settler_for(market: str) -> Settler:
    """The settlement function of a market, for hot loops that settle many bets."""
    try:
        return _SETTLERS[market]
    except KeyError:
        raise ValueError(f"unknown market {market!r}; expected one of {MARKETS}") from None


def settle(market: str, home_goals: int, away_goals: int, ah_line: float | None = None) -> Outcome:
    """The outcome of one bet on ``market`` given the full-time score."""
    return settler_for(market)(home_goals, away_goals, ah_line)


class _HandicapOutcomes(dict[tuple[int, float], Outcome]):
    """(goal difference, line) -> outcome, computed once per distinct pair."""

    def __missing__(self, key: tuple[int, float]) -> Outcome:
        outcome = self[key] = asian_handicap_outcome(*key)
        return outcome


def settle_columns(
    market: str,
    home_goals: Iterable[int],
    away_goals: Iterable[int],
    ah_lines: Iterable[float | None] | None = None,
) -> list[Outcome]:
    """Settle many bets at once from columns (same result as ``settle`` per bet).

    Runs at C speed through map/operator: the backtest settles up to 100k bets.
    AH markets need ``ah_lines`` without None.
    """
    if market in _COMPARE_MARKETS:
        compare, lhs, rhs = _COMPARE_MARKETS[market]
        if lhs == "total":
            flags = map(compare, map(add, home_goals, away_goals), repeat(rhs))
        elif lhs == "home":
            flags = map(compare, home_goals, away_goals)
        else:
            flags = map(compare, away_goals, home_goals)
        return list(map(_BY_FLAG.__getitem__, flags))
    if market not in AH_MARKETS:
        settler_for(market)  # raises the unknown-market error
    if ah_lines is None:
        raise ValueError(f"{market} needs Asian handicap lines")
    given = list(ah_lines)
    if None in given:
        raise ValueError(f"{market} needs an Asian handicap line for every bet")
    lines = cast(list[float], given)
    table = _HandicapOutcomes()
    if market == "ah_home":
        keys = zip(map(sub, home_goals, away_goals), lines, strict=True)
    else:  # ah_away: the away side's margin against the negated home line
        keys = zip(map(sub, away_goals, home_goals), map(neg, lines), strict=True)
    return list(map(table.__getitem__, keys))


def odds_to_decimal(odds: float | Decimal | None) -> Decimal:
    """A decimal price as an exact Decimal; refuses a missing or impossible price."""
    if odds is None:
        raise ValueError("no odds: a bet without a price cannot be settled")
    # repr gives the shortest decimal that round-trips, i.e. the price as quoted.
    price = odds if isinstance(odds, Decimal) else Decimal(repr(float(odds)))
    if not price.is_finite() or price <= _ONE:
        raise ValueError(f"decimal odds must be finite and above 1, got {odds!r}")
    return price


def profit_factor(outcome: str, odds_minus_one: Decimal) -> Decimal:
    """Exact profit per unit staked: O-1, -1, 0, (O-1)/2 or -1/2 by outcome."""
    if outcome == WIN:
        return odds_minus_one
    if outcome == LOSS:
        return _MINUS_ONE
    if outcome == PUSH:
        return _ZERO
    if outcome == HALF_WIN:
        return odds_minus_one / _TWO
    if outcome == HALF_LOSS:
        return _MINUS_HALF
    raise ValueError(f"unknown outcome {outcome!r}")


def bet_profit(outcome: Outcome, stake: Decimal, odds: float | Decimal | None) -> Decimal:
    """Profit (negative for a loss) of ``stake`` at decimal ``odds``, to 4 dp.

    Raises ValueError when ``odds`` is None: a price is never assumed.
    """
    factor = profit_factor(outcome, odds_to_decimal(odds) - _ONE)
    return (stake * factor).quantize(PROFIT_QUANTUM, ROUND_HALF_EVEN)


def settle_bet(
    market: str,
    home_goals: int,
    away_goals: int,
    odds: float | Decimal | None,
    stake: Decimal,
    ah_line: float | None = None,
) -> tuple[Outcome, Decimal]:
    """Settle one bet: (outcome, profit). Raises ValueError when ``odds`` is None."""
    price = odds_to_decimal(odds)  # refuse a missing price before looking at the score
    outcome = settle(market, home_goals, away_goals, ah_line)
    return outcome, bet_profit(outcome, stake, price)


def bet_sort_key(candidate: Candidate) -> tuple[dt.date, dt.time, str, str, str, int]:
    """Settlement order: (date, time with unknown as 00:00, league, home team).

    Away team and fixture id break any remaining tie, so the order never depends
    on the order the candidates arrived in. Works on a ``Candidate`` or any
    tuple/list in the same column order.
    """
    time = candidate[2]
    return (
        candidate[1],
        _MIDNIGHT if time is None else time,
        candidate[3],
        candidate[4],
        candidate[5],
        candidate[0],
    )
