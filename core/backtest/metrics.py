"""Turn a ``BacktestOutcome`` into the JSON-ready metrics dict stored with a run.

Definitions (the contract of every key):

* Money (``staked``, ``profit``, ``max_drawdown``, split money, curve values) is
  a float rounded to 4 dp; the exact Decimals stay on the outcome. Drawdown and
  the curve work on float(exact 4-dp cumulative profit), which is exact to 4 dp
  while money stays under 1e11 (a warning is added beyond; inf becomes None).
  Ratios (yield, roc, strike rate, p-values...) are unrounded floats.
* ``strike_rate`` = (wins + half_wins/2) / (wins + losses + half_wins/2 +
  half_losses/2): the winning share of the stake that was not returned as a
  push. A half outcome is half a push, so it counts 0.5 in the denominator and
  (for a half win) 0.5 in the numerator; pushes count nowhere. None when no
  stake was at risk.
* ``yield`` = profit / staked (None with nothing staked); ``roc`` = profit /
  starting bank; ``avg_odds`` = plain mean of the taken odds.
* ``max_drawdown`` (money units): the largest fall of cumulative profit from
  its running peak, the peak starting at 0 (so early losses count).
  ``max_drawdown_pct``: the largest (peak bank - bank) / peak bank, peak bank
  starting at the starting bank; bank-based plans only (None for flat).
  ``drawdown_duration_bets``: the longest streak of consecutive placed bets
  after each of which cumulative profit is strictly below its running peak
  (pushes inside the streak count as bets; getting back to the peak ends it).
* Runs: ``longest_winning_run`` / ``longest_losing_run`` count consecutive
  bets; half_win counts as a win and half_loss as a loss; a push neither
  counts nor breaks a run.
* ``t_stat`` / ``p_value``: one-sided one-sample t-test that the mean per-bet
  return per unit staked (profit_i / stake_i, pushes included as 0) exceeds 0,
  with n-1 degrees of freedom; None when n < 2 or all returns are equal. For
  bank-based plans profit_i is read off the float cumulative curve (error ~1e-16
  of the bank) because float(Decimal) per bet would dominate the run time.
* ``p_value_odds_weighted``: flat stakes only. Under the no-edge hypothesis a
  1-unit bet at fair odds O has mean 0 and variance O-1, so
  z = (profit / stake) / sqrt(sum(O_i - 1)) and p = P(Z > z). It assumes
  win/lose bets; pushes and half outcomes make the true variance smaller, so
  on Asian handicap it is approximate. Reported with ``z_odds_weighted``.
* ``clv`` = mean(taken odds / closing fair odds - 1) over placed bets with a
  closing fair price; ``clv_coverage`` = the share of placed bets that had one.
* ``splits``: by ``season``, ``league``, ``month`` and ``odds_band``, each a
  list of {key, bets, staked, profit, yield} sorted by key (bands in price
  order). Odds bands are [lo, hi): 1.01-1.5, 1.5-2, 2-3, 3-5, 5+ (5 and up);
  a price under 1.01 falls in "<1.01", shown only when present.
* Run facts: ``market``, ``odds_source`` (passed in), ``staking`` (the plan),
  ``candidates``, ``skipped_no_pinnacle_price``, ``skipped_bankrupt``,
  ``starting_bank``, ``final_bank`` and ``warnings`` (plain sentences: under 30
  bets, skipped prices, exhausted bank, partial CLV, AH approximations).
* ``curve``: one point per placed bet (or a downsample, see
  ``curve_max_points``): {bet: 1-based index, date: ISO date, profit:
  cumulative profit, bank: bank after the bet (None for flat, whose bank is
  notional)}.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from itertools import accumulate, chain, repeat
from operator import add, itemgetter, mul, sub, truediv
from typing import Any, Final, cast

from core.backtest.settle import AH_MARKETS, HALF_LOSS, HALF_WIN, LOSS, PUSH, WIN, Candidate
from core.backtest.staking import (
    BacktestOutcome,
    FlatStaking,
    KellyStaking,
    PercentStaking,
    StakingPlan,
    gc_paused,
)
from core.backtest.stats import TTest, normal_sf, one_sided_t_test

__all__ = [
    "FEW_BETS",
    "HUGE_MONEY",
    "KELLY_AT_PINNACLE_WARNING",
    "MAX_PRICES_WARNING",
    "ODDS_BANDS",
    "RATIO_CONTEXT",
    "assemble_metrics",
    "compute_metrics",
    "finite_or_none",
    "money",
    "odds_band",
    "price_source_warnings",
    "run_warnings",
    "split_tables",
]

FEW_BETS: Final = 30
# (label, lo, hi) with lo <= odds < hi.
ODDS_BANDS: Final[tuple[tuple[str, float, float], ...]] = (
    ("1.01-1.5", 1.01, 1.5),
    ("1.5-2", 1.5, 2.0),
    ("2-3", 2.0, 3.0),
    ("3-5", 3.0, 5.0),
    ("5+", 5.0, math.inf),
)
_BELOW_BANDS: Final = "<1.01"
_BAND_ORDER: Final = {label: i for i, (label, _, _) in enumerate(ODDS_BANDS, start=1)}
# bisect_right over the lower edges maps a price to its band index; 0 is below 1.01.
_BAND_EDGES: Final = tuple(lo for _, lo, _ in ODDS_BANDS)
_BAND_LABELS: Final = (_BELOW_BANDS, *(label for label, _, _ in ODDS_BANDS))
_RUN_LETTER: Final = {WIN: "W", HALF_WIN: "W", LOSS: "L", HALF_LOSS: "L", PUSH: ""}
# Sums here are exact; divisions (yield, roc) need only float precision. A fixed
# context keeps a caller's getcontext() out of the numbers.
RATIO_CONTEXT: Final = Context(prec=34, rounding=ROUND_HALF_EVEN)
_INF: Final = math.inf
_CLOSING: Final = itemgetter(11)  # Candidate.closing_fair_odds
# Above this, 4-dp money no longer survives the trip through a float exactly.
HUGE_MONEY: Final = 1e11


def odds_band(odds: float) -> str:
    """The odds band label of a price ([lo, hi) edges)."""
    return _BAND_LABELS[bisect_right(_BAND_EDGES, odds)]


class _BandIndex(dict[float, int]):
    """price -> odds band index, bisecting once per distinct price."""

    def __missing__(self, odds: float) -> int:
        index = self[odds] = bisect_right(_BAND_EDGES, odds)
        return index


def money(value: Decimal) -> float:
    return round(float(value), 4)


def _sort_token(key: object) -> tuple[int, Any]:
    # Robust ordering even if a caller mixes int and str keys.
    if isinstance(key, (int, float)):
        return (0, key)
    return (1, str(key))


def _split_rows(groups: dict[Any, list[Any]], *, bands: bool = False) -> list[dict[str, Any]]:
    if bands:
        keys = sorted(groups, key=lambda k: _BAND_ORDER.get(k, 0))
    else:
        keys = sorted(groups, key=_sort_token)
    rows = []
    for key in keys:
        bets, staked, profit = groups[key]
        rows.append(
            {
                "key": key,
                "bets": bets,
                "staked": money(staked),
                "profit": money(profit),
                "yield": float(profit / staked) if staked else None,
            }
        )
    return rows


def _roll_up(cells: dict[tuple[Any, ...], list[Any]], position: int) -> dict[Any, list[Any]]:
    out: dict[Any, list[Any]] = {}
    for key, (bets, staked, profit) in cells.items():
        acc = out.get(key[position])
        if acc is None:
            out[key[position]] = [bets, staked, profit]
        else:
            acc[0] += bets
            acc[1] += staked
            acc[2] += profit
    return out


def _curve_indices(values: list[float], max_points: int) -> list[int]:
    """Indices to plot: first, last, and each bucket's min and max (peaks survive)."""
    n = len(values)
    if n <= max_points:
        return list(range(n))
    if max_points < 4:
        step = (n - 1) / max(max_points - 1, 1)
        return sorted({round(i * step) for i in range(max_points)})
    buckets = (max_points - 2) // 2
    chosen = {0, n - 1}
    inner = n - 2
    for b in range(buckets):
        lo = 1 + b * inner // buckets
        hi = 1 + (b + 1) * inner // buckets
        if lo >= hi:
            continue
        span = range(lo, hi)
        chosen.add(min(span, key=values.__getitem__))
        chosen.add(max(span, key=values.__getitem__))
    return sorted(chosen)


