"""Backtest results: every run is kept, with the rules as run and its metrics."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import JSONType, UTCDateTime, utcnow
from core.models.base import Base


class BacktestResult(Base):
    __tablename__ = "backtest_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    filter_id: Mapped[int | None] = mapped_column(
        ForeignKey("filters.id", ondelete="SET NULL"), index=True
    )
    filter_name: Mapped[str | None] = mapped_column(String(120))
    request: Mapped[Any] = mapped_column(JSONType)
    rules_snapshot: Mapped[Any] = mapped_column(JSONType)
    data_fingerprint: Mapped[Any] = mapped_column(JSONType)
    metrics: Mapped[Any] = mapped_column(JSONType)
    market: Mapped[str] = mapped_column(String(16))
    odds_source: Mapped[str] = mapped_column(String(20))
    bets: Mapped[int] = mapped_column(Integer, index=True)
    profit: Mapped[Decimal] = mapped_column(Numeric(16, 4), index=True)
    yield_: Mapped[float | None] = mapped_column("yield", Float, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class BacktestBet(Base):
    """The bet ledger: one row per bet a run placed, in settlement order."""

    __tablename__ = "backtest_bets"
    # (result_id, seq) is unique and indexes the foreign key too: ledgers are read one run at a
    # time in bet order. No other indexes: a big run writes ~100k rows and each index costs.
    __table_args__ = (UniqueConstraint("result_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("backtest_results.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    fixture_id: Mapped[int] = mapped_column(
        ForeignKey("fixtures.id", ondelete="CASCADE"), index=True
    )
    kickoff_date: Mapped[dt.date] = mapped_column(Date)
    odds: Mapped[float] = mapped_column(Float)
    stake: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    outcome: Mapped[str] = mapped_column(String(10))
    profit: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    bank_after: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
