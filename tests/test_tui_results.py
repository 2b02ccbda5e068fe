"""The Results screen, driven through Pilot at 80x24 on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Select, Static, TabbedContent

from core.backtest.engine import BacktestEngine
from core.backtest.request import BacktestRequest
from core.config import Settings
from core.filters import FilterStore
from core.results import ResultStore
from core.services import FilterBetsService
from tests.factories import add_fixtures
from tests.test_tui_data import plain, record_notifications, screen_lines, settle
from tui.app import FilterBetsApp
from tui.screens.results import CompareScreen, ResultDetailScreen, ResultsScreen
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.equity_chart import EquityChart, chart_data, render_chart
from tui.widgets.export_prompt import ExportPrompt
from tui.widgets.metrics_panel import MetricsPanel
from tui.widgets.text import clip, clip_middle
from tui.widgets.vim_table import VimDataTable

SIZE = (80, 24)
AWAY = {"field": "odds.pinnacle.away", "op": ">=", "value": 2.0}
HOME = {"field": "odds.pinnacle.home", "op": "<", "value": 2.0}


# Helpers -------------------------------------------------------------------------------


async def seed_season(service: FilterBetsService, matches: int = 60) -> None:
    """`matches` E0/SP1 games; every third is an away win at 2.50, the rest home wins at 1.60."""
    start = dt.date(2019, 8, 10)
    specs = []
    for i in range(matches):
        away_win = i % 3 == 0
        specs.append(
            {
                "league": "E0" if i % 2 == 0 else "SP1",
                "season": "2019-20",
                "date": start + dt.timedelta(days=i),
                "home": f"Home {i:02d}",
                "away": f"Away {i:02d}",
                "goals": (0, 1) if away_win else (2, 0),
                "odds": {
                    "pinnacle_home": 1.6,
                    "pinnacle_draw": 4.0,
                    "pinnacle_away": 2.5,
                    "pinnacle_close_home": 1.55,
                },
            }
        )
    await add_fixtures(service, specs)


async def run_filter(service: FilterBetsService, name: str, rules: Any, market: str) -> int:
    saved = await FilterStore(service.db, service.user_id).create(name, rules)
    engine = BacktestEngine(service.db, service.user_id)
    run = await engine.run(BacktestRequest(market=market, filter_ref=str(saved.id)))
    return run.result_id


def table_cells(app: FilterBetsApp, selector: str) -> list[list[str]]:
    table = app.screen.query_one(selector, VimDataTable)
    return [[plain(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def column(app: FilterBetsApp, selector: str, key: str) -> list[str]:
    table = app.screen.query_one(selector, VimDataTable)
    keys = [str(c.key.value) for c in table.ordered_columns]
    return [row[keys.index(key)] for row in table_cells(app, selector)]


def rendered(widget: Widget) -> str:
    """What a widget's render() shows at its current width, as plain text."""
    console = Console(width=max(widget.size.width, 40), file=io.StringIO(), record=True)
    console.print(widget.render())
    return console.export_text()


def static_text(app: FilterBetsApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def open_results(pilot: Pilot[Any]) -> ResultsScreen:
    await settle(pilot)
    await pilot.press("3")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ResultsScreen)
    return screen


@pytest.fixture
async def three_results(service: FilterBetsService) -> dict[str, int]:
    await seed_season(service)
    away = await run_filter(service, "Away value", AWAY, "away")  # 60 bets, +0.00
    home = await run_filter(service, "Home short", HOME, "home")  # 60 bets, 40 wins at 1.6
    e0 = await run_filter(
        service, "E0 homes", {"field": "league", "op": "=", "value": "E0"}, "home"
    )
    return {"away": away, "home": home, "e0": e0}


# The list ------------------------------------------------------------------------------


