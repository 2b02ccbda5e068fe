"""Fault tests with real `filterbets worker` processes: kill -9, SIGTERM/SIGINT, bad requests,
four workers sharing 200 jobs, and PostgreSQL stopped under a running job."""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from core.config import Settings, load_settings
from core.jobs.queue import FAILED, INTERRUPTED, QUEUED, RUNNING, SUCCEEDED, JobInfo, JobQueue
from core.models import BacktestJob
from core.services import FilterBetsService
from tests import jobs_support
from tests.conftest import _admin, _free_port, _require_postgres
from tests.jobs_support import (
    WorkerProcess,
    assert_results_match_jobs,
    big_request,
    eventually,
    pace_jobs,
    seed_small,
    small_request,
    table_counts,
)

big_sqlite_template = jobs_support.big_sqlite_template
big_postgres_url = jobs_support.big_postgres_url
big_settings = jobs_support.big_settings
big_service = jobs_support.big_service
workers = jobs_support.workers

Workers = Callable[..., WorkerProcess]
# Heartbeats 5x a second so a test sees a job's progress soon; stale after 2 s so a killed
# worker's job is reaped quickly (10 missed heartbeats: no false alarms on a busy machine).
FAST = ("--heartbeat", "0.2", "--stale-after", "2", "--poll", "0.1")


async def _job(queue: JobQueue, info: JobInfo) -> JobInfo:
    return await queue.get(info.job_id)


async def _until(
    queue: JobQueue,
    info: JobInfo,
    accept: Callable[[JobInfo], bool],
    what: str,
    within: float = 60.0,
) -> JobInfo:
    return await eventually(lambda: _job(queue, info), accept, within=within, what=what)


def _under_way(job: JobInfo) -> bool:
    if job.is_finished:
        raise AssertionError(f"job {job.short_id} {job.status} before the fault: {job.error}")
    return job.status == RUNNING and job.progress >= 0.5


async def test_kill_9_mid_job_leaves_it_interrupted_and_a_retry_succeeds_exactly_once(
    big_service: FilterBetsService, big_settings: Settings, workers: Workers
) -> None:
    queue = JobQueue(big_service.db)
    doomed = workers(big_settings, "--concurrency", "1", *FAST)
    info = await queue.submit(big_service.user_id, big_request())
    await _until(queue, info, _under_way, "the job to be half done", within=90)
    doomed.kill9()

    survivor = workers(big_settings, "--concurrency", "1", *FAST)
    interrupted = await _until(
        queue, info, lambda j: j.status == INTERRUPTED, "the job to be marked interrupted"
    )
    assert "no heartbeat" in (interrupted.error or "")
    assert interrupted.result_id is None
    counts = await table_counts(big_service.db)
    assert (counts["results"], counts["bets"]) == (0, 0), "a partial result survived kill -9"

    await queue.retry(info.job_id)
    done = await _until(queue, info, lambda j: j.is_finished, "the retry to finish", within=90)
    assert done.status == SUCCEEDED and done.attempt == 2, done.error
    assert str(survivor.pid) in (done.worker or "")
    counts = await table_counts(big_service.db)
    assert counts["results"] == 1 and counts["bets"] == done.bets
    await assert_results_match_jobs(big_service.db)


@pytest.mark.parametrize(
    ("signum", "grace", "expected"),
    [(signal.SIGTERM, "0", QUEUED), (signal.SIGINT, "60", SUCCEEDED)],
    ids=["sigterm-releases", "sigint-finishes"],
)
async def test_a_signalled_worker_finishes_or_releases_its_job_and_exits_0(
    big_service: FilterBetsService,
    big_settings: Settings,
    workers: Workers,
    signum: int,
    grace: str,
    expected: str,
) -> None:
    queue = JobQueue(big_service.db)
    worker = workers(big_settings, "--concurrency", "1", "--grace", grace, *FAST)
    info = await queue.submit(big_service.user_id, big_request())
    await _until(queue, info, _under_way, "the job to be half done", within=90)
    worker.signal(signum)
    assert await asyncio.to_thread(worker.wait, 60) == 0, worker.log()
    assert "stopped after" in worker.log()

    job = await _job(queue, info)
    assert job.status == expected, (job.status, job.error, worker.log())
    if expected == QUEUED:
        assert "released by" in job.message
        assert (await table_counts(big_service.db))["results"] == 0
        workers(big_settings, "--concurrency", "1", *FAST)
        job = await _until(queue, info, lambda j: j.is_finished, "another worker", within=90)
        assert job.status == SUCCEEDED and job.attempt == 2
    assert (await table_counts(big_service.db))["results"] == 1
    await assert_results_match_jobs(big_service.db)


