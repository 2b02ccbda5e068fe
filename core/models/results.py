"""Backtest results: every run is kept, with the rules as run and its metrics."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import JSONType, UTCDateTime, utcnow
from core.models.base import Base

ODDS_SOURCE_LENGTH = 120
"""Characters an odds source may take (`best:` and a list of books: every book fits)."""


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
    kind: Mapped[str] = mapped_column(
        String(16), default="backtest", server_default="backtest", index=True
    )
    """"backtest" (a football filter backtest with its ledger), "sweep" (a grid of variants,
    see SweepVariant) or "strategy" (a candle strategy run with its trades)."""
    market: Mapped[str | None] = mapped_column(String(16))
    """Football runs only."""
    odds_source: Mapped[str | None] = mapped_column(String(ODDS_SOURCE_LENGTH))
    """Football runs only."""
    # Strategy runs only: the seed system's fields.
    symbol: Mapped[str | None] = mapped_column(String(32), index=True)
    timeframe: Mapped[str | None] = mapped_column(String(8))
    strategy_type: Mapped[str | None] = mapped_column(String(32), index=True)
    strategy_params: Mapped[Any | None] = mapped_column(JSONType)
    bets: Mapped[int] = mapped_column(Integer, index=True)
    """Bets, or a strategy run's trades."""
    profit: Mapped[Decimal] = mapped_column(Numeric(16, 4), index=True)
    yield_: Mapped[float | None] = mapped_column("yield", Float, index=True)
    """Profit / staked; for a strategy run its total_return (profit / starting cash)."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class BacktestBet(Base):
    """The bet ledger: one row per bet a run placed, in settlement order."""

    __tablename__ = "backtest_bets"
    # Keyed by (result_id, seq), and no other index: ledgers are read one run at a time
    # in bet order, and the key indexes the result id. `fixture_id` is
    # deliberately neither a foreign key nor indexed. A ledger records what a run bet on
    # and must outlive later changes to the fixtures; on PostgreSQL the per-row foreign
    # key check (a row lock per bet) cost 2 of 5.3 s writing a 200k-bet ledger; and an
    # index in fixture order takes random inserts, so every big run's write grew with
    # all the ledgers before it (SQLite, 200k bets: 0.67 s on an empty ledger table,
    # 1.8 s with 7.5M rows in it). Joining a ledger to fixtures goes by the fixtures'
    # primary key; only "which runs bet on this match" scans.

    # Not a foreign key (revision 0007): PostgreSQL checked it with a query per bet, 2.3 s
    # of a 684k-bet ledger. The ledger is written in its result's transaction, and a
    # trigger on backtest_results deletes it with its result, as ON DELETE CASCADE did.
    result_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fixture_id: Mapped[int] = mapped_column(Integer)
    kickoff_date: Mapped[dt.date] = mapped_column(Date)
    odds: Mapped[float] = mapped_column(Float)
    stake: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    outcome: Mapped[str] = mapped_column(String(10))
    profit: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    bank_after: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))


class SweepVariant(Base):
    """One variant of a sweep: its parameters and its flat-stake summary. A sweep keeps no
    per-bet ledger; promoting a variant runs it as a backtest with one.

    A candle strategy sweep's variant maps onto the same columns: bets = its trades, profit
    = final equity less cash, staked = the trades' entry values, yield = profit / staked,
    max_drawdown = the strategy's (a fraction of the equity peak, not money),
    longest_losing_run = in trades; `metrics` keeps the strategy's own metrics."""

    __tablename__ = "sweep_variants"

    result_id: Mapped[int] = mapped_column(
        ForeignKey("backtest_results.id", ondelete="CASCADE"), primary_key=True
    )
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    """Position in grid order (0-based)."""
    params: Mapped[Any] = mapped_column(JSONType)
    bets: Mapped[int] = mapped_column(Integer)
    wins: Mapped[int] = mapped_column(Integer)
    profit: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    staked: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    yield_: Mapped[float | None] = mapped_column("yield", Float)
    max_drawdown: Mapped[float] = mapped_column(Float)
    longest_losing_run: Mapped[int] = mapped_column(Integer)
    t_stat: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    q_value: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[Any | None] = mapped_column(JSONType)
    """A strategy sweep's variant: its strategy metrics (null for a football variant)."""