async def test_results_list_sorts_by_yield_profit_bets_and_date(
    service: FilterBetsService, settings: Settings, three_results: dict[str, int]
) -> None:
    ids = three_results
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_results(pilot)
        assert static_text(app, "#results-summary") == "3 results"
        # Newest first by default.
        assert column(app, "#results-table", "id") == [
            str(ids["e0"]),
            str(ids["home"]),
            str(ids["away"]),
        ]
        assert column(app, "#results-table", "filter") == ["E0 homes", "Home short", "Away value"]
        assert static_text(app, "#results-sort") == "sort: Date ▼"

        stored = {r.id: r for r in await ResultStore(service.db, service.user_id).list_results()}
        by_yield = sorted(stored, key=lambda i: stored[i].yield_ or 0.0, reverse=True)
        await pilot.press("s")  # date -> yield
        await settle(pilot)
        assert screen.sort_by == "yield"
        assert column(app, "#results-table", "id") == [str(i) for i in by_yield]
        assert static_text(app, "#results-sort") == "sort: Yield ▼"
        await pilot.press("S")
        await settle(pilot)
        assert column(app, "#results-table", "id") == [str(i) for i in reversed(by_yield)]

        await pilot.press("s")  # profit, highest first
        await settle(pilot)
        profits = [float(p) for p in column(app, "#results-table", "profit")]
        assert profits == sorted(profits, reverse=True)
        await pilot.press("s")  # bets
        await settle(pilot)
        bets = [int(b.replace(",", "")) for b in column(app, "#results-table", "bets")]
        assert bets == sorted(bets, reverse=True) and bets[0] == 60

        # The table fits the screen.
        table = app.screen.query_one("#results-table", VimDataTable)
        assert table.virtual_size.width <= SIZE[0]


async def test_empty_results_say_how_to_get_one(
    service: FilterBetsService, settings: Settings
) -> None:
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_results(pilot)
        assert static_text(app, "#results-summary") == "No results yet"
        assert "press r to run a backtest" in " ".join(
            static_text(app, "#results-empty-message").split()
        )
        assert not app.screen.query_one("#results-table").display


# The detail ----------------------------------------------------------------------------


