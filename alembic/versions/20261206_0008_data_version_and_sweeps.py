"""data version counter, sweeps stored as results with a summary row per variant, filter trials

`data_state` holds one row whose version every write to fixtures, odds or features bumps:
the in-memory analysis frame checks it before each use instead of re-reading the tables.
`backtest_results.kind` tells a single backtest from a sweep; `sweep_variants` holds a
sweep's per-variant summaries (no per-bet ledger); `filter_trials` counts the distinct
variants ever run on a filter, for multiple-testing corrections; `sweep_parts` holds the parts
of a sweep split across workers, each a job of its own, with its totals once done.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_LEDGER_TRIGGER = "backtest_results_delete_ledger"  # revision 0007's


def _keep_sqlite_ledger_trigger() -> None:
    """SQLite's batch mode may rebuild backtest_results, which drops its triggers: put
    revision 0007's back (a result's ledger goes with it)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE TRIGGER IF NOT EXISTS {_LEDGER_TRIGGER} AFTER DELETE ON backtest_results"
            " FOR EACH ROW BEGIN DELETE FROM backtest_bets WHERE result_id = OLD.id; END"
        )


def upgrade() -> None:
    data_state = op.create_table(
        "data_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_state")),
    )
    op.bulk_insert(
        data_state, [{"id": 1, "version": 0, "changed_at": dt.datetime.now(dt.UTC)}]
    )
    with op.batch_alter_table("backtest_results") as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="backtest", nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_backtest_results_kind"), ["kind"], unique=False)
    _keep_sqlite_ledger_trigger()
    op.create_table(
        "sweep_variants",
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("params", _JSON, nullable=False),
        sa.Column("bets", sa.Integer(), nullable=False),
        sa.Column("wins", sa.Integer(), nullable=False),
        sa.Column("profit", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("staked", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("yield", sa.Float(), nullable=True),
        sa.Column("max_drawdown", sa.Float(), nullable=False),
        sa.Column("longest_losing_run", sa.Integer(), nullable=False),
        sa.Column("t_stat", sa.Float(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("q_value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["backtest_results.id"],
            name=op.f("fk_sweep_variants_result_id_backtest_results"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("result_id", "idx", name=op.f("pk_sweep_variants")),
    )
    op.create_table(
        "filter_trials",
        sa.Column("filter_id", sa.Integer(), nullable=False),
        sa.Column("variant_key", sa.String(length=64), nullable=False),
        sa.Column("first_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["filter_id"],
            ["filters.id"],
            name=op.f("fk_filter_trials_filter_id_filters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("filter_id", "variant_key", name=op.f("pk_filter_trials")),
    )
    op.create_table(
        "sweep_parts",
        sa.Column("sweep_job_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("part_job_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("stop", sa.Integer(), nullable=False),
        sa.Column("data_version", sa.BigInteger(), nullable=False),
        sa.Column("totals", _JSON, nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["sweep_job_id"],
            ["backtest_jobs.id"],
            name=op.f("fk_sweep_parts_sweep_job_id_backtest_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["part_job_id"],
            ["backtest_jobs.id"],
            name=op.f("fk_sweep_parts_part_job_id_backtest_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sweep_job_id", "part", name=op.f("pk_sweep_parts")),
    )
    op.create_index(
        op.f("ix_sweep_parts_part_job_id"), "sweep_parts", ["part_job_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("sweep_parts")
    op.drop_table("filter_trials")
    op.drop_table("sweep_variants")
    # A sweep without its variants is not a result the older schema can show.
    op.execute("DELETE FROM backtest_results WHERE kind = 'sweep'")
    with op.batch_alter_table("backtest_results") as batch_op:
        batch_op.drop_index(batch_op.f("ix_backtest_results_kind"))
        batch_op.drop_column("kind")
    _keep_sqlite_ledger_trigger()
    op.drop_table("data_state")
