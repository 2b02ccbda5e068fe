"""Execution: a strategy's signals become fills, trades, cash and an equity curve.

The rules (timed as backtesting.py's defaults time them, so results can be compared):

* Signals use closed bars only: a signal at bar t's close fills at bar t+1's open. A signal
  on the last bar gets no fill. A buy and a sell on the same bar cancel out.
* Long-only: a buy opens a long when flat, a sell closes it. Long/short: a buy goes long and a
  sell goes short, closing (reversing) the open position at the same open. A signal in the
  direction already held is ignored.
* Slippage moves every fill against the trader by `slippage_bps` / 10,000 of its price:
  buys pay more, sells get less.
* An entry at price p (after slippage), with cash C, trades units = size x C / p (fractional
  units allowed) and pays fee x units x p from cash. An exit at q returns units x q (a short
  pays it back) less fee x units x q. A trade's profit is its exit value less its entry value
  less both fees; a win is a profit above 0.
* Stop-loss and take-profit are percentages of the entry price (after slippage), checked
  within every bar the position is held, from its entry bar on, against the bar's low and
  high. A touched level fills at the level, or at the bar's open when the bar opened beyond
  it. When both are touched in one bar, the stop is assumed first. After a stop or target
  the position is flat until the next signal that opens one.
* A position still open after the last bar is closed at the last bar's close (after its exit
  fee, and slippage) and counted as a trade.
* Equity is cash plus units x close (a short's units count negative), marked at every bar's
  close, the last bar's after the forced close.

Which trades happen (their bars, sides and prices) does not depend on cash, so they are found
first (`find_fills`): a few numpy operations over the signal bars when there is no stop or
target, else a loop over the signal bars with each position's stop found by one array search.
Money follows in one pass over the trades (`settle`): each trade multiplies cash by a factor
fixed by its prices, so cash before every trade is a cumulative product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.candles.indicators import Bools, Floats

Ints = npt.NDArray[np.int64]

REASON_SIGNAL, REASON_STOP, REASON_TAKE_PROFIT, REASON_END = 0, 1, 2, 3
REASONS = ("signal", "stop", "take_profit", "end")
DEFAULT_FEE = 0.00055
DEFAULT_CASH = 10_000.0


@dataclass(frozen=True)
class ExecutionOptions:
    long_short: bool = False
    fee: float = DEFAULT_FEE
    slippage_bps: float = 0.0
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    size: float = 1.0
    cash: float = DEFAULT_CASH

    @property
    def has_exits(self) -> bool:
        return self.stop_loss_pct is not None or self.take_profit_pct is not None


@dataclass(frozen=True)
class PriceSeries:
    open: Floats
    high: Floats
    low: Floats
    close: Floats

    def __len__(self) -> int:
        return len(self.close)


@dataclass(frozen=True)
class Fills:
    """The round trips, in order: where and at what price each opened and closed."""

    side: Ints
    """+1 long, -1 short."""
    entry_bar: Ints
    exit_bar: Ints
    entry_price: Floats
    exit_price: Floats
    reason: Ints
    """How each closed: REASON_SIGNAL, _STOP, _TAKE_PROFIT or _END."""

    def __len__(self) -> int:
        return len(self.side)


@dataclass(frozen=True)
class Execution:
    fills: Fills
    units: Floats
    cash_before: Floats
    """Cash (= equity, being flat) just before each entry."""
    entry_fee: Floats
    exit_fee: Floats
    profit: Floats
    equity: Floats
    """At every bar's close."""
    held: Bools
    """Whether a position is held at each bar's close."""
    final_equity: float

    @property
    def trade_return(self) -> Floats:
        """Each trade's profit over the equity it started with (independent of earlier
        trades: the same for any starting cash)."""
        return self.profit / self.cash_before


def _events(buy: Bools, sell: Bools, bars: int) -> tuple[Ints, Ints]:
    """Signal bars that can fill (not the last bar; not both signals at once) and their
    direction: +1 buy, -1 sell."""
    wanted = (buy ^ sell).copy()
    wanted[bars - 1 :] = False
    at = np.flatnonzero(wanted)
    direction = np.where(buy[at], 1, -1).astype(np.int64)
    return at.astype(np.int64), direction


