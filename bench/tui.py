"""The dashboard's responsiveness: cold start to the first painted screen, and key-to-render
latency while a backtest job runs.

    uv run python bench/tui.py                       # 5 cold starts, 200 keys idle and busy
    uv run python bench/tui.py --runs 5 --keys 300 --inline   # also the in-process runner

Both use a SQLite database of synthetic fixtures (bench/synthetic.py, 60,000 by default, as
in the tests), built once in a temporary folder.

Cold start. Each run is a fresh `python -m core.cli --database-url ...` (the `filterbets`
command) in a pseudo-terminal of 80x24 with TERM=xterm-256color, i.e. the real driver writing
real escape codes. The clock starts just before the fork and stops when the terminal output
(escape codes stripped) first contains:

* ``first_paint_s``: the header's title "FilterBets": the default screen's first frame (the
  database may still be opening behind it);
* ``ready_s``: a league of the data set ("Synthetic League ..."): the default screen (Data)
  showing what it read from the database, the screen as a user first works with it.

Then `q` quits the app and the next run starts. The median of the runs is printed with them.
The imports dominate; on a loaded machine they grow with the load.

Key latency. The app runs headless (`App.run_test`, 80x24) and opens the database itself, so
its job runner is the one the real dashboard gets (a child process by default; `--inline`
adds a run of the in-process runner for comparison). On the Jobs screen, with a few failed
jobs to move between, j and k are sent as the terminal driver sends them (a Key event on the
app's queue, without waiting for the app to go idle). A key's latency is from sending it to
the first screen update (`App._display`, what a terminal would be sent) that shows the cursor
on the row the key moves it to. Keys are sent one at a time, 20-40 ms apart (jittered, so
they do not line up with the screen's timers). "idle" is with no job; "busy" is while a
backtest over every fixture runs (a new one is queued whenever the previous one ends, so
every busy key has one computing). Prints the median, 90th and 95th percentiles and the
maximum in ms, and whether the median and the 90th percentile meet the goal: a key on
screen within 100 ms, idle or busy (the tests compare busy keys with idle ones only, since
a loaded machine can slow both).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import pty
import random
import re
import select
import shutil
import signal
import statistics
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic import build
from core.backtest.request import BacktestRequest
from core.config import Settings, load_settings
from core.jobs.queue import FINISHED, QUEUED, RUNNING, JobError, JobQueue
from core.services import FilterBetsService

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = 60_000
SIZE = (80, 24)
KEY_GOAL_MS = 100.0
"""From a key to the screen that shows it: the median and the 90th percentile, idle or busy."""
READY_MARK = "Synthetic Leag"
"""The start of the data set's league names, as the Data screen's table shows them."""
ALL_HOMES = {"field": "odds.pinnacle.home", "op": "between", "value": [1.0, 1000.0]}
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)")


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


async def prepare(folder: Path, fixtures: int) -> Settings:
    settings = load_settings(f"sqlite+aiosqlite:///{folder / 'bench-tui.db'}", "bench")
    await build(settings, fixtures)
    return settings


# Cold start ----------------------------------------------------------------------------


def cold_start(settings: Settings, timeout: float = 60.0) -> dict[str, float]:
    url = settings.database_url.render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILTERBETS_")}
    env |= {"TERM": "xterm-256color", "FILTERBETS_USER": "bench", "COLUMNS": "80", "LINES": "24"}
    env.pop("NO_COLOR", None)
    argv = [sys.executable, "-m", "core.cli", "--database-url", url]
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: an 80x24 terminal, then the app
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
        os.chdir(REPO_ROOT)
        os.execve(sys.executable, argv, env)
    marks: dict[str, float] = {}
    seen = ""
    try:
        deadline = started + timeout
        while "ready_s" not in marks:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"no first screen after {timeout:g} s; output: {seen[-300:]!r}")
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                raise RuntimeError(f"the app exited; output: {seen[-300:]!r}") from None
            now = time.perf_counter()
            seen += ANSI.sub("", chunk.decode(errors="replace"))
            if "first_paint_s" not in marks and "FilterBets" in seen:
                marks["first_paint_s"] = now - started
            if READY_MARK in seen:
                marks.setdefault("first_paint_s", now - started)
                marks["ready_s"] = now - started
        os.write(fd, b"q")
        _wait_exit(pid, fd)
    finally:
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    return marks


def _wait_exit(pid: int, fd: int, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if select.select([fd], [], [], 0.1)[0]:
                os.read(fd, 65536)  # keep the pty drained so the app can write its last frame
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return


# Key latency ---------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def key_latency(settings: Settings, keys: int, *, in_child: bool) -> dict[str, list[float]]:
    from textual import events

    from tui.app import FilterBetsApp
    from tui.widgets.vim_table import VimDataTable

    service = await FilterBetsService.open(settings)
    queue = JobQueue(service.db)
    for name in ("one", "two", "three", "four"):  # rows to move between (they fail at once)
        await queue.submit_raw(service.user_id, {"market": "away", "filter": name})
    app = FilterBetsApp(settings, run_jobs=True, jobs_in_child=in_child)
    timings: dict[str, list[float]] = {"idle": [], "busy": []}
    try:
        async with app.run_test(size=SIZE) as pilot:
            deadline = time.monotonic() + 120
            while app.job_runner is None or app.service is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("the app's job runner did not start")
                await pilot.pause(0.05)
            await pilot.press("2")
            while True:
                jobs = await queue.list(user_id=service.user_id)
                if all(job.status in FINISHED for job in jobs):
                    break
                await pilot.pause(0.1)
            await pilot.pause(1.0)
            table = app.screen.query_one("#jobs-table", VimDataTable)
            shown: list[tuple[float, int]] = []
            display = app._display

            def recording(screen: Any, renderable: Any) -> None:
                shown.append((time.perf_counter(), table.cursor_row))
                display(screen, renderable)

            app._display = recording  # type: ignore[method-assign]
            assert app._driver is not None
            driver = app._driver

            async def one_key(key: str, row: int) -> float:
                shown.clear()
                event = events.Key(key, key)
                event.set_sender(app)
                sent = time.perf_counter()
                driver.send_message(event)
                limit = sent + 10
                while True:
                    for at, cursor in shown:
                        if at > sent and cursor == row:
                            return at - sent
                    if time.perf_counter() > limit:
                        raise RuntimeError(f"key {key!r}: row {row} not shown after 10 s")
                    await asyncio.sleep(0.001)

            async def start_a_job() -> None:
                """Queue a long backtest and wait until its row is on screen, running."""
                rows = table.row_count
                await app.job_runner.submit(  # type: ignore[union-attr]
                    service.user_id, BacktestRequest(market="home", rules=ALL_HOMES)
                )
                limit = time.monotonic() + 60
                while table.row_count == rows or app.running_jobs == 0:
                    if time.monotonic() > limit:
                        raise RuntimeError("the backtest job did not start")
                    await asyncio.sleep(0.01)
                table.move_cursor(row=0, animate=False)
                await asyncio.sleep(0.05)

            async def run_keys(state: str, count: int, busy: bool) -> None:
                """Bounce the cursor between the first two rows, one key at a time."""
                rng = random.Random(1)
                while len(timings[state]) < count:
                    if busy and app.running_jobs == 0:
                        await start_a_job()
                        continue
                    row = table.cursor_row
                    if row > 1:
                        table.move_cursor(row=0, animate=False)
                        await asyncio.sleep(0.05)
                        continue
                    key, target = ("j", 1) if row == 0 else ("k", 0)
                    latency = await one_key(key, target)
                    if not busy or app.running_jobs > 0:  # the job may end during the key
                        timings[state].append(latency)
                    await asyncio.sleep(rng.uniform(0.02, 0.04))

            table.move_cursor(row=0, animate=False)
            await pilot.pause(0.2)
            await run_keys("idle", keys, busy=False)
            await run_keys("busy", keys, busy=True)
            for job in await queue.list(user_id=service.user_id):
                if job.status in (QUEUED, RUNNING):
                    with contextlib.suppress(JobError):  # it may have ended meanwhile
                        await app.job_runner.cancel(job.job_id)  # type: ignore[union-attr]
            await pilot.pause(0.5)
            await app.stop_jobs(grace=0)
    finally:
        await service.close()
    return timings


def summary(values: list[float]) -> dict[str, Any]:
    median_ms = statistics.median(values) * 1000
    p90_ms = percentile(values, 0.9) * 1000
    return {
        "keys": len(values),
        "median_ms": round(median_ms, 1),
        "p90_ms": round(p90_ms, 1),
        "p95_ms": round(percentile(values, 0.95) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
        "goal_ms": KEY_GOAL_MS,
        "meets_goal": median_ms <= KEY_GOAL_MS and p90_ms <= KEY_GOAL_MS,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="cold starts (default 5)")
    parser.add_argument("--keys", type=int, default=200, help="keys per state (default 200)")
    parser.add_argument("--fixtures", type=int, default=FIXTURES)
    parser.add_argument(
        "--inline", action="store_true", help="also measure the in-process job runner"
    )
    parser.add_argument("--skip-cold-start", action="store_true")
    parser.add_argument("--skip-keys", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="filterbets-bench-tui-"))
    try:
        settings = await prepare(folder, args.fixtures)
        if not args.skip_cold_start:
            runs = []
            for run in range(1, args.runs + 1):
                marks = await asyncio.to_thread(cold_start, settings)
                runs.append(marks)
                emit(
                    {
                        "bench": "tui_cold_start",
                        "run": run,
                        **{k: round(v, 3) for k, v in marks.items()},
                    }
                )
            emit(
                {
                    "bench": "tui_cold_start",
                    "runs": len(runs),
                    "median_first_paint_s": round(
                        statistics.median(r["first_paint_s"] for r in runs), 3
                    ),
                    "median_ready_s": round(statistics.median(r["ready_s"] for r in runs), 3),
                }
            )
        if not args.skip_keys:
            modes = [("child", True)] + ([("inline", False)] if args.inline else [])
            for mode, in_child in modes:
                timings = await key_latency(settings, args.keys, in_child=in_child)
                for state, values in timings.items():
                    emit(
                        {
                            "bench": "tui_key_latency",
                            "runner": mode,
                            "state": state,
                            "fixtures": args.fixtures,
                            **summary(values),
                        }
                    )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
