"""Snapshot tests (pytest-textual-snapshot) of every screen at 80x24 and 120x40.

The data is fixed: the bundled demo seasons, three saved filters, backtest results and jobs
in every finished state plus one queued, all built once per session in a SQLite file. Every
time the screens show is fixed in the database (created, updated, started and finished at
set moments in 2025), the clock's time zone is UTC, and nothing shows a time relative to
now that is less than days old. The database is opened by a relative path from the test's
folder, so the header reads the same everywhere. NO_COLOR and a user's key map are kept out
of the environment (one snapshot sets NO_COLOR on purpose); no job runner is started.

    uv run pytest tests/test_tui_snapshots.py                      # compare
    uv run pytest tests/test_tui_snapshots.py --snapshot-update    # accept new pictures

Snapshots live in tests/__snapshots__/test_tui_snapshots/. A failure writes an HTML report
with the old and new pictures side by side (its path is printed at the end of the run).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from textual.pilot import Pilot
from textual.widgets import Input

from core.backtest.request import BacktestRequest
from core.cli import demo_files
from core.config import Settings, load_settings
from core.filters import FilterStore
from core.frame import forget_frame
from core.importing.service import import_paths
from core.jobs.queue import CANCELLED, FAILED, INTERRUPTED, SUCCEEDED, JobQueue
from core.jobs.runner import JobRunner
from core.migrate import upgrade
from core.models import BacktestJob, BacktestResult, Filter
from core.services import FilterBetsService
from tui.app import FilterBetsApp
from tui.screens.data import DataScreen
from tui.screens.filters import FiltersScreen
from tui.screens.jobs import JobsScreen
from tui.screens.results import ResultDetailScreen, ResultsScreen
from tui.screens.rule_editor import RuleEditorScreen
from tui.widgets.help import HelpScreen

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
DB_NAME = "snapshot.db"
USER = "tester"
MOMENT = dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.UTC)
"""When the data was made, as far as the screens can tell."""

HOME_FAVOURITES = {
    "all": [
        {"field": "odds.pinnacle.home", "op": "between", "value": [1.3, 1.8]},
        {"field": "league", "op": "in", "value": ["E0", "SP1", "I1"]},
    ]
}
AWAY_VALUE = {"field": "odds.pinnacle.away", "op": "between", "value": [2.0, 3.0]}
LONG_SHOTS = {
    "any": [
        {"field": "odds.avg.draw", "op": ">=", "value": 4.0},
        {"field": "odds.avg.away", "op": ">=", "value": 6.0},
    ]
}


# The fixed database -------------------------------------------------------------------


async def _build(path: Path) -> None:
    settings = load_settings(f"sqlite+aiosqlite:///{path}", USER)
    await upgrade(settings)
    service = await FilterBetsService.open(settings, migrate=False)
    try:
        await import_paths(service.db, demo_files())
        store = FilterStore(service.db, service.user_id)
        await store.create("Home favourites", HOME_FAVOURITES, description="Big leagues")
        await store.create("Away value", AWAY_VALUE)
        await store.create("Long shots", LONG_SHOTS, stake="0.50")
        queue = JobQueue(service.db)
        requests = [
            BacktestRequest(market="home", filter_ref="Home favourites"),
            BacktestRequest(market="away", filter_ref="Away value", odds_source="b365"),
            BacktestRequest(market="away", filter_ref="Long shots", staking="percent"),
        ]
        jobs = [await queue.submit(service.user_id, request) for request in requests]
        bad = await queue.submit_raw(service.user_id, {"market": "away", "filter": "Deleted"})
        # One at a time: results are numbered in the order the jobs were queued.
        runner = JobRunner(service.db, concurrency=1, worker_name="snapshots:1", poll_interval=0.02)
        await runner.start()
        try:
            deadline = time.monotonic() + 120
            for job in [*jobs, bad]:
                while not (await queue.get(job.job_id)).is_finished:
                    assert time.monotonic() < deadline, "the snapshot jobs did not finish"
                    await asyncio.sleep(0.05)
        finally:
            await runner.stop()
        assert [(await queue.get(job.job_id)).status for job in jobs] == [SUCCEEDED] * 3
        assert (await queue.get(bad.job_id)).status == FAILED
        cancelled = await queue.submit(service.user_id, requests[1])
        await queue.cancel(cancelled.job_id)
        interrupted = await queue.submit(service.user_id, requests[0])
        await queue.claim("gone:1")
        queued = await queue.submit(service.user_id, requests[2])
        async with service.db.session() as session:
            await session.execute(
                update(BacktestJob)
                .where(BacktestJob.job_id == interrupted.job_id)
                .values(status=INTERRUPTED, message="no heartbeat", error="the worker stopped")
            )
        assert (await queue.get(cancelled.job_id)).status == CANCELLED
        await _fix_times(service, [*jobs, bad, cancelled, interrupted, queued])
    finally:
        await close_for_copy(service)


async def close_for_copy(service: FilterBetsService) -> None:
    """Close a SQLite database that tests then copy as one file. The analysis frame keeps a
    read-only connection open past the service's close; while it is, the last writes stay
    in the -wal file (not copied), so it is dropped first and the close folds them in."""
    forget_frame(service.db)
    gc.collect()
    await service.close()


async def _fix_times(service: FilterBetsService, jobs: list[Any]) -> None:
    """Every moment the screens show, set to MOMENT plus a few minutes per row, and the
    jobs' random ids to fixed ones."""
    async with service.db.session() as session:
        await session.execute(update(Filter).values(created_at=MOMENT, updated_at=MOMENT))
        for n, job in enumerate(jobs):
            created = MOMENT + dt.timedelta(minutes=n)
            info = await JobQueue(service.db).get(job.job_id)
            started = None if info.started_at is None else created + dt.timedelta(seconds=2)
            finished = None if info.finished_at is None else created + dt.timedelta(seconds=9 + n)
            await session.execute(
                update(BacktestJob)
                .where(BacktestJob.job_id == job.job_id)
                .values(
                    job_id=uuid.UUID(hex=f"{n + 1:02x}" * 16),
                    created_at=created,
                    started_at=started,
                    finished_at=finished,
                    heartbeat_at=finished or started,
                    worker=None if info.worker is None else "snapshots:1",
                )
            )
            if info.result_id is not None:
                await session.execute(
                    update(BacktestResult)
                    .where(BacktestResult.id == info.result_id)
                    .values(created_at=finished)
                )