def _slipped(price: Floats, buying: npt.NDArray[np.bool_], slip: float) -> Floats:
    return price * np.where(buying, 1.0 + slip, 1.0 - slip)


def find_fills(prices: PriceSeries, buy: Bools, sell: Bools, options: ExecutionOptions) -> Fills:
    bars = len(prices)
    if bars == 0:
        empty_i = np.zeros(0, dtype=np.int64)
        empty_f = np.zeros(0)
        return Fills(empty_i, empty_i, empty_i, empty_f, empty_f, empty_i)
    at, direction = _events(buy, sell, bars)
    if options.has_exits:
        return _fills_with_exits(prices, at, direction, options)
    # Keep only the signals that change the position: a repeat is ignored. Long-only starts
    # as if after a sell (a first sell does nothing); long/short starts flat.
    previous = np.empty_like(direction)
    if len(direction):
        previous[0] = 0 if options.long_short else -1
        previous[1:] = direction[:-1]
    changes = direction != previous
    at, direction = at[changes], direction[changes]
    fill_bar = at + 1
    if options.long_short:
        side = direction
        entry_bar = fill_bar
        exit_bar = np.append(fill_bar[1:], bars - 1)[: len(side)]
        still_open = len(side) > 0  # every signal kept opens a position
    else:
        opens = direction == 1
        side = np.ones(int(opens.sum()), dtype=np.int64)
        entry_bar = fill_bar[opens]
        closes = fill_bar[~opens]
        exit_bar = np.append(closes, bars - 1)[: len(entry_bar)]
        still_open = len(entry_bar) > len(closes)
    reason = np.full(len(side), REASON_SIGNAL, dtype=np.int64)
    exit_raw = prices.open[exit_bar]
    if still_open:
        reason[-1] = REASON_END
        exit_raw[-1] = prices.close[bars - 1]
    slip = options.slippage_bps / 10_000
    return Fills(
        side=side,
        entry_bar=entry_bar,
        exit_bar=exit_bar,
        entry_price=_slipped(prices.open[entry_bar], side > 0, slip),
        exit_price=_slipped(exit_raw, side < 0, slip),
        reason=reason,
    )


def _fills_with_exits(
    prices: PriceSeries, at: Ints, direction: Ints, options: ExecutionOptions
) -> Fills:
    bars = len(prices)
    slip = options.slippage_bps / 10_000
    stop = options.stop_loss_pct
    target = options.take_profit_pct
    o, h, lo, c = prices.open, prices.high, prices.low, prices.close
    sides: list[int] = []
    entries: list[int] = []
    exits: list[int] = []
    entry_prices: list[float] = []
    exit_prices: list[float] = []
    reasons: list[int] = []
    signal_bars = at.tolist()
    signal_dirs = direction.tolist()
    count = len(signal_bars)
    # Each signal's index of the next opposite signal, found once for the whole list.
    next_buy = _next_index(direction == 1)
    next_sell = _next_index(direction == -1)
    # Flat at the top of every pass: a signal in the held direction never reaches it (the
    # position runs to its next opposite signal), and long-only a sell opens nothing.
    i = 0
    while i < count:
        side = signal_dirs[i]
        if side == -1 and not options.long_short:
            i += 1
            continue
        entry_bar = signal_bars[i] + 1
        entry = o[entry_bar] * (1 + slip if side > 0 else 1 - slip)
        closing = int((next_sell if side > 0 else next_buy)[i])
        end = signal_bars[closing] + 1 if closing < count else bars
        window = slice(entry_bar, end)
        hit_bar, hit_price, hit_reason = bars, 0.0, REASON_SIGNAL
        if stop is not None:
            level = entry * (1 - stop / 100) if side > 0 else entry * (1 + stop / 100)
            touched = lo[window] <= level if side > 0 else h[window] >= level
            found = np.flatnonzero(touched)
            if found.size:
                hit_bar = entry_bar + int(found[0])
                gap = o[hit_bar]
                raw = (
                    level
                    if hit_bar == entry_bar
                    else (min(gap, level) if side > 0 else max(gap, level))
                )
                hit_price, hit_reason = raw, REASON_STOP
        if target is not None:
            level = entry * (1 + target / 100) if side > 0 else entry * (1 - target / 100)
            touched = h[window] >= level if side > 0 else lo[window] <= level
            found = np.flatnonzero(touched)
            # The stop wins a bar where both are touched.
            if found.size and entry_bar + int(found[0]) < hit_bar:
                hit_bar = entry_bar + int(found[0])
                gap = o[hit_bar]
                raw = (
                    level
                    if hit_bar == entry_bar
                    else (max(gap, level) if side > 0 else min(gap, level))
                )
                hit_price, hit_reason = raw, REASON_TAKE_PROFIT
        sides.append(side)
        entries.append(entry_bar)
        entry_prices.append(entry)
        if hit_bar < bars:
            exits.append(hit_bar)
            exit_raw = hit_price
            reasons.append(hit_reason)
            # Signals at or after the exit bar's close may open again.
            while i < count and signal_bars[i] < hit_bar:
                i += 1
        elif closing < count:
            exits.append(end)
            exit_raw = float(o[end])
            reasons.append(REASON_SIGNAL)
            i = closing  # long/short reverses here; long-only skips the sell below
        else:
            exits.append(bars - 1)
            exit_raw = float(c[bars - 1])
            reasons.append(REASON_END)
            i = count
        exit_prices.append(exit_raw * (1 - slip if side > 0 else 1 + slip))
    return Fills(
        side=np.array(sides, dtype=np.int64),
        entry_bar=np.array(entries, dtype=np.int64),
        exit_bar=np.array(exits, dtype=np.int64),
        entry_price=np.array(entry_prices, dtype=np.float64),
        exit_price=np.array(exit_prices, dtype=np.float64),
        reason=np.array(reasons, dtype=np.int64),
    )


