"""bet ledger

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backtest_bets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("fixture_id", sa.Integer(), nullable=False),
        sa.Column("kickoff_date", sa.Date(), nullable=False),
        sa.Column("odds", sa.Float(), nullable=False),
        sa.Column("stake", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("profit", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("bank_after", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.ForeignKeyConstraint(
            ["fixture_id"],
            ["fixtures.id"],
            name=op.f("fk_backtest_bets_fixture_id_fixtures"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["backtest_results.id"],
            name=op.f("fk_backtest_bets_result_id_backtest_results"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_bets")),
        sa.UniqueConstraint("result_id", "seq", name=op.f("uq_backtest_bets_result_id_seq")),
    )
    with op.batch_alter_table("backtest_bets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_backtest_bets_fixture_id"), ["fixture_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("backtest_bets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backtest_bets_fixture_id"))

    op.drop_table("backtest_bets")
