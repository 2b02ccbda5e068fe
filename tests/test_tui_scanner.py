"""The Scanner screen (key 5), driven through Pilot at 80x24 on SQLite and PostgreSQL with
the real files: the history published before the 2026-04-24 fixtures, those fixtures, and
the full seasons that settle them. Snapshots of its two tabs are at the end."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import shutil
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from textual.pilot import Pilot
from textual.widgets import Input, Static, TabbedContent

from core.config import Settings, load_settings
from core.filters import FilterStore
from core.importing.service import import_paths
from core.migrate import upgrade
from core.models import Filter, Pick
from core.scan_export import bet_slip
from core.scanner import Scanner
from core.services import FilterBetsService
from tests.conftest import shared_data
from tests.test_scan_board import load_upcoming, save_filters
from tests.test_scanner import DAY, SEASONS
from tests.test_tui_data import plain, settle
from tests.test_tui_footer import footer_keys
from tests.test_tui_snapshots import opened, settled, until
from tui.app import FilterBetsApp
from tui.screens import scanner as scanner_module
from tui.screens.scanner import ScannerScreen, parse_inputs
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.save_prompt import SavePrompt
from tui.widgets.vim_table import VimDataTable

SIZE = (80, 24)


@pytest.fixture
def on_day(monkeypatch: pytest.MonkeyPatch) -> dt.date:
    """The screen's today: the day of the fixtures file."""
    monkeypatch.setattr(scanner_module, "today", lambda: DAY)
    return DAY


@pytest.fixture
async def loaded(service: FilterBetsService, on_day: dt.date) -> FilterBetsService:
    await load_upcoming(service)
    await save_filters(service)
    return service


async def open_scanner(pilot: Pilot[Any]) -> ScannerScreen:
    await settle(pilot)
    await pilot.press("5")
    screen = pilot.app.screen
    assert isinstance(screen, ScannerScreen)
    await until(pilot, lambda: screen.board is not None, "the scan")
    await settle(pilot)
    return screen


def row_keys(screen: ScannerScreen, selector: str) -> list[str]:
    table = screen.query_one(selector, VimDataTable)
    return [str(row.key.value) for row in table.ordered_rows]


def cells(screen: ScannerScreen, selector: str, key: str) -> dict[str, str]:
    table = screen.query_one(selector, VimDataTable)
    columns = [str(c.key.value) for c in table.ordered_columns]
    return dict(zip(columns, (plain(c) for c in table.get_row(key)), strict=True))


def text_of(screen: ScannerScreen, selector: str) -> str:
    return " ".join(str(screen.query_one(selector, Static).render()).split())


async def type_into(pilot: Pilot[Any], key: str, text: str) -> None:
    """Focus a box with its key (d: From, b: Bank), replace its text, press enter."""
    await pilot.press(key)
    box = pilot.app.focused
    assert isinstance(box, Input)
    box.value = ""
    await pilot.press(*text, "enter")
    await settle(pilot)


# The scan ------------------------------------------------------------------------------


