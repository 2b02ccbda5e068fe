"""The dashboard's job runner in a child process, so backtests never hold the UI's GIL.

The dashboard (`ChildRunner`, in the app's process) starts `python -m core.jobs.child`: a
JobRunner limited to the dashboard user's jobs, in a process of its own. A backtest's
settlement and metrics are CPU-bound Python; run in the app's process they hold the GIL for
milliseconds at a time, and a key press waited 30-300 ms for the screen. In a child the
UI thread only ever waits for the operating system's scheduler.

The two talk over the child's standard streams, one JSON object a line:

* parent -> child (stdin): ``{"op": "wake"}`` (look at the queue now), ``{"op": "cancel",
  "job": HEX}`` (stop a job running there without waiting for its next flags check),
  ``{"op": "stop", "grace": S}`` and ``{"op": "hurry"}``. End of file (the app quit, or
  died: a lost SSH link, a kill) means stop with the child's default grace.
* child -> parent (stdout): ``{"kind": "ready", "reaped": [HEX, ...]}`` once it claims, then
  ``{"kind": "event", ...}`` for every JobEvent (see core.jobs.runner), then ``{"kind":
  "stopped", "jobs_done": N}``. Its log lines go to stderr, which the parent keeps the tail of
  for error messages.

Stopping puts running jobs back in the queue (JobRunner.stop), in the same fenced writes a
`filterbets worker` uses: a job is never left half-written, and whatever a kill interrupts
is marked interrupted by the next runner's reaper. The child runs in its own session, so a
terminal's signals (Ctrl-C, a hang-up) reach only the app, which then stops the child in
order, or closes its stdin by dying.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from core.backtest.request import BacktestRequest
from core.config import ENV_DATABASE_URL, Settings, load_settings
from core.db import Database
from core.errors import FilterBetsError
from core.jobs.queue import RUNNING, JobError, JobInfo, JobQueue
from core.jobs.runner import EventSubscribers, JobEvent, JobRunner, default_worker_name

DEFAULT_GRACE = 0.5
"""Seconds running jobs get to finish when the app goes away without saying how long."""
STARTUP_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
"""Seconds after the grace period before a child that has not exited is terminated."""
STDERR_LINES = 20
NICENESS = 10
"""How much the child lowers its scheduling priority: on a busy machine the operating system
runs the UI first when a key arrives, and the backtest gets the rest of the CPU."""
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
"""The folder holding `core`, put on the child's PYTHONPATH (it runs `-m core.jobs.child`)."""

ExitCallback = Callable[[str], None]


def event_to_json(event: JobEvent) -> dict[str, Any]:
    return {
        "kind": "event",
        "job_id": event.job_id.hex,
        "user_id": event.user_id,
        "status": event.status,
        "progress": event.progress,
        "message": event.message,
        "elapsed": event.elapsed,
        "error": event.error,
        "result_id": event.result_id,
    }


def event_from_json(data: dict[str, Any]) -> JobEvent:
    return JobEvent(
        job_id=uuid.UUID(hex=str(data["job_id"])),
        user_id=int(data["user_id"]),
        status=str(data["status"]),
        progress=float(data["progress"]),
        message=str(data["message"]),
        elapsed=float(data["elapsed"]),
        error=None if data.get("error") is None else str(data["error"]),
        result_id=None if data.get("result_id") is None else int(data["result_id"]),
    )


# -- the parent's side ------------------------------------------------------------------


