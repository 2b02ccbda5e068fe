"""The checks every candle file passes before anything of it is stored.

Nothing is silently filled or dropped:

* every bar opens on the timeframe's grid (multiples of the bar length from the epoch;
  weeks from Monday 00:00 UTC), else the row is bad;
* rows are in ascending time order, else the file is refused at the first row out of order;
* a row repeating the time of the row above with the same values is an exact duplicate: it is
  dropped with a note; the same time with different values is a bad row;
* high >= max(open, close), low <= min(open, close), prices > 0 and volume >= 0, else bad;
* gaps (missing bars) are reported (count, missing bars, the longest) and kept as gaps;
* an unclosed last candle is dropped with a warning where the file itself shows it: a
  `close_time` column (Binance) that ends before the bar does, or a file saved (its
  modification time) before the last bar's end. Where only a later file shows it, the import
  decides (see core.candles.importing).

A file with any bad row is refused whole; the report names its first bad line.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

import numpy as np

from core.candles.parse import CandleFileError, Floats, Ints, RawCandles
from core.candles.timeframes import bar_ms, grid_offset_ms

VALUE_FIELDS = ("open", "high", "low", "close", "volume")


def utc_text(us: int) -> str:
    """A time for messages: 2025-06-27 10:54 UTC, with seconds or fractions when it has them."""
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(us))
    if moment.microsecond:
        text = moment.isoformat(sep=" ", timespec="milliseconds")
    elif moment.second:
        text = moment.isoformat(sep=" ", timespec="seconds")
    else:
        text = moment.isoformat(sep=" ", timespec="minutes")
    return f"{text} UTC"


@dataclass
class CheckedCandles:
    """A file's candles after validation: ascending, on the grid, without duplicates."""

    raw: RawCandles
    timeframe: str
    open_ms: Ints
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    volume: Floats
    turnover: Floats | None
    lines: Ints
    notes: list[str] = field(default_factory=list)
    """One line each: duplicates dropped, gaps, an unclosed last candle dropped."""

    def __len__(self) -> int:
        return len(self.open_ms)

    def where(self, index: int) -> str:
        return f"{self.raw.path.name}:{self.raw.line_label} {int(self.lines[index])}"

    def values(self, index: int) -> tuple[float, ...]:
        return tuple(float(getattr(self, name)[index]) for name in VALUE_FIELDS)


def _refuse(raw: RawCandles, bad: list[tuple[int, str]]) -> CandleFileError:
    bad.sort()
    index, message = bad[0]
    more = f" (and {len(bad) - 1:,} more bad rows)" if len(bad) > 1 else ""
    return CandleFileError(f"{raw.where(index)}: {message}{more}; nothing imported")