async def test_bad_requests_fail_once_and_the_worker_keeps_claiming(
    service: FilterBetsService, settings: Settings, workers: Workers
) -> None:
    await seed_small(service)
    queue = JobQueue(service.db)
    bad = [
        await queue.submit_raw(service.user_id, {"market": "away", "filter": "unknown"}),
        await queue.submit_raw(
            service.user_id, {"market": "away", "rules": {"all": [{"field": "nope"}]}}
        ),
        await queue.submit_raw(service.user_id, {"market": "sideways", "rules": {"all": []}}),
    ]
    worker = workers(settings, "--concurrency", "2", *FAST)
    for info in bad:
        done = await _until(queue, info, lambda j: j.is_finished, "a bad job to fail")
        assert done.status == FAILED and done.attempt == 1, done
        assert done.error and "\n" not in done.error and "Traceback" not in done.error
    good = await queue.submit(service.user_id, small_request())
    done = await _until(queue, good, lambda j: j.is_finished, "the good job")
    assert done.status == SUCCEEDED
    assert worker.alive()
    # No crash loop: nothing was claimed twice.
    async with service.db.session() as session:
        attempts = (await session.execute(select(BacktestJob.attempt))).scalars().all()
    assert sorted(attempts) == [1, 1, 1, 1]


async def test_four_workers_run_200_jobs_exactly_once(
    service: FilterBetsService, settings: Settings, workers: Workers
) -> None:
    await seed_small(service)
    queue = JobQueue(service.db)
    started = [workers(settings, "--concurrency", "2", "--poll", "0.05") for _ in range(4)]
    await queue.submit_many(service.user_id, [small_request() for _ in range(200)])

    async def finished() -> int:
        counts = await queue.counts()
        return sum(counts[s] for s in ("succeeded", "failed", "cancelled", "interrupted"))

    await eventually(finished, lambda n: n == 200, within=100, interval=0.25, what="200 jobs")
    jobs = await queue.list()
    assert {job.status for job in jobs} == {SUCCEEDED}
    assert all(job.attempt == 1 for job in jobs)
    assert len({job.result_id for job in jobs}) == 200
    counts = await table_counts(service.db)
    assert counts == {"results": 200, "bets": 600, "jobs": 200}
    await assert_results_match_jobs(service.db)
    assert len({job.worker for job in jobs}) >= 2, "one worker ran everything"
    assert all(worker.alive() for worker in started)


# -- PostgreSQL going away under a running job --------------------------------------------


def _postgres_bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


