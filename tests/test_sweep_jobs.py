"""Sweeps as jobs on both backends: the same report as in process, split into parts that two
workers share, a part lost with its worker run again (never twice), and a cancel that stops
the sweep and its parts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from core.backtest import sweep as sweep_module
from core.backtest.request import BacktestRequest
from core.backtest.sweeps import SweepEngine, SweepRequest
from core.db import Database
from core.filters import FilterStore
from core.jobs.queue import CANCELLED, SUCCEEDED, JobInfo, JobQueue
from core.jobs.runner import JobRunner
from core.jobs.sweep_jobs import PART_KIND, submit_sweep
from core.models import BacktestJob, BacktestResult, SweepPart
from core.results import ResultStore
from core.services import FilterBetsService
from tests.factories import add_fixtures, random_fixture_specs
from tests.jobs_support import eventually

TEMPLATE = [
    {"field": "league", "op": "in", "value": [{"param": "league"}]},
    {"field": "odds.pinnacle.home", "op": "between", "value": [{"param": "lo"}, {"param": "hi"}]},
]
GRID = {"league": ["E0", "SP1", "D1", "N1"], "lo": [1.2, 1.6, 2.0], "hi": [2.2, 3.5, 9.0]}


def _request(**options: Any) -> SweepRequest:
    return SweepRequest(
        backtest=BacktestRequest(market="home", rules=TEMPLATE), grid=GRID, **options
    )


@pytest.fixture
async def runners() -> AsyncIterator[Callable[..., JobRunner]]:
    made: list[JobRunner] = []

    def make(db: Database, **kwargs: Any) -> JobRunner:
        runner = JobRunner(db, **({"poll_interval": 0.05, "concurrency": 1} | kwargs))
        made.append(runner)
        return runner

    yield make
    for runner in made:
        await runner.stop()


async def _finished(queue: JobQueue, info: JobInfo, within: float = 60.0) -> JobInfo:
    return await eventually(
        lambda: queue.get(info.job_id),
        lambda job: job.is_finished,
        within=within,
        what=f"job {info.short_id} to finish",
    )


def _same_report(stored: dict[str, Any], expected: dict[str, Any]) -> None:
    for key in ("trials", "walk_forward", "pbo", "pbo_detail", "best_in_sample_yield", "seasons"):
        assert stored[key] == expected[key], key


async def _parts(db: Database, sweep_job: int) -> list[tuple[int, str | None, int]]:
    """(part, worker, attempts) of each part of a sweep job."""
    async with db.session() as session:
        rows = await session.execute(
            select(SweepPart.part, BacktestJob.worker, BacktestJob.attempt)
            .join(BacktestJob, BacktestJob.id == SweepPart.part_job_id)
            .where(SweepPart.sweep_job_id == sweep_job)
            .order_by(SweepPart.part)
        )
        return [(int(r.part), r.worker, int(r.attempt)) for r in rows]


def _pace_parts(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Make each part of a sweep take a while, so that two workers can both get one."""
    measure = sweep_module.measure_variants

    def paced(plan: Any, start: int, stop: int, progress: Any = None) -> Any:
        time.sleep(seconds)
        return measure(plan, start, stop, progress)

    import core.jobs.sweep_jobs as jobs_module

    monkeypatch.setattr(jobs_module, "measure_variants", paced)


async def test_a_sweep_job_stores_the_same_report_as_in_process(
    service: FilterBetsService, runners: Callable[..., JobRunner]
) -> None:
    await add_fixtures(service, random_fixture_specs(200, seed=31))
    await FilterStore(service.db, service.user_id).create("band", TEMPLATE)
    request = SweepRequest(backtest=BacktestRequest(market="home", filter_ref="band"), grid=GRID)
    expected = await SweepEngine(service.db, service.user_id).run(request, store=False)
    queue = JobQueue(service.db)
    info = await submit_sweep(queue, service.user_id, request)
    assert info.kind == "sweep" and info.title == "sweep of 'band' on home"
    runner = runners(service.db)
    await runner.start()
    done = await _finished(queue, info)
    assert done.status == SUCCEEDED, done.error
    detail = await ResultStore(service.db, service.user_id).get(done.result_id or 0)
    assert detail.summary.kind == "sweep" and detail.summary.filter_name == "band"
    _same_report(detail.metrics, expected.report)
    variants = await ResultStore(service.db, service.user_id).variants(done.result_id or 0)
    assert [v.bets for v in variants] == [v["bets"] for v in expected.report["variants"]]


