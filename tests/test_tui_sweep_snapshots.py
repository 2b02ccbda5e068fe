"""Snapshots of the sweep screens at 80x24 (and the main ones at 120x40): the variants, the
heatmap (also under NO_COLOR: the numbers carry it), the walk-forward, and the rule
editor's parameter and sweep prompts.

The data is fixed: the bundled demo seasons, a template filter ("Away band": away odds
between $lo and $hi) and one sweep of it (16 x 5 variants), built once per session in a
SQLite file opened by a relative path, with every time the screens show fixed; see
tests/test_tui_snapshots.py for the environment.

    uv run pytest tests/test_tui_sweep_snapshots.py --snapshot-update    # accept new pictures
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from textual.pilot import Pilot

from core.backtest.request import BacktestRequest
from core.backtest.sweeps import SweepEngine, SweepRequest
from core.cli import demo_files
from core.config import Settings, load_settings
from core.filters import FilterStore
from core.importing.service import import_paths
from core.migrate import upgrade
from core.models import BacktestResult, Filter
from core.services import FilterBetsService
from tests.test_tui_snapshots import MOMENT, SIZES, opened, settled, until
from tui.app import FilterBetsApp
from tui.screens.filters import FiltersScreen
from tui.screens.rule_editor import RuleEditorScreen
from tui.screens.sweep_result import SweepResultScreen
from tui.widgets.param_prompt import ParamPrompt
from tui.widgets.sweep_prompt import SweepPrompt

DB_NAME = "sweeps.db"
USER = "tester"
TEMPLATE = {
    "all": [
        {
            "field": "odds.pinnacle.away",
            "op": "between",
            "value": [{"param": "lo"}, {"param": "hi"}],
        }
    ]
}
GRID = {"lo": {"from": 1.5, "to": 3.0, "step": 0.1}, "hi": [2.5, 3.0, 3.5, 4.0, 5.0]}


async def _build(path: Path) -> None:
    settings = load_settings(f"sqlite+aiosqlite:///{path}", USER)
    await upgrade(settings)
    service = await FilterBetsService.open(settings, migrate=False)
    try:
        await import_paths(service.db, demo_files())
        saved = await FilterStore(service.db, service.user_id).create(
            "Away band", TEMPLATE, backtest_settings={"market": "away"}
        )
        request = SweepRequest(
            backtest=BacktestRequest(market="away", filter_ref=str(saved.id)),
            grid=GRID,
            min_bets=20,
        )
        await SweepEngine(service.db, service.user_id).run(request)
        async with service.db.session() as session:
            await session.execute(update(Filter).values(created_at=MOMENT, updated_at=MOMENT))
            await session.execute(update(BacktestResult).values(created_at=MOMENT))
    finally:
        await service.close()
    # The frame keeps a read-only connection open, so closing the service leaves the last
    # writes in the WAL file: fold them into the one file the tests copy.
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.fixture(scope="session")
def sweep_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sweep-snapshots") / DB_NAME
    asyncio.run(_build(path))
    return path


@pytest.fixture
def sweep_settings(
    sweep_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    shutil.copyfile(sweep_template, tmp_path / DB_NAME)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("FILTERBETS_DATA_DIR", str(tmp_path / "data"))
    keymap = tmp_path / "keys.toml"
    keymap.write_text("")
    monkeypatch.setenv("FILTERBETS_KEYMAP", str(keymap))
    monkeypatch.setenv("FILTERBETS_JOB_CONCURRENCY", "0")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_ANIMATIONS", raising=False)
    return load_settings(f"sqlite+aiosqlite:///{DB_NAME}", USER)


@pytest.fixture(autouse=True)
def _restore_time_zone() -> Any:
    yield
    time.tzset()


async def sweep_step(pilot: Pilot[Any]) -> None:
    await opened(pilot)
    await pilot.press("3")
    await until(pilot, lambda: bool(getattr(pilot.app.screen, "rows", None)), "the results")
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, SweepResultScreen), "the sweep")
    screen = pilot.app.screen
    assert isinstance(screen, SweepResultScreen)
    await until(pilot, lambda: screen.detail is not None, "loading")


def tab(key: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def press(pilot: Pilot[Any]) -> None:
        await pilot.press(key)
        await pilot.pause()

    return press


async def editor_step(pilot: Pilot[Any]) -> None:
    await opened(pilot)
    await pilot.press("1")
    screen = pilot.app.screen
    assert isinstance(screen, FiltersScreen)
    await until(pilot, lambda: screen.filters is not None, "the filters")
    await pilot.press("e")
    await until(pilot, lambda: isinstance(pilot.app.screen, RuleEditorScreen), "the editor")
    editor = pilot.app.screen
    assert isinstance(editor, RuleEditorScreen)
    # The preview that runs once the last sweep's grid is in (its note says which variant).
    await until(
        pilot,
        lambda: editor._preview_note is not None and editor.preview_metrics is not None,
        "the template's preview",
    )


async def param_step(pilot: Pilot[Any]) -> None:
    await pilot.press("p")
    await until(pilot, lambda: isinstance(pilot.app.screen, ParamPrompt), "the prompt")


async def sweep_prompt_step(pilot: Pilot[Any]) -> None:
    await pilot.press("w")
    await until(pilot, lambda: isinstance(pilot.app.screen, SweepPrompt), "the prompt")


def runs(*steps: Callable[[Pilot[Any]], Awaitable[Any]]) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        for step in steps:
            await step(pilot)
        await settled(pilot)

    return run_before


SCREENS = {
    "variants": runs(sweep_step),
    "heatmap": runs(sweep_step, tab("m")),
    "walk_forward": runs(sweep_step, tab("w")),
    "editor_template": runs(editor_step),
}
SMALL_ONLY = {
    "param_prompt": runs(editor_step, param_step),
    "sweep_prompt": runs(editor_step, sweep_prompt_step),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", list(SCREENS))
def test_sweep_screen(
    screen: str, size: tuple[int, int], sweep_settings: Settings, snap_compare: Any
) -> None:
    app = FilterBetsApp(sweep_settings, run_jobs=False)
    assert snap_compare(app, terminal_size=size, run_before=SCREENS[screen])


@pytest.mark.parametrize("screen", list(SMALL_ONLY))
def test_sweep_prompt_at_80x24(screen: str, sweep_settings: Settings, snap_compare: Any) -> None:
    app = FilterBetsApp(sweep_settings, run_jobs=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=SMALL_ONLY[screen])


def test_heatmap_with_no_color(
    sweep_settings: Settings, snap_compare: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_COLOR: every cell still reads, a number with its sign; · marks no bets."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = FilterBetsApp(sweep_settings, run_jobs=False)
    assert app.no_color
    assert snap_compare(app, terminal_size=(80, 24), run_before=runs(sweep_step, tab("m")))
