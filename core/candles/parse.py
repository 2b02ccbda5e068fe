"""Reading candle files: which layout a file is in, and its rows as arrays.

Layouts are recognised by their header (case-insensitive), or by their shape when there is
none:

* Bybit v5 `startTime,open,high,low,close,volume[,turnover]`, times in milliseconds;
* date strings: `timestamp,open,high,low,close,volume[,turnover]`, the time column also
  named time, datetime, open_time, date, or left unnamed (a saved pandas index);
* `ts,open,high,low,close,vol,turn`, ISO times with offsets;
* Binance's 12 columns (`open_time,...,close_time,quote_volume,...,ignore`), with a header or
  without (data.binance.vision), times in milliseconds or, from 2025, microseconds;
* headerless `time,open,high,low,close,volume[,turnover]` rows;
* freqtrade feather files (`date,open,high,low,close,volume`), read with pyarrow when it is
  installed (`pip install 'filterbets[feather]'`).

Times become microseconds since the epoch, UTC: integers by their size (seconds,
milliseconds, microseconds or nanoseconds, decided for each value, so a file whose times
change unit part way through still reads), strings as ISO 8601 with their offset applied, or
as UTC when they have none. Every row keeps its physical line number for reports.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.errors import FilterBetsError

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
# An offset or zone at the end of an ISO time: Z, +00:00, -04:00, +0530.
_HAS_ZONE = re.compile(r"(Z|[+-]\d\d:?\d\d)\s*$", re.MULTILINE)

_TIME_NAMES = (
    "starttime",
    "start_time",
    "open_time",
    "opentime",
    "timestamp",
    "ts",
    "time",
    "datetime",
    "date",
    "open time",
    "",
    "unnamed: 0",
)
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v", "base_volume"),
    "turnover": ("turnover", "turn", "quote_volume", "quote_asset_volume", "quote_av"),
    "close_time": ("close_time", "closetime"),
}
PRICE_FIELDS = ("open", "high", "low", "close")
BINANCE_COLUMNS = 12


class CandleFileError(FilterBetsError):
    """A candle file that cannot be imported; the message names the file, line and problem."""


def _say_line(path: Path, line: int | None, label: str = "line") -> str:
    return f"{path.name}" if line is None else f"{path.name}:{label} {line}"


def file_error(path: Path, message: str, line: int | None = None, label: str = "line") -> str:
    return f"{_say_line(path, line, label)}: {message}"


@dataclass
class RawCandles:
    """A file's rows as read, in file order (not yet validated)."""

    path: Path
    layout: str
    line_label: str
    """"line" for text files, "row" for feather files."""
    lines: Ints
    open_us: Ints
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    volume: Floats
    turnover: Floats | None
    close_time_us: Ints | None
    """Binance's close time, where the file has it."""

    def __len__(self) -> int:
        return len(self.open_us)

    def where(self, index: int) -> str:
        return _say_line(self.path, int(self.lines[index]), self.line_label)


