"""Staking plans and the backtest run that sizes and settles every candidate bet.

Money rules (all plans):

* Money is Decimal. Stakes are whole cents, quantized with ROUND_HALF_EVEN
  (unbiased over many bets); a stake cut to the funds left that day is rounded
  down instead so it can never exceed them. Per-bet profit is kept to 4 dp
  (see ``settle``); bank = starting bank + the sum of those profits, exactly.
* Bets settle in ``bet_sort_key`` order. Every stake placed on a date is sized
  from the bank at the START of that date, so no stake knows another result of
  the same day.
* ``flat``: a fixed stake in units. Its ``bank`` is a notional yardstick for
  ``roc`` only: flat stakes measure a selection, not a bankroll's survival, so
  flat runs never go bankrupt and their bank may end below zero.
* ``percent`` and ``kelly`` are bank-based and the bank never goes below zero:
  a day's stakes together may not exceed that day's starting bank (a stake is
  cut to what is left, or skipped if under a cent, counted in
  ``skipped_bankrupt`` and ``day_funds_limited``), and once the largest stake
  the plan could size rounds to 0.00 the bank is exhausted and every further
  bet is skipped (``skipped_bankrupt``).
* ``kelly``: stake = bank * fraction * (p*O - 1)/(O - 1), capped at bank * cap,
  with p the caller's Pinnacle margin-free probability. No p (or p outside
  (0, 1)) skips the bet as ``no_pinnacle_price``; a non-positive edge, or a
  stake that rounds to 0.00 on a solvent bank, skips it as ``no_edge``. On Asian
  handicap markets the same win/lose formula is used with p as given: pushes and
  half outcomes are ignored in sizing (on whole and quarter lines this sizes a
  little differently from the exact multi-outcome Kelly stake).

Skip reasons are checked in this order: no usable price (``no_odds``; includes
an AH price without a line, or odds <= 1), no Pinnacle probability, no edge,
bank exhausted.
"""

from __future__ import annotations

import gc
import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import (
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from itertools import accumulate, repeat
from operator import itemgetter
from typing import Any, ClassVar, Final, NamedTuple

from core.backtest.settle import (
    AH_MARKETS,
    PROFIT_QUANTUM,
    Candidate,
    Outcome,
    bet_sort_key,
    odds_to_decimal,
    profit_factor,
    settle_columns,
    settler_for,
)

__all__ = [
    "BacktestOutcome",
    "FlatStaking",
    "KellyStaking",
    "LedgerRow",
    "PercentStaking",
    "StakingPlan",
    "flat_profit",
    "gc_paused",
    "run_backtest",
    "staking_from_dict",
]

CENT: Final = Decimal("0.01")
_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)
_HUNDRED: Final = Decimal(100)
_INF: Final = math.inf
_FIXTURE_ID: Final = itemgetter(0)
_HOME_GOALS: Final = itemgetter(6)
_AWAY_GOALS: Final = itemgetter(7)
_ODDS: Final = itemgetter(8)
_AH_LINE: Final = itemgetter(9)
# A private context: a caller's getcontext() tweaks must not change a backtest.
# Every operation in the loop is exact (no division that does not terminate), so a
# huge precision costs nothing normally and lets a runaway bank stay exact.
_MONEY_CONTEXT: Final = Context(
    prec=100_000, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)


def _as_decimal(value: Decimal | int | float | str, name: str) -> Decimal:
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


def _whole_cents(value: Decimal | int | float | str, name: str) -> Decimal:
    amount = _as_decimal(value, name)
    if amount <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    with localcontext(_MONEY_CONTEXT):
        cents = amount.quantize(CENT)
    if amount != cents:
        raise ValueError(f"{name} must be a whole number of cents, got {value!r}")
    return cents


@dataclass(frozen=True, slots=True)
class FlatStaking:
    """The same stake on every bet; ``bank`` is notional, for ``roc`` only."""

    stake: Decimal = Decimal("1.00")
    bank: Decimal = Decimal("100.00")
    kind: ClassVar[str] = "flat"

    def __post_init__(self) -> None:
        object.__setattr__(self, "stake", _whole_cents(self.stake, "stake"))
        object.__setattr__(self, "bank", _whole_cents(self.bank, "bank"))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "stake": str(self.stake), "bank": str(self.bank)}