def _drawdown(cum: list[float], start: float | None) -> tuple[float, float | None, int]:
    """(max drawdown, max drawdown as a fraction of the peak bank, longest streak below).

    The peak starts at 0 profit (the starting bank); ``start`` None skips the
    percentage (flat stakes have no real bank).
    """
    peak = max_dd = max_pct = 0.0
    below = longest = 0
    for c in cum:
        if c < peak:
            below += 1
            drop = peak - c
            if drop > max_dd:
                max_dd = drop
            if start is not None and drop / (start + peak) > max_pct:
                max_pct = drop / (start + peak)
        else:  # a new peak, or back to the old one, ends the streak
            if below > longest:
                longest = below
            below = 0
            peak = c
    return round(max_dd, 4), None if start is None else max_pct, max(longest, below)


def _repeating_floats(values: list[Decimal]) -> list[float]:
    """float() of each value, converting each distinct value once.

    float(Decimal) is slow (it goes through str) and a flat run's profits take
    only a few hundred distinct values; hashing is not worth it otherwise.
    """
    lookup = {v: float(v) for v in set(values)}
    return list(map(lookup.__getitem__, values))


def compute_metrics(
    outcome: BacktestOutcome,
    *,
    odds_source: str,
    curve_max_points: int | None = None,
) -> dict[str, Any]:
    """The metrics dict (JSON-serializable) of a run.

    ``curve_max_points`` None keeps one curve point per bet; a number keeps at
    most that many (first, last, and each bucket's low and high).
    """
    with gc_paused(), localcontext(RATIO_CONTEXT):
        return _compute(outcome, odds_source, curve_max_points)


