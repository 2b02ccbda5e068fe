"""The data version: one counter that every write to fixtures, odds or features bumps.

Analysis reads a columnar copy of those tables held in memory (`core.frame`); reading this
one row tells a process whether its copy is still current, at the cost of a primary-key
lookup instead of a scan.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, utcnow
from core.models.base import Base

DATA_STATE_ID = 1
"""The table holds exactly one row, with this id (the migration inserts it)."""


class DataState(Base):
    __tablename__ = "data_state"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
