"""Trials: the distinct variants ever run on a saved filter (`filter_trials`), so a result
can say how many tries its p-value comes from. A sweep counts each of its variants; a
backtest of a saved filter counts its rules as run, so editing a filter and running it
again is another trial, and running the same version again is not.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database, dialect_insert, utcnow
from core.models import FilterTrial


def variant_key(rules: Any, market: str, odds_source: str) -> str:
    """What makes two trials of a filter the same: the rules as run, market and source."""
    canonical = json.dumps([rules, market, odds_source], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def record_trials(session: AsyncSession, filter_id: int, keys: set[str]) -> None:
    """Count each variant once per filter, however often it is run again."""
    if not keys:
        return
    dialect = (await session.connection()).dialect.name
    now = utcnow()
    rows = [{"filter_id": filter_id, "variant_key": key, "first_run_at": now} for key in keys]
    for start in range(0, len(rows), 5_000):
        statement = dialect_insert(dialect, FilterTrial.__table__).on_conflict_do_nothing()
        await session.execute(statement, rows[start : start + 5_000])


async def filter_trials(db: Database, filter_id: int) -> int:
    """How many distinct variants have ever been run on a filter."""
    async with db.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(FilterTrial).where(FilterTrial.filter_id == filter_id)
        )
    return int(count or 0)
