"""The Data screen: every league-season in the database and how well its odds are covered."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Horizontal, Middle
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, ProgressBar, Static
from textual.worker import Worker, WorkerState

from core.importing.removal import Removal, plan_imports, plan_league_season, remove
from core.importing.service import ImportProgress, ImportSummary, import_paths
from core.services import DataTotals, FilterBetsService, LeagueSeasonSummary, format_coverage
from tui.keymap import key_for
from tui.widgets.candle_sets import CandleSetsPanel
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.import_prompt import ImportPrompt, ImportRequest
from tui.widgets.import_report import ImportReport, has_problems
from tui.widgets.strategy_prompt import StrategyJob, StrategyPrompt, queue_strategy_job
from tui.widgets.text import clip
from tui.widgets.vim_table import VimDataTable

if TYPE_CHECKING:
    from tui.app import FilterBetsApp

CELL_PADDING = 1
"""DataTable's default padding on each side of a cell."""
LOAD_GROUP = "data-load"
IMPORT_GROUP = "data-import"
REMOVE_GROUP = "data-remove"
SCROLLBAR_WIDTH = 1
SUMMARY_RESERVE = 2 + len("sort: Country ▼") + 1
"""The summary bar's padding and the widest sort label beside it."""
"""The table's vertical scrollbar (set in app.tcss), always reserved so rows never shift."""

EMPTY_MESSAGE = """\
[b]No matches in this database yet.[/b]

Press [b]i[/b] to import football-data.co.uk season CSV
files or folders, or from a shell:
    [b]filterbets demo[/b]           the bundled demo seasons
    [b]filterbets import PATH[/b]    files or folders

and then press [b]r[/b] here to refresh."""

LEGEND = "Odds: % of games with a 1X2 price · PIN Pinnacle · AVG/MAX market · c closing"
BOOK_LEGENDS = (
    "Odds: % of games with a 1X2 price · PIN Pinnacle · AVG/MAX market · c closing"
    " · Books: other odds sources (Enter: each one's %)",
    "Odds: % of games with a 1X2 price · PIN Pinnacle · c closing · Books: other sources (Enter)",
    "% of games with a 1X2 price · PIN Pinnacle · c closing · Books: others (Enter)",
)
"""The legend when the Books column shows: the longest that fits the width."""
LEGEND_PADDING = 2


@dataclass(frozen=True)
class DataColumn:
    """One column the Data table can show."""

    key: str
    label: str
    priority: int
    """Lower shows first; columns that do not fit the width are left out, highest first."""
    cell: Callable[[LeagueSeasonSummary], str]
    sort_value: Callable[[LeagueSeasonSummary], Any]
    numeric: bool = False
    """Right-aligned."""
    max_width: int = 0
    """When set, the width the column is first given; longer text ends in … unless room is left."""
    min_width: int = 0
    """When set, the column may be cut down to this width to fit at all."""
    fit: Callable[[LeagueSeasonSummary, int], str] | None = None
    """The cell's text in a given width, when it can say more than `cell` clipped with …"""


def book_list(books: Sequence[str], width: int) -> str:
    """Book codes, most covered first, as many as fit `width` and "+N" for the rest."""
    if not books:
        return "-"
    for shown in range(len(books), -1, -1):
        more = len(books) - shown
        text = " ".join([*books[:shown], *([f"+{more}"] if more else [])])
        if len(text) <= width:
            return text
    return f"+{len(books)}"


def book_coverage(row: LeagueSeasonSummary) -> str:
    """Each other book's share of the league-season's games, most covered first."""
    if not row.books:
        return "no other bookmaker's prices"
    return ", ".join(f"{book} {format_coverage(share)}" for book, share in row.books.items())


def _coverage_column(source: str, label: str, priority: int) -> DataColumn:
    return DataColumn(
        key=source,
        label=label,
        priority=priority,
        cell=lambda row: format_coverage(row.coverage.get(source, 0.0)),
        sort_value=lambda row: row.coverage.get(source, 0.0),
        numeric=True,
    )


