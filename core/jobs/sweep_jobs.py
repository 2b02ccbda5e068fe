"""Sweeps as jobs, and a big sweep split into parts that any worker can claim.

A sweep job plans the sweep (the OR of every variant's mask, which fixes the seasons and
date blocks of its luck report). When it is big (`sweeps.parts_for`) it then queues its
variants as parts, each a job of kind "sweep_part" carrying everything it needs: the
request, its range of variants, the plan's periods and the data version they were cut from.
Any runner claims parts like any other job, across machines on PostgreSQL. The sweep job
itself claims and runs its own parts while they are queued (so one worker with one slot
finishes a split sweep too) and waits for the others; a part whose worker died is reaped as
interrupted and queued again, never run twice (its totals are written once, in the commit
that marks its job succeeded). When every part is in, the sweep job assembles the luck
report and stores the one result.

If the data changes between the plan and a part (an import), the part refuses to run: parts
measured on different data would not add up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any, Final

import numpy as np
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.backtest.engine import BacktestCancelled, BeforeCommit, Progress
from core.backtest.grid import parse_grid
from core.backtest.market import market_columns
from core.backtest.sweep import (
    DataChanged,
    SweepPlan,
    VariantTotals,
    check_template,
    measure_variants,
    prepare_plan,
    season_labels,
    set_periods,
)
from core.backtest.sweeps import AnySweepRequest, SweepRequest
from core.db import Database, utcnow
from core.errors import FilterBetsError
from core.frame import frame_for
from core.jobs.queue import (
    CANCELLED,
    FAILED,
    INTERRUPTED,
    SNAPSHOT_KEY,
    Claim,
    FilterSnapshot,
    JobInfo,
    JobQueue,
)
from core.models import BacktestJob, SweepPart
from core.rules.mask import rule_columns

__all__ = ["PART_KIND", "SWEEP_KIND", "SweepCoordinator", "run_sweep_part", "submit_sweep"]

SWEEP_KIND: Final = "sweep"
PART_KIND: Final = "sweep_part"
_POLL_SECONDS: Final = 0.2


async def submit_sweep(queue: JobQueue, user_id: int, request: AnySweepRequest) -> JobInfo:
    """Queue a sweep, checked first as it would run (grid, template, scope), with a saved
    filter snapshotted now: later edits don't change it. A strategy sweep is checked
    against its strategy and candles, and runs in one part."""
    from core.backtest.sweeps import SweepEngine

    if not isinstance(request, SweepRequest):
        from core.candles.service import check_strategy_sweep

        await check_strategy_sweep(queue.db, request)
        return await queue.submit_raw(user_id, request.validated().to_dict())
    request, resolved, _ = await SweepEngine(queue.db, user_id).prepare(request)
    snapshot: FilterSnapshot | None = None
    if resolved.filter_id is not None:
        snapshot = FilterSnapshot(resolved.filter_id, resolved.filter_name, resolved.stake)
    inline = replace(request.backtest, filter_ref=None, rules=resolved.rules)
    data = replace(request, backtest=inline).to_dict()
    data[SNAPSHOT_KEY] = snapshot.to_dict() if snapshot else None
    return await queue.submit_raw(user_id, data, filter_id=resolved.filter_id)


def _ranges(total: int, parts: int) -> list[tuple[int, int]]:
    edges = [total * k // parts for k in range(parts + 1)]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


class SweepCoordinator:
    """The sweep job's side of a split sweep (`SweepEngine.distribute`)."""

    def __init__(
        self,
        queue: JobQueue,
        claim: Claim,
        worker: str,
        heartbeat_interval: float,
    ) -> None:
        self.queue = queue
        self.db = queue.db
        self.claim = claim
        self.worker = worker
        self.heartbeat_interval = heartbeat_interval

    async def __call__(
        self, plan: SweepPlan, request: SweepRequest, parts: int, report: Progress
    ) -> VariantTotals:
        rows = await self._parts(plan, request, parts)
        part_jobs = [row.part_job_id for row in rows]
        done = 0
        try:
            while True:
                totals, states = await self._progress(part_jobs)
                done = len(totals)
                report(0.25 + 0.65 * done / len(rows), f"parts done: {done} of {len(rows)}")
                if done == len(rows):
                    return VariantTotals.concatenate(totals)
                for job_uuid, status, error in states:
                    if status == FAILED:
                        raise FilterBetsError(f"a part of the sweep failed: {error}")
                    if status in (INTERRUPTED, CANCELLED):
                        # Its worker died (or it was cancelled on its own): run it again.
                        with contextlib.suppress(FilterBetsError):
                            await self.queue.retry(job_uuid)
                claimed = await self.queue.claim(self.worker, job_ids=part_jobs)
                if claimed is not None:
                    await self._run_here(claimed, report)
                    continue
                await asyncio.sleep(_POLL_SECONDS)
        except BaseException:
            await self._cancel_unfinished(part_jobs)
            raise

    async def _parts(self, plan: SweepPlan, request: SweepRequest, parts: int) -> list[SweepPart]:
        """This sweep's parts: those of an earlier attempt when they were cut the same way
        from the same data, else new ones."""
        ranges = _ranges(plan.grid.size, parts)
        async with self.db.session() as session:
            found = list(
                (
                    await session.execute(
                        select(SweepPart)
                        .where(SweepPart.sweep_job_id == self.claim.id)
                        .order_by(SweepPart.part)
                    )
                ).scalars()
            )
        if (
            found
            and [(row.start, row.stop) for row in found] == ranges
            and all(row.data_version == plan.frame.version for row in found)
        ):
            return found
        body = {
            "kind": PART_KIND,
            "sweep_job": self.claim.id,
            "sweep_short_id": self.claim.short_id,
            "sweep": request.to_dict(),
            "stake": str(plan.pairs.stake),
            "data_version": plan.frame.version,
            "bet_days": plan.union_days.tolist(),
            "seasons": season_labels(plan),
            SNAPSHOT_KEY: None,
        }
        async with self.db.session() as session:
            if found:  # cut differently, or from older data: start the parts again
                await session.execute(
                    delete(BacktestJob).where(BacktestJob.id.in_([r.part_job_id for r in found]))
                )
            created = []
            for part, (start, stop) in enumerate(ranges):
                job = await self.queue.insert_job(
                    session,
                    self.claim.user_id,
                    body | {"part": part, "start": start, "stop": stop},
                )
                row = SweepPart(
                    sweep_job_id=self.claim.id,
                    part=part,
                    part_job_id=job,
                    start=start,
                    stop=stop,
                    data_version=plan.frame.version,
                )
                session.add(row)
                created.append(row)
        return created

    async def _progress(
        self, part_jobs: list[int]
    ) -> tuple[list[VariantTotals], list[tuple[uuid.UUID, str, str | None]]]:
        async with self.db.session() as session:
            totals = (
                await session.execute(
                    select(SweepPart.totals).where(
                        SweepPart.sweep_job_id == self.claim.id, SweepPart.totals.is_not(None)
                    )
                )
            ).scalars()
            parts = [VariantTotals.from_json(dict(value)) for value in totals]
            states = [
                (row.job_id, str(row.status), row.error)
                for row in (
                    await session.execute(
                        select(BacktestJob.job_id, BacktestJob.status, BacktestJob.error).where(
                            BacktestJob.id.in_(part_jobs)
                        )
                    )
                ).all()
            ]
        return parts, states

    async def _run_here(self, claim: Claim, report: Progress) -> None:
        """Run one of this sweep's parts in this job, keeping the part's own heartbeat."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.heartbeat_interval)
                with contextlib.suppress(Exception):
                    await self.queue.heartbeat(claim, 0.5, "running in its sweep's job")

        async def succeed(session: AsyncSession, _result: int | None) -> None:
            await self.queue.mark_succeeded_in(session, claim, None, "done")

        heart = asyncio.create_task(beat())
        try:
            await run_sweep_part(
                self.db,
                claim.user_id,
                claim.request,
                progress=lambda fraction, message: report(-1.0, message),
                before_commit=succeed,
            )
        except (BacktestCancelled, asyncio.CancelledError):
            with contextlib.suppress(Exception):
                await self.queue.finish(claim, CANCELLED, message="its sweep stopped")
            raise
        except Exception as exc:
            await self.queue.finish(claim, FAILED, message="failed", error=str(exc))
        finally:
            heart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heart

    async def _cancel_unfinished(self, part_jobs: list[int]) -> None:
        async with self.db.session() as session:
            await session.execute(
                update(BacktestJob)
                .where(BacktestJob.id.in_(part_jobs), BacktestJob.status.in_(("queued", "running")))
                .values(cancel_requested=True)
                .execution_options(synchronize_session=False)
            )
            await session.execute(
                update(BacktestJob)
                .where(BacktestJob.id.in_(part_jobs), BacktestJob.status == "queued")
                .values(status=CANCELLED, finished_at=utcnow(), message="its sweep stopped")
                .execution_options(synchronize_session=False)
            )


async def run_sweep_part(
    db: Database,
    user_id: int,
    request: Mapping[str, Any],
    *,
    progress: Progress,
    before_commit: BeforeCommit,
    is_cancelled: Callable[[], bool] | None = None,
) -> None:
    """Measure one part's variants and store its totals, in the commit that marks its job
    succeeded (`before_commit`)."""
    sweep = SweepRequest.from_dict(dict(request["sweep"]))
    start, stop = int(request["start"]), int(request["stop"])
    grid = parse_grid(sweep.grid)
    template = check_template(sweep.backtest.rules, grid)
    backtest = sweep.backtest
    columns = rule_columns(template) | market_columns(backtest.market, backtest.odds_source)
    frame = await frame_for(db, columns)
    if frame.version != int(request["data_version"]):
        raise DataChanged(
            "the data changed after this sweep was planned (an import?); run the sweep again"
        )
    plan = await asyncio.to_thread(
        prepare_plan, frame, backtest, template, grid, Decimal(str(request["stake"]))
    )
    set_periods(
        plan,
        np.array(request["bet_days"], dtype=np.int64),
        list(request["seasons"]),
        sweep.pbo_blocks,
    )
    count = stop - start
    every = max(1, count // 100)

    def measured(done: int) -> None:
        if is_cancelled is not None and is_cancelled():
            raise BacktestCancelled("cancelled")
        if (done - start) % every == 0:
            progress((done - start) / count, f"measuring: {done - start:,} of {count:,} variants")

    totals = await asyncio.to_thread(measure_variants, plan, start, stop, measured)
    async with db.session() as session:
        await session.execute(
            update(SweepPart)
            .where(
                SweepPart.sweep_job_id == int(request["sweep_job"]),
                SweepPart.part == int(request["part"]),
                SweepPart.totals.is_(None),
            )
            .values(totals=totals.to_json(), finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        await before_commit(session, None)  # type: ignore[arg-type]
