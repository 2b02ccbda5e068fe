"""The job runner: claims queued jobs and runs up to N of them at once on this event loop.

The dashboard runs one in a child process it owns (core.jobs.child), or in its own process
on request; `filterbets worker` is the same runner without a UI.
Backtests do their CPU work in threads (the engine settles and sizes through
asyncio.to_thread), so the loop stays free for the UI. Around each running job:

* progress events go to subscribers every `publish_interval` (0.2 s), with the engine's
  real progress (the fraction of the work its phases and stored ledger chunks have done);
* the heartbeat (progress, message, time) is written every `heartbeat_interval` (0.25 s),
  so whoever reads the job from the database (`jobs show`, a dashboard elsewhere) sees its
  progress at the same pace;
* the job's flags are read every `watch_interval` (0.2 s): a cancel asked from anywhere
  stops the job at the engine's next progress check, or after `cancel_grace` seconds by
  cancelling the engine task, so a cancel lands within a second;
* stale jobs (no heartbeat for `stale_after` seconds) are marked interrupted, on start and
  every `stale_after / 3` seconds.

A job succeeds in the same commit that stores its result and ledger (see
JobQueue.mark_succeeded_in). Any other ending is written afterwards, fenced on the claim, and
retried while the database is unreachable; the runner itself never dies of a database outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.backtest.engine import BacktestCancelled, BacktestEngine, ResolvedFilter
from core.backtest.request import BacktestRequest
from core.backtest.sweeps import SweepEngine, sweep_request_from_dict
from core.candles.request import StrategyRequest, is_strategy_request
from core.candles.service import StrategyCancelled, run_strategy_job
from core.db import Database
from core.dberrors import describe_database_error, is_transient
from core.errors import FilterBetsError
from core.jobs.queue import (
    CANCELLED,
    DEFAULT_STALE_AFTER,
    FAILED,
    MAX_ATTEMPTS,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    Claim,
    FilterSnapshot,
    JobInfo,
    JobLost,
    JobQueue,
)
from core.jobs.sweep_jobs import PART_KIND, SWEEP_KIND, SweepCoordinator, run_sweep_part
from core.models import Filter

Log = Callable[[str], None]

# How a job's run ended, before it is written down.
_RELEASED = "released"
_LOST = "lost"


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _consume(task: asyncio.Task[Any]) -> None:
    """Retrieve an abandoned task's outcome so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    line = text.splitlines()[0] if text else ""
    return line or type(exc).__name__


@dataclass(frozen=True)
class JobEvent:
    """What the UI shows for a job this runner handles. Sent on claim, every
    `publish_interval` while it runs, and once when it ends."""

    job_id: uuid.UUID
    user_id: int
    status: str
    """running, then succeeded, failed, cancelled, queued (released) or lost."""
    progress: float
    message: str
    elapsed: float
    error: str | None = None
    result_id: int | None = None

    @property
    def short_id(self) -> str:
        return self.job_id.hex[:8]


@dataclass
class _Outcome:
    kind: str
    message: str
    error: str | None = None
    details: str | None = None


