"""Picks: what the scanner found and the user recorded as taken, at the price taken.

A recorded pick is never edited. It keeps its own copy of the match (date, league, teams),
so it outlives later changes to the fixtures; its result, profit and CLV are read from the
fixture when the result arrives, by the same settlement rules as backtests.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import JSONType, UTCDateTime, utcnow
from core.models.base import Base
from core.models.results import ODDS_SOURCE_LENGTH


class Pick(Base):
    __tablename__ = "picks"
    __table_args__ = (
        # Recording the same pick twice changes nothing.
        UniqueConstraint("user_id", "filter_name", "fixture_id", "market", "odds_source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    filter_id: Mapped[int | None] = mapped_column(
        ForeignKey("filters.id", ondelete="SET NULL"), index=True
    )
    filter_name: Mapped[str] = mapped_column(String(120))
    fixture_id: Mapped[int | None] = mapped_column(
        ForeignKey("fixtures.id", ondelete="SET NULL"), index=True
    )
    kickoff_date: Mapped[dt.date] = mapped_column(Date, index=True)
    league: Mapped[str] = mapped_column(String(8))
    home_team: Mapped[str] = mapped_column(String(120))
    away_team: Mapped[str] = mapped_column(String(120))
    market: Mapped[str] = mapped_column(String(16))
    odds_source: Mapped[str] = mapped_column(String(ODDS_SOURCE_LENGTH))
    price: Mapped[float] = mapped_column(Float)
    ah_line: Mapped[float | None] = mapped_column(Float)
    """The home side's handicap as taken (AH markets)."""
    stake: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    staking: Mapped[Any] = mapped_column(JSONType)
    """The plan the stake was sized by (flat, percent or kelly, with its bank)."""
    taken_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
