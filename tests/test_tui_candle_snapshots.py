"""Snapshots of the candle views at 80x24 (some at 120x40 too): the Results list with both
kinds, a strategy run's price, zoomed price, equity and trades, a strategy sweep, the Data
screen's candle sets, the strategy prompt, and a strategy run under NO_COLOR.

Their database is fixed and built once per session (SQLite, opened by a relative path):
60 football matches with one backtest, the Bybit BTCUSDT 1h candles, a strategy run and a
strategy sweep over January to June 2024, every stored moment set to a fixed time. See
tests/test_tui_snapshots.py for how the environment is pinned.

    uv run pytest tests/test_tui_candle_snapshots.py --snapshot-update   # accept new pictures
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from textual.pilot import Pilot

from core.backtest.sweeps import SweepEngine
from core.candles.importing import import_candle_files
from core.candles.request import StrategyRequest
from core.candles.service import StrategyRunner
from core.candles.store import CandleStore
from core.candles.sweep import StrategySweepRequest
from core.config import Settings, load_settings
from core.migrate import upgrade
from core.models import BacktestResult, CandleSeries
from core.services import FilterBetsService
from tests.conftest import shared_data
from tests.test_tui_results import AWAY, run_filter, seed_season
from tests.test_tui_snapshots import MOMENT, SIZES, opened, settled, until
from tui.app import FilterBetsApp
from tui.screens.data import DataScreen
from tui.screens.results import ResultsScreen
from tui.screens.strategy_result import StrategyResultScreen
from tui.screens.strategy_sweep import StrategySweepScreen
from tui.widgets.candle_sets import CandleSetsPanel
from tui.widgets.strategy_prompt import StrategyPrompt

DB_NAME = "candles.db"
USER = "tester"
BYBIT_1H = "klines/bybit/BTCUSDT-1h-2023-11..2026-02.csv"


async def _build(path: Path, candles: Path) -> None:
    settings = load_settings(f"sqlite+aiosqlite:///{path}", USER)
    await upgrade(settings)
    service = await FilterBetsService.open(settings, migrate=False)
    try:
        await seed_season(service)
        await run_filter(service, "Away value", AWAY, "away")
        store = await CandleStore.open(settings, service.db)
        try:
            await import_candle_files(store, [candles])
            base = StrategyRequest(
                "BTCUSDT",
                "1h",
                "sma_cross",
                {"fast": 20, "slow": 60},
                date_from=dt.date(2024, 1, 1),
                date_to=dt.date(2024, 6, 30),
                long_short=True,
            )
            await StrategyRunner(service.db, store, service.user_id).run(base)
        finally:
            await store.close()
        sweep = StrategySweepRequest(
            StrategyRequest(
                "BTCUSDT",
                "1h",
                "ema_cross",
                date_from=dt.date(2024, 1, 1),
                date_to=dt.date(2024, 6, 30),
            ),
            {"fast": [5, 8, 12, 20], "slow": [26, 50]},
            min_bets=10,
        )
        await SweepEngine(service.db, service.user_id).run(sweep)
        async with service.db.session() as session:
            for n in range(1, 4):
                await session.execute(
                    update(BacktestResult)
                    .where(BacktestResult.id == n)
                    .values(created_at=MOMENT + dt.timedelta(minutes=n))
                )
            await session.execute(update(CandleSeries).values(updated_at=MOMENT))
    finally:
        await service.close()


@pytest.fixture(scope="session")
def candle_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Asked for here: this session fixture is set up before any function-scoped one, so only
    # this call can skip the tests without the shared data folder (or fail them in CI).
    candles = shared_data(BYBIT_1H)
    path = tmp_path_factory.mktemp("candle-snapshots") / DB_NAME
    asyncio.run(_build(path, candles))
    return path


@pytest.fixture
def candle_settings(
    candle_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    shutil.copyfile(candle_template, tmp_path / DB_NAME)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("FILTERBETS_DATA_DIR", str(tmp_path / "data"))
    keymap = tmp_path / "keys.toml"
    keymap.write_text("")
    monkeypatch.setenv("FILTERBETS_KEYMAP", str(keymap))
    monkeypatch.setenv("FILTERBETS_JOB_CONCURRENCY", "0")
    monkeypatch.delenv("FILTERBETS_CANDLES_URL", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_ANIMATIONS", raising=False)
    return load_settings(f"sqlite+aiosqlite:///{DB_NAME}", USER)


@pytest.fixture(autouse=True)
def _restore_time_zone() -> Any:
    yield
    time.tzset()


# Steps ----------------------------------------------------------------------------------


async def results_step(pilot: Pilot[Any]) -> None:
    await opened(pilot)
    await pilot.press("3")
    screen = pilot.app.screen
    assert isinstance(screen, ResultsScreen)
    await until(pilot, lambda: screen.rows is not None and len(screen.rows) == 3, "the results")


async def _open_row(pilot: Pilot[Any], row: int, kind: type) -> Any:
    await results_step(pilot)
    for _ in range(row):
        await pilot.press("j")
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, kind), "the screen")
    return pilot.app.screen


async def run_step(pilot: Pilot[Any]) -> None:
    screen = await _open_row(pilot, 1, StrategyResultScreen)
    await until(pilot, lambda: screen.data is not None and screen.trades != [], "the charts")


async def zoom_step(pilot: Pilot[Any]) -> None:
    for key in ("plus", "plus", "plus", "left_square_bracket"):
        await pilot.press(key)


def key(name: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def press(pilot: Pilot[Any]) -> None:
        await pilot.press(name)

    return press


async def sweep_step(pilot: Pilot[Any]) -> None:
    screen = await _open_row(pilot, 0, StrategySweepScreen)
    await until(pilot, lambda: bool(screen.variants), "the variants")


async def data_step(pilot: Pilot[Any]) -> None:
    await opened(pilot)
    await pilot.press("4")
    screen = pilot.app.screen
    assert isinstance(screen, DataScreen)
    panel = screen.query_one(CandleSetsPanel)
    await until(pilot, lambda: screen._rows is not None and bool(panel.series), "the data")


async def prompt_step(pilot: Pilot[Any]) -> None:
    await data_step(pilot)
    await pilot.press("n")
    await until(pilot, lambda: isinstance(pilot.app.screen, StrategyPrompt), "the prompt")


def runs(*steps: Callable[[Pilot[Any]], Awaitable[Any]]) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        for step in steps:
            await step(pilot)
        await settled(pilot)

    return run_before


BOTH_SIZES = {
    "results": runs(results_step),
    "run_price": runs(run_step),
    "sweep": runs(sweep_step),
    "data": runs(data_step),
}
SMALL_ONLY = {
    "run_zoomed": runs(run_step, zoom_step),
    "run_equity": runs(run_step, key("e")),
    "run_trades": runs(run_step, key("t")),
    "sweep_walk_forward": runs(sweep_step, key("w")),
    "prompt": runs(prompt_step),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", list(BOTH_SIZES))
def test_candle_screen(
    screen: str, size: tuple[int, int], candle_settings: Settings, snap_compare: Any
) -> None:
    app = FilterBetsApp(candle_settings, run_jobs=False)
    assert snap_compare(app, terminal_size=size, run_before=BOTH_SIZES[screen])


@pytest.mark.parametrize("screen", list(SMALL_ONLY))
def test_candle_screen_at_80x24(screen: str, candle_settings: Settings, snap_compare: Any) -> None:
    app = FilterBetsApp(candle_settings, run_jobs=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=SMALL_ONLY[screen])


@pytest.mark.parametrize("view", ["run_zoomed", "run_equity"])
def test_candle_charts_with_no_color(
    view: str, candle_settings: Settings, snap_compare: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_COLOR: entries, exits, positions, the strategy and buy-and-hold stay apart by shape."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = FilterBetsApp(candle_settings, run_jobs=False)
    assert app.no_color
    assert snap_compare(app, terminal_size=(80, 24), run_before=SMALL_ONLY[view])