def _compute(
    outcome: BacktestOutcome, odds_source: str, curve_max_points: int | None
) -> dict[str, Any]:
    # Speed (100k bets): every pass over 100k objects costs ~10 ms here, so cheap
    # C passes (itemgetter, Counter) are mixed with single Python loops wherever
    # a chain of map() calls would allocate several throwaway lists.
    ledger = outcome.ledger
    placed = outcome.placed
    n = len(ledger)
    start = outcome.starting_bank
    bank_based = outcome.bank_based
    plan = outcome.staking

    odds: list[float] = list(map(itemgetter(1), ledger))
    stakes: list[Decimal] = list(map(itemgetter(2), ledger))
    results: list[str] = list(map(itemgetter(3), ledger))
    profits: list[Decimal] = list(map(itemgetter(4), ledger))

    counts = Counter(results)
    wins, losses, pushes = counts[WIN], counts[LOSS], counts[PUSH]
    half_wins, half_losses = counts[HALF_WIN], counts[HALF_LOSS]

    # Runs: W/L per bet with pushes dropped, so they neither count nor break a run.
    streaks = "".join(map(_RUN_LETTER.__getitem__, results))
    longest_win = max(map(len, streaks.split("L"))) if streaks else 0
    longest_loss = max(map(len, streaks.split("W"))) if streaks else 0

    # Cumulative profit after each bet, as the nearest float to the exact 4-dp
    # value: that keeps order and equality, and differences rounded back to 4 dp
    # are exact while money stays below ~1e11 (see HUGE_MONEY).
    if isinstance(plan, FlatStaking):
        # Few distinct profits: sum them as exact integers of 0.0001.
        units = {p: int(p.scaleb(4)) for p in set(profits)}
        cum = list(map(truediv, accumulate(map(units.__getitem__, profits)), repeat(1e4)))
    else:
        cum = list(map(float, map(sub, map(itemgetter(5), ledger), repeat(start, n))))
    max_dd, max_dd_pct, longest_below = _drawdown(cum, float(start) if bank_based else None)

    # Per-bet return per unit staked, profit_i / stake_i, in floats.
    if isinstance(plan, FlatStaking):
        # Exact per distinct profit, so identical returns stay identical (zero variance).
        returns = list(map(truediv, _repeating_floats(profits), repeat(float(plan.stake), n)))
    else:
        # profit_i as the step of the cumulative curve (float(Decimal) is slow); the
        # error is ~1e-16 of the bank, far below anything a t-test can notice.
        profit_steps = map(sub, cum, chain((0.0,), cum))
        stake_floats = (
            _repeating_floats(stakes)  # one stake object per day
            if isinstance(plan, PercentStaking)
            else map(float, stakes)
        )
        returns = list(map(truediv, profit_steps, stake_floats))
    test = one_sided_t_test(returns)

    # taken odds / closing fair odds for bets with a valid closing price
    # (`1.0 < c < inf` also drops NaN).
    clv_ratios = [
        o / c
        for o, c in zip(odds, map(_CLOSING, placed), strict=True)
        if c is not None and 1.0 < c < _INF
    ]
    flat_stake = plan.stake if isinstance(plan, FlatStaking) else None
    return assemble_metrics(
        outcome,
        odds_source=odds_source,
        bets=n,
        outcome_counts=(wins, losses, pushes, half_wins, half_losses),
        odds_sum=math.fsum(odds),
        drawdown=(max_dd, max_dd_pct, longest_below),
        runs=(longest_win, longest_loss),
        test=test,
        clv_ratios=clv_ratios,
        splits=_splits(placed, odds, stakes, profits, flat_stake),
        curve=_curve(outcome, cum, curve_max_points),
        extremes=(max(cum), min(cum)) if n else (0.0, 0.0),
    )


