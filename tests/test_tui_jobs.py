"""The Jobs screen and the app's job runner, driven through Pilot on both backends.

The app runs its jobs in a child process it owns (core.jobs.child.ChildRunner) unless told
otherwise; these tests use that default, and one runs the in-process JobRunner.

Nothing here presses a key to make the table change: it follows the jobs by itself (a
database poll plus the runner's events). Waits have deadlines; no sleep is an assertion.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from textual import events
from textual.binding import Binding
from textual.pilot import Pilot

from core.backtest.request import BacktestRequest
from core.config import Settings
from core.db import utcnow
from core.filters import FilterStore
from core.jobs.child import ChildRunner
from core.jobs.queue import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, JobQueue
from core.jobs.runner import JobRunner
from core.models import BacktestJob
from core.services import FilterBetsService
from tests import jobs_support
from tests.jobs_support import AWAY_2_TO_3, JobHold, big_request, seed_small, small_request
from tests.test_tui_data import plain, record_notifications, settle
from tests.test_tui_footer import footer_keys
from tests.test_tui_results import HOME as HOME_SHORT
from tests.test_tui_results import seed_season
from tui import app as app_module
from tui.app import FilterBetsApp
from tui.screens.filters import FiltersScreen
from tui.screens.jobs import FOOTER_DELAY, JobsScreen, duration, eta_seconds, progress_bar
from tui.screens.results import ResultDetailScreen, ResultsScreen
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.help import HelpScreen
from tui.widgets.vim_table import VimDataTable

SIZE = (80, 24)

big_sqlite_template = jobs_support.big_sqlite_template
big_postgres_url = jobs_support.big_postgres_url
big_settings = jobs_support.big_settings
big_service = jobs_support.big_service


# Helpers -------------------------------------------------------------------------------


async def wait_until(
    pilot: Pilot[Any], condition: Callable[[], bool], what: str, within: float = 30.0
) -> None:
    """Let the app run (no keys pressed) until `condition` holds; fail after `within` s."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            shown = statuses(pilot.app) if isinstance(pilot.app.screen, JobsScreen) else "-"
            raise AssertionError(
                f"timed out after {within:g} s waiting for {what}; jobs shown: {shown}"
            )
        await pilot.pause(0.01)


async def send_key(
    pilot: Pilot[Any], key: str, handled: Callable[[], bool], what: str, within: float = 5.0
) -> float:
    """Send one key as the terminal would and return the seconds until `handled()` holds.

    Unlike `pilot.press`, this does not wait for the process to go idle: a backtest running
    in threads keeps the CPU busy, and Pilot would wait up to a second per key for nothing.
    """
    app = pilot.app
    assert app._driver is not None
    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    started = time.perf_counter()
    app._driver.send_message(event)
    deadline = time.monotonic() + within
    while not handled():
        if time.monotonic() > deadline:
            raise AssertionError(f"key {key!r}: timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(0.002)
    return time.perf_counter() - started


def jobs_table(app: FilterBetsApp) -> list[dict[str, str]]:
    """The Jobs table as shown: one dict per row, column key -> cell text."""
    screen = app.screen
    assert isinstance(screen, JobsScreen)
    table = screen.query_one("#jobs-table", VimDataTable)
    if not table.display:
        return []
    keys = [str(column.key.value) for column in table.ordered_columns]
    return [
        dict(zip(keys, (plain(cell).strip() for cell in table.get_row_at(i)), strict=True))
        for i in range(table.row_count)
    ]


def statuses(app: FilterBetsApp) -> list[str]:
    return [row["status"] for row in jobs_table(app)]


async def open_jobs(pilot: Pilot[Any]) -> JobsScreen:
    await settle(pilot)
    await pilot.press("2")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, JobsScreen)
    return screen


