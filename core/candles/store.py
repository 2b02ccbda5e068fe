"""The candle store: series and bars, in the main database or in FILTERBETS_CANDLES_URL's.

Reads of whole series go through the driver (one tuple per bar, straight into numpy): the
ORM's per-row objects would cost more than the strategy run itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.candles.parse import Floats, Ints
from core.candles.timeframes import minutes_of
from core.config import Settings
from core.db import Database
from core.errors import FilterBetsError
from core.models import Candle, CandleSeries


class CandleDataError(FilterBetsError):
    """No such candle series, or no bars in the range asked for."""


@dataclass(frozen=True)
class SeriesInfo:
    id: int
    exchange: str
    symbol: str
    timeframe: str
    bars: int
    first_open: dt.datetime | None
    last_open: dt.datetime | None
    gaps: int
    missing_bars: int
    longest_gap_bars: int
    updated_at: dt.datetime

    @property
    def label(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe}"

    def to_dict(self) -> dict[str, Any]:
        def iso(value: dt.datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "exchange": self.exchange,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "bars": self.bars,
            "first": iso(self.first_open),
            "last": iso(self.last_open),
            "gaps": self.gaps,
            "missing_bars": self.missing_bars,
            "longest_gap_bars": self.longest_gap_bars,
        }


@dataclass(frozen=True)
class Bars:
    """A series' bars over a range, as arrays in time order."""

    series: SeriesInfo
    open_ms: Ints
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    volume: Floats

    def __len__(self) -> int:
        return len(self.open_ms)

    @property
    def minutes(self) -> int:
        return minutes_of(self.series.timeframe)


def from_ms(ms: int | None) -> dt.datetime | None:
    if ms is None:
        return None
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=int(ms))


def to_ms(moment: dt.datetime) -> int:
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)


def _series_info(row: Any) -> SeriesInfo:
    return SeriesInfo(
        id=int(row.id),
        exchange=row.exchange,
        symbol=row.symbol,
        timeframe=row.timeframe,
        bars=int(row.bars),
        first_open=from_ms(row.first_open_ms),
        last_open=from_ms(row.last_open_ms),
        gaps=int(row.gaps),
        missing_bars=int(row.missing_bars),
        longest_gap_bars=int(row.longest_gap_bars),
        updated_at=row.updated_at,
    )


async def driver_of(conn: AsyncConnection) -> Any:
    """The DBAPI driver's own connection (aiosqlite's or asyncpg's) inside `conn`'s
    transaction."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def fetch_driver_rows(conn: AsyncConnection, query: Any) -> list[tuple[Any, ...]]:
    """Run a query through the driver: plain tuples, no SQLAlchemy row per result."""
    compiled = query.compile(dialect=conn.dialect)
    names = compiled.positiontup or []
    args = [compiled.params[name] for name in names]
    driver = await driver_of(conn)
    if conn.dialect.name == "postgresql":
        return [tuple(record) for record in await driver.fetch(compiled.string, *args)]
    async with driver.execute(compiled.string, args) as cursor:
        return list(await cursor.fetchall())


class CandleStore:
    """The candle database: the main one, or FILTERBETS_CANDLES_URL's (migrated on open)."""

    def __init__(self, db: Database, *, owned: bool) -> None:
        self.db = db
        self._owned = owned

    @classmethod
    async def open(cls, settings: Settings, main: Database | None = None) -> CandleStore:
        candle_settings = settings.candles_settings()
        if candle_settings is settings and main is not None:
            return cls(main, owned=False)
        from core.migrate import ensure_schema

        await ensure_schema(candle_settings)
        return cls(Database(candle_settings), owned=True)

    async def close(self) -> None:
        if self._owned:
            await self.db.dispose()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        async with self.db.engine.connect() as conn:
            yield conn

    async def list_series(self) -> list[SeriesInfo]:
        query = select(CandleSeries).order_by(
            CandleSeries.symbol, CandleSeries.timeframe, CandleSeries.exchange
        )
        async with self.db.session() as session:
            rows = (await session.execute(query)).scalars().all()
        return [_series_info(row) for row in rows]

    async def find_series(
        self, symbol: str, timeframe: str, exchange: str | None = None
    ) -> SeriesInfo:
        """The one series of `symbol` and `timeframe` (on `exchange` when given)."""
        query = select(CandleSeries).where(
            CandleSeries.symbol == symbol.upper(), CandleSeries.timeframe == timeframe
        )
        if exchange is not None:
            query = query.where(CandleSeries.exchange == exchange)
        async with self.db.session() as session:
            rows = [_series_info(r) for r in (await session.execute(query)).scalars().all()]
        where = f"{symbol.upper()} {timeframe}" + (f" on {exchange}" if exchange else "")
        if not rows:
            raise CandleDataError(
                f"no candles for {where}: import some (filterbets candles import FILE),"
                " or see `filterbets candles list`"
            )
        if len(rows) > 1:
            names = ", ".join(row.exchange for row in rows)
            raise CandleDataError(f"{where} is on several exchanges ({names}): give --exchange")
        return rows[0]

    async def load_bars(
        self, series: SeriesInfo, start_ms: int | None = None, end_ms: int | None = None
    ) -> Bars:
        """The bars of `series` opening in [start_ms, end_ms] (either open-ended)."""
        query = select(
            Candle.open_time_ms, Candle.open, Candle.high, Candle.low, Candle.close, Candle.volume
        ).where(Candle.series_id == series.id)
        if start_ms is not None:
            query = query.where(Candle.open_time_ms >= start_ms)
        if end_ms is not None:
            query = query.where(Candle.open_time_ms <= end_ms)
        query = query.order_by(Candle.open_time_ms)
        async with self.connection() as conn:
            rows = await fetch_driver_rows(conn, query)
        table = np.array(rows, dtype=np.float64).reshape(len(rows), 6)
        return Bars(
            series=series,
            open_ms=table[:, 0].astype(np.int64),
            open=np.ascontiguousarray(table[:, 1]),
            high=np.ascontiguousarray(table[:, 2]),
            low=np.ascontiguousarray(table[:, 3]),
            close=np.ascontiguousarray(table[:, 4]),
            volume=np.ascontiguousarray(table[:, 5]),
        )
