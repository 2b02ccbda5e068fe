"""The dashboard's first screen, driven through Textual's Pilot at 80x24 on both backends."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from sqlalchemy import func, select
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Static
from textual.widgets._header import HeaderTitle

from core.config import Settings, load_settings
from core.errors import DatabaseUnavailableError
from core.migrate import SCHEMA_HEAD, upgrade
from core.models import Fixture, FixtureFeatures, FixtureOdds, League, Team
from core.services import FilterBetsService
from tests.conftest import real_file
from tui.app import FilterBetsApp, describe_error
from tui.screens import SCREEN_MODES
from tui.screens.data import COLUMNS, DataScreen, book_list, fit_columns, format_coverage
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.help import HelpScreen
from tui.widgets.import_prompt import ImportPrompt
from tui.widgets.import_report import ImportReport
from tui.widgets.vim_table import VimDataTable

REPO_ROOT = Path(__file__).resolve().parent.parent
SIZE = (80, 24)
DEMO_SEASON = REPO_ROOT / "core" / "demo_data" / "E0_2019-20.csv"


# Helpers -------------------------------------------------------------------------------


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until every worker has finished and the messages they caused are handled."""
    await pilot.pause()
    while pending := [worker for worker in pilot.app.workers if not worker.is_finished]:
        await asyncio.gather(*(worker.wait() for worker in pending), return_exceptions=True)
        await pilot.pause()


