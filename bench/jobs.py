"""Job queue throughput: N small backtest jobs through W `filterbets worker` processes.

    uv run python bench/jobs.py                      # SQLite and PostgreSQL, 3 runs each
    uv run python bench/jobs.py --backend sqlite --jobs 200 --runs 1

Each run starts from a fresh database with a small synthetic data set, starts the workers,
queues every job in one go, and waits for the queue to drain. Prints one JSON object per run
and, per backend, one with the median of the runs: jobs/s (jobs over first submit to last
finish) and the median and 95th percentile queue latency (submit to start; with everything
queued at once it grows with the backlog, so the median is about half the drain time).
PostgreSQL comes from FILTERBETS_TEST_POSTGRES_URL (default postgresql://root@127.0.0.1:5432/
test); a throwaway database is created on that server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.synthetic import build
from core.backtest.request import BacktestRequest
from core.config import Settings, load_settings
from core.jobs.queue import FINISHED, JobQueue
from core.models import BacktestJob, BacktestResult
from core.services import FilterBetsService

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgresql://root@127.0.0.1:5432/test"
FIXTURES = 1_000
# A small job: about 40% of the fixtures pass the band, a few hundred bets stored.
SMALL_RULES = {"field": "odds.pinnacle.home", "op": "between", "value": [1.5, 3.0]}


async def _admin(server: str, statement: str) -> None:
    import asyncpg

    url = make_url(server)
    conn = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or None,
        password=url.password or None,
        database=url.database or "postgres",
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _start_workers(settings: Settings, count: int, concurrency: int, log: Path) -> list[Any]:
    url = settings.database_url.render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILTERBETS_")}
    command = [sys.executable, "-m", "core.cli", "--database-url", url, "worker"]
    procs = []
    for _ in range(count):
        procs.append(
            subprocess.Popen(
                [*command, "--concurrency", str(concurrency), "--poll", "0.05"],
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log.open("a"),
            )
        )
    return procs


def _stop_workers(procs: list[Any]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _wait_for_workers(log: Path, count: int, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while (text := await asyncio.to_thread(log.read_text)).count(": started on ") < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers did not start:\n{text}")
        await asyncio.sleep(0.1)


async def one_run(
    settings: Settings, jobs: int, worker_count: int, concurrency: int, workdir: Path
) -> dict[str, Any]:
    await build(settings, FIXTURES)
    service = await FilterBetsService.open(settings, migrate=False)
    log = workdir / f"workers-{uuid.uuid4().hex[:6]}.log"
    log.write_text("")
    procs = _start_workers(settings, worker_count, concurrency, log)
    try:
        await _wait_for_workers(log, worker_count)
        queue = JobQueue(service.db)
        request = BacktestRequest(market="home", rules=SMALL_RULES)
        await queue.submit_many(service.user_id, [request] * jobs)
        deadline = time.monotonic() + 1800
        while True:
            counts = await queue.counts()
            if sum(counts[s] for s in FINISHED) >= jobs:
                break
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"queue did not drain: {counts}\n{log.read_text()[-2000:]}")
            await asyncio.sleep(0.1)
    finally:
        _stop_workers(procs)
    try:
        async with service.db.session() as session:
            rows = (
                await session.execute(
                    select(
                        BacktestJob.status,
                        BacktestJob.attempt,
                        BacktestJob.created_at,
                        BacktestJob.started_at,
                        BacktestJob.finished_at,
                    )
                )
            ).all()
            results = (await session.execute(select(func.count(BacktestResult.id)))).scalar_one()
    finally:
        await service.close()
    succeeded = [row for row in rows if row.status == "succeeded"]
    first = min(row.created_at for row in rows)
    last = max(row.finished_at for row in rows)
    seconds = (last - first).total_seconds()
    latencies = sorted((row.started_at - row.created_at).total_seconds() for row in succeeded)
    runs = [(row.finished_at - row.started_at).total_seconds() for row in succeeded]
    return {
        "backend": settings.backend,
        "jobs": jobs,
        "workers": worker_count,
        "concurrency_per_worker": concurrency,
        "succeeded": len(succeeded),
        "claimed_more_than_once": sum(row.attempt != 1 for row in rows),
        "results_stored": int(results),
        "seconds": round(seconds, 3),
        "jobs_per_s": round(len(rows) / seconds, 1),
        "median_queue_latency_s": round(statistics.median(latencies), 3),
        "p95_queue_latency_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "median_job_s": round(statistics.median(runs), 4),
    }


async def bench_backend(backend: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    out = []
    with tempfile.TemporaryDirectory(prefix="filterbets-bench-jobs-") as tmp:
        workdir = Path(tmp)
        for run in range(args.runs):
            if backend == "sqlite":
                path = workdir / f"run{run}.db"
                settings = load_settings(f"sqlite:///{path}", "bench")
                result = await one_run(settings, args.jobs, args.workers, args.concurrency, workdir)
            else:
                server = (
                    os.environ.get("FILTERBETS_TEST_POSTGRES_URL", "").strip() or DEFAULT_SERVER
                )
                name = f"filterbets_bench_jobs_{uuid.uuid4().hex[:8]}"
                await _admin(server, f'CREATE DATABASE "{name}"')
                url = make_url(server).set(drivername="postgresql+asyncpg", database=name)
                settings = load_settings(url.render_as_string(hide_password=False), "bench")
                try:
                    result = await one_run(
                        settings, args.jobs, args.workers, args.concurrency, workdir
                    )
                finally:
                    await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            result["run"] = run + 1
            print(json.dumps(result), flush=True)
            out.append(result)
    return out


def _median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("seconds", "jobs_per_s", "median_queue_latency_s", "p95_queue_latency_s")
    summary = {k: runs[0][k] for k in ("backend", "jobs", "workers", "concurrency_per_worker")}
    summary["runs"] = len(runs)
    summary.update({f"{k}": round(statistics.median(r[k] for r in runs), 3) for k in keys})
    summary["all_exactly_once"] = all(
        r["succeeded"] == r["jobs"] == r["results_stored"] and r["claimed_more_than_once"] == 0
        for r in runs
    )
    return summary


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--jobs", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2, help="jobs at once per worker")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    summaries = []
    for backend in backends:
        runs = await bench_backend(backend, args)
        summaries.append(_median_of(runs))
    for summary in summaries:
        print(json.dumps({"median_of_runs": summary}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
