"""row-level security: on PostgreSQL a role other than the tables' owner sees only its own work

Each person's rows (their user row, filters and their trials, results with their ledgers,
sweep variants and strategy trades, jobs and sweep parts) are visible and
writable only to the database role of the same name as the user. The tables' owner (who runs
the migrations, and every setup that shares one login) and superusers are not subject to row
security, so nothing changes for them. `filterbets db grant USER` makes such a role.
SQLite has no roles: nothing to do there.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_POLICY = "filterbets_own_rows"
# The current role's user id: an uncorrelated subquery, evaluated once per statement.
_MY_ID = "(SELECT u.id FROM users u WHERE u.name = current_user)"
_RULES = {
    "users": "name = current_user",
    "filters": f"user_id = {_MY_ID}",
    "backtest_results": f"user_id = {_MY_ID}",
    "backtest_jobs": f"user_id = {_MY_ID}",
    # A ledger, a sweep's variants and a strategy run's trades belong to their result's
    # owner; a filter's trials to the filter's; a sweep's parts to its job's.
    "backtest_bets": (
        "EXISTS (SELECT 1 FROM backtest_results r"
        f" WHERE r.id = backtest_bets.result_id AND r.user_id = {_MY_ID})"
    ),
    "sweep_variants": (
        "EXISTS (SELECT 1 FROM backtest_results r"
        f" WHERE r.id = sweep_variants.result_id AND r.user_id = {_MY_ID})"
    ),
    "strategy_trades": (
        "EXISTS (SELECT 1 FROM backtest_results r"
        f" WHERE r.id = strategy_trades.result_id AND r.user_id = {_MY_ID})"
    ),
    "filter_trials": (
        "EXISTS (SELECT 1 FROM filters f"
        f" WHERE f.id = filter_trials.filter_id AND f.user_id = {_MY_ID})"
    ),
    "sweep_parts": (
        "EXISTS (SELECT 1 FROM backtest_jobs j"
        f" WHERE j.id = sweep_parts.sweep_job_id AND j.user_id = {_MY_ID})"
    ),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, rule in _RULES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {_POLICY} ON {table} USING ({rule}) WITH CHECK ({rule})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _RULES:
        op.execute(f"DROP POLICY {_POLICY} ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