@pytest.fixture(scope="session")
def snapshot_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("snapshots") / DB_NAME
    asyncio.run(_build(path))
    return path


@pytest.fixture
def snapshot_settings(
    snapshot_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The fixed database, opened by a relative path, in a fixed environment."""
    shutil.copyfile(snapshot_template, tmp_path / DB_NAME)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("FILTERBETS_DATA_DIR", str(tmp_path / "data"))
    keymap = tmp_path / "keys.toml"  # no remapped keys, whatever the user's file says
    keymap.write_text("")
    monkeypatch.setenv("FILTERBETS_KEYMAP", str(keymap))
    monkeypatch.setenv("FILTERBETS_JOB_CONCURRENCY", "0")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_ANIMATIONS", raising=False)
    return load_settings(f"sqlite+aiosqlite:///{DB_NAME}", USER)


@pytest.fixture(autouse=True)
def _restore_time_zone() -> Any:
    yield
    time.tzset()  # after monkeypatch has put TZ back


# Getting a screen ready -----------------------------------------------------------------


async def until(pilot: Pilot[Any], condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


async def settled(pilot: Pilot[Any]) -> None:
    """Nothing left loading, no toasts, no blinking cursors."""
    app = pilot.app
    await app.workers.wait_for_complete()
    await pilot.pause()
    for widget in app.screen.query(Input):
        widget.cursor_blink = False
    app.clear_notifications()
    await pilot.pause(0.1)


async def opened(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, FilterBetsApp)
    await until(pilot, lambda: app.service is not None, "the database")


async def on_filters(pilot: Pilot[Any]) -> FiltersScreen:
    await opened(pilot)
    await pilot.press("1")
    screen = pilot.app.screen
    assert isinstance(screen, FiltersScreen)
    await until(pilot, lambda: screen.filters is not None, "the filters")
    return screen


def runs(*steps: Callable[[Pilot[Any]], Awaitable[Any]]) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        for step in steps:
            await step(pilot)
        await settled(pilot)

    return run_before


async def filters_step(pilot: Pilot[Any]) -> None:
    await on_filters(pilot)


async def jobs_step(pilot: Pilot[Any]) -> None:
    await opened(pilot)
    await pilot.press("2")
    screen = pilot.app.screen
    assert isinstance(screen, JobsScreen)
    await until(pilot, lambda: screen.rows is not None and len(screen.rows) == 7, "the jobs")


async def results_step(pilot: Pilot[Any]) -> None:
    await opened(pilot)
    await pilot.press("3")
    screen = pilot.app.screen
    assert isinstance(screen, ResultsScreen)
    await until(pilot, lambda: screen.rows is not None and len(screen.rows) == 3, "the results")


async def detail_step(pilot: Pilot[Any]) -> None:
    await results_step(pilot)
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, ResultDetailScreen), "the detail")
    screen = pilot.app.screen
    assert isinstance(screen, ResultDetailScreen)
    await until(pilot, lambda: screen.detail is not None and screen.page is not None, "loading")


async def data_step(pilot: Pilot[Any]) -> None:
    await opened(pilot)
    await pilot.press("4")
    screen = pilot.app.screen
    assert isinstance(screen, DataScreen)
    await until(pilot, lambda: screen._rows is not None, "the leagues")


async def editor_step(pilot: Pilot[Any]) -> None:
    await on_filters(pilot)
    await pilot.press("e")
    await until(pilot, lambda: isinstance(pilot.app.screen, RuleEditorScreen), "the editor")
    screen = pilot.app.screen
    assert isinstance(screen, RuleEditorScreen)
    await until(pilot, lambda: screen.preview_metrics is not None, "the preview")


async def help_step(pilot: Pilot[Any]) -> None:
    await on_filters(pilot)
    await pilot.press("question_mark")
    await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "the help")


SCREENS = {
    "filters": runs(filters_step),
    "jobs": runs(jobs_step),
    "results": runs(results_step),
    "result_detail": runs(detail_step),
    "data": runs(data_step),
    "rule_editor": runs(editor_step),
    "help": runs(help_step),
}


# The snapshots ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(
    screen: str, size: tuple[int, int], snapshot_settings: Settings, snap_compare: Any
) -> None:
    app = FilterBetsApp(snapshot_settings, run_jobs=False)
    assert snap_compare(app, terminal_size=size, run_before=SCREENS[screen])


def test_result_detail_with_no_color(
    snapshot_settings: Settings, snap_compare: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_COLOR: gains, losses and warnings stay apart in shades of grey."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = FilterBetsApp(snapshot_settings, run_jobs=False)
    assert app.no_color
    assert snap_compare(app, terminal_size=(80, 24), run_before=SCREENS["result_detail"])