def record_notifications(app: FilterBetsApp, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every notification the app shows, as "severity: title: message"."""
    seen: list[str] = []
    original = app.notify

    def notify(message: str, *, title: str = "", severity: Any = "information", **kw: Any) -> None:
        seen.append(f"{severity}: {title}: {message}")
        original(message, title=title, severity=severity, **kw)

    monkeypatch.setattr(app, "notify", notify)
    return seen


def plain(value: object) -> str:
    return value.plain if isinstance(value, Text) else str(value)


def static_text(app: FilterBetsApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], what: str) -> None:
    """Let the app run until `condition` holds (workers, timers); fail after 5 s."""
    deadline = time.monotonic() + 5.0
    while True:
        await settle(pilot)
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.01)


def table_rows(app: FilterBetsApp) -> list[dict[str, str]]:
    """The Data table as it is shown: one dict per row, column key -> cell text."""
    table = app.screen.query_one("#data-table", VimDataTable)
    keys = [str(column.key.value) for column in table.ordered_columns]
    return [
        dict(zip(keys, (plain(cell) for cell in table.get_row_at(index)), strict=True))
        for index in range(table.row_count)
    ]


async def add_league_season(
    service: FilterBetsService,
    *,
    code: str,
    name: str,
    country: str,
    season: str,
    start: dt.date,
    matches: int,
    odds: Iterable[dict[str, float]] = (),
) -> None:
    """`matches` fixtures between made-up teams; the i-th gets odds[i] when given."""
    odds_list = list(odds)
    async with service.db.session() as session:
        league = (await session.execute(select(League).where(League.code == code))).scalar()
        if league is None:
            league = League(code=code, name=name, country=country)
            session.add(league)
        teams = [Team(name=f"{code} {season} team {i}") for i in range(2 * matches)]
        session.add_all(teams)
        await session.flush()
        for i in range(matches):
            fixture = Fixture(
                league_id=league.id,
                season=season,
                kickoff_date=start + dt.timedelta(days=7 * i),
                home_team_id=teams[2 * i].id,
                away_team_id=teams[2 * i + 1].id,
                home_goals=1,
                away_goals=0,
                result="H",
            )
            session.add(fixture)
            await session.flush()
            if i < len(odds_list):
                session.add(FixtureOdds(fixture_id=fixture.id, **odds_list[i]))


async def add_two_league_seasons(service: FilterBetsService) -> None:
    # E0 2019-20: two matches, both with Bet365 and Pinnacle, one with Pinnacle closing.
    await add_league_season(
        service,
        code="E0",
        name="Premier League",
        country="England",
        season="2019-20",
        start=dt.date(2019, 8, 10),
        matches=2,
        odds=[
            {"b365_home": 2.1, "pinnacle_home": 2.15, "pinnacle_close_home": 2.0},
            {"b365_home": 1.5, "pinnacle_home": 1.52},
        ],
    )
    # SP1 2018-19: four matches, one priced by the market average only.
    await add_league_season(
        service,
        code="SP1",
        name="La Liga",
        country="Spain",
        season="2018-19",
        start=dt.date(2018, 8, 17),
        matches=4,
        odds=[{"avg_home": 2.5}],
    )


# The Data screen -----------------------------------------------------------------------


async def test_data_screen_lists_every_league_season_with_coverage(
    service: FilterBetsService, settings: Settings
) -> None:
    await add_two_league_seasons(service)
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.current_mode == "data"
        assert isinstance(app.screen, DataScreen)
        assert static_text(app, "#data-summary") == "2 leagues · 2 seasons · 6 fixtures"

        rows = table_rows(app)
        assert [(r["code"], r["season"], r["fixtures"]) for r in rows] == [
            ("E0", "2019-20", "2"),
            ("SP1", "2018-19", "4"),
        ]
        e0, sp1 = rows
        assert e0["league"] == "Premier League"
        assert (e0["b365"], e0["pinnacle"], e0["avg"], e0["max"]) == ("100%", "100%", "-", "-")
        assert e0["pinnacle_close"] == "50%"
        assert (sp1["b365"], sp1["avg"]) == ("-", "25%")

        # 80 columns: the essentials are there and nothing is wider than the screen.
        table = app.screen.query_one("#data-table", VimDataTable)
        shown = [str(column.key.value) for column in table.ordered_columns]
        for key in ("code", "league", "season", "fixtures", "b365", "pinnacle", "avg", "max"):
            assert key in shown
        assert "pinnacle_close" in shown
        assert table.virtual_size.width <= SIZE[0]


async def test_data_screen_says_how_many_upcoming_fixtures_are_loaded_and_to_when(
    service: FilterBetsService, settings: Settings
) -> None:
    await add_two_league_seasons(service)
    async with service.db.session() as session:
        league = (await session.execute(select(League).where(League.code == "E0"))).scalar_one()
        teams = [Team(name="Upcoming A"), Team(name="Upcoming B")]
        session.add_all(teams)
        await session.flush()
        for day in (dt.date(2026, 4, 24), dt.date(2026, 4, 27)):
            session.add(
                Fixture(
                    league_id=league.id,
                    season="2025-26",
                    kickoff_date=day,
                    home_team_id=teams[0].id,
                    away_team_id=teams[1].id,
                )
            )
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert static_text(app, "#data-summary") == (
            "2 leagues · 3 seasons · 8 fixtures · 2 upcoming to 2026-04-27"
        )
        # Narrower: the league and season counts give way to the upcoming ones.
        await pilot.resize_terminal(70, 24)
        await settle(pilot)
        assert static_text(app, "#data-summary") == (
            "3 seasons · 8 fixtures · 2 upcoming to 2026-04-27"
        )


async def test_wide_terminals_show_more_columns_and_narrow_ones_fewer(
    service: FilterBetsService, settings: Settings
) -> None:
    await add_two_league_seasons(service)
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#data-table", VimDataTable)
        wide = [str(column.key.value) for column in table.ordered_columns]
        assert {"country", "first", "last", "pinnacle_close"} <= set(wide)
        assert table_rows(app)[0]["first"] == "2019-08-10"

        await pilot.resize_terminal(*SIZE)
        await pilot.pause()
        narrow = [str(column.key.value) for column in table.ordered_columns]
        assert len(narrow) < len(wide)
        assert not {"first", "last"} <= set(narrow)  # both dates need 24 cells
        assert {"code", "season", "fixtures", "b365", "pinnacle_close"} <= set(narrow)
        assert table.virtual_size.width <= SIZE[0]


async def test_a_season_before_pinnacle_lists_the_books_it_can_be_run_at(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E0 2000-01 has no Bet365 or Pinnacle prices: its Books cell names the odds sources it
    has, most games first, and Enter gives each one's share of the games."""
    from core.importing.service import import_paths

    path = real_file("football/E0_2000-01.csv")
    summary = await import_paths(service.db, [path])
    assert summary.file_errors == []
    header = path.read_bytes().decode("cp1252").splitlines()[0].split(",")
    priced = [code for code, prefix in (("gb", "GB"), ("iw", "IW"), ("lb", "LB"), ("sb", "SB"),
        ("wh", "WH")) if f"{prefix}H" in header]  # fmt: skip
    assert len(priced) >= 4
    app = FilterBetsApp(settings, service=service)
    seen = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        [row] = table_rows(app)
        assert (row["b365"], row["pinnacle"]) == ("-", "-")
        shown = row["books"].split()
        assert shown[-1].startswith("+") and int(shown[-1][1:]) + len(shown) - 1 == len(priced)
        assert set(shown[:-1]) < set(priced)
        assert "Books" in static_text(app, "#data-legend")
        table = app.screen.query_one("#data-table", VimDataTable)
        assert table.virtual_size.width <= SIZE[0]
        await pilot.press("enter")
        await settle(pilot)
        [note] = [n for n in seen if "E0 2000-01" in n]
        shares = note.split(" games: ", 1)[1].split(", ")
        assert sorted(share.split()[0] for share in shares) == sorted(priced)
        assert [share.split()[0] for share in shares[: len(shown) - 1]] == shown[:-1]


async def test_header_shows_backend_and_user(
    service: FilterBetsService, settings: Settings
) -> None:
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        header = str(app.screen.query_one(HeaderTitle).render())
        assert settings.describe_backend().replace(str(Path.home()), "~") in header
        assert "user tester" in header
        assert "FilterBets" in header
        if settings.database_url.password:
            assert settings.database_url.password not in header


async def test_empty_database_says_how_to_load_data(
    service: FilterBetsService, settings: Settings
) -> None:
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.screen.query_one("#data-table").display
        assert app.screen.query_one("#data-empty").display
        message = static_text(app, "#data-empty-message")
        assert "filterbets demo" in message
        assert "filterbets import PATH" in message
        assert static_text(app, "#data-summary") == "No data yet"

        # Data arrives from elsewhere (an import in another terminal); r shows it.
        await add_two_league_seasons(service)
        await pilot.press("r")
        await settle(pilot)
        assert app.screen.query_one("#data-table").display
        assert not app.screen.query_one("#data-empty").display
        assert len(table_rows(app)) == 2


async def test_vim_keys_and_sorting(service: FilterBetsService, settings: Settings) -> None:
    await add_two_league_seasons(service)
    await add_league_season(
        service,
        code="D1",
        name="Bundesliga",
        country="Germany",
        season="2020-21",
        start=dt.date(2020, 9, 18),
        matches=3,
    )
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#data-table", VimDataTable)
        assert table.has_focus
        assert [r["code"] for r in table_rows(app)] == ["D1", "E0", "SP1"]

        await pilot.press("j")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("g")
        assert table.cursor_row == 0

        await pilot.press("s")  # code -> league name
        assert [r["league"] for r in table_rows(app)] == ["Bundesliga", "La Liga", "Premier League"]
        assert static_text(app, "#data-sort") == "sort: League ▲"
        await pilot.press("S")
        assert [r["league"] for r in table_rows(app)] == ["Premier League", "La Liga", "Bundesliga"]
        assert static_text(app, "#data-sort") == "sort: League ▼"

        # The selected row stays selected when the order changes.
        await pilot.press("G")
        selected = table_rows(app)[table.cursor_row]["code"]
        app.screen.sort_by("fixtures")  # type: ignore[attr-defined]
        await pilot.pause()
        assert [r["fixtures"] for r in table_rows(app)] == ["2", "3", "4"]
        assert table_rows(app)[table.cursor_row]["code"] == selected


async def test_help_lists_every_binding_and_closes(
    service: FilterBetsService, settings: Settings
) -> None:
    await add_two_league_seasons(service)
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        help_table = app.screen.query_one(VimDataTable)
        listed = [
            tuple(plain(cell) for cell in help_table.get_row_at(i))
            for i in range(help_table.row_count)
        ]
        keys_listed = {key for keys, _action, _where in listed for key in keys.split()}
        actions_listed = {action for _keys, action, _where in listed}

        ours: list[Binding] = [
            *Binding.make_bindings(FilterBetsApp.BINDINGS),
            *Binding.make_bindings(DataScreen.BINDINGS),
            *Binding.make_bindings(VimDataTable.BINDINGS),
        ]
        data_screen = app.screen_stack[-2]
        assert isinstance(data_screen, DataScreen)
        for binding in ours:
            assert binding.id, f"binding {binding.key!r} has no id"
            assert binding.description, f"binding {binding.id} has no description"
            if data_screen.check_action(binding.action, ()) is False:
                continue  # a key that does nothing here (n: no candle sets) is not listed
            assert app.get_key_display(binding) in keys_listed, binding.id
        for description in ("Quit", "Help", "Refresh", "Sort", "Reverse sort", "Data"):
            assert description in actions_listed

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DataScreen)


