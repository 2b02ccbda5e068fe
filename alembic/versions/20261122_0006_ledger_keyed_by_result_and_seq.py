"""ledger keyed by (result_id, seq) only; fixture_id neither a foreign key nor indexed

A ledger records what a run bet on and must outlive later changes to the fixtures. On
PostgreSQL the per-row foreign-key check cost 2 of 5.3 s writing a 200k-bet ledger; the
fixture_id index took random inserts, so each big run's write grew with every ledger
before it (SQLite: 0.67 s for 200k bets on an empty table, 1.8 s with 7.5M rows); and
the surrogate id was one more index per bet.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("backtest_bets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backtest_bets_fixture_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_backtest_bets_fixture_id_fixtures"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_backtest_bets_result_id_seq"), type_="unique")
        batch_op.drop_constraint(batch_op.f("pk_backtest_bets"), type_="primary")
        batch_op.drop_column("id")
        batch_op.create_primary_key(batch_op.f("pk_backtest_bets"), ["result_id", "seq"])


def downgrade() -> None:
    with op.batch_alter_table("backtest_bets", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("pk_backtest_bets"), type_="primary")
        batch_op.add_column(sa.Column("id", sa.Integer(), nullable=True))
    # Number the existing bets in (result, seq) order, as they were inserted.
    op.execute(
        "UPDATE backtest_bets SET id = numbered.n FROM ("
        " SELECT result_id, seq, row_number() OVER (ORDER BY result_id, seq) AS n"
        " FROM backtest_bets) AS numbered"
        " WHERE backtest_bets.result_id = numbered.result_id"
        " AND backtest_bets.seq = numbered.seq"
    )
    with op.batch_alter_table("backtest_bets", schema=None) as batch_op:
        batch_op.alter_column("id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_primary_key(batch_op.f("pk_backtest_bets"), ["id"])
        batch_op.create_unique_constraint(
            batch_op.f("uq_backtest_bets_result_id_seq"), ["result_id", "seq"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_backtest_bets_fixture_id_fixtures"),
            "fixtures",
            ["fixture_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index(
            batch_op.f("ix_backtest_bets_fixture_id"), ["fixture_id"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        # Revision 0002 made id a serial column; give it its sequence back.
        op.execute("CREATE SEQUENCE backtest_bets_id_seq OWNED BY backtest_bets.id")
        op.execute(
            "SELECT setval('backtest_bets_id_seq',"
            " COALESCE((SELECT max(id) FROM backtest_bets), 0) + 1, false)"
        )
        op.execute(
            "ALTER TABLE backtest_bets ALTER COLUMN id SET DEFAULT nextval('backtest_bets_id_seq')"
        )