async def test_detail_shows_metrics_chart_splits_and_a_paged_sortable_ledger(
    service: FilterBetsService, settings: Settings, three_results: dict[str, int]
) -> None:
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_results(pilot)
        table = screen.query_one("#results-table", VimDataTable)
        table.move_cursor(row=column(app, "#results-table", "filter").index("Home short"))
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, ResultDetailScreen)
        assert detail.result_id == three_results["home"]
        title = static_text(app, "#result-title")
        assert title.startswith(f"#{three_results['home']} Home short · home @ pinnacle")
        assert "60 bets" in title

        lines = rendered(app.screen.query_one(MetricsPanel))
        assert "Bets" in lines and "60" in lines
        assert "40W 20L" in lines
        # 40 wins at 1.60 (+24) and 20 losses (-20): +4.00, yield +6.67%.
        assert "+4.00" in lines and "+6.67%" in lines
        assert "Rules as run: odds.pinnacle.home < 2" in static_text(app, "#result-rules")

        await pilot.press("e")
        await settle(pilot)
        assert app.screen.query_one(TabbedContent).active == "chart"
        chart = app.screen.query_one("#result-chart", EquityChart)
        assert chart.data is not None and chart.data.unit == "units"
        chart_lines = [line.plain for line in render_chart(chart.data, *chart.size)]
        assert chart_lines[-1].strip().startswith("2019-08-10")
        assert "2019-10-08" in chart_lines[-1]  # the last bet's date, at the right end
        assert "units won by bet" in static_text(app, "#result-chart-legend")

        await pilot.press("p")
        await settle(pilot)
        assert table_cells(app, "#split-league") == [
            ["E0", "30", "+2.00", "+6.7%"],
            ["SP1", "30", "+2.00", "+6.7%"],
        ]
        assert table_cells(app, "#split-month")[0][0] == "Aug"

        await pilot.press("b")
        await settle(pilot)
        assert static_text(app, "#ledger-status") == "bets 1-50 of 60 · page 1/2 · sort: # ▲"
        assert column(app, "#ledger-table", "seq")[:2] == ["1", "2"]
        first = table_cells(app, "#ledger-table")[0]
        assert first[1] == "2019-08-10"
        assert first[2] == "E0 Home 00 v Away 00"
        assert first[3:] == ["1.60", "1.00", "loss", "-1.00"]

        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert static_text(app, "#ledger-status") == "bets 51-60 of 60 · page 2/2 · sort: # ▲"
        assert column(app, "#ledger-table", "seq") == [str(i) for i in range(51, 61)]
        await pilot.press("right_square_bracket")  # no page 3: nothing happens
        await settle(pilot)
        assert detail.page is not None and detail.page.page == 2
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert detail.page is not None and detail.page.page == 1

        for _ in range(6):  # seq -> date -> fixture -> odds -> stake -> outcome -> profit
            await pilot.press("o")
            await settle(pilot)
        assert static_text(app, "#ledger-status").endswith("sort: Profit ▲")
        assert column(app, "#ledger-table", "profit")[:3] == ["-1.00"] * 3
        await pilot.press("O")
        await settle(pilot)
        assert column(app, "#ledger-table", "profit")[0] == "+0.60"

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ResultsScreen)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
async def test_runs_that_differ_read_apart_in_the_list(
    service: FilterBetsService, settings: Settings, size: tuple[int, int]
) -> None:
    """Issue 14 item 6: a Kelly run at maximum prices looked like a flat Pinnacle run, and a
    filter and its duplicate read the same once cut to 18 characters."""
    await seed_season(service)
    store = FilterStore(service.db, service.user_id)
    name = "Home favourites in the big leagues"
    original = await store.create(name, HOME)
    copy = await store.duplicate(original.id)
    engine = BacktestEngine(service.db, service.user_id)
    flat = await engine.run(BacktestRequest(market="home", filter_ref=str(original.id)))
    kelly = await engine.run(
        BacktestRequest(market="home", filter_ref=str(copy.id), odds_source="max", staking="kelly")
    )
    percent = await engine.run(
        BacktestRequest(
            market="home",
            filter_ref=str(original.id),
            odds_source="pinnacle_close",
            staking="percent",
            stake=Decimal("2"),
            leagues=("E0",),
        )
    )
    stored = {r.id: r for r in await ResultStore(service.db, service.user_id).list_results()}
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=size) as pilot:
        screen = await open_results(pilot)
        table = screen.query_one("#results-table", VimDataTable)
        assert table.virtual_size.width <= size[0]
        rows = {
            int(cells["id"].lstrip("● ")): cells
            for cells in (
                dict(zip([str(c.key.value) for c in table.ordered_columns], row, strict=True))
                for row in table_cells(app, "#results-table")
            )
        }
        assert rows[flat.result_id]["odds"] == "PIN"
        assert rows[kelly.result_id]["odds"] == "MAX"
        assert rows[percent.result_id]["odds"] == "PINc"
        assert rows[flat.result_id]["staking"].startswith("flat")
        assert rows[kelly.result_id]["staking"].startswith("kelly")
        assert rows[percent.result_id]["staking"] == "2% bank"
        # The filter and its duplicate: both ends of a long name survive the cut.
        shown_original = rows[flat.result_id]["filter"]
        shown_copy = rows[kelly.result_id]["filter"]
        assert shown_original != shown_copy
        assert shown_original.startswith("Home fav") and shown_copy.startswith("Home fav")
        assert shown_copy.endswith("(copy)")

        # The line under the list names the selected run in full, and its warnings.
        table.move_cursor(row=table.get_row_index(str(kelly.result_id)))
        await settle(pilot)
        line = " ".join(static_text(app, "#results-detail").split())
        assert line.startswith(f"#{kelly.result_id} {name} (copy) · home @ max · kelly x0.25")
        warnings = stored[kelly.result_id].warnings
        assert warnings, "a Kelly run has warnings to show"
        shown = " ".join(static_text(app, "#results-warnings").split())
        assert all(" ".join(w.split()) in shown for w in warnings)
        table.move_cursor(row=table.get_row_index(str(percent.result_id)))
        await settle(pilot)
        line = " ".join(static_text(app, "#results-detail").split())
        assert "home @ pinnacle_close · 2% of bank · leagues E0" in line


async def seed_seasons_and_months(service: FilterBetsService) -> None:
    """25 seasons (more than a screen of rows) of E0 and SP1 games, one in every month of each
    season, so the last rows of the splits are 2017-18, SP1 and December."""
    specs = []
    for season_index in range(25):
        first_year = 1993 + season_index
        for month in range(1, 13):
            year = first_year if month >= 7 else first_year + 1
            n = len(specs)
            specs.append(
                {
                    "league": ("E0", "SP1")[n % 2],
                    "season": f"{first_year}-{(first_year + 1) % 100:02d}",
                    "date": dt.date(year, month, 10),
                    "home": f"Home {n:03d}",
                    "away": f"Away {n:03d}",
                    "goals": (2, 0) if n % 4 else (0, 1),
                    "odds": {"pinnacle_home": 1.8 if n % 3 else 3.5},
                }
            )
    await add_fixtures(service, specs, features=False)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
