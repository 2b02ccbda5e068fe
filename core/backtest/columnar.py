"""The flat-stake backtest over columns: the same bets, numbers and ledger as the row path
(`staking.run_backtest` and `metrics.compute_metrics`), in numpy arrays instead of one
Python tuple per fixture.

A flat stake makes every bet's profit a function of its (price, outcome) pair, and those
pairs take at most a few thousand values. So each pair's profit is computed once, exactly in Decimal
by the row path's own code, and everything else (order, outcomes, sums, drawdown, runs,
splits, the t-test) is integer or IEEE float arithmetic over arrays that gives the row path's
results bit for bit. tests/test_columnar.py holds the two paths equal.

Where the time goes at 684k bets (1M fixtures): building a Python tuple per fetched row
cost 2 s, settling and metrics over them 2.3 s. Here the database hands over each column as
one value (SQLite: a comma-separated text of integers; PostgreSQL: an array), and the ledger
is written by one INSERT ... SELECT from arrays of its bets instead of a parameter per cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from core.backtest.metrics import ODDS_BANDS, RATIO_CONTEXT, assemble_metrics, split_tables
from core.backtest.settle import AH_MARKETS, OUTCOMES
from core.backtest.staking import BacktestOutcome, FlatStaking, flat_profit
from core.backtest.stats import grouped_one_sided_t_test

__all__ = [
    "FlatColumns",
    "FlatSettlement",
    "flat_metrics",
    "settle_flat_columns",
]

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]

WIN_CODE, LOSS_CODE, PUSH_CODE, HALF_WIN_CODE, HALF_LOSS_CODE = range(5)
assert OUTCOMES == ("win", "loss", "push", "half_win", "half_loss")  # the codes index this
# Prices cross SQLite as integers in units of 2**-52: exact for every double in [1, 2048)
# (their spacing there is at least 2**-52, and 2048 * 2**52 is 2**63).
FRACTION_SCALE: Final = 2**52
_BAND_EDGES: Final = np.array([lo for _, lo, _ in ODDS_BANDS])
_EPOCH: Final = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True)
class FlatColumns:
    """The candidates of a run, one array per field, in no particular order."""

    fixture_id: Ints
    day: Ints
    """Kick-off date as days since 1970-01-01."""
    seconds: Ints
    """Kick-off time as seconds after midnight; 0 when unknown (sorts as 00:00)."""
    league_id: Ints
    home_team_id: Ints
    away_team_id: Ints
    home_goals: Ints
    away_goals: Ints
    price: Floats
    """The backtested market's price; NaN where there is none."""
    ah_line: Floats | None
    """The home side's handicap (AH markets only); NaN where there is none."""
    closing_fair_odds: Floats
    """Pinnacle's closing margin-free odds of the selection; NaN or <= 1 where unusable."""
    season: Ints
    """Index into `season_labels`."""
    season_labels: Sequence[str]

    def __len__(self) -> int:
        return len(self.fixture_id)

    @staticmethod
    def concatenate(parts: Sequence[FlatColumns]) -> FlatColumns:
        """One set of columns from parts read separately (their season indexes merged)."""
        if len(parts) == 1:
            return parts[0]
        labels: dict[str, int] = {}
        seasons = []
        for part in parts:
            remap = np.array(
                [labels.setdefault(label, len(labels)) for label in part.season_labels] or [0],
                dtype=np.int64,
            )
            seasons.append(remap[part.season])

        def joined(name: str) -> Any:
            return np.concatenate([getattr(part, name) for part in parts])

        return FlatColumns(
            fixture_id=joined("fixture_id"),
            day=joined("day"),
            seconds=joined("seconds"),
            league_id=joined("league_id"),
            home_team_id=joined("home_team_id"),
            away_team_id=joined("away_team_id"),
            home_goals=joined("home_goals"),
            away_goals=joined("away_goals"),
            price=joined("price"),
            ah_line=None if parts[0].ah_line is None else joined("ah_line"),
            closing_fair_odds=joined("closing_fair_odds"),
            season=np.concatenate(seasons),
            season_labels=list(labels),
        )