async def test_q_quits(service: FilterBetsService, settings: Settings) -> None:
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.return_code is None
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0
    assert app.fatal_error is None


async def test_a_failed_refresh_is_a_notification_not_a_crash(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_two_league_seasons(service)
    app = FilterBetsApp(settings, service=service)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)

        async def unreachable() -> list[Any]:
            raise DatabaseUnavailableError("the database went away")

        monkeypatch.setattr(service, "league_seasons", unreachable)
        await pilot.press("r")
        await settle(pilot)
        assert "error: Error loading the data: the database went away" in notes
        assert app.return_code is None  # still running
        assert len(table_rows(app)) == 2  # what was shown stays


async def test_import_files_from_the_data_screen(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = FilterBetsApp(settings, service=service)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("i")
        assert isinstance(app.screen, ImportPrompt)
        paths = app.screen.query_one(Input)
        assert paths.has_focus

        paths.value = "/no/such/E0_2019-20.csv"
        await pilot.press("enter")
        assert isinstance(app.screen, ImportPrompt)
        assert static_text(app, "#import-error") == "not found: /no/such/E0_2019-20.csv"

        paths.value = str(DEMO_SEASON)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DataScreen)
        assert [(r["code"], r["season"], r["fixtures"]) for r in table_rows(app)] == [
            ("E0", "2019-20", "380")
        ]
        assert any(
            note.startswith("information: Import: 1 of 1 files imported: 380 fixtures added")
            for note in notes
        ), notes

        await pilot.press("i")
        await pilot.press("escape")
        assert isinstance(app.screen, DataScreen)


