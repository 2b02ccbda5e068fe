"""A market priced from one odds source, over the whole analysis frame at once.

Everything about betting a market that does not depend on which fixtures a filter picks is
computed here once per (market, source, stake) and kept with the frame: each fixture's
price, whether it can be bet, its outcome, its closing-line reference and, at a flat stake,
its exact profit. A backtest or each variant of a sweep then only gathers the rows its
rules select.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import numpy as np
from numpy.typing import NDArray

from core.backtest.settle import AH_MARKETS, OUTCOMES
from core.backtest.sources import parse_source, source_columns
from core.backtest.staking import flat_profit
from core.frame import AnalysisFrame, release_freed_memory
from core.rules.catalogue import fair_price_columns, fair_probabilities

__all__ = [
    "FlatPairs",
    "MarketPrices",
    "flat_pairs",
    "market_columns",
    "market_prices",
]

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]

WIN_CODE, LOSS_CODE, PUSH_CODE, HALF_WIN_CODE, HALF_LOSS_CODE = range(5)
assert OUTCOMES == ("win", "loss", "push", "half_win", "half_loss")  # the codes index this
NO_OUTCOME: Final = -1


def _timing(odds_source: str) -> str:
    return parse_source(odds_source).timing


def _line_column(market: str, odds_source: str) -> str | None:
    if market not in AH_MARKETS:
        return None
    return "ah_line_close" if _timing(odds_source) else "ah_line"


def source_prices(frame: AnalysisFrame, odds_source: str, selection: str) -> Floats:
    """Each fixture's price of a selection at a source (`core.backtest.sources`); NaN where
    no listed book has one. A best-of source takes the highest."""
    prices = [frame.column(column) for column in source_columns(odds_source, selection)]
    if len(prices) == 1:
        return prices[0]
    stacked = np.vstack(prices)
    missing = np.isnan(stacked).all(axis=0)
    best = np.where(np.isnan(stacked), -np.inf, stacked).max(axis=0)
    return np.where(missing, np.nan, best)


def market_columns(market: str, odds_source: str, *, kelly: bool = False) -> set[str]:
    """The frame columns `market_prices` reads (plus Kelly's probability source)."""
    columns = {*source_columns(odds_source, market), *fair_price_columns("pinnacle_close", market)}
    line = _line_column(market, odds_source)
    if line is not None:
        columns |= {line, "ah_line_close"}
    if kelly:
        columns |= set(fair_price_columns(f"pinnacle{_timing(odds_source)}", market))
    return columns


@dataclass(frozen=True)
class MarketPrices:
    market: str
    odds_source: str
    price: Floats
    """The price taken; NaN where there is none."""
    line: Floats | None
    """The home side's handicap (AH markets only); NaN where there is none."""
    usable: Bools
    """Can be bet: a result, a price above 1 and, on AH markets, a line."""
    outcome: Ints
    """Code into settle.OUTCOMES where usable and the line is on the quarter grid; else -1."""
    off_grid: Bools
    """Usable, but its AH line is not a multiple of 0.25: settling it is an error."""
    closing_fair_odds: Floats
    """Pinnacle's closing margin-free odds of the selection (NaN where unusable for CLV:
    missing, or an AH closing line other than the one bet)."""


def market_prices(frame: AnalysisFrame, market: str, odds_source: str) -> MarketPrices:
    """The market priced over the whole frame (computed once per frame)."""
    key = ("market", market, odds_source)
    found = frame.cache.get(key)
    if found is None:
        found = frame.cache[key] = _price_market(frame, market, odds_source)
        release_freed_memory()  # pricing a million fixtures frees ~50 MB of temporaries
    return found


def _price_market(frame: AnalysisFrame, market: str, odds_source: str) -> MarketPrices:
    price = source_prices(frame, odds_source, market)
    line_column = _line_column(market, odds_source)
    line = None if line_column is None else frame.column(line_column)
    usable = frame.settled & (price > 1.0) & (price < np.inf)  # NaN fails both
    if line is not None:
        usable &= ~np.isnan(line)
    outcome, off_grid = _outcome_codes(market, frame, line, usable)
    fair_close = fair_probabilities(frame, "pinnacle_close", market)
    if line is not None:
        # Closing prices on a moved line price a different bet: no CLV for those.
        fair_close = np.where(frame.column("ah_line_close") == line, fair_close, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        closing = np.where(fair_close > 0, 1.0 / fair_close, np.nan)
    return MarketPrices(market, odds_source, price, line, usable, outcome, off_grid, closing)


def _outcome_codes(
    market: str, frame: AnalysisFrame, line: Floats | None, usable: Bools
) -> tuple[Ints, Bools]:
    """`settle.settle` over arrays: codes of settle.OUTCOMES (-1 where not usable), and
    which usable rows have a line off the quarter grid."""
    home, away = frame.home_goals, frame.away_goals
    off_grid = np.zeros(len(frame), dtype=np.bool_)
    if market in AH_MARKETS:
        assert line is not None
        quarters = np.where(usable, line * 4.0, 0.0)
        whole = quarters == np.floor(quarters)
        off_grid = usable & ~whole
        q = np.where(whole, quarters, 0.0).astype(np.int64)
        home, away = home.astype(np.int64), away.astype(np.int64)
        # ah_away: the away side's margin against the negated home line.
        margin = 4 * (home - away) + q if market == "ah_home" else 4 * (away - home) - q
        single = q % 2 == 0  # whole or half line; otherwise a quarter line split in two
        codes = np.select(
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
        return np.where(usable & whole, codes, NO_OUTCOME).astype(np.int8), off_grid
    if market == "home":
        won = home > away
    elif market == "draw":
        won = home == away
    elif market == "away":
        won = away > home
    elif market == "over25":
        won = home + away >= 3
    elif market == "under25":
        won = home + away <= 2
    else:
        raise ValueError(f"unknown market {market!r}")
    outcome = np.where(usable, np.where(won, WIN_CODE, LOSS_CODE), NO_OUTCOME)
    return outcome.astype(np.int8), off_grid


@dataclass(frozen=True)
class FlatPairs:
    """At a flat stake a bet's profit depends only on its (price, outcome) pair, and a
    market's pairs take a few thousand values: each pair's profit is computed once, exactly,
    by the row path's own Decimal rule (`staking.flat_profit`)."""

    stake: Decimal
    pair: NDArray[np.int32]
    """Each fixture's pair index; -1 where not usable."""
    units: Ints
    """Each pair's exact profit in units of 0.0001."""
    profit: list[Decimal]
    price: Floats
    outcome: Ints
    returns: list[float]
    """Each pair's profit per unit staked, as the t-test reads it."""

    def fixture_units(self) -> Ints:
        """Each fixture's flat profit in units of 0.0001 (0 where not usable)."""
        return np.where(self.pair >= 0, self.units[np.maximum(self.pair, 0)], 0)


def flat_pairs(
    prices: MarketPrices, stake: Decimal, frame: AnalysisFrame, win_share: Decimal = Decimal(1)
) -> FlatPairs:
    key = ("flat", prices.market, prices.odds_source, stake, win_share)
    found = frame.cache.get(key)
    if found is None:
        found = frame.cache[key] = _pairs(prices, stake, win_share)
    return found


def _pairs(prices: MarketPrices, stake: Decimal, win_share: Decimal) -> FlatPairs:
    rows = np.flatnonzero(prices.outcome >= 0)
    distinct_prices, price_index = np.unique(prices.price[rows], return_inverse=True)
    keys, pair_of_row = np.unique(price_index * 5 + prices.outcome[rows], return_inverse=True)
    profit = [
        flat_profit(stake, float(distinct_prices[key // 5]), OUTCOMES[key % 5], win_share)
        for key in keys.tolist()
    ]
    pair = np.full(len(prices.price), -1, dtype=np.int32)
    pair[rows] = pair_of_row
    stake_float = float(stake)
    return FlatPairs(
        stake=stake,
        pair=pair,
        units=np.array([int(p.scaleb(4)) for p in profit], dtype=np.int64),
        profit=profit,
        price=distinct_prices[keys // 5],
        outcome=(keys % 5).astype(np.int64),
        returns=[float(p) / stake_float for p in profit],
    )