class ChildRunner:
    """Runs the dashboard's jobs in a child process; used like a JobRunner.

    runner = ChildRunner(settings, db, user_id=7, concurrency=2, on_exit=report)
    reaped = await runner.start()     # the child is up and claiming
    unsubscribe = runner.subscribe(on_event)
    info = await runner.submit(7, request)
    await runner.cancel(info.job_id, user_id=7)
    await runner.stop(grace=0.5)      # running jobs get 0.5 s, then go back to the queue

    Events arrive on the caller's event loop, as from a JobRunner. `on_exit` is called with
    a one-line reason if the child ends without being asked to.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        user_id: int,
        concurrency: int = 2,
        on_exit: ExitCallback | None = None,
        python: str | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.settings = settings
        self.queue = JobQueue(db)
        self.user_id = user_id
        self.concurrency = concurrency
        self.on_exit = on_exit
        self.python = python or sys.executable
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.process: asyncio.subprocess.Process | None = None
        self._subscribers = EventSubscribers()
        self._running: dict[uuid.UUID, JobEvent] = {}
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._ready: asyncio.Future[list[str]] | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._stopping = False
        self.jobs_done = 0

    # -- the JobRunner API the app uses ------------------------------------------------------

    @property
    def running(self) -> list[JobEvent]:
        """The jobs running in the child now, as of its latest events."""
        return list(self._running.values())

    @property
    def is_running(self) -> bool:
        return self.process is not None and self.process.returncode is None and not self._stopping

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def subscribe(self, callback: Callable[[JobEvent], None]) -> Callable[[], None]:
        return self._subscribers.add(callback)

    async def start(self) -> list[JobInfo]:
        """Start the child and wait until it claims; returns the stale jobs it marked
        interrupted on the way (as JobRunner.start does)."""
        if self.process is not None:
            raise RuntimeError("this runner was already started")
        env = dict(os.environ)
        env[ENV_DATABASE_URL] = self.settings.database_url.render_as_string(hide_password=False)
        root = _PACKAGE_ROOT
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.process = await asyncio.create_subprocess_exec(
            self.python,
            "-m",
            "core.jobs.child",
            "--user-id",
            str(self.user_id),
            "--concurrency",
            str(self.concurrency),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
            limit=1 << 20,
        )
        if self._stopping:  # stop() came while the process was being created
            self._stopping = False
            await self._stop_process(self.process, 0.0)
            raise FilterBetsError("the job runner was stopped while it started")
        self._ready = asyncio.get_running_loop().create_future()
        self._readers = [
            asyncio.create_task(self._read_stdout(), name="job-child-stdout"),
            asyncio.create_task(self._read_stderr(), name="job-child-stderr"),
        ]
        try:
            reaped = await asyncio.wait_for(asyncio.shield(self._ready), self.startup_timeout)
        except BaseException:
            if not self._ready.done():
                self._ready.cancel()  # nobody waits for it any more
            await self.stop(grace=0.0)
            raise
        infos = []
        for job in reaped:
            with contextlib.suppress(JobError):
                infos.append(await self.queue.get(job))
        return infos

    def wake(self) -> None:
        self._send({"op": "wake"})

    def hurry(self) -> None:
        self._send({"op": "hurry"})

    async def submit(self, user_id: int, request: BacktestRequest) -> JobInfo:
        info = await self.queue.submit(user_id, request)
        self.wake()
        return info

    async def cancel(self, ref: str | uuid.UUID, *, user_id: int | None = None) -> JobInfo:
        """Cancel a job anywhere; one running in the child stops without waiting for its
        next flags check."""
        info = await self.queue.cancel(ref, user_id=user_id)
        if info.job_id in self._running:
            self._send({"op": "cancel", "job": info.job_id.hex})
        return info

    async def stop(self, grace: float = 0.0) -> None:
        """Ask the child to stop (running jobs get `grace` seconds, then go back to the queue)
        and wait for it to exit; terminate it if it does not within `stop_timeout` more."""
        process = self.process
        if self._stopping:
            return
        self._stopping = True
        if process is not None:
            await self._stop_process(process, grace)

    async def _stop_process(self, process: asyncio.subprocess.Process, grace: float) -> None:
        self._stopping = True
        self._send({"op": "stop", "grace": grace})
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), grace + self.stop_timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 2.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)
        self._running.clear()

    # -- the streams ---------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        process = self.process
        if process is None or process.stdin is None or process.stdin.is_closing():
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            process.stdin.write((json.dumps(message) + "\n").encode())

    async def _read_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        stream = self.process.stdout
        while line := await stream.readline():
            try:
                data = json.loads(line)
            except ValueError:
                self._stderr.append(line.decode(errors="replace").rstrip())
                continue
            if isinstance(data, dict):
                self._handle(data)
        await self._ended()

    async def _read_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        stream = self.process.stderr
        while line := await stream.readline():
            self._stderr.append(line.decode(errors="replace").rstrip())

    def _handle(self, data: dict[str, Any]) -> None:
        kind = data.get("kind")
        if kind == "ready":
            if self._ready is not None and not self._ready.done():
                self._ready.set_result([str(job) for job in data.get("reaped", [])])
        elif kind == "event":
            self._publish(event_from_json(data))
        elif kind == "stopped":
            self.jobs_done = int(data.get("jobs_done", 0))

    def _publish(self, event: JobEvent) -> None:
        if event.status == RUNNING:
            self._running[event.job_id] = event
        else:
            self._running.pop(event.job_id, None)
        self._subscribers.emit(event)

    async def _ended(self) -> None:
        """The child closed its stdout: it exited (or is about to)."""
        assert self.process is not None
        code = await self.process.wait()
        # Let the stderr reader take the last lines (a traceback) first.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._readers[1:]), 1.0)
        reason = self._exit_reason(code)
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(FilterBetsError(reason))
        # Its running jobs are released, or marked interrupted by the next reaper.
        for event in list(self._running.values()):
            self._publish(
                JobEvent(event.job_id, event.user_id, "lost", event.progress, reason, event.elapsed)
            )
        if not self._stopping and self.on_exit is not None:
            self.on_exit(reason)

    def _exit_reason(self, code: int) -> str:
        if code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        else:
            how = f"exited with code {code}"
        last = next((line for line in reversed(self._stderr) if line.strip()), "")
        return f"the job runner process {how}" + (f": {last.strip()}" if last else "")


# -- the child's side -------------------------------------------------------------------


class _Protocol:
    """The child's end: JSON lines on a private copy of stdout (stray prints go to stderr)."""

    def __init__(self) -> None:
        self.out: IO[str] = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        self.broken = False

    def send(self, message: dict[str, Any]) -> None:
        if self.broken:
            return
        try:
            self.out.write(json.dumps(message) + "\n")
            self.out.flush()
        except (BrokenPipeError, ValueError):
            self.broken = True


