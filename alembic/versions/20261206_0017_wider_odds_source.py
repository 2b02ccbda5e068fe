"""odds sources up to 120 characters: a best-of list names several books

`best:b365,pinnacle,wh` (21 characters) did not fit the 20 of backtest_results.odds_source
and picks.odds_source; the longest list of every book now takes under 100.

Downgrade deletes the results (with their ledgers) and the recorded picks whose odds source
is longer than 20 characters: the old columns cannot hold it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_LENGTH = 20
NEW_LENGTH = 120
# 0007's trigger: SQLite's batch mode rebuilds backtest_results, and the rebuild drops it.
_LEDGER_TRIGGER = "backtest_results_delete_ledger"


def _restore_sqlite_ledger_trigger() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE TRIGGER IF NOT EXISTS {_LEDGER_TRIGGER} AFTER DELETE ON backtest_results"
            " FOR EACH ROW BEGIN DELETE FROM backtest_bets WHERE result_id = OLD.id; END"
        )


def _resize(old: int, new: int) -> None:
    for table, nullable in (("backtest_results", True), ("picks", False)):
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(
                "odds_source",
                existing_type=sa.String(length=old),
                type_=sa.String(length=new),
                existing_nullable=nullable,
            )
    _restore_sqlite_ledger_trigger()


def upgrade() -> None:
    _resize(OLD_LENGTH, NEW_LENGTH)


def downgrade() -> None:
    too_long = sa.func.length(sa.column("odds_source")) > OLD_LENGTH
    for table in ("backtest_results", "picks"):
        op.execute(sa.table(table, sa.column("odds_source")).delete().where(too_long))
    _resize(NEW_LENGTH, OLD_LENGTH)
