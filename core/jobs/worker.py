"""`filterbets worker`: a headless JobRunner that runs until SIGTERM or SIGINT.

Start as many as you like, on one host or many, against the same database: each claims
queued jobs atomically. On the first signal a worker stops claiming, gives its running jobs
`grace` seconds to finish, puts the rest back in the queue and exits 0; a second signal
skips what is left of the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from core.config import Settings
from core.dberrors import describe_database_error, is_transient
from core.jobs.queue import DEFAULT_STALE_AFTER
from core.jobs.runner import JobRunner, default_worker_name

DEFAULT_CONCURRENCY = 2
DEFAULT_GRACE = 5.0
MAX_RETRY_DELAY = 5.0
"""Longest wait between tries to reach a database that is down when the worker starts."""

if TYPE_CHECKING:
    from core.services import FilterBetsService


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
    out = stream if stream is not None else sys.stderr
    name = default_worker_name()

    def log(line: str) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{stamp} worker {name}: {line}", file=out, flush=True)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals_seen = 0
    runner: JobRunner | None = None

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            log(f"{signal.Signals(signum).name}: finishing or releasing running jobs")
            stop.set()
        else:
            log(f"{signal.Signals(signum).name} again: releasing running jobs now")
            if runner is not None:
                runner.hurry()

    handled = (signal.SIGTERM, signal.SIGINT)
    for signum in handled:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        service = await _open_when_reachable(settings, log, stop)
        if service is None:
            log("stopped before the database was reachable")
            return 0
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
        try:
            await runner.start()
            log(
                f"started on {settings.describe_backend()}, concurrency {concurrency},"
                f" stale after {stale_after:g} s"
            )
            await stop.wait()
            await runner.stop(grace=grace)
        finally:
            await service.close()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
    log(f"stopped after {runner.jobs_done} job{'s' if runner.jobs_done != 1 else ''}")
    return 0


async def _open_when_reachable(
    settings: Settings, log: Callable[[str], None], stop: asyncio.Event
) -> FilterBetsService | None:
    """Open the service, waiting while the database cannot be reached (a worker started
    before its server, or during a restart), as a running worker waits out an outage.
    None when stopped first. Any other failure (a refused login, a bad URL) is raised."""
    from core.services import FilterBetsService

    down_since: float | None = None
    delay = 0.5
    while True:
        try:
            service = await FilterBetsService.open(settings)
        except Exception as exc:
            if not is_transient(exc):
                raise
            if down_since is None:
                down_since = time.monotonic()
                reason = describe_database_error(exc, settings.describe_backend())
                log(f"database unavailable: {reason}; retrying until it answers")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            if stop.is_set():
                return None
            delay = min(delay * 2, MAX_RETRY_DELAY)
            continue
        if down_since is not None:
            log(f"database reachable again after {time.monotonic() - down_since:.1f} s")
        return service