def read_candle_file(path: Path) -> RawCandles:
    """The rows of a CSV or feather file; CandleFileError for a file that cannot be read."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CandleFileError(file_error(path, f"cannot read ({exc.strerror})")) from exc
    if size == 0:
        raise CandleFileError(file_error(path, "the file is empty (0 bytes)"))
    if path.suffix.lower() == ".feather":
        return _read_feather(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CandleFileError(file_error(path, f"cannot read ({exc.strerror})")) from exc
    if data.startswith(b"ARROW1"):
        return _read_feather(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CandleFileError(
            file_error(path, "not a text CSV file (not UTF-8): is it a candle file?")
        ) from exc
    return _read_csv(path, text)


# -- CSV -------------------------------------------------------------------------------


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _column_map(header: list[str]) -> dict[str, int]:
    names = [cell.strip().lower() for cell in header]
    found: dict[str, int] = {}
    for time_name in _TIME_NAMES:
        if time_name in names:
            found["time"] = names.index(time_name)
            break
    for field, synonyms in _SYNONYMS.items():
        for synonym in synonyms:
            if synonym in names:
                found[field] = names.index(synonym)
                break
    return found


def _headerless_map(width: int) -> tuple[dict[str, int], str]:
    if width == BINANCE_COLUMNS:
        # data.binance.vision: open_time, o, h, l, c, volume, close_time, quote_volume, ...
        columns = {"time": 0, "open": 1, "high": 2, "low": 3, "close": 4, "volume": 5}
        return columns | {"close_time": 6, "turnover": 7}, "binance-12 (no header)"
    if width in (6, 7):
        columns = {"time": 0, "open": 1, "high": 2, "low": 3, "close": 4, "volume": 5}
        if width == 7:
            columns["turnover"] = 6
        return columns, f"time,open,high,low,close,volume{',turnover' if width == 7 else ''}"
    return {}, ""


def _layout_name(header: list[str], columns: dict[str, int]) -> str:
    names = [cell.strip().lower() for cell in header]
    time_name = names[columns["time"]]
    if len(names) == BINANCE_COLUMNS and "close_time" in columns:
        return "binance-12"
    if time_name in ("starttime", "start_time"):
        return "bybit-v5"
    if time_name == "ts" and "vol" in names:
        return "ts/vol/turn"
    return f"{time_name or '(unnamed)'},open,high,low,close,volume" + (
        ",turnover" if "turnover" in columns else ""
    )


def _split_rows(text: str) -> tuple[list[str], list[int], list[list[str]] | None]:
    """Non-blank lines and their numbers; rows split by the csv module only when the file
    quotes anything (a plain split is several times faster on 75k-row files)."""
    all_lines = text.splitlines()
    numbers = [n for n, line in enumerate(all_lines, start=1) if line.strip(", \t")]
    lines = [all_lines[n - 1] for n in numbers]
    if '"' not in text:
        return lines, numbers, None
    return lines, numbers, list(csv.reader(lines))


def _read_csv(path: Path, text: str) -> RawCandles:
    lines, numbers, quoted_rows = _split_rows(text)
    if not lines:
        raise CandleFileError(file_error(path, "no rows: the file holds only blank lines"))
    first = quoted_rows[0] if quoted_rows is not None else lines[0].split(",")
    has_header = not all(_is_number(cell) for cell in first[1:]) or not first[0].strip()
    width = len(first)
    if has_header:
        columns = _column_map(first)
        missing = [name for name in ("time", *PRICE_FIELDS, "volume") if name not in columns]
        if missing:
            shown = ",".join(first)[:80]
            raise CandleFileError(
                file_error(
                    path,
                    f"not a candle header: no {' or '.join(missing)} column (found {shown!r})",
                    numbers[0],
                )
            )
        layout = _layout_name(first, columns)
        lines, numbers = lines[1:], numbers[1:]
        if quoted_rows is not None:
            quoted_rows = quoted_rows[1:]
        if not lines:
            raise CandleFileError(file_error(path, "no candles: the file has only a header"))
    else:
        columns, layout = _headerless_map(width)
        if not columns:
            raise CandleFileError(
                file_error(
                    path,
                    f"no header, and {width} columns is no known layout"
                    " (6 or 7: time,open,high,low,close,volume[,turnover]; 12: Binance)",
                    numbers[0],
                )
            )
    if quoted_rows is None:
        cells = ",".join(lines).split(",")
        if len(cells) != len(lines) * width:
            for line, number in zip(lines, numbers, strict=True):
                if line.count(",") + 1 != width:
                    raise CandleFileError(
                        file_error(
                            path,
                            f"{line.count(',') + 1} fields where the header has {width}",
                            number,
                        )
                    )
        column_cells = [cells[k::width] for k in range(width)]
    else:
        for row, number in zip(quoted_rows, numbers, strict=True):
            if len(row) != width:
                raise CandleFileError(
                    file_error(path, f"{len(row)} fields where the header has {width}", number)
                )
        column_cells = [list(column) for column in zip(*quoted_rows, strict=True)]
    line_numbers = np.array(numbers, dtype=np.int64)

    def numbers_of(field: str) -> Floats:
        return _floats(path, field, column_cells[columns[field]], line_numbers)

    close_time = None
    if "close_time" in columns:
        close_time = _times(path, "close_time", column_cells[columns["close_time"]], line_numbers)
    return RawCandles(
        path=path,
        layout=layout,
        line_label="line",
        lines=line_numbers,
        open_us=_times(path, "time", column_cells[columns["time"]], line_numbers),
        open=numbers_of("open"),
        high=numbers_of("high"),
        low=numbers_of("low"),
        close=numbers_of("close"),
        volume=numbers_of("volume"),
        turnover=numbers_of("turnover") if "turnover" in columns else None,
        close_time_us=close_time,
    )


def _floats(path: Path, field: str, cells: list[str], lines: Ints) -> Floats:
    try:
        values = np.array(cells, dtype=np.float64)
    except ValueError:
        for index, cell in enumerate(cells):
            if not _is_number(cell):
                shown = repr(cell) if cell.strip() else "empty"
                raise CandleFileError(
                    file_error(path, f"{field}: {shown} is not a number", int(lines[index]))
                ) from None
        raise
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        index = int(bad[0])
        raise CandleFileError(
            file_error(path, f"{field}: {cells[index]!r} is not a number", int(lines[index]))
        )
    return values


def integer_times_to_us(values: Ints) -> Ints:
    """Epoch seconds, ms, µs or ns (each value by its size) -> µs. Sizes are unambiguous for
    times after 1973: a time in ms is >= 1e11, in µs >= 1e14, in ns >= 1e17."""
    out = values * 1_000_000
    ms = values >= 100_000_000_000
    out[ms] = values[ms] * 1_000
    us = values >= 100_000_000_000_000
    out[us] = values[us]
    ns = values >= 100_000_000_000_000_000
    out[ns] = values[ns] // 1_000
    return out


def _times(path: Path, field: str, cells: list[str], lines: Ints) -> Ints:
    first = cells[0].strip()
    if first.lstrip("-").isdigit():
        try:
            return integer_times_to_us(np.array(cells, dtype=np.int64))
        except (ValueError, OverflowError):
            for index, cell in enumerate(cells):
                if not cell.strip().lstrip("-").isdigit():
                    raise CandleFileError(
                        file_error(
                            path,
                            f"{field}: {cell!r} is not a time like the rows above it",
                            int(lines[index]),
                        )
                    ) from None
            raise
    if _HAS_ZONE.search("\n".join(cells)) is None:
        try:
            return np.array([c.strip() for c in cells], dtype="datetime64[us]").astype(np.int64)
        except ValueError:
            pass  # one bad or zoned value: the row-by-row path below names it
    out = np.empty(len(cells), dtype=np.int64)
    for index, cell in enumerate(cells):
        try:
            moment = dt.datetime.fromisoformat(cell.strip())
        except ValueError:
            raise CandleFileError(
                file_error(path, f"{field}: {cell!r} is not a time", int(lines[index]))
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        out[index] = (moment - _EPOCH) // _MICROSECOND
    return out


# -- feather ---------------------------------------------------------------------------


def _read_feather(path: Path) -> RawCandles:
    try:
        import pyarrow as pa
        import pyarrow.ipc as ipc
    except ImportError:
        raise CandleFileError(
            file_error(
                path,
                "reading feather files needs pyarrow (pip install 'filterbets[feather]'),"
                " or save the candles as CSV",
            )
        ) from None
    try:
        table = ipc.open_file(str(path)).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CandleFileError(file_error(path, f"not a readable feather file ({reason})")) from exc
    names = [str(name) for name in table.column_names]
    columns = _column_map(names)
    missing = [name for name in ("time", *PRICE_FIELDS, "volume") if name not in columns]
    if missing:
        raise CandleFileError(
            file_error(path, f"no {' or '.join(missing)} column (found {', '.join(names)})")
        )
    if table.num_rows == 0:
        raise CandleFileError(file_error(path, "no candles: the table has no rows"))
    time_column = table.column(columns["time"])
    time_type = time_column.type
    if pa.types.is_timestamp(time_type):
        unit_us = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0}[time_type.unit]
        raw = time_column.cast(pa.int64()).to_numpy().astype(np.int64)
        open_us = raw // 1_000 if unit_us == 0 else raw * unit_us
    elif pa.types.is_integer(time_type):
        open_us = integer_times_to_us(time_column.to_numpy().astype(np.int64))
    else:
        raise CandleFileError(
            file_error(path, f"time column {names[columns['time']]!r} holds {time_type}")
        )
    rows = np.arange(1, table.num_rows + 1, dtype=np.int64)

    def numbers(field: str) -> Floats:
        values: Floats = np.asarray(
            table.column(columns[field]).to_numpy(zero_copy_only=False), dtype=np.float64
        )
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise CandleFileError(
                file_error(path, f"{field} is missing or not a number", int(rows[bad[0]]), "row")
            )
        return values

    return RawCandles(
        path=path,
        layout="freqtrade-feather",
        line_label="row",
        lines=rows,
        open_us=open_us,
        open=numbers("open"),
        high=numbers("high"),
        low=numbers("low"),
        close=numbers("close"),
        volume=numbers("volume"),
        turnover=numbers("turnover") if "turnover" in columns else None,
        close_time_us=None,
    )
