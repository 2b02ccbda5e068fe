"""Saved filters: a named rule set owned by a user."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import JSONType, UTCDateTime, utcnow
from core.models.base import Base


class Filter(Base):
    __tablename__ = "filters"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    rules: Mapped[Any] = mapped_column(JSONType)
    stake: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal("1.00"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # How the editor backtests this filter by default: market, odds source, staking
    # plan and its parameters (a BacktestRequest minus rules and scope). NULL on
    # filters saved before revision 0005, which fall back to the request defaults.
    backtest_settings: Mapped[Any | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, index=True
    )


class FilterTrial(Base):
    """A distinct variant ever run on a filter (a sweep's variants, a backtest of an edited
    version): the count is the number of trials its best p-value has to be judged against."""

    __tablename__ = "filter_trials"

    filter_id: Mapped[int] = mapped_column(
        ForeignKey("filters.id", ondelete="CASCADE"), primary_key=True
    )
    variant_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    """sha256 of the variant's rules, market and odds source (canonical JSON)."""
    first_run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
