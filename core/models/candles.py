"""Exchange candles ("klines") and the trade ledger of strategy runs.

Candles may live in a database of their own (FILTERBETS_CANDLES_URL); the series and candle
tables are then used there, and a strategy result (in the main database) names its series by
exchange, symbol and timeframe rather than by a key.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, utcnow
from core.models.base import Base


class CandleSeries(Base):
    """One exchange, symbol and timeframe, with a summary kept current by every import."""

    __tablename__ = "candle_series"
    __table_args__ = (UniqueConstraint("exchange", "symbol", "timeframe"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exchange: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    timeframe: Mapped[str] = mapped_column(String(8))
    bars: Mapped[int] = mapped_column(Integer, default=0)
    first_open_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_open_ms: Mapped[int | None] = mapped_column(BigInteger)
    gaps: Mapped[int] = mapped_column(Integer, default=0)
    """Runs of missing bars between the first and the last bar."""
    missing_bars: Mapped[int] = mapped_column(Integer, default=0)
    longest_gap_bars: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Candle(Base):
    """One bar. Prices are the exchange's quotes as float64 (the strategies compute in
    float64, and a double holds every quote of up to 15 significant digits exactly)."""

    __tablename__ = "candles"
    # Keyed by (series, open time): every read is a range of one series in time order. On
    # SQLite the key is the table (WITHOUT ROWID): no second copy of it in an index.
    __table_args__ = {"sqlite_with_rowid": False}
    series_id: Mapped[int] = mapped_column(
        ForeignKey("candle_series.id", ondelete="CASCADE"), primary_key=True
    )
    open_time_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """The bar's open time, epoch milliseconds UTC."""
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    volume: Mapped[float] = mapped_column(Float)
    """In the base coin."""
    turnover: Mapped[float | None] = mapped_column(Float)
    """In the quote coin, where the file has it."""


class StrategyTrade(Base):
    """The ledger of a strategy run: one row per round trip, in entry order."""

    __tablename__ = "strategy_trades"

    result_id: Mapped[int] = mapped_column(
        ForeignKey("backtest_results.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    side: Mapped[str] = mapped_column(String(5))
    """long or short."""
    entry_time: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    exit_time: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    entry_price: Mapped[float] = mapped_column(Float)
    exit_price: Mapped[float] = mapped_column(Float)
    units: Mapped[float] = mapped_column(Float)
    entry_fee: Mapped[Decimal] = mapped_column(Numeric(24, 8))
    exit_fee: Mapped[Decimal] = mapped_column(Numeric(24, 8))
    profit: Mapped[Decimal] = mapped_column(Numeric(24, 8))
    exit_reason: Mapped[str] = mapped_column(String(12))
    """signal, stop, take_profit or end (the forced close after the last bar)."""