def check_candles(
    raw: RawCandles, timeframe: str, *, saved_at_us: int | None = None
) -> CheckedCandles:
    """Validate `raw` against `timeframe`; CandleFileError (one line) when a row is bad."""
    times = raw.open_us
    step_us = bar_ms(timeframe) * 1_000
    if len(times) > 1:
        backwards = np.flatnonzero(np.diff(times) < 0)
        if backwards.size:
            index = int(backwards[0]) + 1
            if backwards.size == len(times) - 1:
                problem = "rows are newest first; candle files must be in ascending time order"
            else:
                problem = (
                    f"{utc_text(times[index])} comes before the row above it"
                    f" ({utc_text(times[index - 1])}): rows must be in ascending time order"
                )
            raise CandleFileError(f"{raw.where(index)}: {problem}; nothing imported")

    bad: list[tuple[int, str]] = []
    off_grid = np.flatnonzero((times - grid_offset_ms(timeframe) * 1_000) % step_us != 0)
    bad.extend(
        (int(i), f"{utc_text(times[i])} is not on the {timeframe} bar grid") for i in off_grid
    )

    columns = [raw.open, raw.high, raw.low, raw.close, raw.volume]
    if raw.turnover is not None:
        columns.append(raw.turnover)
    stacked = np.vstack(columns)
    repeated = np.flatnonzero(np.diff(times) == 0) + 1
    same = np.all(stacked[:, repeated] == stacked[:, repeated - 1], axis=0)
    for index, exact in zip(repeated.tolist(), same.tolist(), strict=True):
        if not exact:
            bad.append(
                (
                    index,
                    f"{utc_text(times[index])} is also on {raw.line_label}"
                    f" {int(raw.lines[index - 1])} with different values",
                )
            )

    o, h, lo, c, v = raw.open, raw.high, raw.low, raw.close, raw.volume
    for index in np.flatnonzero(np.minimum(np.minimum(o, h), np.minimum(lo, c)) <= 0).tolist():
        bad.append((index, "a price is 0 or negative"))
    for index in np.flatnonzero(h < np.maximum(o, c)).tolist():
        bad.append(
            (
                index,
                f"high {h[index]:.12g} is below max(open, close) {max(o[index], c[index]):.12g}",
            )
        )
    for index in np.flatnonzero(lo > np.minimum(o, c)).tolist():
        bad.append(
            (
                index,
                f"low {lo[index]:.12g} is above min(open, close) {min(o[index], c[index]):.12g}",
            )
        )
    for index in np.flatnonzero(v < 0).tolist():
        bad.append((index, f"volume {v[index]:.12g} is negative"))
    if bad:
        raise _refuse(raw, bad)

    notes: list[str] = []
    keep = np.ones(len(times), dtype=bool)
    if repeated.size:
        keep[repeated] = False
        first = int(repeated[0])
        notes.append(
            f"{raw.where(first)}: dropped {repeated.size:,} exact duplicate"
            f" row{'s' if repeated.size > 1 else ''} (the first repeats"
            f" {raw.line_label} {int(raw.lines[first - 1])})"
        )
    last = int(np.flatnonzero(keep)[-1])
    unclosed = _unclosed_reason(raw, last, step_us, saved_at_us)
    if unclosed is not None:
        keep[last] = False
        notes.append(
            f"{raw.where(last)}: dropped the last candle ({utc_text(times[last])}): {unclosed}"
        )
    if not keep.any():
        raise CandleFileError(f"{raw.where(last)}: no closed candle left; nothing imported")

    checked = CheckedCandles(
        raw=raw,
        timeframe=timeframe,
        open_ms=times[keep] // 1_000,
        open=raw.open[keep],
        high=raw.high[keep],
        low=raw.low[keep],
        close=raw.close[keep],
        volume=raw.volume[keep],
        turnover=None if raw.turnover is None else raw.turnover[keep],
        lines=raw.lines[keep],
        notes=notes,
    )
    gap_note = describe_gaps(checked)
    if gap_note:
        notes.append(gap_note)
    return checked


def _unclosed_reason(
    raw: RawCandles, last: int, step_us: int, saved_at_us: int | None
) -> str | None:
    end_us = int(raw.open_us[last]) + step_us
    if raw.close_time_us is not None:
        closes_us = int(raw.close_time_us[last])
        # Binance closes a bar at its end less one ms (or one µs in its µs files).
        if closes_us < end_us - 1_000:
            return f"its close_time {utc_text(closes_us)} is before the bar's end (unclosed candle)"
    if saved_at_us is not None and saved_at_us < end_us:
        saved = utc_text(saved_at_us)
        return f"the file was saved at {saved}, before the bar closed (unclosed candle)"
    return None


def file_saved_at_us(raw: RawCandles) -> int | None:
    try:
        return int(os.stat(raw.path).st_mtime_ns // 1_000)
    except OSError:
        return None


@dataclass(frozen=True)
class Gaps:
    count: int
    missing_bars: int
    longest_bars: int
    longest_after: int
    """Index of the bar before the longest gap (-1 when there is no gap)."""


def find_gaps(open_ms: Ints, timeframe: str) -> Gaps:
    if len(open_ms) < 2:
        return Gaps(0, 0, 0, -1)
    steps = np.diff(open_ms) // bar_ms(timeframe) - 1
    holes = np.flatnonzero(steps > 0)
    if holes.size == 0:
        return Gaps(0, 0, 0, -1)
    longest = int(holes[np.argmax(steps[holes])])
    return Gaps(int(holes.size), int(steps[holes].sum()), int(steps[longest]), longest)


def describe_gaps(checked: CheckedCandles) -> str | None:
    gaps = find_gaps(checked.open_ms, checked.timeframe)
    if gaps.count == 0:
        return None
    after = gaps.longest_after
    return (
        f"{checked.where(after + 1)}: {gaps.count:,} gap{'s' if gaps.count > 1 else ''},"
        f" {gaps.missing_bars:,} missing bar{'s' if gaps.missing_bars > 1 else ''} (kept as gaps);"
        f" the longest, {gaps.longest_bars:,} bar{'s' if gaps.longest_bars > 1 else ''},"
        f" ends here (after {utc_text(int(checked.open_ms[after]) * 1000)})"
    )
