"""The Scanner screen (key 5): the upcoming matches your filters pick, and their live record.

* **Upcoming**: every active saved filter scanned over the fixtures without a result that
  kick off in the date range (From, today by default; To, open by default), grouped by day:
  each match with the filters it fits, the bet, price and stake. Percent and Kelly filters
  stake from the Bank typed here. Space marks picks (a day's header marks the day); w
  records them (the marked ones, else all), y copies a bet slip, x exports them as CSV.
* **Picks**: per filter, the live record (picks, settled, profit, yield, CLV) beside the
  backtest's yield before its first pick, with a plain note on what it can tell yet; below,
  the highlighted filter's picks with their outcomes.

Workers only fetch or write; the handlers that receive their results own the screen's state.
Every failure goes through the app's `report_error`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Horizontal, Middle
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from core.errors import FilterBetsError
from core.scan_board import ScanBoard, scan_active_filters
from core.scan_export import (
    PICKS_CSV_HEADER,
    SCAN_CSV_HEADER,
    bet_label,
    bet_slip,
    default_scan_export_path,
    picks_rows,
    scan_rows,
    write_csv,
)
from core.scanner import FilterRecord, PickRecord, Scanner, ScanPick
from core.services import FilterBetsService
from tui.keymap import key_for
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.metrics_panel import fmt_pct, fmt_units, staking_label
from tui.widgets.save_prompt import SavePrompt, SaveRequest
from tui.widgets.styles import BAD, GOOD, PROBLEM, signed_style
from tui.widgets.vim_table import VimDataTable

if TYPE_CHECKING:
    from tui.app import FilterBetsApp

SCAN_GROUP = "scanner-scan"
RECORDS_GROUP = "scanner-records"
ACTION_GROUP = "scanner-action"
SCROLLBAR_WIDTH = 1
CELL_PADDING = 2
WIDE_FROM = 100
OUTCOME_TEXT = {
    "win": "win",
    "loss": "loss",
    "push": "push",
    "half_win": "½ win",
    "half_loss": "½ loss",
}

_TABS_GROUP = Binding.Group("Tabs", compact=True)


def today() -> dt.date:
    """The day From starts at; tests fix it."""
    return dt.date.today()


# Reading the inputs ---------------------------------------------------------------------


@dataclass(frozen=True)
class ScanInputs:
    date_from: dt.date
    date_to: dt.date | None
    bank: Decimal | None


class InputProblem(ValueError):
    """A From, To or Bank the screen cannot scan with; the message is for the user."""


def parse_inputs(date_from: str, date_to: str, bank: str) -> ScanInputs:
    """The scan the three boxes ask for (From blank: today; To and Bank blank: none)."""
    first = _parse_day("From", date_from) or today()
    last = _parse_day("To", date_to)
    if last is not None and last < first:
        raise InputProblem(f"To {last} is before From {first}")
    amount = None
    if bank.strip():
        try:
            amount = Decimal(bank.strip().replace(",", "")).quantize(Decimal("0.01"))
        except InvalidOperation:
            raise InputProblem(f"Bank: {bank.strip()!r} is not an amount") from None
        if not amount.is_finite() or amount <= 0:
            raise InputProblem(f"Bank: must be more than 0, not {bank.strip()}")
    return ScanInputs(first, last, amount)


def _parse_day(label: str, text: str) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputProblem(f"{label}: {text!r} is not a date (YYYY-MM-DD)") from None


# Formatting -----------------------------------------------------------------------------


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def fmt_feature(value: Any) -> str:
    """A feature value as the detail line shows it: short, without float noise."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3f}".rstrip("0").rstrip(".")


def pick_detail(pick: ScanPick) -> Text:
    """One line on the highlighted pick: the bet, the staking and the values its rules read."""
    features = " · ".join(f"{name}={fmt_feature(v)}" for name, v in pick.features.items())
    flat = pick.staking.get("kind", "flat") == "flat"
    return Text.assemble(
        (pick.filter, "bold"),
        f": {bet_label(pick.market, pick.price, pick.ah_line)} ({pick.odds_source}),"
        f" stake {pick.stake}" + ("" if flat else f" ({staking_label(pick.staking)})"),
        (f" · {features}" if features else "", "dim"),
    )


def day_label(day: dt.date) -> str:
    return f"{day:%a %d %b %Y}"


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


# What workers post ------------------------------------------------------------------------


class Scanned(Message):
    def __init__(self, board: ScanBoard, focus: bool) -> None:
        super().__init__()
        self.board = board
        self.focus = focus


class RecordsLoaded(Message):
    def __init__(self, picks: list[PickRecord], filters: list[FilterRecord]) -> None:
        super().__init__()
        self.picks = picks
        self.filters = filters