@dataclass(frozen=True)
class FlatSettlement:
    """The placed bets in settlement order, and each distinct (price, outcome) pair."""

    plan: FlatStaking
    market: str
    candidates: int
    skipped_no_odds: int
    fixture_id: Ints
    day: Ints
    league_id: Ints
    league_codes: dict[int, str]
    season: Ints
    season_labels: Sequence[str]
    price: Floats
    closing_fair_odds: Floats
    outcome: Ints
    """Index into settle.OUTCOMES."""
    pair: Ints
    """Index into the pair arrays below."""
    pair_units: Ints
    """Each pair's exact profit in units of 0.0001."""
    pair_profit: Sequence[Decimal]
    pair_price: Floats
    pair_outcome: Ints

    @property
    def bets(self) -> int:
        return len(self.fixture_id)

    @property
    def units(self) -> Ints:
        """Each bet's profit in units of 0.0001."""
        return self.pair_units[self.pair]

    @property
    def profit(self) -> Decimal:
        return Decimal(int(self.units.sum(dtype=np.int64))).scaleb(-4)

    def outcome_summary(self) -> BacktestOutcome:
        """The row path's outcome record without its ledger (warnings and the stored row
        read only these fields)."""
        profit = self.profit
        return BacktestOutcome(
            market=self.market,
            staking=self.plan,
            starting_bank=self.plan.bank,
            final_bank=self.plan.bank + profit,
            staked=self.plan.stake * self.bets,
            profit=profit,
            candidates=self.candidates,
            skipped_no_odds=self.skipped_no_odds,
        )


def dense_ranks(names: dict[int, str]) -> Ints:
    """id -> rank of its name in Python's string order (equal names share a rank), as an
    array indexed by id: sorting by it sorts by name exactly as the row path does."""
    if not names:
        return np.zeros(1, dtype=np.int64)
    order = {name: rank for rank, name in enumerate(sorted(set(names.values())))}
    ranks = np.zeros(max(names) + 1, dtype=np.int64)
    for key, name in names.items():
        ranks[key] = order[name]
    return ranks