@dataclass(frozen=True, slots=True)
class PercentStaking:
    """``percent`` % of the bank at the start of the bet's date."""

    percent: Decimal = Decimal("1")
    bank: Decimal = Decimal("100.00")
    kind: ClassVar[str] = "percent"

    def __post_init__(self) -> None:
        percent = _as_decimal(self.percent, "percent")
        if not 0 < percent <= 100:
            raise ValueError(f"percent must be in (0, 100], got {self.percent!r}")
        object.__setattr__(self, "percent", percent)
        object.__setattr__(self, "bank", _whole_cents(self.bank, "bank"))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "percent": str(self.percent), "bank": str(self.bank)}


@dataclass(frozen=True, slots=True)
class KellyStaking:
    """Fractional Kelly from Pinnacle's fair probability, each stake capped at ``cap`` * bank."""

    fraction: float = 0.25
    cap: float = 0.05
    bank: Decimal = Decimal("100.00")
    kind: ClassVar[str] = "kelly"

    def __post_init__(self) -> None:
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction!r}")
        if not 0.0 < self.cap <= 1.0:
            raise ValueError(f"cap must be in (0, 1], got {self.cap!r}")
        object.__setattr__(self, "fraction", float(self.fraction))
        object.__setattr__(self, "cap", float(self.cap))
        object.__setattr__(self, "bank", _whole_cents(self.bank, "bank"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "fraction": self.fraction,
            "cap": self.cap,
            "bank": str(self.bank),
        }


StakingPlan = FlatStaking | PercentStaking | KellyStaking


def staking_from_dict(spec: Mapping[str, Any]) -> StakingPlan:
    """Build a plan from its ``to_dict()`` form (missing keys take the defaults)."""
    kind = spec.get("kind", "flat")
    args = {k: v for k, v in spec.items() if k != "kind"}
    try:
        if kind == "flat":
            return FlatStaking(**{k: _as_decimal(v, k) for k, v in args.items()})
        if kind == "percent":
            return PercentStaking(**{k: _as_decimal(v, k) for k, v in args.items()})
        if kind == "kelly":
            unknown = set(args) - {"fraction", "cap", "bank"}
            if unknown:
                raise TypeError(f"unexpected keys {sorted(unknown)}")
            defaults = KellyStaking()
            return KellyStaking(
                fraction=float(args.get("fraction", defaults.fraction)),
                cap=float(args.get("cap", defaults.cap)),
                bank=_as_decimal(args.get("bank", defaults.bank), "bank"),
            )
    except TypeError as exc:  # an unknown key, or a value of the wrong type
        raise ValueError(f"bad {kind} staking spec {dict(spec)!r}: {exc}") from None
    raise ValueError(f"unknown staking kind {kind!r}; expected flat, percent or kelly")


class LedgerRow(NamedTuple):
    """One placed bet, in settlement order."""

    fixture_id: int
    odds: float
    stake: Decimal
    outcome: Outcome
    profit: Decimal
    """Exact to 4 dp; negative for a loss."""
    bank_after: Decimal
    """Bank once this bet settled (notional for flat: starting bank + profit so far)."""


@dataclass(slots=True)
class BacktestOutcome:
    """Everything a run produced; ``compute_metrics`` turns it into the JSON metrics."""

    market: str
    staking: StakingPlan
    starting_bank: Decimal
    final_bank: Decimal
    staked: Decimal
    profit: Decimal
    candidates: int
    """Candidates seen, placed or skipped."""
    skipped_no_odds: int = 0
    skipped_no_pinnacle_price: int = 0
    skipped_no_edge: int = 0
    skipped_bankrupt: int = 0
    day_funds_limited: int = 0
    """Stakes cut or skipped because the same day's earlier stakes committed the bank."""
    ledger: list[LedgerRow] = field(default_factory=list)
    placed: list[Candidate] = field(default_factory=list)
    """The candidate behind each ledger row (same index), in settlement order."""

    @property
    def bets(self) -> int:
        return len(self.ledger)

    @property
    def bank_based(self) -> bool:
        return not isinstance(self.staking, FlatStaking)


class _Factors(dict[tuple[float, str], Decimal]):
    """(odds, outcome) -> exact profit per unit staked, built once per distinct pair.
    `win_share` is what a win pays of its winnings (1 less an exchange's commission)."""

    def __init__(self, win_share: Decimal = _ONE) -> None:
        super().__init__()
        self.win_share = win_share

    def __missing__(self, key: tuple[float, str]) -> Decimal:
        odds, outcome = key
        winnings = (odds_to_decimal(odds) - 1) * self.win_share
        factor = self[key] = profit_factor(outcome, winnings)
        return factor


class _FlatProfits(dict[tuple[float, str], Decimal]):
    """(odds, outcome) -> profit of the flat stake, to 4 dp."""

    def __init__(self, stake: Decimal, win_share: Decimal = _ONE) -> None:
        super().__init__()
        self.stake = stake
        self.factors = _Factors(win_share)

    def __missing__(self, key: tuple[float, str]) -> Decimal:
        profit = self[key] = (self.stake * self.factors[key]).quantize(PROFIT_QUANTUM)
        return profit


def flat_profit(stake: Decimal, odds: float, outcome: str, win_share: Decimal = _ONE) -> Decimal:
    """The profit of one flat-stake bet, to 4 dp: what `run_backtest` books for it."""
    with localcontext(_MONEY_CONTEXT):
        return _FlatProfits(stake, win_share)[(odds, outcome)]


_gc_pause_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a run builds ~100k small tuples.

    Every few hundred allocations CPython runs a collection that traverses the
    candidates too; over a 200k-bet run that is a tenth of the time. Nothing here
    creates reference cycles. Pauses nest and overlap across threads and tasks:
    the collector comes back when the last one ends, if it was on before the first.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_pause_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_pause_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def run_backtest(
    candidates: Iterable[Candidate],
    market: str,
    staking: StakingPlan,
    *,
    presorted: bool = False,
    win_share: Decimal = _ONE,
) -> BacktestOutcome:
    """Size and settle ``candidates`` on ``market``; the input is not modified.

    ``win_share`` is what a win pays of its winnings: 1 at a bookmaker, 1 less the
    commission at an exchange (Kelly sizes from the odds net of it too).

    ``candidates`` are ``Candidate`` rows (or plain tuples/lists in the same
    column order) whose ``odds`` is the price of ``market`` itself. They are
    sorted with ``bet_sort_key`` unless ``presorted`` promises they already
    are in exactly that order (a SQL ORDER BY can differ: collations).
    Raises ValueError for an unknown market or an AH line that is not a
    multiple of 0.25 (corrupt data must not be settled quietly).
    """
    settler_for(market)  # reject an unknown market before any work
    with gc_paused():
        return _run(candidates, market, staking, presorted, win_share)


def _run(
    candidates: Iterable[Candidate],
    market: str,
    staking: StakingPlan,
    presorted: bool,
    win_share: Decimal,
) -> BacktestOutcome:
    rows = candidates if isinstance(candidates, list) else list(candidates)
    # Speed: columns go through map/zip/accumulate (C loops); only sizing that
    # depends on the bank runs as a Python loop. Bets that can never be placed
    # are dropped before sorting: their skip counts do not depend on the order.
    needs_line = market in AH_MARKETS
    # `1.0 < odds < inf` also rejects NaN; an AH price without its line is no price.
    usable = [row for row in rows if (odds := row[8]) is not None and 1.0 < odds < _INF]
    if needs_line:
        usable = [row for row in usable if row[9] is not None]
    with localcontext(_MONEY_CONTEXT):
        if isinstance(staking, FlatStaking):
            if not presorted:
                usable.sort(key=bet_sort_key)
            result = _run_flat(usable, market, staking, win_share)
        else:
            result = _run_bank_based(usable, market, staking, presorted, win_share)
    result.candidates = len(rows)
    result.skipped_no_odds = len(rows) - len(usable)
    return result


def _outcomes(rows: list[Candidate], market: str) -> list[Outcome]:
    return settle_columns(
        market,
        map(_HOME_GOALS, rows),
        map(_AWAY_GOALS, rows),
        map(_AH_LINE, rows) if market in AH_MARKETS else None,
    )


def _run_flat(
    rows: list[Candidate], market: str, plan: FlatStaking, win_share: Decimal
) -> BacktestOutcome:
    n = len(rows)
    stake = plan.stake
    odds = list(map(_ODDS, rows))
    outcomes = _outcomes(rows, market)
    # A flat stake makes profit a function of (odds, outcome): a few hundred values.
    profits = list(
        map(_FlatProfits(stake, win_share).__getitem__, zip(odds, outcomes, strict=True))
    )
    banks = list(accumulate(profits, initial=plan.bank))
    final_bank = banks[-1]
    del banks[0]  # the starting bank; banks[i] is now the bank after bet i
    ledger = list(
        map(
            tuple.__new__,
            repeat(LedgerRow),
            zip(
                map(_FIXTURE_ID, rows),
                odds,
                repeat(stake, n),
                outcomes,
                profits,
                banks,
                strict=True,
            ),
        )
    )
    return BacktestOutcome(
        market=market,
        staking=plan,
        starting_bank=plan.bank,
        final_bank=final_bank,
        staked=stake * n,
        profit=final_bank - plan.bank,
        candidates=n,
        ledger=ledger,
        placed=rows,
    )


def _kelly_edge(probability: float, odds: float, win_share: float) -> float:
    """Kelly's edge (p*O - 1)/(O - 1), O the odds net of commission (the gross odds
    themselves at a bookmaker, where `win_share` is 1)."""
    if win_share != 1.0:
        odds = 1.0 + (odds - 1.0) * win_share
    return (probability * odds - 1.0) / (odds - 1.0)


def _row_key(pair: tuple[Candidate, float]) -> tuple[object, ...]:
    return bet_sort_key(pair[0])


def _run_bank_based(
    rows: list[Candidate],
    market: str,
    plan: PercentStaking | KellyStaking,
    presorted: bool,
    win_share: Decimal,
) -> BacktestOutcome:
    no_pin = no_edge = bankrupt = day_limited = 0
    if isinstance(plan, KellyStaking):
        is_kelly = True
        fraction, cap = plan.fraction, plan.cap
        # The largest share of the bank Kelly can ever stake (edge k <= 1).
        max_share = Decimal(repr(min(fraction, cap)))
        cap_share = Decimal(repr(cap))  # the quoted cap, not its binary float
        percent_share = _ZERO
        priced = [(row, p) for row in rows if (p := row[10]) is not None and 0.0 < p < 1.0]
        no_pin = len(rows) - len(priced)
        # Kelly edge k = (p*O - 1)/(O - 1) at the odds a win pays (net of an exchange's
        # commission); k <= 0 means no bet.
        share = float(win_share)
        with_edge = [
            (row, k)
            for row, p in priced
            # row[8] (odds) is never None here: the price filter ran first.
            if (k := _kelly_edge(p, row[8], share)) > 0.0  # type: ignore[arg-type]
        ]
        if not presorted:
            with_edge.sort(key=_row_key)
        rows = [row for row, _ in with_edge]
        edges = [k for _, k in with_edge]
        no_edge = len(priced) - len(rows)
    else:
        is_kelly = False
        fraction = cap = 0.0
        max_share = percent_share = plan.percent / _HUNDRED
        cap_share = _ZERO
        if not presorted:
            rows.sort(key=bet_sort_key)
        edges = [0.0] * len(rows)
    odds = list(map(_ODDS, rows))
    outcomes = _outcomes(rows, market)
    factors = list(map(_Factors(win_share).__getitem__, zip(odds, outcomes, strict=True)))

    bank = plan.bank
    ledger: list[LedgerRow] = []
    placed: list[Candidate] = []
    add_row = ledger.append
    add_placed = placed.append
    new = tuple.__new__
    staked = _ZERO
    day: object = None
    day_bank = day_left = percent_stake = bank
    exhausted = False
    for row, outcome, factor, edge in zip(rows, outcomes, factors, edges, strict=True):
        date = row[1]
        if date != day:
            # New date: size every bet of this date from the bank as it stands now.
            day = date
            day_bank = day_left = bank
            exhausted = (day_bank * max_share).quantize(CENT) <= 0
            percent_stake = (day_bank * percent_share).quantize(CENT)
        if exhausted:
            bankrupt += 1
            continue
        if is_kelly:
            share = fraction * edge
            stake = (day_bank * (Decimal(share) if share < cap else cap_share)).quantize(CENT)
            if stake <= 0:  # an edge too thin to size a cent
                no_edge += 1
                continue
        else:
            stake = percent_stake
        if stake > day_left:
            # The day's earlier stakes committed the bank: bet what is left.
            day_limited += 1
            stake = day_left.quantize(CENT, ROUND_DOWN)
            if stake <= 0:
                bankrupt += 1
                continue
        day_left -= stake
        staked += stake
        profit = (stake * factor).quantize(PROFIT_QUANTUM)
        bank += profit
        add_row(new(LedgerRow, (row[0], row[8], stake, outcome, profit, bank)))
        add_placed(row)
    return BacktestOutcome(
        market=market,
        staking=plan,
        starting_bank=plan.bank,
        final_bank=bank,
        staked=staked,
        profit=bank - plan.bank,
        candidates=len(rows),
        skipped_no_pinnacle_price=no_pin,
        skipped_no_edge=no_edge,
        skipped_bankrupt=bankrupt,
        day_funds_limited=day_limited,
        ledger=ledger,
        placed=placed,
    )