def _next_index(mask: npt.NDArray[np.bool_]) -> Ints:
    """For each position i, the smallest j > i with mask[j], else len(mask)."""
    count = len(mask)
    positions = np.where(mask, np.arange(count), count)
    following = np.minimum.accumulate(positions[::-1])[::-1]
    out = np.full(count, count, dtype=np.int64)
    out[:-1] = following[1:]
    return out


def settle(prices: PriceSeries, fills: Fills, options: ExecutionOptions) -> Execution:
    """Cash, units, fees, profits and the equity curve for the fills."""
    bars = len(prices)
    size, fee = options.size, options.fee
    side = fills.side.astype(np.float64)
    ratio = fills.exit_price / fills.entry_price
    # Cash after a round trip = cash before it x growth. Long: pay size x C (1 + fee), get
    # size x C x ratio (1 - fee) back; short: the other way round.
    growth = np.where(
        side > 0,
        1.0 - size * (1.0 + fee) + size * (1.0 - fee) * ratio,
        1.0 + size * (1.0 - fee) - size * (1.0 + fee) * ratio,
    )
    cash_levels = options.cash * np.concatenate(([1.0], np.cumprod(growth)))
    cash_before = cash_levels[:-1]
    units = size * cash_before / fills.entry_price
    entry_fee = fee * size * cash_before
    exit_fee = fee * units * fills.exit_price
    profit = cash_levels[1:] - cash_before
    cash_in_trade = cash_before - side * size * cash_before - entry_fee

    # Trades never overlap, so at each close: exits so far, entries so far, and a position is
    # held when there have been more entries than exits (a reversal's bar counts both).
    exits_so_far = np.cumsum(np.bincount(fills.exit_bar, minlength=bars)[:bars])
    entries_so_far = np.cumsum(np.bincount(fills.entry_bar, minlength=bars)[:bars])
    held = entries_so_far > exits_so_far
    current = np.maximum(entries_so_far - 1, 0)
    if len(fills):
        holding = cash_in_trade[current] + (side * units)[current] * prices.close
        equity = np.where(held, holding, cash_levels[exits_so_far])
    else:
        equity = np.full(bars, options.cash)
    return Execution(
        fills=fills,
        units=units,
        cash_before=cash_before,
        entry_fee=entry_fee,
        exit_fee=exit_fee,
        profit=profit,
        equity=equity,
        held=held,
        final_equity=float(cash_levels[-1]),
    )


def execute(prices: PriceSeries, buy: Bools, sell: Bools, options: ExecutionOptions) -> Execution:
    return settle(prices, find_fills(prices, buy, sell, options), options)