async def test_every_split_row_can_be_seen_and_the_cursor_scrolls_to_it(
    service: FilterBetsService, settings: Settings, size: tuple[int, int]
) -> None:
    """Issue 14 item 4: "By season" hid its last season and "By month" December, and moving
    the cursor onto the hidden row did not scroll it into view."""
    await seed_seasons_and_months(service)
    await run_filter(
        service, "All homes", {"field": "odds.pinnacle.home", "op": ">", "value": 1}, "home"
    )
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=size) as pilot:
        await open_results(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, ResultDetailScreen)
        for name, last in (
            ("season", "2017-18"),
            ("league", "SP1"),
            ("month", "Dec"),
            ("odds_band", "3-5"),
        ):
            table = detail.query_one(f"#split-{name}", VimDataTable)
            labels = column(app, f"#split-{name}", "key")
            assert labels[-1] == last
            # The table is as tall as its rows: none is cut off by its box.
            box = table.parent
            assert box is not None
            assert box.size.height >= table.size.height + 1  # the title line above it
            table.focus()
            await pilot.press("G")  # the last row
            await settle(pilot)
            assert table.cursor_row == len(labels) - 1
            shown = [line for line in screen_lines(app) if f" {last} " in line]
            assert shown, f"the cursor is on {last} in 'By {name}' but it is not on screen"
            await pilot.press("g")  # back to the first row: its header shows again
            await settle(pilot)
            assert any(f" {labels[0]} " in line for line in screen_lines(app))


async def test_closing_price_and_small_sample_warnings_stand_out(
    service: FilterBetsService, settings: Settings
) -> None:
    await seed_season(service, matches=6)
    engine = BacktestEngine(service.db, service.user_id)
    await engine.run(
        BacktestRequest(
            market="home",
            rules={"field": "odds.pinnacle.home", "op": "<", "value": 2.0},
            odds_source="pinnacle_close",
        )
    )
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_results(pilot)
        await pilot.press("enter")
        await settle(pilot)
        text = rendered(app.screen.query_one(MetricsPanel))
        assert "⚠ WARNING  uses closing prices, known only at kick-off" in text
        assert "⚠ WARNING  fewer than 30 bets: results are noise" in text


# Compare, export, copy, delete ---------------------------------------------------------


