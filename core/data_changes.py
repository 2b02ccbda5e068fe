"""The one hook every write of fixtures, odds or team features goes through.

Each transaction that adds, changes or deletes fixtures, their odds or their feature rows
awaits `record_data_change` before it commits, so a data version bumped here moves
exactly when the data a backtest reads does (cached analysis frames, result fingerprints).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from core.data_version import bump_data_version

logger = logging.getLogger(__name__)


async def record_data_change(conn: AsyncConnection, what: str) -> None:
    """Called inside the writing transaction, after its writes; `what` says which write
    (for logs). Bumps the data version in the same transaction (`core.data_version`)."""
    logger.debug("data changed: %s", what)
    await bump_data_version(conn)