async def test_a_bad_sweep_is_refused_before_it_is_queued(service: FilterBetsService) -> None:
    from core.backtest.grid import GridError

    queue = JobQueue(service.db)
    with pytest.raises(GridError, match="parameter 'hi' is in the rules but not in the grid"):
        await submit_sweep(
            queue,
            service.user_id,
            SweepRequest(
                backtest=BacktestRequest(market="home", rules=TEMPLATE),
                grid={"league": ["E0"], "lo": [1.5]},
            ),
        )
    async with service.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(BacktestJob)) == 0


async def test_two_workers_share_one_sweep_and_give_the_same_answer_as_one(
    service: FilterBetsService,
    runners: Callable[..., JobRunner],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await add_fixtures(service, random_fixture_specs(200, seed=33))
    expected = await SweepEngine(service.db, service.user_id).run(_request(), store=False)
    _pace_parts(monkeypatch, 0.4)
    queue = JobQueue(service.db)
    info = await submit_sweep(queue, service.user_id, _request(parts=4))
    first = runners(service.db, worker_name="first")
    await first.start()
    # Once the sweep has queued its parts, a second worker joins.
    await eventually(
        lambda: queue.list(),
        lambda jobs: any(job.kind == PART_KIND for job in jobs),
        what="the sweep's parts to be queued",
    )
    second = runners(Database(service.settings), worker_name="second")
    await second.start()
    done = await _finished(queue, info)
    assert done.status == SUCCEEDED, done.error
    parts = await _parts(service.db, done.id)
    assert [part for part, _, _ in parts] == [0, 1, 2, 3]
    assert {worker for _, worker, _ in parts} == {"first", "second"}
    assert all(attempts == 1 for _, _, attempts in parts)
    detail = await ResultStore(service.db, service.user_id).get(done.result_id or 0)
    _same_report(detail.metrics, expected.report)
    variants = await ResultStore(service.db, service.user_id).variants(done.result_id or 0)
    assert [(v.params, v.bets, float(v.profit), v.p_value, v.q_value) for v in variants] == [
        (v["params"], v["bets"], v["profit"], v["p_value"], v["q_value"])
        for v in expected.report["variants"]
    ]
    await second.db.dispose()


async def test_a_part_lost_with_its_worker_is_run_again_not_twice(
    service: FilterBetsService,
    runners: Callable[..., JobRunner],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await add_fixtures(service, random_fixture_specs(150, seed=35))
    expected = await SweepEngine(service.db, service.user_id).run(_request(), store=False)
    _pace_parts(monkeypatch, 0.4)
    queue = JobQueue(service.db)
    info = await submit_sweep(queue, service.user_id, _request(parts=3))
    runner = runners(service.db, stale_after=1.5, heartbeat_interval=0.25)
    await runner.start()
    jobs = await eventually(
        lambda: queue.list(),
        lambda jobs: any(job.kind == PART_KIND for job in jobs),
        what="the sweep's parts to be queued",
    )
    # A worker takes the last part and dies at once: no heartbeat, no result.
    last = max((job for job in jobs if job.kind == PART_KIND), key=lambda job: job.id)
    lost = await queue.claim("dies", job_ids=[last.id])
    assert lost is not None, "the sweep's own job took every part first"
    done = await _finished(queue, info, within=90)
    assert done.status == SUCCEEDED, done.error
    again = await queue.get(lost.job_id)
    assert again.status == SUCCEEDED and again.worker != "dies" and again.attempt == 2
    async with service.db.session() as session:
        written = await session.scalar(
            select(func.count()).select_from(SweepPart).where(SweepPart.totals.is_not(None))
        )
        results = await session.scalar(select(func.count()).select_from(BacktestResult))
    assert written == 3 and results == 1
    detail = await ResultStore(service.db, service.user_id).get(done.result_id or 0)
    _same_report(detail.metrics, expected.report)


async def test_cancelling_a_sweep_stops_it_and_its_parts_leaving_no_result(
    service: FilterBetsService,
    runners: Callable[..., JobRunner],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await add_fixtures(service, random_fixture_specs(120, seed=37))
    _pace_parts(monkeypatch, 5.0)
    queue = JobQueue(service.db)
    info = await submit_sweep(queue, service.user_id, _request(parts=3))
    runner = runners(service.db)
    await runner.start()
    await eventually(
        lambda: queue.list(),
        lambda jobs: any(job.kind == PART_KIND and job.status == "running" for job in jobs),
        what="a part to be running",
    )
    await queue.cancel(info.job_id)
    done = await _finished(queue, info)
    assert done.status == CANCELLED and done.result_id is None
    jobs = await queue.list()
    parts = [job for job in jobs if job.kind == PART_KIND]
    assert parts and all(job.status in (CANCELLED, SUCCEEDED) for job in parts)
    async with service.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(BacktestResult)) == 0