COLUMNS: tuple[DataColumn, ...] = (
    DataColumn(
        key="code",
        label="Code",
        priority=0,
        cell=lambda r: r.league_code,
        sort_value=lambda r: r.league_code,
    ),
    DataColumn(
        key="league",
        label="League",
        priority=2,
        cell=lambda r: r.league_name,
        sort_value=lambda r: r.league_name.lower(),
        max_width=16,
        min_width=10,
    ),
    DataColumn(
        key="country",
        label="Country",
        priority=4,
        cell=lambda r: r.country,
        sort_value=lambda r: r.country.lower(),
        max_width=11,
        min_width=7,
    ),
    DataColumn(
        key="season",
        label="Season",
        priority=0,
        cell=lambda r: r.season,
        sort_value=lambda r: r.season,
    ),
    DataColumn(
        key="fixtures",
        label="Games",
        priority=0,
        cell=lambda r: f"{r.fixtures:,}",
        sort_value=lambda r: r.fixtures,
        numeric=True,
    ),
    DataColumn(
        key="first",
        label="First",
        priority=3,
        cell=lambda r: r.first_date.isoformat(),
        sort_value=lambda r: r.first_date,
    ),
    DataColumn(
        key="last",
        label="Last",
        priority=3,
        cell=lambda r: r.last_date.isoformat(),
        sort_value=lambda r: r.last_date,
    ),
    _coverage_column("b365", "B365", 1),
    _coverage_column("pinnacle", "PIN", 1),
    _coverage_column("avg", "AVG", 1),
    _coverage_column("max", "MAX", 1),
    _coverage_column("b365_close", "B365c", 5),
    _coverage_column("pinnacle_close", "PINc", 1),
    # Other books: the odds sources a season without Bet365 or Pinnacle can be run at.
    DataColumn(
        key="books",
        label="Books",
        priority=1,
        cell=lambda r: book_list(list(r.books), 1_000),
        sort_value=lambda r: len(r.books),
        max_width=13,
        min_width=9,
        fit=lambda r, width: book_list(list(r.books), width),
    ),
    _coverage_column("avg_close", "AVGc", 5),
    _coverage_column("max_close", "MAXc", 5),
)
COLUMNS_BY_KEY = {column.key: column for column in COLUMNS}


def fit_columns(
    columns: Sequence[DataColumn], natural: dict[str, int], available: int
) -> dict[str, int]:
    """Which columns fit in `available` cells, and their widths, in display order.

    Columns are taken by priority while they fit, each at its natural width capped at
    `max_width`, else cut to `min_width` (a column that still does not fit is skipped,
    and a less important narrower one may fit instead); then any room left grows the
    columns that were cut, back towards their natural width.
    """
    pad = 2 * CELL_PADDING
    chosen: dict[str, int] = {}
    used = 0
    for column in sorted(columns, key=lambda c: c.priority):
        full = natural[column.key]
        for want in (
            min(full, column.max_width or full),
            min(full, column.min_width or full),
        ):
            if used + want + pad <= available:
                chosen[column.key] = want
                used += want + pad
                break
    spare = available - used
    for column in columns:
        if column.key in chosen and spare > 0:
            grow = min(spare, natural[column.key] - chosen[column.key])
            chosen[column.key] += grow
            spare -= grow
    return {column.key: chosen[column.key] for column in columns if column.key in chosen}


def _count(count: int, singular: str, plural: str) -> str:
    return f"{count:,} {singular if count == 1 else plural}"


def _row_key(row: LeagueSeasonSummary) -> str:
    return f"{row.league_code}/{row.season}"


