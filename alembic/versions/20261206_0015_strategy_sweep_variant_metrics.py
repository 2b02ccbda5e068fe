"""sweep_variants.metrics: a candle strategy sweep keeps each variant's strategy metrics

A strategy sweep is a sweep result like a football one (kind "sweep", with the candle fields
symbol, timeframe and strategy_type set); its variants fill the summary columns (a trade is a
bet) and keep the strategy's own metrics (total return, Sharpe, ...) in `metrics`. Football
variants leave it null.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("sweep_variants") as batch_op:
        batch_op.add_column(sa.Column("metrics", _JSON, nullable=True))


def downgrade() -> None:
    # The older schema knows only football sweeps: a strategy sweep goes, variants first
    # (SQLite enforces no cascade unless asked).
    strategy_sweeps = (
        "SELECT id FROM backtest_results WHERE kind = 'sweep' AND strategy_type IS NOT NULL"
    )
    op.execute(f"DELETE FROM sweep_variants WHERE result_id IN ({strategy_sweeps})")
    op.execute(f"DELETE FROM backtest_results WHERE id IN ({strategy_sweeps})")
    with op.batch_alter_table("sweep_variants") as batch_op:
        batch_op.drop_column("metrics")