async def test_compare_two_results_side_by_side(
    service: FilterBetsService,
    settings: Settings,
    three_results: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = FilterBetsApp(settings, service=service)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_results(pilot)
        await pilot.press("c")  # nothing marked: a hint, no screen
        assert any("Mark a result with space" in note for note in notes)
        assert isinstance(app.screen, ResultsScreen)

        await pilot.press("space")  # marks the newest (E0 homes)
        assert screen.marked == [three_results["e0"]]
        assert column(app, "#results-table", "id")[0] == f"●{three_results['e0']}"
        await pilot.press("j", "c")
        await settle(pilot)
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        rows = {row[0]: [c.strip() for c in row[1:]] for row in table_cells(app, "#compare-table")}
        assert rows["Filter"] == ["E0 homes", "Home short"]
        assert rows["Bets"] == ["30", "60"]
        assert rows["Profit"][0].startswith("+2.00")
        assert rows["Profit"][1].startswith("+4.00")
        assert rows["Profit"][1].endswith("◀")  # the better side is marked
        assert rows["Yield"] == ["+6.67%", "+6.67%"]  # equal: neither marked

        await pilot.press("w")
        rows = {row[0]: [c.strip() for c in row[1:]] for row in table_cells(app, "#compare-table")}
        assert rows["Filter"] == ["Home short", "E0 homes"]
        await pilot.press("escape")
        assert isinstance(app.screen, ResultsScreen)


async def test_export_writes_the_files_and_never_overwrites_silently(
    service: FilterBetsService,
    settings: Settings,
    three_results: dict[str, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FILTERBETS_EXPORT_DIR", str(tmp_path))
    result_id = three_results["e0"]
    app = FilterBetsApp(settings, service=service)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await open_results(pilot)
        await pilot.press("x")
        prompt = app.screen
        assert isinstance(prompt, ExportPrompt)
        path_input = prompt.query_one("#export-path", Input)
        assert path_input.value == str(tmp_path / f"result-{result_id}.csv")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ResultsScreen)
        ledger_path = tmp_path / f"result-{result_id}.csv"
        rows = list(csv.DictReader(ledger_path.open(encoding="utf-8")))
        assert len(rows) == 30
        assert (rows[0]["home"], rows[0]["league"], rows[0]["outcome"]) == (
            "Home 00",
            "E0",
            "loss",
        )
        metrics = dict(csv.reader((tmp_path / f"result-{result_id}.metrics.csv").open()))
        assert metrics["filter"] == "E0 homes"
        assert metrics["bets"] == "30"
        note = next(n for n in notes if f"Exported result #{result_id}" in n)
        assert str(ledger_path) in note
        assert f"result-{result_id}.splits.csv" in note

        # JSON to a name that exists: refused inline until Overwrite is ticked.
        taken = tmp_path / "mine.json"
        taken.write_text("keep me")
        await pilot.press("x")
        prompt = app.screen
        assert isinstance(prompt, ExportPrompt)
        prompt.query_one(Select).value = "json"
        await pilot.pause()
        path_input = prompt.query_one("#export-path", Input)
        assert path_input.value == str(tmp_path / f"result-{result_id}.json")
        path_input.value = str(taken)
        path_input.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, ExportPrompt)
        assert "mine.json already exists" in static_text(app, "#export-error")
        assert taken.read_text() == "keep me"
        prompt.query_one(Checkbox).value = True
        path_input.focus()
        await pilot.press("enter")
        await settle(pilot)
        document = json.loads(taken.read_text())
        assert document["result"]["id"] == result_id
        assert len(document["ledger"]) == 30


async def test_copy_summary_goes_to_the_clipboard(
    service: FilterBetsService, settings: Settings, three_results: dict[str, int]
) -> None:
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_results(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert app.clipboard.startswith(f"FilterBets result #{three_results['e0']}: E0 homes")
        assert "bets 30 (W 20 / L 10)" in app.clipboard
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert 'rules {"field": "league"' in app.clipboard


async def test_delete_a_result_after_confirmation(
    service: FilterBetsService, settings: Settings, three_results: dict[str, int]
) -> None:
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await open_results(pilot)
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert len(table_cells(app, "#results-table")) == 3
        await pilot.press("d")
        await pilot.press("y")
        await settle(pilot)
        assert column(app, "#results-table", "filter") == ["Home short", "Away value"]
    remaining = await ResultStore(service.db, service.user_id).list_results()
    assert three_results["e0"] not in {r.id for r in remaining}


# Pieces --------------------------------------------------------------------------------


def test_chart_shades_drawdowns_and_labels_both_axes() -> None:
    curve = [
        {"bet": 1, "date": "2020-01-01", "profit": 2.0, "bank": None},
        {"bet": 2, "date": "2020-01-02", "profit": 4.0, "bank": None},
        {"bet": 3, "date": "2020-01-03", "profit": -3.0, "bank": None},
        {"bet": 4, "date": "2020-01-04", "profit": 1.0, "bank": None},
    ]
    lines = [line.plain for line in render_chart(chart_data(curve), 40, 10)]
    assert len(lines) == 10 and all(len(line) <= 40 for line in lines)
    assert "░" in "".join(lines)  # the fall from +4 to -3 is shaded
    assert lines[0].lstrip().startswith("4.3")  # top of the y axis, a little headroom
    assert any(line.lstrip().startswith("0┤") for line in lines)  # the zero baseline
    assert lines[-2].lstrip().startswith("└")
    assert lines[-1].strip().startswith("2020-01")
    assert chart_data([]).points[0].value == 0.0
    assert render_chart(chart_data([]), 40, 10)[0].plain == "No bets to chart."


def test_bank_curves_plot_the_bank() -> None:
    curve = [
        {"bet": 1, "date": "2020-01-01", "profit": 5.0, "bank": 105.0},
        {"bet": 2, "date": "2020-01-02", "profit": 1.0, "bank": 101.0},
    ]
    data = chart_data(curve, 100.0)
    assert data.unit == "bank"
    assert [p.value for p in data.points] == [100.0, 105.0, 101.0]


def test_names_cut_in_the_middle_keep_both_ends() -> None:
    name = "Home favourites in the big leagues"
    cut, cut_copy = clip_middle(name, 18), clip_middle(f"{name} (copy)", 18)
    assert len(cut) <= 18 and len(cut_copy) <= 18
    assert cut != cut_copy  # cut at the end, both were "Home favourites i…"
    assert cut_copy.startswith("Home fav") and cut_copy.endswith("(copy)")
    assert clip_middle("short", 18) == "short"
    assert clip(name, 18) == "Home favourites i…"
