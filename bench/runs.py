"""Cleaning up after a measured run, shared by the benches (no pandas or polars here: the
memory bench imports this into the process it measures)."""

from __future__ import annotations

from sqlalchemy import delete

from core.backtest.engine import BacktestRun
from core.models import BacktestBet, BacktestResult
from core.services import FilterBetsService


async def forget(service: FilterBetsService, run: BacktestRun) -> None:
    """Delete a measured run's result and ledger, untimed, and checkpoint the WAL.

    Every run starts from the same database: 1M fixtures, not 1M fixtures plus the
    millions of ledger rows earlier benchmark runs would otherwise pile up.
    """
    async with service.db.session() as session:
        await session.execute(delete(BacktestBet).where(BacktestBet.result_id == run.result_id))
        await session.execute(delete(BacktestResult).where(BacktestResult.id == run.result_id))
    if service.db.dialect_name == "sqlite":
        async with service.db.engine.connect() as connection:
            await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
