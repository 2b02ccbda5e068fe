"""candles: candle series and bars; strategy runs in backtest_results with their trade ledger

backtest_results gains the seed system's strategy fields (symbol, timeframe, strategy_type,
strategy_params), and its kind (from revision 0008) takes "strategy" too; market and
odds_source become optional, as a strategy run has neither.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# 0007's trigger: SQLite's batch mode rebuilds backtest_results, and the rebuild drops it.
_LEDGER_TRIGGER = "backtest_results_delete_ledger"


def _restore_sqlite_ledger_trigger() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE TRIGGER IF NOT EXISTS {_LEDGER_TRIGGER} AFTER DELETE ON backtest_results"
            " FOR EACH ROW BEGIN DELETE FROM backtest_bets WHERE result_id = OLD.id; END"
        )


def upgrade() -> None:
    op.create_table(
        "candle_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("bars", sa.Integer(), nullable=False),
        sa.Column("first_open_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_open_ms", sa.BigInteger(), nullable=True),
        sa.Column("gaps", sa.Integer(), nullable=False),
        sa.Column("missing_bars", sa.Integer(), nullable=False),
        sa.Column("longest_gap_bars", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candle_series")),
        sa.UniqueConstraint(
            "exchange", "symbol", "timeframe", name=op.f("uq_candle_series_exchange_symbol_timeframe")
        ),
    )
    with op.batch_alter_table("candle_series", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_candle_series_symbol"), ["symbol"], unique=False)

    op.create_table(
        "candles",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("open_time_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("open", sa.Float(), nullable=False),
        sa.Column("high", sa.Float(), nullable=False),
        sa.Column("low", sa.Float(), nullable=False),
        sa.Column("close", sa.Float(), nullable=False),
        sa.Column("volume", sa.Float(), nullable=False),
        sa.Column("turnover", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["candle_series.id"],
            name=op.f("fk_candles_series_id_candle_series"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("series_id", "open_time_ms", name=op.f("pk_candles")),
        sqlite_with_rowid=False,
    )

    op.create_table(
        "strategy_trades",
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("side", sa.String(length=5), nullable=False),
        sa.Column("entry_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exit_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entry_price", sa.Float(), nullable=False),
        sa.Column("exit_price", sa.Float(), nullable=False),
        sa.Column("units", sa.Float(), nullable=False),
        sa.Column("entry_fee", sa.Numeric(precision=24, scale=8), nullable=False),
        sa.Column("exit_fee", sa.Numeric(precision=24, scale=8), nullable=False),
        sa.Column("profit", sa.Numeric(precision=24, scale=8), nullable=False),
        sa.Column("exit_reason", sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["backtest_results.id"],
            name=op.f("fk_strategy_trades_result_id_backtest_results"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("result_id", "seq", name=op.f("pk_strategy_trades")),
    )

    with op.batch_alter_table("backtest_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("symbol", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("timeframe", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("strategy_type", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("strategy_params", _JSON, nullable=True))
        batch_op.alter_column("market", existing_type=sa.String(length=16), nullable=True)
        batch_op.alter_column("odds_source", existing_type=sa.String(length=20), nullable=True)
        batch_op.create_index(batch_op.f("ix_backtest_results_symbol"), ["symbol"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_backtest_results_strategy_type"), ["strategy_type"], unique=False
        )
    _restore_sqlite_ledger_trigger()


def downgrade() -> None:
    # Strategy runs cannot be kept by a schema without their fields; football runs stay.
    op.execute("DELETE FROM strategy_trades")
    op.execute("DELETE FROM backtest_results WHERE kind = 'strategy'")
    with op.batch_alter_table("backtest_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backtest_results_strategy_type"))
        batch_op.drop_index(batch_op.f("ix_backtest_results_symbol"))
        batch_op.alter_column("odds_source", existing_type=sa.String(length=20), nullable=False)
        batch_op.alter_column("market", existing_type=sa.String(length=16), nullable=False)
        batch_op.drop_column("strategy_params")
        batch_op.drop_column("strategy_type")
        batch_op.drop_column("timeframe")
        batch_op.drop_column("symbol")
    _restore_sqlite_ledger_trigger()
    op.drop_table("strategy_trades")
    op.drop_table("candles")
    with op.batch_alter_table("candle_series", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_candle_series_symbol"))
    op.drop_table("candle_series")