class DataScreen(Screen[None]):
    """League-seasons with match counts, date ranges and odds coverage per source."""

    TITLE = "FilterBets · Data"
    HELP_SCOPE: ClassVar[str] = "Data screen"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Refresh", id="data.refresh"),
        Binding("s", "next_sort", "Sort", id="data.sort"),
        Binding("S", "reverse_sort", "Reverse sort", show=False, id="data.sort_reverse"),
        Binding("i", "import_files", "Import", id="data.import"),
        Binding("n", "run_strategy", "Strategy", id="data.run_strategy"),
        # Not in the footer (it would not fit 80 columns); the import's toast names the key.
        Binding("v", "import_report", "Import report", show=False, id="data.import_report"),
        # Listed in help (?); both ask first, naming what goes.
        Binding("d", "delete_season", "Delete league-season", show=False, id="data.delete"),
        Binding("u", "undo_import", "Undo last import", show=False, id="data.undo_import"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[LeagueSeasonSummary] | None = None
        self._totals: DataTotals | None = None
        self._sort_key = "code"
        self._sort_reverse = False
        self._layout: dict[str, int] = {}
        self._import_worker: Worker[None] | None = None
        self.last_import: ImportSummary | None = None
        """The summary of the last import started here (its report is a key away)."""
        self._undo_ids: tuple[int, ...] = ()
        """The imports the last import here recorded, until undone."""

    @property
    def filterbets(self) -> FilterBetsApp:
        return cast("FilterBetsApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="data-bar"):
            yield Static("", id="data-summary")
            yield Static("", id="data-sort")
        with Horizontal(id="data-import"):
            yield Static("", id="data-import-label")
            yield ProgressBar(id="data-import-bar", show_eta=False)
        yield VimDataTable(id="data-table", cursor_type="row", zebra_stripes=True)
        with Middle(id="data-empty"), Center():
            yield Static(EMPTY_MESSAGE, id="data-empty-message")
        yield Static(LEGEND, id="data-legend")
        yield CandleSetsPanel(id="data-candles")
        yield Footer()

    def on_mount(self) -> None:
        # Nothing below the summary line until the first load says which to show.
        for hidden in ("#data-table", "#data-empty", "#data-legend", "#data-import"):
            self.query_one(hidden).display = False
        self._set_summary(f"Connecting to {self.filterbets.settings.describe_backend()}…")
        self.watch(self.app, "service", self._service_changed, init=True)

    def _service_changed(self, service: FilterBetsService | None) -> None:
        if service is not None:
            self.reload()

    # Loading ---------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the league-seasons again, in the background."""
        service = self.filterbets.service
        if service is None:
            return
        if self._rows is None:
            self._set_summary("Loading…")
        else:
            self.query_one("#data-sort", Static).update("refreshing…")
        self._load(service)
        self.query_one(CandleSetsPanel).reload()

    @work(exclusive=True, group=LOAD_GROUP, exit_on_error=False)
    async def _load(self, service: FilterBetsService) -> None:
        rows = await service.league_seasons()
        totals = await service.data_totals()
        self._rows = rows
        self._totals = totals
        self._show()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        error = event.worker.error
        if event.state is not WorkerState.ERROR or error is None:
            return
        if event.worker.group == LOAD_GROUP:
            doing = "loading the data"
            if self._rows is None:
                self._set_summary("Could not load the data; press r to retry.")
        elif event.worker.group == IMPORT_GROUP:
            doing = "importing"
        elif event.worker.group == REMOVE_GROUP:
            doing = "deleting fixtures"
        else:
            return
        self._show_sort()
        self.filterbets.report_error(error, doing=doing)

    # Importing -------------------------------------------------------------------------

    def action_import_files(self) -> None:
        if self.filterbets.service is None:
            self.notify("Still connecting to the database.", severity="warning")
        elif self._import_worker is not None and not self._import_worker.is_finished:
            self.notify("An import is already running.", severity="warning")
        else:
            self.app.push_screen(ImportPrompt(), callback=self._start_import)

    def _start_import(self, request: ImportRequest | None) -> None:
        service = self.filterbets.service
        if request is not None and service is not None:
            self._import_worker = self._import(service, request)

    @work(group=IMPORT_GROUP, exit_on_error=False)
    async def _import(self, service: FilterBetsService, request: ImportRequest) -> None:
        row = self.query_one("#data-import")
        label = self.query_one("#data-import-label", Static)
        bar = self.query_one("#data-import-bar", ProgressBar)

        def progress(update: ImportProgress) -> None:
            at = min(update.files_done + 1, update.files_total)
            label.update(
                Text.assemble(
                    "Importing ", (update.current_file, "bold"), f" ({at}/{update.files_total})"
                )
            )
            bar.update(total=max(update.rows_total, 1), progress=update.rows_done)

        label.update(Text("Importing…"))
        bar.update(total=None, progress=0)
        row.display = True
        self.query_one("#data-sort", Static).update(Text("importing…"))
        try:
            summary = await import_paths(
                service.db,
                list(request.paths),
                skip_bad_rows=request.skip_bad_rows,
                on_progress=progress,
            )
        finally:
            row.display = False
            self._show_sort()
        self.last_import = summary
        self._undo_ids = tuple(summary.import_ids)
        self.refresh_bindings()
        troubled = has_problems(summary)
        if troubled and self.app.screen is self:
            # The report starts with the summary line: no toast on top of it.
            self.action_import_report()
        else:
            key = key_for(self, "data.import_report", "v")
            undo = key_for(self, "data.undo_import", "u")
            self.notify(
                summary.summary_line()
                + (f" · {key} on the Data screen shows what was rejected" if troubled else "")
                + (f" · {undo} undoes it" if summary.import_ids else ""),
                title="Import",
                severity="warning" if troubled else "information",
                timeout=15 if troubled else 8,
            )
        self.reload()

    def action_import_report(self) -> None:
        if self.last_import is not None:
            self.app.push_screen(ImportReport(self.last_import))

    # Deleting --------------------------------------------------------------------------

    def action_delete_season(self) -> None:
        service = self.filterbets.service
        table = self.query_one(VimDataTable)
        key = self._selected_key(table)
        if service is None or key is None:
            return
        code, season = key.split("/", 1)
        self._ask_to_remove(service, lambda: plan_league_season(service.db, code, season))

    def action_undo_import(self) -> None:
        service = self.filterbets.service
        if service is None or not self._undo_ids:
            return
        ids = self._undo_ids
        self._ask_to_remove(service, lambda: plan_imports(service.db, ids))

    @work(exclusive=True, group=REMOVE_GROUP, exit_on_error=False)
    async def _ask_to_remove(
        self, service: FilterBetsService, plan: Callable[[], Awaitable[Removal]]
    ) -> None:
        removal = await plan()
        if removal.fixtures == 0:
            self.notify(removal.describe(), title="Delete")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._remove(service, removal)

        self.app.push_screen(
            ConfirmScreen(f"{removal.describe()}.", title="Delete fixtures", yes="Delete"),
            answered,
        )

    @work(exclusive=True, group=REMOVE_GROUP, exit_on_error=False)
    async def _remove(self, service: FilterBetsService, removal: Removal) -> None:
        self.query_one("#data-sort", Static).update(Text("deleting…"))
        deleted = await remove(service.db, removal)
        if removal.import_ids and set(removal.import_ids) == set(self._undo_ids):
            self._undo_ids = ()
            self.refresh_bindings()
        self.notify(
            f"Deleted {deleted:,} fixtures of {removal.label}; backtest results and their"
            " ledgers are kept.",
            title="Delete",
        )
        self.reload()

    # Showing ---------------------------------------------------------------------------

    def _set_summary(self, text: str) -> None:
        self.query_one("#data-summary", Static).update(Text(text))

    def _show(self) -> None:
        rows, totals = self._rows, self._totals
        if rows is None or totals is None:
            return
        table = self.query_one(VimDataTable)
        empty = not rows
        table.display = not empty
        self.query_one("#data-empty").display = empty
        self.query_one("#data-legend").display = not empty
        if empty:
            self._set_summary("No data yet")
            self._show_sort()
            self.refresh_bindings()
            return
        self._show_totals()
        self._build_table(force=True)
        if self.focused is None:
            table.focus()
        self.refresh_bindings()

    def _show_totals(self) -> None:
        """The totals line; the league and season counts give way when it would not fit
        beside the sort label (the table lists those)."""
        totals = self._totals
        if totals is None or not self._rows:
            return
        parts = [
            _count(totals.leagues, "league", "leagues"),
            _count(totals.seasons, "season", "seasons"),
            _count(totals.fixtures, "fixture", "fixtures"),
        ]
        if totals.upcoming:
            parts.append(f"{totals.upcoming:,} upcoming to {totals.upcoming_last}")
        room = self.size.width - SUMMARY_RESERVE
        while len(parts) > 2 and len(" · ".join(parts)) > room:
            parts.pop(0)
        self._set_summary(" · ".join(parts))

    def _sorted_rows(self) -> list[LeagueSeasonSummary]:
        rows = sorted(self._rows or (), key=lambda r: (r.league_code, r.season))
        if self._sort_key != "code":
            column = COLUMNS_BY_KEY[self._sort_key]
            rows.sort(key=column.sort_value)
        if self._sort_reverse:
            # Stable in both directions: ties keep league/season order.
            rows.reverse()
        return rows

    def _natural_widths(self, rows: Sequence[LeagueSeasonSummary]) -> dict[str, int]:
        return {
            column.key: max([len(column.label), *(len(column.cell(row)) for row in rows)])
            for column in COLUMNS
        }

    def _available_width(self) -> int:
        return max(0, self.size.width - SCROLLBAR_WIDTH)

    def _build_table(self, *, force: bool = False) -> None:
        if not self._rows:
            return
        rows = self._sorted_rows()
        layout = fit_columns(COLUMNS, self._natural_widths(rows), self._available_width())
        if not force and layout == self._layout:
            return
        self._layout = layout
        if self._sort_key not in layout:
            self._sort_key, self._sort_reverse = "code", False
            rows = self._sorted_rows()
        table = self.query_one(VimDataTable)
        selected = self._selected_key(table)
        table.clear(columns=True)
        for key, width in layout.items():
            column = COLUMNS_BY_KEY[key]
            label = Text(column.label, justify="right" if column.numeric else "left")
            if key == self._sort_key:
                label.stylize("bold underline")
            table.add_column(label, key=key, width=width)
        for row in rows:
            table.add_row(
                *(self._cell(COLUMNS_BY_KEY[k], row, w) for k, w in layout.items()),
                key=_row_key(row),
            )
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected), animate=False)
        self._show_sort()
        self._show_legend()

    def _show_legend(self) -> None:
        legend = LEGEND
        if "books" in self._layout:
            room = self.size.width - LEGEND_PADDING
            legend = next((text for text in BOOK_LEGENDS if len(text) <= room), BOOK_LEGENDS[-1])
        self.query_one("#data-legend", Static).update(Text(legend))

    @on(DataTable.RowSelected, "#data-table")
    def _show_books(self, event: DataTable.RowSelected) -> None:
        """Enter on a league-season: each other book's share of its games."""
        key = event.row_key.value
        row = next((r for r in self._rows or () if _row_key(r) == key), None)
        if row is not None:
            self.notify(
                book_coverage(row),
                title=f"{row.league_code} {row.season}: {row.fixtures:,} games",
                timeout=12,
            )

    @staticmethod
    def _cell(column: DataColumn, row: LeagueSeasonSummary, width: int) -> Text:
        if column.fit is not None:
            value = column.fit(row, width)
            return Text(value, style="dim" if value == "-" else "")
        value = column.cell(row)
        if column.numeric:
            return Text(value, justify="right", style="dim" if value == "-" else "")
        return Text(clip(value, width))

    @staticmethod
    def _selected_key(table: DataTable[Any]) -> str | None:
        if not table.is_valid_row_index(table.cursor_row):
            return None
        return table.ordered_rows[table.cursor_row].key.value

    def _show_sort(self) -> None:
        if not self._rows:
            self.query_one("#data-sort", Static).update("")
            return
        column = COLUMNS_BY_KEY[self._sort_key]
        arrow = "▼" if self._sort_reverse else "▲"
        self.query_one("#data-sort", Static).update(Text(f"sort: {column.label} {arrow}"))

    def on_resize(self, _event: Resize) -> None:
        self._build_table()
        self._show_totals()

    # Sorting ---------------------------------------------------------------------------

    def sort_by(self, key: str, *, reverse: bool = False) -> None:
        """Order the rows by a column (ties stay in league, season order)."""
        if key not in COLUMNS_BY_KEY:
            raise KeyError(key)
        self._sort_key, self._sort_reverse = key, reverse
        self._build_table(force=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Sorting keys show dimmed (and do nothing) until there are rows to sort."""
        if action in ("next_sort", "reverse_sort") and not self._rows:
            return None
        if action == "import_report":  # listed in help, usable once an import has run
            return True if self.last_import is not None else None
        if action == "run_strategy":  # shown once there are candles to run it on
            return bool(self.query_one(CandleSetsPanel).series)
        if action == "delete_season":
            return True if self._rows else None
        if action == "undo_import":
            return True if self._undo_ids else None
        return True

    def action_run_strategy(self) -> None:
        panel = self.query_one(CandleSetsPanel)
        if not panel.series:
            return

        def chosen(job: StrategyJob | None) -> None:
            if job is not None:
                self.run_worker(queue_strategy_job(self.app, job), exit_on_error=False)

        self.app.push_screen(StrategyPrompt(panel.series, chosen=panel.selected()), chosen)

    def action_next_sort(self) -> None:
        visible = list(self._layout) or ["code"]
        position = visible.index(self._sort_key) if self._sort_key in visible else -1
        self.sort_by(visible[(position + 1) % len(visible)])

    def action_reverse_sort(self) -> None:
        self.sort_by(self._sort_key, reverse=not self._sort_reverse)

    def action_reload(self) -> None:
        self.reload()

    @on(DataTable.HeaderSelected, "#data-table")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        self.sort_by(key, reverse=key == self._sort_key and not self._sort_reverse)