@pytest.fixture
def no_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app runs no jobs itself (as with a worker doing all the work)."""
    monkeypatch.setenv("FILTERBETS_JOB_CONCURRENCY", "0")


# Pure helpers --------------------------------------------------------------------------


def test_progress_bar_duration_and_eta() -> None:
    assert progress_bar(0.0) == "░░░░░   0%"
    assert progress_bar(0.62) == "███░░  62%"
    assert progress_bar(1.0) == "█████ 100%"
    assert progress_bar(1.7) == "█████ 100%"
    assert [duration(s) for s in (None, 0.4, 59, 61, 3600 + 125)] == [
        "",
        "0s",
        "59s",
        "1m01",
        "1h02",
    ]
    assert eta_seconds(0.0, 5.0) is None
    assert eta_seconds(0.25, 10.0) == pytest.approx(30.0)
    assert eta_seconds(1.0, 10.0) == 0.0


# The workflows -------------------------------------------------------------------------


async def test_run_from_filters_follows_the_job_live_and_opens_its_result(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_small(service)
    await FilterStore(service.db, service.user_id).create("Away value", AWAY_2_TO_3)
    app = FilterBetsApp(settings, service=service, run_jobs=True)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.job_runner is not None
        await pilot.press("1")
        await settle(pilot)
        assert isinstance(app.screen, FiltersScreen)
        await pilot.press("r")
        jobs = await open_jobs(pilot)
        await wait_until(pilot, lambda: statuses(app) == [SUCCEEDED], "the job to succeed")
        row = jobs_table(app)[0]
        assert row["filter"] == "Away value"
        assert row["market"] == "home"  # the Filters screen's default run settings
        assert row["progress"] == "█████ 100%"
        # Three fixtures with away odds 2-3; one home win at 1.90: 0.90 - 2 = -1.10 on 3.
        assert (row["bets"], row["yield"]) == ("3", "-36.67%")
        assert any("queued as job" in n for n in notes)
        info = (await JobQueue(service.db).list(user_id=service.user_id))[0]
        assert info.result_id is not None
        assert "result #" in str(jobs.query_one("#jobs-detail").render())

        await pilot.press("enter")  # the result itself, with the list under it
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, ResultDetailScreen)
        assert detail.result_id == info.result_id
        await pilot.press("escape")
        await settle(pilot)
        results = app.screen
        assert isinstance(results, ResultsScreen)
        assert results.selected_id() == info.result_id


async def test_enter_on_a_job_opens_its_own_result_whatever_results_showed(
    service: FilterBetsService, settings: Settings
) -> None:
    """Issue 14 item 5: the status line said result #5, but enter showed result #1, whose
    detail was still open under Results."""
    await seed_small(service)
    queue = JobQueue(service.db)
    first = await queue.submit(service.user_id, small_request())
    second = await queue.submit(service.user_id, small_request(market="home"))
    app = FilterBetsApp(settings, service=service, run_jobs=True)
    async with app.run_test(size=SIZE) as pilot:
        jobs = await open_jobs(pilot)
        await wait_until(pilot, lambda: statuses(app) == [SUCCEEDED] * 2, "both jobs to succeed")
        results = {
            info.job_id: info.result_id for info in await queue.list(user_id=service.user_id)
        }
        assert None not in results.values() and results[first.job_id] != results[second.job_id]

        for job, _ in ((first, "no detail open yet"), (second, "the first one's still open")):
            await pilot.press("2")
            await settle(pilot)
            assert app.screen is jobs
            assert jobs.select_job(job.job_id)
            await settle(pilot)
            wanted = results[job.job_id]
            assert f"result #{wanted}: enter opens it" in str(
                jobs.query_one("#jobs-detail").render()
            )
            await pilot.press("enter")
            await settle(pilot)
            detail = app.screen
            assert isinstance(detail, ResultDetailScreen)
            assert detail.result_id == wanted
            assert detail.detail is not None and detail.detail.summary.id == wanted

        await pilot.press("escape")  # one detail deep: the list, on that result
        await settle(pilot)
        listing = app.screen
        assert isinstance(listing, ResultsScreen)
        assert listing.selected_id() == results[second.job_id]


async def test_a_finished_jobs_warnings_show_in_its_toast_and_on_jobs(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14 item 7: a Kelly run at Pinnacle's prices said "succeeded (0 bets, yield -)"
    and nothing about why; the run's own warnings now go wherever the job is shown."""
    await seed_season(service, matches=12)
    queue = JobQueue(service.db)
    job = await queue.submit(
        service.user_id,
        BacktestRequest(market="home", rules=HOME_SHORT, odds_source="pinnacle", staking="kelly"),
    )
    app = FilterBetsApp(settings, service=service, run_jobs=True)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: any("Backtest done" in n for n in notes), "the toast")
        info = await queue.get(job.job_id)
        assert info.status == SUCCEEDED and info.bets == 0
        assert info.warnings, "a run with no bets says so"
        (toast,) = [n for n in notes if "Backtest done" in n]
        assert toast.startswith("warning: ")
        assert all(f"⚠ {w}" in toast for w in info.warnings)

        jobs = await open_jobs(pilot)
        assert jobs_table(app)[0]["bets"] == "0"
        shown = " ".join(str(jobs.query_one("#jobs-warnings").render()).split())
        for warning in info.warnings:
            assert f"⚠ WARNING {' '.join(warning.split())}" in shown


