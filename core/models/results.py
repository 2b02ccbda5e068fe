"""Backtest results: every run is kept, with the rules as run and its metrics."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, Numeric, String
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