def assemble_metrics(
    outcome: BacktestOutcome,
    *,
    odds_source: str,
    bets: int,
    outcome_counts: tuple[int, int, int, int, int],
    odds_sum: float,
    drawdown: tuple[float, float | None, int],
    runs: tuple[int, int],
    test: TTest | None,
    clv_ratios: list[float],
    splits: dict[str, list[dict[str, Any]]],
    curve: list[dict[str, Any]],
    extremes: tuple[float, float],
) -> dict[str, Any]:
    """The metrics dict from what a run's path measured: the one place its keys, ratios
    and warnings are defined, for the row path here and the columnar one
    (`columnar.flat_metrics`). `outcome` gives the run's facts and money totals;
    `extremes` the highest and lowest cumulative profit."""
    n = bets
    plan = outcome.staking
    start = outcome.starting_bank
    staked = outcome.staked
    profit_total = outcome.profit
    wins, losses, pushes, half_wins, half_losses = outcome_counts
    settled_weight = wins + losses + 0.5 * (half_wins + half_losses)
    max_dd, max_dd_pct, longest_below = drawdown
    z_ow: float | None = None
    p_ow: float | None = None
    if isinstance(plan, FlatStaking) and n:
        spread = odds_sum - n  # sum(O_i - 1)
        if spread > 0.0:
            z_ow = float(profit_total / plan.stake) / math.sqrt(spread)
            p_ow = normal_sf(z_ow)

    metrics: dict[str, Any] = {
        "market": outcome.market,
        "odds_source": odds_source,
        "staking": plan.to_dict(),
        "candidates": outcome.candidates,
        "bets": n,
        "wins": wins,
        "losses": losses,
        "pushes": pushes,
        "half_wins": half_wins,
        "half_losses": half_losses,
        "skipped_no_odds": outcome.skipped_no_odds,
        "skipped_no_edge": outcome.skipped_no_edge,
        "skipped_no_pinnacle_price": outcome.skipped_no_pinnacle_price,
        "skipped_bankrupt": outcome.skipped_bankrupt,
        "strike_rate": (wins + 0.5 * half_wins) / settled_weight if settled_weight else None,
        "staked": money(staked),
        "profit": money(profit_total),
        "yield": float(profit_total / staked) if staked else None,
        "roc": float(profit_total / start),
        "avg_odds": odds_sum / n if n else None,
        "starting_bank": money(start),
        "final_bank": money(outcome.final_bank),
        "max_drawdown": max_dd,
        "max_drawdown_pct": max_dd_pct,
        "drawdown_duration_bets": longest_below,
        "longest_winning_run": runs[0],
        "longest_losing_run": runs[1],
        "t_stat": test.t_stat if test else None,
        "p_value": test.p_value if test else None,
        "z_odds_weighted": z_ow,
        "p_value_odds_weighted": p_ow,
        "clv": math.fsum(clv_ratios) / len(clv_ratios) - 1.0 if clv_ratios else None,
        "clv_coverage": len(clv_ratios) / n if n else None,
        "splits": splits,
        "curve": curve,
        "warnings": [
            *price_source_warnings(odds_source, plan),
            *run_warnings(outcome, n, len(clv_ratios)),
        ],
    }
    top = max(extremes[0], -extremes[1]) + float(start) if n else 0.0
    if top > HUGE_MONEY:
        metrics["warnings"].append(
            f"money beyond {HUGE_MONEY:.0e}: float figures in these metrics are approximate"
        )
        if not math.isfinite(top):
            return cast(dict[str, Any], finite_or_none(metrics))
    return metrics