async def test_d_deletes_the_league_season_under_the_cursor_once_confirmed(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_two_league_seasons(service)
    app = FilterBetsApp(settings, service=service)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")  # the cursor is on E0 2019-20
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert static_text(app, "#confirm-message").startswith(
            "E0 2019-20: 2 fixtures from 2019-08-10 to 2019-08-17, with their odds and team"
            " features, will be deleted; stored backtest results and their ledgers are kept"
        )
        await pilot.press("n")  # no: nothing goes
        await settle(pilot)
        assert len(table_rows(app)) == 2
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: len(table_rows(app)) == 1, "the reload")
        assert [(r["code"], r["season"]) for r in table_rows(app)] == [("SP1", "2018-19")]
        assert any("Deleted 2 fixtures of E0 2019-20" in note for note in notes), notes


async def test_u_undoes_the_last_import_made_here_once_confirmed(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_two_league_seasons(service)
    app = FilterBetsApp(settings, service=service)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("u")  # nothing imported here yet: nothing to undo
        await settle(pilot)
        assert isinstance(app.screen, DataScreen)
        await pilot.press("i")
        app.screen.query_one(Input).value = str(DEMO_SEASON.parent / "F1_2019-20.csv")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(table_rows(app)) == 3, "the import")
        assert any(note.endswith("· u undoes it") for note in notes), notes
        await pilot.press("u")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "279 fixtures in F1 2019-20 from 2019-08-09 to 2020-03-08" in static_text(
            app, "#confirm-message"
        )
        await pilot.press("y")
        await wait_for(pilot, lambda: len(table_rows(app)) == 2, "the reload")
        assert [r["code"] for r in table_rows(app)] == ["E0", "SP1"]