class EventSubscribers:
    """The callbacks that hear a runner's JobEvents (the in-process one and the child's)."""

    def __init__(self, on_error: Callable[[Exception], None] | None = None) -> None:
        self._callbacks: list[Callable[[JobEvent], None]] = []
        self._on_error = on_error

    def add(self, callback: Callable[[JobEvent], None]) -> Callable[[], None]:
        """Subscribe; returns the function that unsubscribes (safe to call twice)."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    def emit(self, event: JobEvent) -> None:
        for callback in list(self._callbacks):
            try:
                callback(event)
            except Exception as exc:  # a broken subscriber must not stop the jobs
                if self._on_error is not None:
                    self._on_error(exc)


class _SnapshotEngine(BacktestEngine):
    """Runs a job's rules snapshot while keeping the saved filter's name, link and stake."""

    def __init__(self, db: Database, user_id: int, snapshot: FilterSnapshot | None) -> None:
        super().__init__(db, user_id)
        self.snapshot = snapshot

    async def _resolve(self, request: BacktestRequest, *, params: bool) -> ResolvedFilter:
        resolved = await super()._resolve(request, params=params)
        if self.snapshot is None or request.rules is None:
            return resolved
        filter_id = self.snapshot.filter_id
        if filter_id is not None:
            async with self.db.session() as session:
                found = await session.execute(select(Filter.id).where(Filter.id == filter_id))
                if found.scalar() is None:
                    filter_id = None  # deleted since submit: keep the name, drop the link
        return ResolvedFilter(resolved.rules, filter_id, self.snapshot.name, self.snapshot.stake)


class _Running:
    """A job this runner holds: its live progress and why (if at all) it must stop."""

    def __init__(self, claim: Claim) -> None:
        self.claim = claim
        self.started = time.monotonic()
        self.progress = 0.0
        self.message = "starting"
        self.stop_reason: str | None = None
        self.stop_event = asyncio.Event()
        self.committing = False
        self.result_id: int | None = None

    def on_progress(self, fraction: float, message: str) -> None:
        self.progress = max(self.progress, min(max(fraction, 0.0), 1.0))
        self.message = message

    def should_abort(self) -> bool:
        return self.stop_reason is not None and not self.committing

    def request_stop(self, reason: str) -> None:
        """lost beats cancel beats release: never write to a job we no longer hold."""
        rank = {_RELEASED: 0, CANCELLED: 1, _LOST: 2}
        if self.stop_reason is None or rank[reason] > rank[self.stop_reason]:
            self.stop_reason = reason
        self.stop_event.set()

    def event(self, status: str, error: str | None = None) -> JobEvent:
        return JobEvent(
            job_id=self.claim.job_id,
            user_id=self.claim.user_id,
            status=status,
            progress=self.progress,
            message=self.message,
            elapsed=time.monotonic() - self.started,
            error=error,
            result_id=self.result_id,
        )


class JobRunner:
    """Claims and runs queued backtest jobs, `concurrency` at a time.

    runner = JobRunner(db, concurrency=2)
    await runner.start()            # reaps stale jobs, then claims in the background
    unsubscribe = runner.subscribe(on_event)
    info = await runner.submit(user_id, request)
    await runner.cancel(info.job_id)
    await runner.stop(grace=5)      # running jobs get 5 s, then go back to the queue
    """

    def __init__(
        self,
        db: Database,
        *,
        concurrency: int = 2,
        worker_name: str | None = None,
        user_id: int | None = None,
        stale_after: float = DEFAULT_STALE_AFTER,
        poll_interval: float = 0.25,
        heartbeat_interval: float = 0.25,
        watch_interval: float = 0.2,
        publish_interval: float = 0.2,
        cancel_grace: float = 0.1,
        stop_timeout: float = 10.0,
        log: Log | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.db = db
        self.queue = JobQueue(db)
        self.concurrency = concurrency
        self.worker_name = worker_name or default_worker_name()
        self.user_id = user_id
        self.stale_after = stale_after
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.watch_interval = watch_interval
        self.publish_interval = publish_interval
        self.cancel_grace = cancel_grace
        self.stop_timeout = stop_timeout
        self._log = log or (lambda _line: None)
        self._handles: dict[int, _Running] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._unwinding: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._subscribers = EventSubscribers(
            lambda exc: self._log(f"error: job event subscriber failed: {_first_line(exc)}")
        )
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()
        self._stopping = False
        self._abandon = False
        self._started = False
        self._db_down_since: float | None = None
        self.jobs_done = 0

    # -- public API ----------------------------------------------------------------------

    @property
    def running(self) -> list[JobEvent]:
        """A snapshot of the jobs running here now."""
        return [handle.event(RUNNING) for handle in self._handles.values()]

    @property
    def is_running(self) -> bool:
        return self._started and not self._stopping

    def subscribe(self, callback: Callable[[JobEvent], None]) -> Callable[[], None]:
        """Call `callback` on the loop for every JobEvent; returns an unsubscribe function."""
        return self._subscribers.add(callback)

    async def start(self) -> list[JobInfo]:
        """Mark stale jobs interrupted, then start claiming. Returns the jobs it reaped."""
        if self._started:
            raise RuntimeError("this runner was already started")
        self._started = True
        reaped: list[JobInfo] = []
        try:
            reaped = await self.queue.reap_stale(self.stale_after)
        except Exception as exc:
            if not is_transient(exc):
                raise
            self._db_trouble(exc)
        for info in reaped:
            self._log(f"job {info.short_id} {info.status}: {info.error or info.message}")
        self._loops = [
            asyncio.create_task(self._dispatch(), name="jobs-dispatch"),
            asyncio.create_task(self._watch(), name="jobs-watch"),
            asyncio.create_task(self._heartbeats(), name="jobs-heartbeat"),
            asyncio.create_task(self._publish(), name="jobs-publish"),
        ]
        return reaped

    def wake(self) -> None:
        """Look at the queue now rather than at the next poll."""
        self._wake.set()

    async def submit(self, user_id: int, request: BacktestRequest) -> JobInfo:
        info = await self.queue.submit(user_id, request)
        self.wake()
        return info

    async def cancel(self, ref: str | uuid.UUID, *, user_id: int | None = None) -> JobInfo:
        """Cancel a job anywhere; one running here stops without waiting for the next watch."""
        info = await self.queue.cancel(ref, user_id=user_id)
        handle = self._handles.get(info.id)
        if handle is not None and handle.claim.attempt == info.attempt:
            handle.request_stop(CANCELLED)
        return info

    def hurry(self) -> None:
        """Cut short the grace period of a stop in progress (a second Ctrl-C)."""
        self._hurry.set()

    async def stop(self, grace: float = 0.0) -> None:
        """Stop claiming; give running jobs `grace` seconds to finish, then put them back in
        the queue. Returns once every job is written down (or `stop_timeout` passes)."""
        if not self._started or self._stopping:
            return
        self._stopping = True
        self._wake.set()
        dispatcher = self._loops[0] if self._loops else None
        if dispatcher is not None:
            await asyncio.wait({dispatcher})
        deadline = time.monotonic() + grace
        hurry = asyncio.ensure_future(self._hurry.wait())
        try:
            while self._tasks and not self._hurry.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                await asyncio.wait(
                    {*self._tasks, hurry}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
        finally:
            hurry.cancel()
        for handle in list(self._handles.values()):
            handle.request_stop(_RELEASED)
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=self.stop_timeout)
            if pending:
                # The database is gone: leave the jobs running for a reaper to mark later.
                self._abandon = True
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending)
        if self._unwinding:
            await asyncio.wait(set(self._unwinding), timeout=self.stop_timeout)
        for loop_task in self._loops:
            loop_task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)

    # -- the background loops ------------------------------------------------------------

    async def _dispatch(self) -> None:
        next_reap = time.monotonic() + self.stale_after / 3
        backoff = self.poll_interval
        while not self._stopping:
            self._wake.clear()
            claimed = False
            try:
                touched = False
                if time.monotonic() >= next_reap:
                    next_reap = time.monotonic() + self.stale_after / 3
                    for info in await self.queue.reap_stale(self.stale_after):
                        self._log(f"job {info.short_id} {info.status}: {info.error or 'stale'}")
                    touched = True
                if len(self._handles) < self.concurrency:
                    claim = await self.queue.claim(self.worker_name, user_id=self.user_id)
                    touched = True
                    if claim is not None:
                        claimed = True
                        self._start_job(claim)
                if touched:
                    self._db_ok()
                    backoff = self.poll_interval
            except Exception as exc:
                self._db_trouble(exc)
                backoff = min(max(backoff * 2, 0.5), 5.0)
            if claimed and len(self._handles) < self.concurrency:
                continue  # there may be more waiting: claim again at once
            wait = backoff if self._db_down_since is not None else self.poll_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _watch(self) -> None:
        """Read the flags of the jobs running here: cancel requests, lost claims."""
        while True:
            await asyncio.sleep(self.watch_interval)
            handles = list(self._handles.values())
            if not handles:
                continue
            try:
                flags = await self.queue.flags(h.claim.id for h in handles)
            except Exception as exc:
                self._db_trouble(exc)
                continue
            for handle in handles:
                found = flags.get(handle.claim.id)
                if (
                    found is None
                    or found.attempt != handle.claim.attempt
                    or (found.status != RUNNING and not handle.committing)
                ):
                    handle.request_stop(_LOST)
                elif found.cancel_requested:
                    handle.request_stop(CANCELLED)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            for handle in list(self._handles.values()):
                if handle.committing:
                    continue
                try:
                    ack = await self.queue.heartbeat(handle.claim, handle.progress, handle.message)
                except Exception as exc:
                    self._db_trouble(exc)
                    break
                if ack is None and not handle.committing:
                    handle.request_stop(_LOST)
                elif ack:
                    handle.request_stop(CANCELLED)

    async def _publish(self) -> None:
        while True:
            await asyncio.sleep(self.publish_interval)
            for handle in list(self._handles.values()):
                self._emit(handle.event(RUNNING))

    # -- one job -------------------------------------------------------------------------

    def _start_job(self, claim: Claim) -> None:
        handle = _Running(claim)
        self._handles[claim.id] = handle
        task = asyncio.create_task(self._job(handle), name=f"job-{claim.short_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        kind = str(claim.request.get("kind") or "backtest")
        market = claim.request.get("market") or (claim.request.get("backtest") or {}).get("market")
        if is_strategy_request(claim.request):
            title = f"strategy {claim.request.get('strategy', '?')}"
        elif isinstance(claim.request.get("strategy"), dict):
            title = f"{kind}, strategy {claim.request['strategy'].get('strategy', '?')}"
        else:
            title = f"{kind}, market {market}" if market else kind
        self._log(f"job {claim.short_id} started (attempt {claim.attempt}, {title})")
        self._emit(handle.event(RUNNING))

    async def _job(self, handle: _Running) -> None:
        claim = handle.claim
        try:
            outcome = await self._execute(handle)
            status = await self._write(handle, outcome)
            self.jobs_done += 1
            seconds = time.monotonic() - handle.started
            detail = outcome.error or outcome.message
            self._log(f"job {claim.short_id} {status} after {seconds:.1f} s: {detail}")
            self._emit(handle.event(status, outcome.error))
        finally:
            self._handles.pop(claim.id, None)
            self._wake.set()

    async def _execute(self, handle: _Running) -> _Outcome:
        claim = handle.claim
        try:
            work = self._work(handle)
        except (FilterBetsError, ValueError, TypeError) as exc:
            return _Outcome(FAILED, "failed", error=_first_line(exc))

        async def before_commit(session: AsyncSession, result_id: int | None) -> None:
            if handle.stop_reason in (CANCELLED, _LOST):
                raise BacktestCancelled("cancelled")
            done = "done" if result_id is None else f"done: result {result_id}"
            await self.queue.mark_succeeded_in(session, claim, result_id, done)
            handle.committing = True
            handle.result_id = result_id

        run = asyncio.create_task(work(before_commit))
        stop_wait = asyncio.ensure_future(handle.stop_event.wait())
        try:
            await asyncio.wait({run, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if not run.done():
                # Asked to stop: the engine checks at its next progress report...
                await asyncio.wait({run}, timeout=self.cancel_grace)
                if not run.done() and not handle.committing:
                    run.cancel()  # ...or is cut off mid-phase; its transaction rolls back.
                    await asyncio.wait({run}, timeout=0.05)
                if not run.done() and not handle.committing:
                    # Still unwinding (a query finishing on its connection). It can no longer
                    # store anything: the job's status is about to leave 'running', and
                    # success is fenced on it. Let it finish in the background.
                    self._unwinding.add(run)
                    run.add_done_callback(self._unwinding.discard)
                    run.add_done_callback(_consume)
                else:
                    await asyncio.wait({run})
        except asyncio.CancelledError:
            run.cancel()
            raise
        finally:
            stop_wait.cancel()

        if not run.done() or run.cancelled():
            error: BaseException | None = asyncio.CancelledError()
        else:
            error = run.exception()
        if error is None:
            handle.progress = 1.0
            handle.message = (
                "done" if handle.result_id is None else f"done: result {handle.result_id}"
            )
            return _Outcome(SUCCEEDED, handle.message)
        return await self._classify(handle, error)

    def _work(self, handle: _Running) -> Callable[[Any], Coroutine[Any, Any, Any]]:
        """What the claimed job runs, by its kind: a backtest, a sweep, a sweep's part or a
        candle strategy run. Raises for a request that could never run."""
        claim = handle.claim
        kind = str(claim.request.get("kind") or "backtest")
        progress, cancelled = handle.on_progress, handle.should_abort
        if is_strategy_request(claim.request):
            strategy = StrategyRequest.from_dict(claim.request)
            return lambda before_commit: run_strategy_job(
                self.db,
                claim.user_id,
                strategy,
                progress=progress,
                is_cancelled=cancelled,
                before_commit=before_commit,
            )
        snapshot = FilterSnapshot.from_request(claim.request)
        engine = _SnapshotEngine(self.db, claim.user_id, snapshot)
        if kind == "backtest":
            request = BacktestRequest.from_dict(claim.request)
            return lambda before_commit: engine.run(
                request, progress=progress, is_cancelled=cancelled, before_commit=before_commit
            )
        if kind == SWEEP_KIND:
            sweep = sweep_request_from_dict(claim.request)
            coordinator = SweepCoordinator(
                self.queue, claim, self.worker_name, self.heartbeat_interval
            )
            sweeps = SweepEngine(self.db, claim.user_id, backtests=engine, distribute=coordinator)
            return lambda before_commit: sweeps.run(
                sweep, progress=progress, is_cancelled=cancelled, before_commit=before_commit
            )
        if kind == PART_KIND:
            return lambda before_commit: run_sweep_part(
                self.db,
                claim.user_id,
                claim.request,
                progress=progress,
                is_cancelled=cancelled,
                before_commit=before_commit,
            )
        raise ValueError(f"unknown job kind {kind!r}")

    async def _classify(self, handle: _Running, error: BaseException) -> _Outcome:
        claim = handle.claim
        reason = handle.stop_reason
        if reason == _LOST:
            return _Outcome(_LOST, "taken over")
        if reason == CANCELLED:
            return _Outcome(CANCELLED, "cancelled")
        if reason == _RELEASED:
            return _Outcome(_RELEASED, f"released by {self.worker_name} on shutdown; queued again")
        if isinstance(
            error, JobLost | BacktestCancelled | StrategyCancelled | asyncio.CancelledError
        ):
            # Refused at commit with no local reason yet: the watch loop will say which.
            flags = await self._retrying(lambda: self.queue.flags([claim.id]))
            found = (flags or {}).get(claim.id)
            if found and found.status == RUNNING and found.attempt == claim.attempt:
                return _Outcome(CANCELLED, "cancelled")
            return _Outcome(_LOST, "taken over")
        if is_transient(error):
            line = _first_line(error)
            if claim.attempt < MAX_ATTEMPTS:
                return _Outcome(_RELEASED, f"database connection lost ({line}); queued again")
            return _Outcome(
                FAILED,
                "failed",
                error=f"database connection lost {claim.attempt} times; last: {line}",
                details="".join(traceback.format_exception(error)),
            )
        if isinstance(error, FilterBetsError):
            return _Outcome(FAILED, "failed", error=_first_line(error))
        refused = describe_database_error(error, self.db.settings.describe_backend())
        if refused is not None:  # a statement the database refused: it would be refused again
            return _Outcome(
                FAILED,
                "failed",
                error=refused,
                details="".join(traceback.format_exception(error)),
            )
        return _Outcome(
            FAILED,
            "failed",
            error=f"{type(error).__name__}: {_first_line(error)}",
            details="".join(traceback.format_exception(error)),
        )

    async def _write(self, handle: _Running, outcome: _Outcome) -> str:
        """Record how the job ended; returns the status it now has (as far as we know)."""
        claim = handle.claim
        if outcome.kind in (SUCCEEDED, _LOST):
            return outcome.kind
        handle.message = outcome.message
        if outcome.kind == _RELEASED:
            written = await self._retrying(lambda: self.queue.release(claim, outcome.message))
            return QUEUED if written else _LOST
        written = await self._retrying(
            lambda: self.queue.finish(
                claim,
                outcome.kind,
                message=outcome.message,
                error=outcome.error,
                error_details=outcome.details,
            )
        )
        return outcome.kind if written else _LOST

    async def _retrying(self, action: Callable[[], Awaitable[Any]]) -> Any:
        """Run a database write, retrying while the database is unreachable."""
        delay = 0.25
        while True:
            try:
                value = await action()
            except Exception as exc:
                if not is_transient(exc) or self._abandon:
                    self._log(f"error: could not record a job's end: {_first_line(exc)}")
                    return None
                self._db_trouble(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._db_ok()
            return value

    # -- helpers -------------------------------------------------------------------------

    def _emit(self, event: JobEvent) -> None:
        self._subscribers.emit(event)

    def _db_trouble(self, exc: BaseException) -> None:
        if not is_transient(exc):
            self._log(f"error: {type(exc).__name__}: {_first_line(exc)}")
            return
        if self._db_down_since is None:
            self._db_down_since = time.monotonic()
            self._log(f"database unavailable: {_first_line(exc)}; retrying")

    def _db_ok(self) -> None:
        if self._db_down_since is not None:
            seconds = time.monotonic() - self._db_down_since
            self._db_down_since = None
            self._log(f"database reachable again after {seconds:.1f} s")
