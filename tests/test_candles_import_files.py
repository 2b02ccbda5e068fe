"""Reading and validating candle files (no database): every layout in the shared klines/,
the real damaged files, and the validation rules on small hand-made files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from core.candles.importing import infer_timeframe
from core.candles.names import hints_from_path
from core.candles.parse import CandleFileError, read_candle_file
from core.candles.validate import check_candles, utc_text
from tests.conftest import shared_data


@pytest.mark.parametrize(
    ("relative", "layout", "rows", "first"),
    [
        ("bybit/BTCUSDT-15m-2023-11..2026-01.csv", "bybit-v5", 73_777, "2023-11-29 00:00"),
        (
            "bybit-format-samples/BTCUSDT-15m-2025-03..2025-07.turnover.csv",
            "ts/vol/turn",
            9_000,
            "2025-03-31 12:15",
        ),
        (
            "bybit-format-samples/ETHUSDT-1h-2021-03..2025-05.csv",
            "timestamp,open,high,low,close,volume",
            36_256,
            "2021-03-15 00:00",
        ),
        (
            "bybit-format-samples/BTCUSDT-1h-2026-01..2026-04.spot-turnover.csv",
            "open_time,open,high,low,close,volume,turnover",
            2_161,
            "2026-01-01 19:00",
        ),
        ("binance/BTCUSDT-1h-2023-01.spot-header.csv", "binance-12", 744, "2023-01-01 00:00"),
        ("binance/BTCUSDT-1h-2024-11.csv", "binance-12 (no header)", 720, "2024-11-01 00:00"),
        (
            "binance/ETHUSDT-1h-2025-01.csv",
            "binance-12 (no header)",
            744,
            "2025-01-01 00:00",
        ),
        (
            "binance/SOLUSDT-15m-2024-10..2025-10.usdm.csv",
            "time,open,high,low,close,volume",
            35_040,
            "2024-10-23 07:30",
        ),
        (
            "freqtrade-feather/ETHUSDT-1h-2023-12..2026-02.feather",
            "freqtrade-feather",
            18_805,
            "2023-12-18 00:00",
        ),
    ],
)
def test_every_layout_in_the_shared_klines_reads(
    relative: str, layout: str, rows: int, first: str
) -> None:
    path = shared_data(f"klines/{relative}")
    hints = hints_from_path(path)
    assert hints.symbol is not None and hints.timeframe is not None
    checked = check_candles(read_candle_file(path), hints.timeframe)
    assert checked.raw.layout == layout
    assert len(checked) == rows
    assert utc_text(int(checked.open_ms[0]) * 1000) == f"{first} UTC"
    assert np.all(np.diff(checked.open_ms) > 0)


def test_binance_times_in_microseconds_from_2025_read_as_the_same_clock(tmp_path: Path) -> None:
    """data.binance.vision's spot files switch from ms to µs in 2025-01: a file holding
    December 2024 and January 2025 reads as one continuous hourly series."""
    december = (shared_data("klines/binance/BTCUSDT-1h-2024-12.csv")).read_text()
    january = (shared_data("klines/binance/BTCUSDT-1h-2025-01.csv")).read_text()
    assert january.split(",", 1)[0] == "1735689600000000"  # µs
    joined = tmp_path / "BTCUSDT-1h-2024-12..2025-01.csv"
    joined.write_text(december + january)
    checked = check_candles(read_candle_file(joined), "1h")
    assert len(checked) == 744 + 744
    assert set(np.diff(checked.open_ms).tolist()) == {3_600_000}


def test_the_feather_and_csv_copies_of_a_series_read_identically() -> None:
    feather = read_candle_file(
        shared_data("klines/freqtrade-feather/BTCUSDT-1h-2023-11..2026-02.feather")
    )
    csv = read_candle_file(shared_data("klines/bybit/BTCUSDT-1h-2023-11..2026-02.csv"))
    for name in ("open_us", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(feather, name), getattr(csv, name)), name


@pytest.mark.parametrize(
    ("name", "timeframe", "message"),
    [
        (
            "ADAUSDT-15m-2025-05..2025-06.descending-utc-minus4.csv",
            None,
            "ADAUSDT-15m-2025-05..2025-06.descending-utc-minus4.csv:line 3: rows are newest first",
        ),
        (
            "BTCUSDT-1h-2019-01..2022-02.descending-zero-volume.csv",
            None,
            "BTCUSDT-1h-2019-01..2022-02.descending-zero-volume.csv:line 3: rows are newest first",
        ),
        (
            "BTCUSDT-1h-2023-01..2023-12.binance-duplicated-concat.csv",
            None,
            "binance-duplicated-concat.csv:line 8761: 2023-01-01 00:00 UTC comes before the row"
            " above it (2023-12-31 23:00 UTC)",
        ),
        (
            "BTCUSDT-1h.empty-0-bytes.feather",
            None,
            "BTCUSDT-1h.empty-0-bytes.feather: the file is empty",
        ),
        (
            "BTCUSDT-approx5m-2025-06.bybit-jittered-timestamps.csv",
            None,
            "jittered-timestamps.csv:line 4: no timeframe in the file name, and bars 4.37 minutes"
            " apart are no timeframe",
        ),
        (
            "BTCUSDT-approx5m-2025-06.bybit-jittered-timestamps.csv",
            "5m",
            "jittered-timestamps.csv:line 2: 2025-06-27 10:54:09.920 UTC is not on the 5m bar grid"
            " (and 998 more bad rows)",
        ),
    ],
)
def test_each_damaged_file_is_refused_with_one_line_naming_file_line_and_problem(
    name: str, timeframe: str | None, message: str
) -> None:
    path = shared_data(f"klines-defects/{name}")
    with pytest.raises(CandleFileError) as caught:
        raw = read_candle_file(path)
        check_candles(raw, timeframe or hints_from_path(path).timeframe or infer_timeframe(raw))
    text = str(caught.value)
    assert message in text
    assert "\n" not in text


def test_damaged_files_that_read_report_their_gaps_and_keep_them() -> None:
    path = shared_data(
        "klines-defects/BTCUSDT-15m-2025-10..2026-08.bybit-volume-is-turnover-gaps.csv"
    )
    checked = check_candles(read_candle_file(path), "15m")
    assert len(checked) == 28_191
    [gaps] = [note for note in checked.notes if "gap" in note]
    assert gaps.startswith(f"{path.name}:line ")
    assert "6 gaps, 261 missing bars (kept as gaps); the longest, 251 bars" in gaps
    truncated = shared_data("klines-defects/ETHUSDT-1h-2026-01..2026-02.truncated.feather")
    assert len(check_candles(read_candle_file(truncated), "1h")) == 993


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


HEADER = "startTime,open,high,low,close,volume\n"
H0 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000  # an hour boundary


def _bar(
    hour: int, o: float = 10, h: float = 12, lo: float = 9, c: float = 11, v: float = 5
) -> str:
    return f"{H0 + hour * 3_600_000},{o},{h},{lo},{c},{v}\n"


def test_an_exact_duplicate_is_dropped_with_a_note(tmp_path: Path) -> None:
    path = _write(tmp_path, "X-1h.csv", HEADER + _bar(0) + _bar(1) + _bar(1) + _bar(2))
    checked = check_candles(read_candle_file(path), "1h")
    assert len(checked) == 3
    assert checked.notes == [
        "X-1h.csv:line 4: dropped 1 exact duplicate row (the first repeats line 3)"
    ]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            _bar(0) + _bar(1) + _bar(1, c=11.5),
            "line 4: 2023-11-14 23:00 UTC is also on line 3 with different values",
        ),
        (_bar(0, h=10.5), "line 2: high 10.5 is below max(open, close) 11"),
        (_bar(0, lo=10.5), "line 2: low 10.5 is above min(open, close) 10"),
        (_bar(0, v=-1), "line 2: volume -1 is negative"),
        (_bar(0, o=0, lo=0), "line 2: a price is 0 or negative"),
        (_bar(0) + _bar(2) + _bar(1), "line 4: 2023-11-14 23:00 UTC comes before the row above it"),
        (_bar(1) + _bar(0), "line 3: rows are newest first"),
        (f"{H0 + 60_000},10,12,9,11,5\n", "line 2: 2023-11-14 22:01 UTC is not on the 1h bar grid"),
        ("1700000000000,10,12,9,,5\n", "line 2: close: empty is not a number"),
        (_bar(0) + "1700003600000,10,12,9\n", "line 3: 4 fields where the header has 6"),
    ],
)
def test_bad_rows_refuse_the_file_naming_the_line(tmp_path: Path, rows: str, message: str) -> None:
    path = _write(tmp_path, "X-1h.csv", HEADER + rows)
    with pytest.raises(CandleFileError) as caught:
        check_candles(read_candle_file(path), "1h")
    assert f"X-1h.csv:{message}" in str(caught.value)


def test_offsets_become_utc_and_naive_times_are_utc(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "X-15m.csv",
        "Datetime,Open,High,Low,Close,Volume\n"
        "2025-05-02 12:15:00-04:00,1,2,0.5,1.5,10\n"
        "2025-05-02 16:30:00,1,2,0.5,1.5,10\n"
        "2025-05-02T16:45:00Z,1,2,0.5,1.5,10\n",
    )
    checked = check_candles(read_candle_file(path), "15m")
    assert checked.open_ms.tolist() == [1_746_202_500_000 + k * 900_000 for k in range(3)]


def test_an_unclosed_last_candle_shown_by_the_file_itself_is_dropped(tmp_path: Path) -> None:
    """By a close time that ends before the bar does, or by a file saved mid-bar."""
    header = "open_time,open,high,low,close,volume,close_time,quote_volume,count,tbv,tbqv,ignore\n"
    # The third bar's close time is one second after it opened: saved mid-bar.
    closes = [H0 + 3_599_999, H0 + 3_600_000 + 3_599_999, H0 + 7_200_000 + 1_000]
    rows = "".join(f"{H0 + k * 3_600_000},10,12,9,11,5,{closes[k]},1,1,1,1,0\n" for k in range(3))
    path = _write(tmp_path, "X-1h.csv", header + rows)
    checked = check_candles(read_candle_file(path), "1h")
    assert len(checked) == 2
    assert "line 4: dropped the last candle" in checked.notes[0]
    assert "close_time" in checked.notes[0]

    saved = _write(tmp_path, "Y-1h.csv", HEADER + _bar(0) + _bar(1))
    midway = (H0 + 3_600_000 + 600_000) / 1000  # ten minutes into the last bar
    os.utime(saved, (midway, midway))
    raw = read_candle_file(saved)
    checked = check_candles(raw, "1h", saved_at_us=int(midway * 1_000_000))
    assert len(checked) == 1
    assert "the file was saved at 2023-11-14 23:10 UTC, before the bar closed" in checked.notes[0]


@pytest.mark.parametrize(
    ("name", "symbol", "timeframe", "exchange"),
    [
        ("klines/bybit/BTCUSDT-15m-2023-11..2026-01.csv", "BTCUSDT", "15m", "bybit"),
        ("data/BTCUSDT_60_full.csv", "BTCUSDT", "1h", None),
        ("data/BTCUSDT_15.csv", "BTCUSDT", "15m", None),
        ("user_data/data/bybit/futures/BTC_USDT_USDT-1h-futures.feather", "BTCUSDT", "1h", "bybit"),
        ("binance/BTCUSDT-1h-2023-01.spot-header.csv", "BTCUSDT", "1h", "binance-spot"),
        ("BTCUSDT-1M-2024.csv", "BTCUSDT", None, None),
        ("prices.csv", None, None, None),
    ],
)
def test_symbol_timeframe_and_exchange_come_from_the_name(
    name: str, symbol: str | None, timeframe: str | None, exchange: str | None
) -> None:
    hints = hints_from_path(Path(name))
    assert (hints.symbol, hints.timeframe, hints.exchange) == (symbol, timeframe, exchange)
