"""`filterbets worker`: a headless JobRunner that runs until SIGTERM or SIGINT.

Start as many as you like, on one host or many, against the same database: each claims
queued jobs atomically. On the first signal a worker stops claiming, gives its running jobs
`grace` seconds to finish, puts the rest back in the queue and exits 0; a second signal
skips what is left of the grace period.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import sys
from typing import TextIO

from core.config import Settings
from core.jobs.queue import DEFAULT_STALE_AFTER
from core.jobs.runner import JobRunner, default_worker_name

DEFAULT_CONCURRENCY = 2
DEFAULT_GRACE = 5.0


async def run_worker(
    settings: Settings,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    stale_after: float = DEFAULT_STALE_AFTER,
    grace: float = DEFAULT_GRACE,
    poll_interval: float = 0.25,
    heartbeat_interval: float = 0.25,
    stream: TextIO | None = None,
) -> int:
    from core.services import FilterBetsService

    out = stream if stream is not None else sys.stderr
    name = default_worker_name()

    def log(line: str) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{stamp} worker {name}: {line}", file=out, flush=True)

    service = await FilterBetsService.open(settings)
    repaired = await service.repair_features()
    if repaired is not None:
        log(repaired)
    runner = JobRunner(
        service.db,
        concurrency=concurrency,
        worker_name=name,
        stale_after=stale_after,
        poll_interval=poll_interval,
        heartbeat_interval=heartbeat_interval,
        log=log,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals_seen = 0

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            log(f"{signal.Signals(signum).name}: finishing or releasing running jobs")
            stop.set()
        else:
            log(f"{signal.Signals(signum).name} again: releasing running jobs now")
            runner.hurry()

    handled = (signal.SIGTERM, signal.SIGINT)
    for signum in handled:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await runner.start()
        log(
            f"started on {settings.describe_backend()}, concurrency {concurrency},"
            f" stale after {stale_after:g} s"
        )
        await stop.wait()
        await runner.stop(grace=grace)
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        await service.close()
    log(f"stopped after {runner.jobs_done} job{'s' if runner.jobs_done != 1 else ''}")
    return 0