async def serve(
    settings: Settings,
    *,
    user_id: int,
    concurrency: int,
    grace: float = DEFAULT_GRACE,
    poll_interval: float = 0.25,
    nice: int = NICENESS,
) -> int:
    """The child: run `user_id`'s jobs until told to stop, stdin ends, or SIGTERM."""
    protocol = _Protocol()
    with contextlib.suppress(OSError, AttributeError):  # no os.nice on Windows
        os.nice(nice)
    name = default_worker_name()

    def log(line: str) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{stamp} dashboard runner {name}: {line}", file=sys.stderr, flush=True)

    db = Database(settings)
    runner = JobRunner(
        db,
        concurrency=concurrency,
        worker_name=name,
        user_id=user_id,
        poll_interval=poll_interval,
        log=log,
    )
    stop = asyncio.Event()
    stop_grace = grace

    def on_event(event: JobEvent) -> None:
        protocol.send(event_to_json(event))
        if protocol.broken:
            stop.set()  # the app is gone

    async def cancel(job: str) -> None:
        with contextlib.suppress(JobError):
            await runner.cancel(uuid.UUID(hex=job))

    async def read_commands() -> None:
        nonlocal stop_grace
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        pending: set[asyncio.Task[None]] = set()
        while line := await reader.readline():
            try:
                command = json.loads(line)
                op = command["op"]
            except (ValueError, KeyError, TypeError):
                log(f"ignored a command it cannot read: {line[:80]!r}")
                continue
            if op == "wake":
                runner.wake()
            elif op == "cancel":
                task = asyncio.create_task(cancel(str(command["job"])))
                pending.add(task)
                task.add_done_callback(pending.discard)
            elif op == "hurry":
                runner.hurry()
            elif op == "stop":
                stop_grace = float(command.get("grace", grace))
                stop.set()
        stop.set()  # end of file: the app quit or died

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner.subscribe(on_event)
    commands = asyncio.create_task(read_commands(), name="job-child-commands")
    try:
        reaped = await runner.start()
        protocol.send({"kind": "ready", "reaped": [info.job_id.hex for info in reaped]})
        log(f"started on {settings.describe_backend()}, user {user_id}, concurrency {concurrency}")
        await stop.wait()
        started = time.monotonic()
        await runner.stop(grace=stop_grace)
        log(f"stopped in {time.monotonic() - started:.1f} s after {runner.jobs_done} job(s)")
        protocol.send({"kind": "stopped", "jobs_done": runner.jobs_done})
    finally:
        commands.cancel()
        await asyncio.gather(commands, return_exceptions=True)
        await db.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.jobs.child",
        description="The dashboard's job runner (started by the dashboard; the database URL"
        f" comes from {ENV_DATABASE_URL}).",
    )
    parser.add_argument("--user-id", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--grace", type=float, default=DEFAULT_GRACE)
    parser.add_argument("--nice", type=int, default=NICENESS)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        return asyncio.run(
            serve(
                settings,
                user_id=args.user_id,
                concurrency=args.concurrency,
                grace=args.grace,
                nice=args.nice,
            )
        )
    except FilterBetsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
