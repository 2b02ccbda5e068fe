"""Importing candle files into the store: one transaction per file, nothing half-written.

Symbol, timeframe and exchange come from the flags, else from the file's name and folders
(core.candles.names); a timeframe found in neither is inferred from the spacing of the bars.

Re-importing a file changes nothing, and overlapping files merge: a bar already stored with
the same values is left alone, a new one is added. A stored bar with different values is a
conflict, and conflicts are bad rows (the file is refused) except for unclosed candles:

* the file's last row, when the store has that bar with other values, was saved before the
  bar closed: it is dropped with a warning;
* the series' newest stored bar, when a file brings it with other values on a row that is
  not the file's last, was stored before it closed: it is replaced, with a warning;
* when both are true, the version with more volume is kept (volume only grows while a bar is
  open).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.candles.names import DEFAULT_EXCHANGE, hints_from_path
from core.candles.parse import CandleFileError, RawCandles, read_candle_file
from core.candles.store import CandleStore, driver_of, fetch_driver_rows
from core.candles.timeframes import TIMEFRAMES
from core.candles.validate import (
    VALUE_FIELDS,
    CheckedCandles,
    check_candles,
    file_saved_at_us,
    find_gaps,
    utc_text,
)
from core.db import dialect_insert, utcnow
from core.models import Candle, CandleSeries

CANDLE_SUFFIXES = (".csv", ".feather", ".txt")
# A stored volume times the close within this fraction of the file's volume: the file's
# "volume" column is really turnover.
_TURNOVER_TOLERANCE = 0.02


@dataclass(frozen=True)
class FileOutcome:
    file: str
    series: str | None
    """exchange symbol timeframe, once known."""
    layout: str | None
    added: int = 0
    unchanged: int = 0
    replaced: int = 0
    notes: tuple[str, ...] = ()
    error: str | None = None
    """The one-line reason the file was refused (nothing of it stored)."""

    def line(self) -> str:
        if self.error is not None:
            return f"error: {self.error}"
        parts = [f"{self.added:,} added", f"{self.unchanged:,} unchanged"]
        if self.replaced:
            parts.append(f"{self.replaced:,} replaced")
        return f"{self.file}: {self.series} ({self.layout}): {', '.join(parts)}"


@dataclass
class CandleImportSummary:
    outcomes: list[FileOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def refused(self) -> list[FileOutcome]:
        return [outcome for outcome in self.outcomes if outcome.error is not None]

    def summary_line(self) -> str:
        imported = len(self.outcomes) - len(self.refused)
        added = sum(outcome.added for outcome in self.outcomes)
        unchanged = sum(outcome.unchanged for outcome in self.outcomes)
        text = (
            f"{imported} of {len(self.outcomes)} file{'s' if len(self.outcomes) != 1 else ''}"
            f" imported: {added:,} bars added, {unchanged:,} unchanged"
        )
        if self.refused:
            text += f"; {len(self.refused)} refused"
        return f"{text} in {self.seconds:.2f} s"


def expand_candle_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and the candle files (csv, feather) found under folders."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in CANDLE_SUFFIXES))
        else:
            found.append(path)
    return found


def infer_timeframe(raw: RawCandles) -> str:
    """The bar length from the data: the smallest step between distinct times, when it is a
    known timeframe."""
    times = np.unique(raw.open_us)
    if len(times) < 2:
        raise CandleFileError(
            f"{raw.path.name}: one bar cannot show its timeframe: give --timeframe"
        )
    steps = np.diff(times)
    smallest = int(steps.min())
    minutes, rest = divmod(smallest, 60_000_000)
    name = next((tf for tf, m in TIMEFRAMES.items() if m == minutes), None)
    if rest or name is None:
        index = int(np.flatnonzero(raw.open_us == times[int(np.argmin(steps)) + 1])[0])
        raise CandleFileError(
            f"{raw.where(index)}: no timeframe in the file name, and bars"
            f" {smallest / 60_000_000:.2f} minutes apart are no timeframe"
            f" ({', '.join(TIMEFRAMES)}): give --timeframe; nothing imported"
        )
    return name


@dataclass(frozen=True)
class _Target:
    exchange: str
    symbol: str
    timeframe: str | None


def _target(path: Path, symbol: str | None, timeframe: str | None, exchange: str | None) -> _Target:
    hints = hints_from_path(path)
    chosen_symbol = (symbol or hints.symbol or "").upper()
    if not chosen_symbol:
        raise CandleFileError(f"{path.name}: no symbol in the file name: give --symbol")
    return _Target(
        exchange=(exchange or hints.exchange or DEFAULT_EXCHANGE).lower(),
        symbol=chosen_symbol,
        timeframe=timeframe or hints.timeframe,
    )


def _prepare(path: Path, target: _Target) -> tuple[CheckedCandles, _Target]:
    raw = read_candle_file(path)
    timeframe = target.timeframe or infer_timeframe(raw)
    checked = check_candles(raw, timeframe, saved_at_us=file_saved_at_us(raw))
    return checked, _Target(target.exchange, target.symbol, timeframe)


async def import_candle_files(
    store: CandleStore,
    paths: Sequence[Path],
    *,
    symbol: str | None = None,
    timeframe: str | None = None,
    exchange: str | None = None,
    on_file: Callable[[FileOutcome], None] | None = None,
) -> CandleImportSummary:
    """Import each file in its own transaction; a refused file leaves nothing behind."""
    started = time.perf_counter()
    summary = CandleImportSummary()
    for path in paths:
        outcome = await _import_one(store, path, symbol, timeframe, exchange)
        summary.outcomes.append(outcome)
        if on_file is not None:
            on_file(outcome)
    summary.seconds = time.perf_counter() - started
    return summary


async def _import_one(
    store: CandleStore,
    path: Path,
    symbol: str | None,
    timeframe: str | None,
    exchange: str | None,
) -> FileOutcome:
    series = layout = None
    try:
        target = _target(path, symbol, timeframe, exchange)
        checked, target = await asyncio.to_thread(_prepare, path, target)
        layout = checked.raw.layout
        series = f"{target.exchange} {target.symbol} {target.timeframe}"
        async with store.db.engine.begin() as conn:
            added, unchanged, replaced, notes = await _merge(conn, checked, target)
    except CandleFileError as exc:
        return FileOutcome(path.name, series, layout, error=str(exc))
    store.db.checkpoint_soon()
    return FileOutcome(
        path.name,
        series,
        layout,
        added=added,
        unchanged=unchanged,
        replaced=replaced,
        notes=tuple(checked.notes + notes),
    )


async def _series_row(conn: AsyncConnection, target: _Target) -> tuple[int, int | None]:
    assert target.timeframe is not None
    key = {"exchange": target.exchange, "symbol": target.symbol, "timeframe": target.timeframe}
    insert = (
        dialect_insert(conn.dialect.name, CandleSeries.__table__)
        .values(
            **key,
            bars=0,
            gaps=0,
            missing_bars=0,
            longest_gap_bars=0,
            updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["exchange", "symbol", "timeframe"])
    )
    await conn.execute(insert)
    row = (
        await conn.execute(
            select(CandleSeries.id, CandleSeries.last_open_ms).where(
                *(getattr(CandleSeries, name) == value for name, value in key.items())
            )
        )
    ).one()
    return int(row.id), row.last_open_ms


def _differences(stored: tuple[float, ...], mine: tuple[float, ...]) -> str:
    parts = [
        f"{name} {new:.12g} here, {old:.12g} stored"
        for name, old, new in zip(VALUE_FIELDS, stored, mine, strict=True)
        if old != new
    ]
    return "; ".join(parts)


def _looks_like_turnover(stored: tuple[float, ...], mine: tuple[float, ...]) -> bool:
    if stored[:4] != mine[:4] or stored[4] <= 0:
        return False
    return abs(mine[4] / (stored[4] * stored[3]) - 1) < _TURNOVER_TOLERANCE


async def _merge(
    conn: AsyncConnection, checked: CheckedCandles, target: _Target
) -> tuple[int, int, int, list[str]]:
    series_id, newest_ms = await _series_row(conn, target)
    first_ms, last_ms = int(checked.open_ms[0]), int(checked.open_ms[-1])
    stored_rows = await fetch_driver_rows(
        conn,
        select(
            Candle.open_time_ms,
            Candle.open,
            Candle.high,
            Candle.low,
            Candle.close,
            Candle.volume,
            func.coalesce(Candle.turnover, -1.0),
        )
        .where(Candle.series_id == series_id, Candle.open_time_ms.between(first_ms, last_ms))
        .order_by(Candle.open_time_ms),
    )
    stored = np.array(stored_rows, dtype=np.float64).reshape(len(stored_rows), 7)
    stored_ms = stored[:, 0].astype(np.int64)
    file_index = np.searchsorted(checked.open_ms, stored_ms)
    matched_mine = np.clip(file_index, 0, len(checked) - 1)
    matched = checked.open_ms[matched_mine] == stored_ms
    stored_at = np.flatnonzero(matched)
    mine_at = matched_mine[stored_at]
    mine_values = np.vstack(
        [checked.open, checked.high, checked.low, checked.close, checked.volume]
    )
    differs = np.any(mine_values[:, mine_at] != stored[stored_at, 1:6].T, axis=0)

    keep = np.ones(len(checked), dtype=bool)
    keep[mine_at] = False  # stored already: updated below if at all
    notes: list[str] = []
    bad: list[tuple[int, str]] = []
    replace: list[int] = []
    last = len(checked) - 1
    for mine, row in zip(mine_at[differs].tolist(), stored_at[differs].tolist(), strict=True):
        stored_values = tuple(float(v) for v in stored[row, 1:6])
        my_values = checked.values(mine)
        when = utc_text(int(stored_ms[row]) * 1000)
        changes = _differences(stored_values, my_values)
        newest = newest_ms is not None and int(stored_ms[row]) == int(newest_ms)
        if mine == last and newest:
            if my_values[4] > stored_values[4]:
                replace.append(mine)
                notes.append(
                    f"{checked.where(mine)}: replaced the stored {when} candle with this one,"
                    f" which has more volume (the other was saved before the bar closed): {changes}"
                )
            else:
                notes.append(
                    f"{checked.where(mine)}: dropped the last candle ({when}); the stored one has"
                    f" more volume (this was saved before the bar closed): {changes}"
                )
        elif mine == last:
            notes.append(
                f"{checked.where(mine)}: dropped the last candle ({when}): the store has it"
                f" closed, with other values (this was saved before the bar closed): {changes}"
            )
        elif newest:
            replace.append(mine)
            notes.append(
                f"{checked.where(mine)}: replaced the stored {when} candle, the newest of the"
                f" series, which was saved before it closed: {changes}"
            )
        else:
            hint = (
                " (this file's volume looks like turnover, volume x price)"
                if _looks_like_turnover(stored_values, my_values)
                else " (another market's candles? give --exchange)"
            )
            bad.append((mine, f"{when} is stored with other values: {changes}{hint}"))
    if bad:
        mine, message = bad[0]
        more = f" (and {len(bad) - 1:,} more conflicting rows)" if len(bad) > 1 else ""
        raise CandleFileError(f"{checked.where(mine)}: {message}{more}; nothing imported")

    turnover_fill: list[int] = []
    if checked.turnover is not None:
        missing = stored[stored_at[~differs], 6] < 0
        turnover_fill = mine_at[~differs][missing].tolist()
    await _insert(conn, series_id, checked, np.flatnonzero(keep))
    await _update(conn, series_id, checked, replace + turnover_fill)
    await _refresh_series(conn, series_id, target.timeframe or "")
    if turnover_fill:
        notes.append(
            f"{checked.raw.path.name}: added the turnover to {len(turnover_fill):,} stored bars"
            " that had none"
        )
    return int(keep.sum()), int((~differs).sum()), len(replace), notes


def _rows(
    series_id: int, checked: CheckedCandles, at: np.ndarray[Any, Any]
) -> list[tuple[Any, ...]]:
    turnover: list[Any] = (
        [None] * len(at) if checked.turnover is None else checked.turnover[at].tolist()
    )
    return list(
        zip(
            [series_id] * len(at),
            checked.open_ms[at].tolist(),
            checked.open[at].tolist(),
            checked.high[at].tolist(),
            checked.low[at].tolist(),
            checked.close[at].tolist(),
            checked.volume[at].tolist(),
            turnover,
            strict=True,
        )
    )


_COLUMNS = ("series_id", "open_time_ms", "open", "high", "low", "close", "volume", "turnover")


async def _insert(
    conn: AsyncConnection, series_id: int, checked: CheckedCandles, at: np.ndarray[Any, Any]
) -> None:
    if not len(at):
        return
    rows = _rows(series_id, checked, at)
    driver = await driver_of(conn)
    if conn.dialect.name == "postgresql":
        await driver.copy_records_to_table("candles", records=rows, columns=list(_COLUMNS))
        return
    statement = insert(Candle).compile(dialect=conn.dialect, column_keys=list(_COLUMNS))
    await driver.executemany(statement.string, rows)


async def _update(
    conn: AsyncConnection, series_id: int, checked: CheckedCandles, indexes: list[int]
) -> None:
    if not indexes:
        return
    at = np.array(indexes, dtype=np.int64)
    values = [
        dict(zip(("b_" + c for c in _COLUMNS), row, strict=True))
        for row in _rows(series_id, checked, at)
    ]
    statement = (
        update(Candle)
        .where(
            Candle.series_id == bindparam("b_series_id"),
            Candle.open_time_ms == bindparam("b_open_time_ms"),
        )
        .values({name: bindparam("b_" + name) for name in _COLUMNS[2:]})
    )
    await conn.execute(statement, values)


async def _refresh_series(conn: AsyncConnection, series_id: int, timeframe: str) -> None:
    rows = await fetch_driver_rows(
        conn,
        select(Candle.open_time_ms)
        .where(Candle.series_id == series_id)
        .order_by(Candle.open_time_ms),
    )
    times = np.array([row[0] for row in rows], dtype=np.int64)
    gaps = find_gaps(times, timeframe)
    await conn.execute(
        update(CandleSeries)
        .where(CandleSeries.id == series_id)
        .values(
            bars=len(times),
            first_open_ms=int(times[0]) if len(times) else None,
            last_open_ms=int(times[-1]) if len(times) else None,
            gaps=gaps.count,
            missing_bars=gaps.missing_bars,
            longest_gap_bars=gaps.longest_bars,
            updated_at=utcnow(),
        )
    )