class _RestartableCluster:
    """A private PostgreSQL cluster this test may stop and start at will."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="filterbets-pg-fault-"))
        self.port = _free_port()
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            pwd.getpwnam("postgres")  # KeyError: no account to run initdb as
            shutil.chown(self.dir, "postgres")
            self.run_as = ["runuser", "-u", "postgres", "--"]

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.run_as, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def create(self) -> str:
        initdb = [str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-A", "trust"]
        subprocess.run(
            [*self.run_as, *initdb, "-U", "postgres"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.start()
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "-w", "-l", str(self.dir / "log"), "start")

    def halt(self) -> None:
        """Stop now: open connections are cut, as when a server goes down."""
        self._ctl("-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        pg_ctl = [str(self.bin / "pg_ctl"), "-D", str(self.dir / "data")]
        subprocess.run(
            [*self.run_as, *pg_ctl, "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def restartable_cluster() -> Iterator[tuple[_RestartableCluster, str]]:
    bin_dir = _postgres_bin_dir()
    reason = "no pg_ctl/initdb (PATH or /usr/lib/postgresql/*/bin) to run a private cluster"
    if bin_dir is None:
        if _require_postgres():
            pytest.fail(f"PostgreSQL is required (FILTERBETS_REQUIRE_POSTGRES=1): {reason}")
        pytest.skip(reason)
    cluster = _RestartableCluster(bin_dir)
    try:
        server = cluster.create()
        yield cluster, server
    finally:
        cluster.destroy()


@pytest.fixture
async def cluster_service(
    restartable_cluster: tuple[_RestartableCluster, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[_RestartableCluster, Settings, FilterBetsService]]:
    from bench.synthetic import build

    # Paced, so the job is still running when the test stops the server (30,000 fixtures
    # at 100 µs: 3 s of settling, on a machine of any speed).
    pace_jobs(monkeypatch, microseconds=100.0)

    cluster, server = restartable_cluster
    name = f"filterbets_fault_{uuid.uuid4().hex[:6]}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    settings = load_settings(f"postgresql://postgres@127.0.0.1:{cluster.port}/{name}", "tester")
    await build(settings, 30_000)
    service = await FilterBetsService.open(settings, migrate=False)
    try:
        yield cluster, settings, service
    finally:
        await service.close()


async def test_postgres_stopped_mid_job_then_back_the_worker_survives_and_resumes(
    cluster_service: tuple[_RestartableCluster, Settings, FilterBetsService], workers: Workers
) -> None:
    cluster, settings, service = cluster_service
    queue = JobQueue(service.db)
    worker = workers(settings, "--concurrency", "1", *FAST)
    info = await queue.submit(service.user_id, big_request())
    await _until(
        queue,
        info,
        lambda j: j.status == RUNNING and j.progress >= 0.05,
        "the job to start",
        within=90,
    )
    await asyncio.to_thread(cluster.halt)
    await service.db.engine.dispose()  # our own pooled connections died with the server
    await eventually(
        lambda: asyncio.sleep(0, worker.log()),
        lambda log: "database unavailable" in log,
        within=30,
        what="the worker to notice the outage",
    )
    await asyncio.sleep(1.0)  # stay down a moment: the worker's retries must meet a dead server
    assert worker.alive(), worker.log()
    await asyncio.to_thread(cluster.start)

    done = await _until(queue, info, lambda j: j.is_finished, "the job to end", within=90)
    if done.status == FAILED:
        assert done.error and "database" in done.error and "\n" not in done.error
    else:
        assert done.status == SUCCEEDED, (done.status, done.error, worker.log())
        # 2: released when the database went away, then run again. 1: the outage fell while
        # the job settled in memory, and it stored its result once the server was back.
        # Either way exactly one result (assert_results_match_jobs below).
        assert done.attempt in (1, 2)
    assert worker.alive(), worker.log()
    assert "database reachable again" in worker.log()

    after = await queue.submit(service.user_id, big_request(market="away"))
    resumed = await _until(queue, after, lambda j: j.is_finished, "a job after the outage")
    assert resumed.status == SUCCEEDED and str(worker.pid) in (resumed.worker or "")
    await assert_results_match_jobs(service.db)

    worker.signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.wait, 30) == 0, worker.log()


async def test_a_worker_started_while_postgres_is_down_waits_for_it(
    restartable_cluster: tuple[_RestartableCluster, str], workers: Workers
) -> None:
    """It exited with 'cannot use database'; now it says so once, waits, and runs the queue
    when the server answers, as it does after an outage that starts later."""
    cluster, server = restartable_cluster
    name = f"filterbets_late_{uuid.uuid4().hex[:6]}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    settings = load_settings(f"postgresql://postgres@127.0.0.1:{cluster.port}/{name}", "tester")
    service = await FilterBetsService.open(settings)
    try:
        await seed_small(service)
        info = await JobQueue(service.db).submit(service.user_id, small_request())
    finally:
        await service.close()
    await asyncio.to_thread(cluster.halt)

    worker = workers(settings, *FAST)
    await eventually(
        lambda: asyncio.sleep(0, worker.log()),
        lambda log: "database unavailable" in log,
        within=60,
        what="the worker to say the database is down",
    )
    assert (
        f"database unavailable: cannot connect to {settings.describe_backend()}: connection"
        " refused (is the server running?); retrying until it answers"
    ) in worker.log()
    assert worker.alive(), worker.log()

    await asyncio.to_thread(cluster.start)
    service = await FilterBetsService.open(settings, migrate=False)
    try:
        done = await _until(JobQueue(service.db), info, lambda j: j.is_finished, "the job")
    finally:
        await service.close()
    assert (done.status, done.attempt) == (SUCCEEDED, 1), (done.error, worker.log())
    assert "database reachable again" in worker.log()
    worker.signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.wait, 30) == 0, worker.log()
