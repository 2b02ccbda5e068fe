"""ledger: result_id no longer a foreign key; deleting a result deletes its ledger by trigger

PostgreSQL checks a foreign key with a query per inserted row: writing a 684k-bet ledger took
3.8 s, 2.3 s of them in those checks, though a ledger is only ever written in the same
transaction as its result. A trigger on backtest_results keeps what the key's ON DELETE
CASCADE did, at no cost per bet. (result_id, seq) stays the primary key, so ledgers are
still found by result through an index.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TRIGGER = "backtest_results_delete_ledger"


def upgrade() -> None:
    with op.batch_alter_table("backtest_bets", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_backtest_bets_result_id_backtest_results"), type_="foreignkey"
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE FUNCTION {_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN DELETE FROM backtest_bets WHERE result_id = OLD.id; RETURN OLD; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {_TRIGGER} AFTER DELETE ON backtest_results"
            f" FOR EACH ROW EXECUTE FUNCTION {_TRIGGER}()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER {_TRIGGER} AFTER DELETE ON backtest_results FOR EACH ROW"
            " BEGIN DELETE FROM backtest_bets WHERE result_id = OLD.id; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER {_TRIGGER} ON backtest_results")
        op.execute(f"DROP FUNCTION {_TRIGGER}()")
    else:
        op.execute(f"DROP TRIGGER {_TRIGGER}")
    # The key cannot be added over bets whose result is gone (none, unless written by hand).
    op.execute(
        "DELETE FROM backtest_bets WHERE NOT EXISTS"
        " (SELECT 1 FROM backtest_results WHERE backtest_results.id = backtest_bets.result_id)"
    )
    with op.batch_alter_table("backtest_bets", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_backtest_bets_result_id_backtest_results"),
            "backtest_results",
            ["result_id"],
            ["id"],
            ondelete="CASCADE",
        )
