"""The in-process runner on SQLite and PostgreSQL: real progress, concurrency, cancel within
a second (counted in the runner's own progress events) with nothing stored, bad requests,
release on stop, reaping on start."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from core.backtest.request import BacktestRequest
from core.db import Database
from core.filters import FilterStore
from core.jobs.queue import CANCELLED, FAILED, QUEUED, SUCCEEDED, JobInfo, JobQueue
from core.jobs.runner import JobEvent, JobRunner
from core.models import BacktestResult
from core.services import FilterBetsService
from tests import jobs_support
from tests.jobs_support import (
    AWAY_2_TO_3,
    assert_results_match_jobs,
    big_request,
    eventually,
    seed_small,
    small_request,
    table_counts,
)

# The big data set's fixtures, shared with the fault tests.
big_sqlite_template = jobs_support.big_sqlite_template
big_postgres_url = jobs_support.big_postgres_url
big_settings = jobs_support.big_settings
big_service = jobs_support.big_service

RunnerFactory = Callable[..., JobRunner]


@pytest.fixture
async def make_runner() -> AsyncIterator[RunnerFactory]:
    made: list[JobRunner] = []

    def make(db: Database, **kwargs: Any) -> JobRunner:
        runner = JobRunner(db, **({"poll_interval": 0.05} | kwargs))
        made.append(runner)
        return runner

    yield make
    for runner in made:
        await runner.stop()


class Events:
    """Every JobEvent with the monotonic time it arrived."""

    def __init__(self, runner: JobRunner) -> None:
        self.seen: list[tuple[float, JobEvent]] = []
        runner.subscribe(lambda event: self.seen.append((time.monotonic(), event)))

    def of(self, info: JobInfo) -> list[tuple[float, JobEvent]]:
        return [(t, e) for t, e in self.seen if e.job_id == info.job_id]

    def final(self, info: JobInfo) -> JobEvent | None:
        ends = [e for _, e in self.of(info) if e.status != "running"]
        return ends[-1] if ends else None


async def _finished(queue: JobQueue, info: JobInfo, within: float = 60.0) -> JobInfo:
    return await eventually(
        lambda: queue.get(info.job_id),
        lambda job: job.is_finished,
        within=within,
        what=f"job {info.short_id} to finish",
    )


async def test_a_job_runs_its_snapshot_and_links_the_result(
    service: FilterBetsService, make_runner: RunnerFactory
) -> None:
    await seed_small(service)
    store = FilterStore(service.db, service.user_id)
    saved = await store.create("away band", AWAY_2_TO_3, stake="2.50")
    queue = JobQueue(service.db)
    info = await queue.submit(service.user_id, BacktestRequest(market="away", filter_ref=saved.id))
    # Edits after submit do not reach the queued job.
    await store.update(saved.id, rules={"field": "odds.pinnacle.away", "op": ">", "value": 50})

    runner = make_runner(service.db)
    events = Events(runner)
    await runner.start()
    done = await _finished(queue, info)

    assert done.status == SUCCEEDED, done.error
    assert done.progress == 1.0 and done.result_id is not None and done.bets == 3
    assert done.worker == runner.worker_name and done.attempt == 1
    async with service.db.session() as session:
        result = (
            await session.execute(select(BacktestResult).where(BacktestResult.id == done.result_id))
        ).scalar_one()
    assert (result.filter_id, result.filter_name) == (saved.id, "away band")
    assert result.metrics["staked"] == pytest.approx(3 * 2.5)  # the filter's stake, as saved
    final = await eventually(
        lambda: asyncio.sleep(0, events.final(info)), lambda e: e is not None, what="final event"
    )
    assert final is not None and final.status == SUCCEEDED and final.result_id == done.result_id
    progress = [e.progress for _, e in events.of(info)]
    assert progress == sorted(progress) and progress[-1] == 1.0


async def test_a_broken_subscriber_is_logged_and_neither_stops_the_job_nor_the_others(
    service: FilterBetsService, make_runner: RunnerFactory
) -> None:
    await seed_small(service)
    queue = JobQueue(service.db)
    info = await queue.submit(service.user_id, small_request())
    lines: list[str] = []
    runner = make_runner(service.db, log=lines.append)

    def broken(event: JobEvent) -> None:
        raise RuntimeError("subscriber bug")

    runner.subscribe(broken)
    events = Events(runner)  # subscribed after the broken one: still hears every event
    unheard: list[JobEvent] = []
    unsubscribe = runner.subscribe(unheard.append)
    unsubscribe()
    unsubscribe()  # twice is harmless
    await runner.start()
    done = await _finished(queue, info)
    assert done.status == SUCCEEDED, done.error
    final = await eventually(
        lambda: asyncio.sleep(0, events.final(info)), lambda e: e is not None, what="final event"
    )
    assert final is not None and final.status == SUCCEEDED
    assert any("job event subscriber failed: subscriber bug" in line for line in lines), lines
    assert unheard == []


async def test_a_deleted_filter_keeps_its_name_on_the_result(
    service: FilterBetsService, make_runner: RunnerFactory
) -> None:
    await seed_small(service)
    store = FilterStore(service.db, service.user_id)
    saved = await store.create("gone soon", AWAY_2_TO_3)
    queue = JobQueue(service.db)
    info = await queue.submit(
        service.user_id, BacktestRequest(market="away", filter_ref="gone soon")
    )
    await store.delete(saved.id)
    await make_runner(service.db).start()
    done = await _finished(queue, info)
    assert done.status == SUCCEEDED and done.filter_name == "gone soon"
    async with service.db.session() as session:
        result = (await session.execute(select(BacktestResult))).scalar_one()
    assert (result.filter_id, result.filter_name) == (None, "gone soon")


async def test_no_more_than_concurrency_jobs_run_at_once(
    service: FilterBetsService, make_runner: RunnerFactory
) -> None:
    await seed_small(service)
    queue = JobQueue(service.db)
    runner = make_runner(service.db, concurrency=2)
    running: set[Any] = set()
    most = 0

    def track(event: JobEvent) -> None:
        nonlocal most
        if event.status == "running":
            running.add(event.job_id)
        else:
            running.discard(event.job_id)
        most = max(most, len(running))

    runner.subscribe(track)
    jobs = [await queue.submit(service.user_id, small_request()) for _ in range(6)]
    await runner.start()
    for info in jobs:
        assert (await _finished(queue, info)).status == SUCCEEDED
    assert most == 2
    await assert_results_match_jobs(service.db)


async def test_bad_requests_fail_with_one_clear_line_and_the_runner_goes_on(
    service: FilterBetsService, make_runner: RunnerFactory
) -> None:
    await seed_small(service)
    queue = JobQueue(service.db)
    unknown = await queue.submit_raw(service.user_id, {"market": "away", "filter": "nope"})
    bad_rules = await queue.submit_raw(
        service.user_id, {"market": "away", "rules": {"field": "no.such", "op": ">", "value": 1}}
    )
    garbage = await queue.submit_raw(service.user_id, {"what": "ever"})
    bad_league = await queue.submit_raw(service.user_id, small_request(leagues=("XX9",)).to_dict())
    good = await queue.submit(service.user_id, small_request())
    await make_runner(service.db).start()

    expected = {
        unknown.job_id: "no filter named 'nope'",
        bad_rules.job_id: "no.such",
        garbage.job_id: "missing field 'market'",
        bad_league.job_id: "no league 'XX9'",
    }
    for info in (unknown, bad_rules, garbage, bad_league):
        done = await _finished(queue, info)
        assert done.status == FAILED and done.attempt == 1
        assert done.error is not None and expected[info.job_id] in done.error
        assert "\n" not in done.error and "Traceback" not in done.error
    assert (await _finished(queue, good)).status == SUCCEEDED
    assert (await table_counts(service.db))["results"] == 1


async def test_a_long_in_list_fails_its_job_at_once_as_a_bad_rule(
    service: FilterBetsService, make_runner: RunnerFactory
) -> None:
    """Over 32,767 values, PostgreSQL's driver refused the statement with an InterfaceError,
    which the runner took for a lost connection: three attempts, then "connection lost"."""
    await seed_small(service)
    queue = JobQueue(service.db)
    teams = [f"team {n}" for n in range(40_000)]
    info = await queue.submit_raw(
        service.user_id,
        small_request(rules={"field": "home_team", "op": "in", "value": teams}).to_dict(),
    )
    await make_runner(service.db).start()
    done = await _finished(queue, info)
    assert (done.status, done.attempt) == (FAILED, 1)
    assert done.error == "rules: op 'in' takes at most 1,000 values, got 40,000"


async def test_a_statement_the_database_refuses_fails_its_job_at_once(
    service: FilterBetsService, make_runner: RunnerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused statement is not a lost connection: no retries, the database's reason."""
    from sqlalchemy import literal, text
    from sqlalchemy import select as select_

    from core.jobs import runner as runner_module

    async def refused(engine: Any, *_args: Any, **_kwargs: Any) -> Any:
        # PostgreSQL's driver takes at most 32,767 arguments (an InterfaceError); SQLite
        # reports a missing table as an OperationalError, as it does a locked file.
        statement: Any = (
            select_(literal(1)).where(literal(5).in_(list(range(40_000))))
            if engine.db.dialect_name == "postgresql"
            else text("SELECT * FROM no_such_table")
        )
        async with engine.db.session() as session:
            await session.execute(statement)

    monkeypatch.setattr(runner_module._SnapshotEngine, "run", refused)
    queue = JobQueue(service.db)
    info = await queue.submit(service.user_id, small_request())
    await make_runner(service.db).start()
    done = await _finished(queue, info)
    assert (done.status, done.attempt) == (FAILED, 1)
    backend = service.settings.describe_backend()
    assert done.error is not None
    assert done.error.startswith(f"the database refused a statement on {backend}: "), done.error
    reason = done.error.removeprefix(f"the database refused a statement on {backend}: ")
    assert reason in (
        "the number of query arguments cannot exceed 32767",
        "no such table: no_such_table",
    )