async def test_jobs_offers_only_the_keys_that_apply_and_says_why_not(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14 item 20: the footer offered cancel and retry on a succeeded job, and the keys
    did nothing and said nothing. The CLI says why (the queue's own refusal)."""
    await seed_small(service)
    queue = JobQueue(service.db)
    good = await queue.submit(service.user_id, small_request())
    bad = await queue.submit_raw(service.user_id, {"market": "away", "filter": "nope"})
    app = FilterBetsApp(settings, service=service, run_jobs=True)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        jobs = await open_jobs(pilot)
        await wait_until(
            pilot, lambda: sorted(statuses(app)) == [FAILED, SUCCEEDED], "both jobs to end"
        )

        def offered() -> set[str]:
            return {key for key, shown in footer_keys(app).items() if shown}

        async def footer_follows() -> None:
            await pilot.pause(FOOTER_DELAY)
            await wait_until(pilot, lambda: jobs._footer_timer is None, "the footer")
            await settle(pilot)

        assert jobs.select_job(good.job_id)
        await footer_follows()
        assert "?" in offered() and not {"c", "t"} & offered()
        notes.clear()
        await pilot.press("c")
        await settle(pilot)
        assert app.screen is jobs  # no question about cancelling a finished job
        await pilot.press("t")
        await settle(pilot)
        short = good.job_id.hex[:8]
        assert notes == [
            f"warning: Jobs: job {short} already succeeded; nothing to cancel",
            f"warning: Jobs: job {short} is succeeded; only failed, cancelled or interrupted"
            " jobs can be retried",
        ]
        assert (await queue.get(good.job_id)).status == SUCCEEDED

        assert jobs.select_job(bad.job_id)
        await footer_follows()
        assert "t" in offered() and "c" not in offered()
        notes.clear()
        await pilot.press("enter", "c")
        await settle(pilot)
        short = bad.job_id.hex[:8]
        assert notes == [
            f"warning: Jobs: Job {short} is failed: it has no result to open"
            " (a job has one once it has succeeded).",
            f"warning: Jobs: job {short} already failed; nothing to cancel",
        ]
        assert app.screen is jobs


async def test_cancel_a_queued_job_after_confirming(
    service: FilterBetsService, settings: Settings, no_runner: None
) -> None:
    await seed_small(service)
    queue = JobQueue(service.db)
    info = await queue.submit(service.user_id, small_request())
    app = FilterBetsApp(settings, service=service, run_jobs=True)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot)
        assert app.job_runner is None  # FILTERBETS_JOB_CONCURRENCY=0
        assert statuses(app) == [QUEUED]
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert (await queue.get(info.job_id)).status == QUEUED
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("y")
        await wait_until(pilot, lambda: statuses(app) == [CANCELLED], "the cancel to show")
        assert (await queue.get(info.job_id)).status == CANCELLED

        # A cancelled job can be queued again with t.
        await pilot.press("t")
        await wait_until(pilot, lambda: statuses(app) == [QUEUED], "the retry to show")


async def test_cancel_a_running_job(
    big_service: FilterBetsService,
    big_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    queue = JobQueue(big_service.db)
    hold = JobHold(monkeypatch, tmp_path)  # before the app starts its job child
    app = FilterBetsApp(big_settings, service=big_service, run_jobs=True)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot)
        assert app.job_runner is not None
        with hold.held():  # the job cannot end before the cancel, on a machine however busy
            info = await app.job_runner.submit(big_service.user_id, big_request())
            await wait_until(pilot, lambda: statuses(app) == [RUNNING], "the job to run")
            await wait_until(pilot, lambda: app.running_jobs == 1, "the header count")
            assert "1 job running" in app.sub_title
            await send_key(
                pilot,
                "c",
                lambda: isinstance(app.screen, ConfirmScreen) and app.screen.focused is not None,
                "the question",
            )
            await send_key(pilot, "y", lambda: isinstance(app.screen, JobsScreen), "the answer")
            await wait_until(pilot, lambda: statuses(app) == [CANCELLED], "the job to be cancelled")
        assert any("Jobs: Job " in n and "cancel" in n for n in notes), notes
        done = await queue.get(info.job_id)
        assert done.status == CANCELLED and done.result_id is None
        await wait_until(pilot, lambda: app.running_jobs == 0, "the header count to clear")


async def test_retry_a_failed_job(service: FilterBetsService, settings: Settings) -> None:
    await seed_small(service)
    queue = JobQueue(service.db)
    bad = await queue.submit_raw(service.user_id, {"market": "away", "filter": "nope"})
    app = FilterBetsApp(settings, service=service, run_jobs=True)
    async with app.run_test(size=SIZE) as pilot:
        jobs = await open_jobs(pilot)
        await wait_until(pilot, lambda: statuses(app) == [FAILED], "the bad request to fail")
        detail = str(jobs.query_one("#jobs-detail").render())
        assert "t retries it" in detail and "attempt" not in detail
        first = await queue.get(bad.job_id)
        assert first.error
        await pilot.press("t")
        await wait_until(
            pilot, lambda: "attempt 2" in str(jobs.query_one("#jobs-detail").render()), "attempt 2"
        )
        await wait_until(pilot, lambda: statuses(app) == [FAILED], "the retry to fail again")
        again = await queue.get(bad.job_id)
        assert again.attempt == 2 and again.status == FAILED and again.error == first.error


async def test_jobs_run_by_another_process_show_up_without_a_key(
    service: FilterBetsService, settings: Settings, no_runner: None
) -> None:
    await seed_small(service)
    app = FilterBetsApp(settings, service=service, run_jobs=True)
    async with app.run_test(size=SIZE) as pilot:
        jobs = await open_jobs(pilot)
        assert statuses(app) == []
        assert "no runner here" in str(jobs.query_one("#jobs-runner").render())
        # Another process queues a job and another runner (a worker) runs it.
        info = await JobQueue(service.db).submit(service.user_id, small_request())
        await wait_until(pilot, lambda: statuses(app) == [QUEUED], "the queued job to appear")
        other = JobRunner(service.db, worker_name="elsewhere", poll_interval=0.05)
        await other.start()
        try:
            await wait_until(pilot, lambda: statuses(app) == [SUCCEEDED], "the job to succeed")
        finally:
            await other.stop()
        row = jobs_table(app)[0]
        assert (row["bets"], row["yield"]) == ("3", "+83.33%")  # +1.50 +2.00 -1
        assert (await JobQueue(service.db).get(info.job_id)).worker == "elsewhere"


BUSY_KEY_MARGIN = 0.100
"""Seconds a busy key may take beyond twice the idle ones: more than a loaded 2-core machine
adds to a key, far less than a backtest holding the app's event loop (seconds)."""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[round(q * (len(ordered) - 1))]


async def test_keys_are_handled_and_shown_promptly_while_a_long_job_runs(
    big_service: FilterBetsService,
    big_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """From the key event to the screen update that shows it: while a backtest runs in the
    app's job runner (a child process, the app's default), the same keys take about what
    they take idle. Their speed against the 100 ms goal is bench/tui.py's to measure."""
    monkeypatch.setenv("FILTERBETS_JOB_CONCURRENCY", "1")  # long jobs, one after another
    queue = JobQueue(big_service.db)
    for name in ("one", "two", "three"):  # rows to move between (they fail at once)
        await queue.submit_raw(big_service.user_id, {"market": "away", "filter": name})
    # The first long job stays running until the busy keys are done, however slow the
    # machine: seen [queued, queued, running] it cannot have moved on before the keys.
    hold = JobHold(monkeypatch, tmp_path)  # before the app starts its job child
    app = FilterBetsApp(big_settings, service=big_service, run_jobs=True)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot)
        await wait_until(pilot, lambda: statuses(app) == [FAILED] * 3, "three failed jobs")
        table = app.screen.query_one("#jobs-table", VimDataTable)
        # Every screen update the app computes, with the cursor row it showed.
        shown: list[tuple[float, int]] = []
        display = app._display

        def recording_display(screen: Any, renderable: Any) -> None:
            shown.append((time.perf_counter(), table.cursor_row))
            display(screen, renderable)

        monkeypatch.setattr(app, "_display", recording_display)

        async def key_timings(keys: str, rows: tuple[int, ...]) -> list[float]:
            """Keys back to back (as a held key repeats), each timed to its screen."""
            timings: list[float] = []
            for key, row in zip(keys, rows, strict=True):
                sent = time.perf_counter()

                def rendered(row: int = row, sent: float = sent) -> bool:
                    return any(at > sent and cursor == row for at, cursor in shown)

                await send_key(pilot, key, rendered, f"row {row} on screen")
                timings.append(next(at for at, c in shown if at > sent and c == row) - sent)
            return timings

        table.move_cursor(row=0)
        idle = await key_timings("jjkkGgjk" * 2, (1, 2, 1, 0, 2, 0, 1, 0) * 2)
        runner = app.job_runner
        assert isinstance(runner, ChildRunner)  # the default: jobs run out of process
        # A backtest takes the child about a second: three in a row keep it busy throughout.
        with hold.held():
            infos = [
                await runner.submit(big_service.user_id, big_request(stake=Decimal(stake)))
                for stake in ("1", "2", "3")
            ]
            running = [QUEUED, QUEUED, RUNNING] + [FAILED] * 3
            await wait_until(pilot, lambda: statuses(app) == running, "the first long job to run")
            assert table.cursor_row == 3  # the cursor stayed on its job as the new ones came in
            table.move_cursor(row=0)
            # Across the jobs' rows and the failed ones (their footer keys differ).
            busy = await key_timings("jjjkkkGg" * 3, (1, 2, 3, 2, 1, 0, 5, 0) * 3)
            last = await queue.get(infos[-1].job_id)
            assert last.status == QUEUED, "the jobs ended before the keys did"

        await wait_until(pilot, lambda: statuses(app)[:3] == [SUCCEEDED] * 3, "the jobs to end")
        table.move_cursor(row=0)
        # Idle again, the same keys as busy: idle keys measured on both sides of the busy
        # ones, so a machine that grows busier or quieter meanwhile moves both alike.
        idle += await key_timings("jjjkkkGg" * 2, (1, 2, 3, 2, 1, 0, 5, 0) * 2)

        def ms(timings: list[float]) -> str:
            return " ".join(f"{t * 1000:.0f}" for t in timings) + " ms"

        both = f"idle: {ms(idle)}; while a backtest runs: {ms(busy)}"
        print(f"key to screen, {both}")
        # Busy keys against idle ones, not against a clock: the backtest computes in another
        # process, at a lower priority, so the typical key and the 90th percentile stay
        # within twice their idle figures plus a margin. A single key is not judged: a
        # loaded machine can pause any process for half a second, job or no job.
        assert statistics.median(busy) <= 2 * statistics.median(idle) + BUSY_KEY_MARGIN, both
        assert percentile(busy, 0.9) <= 2 * percentile(idle, 0.9) + BUSY_KEY_MARGIN, both


async def test_quit_with_running_jobs_asks_first_and_leaves_none_running(
    big_service: FilterBetsService,
    big_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(app_module, "QUIT_GRACE", 0.0)
    monkeypatch.setenv("FILTERBETS_JOB_CONCURRENCY", "1")
    queue = JobQueue(big_service.db)
    hold = JobHold(monkeypatch, tmp_path)  # before the app starts its job child
    app = FilterBetsApp(big_settings, service=big_service, run_jobs=True)
    async with app.run_test(size=SIZE) as pilot:
        jobs = await open_jobs(pilot)
        runner = app.job_runner
        assert isinstance(runner, ChildRunner) and runner.concurrency == 1
        # Three, one at a time, the first held mid-run until the last question is on screen:
        # one is certainly running when it is answered.
        with hold.held():
            for stake in ("1", "2", "3"):
                await runner.submit(big_service.user_id, big_request(stake=Decimal(stake)))
            await wait_until(pilot, lambda: app.running_jobs == 1, "a job to run")

            def asking() -> bool:
                """The question is on screen, ready for an answer."""
                screen = app.screen
                return isinstance(screen, ConfirmScreen) and screen.focused is not None

            await send_key(pilot, "q", asking, "the question")
            message = str(app.screen.query_one("#confirm-message").render())
            assert "put it back in the queue" in message
            polls = jobs.polls  # the table stays live under the question
            await wait_until(pilot, lambda: jobs.polls >= polls + 2, "polls under the question")
            await send_key(pilot, "n", lambda: isinstance(app.screen, JobsScreen), "the answer")
            assert app.return_code is None
            await wait_until(pilot, lambda: app.running_jobs == 1, "a job to run")
            await send_key(pilot, "q", asking, "the question")
            running = [event.job_id for event in runner.running]
        await send_key(pilot, "y", lambda: app.return_code is not None, "the app to quit")
    assert app.return_code == 0
    assert runner.process is not None and runner.process.returncode == 0  # the child is gone
    jobs = await queue.list(user_id=big_service.user_id)
    assert len(jobs) == 3
    assert all(job.status in (QUEUED, SUCCEEDED) for job in jobs), [j.status for j in jobs]
    assert any(job.status == QUEUED for job in jobs)
    for job in jobs:  # the one running at the answer: back in the queue, unless it just ended
        if job.job_id in running and job.status == QUEUED:
            assert "released" in job.message and job.result_id is None, job


async def test_q_quits_at_once_with_nothing_running(
    service: FilterBetsService, settings: Settings
) -> None:
    app = FilterBetsApp(settings, service=service, run_jobs=True)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot)
        runner = app.job_runner
        assert isinstance(runner, ChildRunner)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    assert runner.process is not None and runner.process.returncode == 0


async def test_the_in_process_runner_is_still_there_on_request(
    service: FilterBetsService, settings: Settings
) -> None:
    await seed_small(service)
    app = FilterBetsApp(settings, service=service, run_jobs=True, jobs_in_child=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot)
        assert isinstance(app.job_runner, JobRunner)
        await app.job_runner.submit(service.user_id, small_request())
        await wait_until(pilot, lambda: statuses(app) == [SUCCEEDED], "the job to succeed")
        assert "runs here, 2 at a time" in str(app.screen.query_one("#jobs-runner").render())


async def test_a_job_runner_process_that_dies_is_reported(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = FilterBetsApp(settings, service=service, run_jobs=True)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot)
        runner = app.job_runner
        assert isinstance(runner, ChildRunner) and runner.process is not None
        runner.process.kill()
        await wait_until(pilot, lambda: app.job_runner is None, "the app to notice")
        await wait_until(pilot, lambda: any("SIGKILL" in n for n in notes), "a notification")
        assert any("queued jobs wait for `filterbets worker`" in n for n in notes), notes


async def test_the_job_runner_process_puts_its_job_back_when_the_app_goes_away(
    big_service: FilterBetsService, big_settings: Settings
) -> None:
    """The app dies (a lost SSH link, a kill): the child's stdin ends, and it puts the job it
    was running back in the queue, fenced as a worker's shutdown is, then exits."""
    queue = JobQueue(big_service.db)
    runner = ChildRunner(big_settings, big_service.db, user_id=big_service.user_id)
    events: list[str] = []
    runner.subscribe(lambda event: events.append(event.status))
    await runner.start()
    try:
        info = await runner.submit(big_service.user_id, big_request())
        deadline = time.monotonic() + 60
        while RUNNING not in events:
            assert time.monotonic() < deadline, "the job did not start"
            await asyncio.sleep(0.02)
        assert runner.process is not None and runner.process.stdin is not None
        runner.process.stdin.close()  # what the app's death does to the pipe
        assert await asyncio.wait_for(runner.process.wait(), 30) == 0
        after = await queue.get(info.job_id)
        assert after.status in (QUEUED, SUCCEEDED), after  # released, or it finished in time
        if after.status == QUEUED:
            assert "released" in after.message and after.result_id is None
    finally:
        await runner.stop()


async def test_start_reports_jobs_left_running_by_a_dead_process(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_small(service)
    queue = JobQueue(service.db)
    info = await queue.submit(service.user_id, small_request())
    assert await queue.claim("dead:1") is not None
    async with service.db.session() as session:
        old = utcnow().replace(year=2020)
        await session.execute(update(BacktestJob).values(heartbeat_at=old, started_at=old))
    app = FilterBetsApp(settings, service=service, run_jobs=True)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot)
        assert any("1 job was interrupted; retry them from Jobs" in n for n in notes), notes
        await wait_until(pilot, lambda: statuses(app) == ["interrupted"], "the interrupted job")
        await pilot.press("R")
        await wait_until(pilot, lambda: statuses(app) == [SUCCEEDED], "the retried job to run")
    assert (await queue.get(info.job_id)).attempt == 2


async def test_help_lists_the_jobs_bindings_with_ids(
    service: FilterBetsService, settings: Settings
) -> None:
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        help_table = app.screen.query_one(VimDataTable)
        listed = [plain(help_table.get_row_at(i)[1]) for i in range(help_table.row_count)]
        for binding in Binding.make_bindings(JobsScreen.BINDINGS):
            assert binding.id and binding.id.startswith("jobs."), binding
            assert binding.description, binding.id
            if binding.key != "enter":  # the focused table's enter (Select) opens it too
                # No job to act on: listed, marked as doing nothing now (the footer hides it).
                expected = f"{binding.description} (not now)"
                assert expected in listed, (binding.id, " | ".join(listed))
        assert "Jobs" in listed