class PicksRecorded(Message):
    def __init__(self, asked: int, new: int) -> None:
        super().__init__()
        self.asked = asked
        self.new = new


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    """0: takes the room left."""
    numeric: bool = False


def fit(columns: list[Column], available: int, least: int = 14) -> list[Column]:
    """The flexible column gets the room the fixed ones leave (at least `least`)."""
    fixed = sum(c.width + CELL_PADDING for c in columns if c.width) + CELL_PADDING
    flexible = max(least, available - fixed)
    return [Column(c.key, c.label, c.width or flexible, c.numeric) for c in columns]


def _filterbets(screen: Screen[Any]) -> FilterBetsApp:
    return cast("FilterBetsApp", screen.app)


# The screen -------------------------------------------------------------------------------


class ScannerScreen(Screen[None]):
    """Upcoming picks from the saved filters, and the live record of those recorded."""

    TITLE = "FilterBets · Scanner"
    HELP_SCOPE: ClassVar[str] = "Scanner screen"
    AUTO_FOCUS = ""
    """The table takes focus once scanned (the first focusable widget is the tab bar)."""

    DEFAULT_CSS = """
    #scanner-tabs {
        height: 1fr;
    }
    #scanner-tabs TabPane {
        padding: 0;
    }
    #scan-controls {
        height: 1;
        padding: 0 1;
    }
    #scan-controls .scan-label {
        width: auto;
        padding: 0 1 0 0;
    }
    #scan-controls Input {
        width: 12;
        margin: 0 2 0 0;
    }
    #scan-controls #scan-bank {
        width: 14;
    }
    #scan-hint {
        width: 1fr;
        content-align-horizontal: right;
    }
    #scan-warnings {
        height: auto;
        padding: 0 1;
    }
    #scan-table, #picks-table {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    #records-table {
        height: auto;
        max-height: 7;
        scrollbar-size-vertical: 1;
    }
    #scan-detail {
        background: $boost;
    }
    #records-note {
        height: auto;
        padding: 0 1;
    }
    #scan-empty, #picks-empty {
        height: 1fr;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "u", "show_tab('upcoming')", "Upcoming", id="scanner.tab_upcoming", group=_TABS_GROUP
        ),
        Binding("p", "show_tab('picks')", "Picks", id="scanner.tab_picks", group=_TABS_GROUP),
        Binding("space", "mark", "Mark", id="scanner.mark"),
        Binding("w", "record", "Record", id="scanner.record"),
        Binding("y", "copy_slip", "Copy", id="scanner.copy"),
        Binding("x", "export", "Export", id="scanner.export"),
        Binding("d", "edit_dates", "Dates", show=False, id="scanner.dates"),
        Binding("b", "edit_bank", "Bank", show=False, id="scanner.bank"),
        Binding("r", "refresh", "Refresh", show=False, id="scanner.refresh"),
        Binding("escape", "leave_input", "Back to the table", show=False, id="scanner.leave"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.board: ScanBoard | None = None
        self.marked: set[int] = set()
        """Indices of marked picks in `board.result.picks`."""
        self.records: tuple[list[PickRecord], list[FilterRecord]] | None = None
        self._records_stale = True
        self._problem: str | None = None
        self._requested: ScanInputs | None = None
        """What the last scan asked for (a box left unchanged does not scan again)."""

    @property
    def filterbets(self) -> FilterBetsApp:
        return _filterbets(self)

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="upcoming", id="scanner-tabs"):
            with TabPane("Upcoming", id="upcoming"):
                with Horizontal(id="scan-controls"):
                    yield Static("From", classes="scan-label")
                    yield Input(
                        today().isoformat(), placeholder="today", id="scan-from", compact=True
                    )
                    yield Static("To", classes="scan-label")
                    yield Input(placeholder="any day", id="scan-to", compact=True)
                    yield Static("Bank", classes="scan-label")
                    yield Input(placeholder="for % / Kelly", id="scan-bank", compact=True)
                    yield Static("", id="scan-hint", classes="bar-status")
                yield Static("", id="scan-summary", classes="bar")
                yield Static("", id="scan-warnings")
                table = VimDataTable(id="scan-table", cursor_type="row")
                table.display = False
                yield table
                yield Static("", id="scan-detail", classes="bar")
                with Middle(id="scan-empty") as empty, Center():
                    empty.display = False
                    yield Static("", id="scan-empty-message", classes="empty-message")
            with TabPane("Picks", id="picks"):
                yield Static("", id="picks-summary", classes="bar")
                records = VimDataTable(id="records-table", cursor_type="row")
                records.display = False
                yield records
                yield Static("", id="records-note", classes="hint")
                picks = VimDataTable(id="picks-table", cursor_type="row", zebra_stripes=True)
                picks.display = False
                yield picks
                with Middle(id="picks-empty") as empty, Center():
                    empty.display = False
                    yield Static("", id="picks-empty-message", classes="empty-message")
                yield Static(
                    "Backtest: its yield before the first pick · CLV: against closing prices",
                    id="picks-legend",
                    classes="bar hint",
                )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._set_summary(Text("Connecting…"))
        self.query_one("#scan-detail").display = False
        self.query_one("#scan-warnings").display = False
        self.query_one("#picks-legend").display = False
        self.query_one("#records-note").display = False
        self.watch(self.app, "service", self._service_changed, init=True)

    def _service_changed(self, service: FilterBetsService | None) -> None:
        if service is not None:
            self.rescan()

    def on_screen_resume(self) -> None:
        # Filters may have changed, or a new import brought fixtures or results.
        if self.board is not None:
            self._records_stale = True
            self.rescan(focus=False)

    # Scanning ----------------------------------------------------------------------------

    def _inputs(self) -> ScanInputs:
        return parse_inputs(
            self.query_one("#scan-from", Input).value,
            self.query_one("#scan-to", Input).value,
            self.query_one("#scan-bank", Input).value,
        )

    def rescan(self, *, focus: bool = True) -> None:
        service = self.filterbets.service
        if service is None:
            return
        try:
            inputs = self._inputs()
        except InputProblem as problem:
            self._problem = str(problem)
            self._set_summary(Text(f"⚠ {problem}", style=PROBLEM))
            return
        self._problem = None
        self._requested = inputs
        if self.board is None:
            self._set_summary(Text("Scanning…"))
        self._scan(service, inputs, focus)
        if self.query_one(TabbedContent).active == "picks":
            self.reload_records()

    @work(exclusive=True, group=SCAN_GROUP, exit_on_error=False)
    async def _scan(self, service: FilterBetsService, inputs: ScanInputs, focus: bool) -> None:
        board = await scan_active_filters(
            service.db,
            service.user_id,
            date_from=inputs.date_from,
            date_to=inputs.date_to,
            bank=inputs.bank,
        )
        self.post_message(Scanned(board, focus))

    @on(Scanned)
    def _scanned(self, message: Scanned) -> None:
        old = self.board
        board = message.board
        if old is None or old.result.picks != board.result.picks:
            self.marked = set()
        self.board = board
        self.show_board()
        if message.focus:
            self._focus_table()

    def _focus_table(self) -> None:
        if self.query_one(TabbedContent).active != "upcoming":
            return
        if isinstance(self.focused, Input):
            return
        table = self.query_one("#scan-table", VimDataTable)
        if table.display:
            table.focus()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        error = event.worker.error
        if event.state is not WorkerState.ERROR or error is None:
            return
        group = event.worker.group
        if group == SCAN_GROUP:
            if isinstance(error, FilterBetsError):
                self._set_summary(Text(f"⚠ {error}", style=PROBLEM))
            elif self.board is None:
                self._set_summary(Text("Could not scan; press r to retry."))
            self.filterbets.report_error(error, doing="scanning")
        elif group == RECORDS_GROUP:
            if self.records is None:
                self.query_one("#picks-summary", Static).update(
                    Text("Could not load the picks; press r to retry.")
                )
            self.filterbets.report_error(error, doing="loading the picks")
        elif group == ACTION_GROUP:
            self.filterbets.report_error(error, doing=event.worker.name or "")

    # Showing the scan --------------------------------------------------------------------

    def _set_summary(self, text: Text) -> None:
        self.query_one("#scan-summary", Static).update(text)

    def show_board(self) -> None:
        board = self.board
        if board is None:
            return
        picks = board.result.picks
        self._set_summary(self._summary_text(board))
        lines = [Text(f"⚠ {line}", style=PROBLEM) for line in board.warnings + board.left_out]
        warnings = self.query_one("#scan-warnings", Static)
        warnings.update(Text("\n").join(lines))
        warnings.display = bool(lines)
        table = self.query_one("#scan-table", VimDataTable)
        empty = not picks
        table.display = not empty
        self.query_one("#scan-detail").display = not empty
        self.query_one("#scan-empty").display = empty
        if empty:
            self.query_one("#scan-empty-message", Static).update(self._empty_text(board))
        self._fill_scan_table()
        self._show_hint()
        self._show_detail()
        self.refresh_bindings()

    def _summary_text(self, board: ScanBoard) -> Text:
        result = board.result
        picks = result.picks
        filters = _count(len(board.filters), "filter", "filters")
        if not result.upcoming:
            return Text(f"No upcoming matches in these dates · {filters}")
        matches = len({pick.fixture_id for pick in picks})
        parts = [
            f"{_count(len(picks), 'pick', 'picks')} in {matches:,} of"
            f" {_count(result.upcoming, 'upcoming match', 'upcoming matches')}",
            filters,
        ]
        if result.skipped_no_odds:
            parts.append(f"{result.skipped_no_odds:,} had no price")
        return Text(" · ".join(parts))

    def _empty_text(self, board: ScanBoard) -> Text:
        loaded = board.loaded
        dates_key = key_for(self, "scanner.dates", "d")
        if not board.filters and not board.left_out:
            inactive = f" ({board.inactive} inactive)" if board.inactive else ""
            return Text.from_markup(
                f"[b]No active filters to scan with{inactive}.[/b]\n\n"
                "Save one on the Filters screen (key [b]1[/b]), then come back."
            )
        if not loaded.fixtures:
            return Text.from_markup(
                "[b]No upcoming fixtures loaded.[/b]\n\n"
                "Import football-data's fixtures.csv on the Data screen\n"
                "(key [b]4[/b], then [b]i[/b]), or from a shell:\n"
                "    [b]filterbets import fixtures.csv[/b]"
            )
        if not board.result.upcoming:
            return Text.from_markup(
                f"[b]No upcoming fixtures from {board.date_from}"
                f"{f' to {board.date_to}' if board.date_to else ''}.[/b]\n\n"
                f"The {loaded.fixtures:,} loaded kick off from {loaded.first_date}"
                f" to {loaded.last_date}:\npress [b]{dates_key}[/b] to change the dates,"
                " or import a newer fixtures file."
            )
        if not board.filters:
            return Text.from_markup("[b]No filter could be scanned[/b]: see the lines above.")
        return Text.from_markup(
            f"[b]None of the {board.result.upcoming:,} upcoming fixtures"
            f" fits your {_count(len(board.filters), 'filter', 'filters')}.[/b]\n\n"
            f"Press [b]{dates_key}[/b] to widen the dates."
        )

    def _show_hint(self) -> None:
        if isinstance(self.focused, Input):
            hint = "enter scans"
        elif self.marked:
            hint = f"{len(self.marked):,} marked"
        else:
            dates = key_for(self, "scanner.dates", "d")
            bank = key_for(self, "scanner.bank", "b")
            hint = f"{dates} dates · {bank} bank"
        self.query_one("#scan-hint", Static).update(Text(hint))

    def _scan_columns(self) -> list[Column]:
        available = max(0, self.size.width - SCROLLBAR_WIDTH - 2)
        wide = available >= WIDE_FROM
        return fit(
            [
                Column("mark", "", 1),
                Column("time", "Time", 5),
                *([Column("league", "Lg", 4)] if wide else []),
                Column("match", "Match", 0),
                Column("filter", "Filter", 18 if wide else 12),
                Column("bet", "Bet", 13 if wide else 11),
                *([Column("source", "Odds", 8)] if wide else []),
                Column("stake", "Stake", 7, numeric=True),
            ],
            available,
        )

    def _fill_scan_table(self) -> None:
        board = self.board
        if board is None:
            return
        table = self.query_one("#scan-table", VimDataTable)
        selected = self._cursor_key(table)
        table.clear(columns=True)
        columns = self._scan_columns()
        for column in columns:
            label = Text(column.label, justify="right" if column.numeric else "left")
            table.add_column(label, key=column.key, width=column.width)
        picks = board.result.picks
        previous: ScanPick | None = None
        for index, pick in enumerate(picks):
            if previous is None or pick.date != previous.date:
                table.add_row(
                    *self._day_cells(pick.date, columns), key=f"day:{pick.date.isoformat()}"
                )
            same_match = previous is not None and previous.fixture_id == pick.fixture_id
            table.add_row(*self._pick_cells(index, pick, columns, same_match), key=f"pick:{index}")
            previous = pick
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected), animate=False)
        elif picks and table.row_count > 1:
            table.move_cursor(row=1, animate=False)  # the first pick, under its day

    def _day_cells(self, day: dt.date, columns: Sequence[Column]) -> list[Text]:
        picks = [p for p in self.board.result.picks if p.date == day] if self.board else []
        stake = sum((p.stake for p in picks), Decimal(0))
        cells = []
        for column in columns:
            if column.key == "match":
                cells.append(Text(day_label(day), style="bold"))
            elif column.key == "filter":
                cells.append(Text(_count(len(picks), "pick", "picks"), style="dim"))
            elif column.key == "stake":
                cells.append(Text(f"{stake:,}", style="dim", justify="right"))
            else:
                cells.append(Text(""))
        return cells

    def _pick_cells(
        self, index: int, pick: ScanPick, columns: Sequence[Column], same_match: bool
    ) -> list[Text]:
        board = self.board
        recorded = board is not None and board.is_recorded(pick)
        cells = []
        for column in columns:
            key, width = column.key, column.width
            if key == "mark":
                if index in self.marked:
                    cells.append(Text("●", style="bold"))
                else:
                    cells.append(Text("✓" if recorded else "", style="dim"))
            elif key == "time":
                kickoff = "--:--" if pick.kickoff is None else pick.kickoff.strftime("%H:%M")
                cells.append(Text("" if same_match else kickoff))
            elif key == "league":
                cells.append(Text("" if same_match else pick.league))
            elif key == "match":
                if same_match:
                    cells.append(Text("  〃", style="dim"))
                    continue
                teams = f"{pick.home_team} v {pick.away_team}"
                if any(c.key == "league" for c in columns):
                    cells.append(Text(_clip(teams, width)))
                else:
                    text = Text.assemble((pick.league, "dim"), " ", teams)
                    text.truncate(width, overflow="ellipsis")
                    cells.append(text)
            elif key == "filter":
                cells.append(Text(_clip(pick.filter, width)))
            elif key == "bet":
                cells.append(Text(_clip(bet_label(pick.market, pick.price, pick.ah_line), width)))
            elif key == "source":
                cells.append(Text(_clip(pick.odds_source, width), style="dim"))
            else:
                cells.append(Text(f"{pick.stake:,}", justify="right"))
        return cells

    def _cursor_key(self, table: DataTable[Any]) -> str | None:
        if not table.row_count or not table.is_valid_row_index(table.cursor_row):
            return None
        return str(table.ordered_rows[table.cursor_row].key.value)

    def _cursor_pick(self) -> int | None:
        key = self._cursor_key(self.query_one("#scan-table", VimDataTable))
        if key is None or not key.startswith("pick:"):
            return None
        return int(key.removeprefix("pick:"))

    @on(DataTable.RowHighlighted, "#scan-table")
    def _scan_row_highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        board = self.board
        detail = self.query_one("#scan-detail", Static)
        index = self._cursor_pick()
        if board is None or not board.result.picks:
            detail.update("")
            return
        if index is None:
            key = self._cursor_key(self.query_one("#scan-table", VimDataTable)) or ""
            day = key.removeprefix("day:")
            detail.update(Text(f"{day}: space marks the day's picks", style="dim"))
            return
        pick = board.result.picks[index]
        text = pick_detail(pick)
        if board.is_recorded(pick):
            text.append(" · recorded", style="dim")
        text.truncate(max(10, self.size.width - 2), overflow="ellipsis")
        detail.update(text)

    def on_resize(self, _event: Resize) -> None:
        if self.board is not None:
            self._fill_scan_table()
            self._show_detail()
        if self.records is not None:
            self._fill_records()

    # Inputs --------------------------------------------------------------------------------

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.rescan()
        if self._problem is None:
            self.action_leave_input()

    @on(Input.Blurred)
    def _left_box(self, event: Input.Blurred) -> None:
        """Leaving a box by tab, escape or the mouse scans with what it holds, if new."""
        event.stop()
        try:
            wanted = self._inputs()
        except InputProblem:
            wanted = None
        if wanted is None or wanted != self._requested:
            self.rescan(focus=False)

    def on_descendant_focus(self) -> None:
        self._show_hint()
        self.refresh_bindings()

    def action_edit_dates(self) -> None:
        self.action_show_tab("upcoming")
        self.query_one("#scan-from", Input).focus()

    def action_edit_bank(self) -> None:
        self.action_show_tab("upcoming")
        self.query_one("#scan-bank", Input).focus()

    def action_leave_input(self) -> None:
        table = self.query_one("#scan-table", VimDataTable)
        if table.display:
            table.focus()
        else:
            self.query_one(TabbedContent).query_one("Tabs").focus()

    def action_refresh(self) -> None:
        self._records_stale = True
        self.rescan(focus=False)
        if self._active_tab() == "picks":
            self.reload_records()

    # Tabs ----------------------------------------------------------------------------------

    def _active_tab(self) -> str:
        return self.query_one(TabbedContent).active

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self._tab_shown(tab)

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._tab_shown(str(event.pane.id))

    def _tab_shown(self, tab: str) -> None:
        if tab == "picks":
            if self.records is None or self._records_stale:
                self.reload_records()
            table = self.query_one("#records-table", VimDataTable)
        else:
            table = self.query_one("#scan-table", VimDataTable)
        if table.display:
            table.focus()
        elif self.focused is not None and not isinstance(self.focused, Input):
            # Focus left in the other tab's table would bring that tab back.
            self.query_one(TabbedContent).query_one("Tabs").focus()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        typing = isinstance(self.focused, Input)
        upcoming = self._active_tab() == "upcoming"
        picks = bool(self.board and self.board.result.picks)
        if action in ("mark", "record", "copy_slip"):
            if typing:
                return False
            return True if upcoming and picks else None if upcoming else False
        if action == "export":
            if typing:
                return False
            if upcoming:
                return True if picks else None
            return True if self.records and self.records[0] else None
        if action == "leave_input":
            return typing
        if action in ("edit_dates", "edit_bank", "refresh", "show_tab"):
            return not typing
        return True

    # Marking, recording, copying, exporting -------------------------------------------------

    def chosen_picks(self) -> list[ScanPick]:
        """The marked picks, else all the scan's."""
        picks = self.board.result.picks if self.board else []
        if self.marked:
            return [pick for i, pick in enumerate(picks) if i in self.marked]
        return list(picks)

    def action_mark(self) -> None:
        board = self.board
        table = self.query_one("#scan-table", VimDataTable)
        key = self._cursor_key(table)
        if board is None or key is None:
            return
        if key.startswith("day:"):
            day = dt.date.fromisoformat(key.removeprefix("day:"))
            indices = {i for i, p in enumerate(board.result.picks) if p.date == day}
            if indices <= self.marked:
                self.marked -= indices
            else:
                self.marked |= indices
        else:
            index = int(key.removeprefix("pick:"))
            self.marked ^= {index}
            if table.cursor_row < table.row_count - 1:
                table.move_cursor(row=table.cursor_row + 1, animate=False)
        row = table.cursor_row
        self._fill_scan_table()
        table.move_cursor(row=row, animate=False)
        self._show_hint()

    def action_record(self) -> None:
        board = self.board
        service = self.filterbets.service
        if board is None or service is None:
            return
        picks = self.chosen_picks()
        new = [pick for pick in picks if not board.is_recorded(pick)]
        if not new:
            self.notify(
                f"{'The marked picks are' if self.marked else 'Every pick is'} recorded already.",
                title="Record",
            )
            return
        which = "marked " if self.marked else ""
        stake = sum((pick.stake for pick in new), Decimal(0))
        again = len(picks) - len(new)
        already = f" ({again:,} recorded before stay as they were)" if again else ""
        question = (
            f"Record {_count(len(new), which + 'pick', which + 'picks')} as taken now,"
            f" at the prices shown (total stake {stake:,}){already}?"
            " A recorded pick is never changed; it settles on the Picks tab"
            f" ({key_for(self, 'scanner.tab_picks', 'p')}) once its result is imported."
        )

        def answered(yes: bool | None) -> None:
            if yes and self.filterbets.service is not None:
                self._record(self.filterbets.service, new)

        self.app.push_screen(ConfirmScreen(question, title="Record picks", yes="Record"), answered)

    @work(group=ACTION_GROUP, exit_on_error=False, name="recording the picks")
    async def _record(self, service: FilterBetsService, picks: list[ScanPick]) -> None:
        new = await Scanner(service.db, service.user_id).record(picks)
        self.post_message(PicksRecorded(len(picks), new))

    @on(PicksRecorded)
    def _recorded(self, message: PicksRecorded) -> None:
        self.notify(
            f"{_count(message.new, 'pick', 'picks')} recorded"
            f" (see Picks: {key_for(self, 'scanner.tab_picks', 'p')}).",
            title="Record",
        )
        self.marked = set()
        self._records_stale = True
        self.rescan(focus=False)

    def action_copy_slip(self) -> None:
        picks = self.chosen_picks()
        if not picks:
            return
        self.app.copy_to_clipboard(bet_slip(picks))
        which = "marked " if self.marked else ""
        self.notify(
            f"Bet slip of {_count(len(picks), which + 'pick', which + 'picks')} copied"
            " (via the terminal).",
            title="Clipboard",
        )

    def action_export(self) -> None:
        if self._active_tab() == "upcoming":
            self._export_scan()
        else:
            self._export_records()

    def _export_scan(self) -> None:
        board = self.board
        if board is None:
            return
        picks = self.chosen_picks()
        which = "marked " if self.marked else ""
        suggested = default_scan_export_path("scan", board.date_from, until=board.date_to)
        rows = scan_rows(picks)
        self._ask_and_write(
            f"Export {_count(len(picks), which + 'pick', which + 'picks')}",
            suggested,
            "One row per pick: match, filter, bet, price, stake and the values its rules read.",
            SCAN_CSV_HEADER,
            rows,
        )

    def _export_records(self) -> None:
        if not self.records:
            return
        picks = self.records[0]
        suggested = default_scan_export_path("picks", today())
        self._ask_and_write(
            f"Export {_count(len(picks), 'recorded pick', 'recorded picks')}",
            suggested,
            "One row per recorded pick: the price taken, stake, outcome, profit and CLV.",
            PICKS_CSV_HEADER,
            picks_rows(picks),
        )

    def _ask_and_write(
        self,
        title: str,
        suggested: Any,
        description: str,
        header: Sequence[str],
        rows: list[tuple[Any, ...]],
    ) -> None:
        def chosen(request: SaveRequest | None) -> None:
            if request is not None:
                self._write(request, header, rows)

        self.app.push_screen(SavePrompt(title, suggested, description), chosen)

    @work(group=ACTION_GROUP, exit_on_error=False, name="exporting the picks")
    async def _write(
        self, request: SaveRequest, header: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        await asyncio.to_thread(write_csv, request.path, header, rows, overwrite=request.overwrite)
        self.notify(
            f"{_count(len(rows), 'pick', 'picks')} written to:\n{request.path}",
            title="Exported",
            timeout=15,
        )

    # The Picks tab ---------------------------------------------------------------------------

    def reload_records(self) -> None:
        service = self.filterbets.service
        if service is None:
            return
        if self.records is None:
            self.query_one("#picks-summary", Static).update(
                Text("Loading the picks and their backtests…")
            )
        self._records_stale = False
        self._load_records(service)

    @work(exclusive=True, group=RECORDS_GROUP, exit_on_error=False)
    async def _load_records(self, service: FilterBetsService) -> None:
        picks, filters = await Scanner(service.db, service.user_id).records()
        self.post_message(RecordsLoaded(picks, filters))

    @on(RecordsLoaded)
    def _records_loaded(self, message: RecordsLoaded) -> None:
        self.records = (message.picks, message.filters)
        self._fill_records()
        self.refresh_bindings()
        if self._active_tab() == "picks" and not isinstance(self.focused, VimDataTable):
            table = self.query_one("#records-table", VimDataTable)
            if table.display:
                table.focus()

    def _record_columns(self) -> list[Column]:
        available = max(0, self.size.width - SCROLLBAR_WIDTH - 2)
        wide = available >= WIDE_FROM
        return fit(
            [
                Column("filter", "Filter", 0),
                Column("picks", "Picks", 5, numeric=True),
                Column("settled", "Settled", 7, numeric=True),
                Column("profit", "Profit", 8, numeric=True),
                *([Column("staked", "Staked", 8, numeric=True)] if wide else []),
                Column("yield", "Yield", 8, numeric=True),
                Column("clv", "CLV", 7, numeric=True),
                Column("backtest", "Backtest", 8, numeric=True),
            ],
            available,
            least=12,
        )

    def _fill_records(self) -> None:
        if self.records is None:
            return
        picks, filters = self.records
        records = self.query_one("#records-table", VimDataTable)
        empty = not picks
        records.display = not empty
        self.query_one("#picks-table").display = not empty
        self.query_one("#records-note").display = not empty
        self.query_one("#picks-legend").display = not empty
        self.query_one("#picks-empty").display = empty
        summary = self.query_one("#picks-summary", Static)
        if empty:
            summary.update(Text("No picks recorded yet"))
            record_key = key_for(self, "scanner.record", "w")
            upcoming_key = key_for(self, "scanner.tab_upcoming", "u")
            self.query_one("#picks-empty-message", Static).update(
                Text.from_markup(
                    "[b]No picks recorded yet.[/b]\n\n"
                    f"On Upcoming ([b]{upcoming_key}[/b]), [b]{record_key}[/b] records the"
                    " picks\n(the marked ones, else all); once results\n"
                    "arrive by an import, they settle here."
                )
            )
            return
        settled = [p for p in picks if p.profit is not None]
        profit = sum((p.profit for p in settled if p.profit is not None), Decimal(0))
        summary.update(
            Text.assemble(
                f"{_count(len(picks), 'pick', 'picks')} recorded by"
                f" {_count(len(filters), 'filter', 'filters')} · {len(settled):,} settled"
                " · profit ",
                (fmt_units(profit), signed_style(float(profit))),
            )
        )
        selected = self._cursor_key(records)
        records.clear(columns=True)
        for column in self._record_columns():
            label = Text(column.label, justify="right" if column.numeric else "left")
            records.add_column(label, key=column.key, width=column.width)
        for record in filters:
            records.add_row(*self._record_cells(record), key=record.filter)
        if selected is not None and selected in records.rows:
            records.move_cursor(row=records.get_row_index(selected), animate=False)
        self._show_filter_picks()

    def _record_cells(self, record: FilterRecord) -> list[Text]:
        cells = []
        for column in self._record_columns():
            key, width = column.key, column.width
            if key == "filter":
                cells.append(Text(_clip(record.filter, width)))
            elif key == "picks":
                cells.append(Text(f"{record.picks:,}", justify="right"))
            elif key == "settled":
                cells.append(Text(f"{record.settled:,}", justify="right"))
            elif key == "profit":
                profit = float(record.profit)
                style = signed_style(profit) if record.settled else "dim"
                cells.append(Text(fmt_units(profit), style=style, justify="right"))
            elif key == "staked":
                cells.append(Text(f"{record.staked:,}", justify="right"))
            elif key == "yield":
                cells.append(
                    Text(fmt_pct(record.yield_), style=signed_style(record.yield_), justify="right")
                )
            elif key == "clv":
                cells.append(
                    Text(fmt_pct(record.clv), style=signed_style(record.clv), justify="right")
                )
            else:
                backtest = record.backtest_yield
                cells.append(Text(fmt_pct(backtest), style=signed_style(backtest), justify="right"))
        return cells

    def selected_record(self) -> FilterRecord | None:
        if self.records is None:
            return None
        key = self._cursor_key(self.query_one("#records-table", VimDataTable))
        return next((r for r in self.records[1] if r.filter == key), None)

    @on(DataTable.RowHighlighted, "#records-table")
    def _record_highlighted(self) -> None:
        self._show_filter_picks()

    def _picks_columns(self) -> list[Column]:
        available = max(0, self.size.width - SCROLLBAR_WIDTH - 2)
        wide = available >= WIDE_FROM
        return fit(
            [
                Column("date", "Date", 10 if wide else 6),
                *([Column("league", "Lg", 4)] if wide else []),
                Column("match", "Match", 0),
                Column("bet", "Bet", 13 if wide else 11),
                *([Column("source", "Odds", 8)] if wide else []),
                Column("stake", "Stake", 6, numeric=True),
                Column("outcome", "Result", 6),
                Column("profit", "Profit", 7, numeric=True),
                *([Column("clv", "CLV", 7, numeric=True)] if wide else []),
            ],
            available,
        )

    def _show_filter_picks(self) -> None:
        record = self.selected_record()
        note = self.query_one("#records-note", Static)
        table = self.query_one("#picks-table", VimDataTable)
        table.clear(columns=True)
        if record is None or self.records is None:
            note.update("")
            return
        note.update(Text.assemble((record.filter, "bold"), f" — {record.note}"))
        columns = self._picks_columns()
        for column in columns:
            label = Text(column.label, justify="right" if column.numeric else "left")
            table.add_column(label, key=column.key, width=column.width)
        for pick in self.records[0]:
            if pick.filter == record.filter:
                table.add_row(*self._record_pick_cells(pick, columns), key=str(pick.id))

    def _record_pick_cells(self, pick: PickRecord, columns: Sequence[Column]) -> list[Text]:
        cells = []
        for column in columns:
            key, width = column.key, column.width
            if key == "date":
                cells.append(Text(pick.date.isoformat() if width >= 10 else f"{pick.date:%d %b}"))
            elif key == "league":
                cells.append(Text(pick.league))
            elif key == "match":
                teams = f"{pick.home_team} v {pick.away_team}"
                if any(c.key == "league" for c in columns):
                    cells.append(Text(_clip(teams, width)))
                else:
                    text = Text.assemble((pick.league, "dim"), " ", teams)
                    text.truncate(width, overflow="ellipsis")
                    cells.append(text)
            elif key == "bet":
                cells.append(Text(_clip(bet_label(pick.market, pick.price), width)))
            elif key == "source":
                cells.append(Text(_clip(pick.odds_source, width), style="dim"))
            elif key == "stake":
                cells.append(Text(f"{pick.stake:,}", justify="right"))
            elif key == "outcome":
                if pick.outcome is None:
                    cells.append(Text("open", style="dim"))
                else:
                    outcome = pick.outcome
                    style = GOOD if "win" in outcome else BAD if "loss" in outcome else "dim"
                    cells.append(Text(OUTCOME_TEXT.get(outcome, outcome), style=style))
            elif key == "profit":
                value = None if pick.profit is None else float(pick.profit)
                cells.append(Text(fmt_units(value), style=signed_style(value), justify="right"))
            else:
                cells.append(Text(fmt_pct(pick.clv), style=signed_style(pick.clv), justify="right"))
        return cells


__all__ = ["ScannerScreen", "parse_inputs", "pick_detail"]