async def test_an_unexpected_error_fails_the_job_with_details(
    service: FilterBetsService, make_runner: RunnerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.jobs import runner as runner_module

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(runner_module._SnapshotEngine, "run", broken)
    queue = JobQueue(service.db)
    info = await queue.submit(service.user_id, small_request())
    await make_runner(service.db).start()
    done = await _finished(queue, info)
    assert done.status == FAILED
    assert done.error == "ZeroDivisionError: division by zero"
    assert done.error_details is not None and "Traceback" in done.error_details


async def test_start_marks_stale_jobs_interrupted(
    service: FilterBetsService, make_runner: RunnerFactory
) -> None:
    from tests.test_jobs_queue import _age_heartbeat

    queue = JobQueue(service.db)
    info = await queue.submit(service.user_id, small_request())
    assert await queue.claim("a-dead-worker") is not None
    await _age_heartbeat(service, info.job_id, 120)
    reaped = await make_runner(service.db).start()
    assert [(job.job_id, job.status) for job in reaped] == [(info.job_id, "interrupted")]


TICK = 0.02
"""The period of the loop's ticker in these tests: what their timings are measured in."""


async def test_long_jobs_publish_real_progress_every_250_ms_and_the_loop_stays_free(
    big_service: FilterBetsService, make_runner: RunnerFactory
) -> None:
    queue = JobQueue(big_service.db)
    runner = make_runner(big_service.db)
    events = Events(runner)
    ticks: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(TICK)
            ticks.append(time.monotonic() - before)

    ticking = asyncio.create_task(ticker())
    info = await queue.submit(big_service.user_id, big_request())
    await runner.start()
    done = await _finished(queue, info)
    stop.set()
    await ticking
    assert done.status == SUCCEEDED, done.error

    running = [(t, e) for t, e in events.of(info) if e.status == "running"]
    span = running[-1][0] - running[0][0]
    # At least three 250 ms intervals to judge the cadence by.
    assert span > 0.75, f"the job took {span:.2f} s; the data set is too small to judge"
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(running)]
    # The cadence in ticks of the same loop, not against a clock: a gap is 0.2 s and a tick
    # 20 ms, each plus the same wake-up delay, so a busier machine only brings the typical
    # gap nearer to the typical tick. Ten ticks are due; 25% more are allowed.
    limit = 1.25 * (runner.publish_interval / TICK) * statistics.median(ticks)
    assert statistics.median(gaps) <= limit, (limit, gaps)
    progress = [e.progress for _, e in running]
    assert progress == sorted(progress)
    # Real phases, not one jump: the paced settling (0.5) is seen, and so is a later phase or
    # ledger chunk before the end (storing is fast, so how many of those show varies).
    assert progress[0] < 0.5 and 0.5 in progress, progress
    assert any(0.5 < p < 1.0 for p in progress), progress
    # A job on the loop would hold it for its whole settling (1.8 s paced): no pause comes
    # near half the job's span.
    stall = max(ticks) - TICK
    assert stall < span / 2, f"the event loop stalled for {stall:.2f} s of {span:.2f} s"