async def test_checkboxes_show_their_state_in_text(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14 item 19: both states of a checkbox drew `▐X▌`, apart by colour alone (two
    greys under NO_COLOR): "skip bad rows" went on by mistake and a corrupt file got in."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("i")
        prompt = app.screen
        assert isinstance(prompt, ImportPrompt)
        box = prompt.query_one("#import-skip", Checkbox)

        def drawn() -> str:
            return next(line for line in screen_lines(app) if "Skip bad rows" in line)

        assert not box.value and "▐ ▌ Skip bad rows" in drawn()
        await pilot.press("tab", "space")
        assert box.value and "▐X▌ Skip bad rows" in drawn()
        await pilot.press("space")
        assert not box.value and "▐ ▌ Skip bad rows" in drawn()
        await pilot.press("escape")


async def test_an_import_with_bad_rows_lists_them_and_skipping_imports_the_good_ones(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two real damaged files: refused whole, the report lists every rejected row by
    file and line; then again with skip bad rows (space on the box, enter imports)."""
    app = FilterBetsApp(settings, service=service)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        data = app.screen
        assert isinstance(data, DataScreen)
        assert not data.check_action("import_report", ())  # no report before an import
        await pilot.press("i")
        assert isinstance(app.screen, ImportPrompt)
        app.screen.query_one(Input).value = str(real_file("football-corrupt"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ImportReport), "the report")
        report = app.screen
        assert isinstance(report, ImportReport)
        assert plain(report.query_one("#import-report-summary", Static).render()).startswith(
            "0 of 2 files imported, 2 refused"
        )
        refused = plain(report.query_one("#import-report-refused", Static).render())
        assert "refused: D1_2000-01.csv: refused, 144 bad rows" in refused
        assert "refused: D1_2001-02.csv: refused, all 306 rows are bad" in refused
        table = report.query_one("#import-report-table", VimDataTable)
        rows = [[plain(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        rejected = [row for row in rows if row[2] == "rejected"]
        assert len(rejected) == 144 + 306
        assert rejected[0][:2] == ["D1_2000-01.csv", "164"]
        assert "not a dd/mm/yy or dd/mm/yyyy date" in rejected[0][3]
        assert table.has_focus
        detail = report.query_one("#import-report-detail", Static)
        assert plain(detail.render()) == (
            "D1_2000-01.csv:164 (row rejected): Date: 2026-1-1: not a dd/mm/yy or dd/mm/yyyy date"
        )
        await pilot.press("j")
        await wait_for(pilot, lambda: ":165 " in plain(detail.render()), "the next row's detail")
        await pilot.press("escape")
        assert app.screen is data
        assert table_rows(app) == []  # nothing was half-imported
        assert data.check_action("import_report", ())
        await pilot.press("v")
        assert isinstance(app.screen, ImportReport)
        await pilot.press("escape")

        await pilot.press("i")
        app.screen.query_one(Input).value = str(real_file("football-corrupt/D1_2000-01.csv"))
        await pilot.press("tab", "space", "enter")  # enter on the box imports, as the hint says
        await wait_for(pilot, lambda: isinstance(app.screen, ImportReport), "the second report")
        assert plain(app.screen.query_one("#import-report-summary", Static).render()).startswith(
            "1 of 1 files imported: 162 fixtures added"
        )
        await pilot.press("escape")
        await settle(pilot)
        assert [(r["code"], r["season"], r["fixtures"]) for r in table_rows(app)] == [
            ("D1", "2000-01", "162")
        ]
        assert not data.query_one("#data-import").display  # the progress row is gone
    # The report opened on top of the Data screen, starting with the summary: no toast too.
    assert not any("Import:" in note for note in notes), notes


# Opening the database ------------------------------------------------------------------


async def test_the_app_opens_an_up_to_date_database_without_a_schema_toast(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = FilterBetsApp(settings)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.service is not None
        assert app.service.schema_status is not None
        assert not app.service.schema_status.changed
        assert not [note for note in notes if "schema" in note]
        assert isinstance(app.screen, DataScreen)


async def test_the_app_repairs_features_an_interrupted_import_left_and_says_so(
    service: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_two_league_seasons(service)  # fixtures written without their feature rows
    app = FilterBetsApp(settings)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: any("team features" in n for n in notes), "the repair")
        assert any(
            "Database: team features recomputed for 6 fixtures that had none" in note
            for note in notes
        )
    async with service.db.session() as session:
        rows = await session.scalar(select(func.count()).select_from(FixtureFeatures))
    assert rows == 6


async def test_a_new_sqlite_file_gets_its_schema_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = FilterBetsApp(load_settings(f"sqlite:///{tmp_path / 'new.db'}", "tester"))
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert any("created database schema at revision" in note for note in notes)
        assert static_text(app, "#data-summary") == "No data yet"


async def test_an_unusable_database_exits_with_one_line_and_code_1(tmp_path: Path) -> None:
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_text("this is not SQLite\n" * 100)
    app = FilterBetsApp(load_settings(f"sqlite:///{not_a_database}", "tester"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
    assert app.return_code == 1
    assert app.fatal_error == f"cannot use SQLite {not_a_database}: file is not a database"


async def test_a_database_from_a_newer_version_exits_with_one_line_and_code_1(
    tmp_path: Path,
) -> None:
    """A schema revision this install does not know (a newer FilterBets migrated the file):
    Alembic refuses, and the user reads one line, not a traceback."""
    import sqlite3

    path = tmp_path / "newer.db"
    settings = load_settings(f"sqlite:///{path}", "tester")
    await upgrade(settings)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", ("9999",))
    app = FilterBetsApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
    assert app.return_code == 1
    assert app.fatal_error is not None
    assert app.fatal_error == (
        f"SQLite {path} has schema revision 9999, which this FilterBets does not know"
        f" (its newest is {SCHEMA_HEAD}): was it made by a newer version?"
    )


async def test_an_unreachable_server_exits_with_one_line_and_code_1() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = load_settings(f"postgresql://someone@127.0.0.1:{port}/nowhere", "tester")
    app = FilterBetsApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
    assert app.return_code == 1
    assert app.fatal_error is not None
    assert app.fatal_error.startswith(
        f"cannot connect to PostgreSQL someone@127.0.0.1:{port}/nowhere: connection refused"
    )
    assert "\n" not in app.fatal_error


# Pieces --------------------------------------------------------------------------------


def test_coverage_is_rounded_down_so_100_means_every_match() -> None:
    assert format_coverage(0.0) == "-"
    assert format_coverage(0.004) == "<1%"
    assert format_coverage(0.5) == "50%"
    assert format_coverage(0.996) == "99%"
    assert format_coverage(1.0) == "100%"


def test_columns_fit_the_width_most_important_first() -> None:
    natural = {column.key: max(len(column.label), 7) for column in COLUMNS}
    natural["league"] = 20
    narrow = fit_columns(COLUMNS, natural, 79)
    wide = fit_columns(COLUMNS, natural, 160)
    assert sum(width + 2 for width in narrow.values()) <= 79
    assert {"code", "season", "fixtures", "b365", "pinnacle", "pinnacle_close"} <= set(narrow)
    assert set(wide) == {column.key for column in COLUMNS}
    assert list(wide) == [column.key for column in COLUMNS]  # display order is kept
    assert wide["league"] == 20


def test_the_books_list_fits_its_width_and_counts_the_rest() -> None:
    books = ["wh", "lb", "bw", "iw", "bfe"]
    assert book_list(books, 40) == "wh lb bw iw bfe"
    assert book_list(books, 13) == "wh lb bw +2"
    assert book_list(books, 9) == "wh lb +3"
    assert book_list(books, 2) == "+5"
    assert book_list([], 9) == "-"


def test_modes_each_have_a_key_binding() -> None:
    bindings = {b.id: b for b in Binding.make_bindings(FilterBetsApp.BINDINGS)}
    for mode in SCREEN_MODES:
        assert mode.name in FilterBetsApp.MODES
        assert bindings[f"mode.{mode.name}"].key == mode.key
    assert bindings["mode.data"].key == "4"


def test_errors_are_described_in_one_line() -> None:
    settings = load_settings("postgresql://u:secret@db.example:5433/fb", "tester")
    message = describe_error(ConnectionRefusedError(111, "Connect call failed"), settings)
    assert message == (
        "cannot connect to PostgreSQL u@db.example:5433/fb: connection refused "
        "(is the server running?)"
    )
    assert "secret" not in message
    assert (
        describe_error(ValueError("boom\nmore"), settings) == "unexpected error: ValueError: boom"
    )


def test_the_dashboard_and_the_cli_word_a_connection_failure_the_same(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The CLI said "[Errno 111] Connect call failed ('127.0.0.1', 1)" where the dashboard
    said "connection refused (is the server running?)"; both now share core.dberrors."""
    import core.cli
    from core.cli import main

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://someone:secret@127.0.0.1:{port}/nowhere"
    capfd.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core.cli, "_say", lambda m, stream=None: print(m, file=sys.stderr))
        assert main(["--database-url", url, "filters", "list"]) == 1
    cli_line = capfd.readouterr().err.strip().removeprefix("filterbets: error: ")

    settings = load_settings(url, "tester")

    async def dashboard_line() -> str:
        app = FilterBetsApp(settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
        assert app.fatal_error is not None
        return app.fatal_error

    assert (
        asyncio.run(dashboard_line())
        == cli_line
        == (
            f"cannot connect to PostgreSQL someone@127.0.0.1:{port}/nowhere:"
            " connection refused (is the server running?)"
        )
    )


def test_core_never_imports_textual() -> None:
    """core/ is shared by the CLI and the workers; only tui/ may pull in Textual."""
    code = """
import importlib, pkgutil, sys
import core
for info in pkgutil.walk_packages(core.__path__, "core."):
    importlib.import_module(info.name)
loaded = sorted(name for name in sys.modules if name.startswith("core"))
textual = sorted(name for name in sys.modules if name.split(".")[0] == "textual")
print("core modules:", loaded)
print("textual modules:", textual)
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "textual modules: []" in result.stdout, result.stdout
    assert "'core.services'" in result.stdout


def test_the_import_report_lists_rejected_rows_and_missing_values_by_file_and_line() -> None:
    from core.importing.football_data import ImportWarning
    from core.importing.service import ImportSummary, RejectedRow
    from tui.widgets.import_report import ReportRow, report_rows

    summary = ImportSummary(
        warnings=[ImportWarning("E0.csv", 9, "B365H: 0: decimal odds must be greater than 1.0")],
        rejected_rows=[RejectedRow("E0.csv", 4, "Date: x: not a date")],
    )
    assert str(summary.warnings[0]) == "E0.csv:9: B365H: 0: decimal odds must be greater than 1.0"
    assert report_rows(summary) == [
        ReportRow("E0.csv", 4, "rejected", "Date: x: not a date"),
        ReportRow("E0.csv", 9, "missing", "B365H: 0: decimal odds must be greater than 1.0"),
    ]


def screen_lines(app: Any) -> list[str]:
    """The screen as it is drawn now, one string per terminal line."""
    return [strip.text for strip in app.screen._compositor.render_strips()]
