"""Candle runs in the dashboard: the charts on their own, then through Pilot at 80x24 on
SQLite and PostgreSQL: both kinds in the Results list, a candle run's price, equity and
trades, a strategy sweep's variants, the Data screen's candle sets, and a strategy run or
sweep picked in the prompt and queued as a job."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from textual.widgets import Input, Static, TabbedContent

from core.backtest.sweeps import SweepEngine
from core.candles.importing import import_candle_files
from core.candles.request import StrategyRequest
from core.candles.service import StrategyRunner
from core.candles.store import CandleStore, SeriesInfo
from core.candles.sweep import StrategySweepRequest
from core.config import Settings
from core.jobs.queue import JobQueue
from core.services import FilterBetsService
from tests.conftest import SHARED_DATA, shared_data
from tests.test_tui_data import plain, settle
from tests.test_tui_results import AWAY, column, open_results, run_filter, seed_season
from tui.app import FilterBetsApp
from tui.screens.strategy_result import StrategyResultScreen
from tui.screens.strategy_sweep import StrategySweepScreen
from tui.widgets.candle_sets import CandleSetsPanel, gaps_text
from tui.widgets.price_chart import (
    EXIT,
    HOLD_DOT,
    LONG_ENTRY,
    LONG_HELD,
    SEVERAL,
    SHORT_ENTRY,
    RunData,
    clamp_window,
    render_equity,
    render_price,
)
from tui.widgets.strategy_prompt import PromptValues, StrategyPrompt, build_job, parse_values
from tui.widgets.vim_table import VimDataTable

SIZE = (80, 24)
BYBIT_1H = SHARED_DATA / "klines/bybit/BTCUSDT-1h-2023-11..2026-02.csv"


@pytest.fixture(autouse=True)
def _needs_shared_data() -> None:
    """Every test here reads the shared data folder: skipped without it (a failure under
    FILTERBETS_REQUIRE_CORPUS=1, as in CI; see tests/conftest.py)."""
    shared_data("klines")


HOUR_MS = 3_600_000


# The charts on their own --------------------------------------------------------------


def _run(bars: int, trades: list[tuple[int, int, int, float]]) -> RunData:
    """A hand-made run over a rising close: (entry bar, exit bar, side, profit) trades."""
    close = np.linspace(100.0, 200.0, bars)
    entry = np.array([t[0] for t in trades], dtype=np.int64)
    leave = np.array([t[1] for t in trades], dtype=np.int64)
    return RunData(
        open_ms=np.arange(bars, dtype=np.int64) * HOUR_MS + 1_704_067_200_000,
        close=close,
        equity=np.linspace(10_000.0, 12_000.0, bars),
        cash=10_000.0,
        side=np.array([t[2] for t in trades], dtype=np.int64),
        entry_bar=entry,
        exit_bar=leave,
        entry_price=close[entry],
        exit_price=close[leave],
        profit=np.array([t[3] for t in trades]),
    )


def _strip(lines: list[Any]) -> str:
    """The trades strip: the line that starts with its label, less the label and axis."""
    [line] = [plain(line) for line in lines if plain(line).lstrip().startswith("trades")]
    return line.split("│", 1)[1]


def test_the_price_chart_marks_entries_exits_and_positions_in_shapes() -> None:
    # 100 bars over 50 plot cells: two bars a cell. A long from bar 10 to 30 that won, a
    # short from 60 to 61 that lost (one cell: both events), nothing after.
    data = _run(100, [(10, 30, 1, 5.0), (60, 61, -1, -2.0)])
    lines = render_price(data, (0, 100), 57, 12)  # "trades" + the axis: 50 cells left
    assert len(lines) == 12 and all(len(plain(line)) <= 57 for line in lines)
    strip = _strip(lines)
    assert len(strip) == 50
    assert strip[5] == LONG_ENTRY and strip[15] == EXIT and strip[30] == SEVERAL
    assert set(strip[6:15]) == {LONG_HELD} and strip[16:30].strip() == ""
    assert strip[31:].strip() == ""
    # Few trades in view: the marks also sit on the line, at their fill prices.
    body = "".join(plain(line) for line in lines[:-3])
    assert body.count(LONG_ENTRY) == 1 and body.count(EXIT) == 1
    assert body.count(SEVERAL) == 1 and SHORT_ENTRY not in body  # the short's two, one cell
    # The axis says where the window starts.
    assert "2024-01-01" in plain(lines[-1])


def test_zooming_keeps_a_window_inside_the_run() -> None:
    assert clamp_window((-50, 10), 100) == (0, 60)  # moved inside, same size
    assert clamp_window((30, 35), 100) == (30, 50)  # at least 20 bars
    assert clamp_window((90, 140), 100) == (50, 100)
    assert clamp_window((0, 500), 100) == (0, 100)
    data = _run(100, [(10, 30, 1, 5.0)])
    lines = render_price(data, (40, 80), 57, 12)
    assert _strip(lines).strip() == ""  # the trade is outside the window
    assert plain(lines[-1]).strip().startswith("01-02 16:00")  # hours for a short span


def test_the_equity_chart_shows_buy_and_hold_apart_from_the_strategy() -> None:
    data = _run(200, [(10, 30, 1, 5.0)])
    lines = render_equity(data, 60, 14)
    text = "\n".join(plain(line) for line in lines)
    assert HOLD_DOT in text and any(0x2800 < ord(c) < 0x2900 for c in text)
    assert "10,000┤" in text  # the starting cash, labelled on its baseline
    # Buy and hold doubles with the close: 20,000, and the scale 4% of the range above.
    assert text.startswith("20,400┤")


def test_parameters_take_a_value_a_list_or_a_range() -> None:
    assert parse_values("", "fast") is None
    assert parse_values("12", "fast") == 12
    assert parse_values("5, 10,20", "fast") == [5, 10, 20]
    assert parse_values("5..50/5", "fast") == {"from": 5, "to": 50, "step": 5}
    assert parse_values("1.5..3/0.5", "k") == {"from": 1.5, "to": 3, "step": 0.5}
    with pytest.raises(ValueError, match="fast: 'ten' is not a number"):
        parse_values("ten", "fast")


def _series() -> SeriesInfo:
    moment = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return SeriesInfo(1, "bybit", "BTCUSDT", "1h", 100, moment, moment, 0, 0, 0, moment)


def test_the_prompt_builds_a_run_or_a_sweep_checked_as_the_cli_checks_it() -> None:
    values = PromptValues(_series(), "sma_cross", {"fast": "12", "slow": ""}, fee="0.001")
    job = build_job(values)
    assert isinstance(job, StrategyRequest)
    assert job.params == {"fast": 12, "slow": 30} and job.fee == 0.001 and job.exchange == "bybit"
    sweep = build_job(PromptValues(_series(), "sma_cross", {"fast": "5..15/5", "slow": "50"}))
    assert isinstance(sweep, StrategySweepRequest)
    assert sweep.base.params == {"slow": 50} and sweep.grid_of().size == 3
    with pytest.raises(Exception, match="params: fast \\(40\\) must be less than slow \\(30\\)"):
        build_job(PromptValues(_series(), "sma_cross", {"fast": "40", "slow": ""}))
    with pytest.raises(ValueError, match="from: '2024-13-01' is not a date"):
        build_job(PromptValues(_series(), "rsi", {}, date_from="2024-13-01"))
    assert gaps_text(_series()) == "0"


# Through the dashboard ----------------------------------------------------------------


async def _candles(service: FilterBetsService) -> tuple[int, int]:
    """Hourly BTCUSDT; a strategy run and a strategy sweep over the first half of 2024."""
    store = await CandleStore.open(service.settings, service.db)
    try:
        await import_candle_files(store, [BYBIT_1H])
        base = StrategyRequest(
            "BTCUSDT",
            "1h",
            "sma_cross",
            date_from=dt.date(2024, 1, 1),
            date_to=dt.date(2024, 6, 30),
        )
        run = await StrategyRunner(service.db, store, service.user_id).run(base)
    finally:
        await store.close()
    sweep = await SweepEngine(service.db, service.user_id).run(
        StrategySweepRequest(base, {"fast": [5, 10, 20], "slow": [30, 60]}, min_bets=5)
    )
    assert run.result_id is not None
    return run.result_id, sweep.result_id


async def test_results_list_both_kinds_and_a_candle_run_opens_on_its_charts(
    service: FilterBetsService, settings: Settings
) -> None:
    await seed_season(service)
    football = await run_filter(service, "Away value", AWAY, "away")
    run_id, sweep_id = await _candles(service)
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_results(pilot)
        assert column(app, "#results-table", "id") == [str(sweep_id), str(run_id), str(football)]
        assert column(app, "#results-table", "kind") == ["c-sweep", "candles", "filter"]
        keys = [str(c.key.value) for c in app.screen.query_one(VimDataTable).ordered_columns]
        assert "market" not in keys  # the Kind column takes its place at 80 columns
        table = app.screen.query_one("#results-table", VimDataTable)
        assert table.virtual_size.width <= SIZE[0]

        table.move_cursor(row=1)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, StrategyResultScreen) and screen.data is not None
        bars = len(screen.data)
        assert bars == 182 * 24  # January to June 2024, every hour
        legend = plain(screen.query_one("#price-legend", Static).render())
        trades = len(screen.trades)
        assert legend.startswith(f"all {bars:,} bars · {trades:,} trades")
        title = plain(screen.query_one("#strategy-title", Static).render())
        assert title.startswith(f"#{run_id} sma_cross(10,30) BTCUSDT 1h · {trades} trades")
        await pilot.press("plus")  # half the bars, around the middle
        assert screen.window == (bars // 4, bars // 4 + bars // 2)
        await pilot.press("right_square_bracket")  # later by half a window: to the end
        assert screen.window == (bars // 2, bars)
        await pilot.press("right_square_bracket")  # no further
        assert screen.window == (bars // 2, bars)
        zoomed = plain(screen.query_one("#price-legend", Static).render())
        assert zoomed.startswith(f"{bars // 2:,} bars · ")
        await pilot.press("0")
        assert screen.window == (0, bars)

        await pilot.press("e")
        equity = plain(screen.query_one("#equity-legend", Static).render())
        assert "strategy" in equity and "buy and hold" in equity
        await pilot.press("t")
        assert screen.query_one(TabbedContent).active == "trades"
        ledger = screen.query_one("#strategy-trades-table", VimDataTable)
        assert ledger.row_count == trades > 0
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("k")
        await pilot.press("enter")
        await settle(pilot)
        sweep = app.screen
        assert isinstance(sweep, StrategySweepScreen)
        variants = sweep.query_one("#sweep-variants", VimDataTable)
        assert variants.row_count == 6
        assert "walk-forward" in plain(sweep.query_one("#sweep-luck", Static).render())


async def test_a_sweep_variant_is_queued_as_a_strategy_run(
    service: FilterBetsService, settings: Settings
) -> None:
    _run_id, sweep_id = await _candles(service)
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_results(pilot)
        await pilot.press("enter")  # the newest: the sweep
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, StrategySweepScreen) and screen.result_id == sweep_id
        table = screen.query_one("#sweep-variants", VimDataTable)
        order = [plain(table.get_row_at(i)[0]) for i in range(table.row_count)]
        yields = [screen.variants[int(i)].yield_ for i in order]
        known = [y for y in yields if y is not None]
        assert known == sorted(known, reverse=True)
        await pilot.press("s")  # by total return
        assert screen.sort_key == "return"
        table.move_cursor(row=0)
        first = int(plain(table.get_row_at(0)[0]))
        await pilot.press("r")
        await settle(pilot)
    [job] = await JobQueue(service.db).list()
    assert job.kind == "strategy"
    assert job.request["params"] == screen.variants[first].params | {}
    assert job.request["from"] == "2024-01-01"


async def test_the_data_screen_lists_candle_sets_and_queues_a_sweep_from_the_prompt(
    service: FilterBetsService, settings: Settings
) -> None:
    store = await CandleStore.open(service.settings, service.db)
    try:
        await import_candle_files(store, [BYBIT_1H])
    finally:
        await store.close()
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        panel = app.screen.query_one(CandleSetsPanel)
        assert panel.display and panel.series is not None and len(panel.series) == 1
        row = [plain(cell) for cell in panel.query_one(VimDataTable).get_row_at(0)]
        assert row == ["bybit", "BTCUSDT", "1h", "2023-11-29", "2026-02-08", "19,261", "0"]
        await pilot.press("n")
        await settle(pilot)
        prompt = app.screen
        assert isinstance(prompt, StrategyPrompt)
        prompt.query_one("#param-fast", Input).value = "60"
        await pilot.press("ctrl+r")  # fast 60 >= slow 30: refused, nothing queued
        error = plain(prompt.query_one("#strategy-error", Static).render())
        assert error == "params: fast (60) must be less than slow (30)"
        prompt.query_one("#param-fast", Input).value = "5..15/5"
        prompt.query_one("#strategy-from", Input).value = "2024-01-01"
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert not isinstance(app.screen, StrategyPrompt)
    [job] = await JobQueue(service.db).list()
    assert job.kind == "sweep" and job.title == "sweep of sma_cross on BTCUSDT 1h"
    assert job.request["grid"] == [["fast", {"from": 5, "to": 15, "step": 5}]]
    assert job.request["strategy"]["from"] == "2024-01-01"


async def test_football_only_lists_keep_their_columns(
    service: FilterBetsService, settings: Settings
) -> None:
    await seed_season(service)
    await run_filter(service, "Away value", AWAY, "away")
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_results(pilot)
        keys = [str(c.key.value) for c in app.screen.query_one(VimDataTable).ordered_columns]
        assert "kind" not in keys and "market" in keys
        await pilot.press("4")
        await settle(pilot)
        assert not app.screen.query_one(CandleSetsPanel).display