async def test_upcoming_matches_by_day_with_filter_price_and_stake(
    loaded: FilterBetsService, settings: Settings
) -> None:
    service = loaded
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_scanner(pilot)
        board = screen.board
        assert board is not None and board.date_from == DAY  # From defaults to today
        assert screen.query_one("#scan-from", Input).value == DAY.isoformat()
        scanner = Scanner(service.db, service.user_id)
        flat = await scanner.saved_targets(["favourites", "E0 at Pinnacle"])
        expected = await scanner.scan(flat, date_from=DAY)
        assert board.result.picks == expected.picks and expected.picks

        # Each day a header row, then its picks in kick-off order.
        keys = row_keys(screen, "#scan-table")
        day = None
        for key in keys:
            if key.startswith("day:"):
                day = dt.date.fromisoformat(key.removeprefix("day:"))
            else:
                assert board.result.picks[int(key.removeprefix("pick:"))].date == day
        days = sorted({p.date for p in expected.picks})
        assert [k for k in keys if k.startswith("day:")] == [f"day:{d}" for d in days]
        assert len(keys) == len(days) + len(expected.picks)
        first = expected.picks[0]
        header = cells(screen, "#scan-table", f"day:{first.date}")
        assert header["match"] == f"{first.date:%a %d %b %Y}"
        on_day = [p for p in expected.picks if p.date == first.date]
        assert header["filter"] == f"{len(on_day)} pick{'s' if len(on_day) != 1 else ''}"
        row = cells(screen, "#scan-table", "pick:0")
        assert row["time"] == f"{first.kickoff:%H:%M}"
        assert row["match"] == f"{first.league} {first.home_team} v {first.away_team}"
        assert row["filter"] == "favourites"
        assert row["bet"] == f"home @ {first.price:.2f}" and row["stake"] == "1.00"
        # The highlighted pick's detail: the values its rules read.
        detail = text_of(screen, "#scan-detail")
        assert detail.startswith(f"favourites: home @ {first.price:.2f} (b365), stake 1.00")
        assert f"odds.b365.home={first.price:g}" in detail and "diff.ppg=" in detail
        table = screen.query_one("#scan-table", VimDataTable)
        assert table.virtual_size.width <= SIZE[0]

        # The warnings, plainly: a missing price source, a filter waiting for a bank.
        warnings = text_of(screen, "#scan-warnings")
        assert "⚠ E0 at Pinnacle: the filter's odds source pinnacle is missing" in warnings
        assert "they have b365 (186)" in warnings
        assert "⚠ Away value stakes percent of a bank: give a bank to scan it" in warnings
        summary = text_of(screen, "#scan-summary")
        matches = len({p.fixture_id for p in expected.picks})
        assert summary.startswith(
            f"{len(expected.picks)} picks in {matches} of 186 upcoming matches · 2 filters"
        )
        assert f"{expected.skipped_no_odds} had no price" in summary

        # A bank scans the percent filter too: 2% of it per pick.
        await type_into(pilot, "b", "250")
        board = screen.board
        assert board is not None and board.bank == Decimal("250.00")
        assert board.left_out == [] and "Away value" in board.filters
        aways = [p for p in board.result.picks if p.filter == "Away value"]
        assert aways and all(p.stake == Decimal("5.00") for p in aways)
        assert "give a bank" not in text_of(screen, "#scan-warnings")
        assert app.focused is table  # enter scanned and went back to the table

        # Leaving a box another way (escape, tab) scans with it too.
        await pilot.press("b")
        box = app.focused
        assert isinstance(box, Input)
        box.value = ""
        await pilot.press("4", "0", "0", "escape")
        await settle(pilot)
        assert screen.board is not None and screen.board.bank == Decimal("400.00")
        assert app.focused is table
        aways = [p for p in screen.board.result.picks if p.filter == "Away value"]
        assert aways and all(p.stake == Decimal("8.00") for p in aways)


async def test_a_match_two_filters_pick_is_one_match_with_two_bets(
    loaded: FilterBetsService, settings: Settings
) -> None:
    service = loaded
    await FilterStore(service.db, service.user_id).create(
        "Short homes",
        [{"field": "odds.b365.home", "op": "<", "value": 1.5}],
        backtest_settings={"market": "home", "odds_source": "b365"},
    )
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_scanner(pilot)
        assert screen.board is not None
        picks = screen.board.result.picks
        pairs = [i for i in range(1, len(picks)) if picks[i].fixture_id == picks[i - 1].fixture_id]
        assert pairs  # favourites and Short homes share the short-priced home sides
        for i in pairs:
            first = cells(screen, "#scan-table", f"pick:{i - 1}")
            second = cells(screen, "#scan-table", f"pick:{i}")
            assert picks[i - 1].home_team in first["match"] and first["time"]
            assert (second["time"], second["match"].strip()) == ("", "〃")
            assert {first["filter"], second["filter"]} == {"favourites", "Short homes"}