def settle_flat_columns(
    columns: FlatColumns,
    market: str,
    plan: FlatStaking,
    league_codes: dict[int, str],
    team_names: dict[int, str],
) -> FlatSettlement:
    """Drop candidates without a usable price, order the rest as `bet_sort_key` does, and
    settle each at the flat stake."""
    candidates = len(columns)
    price = columns.price
    usable = (price > 1.0) & (price < math.inf)  # NaN fails both
    line = columns.ah_line
    if market in AH_MARKETS:
        if line is None:
            raise ValueError(f"{market} needs Asian handicap lines")
        usable &= ~np.isnan(line)
    keep = np.flatnonzero(usable)
    # The row path's order: date, time (unknown as 00:00), league code, home team, away
    # team, fixture id. lexsort takes its keys last-first; league and teams share one key
    # when their ranks fit in 63 bits together.
    league_rank = dense_ranks(league_codes)[columns.league_id[keep]]
    team_ranks = dense_ranks(team_names)
    home_rank = team_ranks[columns.home_team_id[keep]]
    away_rank = team_ranks[columns.away_team_id[keep]]
    kickoff = columns.day[keep] * 86_400 + columns.seconds[keep]
    teams = len(team_ranks)
    if (int(league_rank.max(initial=0)) + 1) * teams * teams < 2**63:
        sides = (league_rank * teams + home_rank) * teams + away_rank
        order = np.lexsort((columns.fixture_id[keep], sides, kickoff))
    else:
        order = np.lexsort((columns.fixture_id[keep], away_rank, home_rank, league_rank, kickoff))
    placed = keep[order]
    home = columns.home_goals[placed]
    away = columns.away_goals[placed]
    prices = price[placed]
    outcome = _outcome_codes(market, home, away, None if line is None else line[placed])

    # Each distinct (price, outcome) pair's profit, by the row path's exact Decimal rule.
    distinct_prices, price_index = np.unique(prices, return_inverse=True)
    pair_keys, pair = np.unique(price_index * 5 + outcome, return_inverse=True)
    profits = [
        flat_profit(plan.stake, float(distinct_prices[key // 5]), OUTCOMES[key % 5])
        for key in pair_keys.tolist()
    ]
    return FlatSettlement(
        plan=plan,
        market=market,
        candidates=candidates,
        skipped_no_odds=candidates - len(placed),
        fixture_id=columns.fixture_id[placed],
        day=columns.day[placed],
        league_id=columns.league_id[placed],
        league_codes=league_codes,
        season=columns.season[placed],
        season_labels=columns.season_labels,
        price=prices,
        closing_fair_odds=columns.closing_fair_odds[placed],
        outcome=outcome,
        pair=pair.astype(np.int64),
        pair_units=np.array([int(p.scaleb(4)) for p in profits], dtype=np.int64),
        pair_profit=profits,
        pair_price=distinct_prices[pair_keys // 5],
        pair_outcome=(pair_keys % 5).astype(np.int64),
    )


def _outcome_codes(market: str, home: Ints, away: Ints, line: Floats | None) -> Ints:
    """`settle.settle_columns` over arrays: the codes of settle.OUTCOMES."""
    flags: NDArray[np.bool_]
    if market == "home":
        flags = home > away
    elif market == "draw":
        flags = home == away
    elif market == "away":
        flags = away > home
    elif market == "over25":
        flags = home + away >= 3
    elif market == "under25":
        flags = home + away <= 2
    elif market in AH_MARKETS:
        assert line is not None
        quarters = line * 4.0
        whole = quarters == np.floor(quarters)
        if not whole.all():
            bad = float(line[np.flatnonzero(~whole)[0]])
            raise ValueError(f"Asian handicap line must be a multiple of 0.25, got {bad!r}")
        q = quarters.astype(np.int64)
        # ah_away: the away side's margin against the negated home line.
        margin = 4 * (home - away) + q if market == "ah_home" else 4 * (away - home) - q
        single = q % 2 == 0  # whole or half line; otherwise a quarter line split in two
        return np.select(
            [
                single & (margin > 0),
                single & (margin == 0),
                single,
                margin - 1 > 0,
                margin - 1 == 0,
                margin + 1 == 0,
            ],
            [WIN_CODE, PUSH_CODE, LOSS_CODE, WIN_CODE, HALF_WIN_CODE, HALF_LOSS_CODE],
            default=LOSS_CODE,
        ).astype(np.int64)
    else:
        raise ValueError(f"unknown market {market!r}")
    return np.where(flags, WIN_CODE, LOSS_CODE).astype(np.int64)


def _longest_run(mask: NDArray[np.bool_]) -> int:
    """The longest stretch of consecutive True values."""
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate(([0], mask.view(np.int8), [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def flat_metrics(
    settled: FlatSettlement, *, odds_source: str, curve_max_points: int | None
) -> dict[str, Any]:
    """`metrics.compute_metrics` of the same run, key for key."""
    with localcontext(RATIO_CONTEXT):
        return _flat_metrics(settled, odds_source, curve_max_points)


def _flat_metrics(
    settled: FlatSettlement, odds_source: str, curve_max_points: int | None
) -> dict[str, Any]:
    plan = settled.plan
    n = settled.bets
    outcome = settled.outcome
    pair_counts = np.bincount(settled.pair, minlength=len(settled.pair_units))
    wins, losses, pushes, half_wins, half_losses = (
        int(c) for c in np.bincount(outcome, minlength=5)
    )

    # Runs skip pushes: they neither count nor break one.
    decided = outcome[outcome != PUSH_CODE]
    won = (decided == WIN_CODE) | (decided == HALF_WIN_CODE)
    longest_win = _longest_run(won)
    longest_loss = _longest_run(~won)

    units = settled.pair_units[settled.pair]
    cum_units = np.cumsum(units, dtype=np.int64)
    cum = cum_units / 1e4
    # Peak after each bet, starting from 0; a bet is below it exactly when it did not set it.
    peak = np.maximum.accumulate(np.maximum(cum, 0.0)) if n else cum
    below = cum < peak
    max_dd = round(float((peak - cum).max()), 4) if n else 0.0
    max_dd = max(max_dd, 0.0)
    longest_below = _longest_run(below)

    stake_float = float(plan.stake)
    returns = [float(p) / stake_float for p in settled.pair_profit]
    closing = settled.closing_fair_odds
    with_close = (closing > 1.0) & (closing < math.inf)  # NaN fails both
    return assemble_metrics(
        settled.outcome_summary(),
        odds_source=odds_source,
        bets=n,
        outcome_counts=(wins, losses, pushes, half_wins, half_losses),
        odds_sum=math.fsum(settled.price.tolist()),
        drawdown=(max_dd, None, longest_below),
        runs=(longest_win, longest_loss),
        test=grouped_one_sided_t_test(returns, pair_counts.tolist()),
        clv_ratios=(settled.price[with_close] / closing[with_close]).tolist(),
        splits=_flat_splits(settled),
        curve=_curve(settled, cum, curve_max_points),
        extremes=(float(cum.max()), float(cum.min())) if n else (0.0, 0.0),
    )


def _flat_splits(settled: FlatSettlement) -> dict[str, list[dict[str, Any]]]:
    """Bets and exact profit per key: counts of (key, pair) cells times each pair's units."""
    stake = settled.plan.stake
    pairs = len(settled.pair_units)
    pair_units = [int(u) for u in settled.pair_units.tolist()]

    def group(keys: Ints, labels: Sequence[Any]) -> dict[Any, list[Any]]:
        cells = np.bincount(keys * pairs + settled.pair, minlength=len(labels) * pairs)
        out: dict[Any, list[Any]] = {}
        for key, row in enumerate(cells.reshape(len(labels), pairs).tolist()):
            bets = sum(row)
            if bets:
                units = sum(c * u for c, u in zip(row, pair_units, strict=True) if c)
                out[labels[key]] = [bets, stake * bets, Decimal(units).scaleb(-4)]
        return out

    league_ids, league_index = np.unique(settled.league_id, return_inverse=True)
    league_labels = [settled.league_codes[i] for i in league_ids.tolist()]
    months = _months(settled.day)
    bands = np.searchsorted(_BAND_EDGES, settled.price, side="right")
    return split_tables(
        group(settled.season, settled.season_labels),
        group(league_index.astype(np.int64), league_labels),
        group(months - 1, list(range(1, 13))),
        group(bands.astype(np.int64), list(range(len(_BAND_EDGES) + 1))),
    )


def _months(day: Ints) -> Ints:
    dates = _EPOCH + day.astype("timedelta64[D]")
    return (dates.astype("datetime64[M]").astype(np.int64) % 12 + 1).astype(np.int64)


def _curve(settled: FlatSettlement, cum: Floats, max_points: int | None) -> list[dict[str, Any]]:
    indices = _curve_indices(cum, max_points)
    days = settled.day[indices]
    distinct, where = np.unique(days, return_inverse=True)
    iso = [str(d) for d in (_EPOCH + distinct.astype("timedelta64[D]")).tolist()]
    return [
        {"bet": i + 1, "date": iso[w], "profit": p, "bank": None}
        for i, w, p in zip(indices.tolist(), where.tolist(), cum[indices].tolist(), strict=True)
    ]


def _curve_indices(values: Floats, max_points: int | None) -> Ints:
    """`metrics._curve_indices` over an array: first, last, and each bucket's first lowest
    and first highest point (argmin and argmax return the first, as min and max do)."""
    n = len(values)
    if max_points is None or n <= max_points:
        return np.arange(n, dtype=np.int64)
    if max_points < 4:
        step = (n - 1) / max(max_points - 1, 1)
        return np.array(sorted({round(i * step) for i in range(max_points)}), dtype=np.int64)
    buckets = (max_points - 2) // 2
    chosen = {0, n - 1}
    inner = n - 2
    for b in range(buckets):
        lo = 1 + b * inner // buckets
        hi = 1 + (b + 1) * inner // buckets
        if lo >= hi:
            continue
        span = values[lo:hi]
        chosen.add(lo + int(span.argmin()))
        chosen.add(lo + int(span.argmax()))
    return np.array(sorted(chosen), dtype=np.int64)
