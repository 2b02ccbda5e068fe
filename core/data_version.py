"""The data version counter (`data_state`): bumped in the same transaction as every write
to fixtures, odds or features, read by the analysis frame before each use.

Bumping inside the writing transaction matters: a reader that sees the new version also sees
the new rows, and one that sees the old version has not missed any.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.db import dialect_insert, utcnow
from core.models import DATA_STATE_ID, DataState


async def bump_data_version(session: AsyncSession | AsyncConnection) -> None:
    """Mark the fixtures, odds or features as changed (call inside the writing transaction)."""
    bumped = await session.execute(
        update(DataState)
        .where(DataState.id == DATA_STATE_ID)
        .values(version=DataState.version + 1, changed_at=utcnow())
    )
    if bumped.rowcount == 0:  # type: ignore[attr-defined]
        # The row was deleted by hand: start counting again, above any version a reader
        # may hold (0), and let a concurrent writer's row win.
        dialect = await session.connection() if isinstance(session, AsyncSession) else session
        insert = dialect_insert(dialect.dialect.name, DataState.__table__)
        await session.execute(
            insert.values(id=DATA_STATE_ID, version=1, changed_at=utcnow()).on_conflict_do_nothing()
        )


async def read_data_version(session: AsyncSession | AsyncConnection) -> int:
    return (await read_data_state(session))[0]


async def read_data_state(
    session: AsyncSession | AsyncConnection,
) -> tuple[int, dt.datetime | None]:
    """The data version and when the data last changed (0, None before any change)."""
    row = (
        await session.execute(
            select(DataState.version, DataState.changed_at).where(DataState.id == DATA_STATE_ID)
        )
    ).first()
    if row is None:
        return 0, None
    return int(row.version or 0), row.changed_at