async def test_dates_choose_the_matches_and_bad_input_is_one_line(
    loaded: FilterBetsService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = loaded
    monkeypatch.setattr(scanner_module, "today", lambda: dt.date(2026, 5, 1))
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_scanner(pilot)
        # After the loaded fixtures: nothing to pick, and the screen says where they are.
        assert screen.board is not None and screen.board.result.upcoming == 0
        assert not screen.query_one("#scan-table").display
        empty = text_of(screen, "#scan-empty-message")
        assert "No upcoming fixtures from 2026-05-01." in empty
        assert "The 186 loaded kick off from 2026-04-24 to 2026-04-27" in empty
        assert "press d to change the dates" in empty
        assert "missing" not in text_of(screen, "#scan-warnings")  # no match, no source

        # One day: From and To.
        sunday = dt.date(2026, 4, 26)
        await type_into(pilot, "d", sunday.isoformat())
        to_box = screen.query_one("#scan-to", Input)
        to_box.focus()
        await pilot.press(*sunday.isoformat(), "enter")
        await settle(pilot)
        board = screen.board
        assert board is not None and (board.date_from, board.date_to) == (sunday, sunday)
        scanner = Scanner(service.db, service.user_id)
        flat = await scanner.saved_targets(["favourites", "E0 at Pinnacle"])
        expected = await scanner.scan(flat, date_from=sunday, date_to=sunday)
        assert board.result.picks == expected.picks
        assert {p.date for p in board.result.picks} <= {sunday}

        # A date the screen cannot read: said on the summary line, the last scan kept.
        await type_into(pilot, "d", "26/04/2026")
        assert text_of(screen, "#scan-summary") == (
            "⚠ From: '26/04/2026' is not a date (YYYY-MM-DD)"
        )
        assert screen.board is board
        await type_into(pilot, "d", "2026-04-27")
        assert text_of(screen, "#scan-summary") == "⚠ To 2026-04-26 is before From 2026-04-27"
        assert screen.board is board


def test_parse_inputs() -> None:
    assert parse_inputs(" 2026-04-24 ", "", "1,000") == parse_inputs("2026-04-24", " ", "1000.00")
    assert parse_inputs("", "", "").date_from == scanner_module.today()
    for bank, problem in (("lots", "is not an amount"), ("0", "must be more than 0")):
        with pytest.raises(scanner_module.InputProblem, match=problem):
            parse_inputs("", "", bank)


async def test_mark_copy_export_and_record_the_picks(
    loaded: FilterBetsService,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = loaded
    exports = tmp_path / "exports"
    exports.mkdir()
    monkeypatch.setenv("FILTERBETS_EXPORT_DIR", str(exports))
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_scanner(pilot)
        board = screen.board
        assert board is not None
        picks = board.result.picks
        assert len(picks) >= 3
        # The cursor starts on the first pick; space marks it and moves on.
        await pilot.press("space", "space")
        await settle(pilot)
        assert screen.marked == {0, 1}
        assert cells(screen, "#scan-table", "pick:0")["mark"] == "●"
        assert text_of(screen, "#scan-hint") == "2 marked"

        # y: the bet slip of the marked picks, via the terminal's clipboard.
        await pilot.press("y")
        assert app.clipboard == bet_slip(picks[:2])
        assert app.clipboard.startswith("FilterBets bet slip: 2 picks, total stake 2.00")

        # x: a CSV of the marked picks, named after the dates, never replacing a file.
        await pilot.press("x")
        await settle(pilot)
        prompt = app.screen
        assert isinstance(prompt, SavePrompt)
        path = exports / "scan-2026-04-24.csv"
        assert prompt.query_one(Input).value == str(path)
        await pilot.press("enter")
        await settle(pilot)
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [int(r["fixture_id"]) for r in rows] == [p.fixture_id for p in picks[:2]]
        assert [r["filter"] for r in rows] == ["favourites", "favourites"]
        await pilot.press("x")
        await settle(pilot)
        assert app.screen.query_one(Input).value == str(exports / "scan-2026-04-24-2.csv")
        await pilot.press("escape")
        await settle(pilot)

        # w: record the marked picks, after a question.
        await pilot.press("w")
        await settle(pilot)
        question = app.screen
        assert isinstance(question, ConfirmScreen)
        assert question.message.startswith("Record 2 marked picks as taken now")
        await pilot.press("y")
        await settle(pilot)
        recorded = await Scanner(service.db, service.user_id).picks()
        assert sorted(p.fixture_id or 0 for p in recorded) == sorted(
            p.fixture_id for p in picks[:2]
        )
        taken = {p.fixture_id: (p.price, p.stake, p.filter) for p in recorded}
        assert taken == {p.fixture_id: (p.price, p.stake, p.filter) for p in picks[:2]}
        assert screen.marked == set()
        assert cells(screen, "#scan-table", "pick:0")["mark"] == "✓"
        assert cells(screen, "#scan-table", "pick:2")["mark"] == ""

        # With nothing marked, w offers the rest; the two stay as they were.
        await pilot.press("w")
        await settle(pilot)
        question = app.screen
        assert isinstance(question, ConfirmScreen)
        rest = len(picks) - 2
        assert question.message.startswith(f"Record {rest} picks as taken now")
        assert "(2 recorded before stay as they were)" in question.message
        await pilot.press("n")
        await settle(pilot)
        assert len(await Scanner(service.db, service.user_id).picks()) == 2


async def test_the_picks_tab_shows_the_live_record_beside_the_backtest(
    loaded: FilterBetsService, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = loaded
    shared_data("football-recent")
    scanner = Scanner(service.db, service.user_id)
    targets = await scanner.saved_targets([], every=True)
    scan = await scanner.scan(targets, date_from=DAY, bank=Decimal("250"))
    await scanner.record(scan.picks)
    await import_paths(service.db, SEASONS)  # settles the E0 and E1 picks
    picks, records = await scanner.records()
    by_name = {r.filter: r for r in records}
    exports = tmp_path / "exports"
    exports.mkdir()
    monkeypatch.setenv("FILTERBETS_EXPORT_DIR", str(exports))
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_scanner(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert screen.query_one(TabbedContent).active == "picks"
        settled_picks = [p for p in picks if p.profit is not None]
        assert text_of(screen, "#picks-summary").startswith(
            f"{len(picks)} picks recorded by {len(records)} filters"
            f" · {len(settled_picks)} settled · profit"
        )
        assert row_keys(screen, "#records-table") == [r.filter for r in records]
        for record in records:
            row = cells(screen, "#records-table", record.filter)
            assert row["picks"] == str(record.picks)
            assert row["settled"] == str(record.settled)
            assert row["profit"] == f"{float(record.profit):+,.2f}"
            yield_ = record.yield_
            assert row["yield"] == ("-" if yield_ is None else f"{yield_ * 100:+.2f}%")
            backtest = record.backtest_yield
            assert row["backtest"] == ("-" if backtest is None else f"{backtest * 100:+.2f}%")
        favourites = by_name["favourites"]
        assert favourites.settled == favourites.picks  # E0 and E1 only: all settled

        # The highlighted filter's note and picks, with outcomes.
        records_table = screen.query_one("#records-table", VimDataTable)
        assert app.focused is records_table
        for row_index, record in enumerate(records):
            records_table.move_cursor(row=row_index)
            await settle(pilot)
            assert text_of(screen, "#records-note") == f"{record.filter} — {record.note}"
            own = [p for p in picks if p.filter == record.filter]
            assert row_keys(screen, "#picks-table") == [str(p.id) for p in own]
            for pick in own:
                row = cells(screen, "#picks-table", str(pick.id))
                if pick.outcome is None:
                    assert (row["outcome"], row["profit"]) == ("open", "-")
                else:
                    assert row["outcome"] in ("win", "loss")
                    assert row["profit"] == f"{float(pick.profit or 0):+,.2f}"
        assert "Backtest: its yield before the first pick" in text_of(screen, "#picks-legend")

        # x here exports the recorded picks, outcomes included.
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, SavePrompt)
        await pilot.press("enter")
        await settle(pilot)
        (written,) = exports.iterdir()
        assert written.name.startswith("picks-2026-04-24")
        with written.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == len(picks)
        assert sum(1 for r in rows if r["outcome"]) == len(settled_picks)

        # Keys that only make sense on Upcoming are not offered here.
        assert screen.check_action("record", ()) is False
        await pilot.press("u")
        await settle(pilot)
        assert screen.query_one(TabbedContent).active == "upcoming"
        # Played matches have left the scan: the E0 and E1 favourites all settled.
        board = screen.board
        assert board is not None and board.result.upcoming == 186 - 18
        assert not any(p.filter == "favourites" for p in board.result.picks)
        assert screen.check_action("record", ()) is None  # nothing left to record


async def test_without_filters_or_picks_the_screen_says_what_to_do(
    service: FilterBetsService, settings: Settings, on_day: dt.date
) -> None:
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_scanner(pilot)
        assert "No active filters to scan with." in text_of(screen, "#scan-empty-message")
        for action in ("mark", "record", "copy_slip", "export"):
            assert screen.check_action(action, ()) is None  # shown dimmed
        await pilot.press("p")
        await settle(pilot)
        assert text_of(screen, "#picks-summary") == "No picks recorded yet"
        assert "w records the picks" in text_of(screen, "#picks-empty-message")


@pytest.mark.parametrize("tab", ["u", "p"])
async def test_help_and_quit_fit_in_the_footer_at_80_columns(
    loaded: FilterBetsService, settings: Settings, tab: str
) -> None:
    app = FilterBetsApp(settings, service=loaded)
    async with app.run_test(size=SIZE) as pilot:
        await open_scanner(pilot)
        await pilot.press(tab)
        await settle(pilot)
        shown = footer_keys(app)
        assert not [key for key, visible in shown.items() if not visible], shown
        assert {"?", "q"} <= set(shown)


# Snapshots ---------------------------------------------------------------------------

DB_NAME = "scanner.db"
USER = "tester"
TAKEN = dt.datetime(2026, 4, 23, 18, 0, tzinfo=dt.UTC)


async def _build(path: Path) -> None:
    """The fixtures of 2026-04-24 with their history; three filters; the E0 picks recorded,
    then settled by the E0 season file (the rest stay upcoming)."""
    settings = load_settings(f"sqlite+aiosqlite:///{path}", USER)
    await upgrade(settings)
    service = await FilterBetsService.open(settings, migrate=False)
    try:
        await load_upcoming(service)
        await save_filters(service)
        scanner = Scanner(service.db, service.user_id)
        targets = await scanner.saved_targets([], every=True)
        scan = await scanner.scan(targets, date_from=DAY, bank=Decimal("250"))
        await scanner.record([p for p in scan.picks if p.league == "E0"])
        await import_paths(service.db, [p for p in SEASONS if p.name.startswith("E0")])
        async with service.db.session() as session:
            await session.execute(update(Pick).values(taken_at=TAKEN))
            await session.execute(update(Filter).values(created_at=TAKEN, updated_at=TAKEN))
    finally:
        await service.close()


@pytest.fixture(scope="module")
def scanner_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared_data("upcoming")
    shared_data("football-recent")
    path = tmp_path_factory.mktemp("scanner-snapshots") / DB_NAME
    asyncio.run(_build(path))
    return path


@pytest.fixture
def scanner_settings(
    scanner_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_day: dt.date
) -> Settings:
    """The fixed database by a relative path, in the fixed environment of the other
    snapshots (tests/test_tui_snapshots.py)."""
    shutil.copyfile(scanner_template, tmp_path / DB_NAME)
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


async def upcoming_step(pilot: Pilot[Any]) -> None:
    await opened(pilot)
    await pilot.press("5")
    screen = pilot.app.screen
    assert isinstance(screen, ScannerScreen)
    await until(pilot, lambda: screen.board is not None, "the scan")
    await settled(pilot)
    await type_into(pilot, "b", "250")
    await until(pilot, lambda: bool(screen.board and screen.board.bank), "the scan with a bank")
    await pilot.press("space")  # one pick marked


async def picks_step(pilot: Pilot[Any]) -> None:
    await upcoming_step(pilot)
    await pilot.press("p")
    screen = pilot.app.screen
    assert isinstance(screen, ScannerScreen)
    await until(pilot, lambda: screen.records is not None, "the live record")


@pytest.mark.parametrize(
    "size", [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
)
@pytest.mark.parametrize("tab", ["upcoming", "picks"])
def test_snapshot(
    tab: str, size: tuple[int, int], scanner_settings: Settings, snap_compare: Any
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await (upcoming_step if tab == "upcoming" else picks_step)(pilot)
        await settled(pilot)

    app = FilterBetsApp(scanner_settings, run_jobs=False)
    assert snap_compare(app, terminal_size=size, run_before=run_before)