def finite_or_none(value: Any) -> Any:
    """Replace inf/nan (a bank past float range) with None so the dict stays valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return value


def _splits(
    placed: list[Candidate],
    odds: list[float],
    stakes: list[Decimal],
    profits: list[Decimal],
    flat_stake: Decimal | None,
) -> dict[str, list[dict[str, Any]]]:
    band = _BandIndex()  # 0 = below the first band
    # Sum per (season, league, month, band) cell once, then roll the cells up.
    # One Python loop beats zipping four map() columns here (fewer passes).
    cells: dict[tuple[Any, ...], list[Any]] = {}
    get = cells.get
    if flat_stake is not None:
        return _flat_splits(placed, odds, profits, flat_stake)
    for row, price, stake, profit in zip(placed, odds, stakes, profits, strict=True):
        key = (row[12], row[3], row[13], band[price])  # season, league, month, band
        acc = get(key)
        if acc is None:
            cells[key] = [1, stake, profit]
        else:
            acc[0] += 1
            acc[1] += stake
            acc[2] += profit
    return _rolled_up_splits(cells)


def _rolled_up_splits(cells: dict[tuple[Any, ...], list[Any]]) -> dict[str, list[dict[str, Any]]]:
    return split_tables(*(_roll_up(cells, position) for position in range(4)))


def split_tables(
    seasons: dict[Any, list[Any]],
    leagues: dict[Any, list[Any]],
    months: dict[Any, list[Any]],
    bands: dict[int, list[Any]],
) -> dict[str, list[dict[str, Any]]]:
    return {
        "season": _split_rows(seasons),
        "league": _split_rows(leagues),
        "month": _split_rows(months),
        "odds_band": _split_rows({_BAND_LABELS[k]: v for k, v in bands.items()}, bands=True),
    }


class _Numbering(dict[Any, int]):
    """key -> 0, 1, 2, ... in order of first sight."""

    def __missing__(self, key: Any) -> int:
        number = self[key] = len(self)
        return number


def _flat_splits(
    placed: list[Candidate], odds: list[float], profits: list[Decimal], stake: Decimal
) -> dict[str, list[dict[str, Any]]]:
    """Splits of a flat-stake run: staked is bets x stake, and a run's profits take few
    distinct values, so each split counts (key, profit) pairs in C (Counter) and adds
    exact integers of 0.0001, not one Decimal per bet."""
    distinct = list(set(profits))
    units = [int(p.scaleb(4)) for p in distinct]
    width = len(distinct)
    profit_index = list(map({p: i for i, p in enumerate(distinct)}.__getitem__, profits))

    def group(keys: Iterable[Any]) -> dict[Any, list[Any]]:
        # (key, profit) pairs encoded as one int each: Counter hashes ints far faster
        # than tuples.
        key_index = _Numbering()
        pairs = map(add, map(mul, map(key_index.__getitem__, keys), repeat(width)), profit_index)
        counts = Counter(pairs)
        key_of = list(key_index)  # numbered while counting
        out: dict[Any, list[Any]] = {}
        for pair, bets in counts.items():
            key = key_of[pair // width]
            amount = units[pair % width] * bets
            acc = out.get(key)
            if acc is None:
                out[key] = [bets, 0, amount]
            else:
                acc[0] += bets
                acc[2] += amount
        for acc in out.values():
            acc[1] = stake * acc[0]
            acc[2] = Decimal(acc[2]).scaleb(-4)
        return out

    return split_tables(
        group(map(itemgetter(12), placed)),  # season
        group(map(itemgetter(3), placed)),  # league
        group(map(itemgetter(13), placed)),  # month
        group(map(_BandIndex().__getitem__, odds)),
    )


def _curve(
    outcome: BacktestOutcome, cum: list[float], max_points: int | None
) -> list[dict[str, Any]]:
    n = len(cum)
    placed = outcome.placed
    ledger = outcome.ledger
    bank_based = outcome.bank_based
    if max_points is not None and n > max_points:
        indices = _curve_indices(cum, max_points)
        placed = list(map(placed.__getitem__, indices))
        ledger = list(map(ledger.__getitem__, indices))
        cum = list(map(cum.__getitem__, indices))
        bets: Iterable[int] = (i + 1 for i in indices)
    else:
        bets = range(1, n + 1)
    dates = list(map(itemgetter(1), placed))
    iso = {d: str(d) for d in set(dates)}  # str(date) is its ISO form
    # cum values are already the 4-dp floats; banks are 4-dp Decimals.
    banks: Iterable[float | None] = (
        map(float, map(itemgetter(5), ledger)) if bank_based else repeat(None)
    )
    return [
        {"bet": i, "date": iso[d], "profit": p, "bank": b}
        for i, d, p, b in zip(bets, dates, cum, banks, strict=False)  # banks may be repeat(None)
    ]


KELLY_AT_PINNACLE_WARNING = (
    "Kelly sizes from Pinnacle's margin-free price, so Pinnacle's own price never shows an"
    " edge and Kelly places no bet at it: use --odds b365, avg or max"
)
MAX_PRICES_WARNING = (
    "maximum prices are the best of many bookmakers at one moment, seldom obtainable in"
    " practice (stakes limited, lines gone, accounts needed everywhere): read the yield as"
    " an upper bound"
)


def price_source_warnings(odds_source: str, plan: StakingPlan) -> list[str]:
    """What the prices a run bets at mean for its figures, whatever happened in the run."""
    warnings = []
    if isinstance(plan, KellyStaking) and odds_source.startswith("pinnacle"):
        warnings.append(KELLY_AT_PINNACLE_WARNING)  # its closing twin sizes from closing
    if odds_source.startswith("max"):
        warnings.append(MAX_PRICES_WARNING)
    return warnings


def _candidates(count: int, lacking: str) -> str:
    if count == 1:
        return f"1 candidate had {lacking} and was not bet"
    return f"{count:,} candidates had {lacking} and were not bet"


def run_warnings(outcome: BacktestOutcome, n: int, with_close: int) -> list[str]:
    warnings: list[str] = []
    if n == 0:
        warnings.append("no bets placed")
    elif n < FEW_BETS:
        warnings.append(f"fewer than {FEW_BETS} bets: results are noise")
    if outcome.skipped_no_odds:
        warnings.append(_candidates(outcome.skipped_no_odds, f"no usable {outcome.market} price"))
    if outcome.skipped_no_pinnacle_price:
        warnings.append(
            _candidates(
                outcome.skipped_no_pinnacle_price, "no Pinnacle probability for Kelly sizing"
            )
        )
    if outcome.skipped_bankrupt:
        warnings.append(
            f"bank exhausted: {outcome.skipped_bankrupt:,} bets skipped for lack of funds"
        )
    if outcome.day_funds_limited:
        warnings.append(
            f"{outcome.day_funds_limited:,} stakes were cut or skipped because the same "
            "day's earlier stakes had already committed the bank"
        )
    if n and not with_close:
        warnings.append("no closing prices for these bets: CLV could not be measured")
    elif n and with_close < n / 2:
        warnings.append(
            f"closing prices for only {with_close:,} of {n:,} bets: CLV covers a subset"
        )
    if outcome.market in AH_MARKETS:
        if isinstance(outcome.staking, KellyStaking):
            warnings.append(
                "Kelly on Asian handicap sizes with the win/lose formula; "
                "pushes and half outcomes are ignored in sizing"
            )
        if isinstance(outcome.staking, FlatStaking):
            warnings.append(
                "odds-weighted p-value assumes win/lose bets; on Asian handicap it is approximate"
            )
    return warnings