@pytest.mark.parametrize("via", ["runner", "queue"])
async def test_cancelling_a_running_job_stops_it_within_a_second_leaving_nothing(
    big_service: FilterBetsService, make_runner: RunnerFactory, via: str
) -> None:
    queue = JobQueue(big_service.db)
    runner = make_runner(big_service.db)
    events = Events(runner)
    info = await queue.submit(big_service.user_id, big_request())
    await runner.start()
    await eventually(
        lambda: asyncio.sleep(0, runner.running),
        lambda running: any(e.progress >= 0.05 for e in running),
        what="the job to be under way",
        interval=0.01,
    )
    asked = time.monotonic()
    if via == "runner":
        await runner.cancel(info.job_id)
    else:  # as `filterbets jobs cancel` from another process would
        await queue.cancel(info.job_id)
    final = await eventually(
        lambda: asyncio.sleep(0, events.final(info)),
        lambda e: e is not None,
        what="the job to stop",
        interval=0.01,
    )
    ended = next(t for t, e in events.of(info) if e.status != "running")
    assert final is not None and final.status == CANCELLED
    # Within a second, counted in the runner's own progress events (every 0.2 s), which a
    # loaded machine slows as much as the cancel: at most five go out before it lands. The
    # paced job has well over a second left to run here, so one that ran on would send more.
    published = sum(asked < t < ended for t, e in events.of(info) if e.status == "running")
    assert published <= 5, f"the cancel took {ended - asked:.2f} s, {published} progress events"
    done = await queue.get(info.job_id)
    assert done.status == CANCELLED and done.result_id is None and done.finished_at
    counts = await table_counts(big_service.db)
    assert (counts["results"], counts["bets"]) == (0, 0)


async def test_stop_puts_running_jobs_back_in_the_queue(
    big_service: FilterBetsService, make_runner: RunnerFactory
) -> None:
    queue = JobQueue(big_service.db)
    first = make_runner(big_service.db, worker_name="first")
    info = await queue.submit(big_service.user_id, big_request(stake=Decimal("2")))
    await first.start()
    await eventually(
        lambda: asyncio.sleep(0, first.running), bool, what="the job to start", interval=0.01
    )
    await first.stop(grace=0)
    released = await queue.get(info.job_id)
    assert released.status == QUEUED and "released by first" in released.message
    assert (await table_counts(big_service.db))["results"] == 0

    await make_runner(big_service.db, worker_name="second").start()
    done = await _finished(queue, info)
    assert done.status == SUCCEEDED and done.attempt == 2 and done.worker == "second"
    await assert_results_match_jobs(big_service.db)
