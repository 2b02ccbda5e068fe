"""Backtest jobs: a queued request plus the filter snapshot it will run."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Integer, String, Text, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column

from core.db import JSONType, UTCDateTime, utcnow
from core.models.base import Base

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")


class BacktestJob(Base):
    __tablename__ = "backtest_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    filter_id: Mapped[int | None] = mapped_column(
        ForeignKey("filters.id", ondelete="SET NULL"), index=True
    )
    request: Mapped[Any] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    error_details: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How many times a runner has claimed the job; every runner write is fenced on it."""
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Set by `cancel` on a running job; its runner stops and marks it cancelled."""
    result_id: Mapped[int | None] = mapped_column(
        ForeignKey("backtest_results.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class SweepPart(Base):
    """One part of a sweep split across workers: a range of its variants, run as a job of
    its own (`part_job_id`), and that job's totals once it has succeeded."""

    __tablename__ = "sweep_parts"

    sweep_job_id: Mapped[int] = mapped_column(
        ForeignKey("backtest_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    part: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    part_job_id: Mapped[int] = mapped_column(
        ForeignKey("backtest_jobs.id", ondelete="CASCADE"), index=True
    )
    start: Mapped[int] = mapped_column(Integer)
    stop: Mapped[int] = mapped_column(Integer)
    data_version: Mapped[int] = mapped_column(BigInteger)
    totals: Mapped[Any | None] = mapped_column(JSONType, nullable=True)
    """The part's `sweep.VariantTotals` as JSON; NULL until its job succeeds."""
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
