"""The Results screen: every stored backtest, its detail (metrics, equity curve, splits, bet
ledger), side-by-side comparison, export and a clipboard summary.

Workers only fetch; the handlers that receive their results own the screen's state. Every
failure goes through the app's `report_error`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Grid, Horizontal, Middle, Vertical, VerticalScroll
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from core.results import (
    LEDGER_SORTS,
    RESULT_SORTS,
    LedgerPage,
    LedgerRow,
    LedgerSort,
    ResultDetail,
    ResultSort,
    ResultStore,
    ResultSummary,
)
from core.services import FilterBetsService
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.equity_chart import ChartData, EquityChart, chart_data
from tui.widgets.export_prompt import ExportPrompt, ExportRequest
from tui.widgets.metrics_panel import (
    MetricLine,
    MetricsPanel,
    fmt_pct,
    fmt_units,
    metric_lines,
    staking_label,
    warning_texts,
)
from tui.widgets.result_kinds import (  # candle runs and sweeps beside football ones
    KIND_WIDTH,
    fit_kind_column,
    kind_cell,
    market_cell,
    screen_for,
    staking_cell,
)
from tui.widgets.rule_text import summarize_rules
from tui.widgets.styles import BAD, GOOD
from tui.widgets.text import clip, clip_middle
from tui.widgets.vim_table import VimDataTable

if TYPE_CHECKING:
    from tui.app import FilterBetsApp

LOAD_GROUP = "results-load"
ACTION_GROUP = "results-action"
LEDGER_GROUP = "results-ledger"
LEDGER_PAGE_SIZE = 50
SCROLLBAR_WIDTH = 1
CELL_PADDING = 2

SORT_LABELS: dict[ResultSort, str] = {
    "yield": "Yield",
    "profit": "Profit",
    "bets": "Bets",
    "date": "Date",
}
LEDGER_SORT_LABELS: dict[LedgerSort, str] = {
    "seq": "#",
    "date": "Date",
    "fixture": "Fixture",
    "odds": "Odds",
    "stake": "Stake",
    "outcome": "Result",
    "profit": "Profit",
}
OUTCOME_TEXT = {
    "win": "win",
    "loss": "loss",
    "push": "push",
    "half_win": "½ win",
    "half_loss": "½ loss",
}
MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SPLITS = (("season", "Season"), ("league", "League"), ("month", "Month"), ("odds_band", "Odds"))

EMPTY_MESSAGE = """\
[b]No backtest results yet.[/b]

On the Filters screen (key [b]1[/b]), pick a filter and
press [b]r[/b] to run a backtest; or from a shell:
    [b]filterbets backtest NAME --market home[/b]"""


# What workers post: they fetch, the screens' handlers own what is shown.


class ResultsListed(Message):
    def __init__(self, rows: list[ResultSummary], focus: int | None = None) -> None:
        super().__init__()
        self.rows = rows
        self.focus = focus


class ResultDeleted(Message):
    def __init__(self, result_id: int) -> None:
        super().__init__()
        self.result_id = result_id


class ResultLoaded(Message):
    def __init__(self, detail: ResultDetail, page: LedgerPage) -> None:
        super().__init__()
        self.detail = detail
        self.page = page


class LedgerPageLoaded(Message):
    def __init__(self, page: LedgerPage) -> None:
        super().__init__()
        self.page = page


class ComparisonLoaded(Message):
    def __init__(self, left: ResultDetail, right: ResultDetail) -> None:
        super().__init__()
        self.left = left
        self.right = right


def _signed_style(value: float | None) -> str:
    if value is None:
        return "dim"
    return GOOD if value > 0 else BAD if value < 0 else ""


def _when(moment: dt.datetime, *, with_time: bool) -> str:
    local = moment.astimezone()
    return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def _filterbets(screen: Screen[Any]) -> FilterBetsApp:
    return cast("FilterBetsApp", screen.app)


def _store(screen: Screen[Any]) -> ResultStore | None:
    service: FilterBetsService | None = _filterbets(screen).service
    return None if service is None else ResultStore(service.db, service.user_id)


def _report_failures(
    screen: Screen[Any], event: Worker.StateChanged, groups: dict[str, str]
) -> bool:
    """Route a failed worker of one of `groups` (group -> "doing") to the app's error path."""
    error = event.worker.error
    if event.state is not WorkerState.ERROR or error is None:
        return False
    doing = groups.get(event.worker.group)
    if doing is None:
        return False
    _filterbets(screen).report_error(error, doing=doing)
    return True


# The list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultColumn:
    key: str
    label: str
    width: int
    """0: takes the room left."""
    cell: Callable[[ResultSummary, bool], Text]
    """The cell of a row, given whether the table is wide (from WIDE_FROM columns)."""
    numeric: bool = False
    wide_only: bool = False
    """Shown only when the terminal has room (from WIDE_FROM columns)..."""
    when_sorted: bool = False
    """...or while the list is sorted by it."""
    narrow_width: int = 0
    """Its width below WIDE_FROM columns, when not `width`."""


ODDS_SHORT = {"b365": "B365", "pinnacle": "PIN", "avg": "AVG", "max": "MAX"}
"""How the list names price sources, as the Data screen does (its legend explains them)."""


def odds_short(source: str) -> str:
    """`PIN`, `MAXc` (c: closing), else the source as stored."""
    base = source.removesuffix("_close")
    short = ODDS_SHORT.get(base, base)
    return short + "c" if base != source else short


NARROW_STAKING = 7
"""The Staking column's width below WIDE_FROM columns."""


def _odds_cell(row: ResultSummary) -> Text:
    if not row.odds_source:  # a candle run
        return Text("-", style="dim")
    return Text(odds_short(row.odds_source))


def staking_short(row: ResultSummary, wide: bool) -> str:
    """`flat 1.00`, `2% bank`, `kelly 0.25`; below WIDE_FROM columns only the plan
    (with its percentage)."""
    plan = _plan_of(row)
    kind = plan.get("kind")
    if kind == "kelly":
        return f"kelly {plan.get('fraction')}" if wide else "kelly"
    if kind == "percent":
        full = f"{plan.get('percent')}% bank"
        return full if wide or len(full) <= NARROW_STAKING else f"{plan.get('percent')}%"
    return f"flat {plan.get('stake')}" if wide else "flat"


def describe_run(row: ResultSummary) -> str:
    """The selected run in full, for the line under the list (the table abbreviates)."""
    request = row.request
    parts = [f"#{row.id} {row.title}"]
    if row.is_strategy:  # a candle run or sweep: no market, odds or staking plan
        parts.append("strategy sweep" if row.kind == "sweep" else "strategy run")
    else:
        parts += [f"{row.market} @ {row.odds_source}", staking_label(_plan_of(row))]
        leagues, seasons = request.get("leagues") or [], request.get("seasons") or []
        parts.append(f"leagues {', '.join(leagues)}" if leagues else "all leagues")
        if seasons:
            parts.append(f"seasons {', '.join(seasons)}")
    start, end = request.get("from"), request.get("to")
    if start or end:
        parts.append(f"{start or '…'} to {end or '…'}")
    parts.append(f"profit {fmt_units(row.profit)}")
    parts.append(f"run {_when(row.created_at, with_time=True)}")
    return " · ".join(parts)


def _plan_of(row: ResultSummary) -> dict[str, Any]:
    """The staking plan as run; from the request for a result stored without one."""
    if row.plan.get("kind"):
        return row.plan
    request = row.request
    if row.staking == "kelly":
        return {
            "kind": "kelly",
            "fraction": request.get("kelly_fraction"),
            "cap": request.get("kelly_cap"),
        }
    if row.staking == "percent":
        return {"kind": "percent", "percent": request.get("stake") or "1"}
    return {"kind": "flat", "stake": request.get("stake") or "1.00"}


def _yield_cell(row: ResultSummary, _wide: bool) -> Text:
    return Text(fmt_pct(row.yield_), style=_signed_style(row.yield_), justify="right")


RESULT_COLUMNS: tuple[ResultColumn, ...] = (
    ResultColumn("id", "#", 4, lambda r, _w: Text(str(r.id), justify="right"), numeric=True),
    ResultColumn("kind", "Kind", KIND_WIDTH, lambda r, _w: kind_cell(r)),
    ResultColumn("filter", "Filter", 0, lambda r, _w: Text(r.title)),
    ResultColumn("market", "Market", 7, lambda r, _w: market_cell(r)),
    ResultColumn("odds", "Odds", 5, lambda r, _w: _odds_cell(r)),
    ResultColumn(
        "staking",
        "Staking",
        10,
        lambda r, w: staking_cell(r) if r.is_strategy else Text(staking_short(r, w)),
        narrow_width=NARROW_STAKING,
    ),
    ResultColumn(
        "bets", "Bets", 6, lambda r, _w: Text(f"{r.bets:,}", justify="right"), numeric=True
    ),
    ResultColumn(
        "profit",
        "Profit",
        9,
        lambda r, _w: Text(
            fmt_units(r.profit), style=_signed_style(float(r.profit)), justify="right"
        ),
        numeric=True,
        wide_only=True,
        when_sorted=True,
    ),
    ResultColumn("yield", "Yield", 8, _yield_cell, numeric=True),
    ResultColumn(
        "date",
        "Run",
        10,
        lambda r, _w: Text(_when(r.created_at, with_time=False)),
        wide_only=True,
    ),
    ResultColumn(
        "time",
        "At",
        5,
        lambda r, _w: Text(r.created_at.astimezone().strftime("%H:%M"), style="dim"),
        wide_only=True,
    ),
)
SORT_COLUMN: dict[ResultSort, str] = {
    "yield": "yield",
    "profit": "profit",
    "bets": "bets",
    "date": "date",
}
WIDE_FROM = 100
OVERVIEW_FROM_HEIGHT = 34
"""Terminal rows from which the Metrics tab also shows the equity curve."""


class ResultsScreen(Screen[None]):
    """Stored backtest results; enter opens one, space marks one to compare with c."""

    TITLE = "FilterBets · Results"
    HELP_SCOPE: ClassVar[str] = "Results screen"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", id="results.open"),
        Binding("s", "next_sort", "Sort", id="results.sort"),
        Binding("S", "reverse_sort", "Reverse sort", show=False, id="results.sort_reverse"),
        Binding("space", "mark", "Mark", id="results.mark"),
        Binding("c", "compare", "Compare", id="results.compare"),
        Binding("x", "export", "Export", id="results.export"),
        Binding("y", "copy_summary", "Copy", id="results.copy"),
        Binding("d", "delete", "Delete", show=False, id="results.delete"),
        Binding("r", "reload", "Refresh", show=False, id="results.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[ResultSummary] | None = None
        self.sort_by: ResultSort = "date"
        self.sort_desc = True
        self.marked: list[int] = []
        """Results marked for comparison, oldest mark first (at most two)."""
        self._layout: tuple[str, ...] = ()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="results-bar", classes="bar"):
            yield Static("", id="results-summary", classes="bar-summary")
            yield Static("", id="results-sort", classes="bar-status")
        yield VimDataTable(id="results-table", cursor_type="row", zebra_stripes=True)
        with Middle(id="results-empty"), Center():
            yield Static(EMPTY_MESSAGE, id="results-empty-message", classes="empty-message")
        yield Static("", id="results-detail", classes="hint")
        yield Static("", id="results-warnings")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        for hidden in ("#results-table", "#results-empty", "#results-detail", "#results-warnings"):
            self.query_one(hidden).display = False
        self._set_summary("Connecting…")
        self.watch(self.app, "service", self._service_changed, init=True)

    def _service_changed(self, service: FilterBetsService | None) -> None:
        if service is not None:
            self.reload()

    def on_screen_resume(self) -> None:
        if self.rows is not None:
            self.reload()

    # Loading ---------------------------------------------------------------------------

    def reload(self) -> None:
        store = _store(self)
        if store is None:
            return
        if self.rows is None:
            self._set_summary("Loading…")
        self._load(store, self.sort_by, self.sort_desc)

    @work(exclusive=True, group=LOAD_GROUP, exit_on_error=False)
    async def _load(
        self, store: ResultStore, sort_by: ResultSort, desc: bool, focus: int | None = None
    ) -> None:
        rows = await store.list_results(sort_by, desc=desc, include_strategy_runs=True)
        self.post_message(ResultsListed(rows, focus))

    @on(ResultsListed)
    def _listed(self, message: ResultsListed) -> None:
        self.show_rows(message.rows)
        table = self.query_one("#results-table", VimDataTable)
        focus = message.focus
        if focus is not None and str(focus) in table.rows:
            table.move_cursor(row=table.get_row_index(str(focus)), animate=False)
            table.focus()

    def show_rows(self, rows: list[ResultSummary]) -> None:
        self.rows = rows
        known = {row.id for row in rows}
        self.marked = [i for i in self.marked if i in known]
        table = self.query_one("#results-table", VimDataTable)
        empty = not rows
        table.display = not empty
        self.query_one("#results-empty").display = empty
        self.query_one("#results-detail").display = not empty
        if empty:
            self._set_summary("No results yet")
        else:
            self._set_summary(f"{len(rows):,} result{'s' if len(rows) != 1 else ''}")
        self._build_table(force=True)
        if not empty and self.focused is None:
            table.focus()
        self._show_status()
        self._show_selected()
        self.refresh_bindings()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        failed = _report_failures(
            self,
            event,
            {
                LOAD_GROUP: "loading the results",
                ACTION_GROUP: "with the result",
            },
        )
        if failed and event.worker.group == LOAD_GROUP and self.rows is None:
            self._set_summary("Could not load the results; press r to retry.")

    # Showing ---------------------------------------------------------------------------

    def _set_summary(self, text: str) -> None:
        self.query_one("#results-summary", Static).update(Text(text))

    def _show_status(self) -> None:
        arrow = "▼" if self.sort_desc else "▲"
        parts = [f"sort: {SORT_LABELS[self.sort_by]} {arrow}"]
        if self.marked:
            parts.insert(0, "marked " + ", ".join(f"#{i}" for i in self.marked))
        self.query_one("#results-sort", Static).update(Text(" · ".join(parts)))

    def _wide(self) -> bool:
        return self.size.width - SCROLLBAR_WIDTH >= WIDE_FROM

    def _columns(self) -> list[tuple[ResultColumn, int]]:
        available = max(0, self.size.width - SCROLLBAR_WIDTH)
        wide = self._wide()
        sorted_key = SORT_COLUMN[self.sort_by]
        chosen = [
            c
            for c in RESULT_COLUMNS
            if wide or not c.wide_only or (c.when_sorted and c.key == sorted_key)
        ]
        chosen = fit_kind_column(chosen, self.rows or [], wide)
        digits = max((len(str(row.id)) for row in self.rows or ()), default=1)
        widths = [
            max(c.width, digits + 1)  # the id, with room for the mark in front
            if c.key == "id"
            else c.width
            if wide
            else c.narrow_width or c.width
            for c in chosen
        ]
        fixed = sum(widths) + CELL_PADDING * len(chosen)
        flexible = max(12, available - fixed)
        return [(c, w or flexible) for c, w in zip(chosen, widths, strict=True)]

    def _build_table(self, *, force: bool = False) -> None:
        if self.rows is None:
            return
        columns = self._columns()
        layout = tuple(f"{c.key}:{w}" for c, w in columns)
        if not force and layout == self._layout:
            return
        self._layout = layout
        wide = self._wide()
        table = self.query_one("#results-table", VimDataTable)
        selected = self.selected_id()
        table.clear(columns=True)
        sorted_key = SORT_COLUMN[self.sort_by]
        for column, width in columns:
            label = Text(column.label, justify="right" if column.numeric else "left")
            if column.key == sorted_key:
                label.stylize("bold underline")
            table.add_column(label, key=column.key, width=width)
        for row in self.rows:
            cells = []
            for column, width in columns:
                cell = column.cell(row, wide)
                if column.key == "id":  # ● in front: marked for comparison
                    mark = "●" if row.id in self.marked else ""
                    cell = Text.assemble((mark, "bold"), str(row.id), justify="right")
                elif column.key == "filter":
                    cell = Text(clip_middle(cell.plain, width))
                elif not column.numeric:
                    cell.truncate(width, overflow="ellipsis")
                cells.append(cell)
            table.add_row(*cells, key=str(row.id))
        if selected is not None and str(selected) in table.rows:
            table.move_cursor(row=table.get_row_index(str(selected)), animate=False)

    @on(DataTable.RowHighlighted, "#results-table")
    def _row_highlighted(self) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        """The selected run in full under the list, and its warnings (why it placed no
        bets, say) in the same reverse video as the result's own page."""
        row = self._selected()
        self.query_one("#results-detail", Static).update(
            Text(describe_run(row)) if row else Text("")
        )
        box = self.query_one("#results-warnings", Static)
        texts = warning_texts({"warnings": list(row.warnings)}) if row else []
        box.update(Text("\n").join(texts))
        box.display = bool(texts)

    def on_resize(self, _event: Resize) -> None:
        self._build_table()

    def selected_id(self) -> int | None:
        table = self.query_one("#results-table", VimDataTable)
        if not self.rows or not table.is_valid_row_index(table.cursor_row):
            return None
        return int(str(table.ordered_rows[table.cursor_row].key.value))

    def show_result(self, result_id: int) -> None:
        """Re-read the list and put the cursor on `result_id`."""
        store = _store(self)
        if store is not None:
            self._load(store, self.sort_by, self.sort_desc, result_id)

    def open_result(self, result_id: int) -> None:
        """Open `result_id`'s detail, with the cursor on it in the list below (escape goes
        back to it)."""
        self.show_result(result_id)
        self.app.push_screen(ResultDetailScreen(result_id))

    def _selected(self) -> ResultSummary | None:
        wanted = self.selected_id()
        return next((row for row in self.rows or () if row.id == wanted), None)

    # Actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open", "next_sort", "reverse_sort", "mark", "export", "copy_summary"):
            return True if self.rows else None
        if action == "delete":
            return True if self.rows else None
        if action == "compare":
            return True if self.rows and len(self.rows) > 1 else None
        return True

    def sort(self, sort_by: ResultSort, *, desc: bool = True) -> None:
        self.sort_by, self.sort_desc = sort_by, desc
        self._show_status()
        self.reload()

    def action_next_sort(self) -> None:
        position = RESULT_SORTS.index(self.sort_by)
        self.sort(RESULT_SORTS[(position + 1) % len(RESULT_SORTS)])

    def action_reverse_sort(self) -> None:
        self.sort(self.sort_by, desc=not self.sort_desc)

    def action_reload(self) -> None:
        self.reload()

    def action_open(self) -> None:
        selected = self.selected_id()
        if selected is not None:
            self.app.push_screen(screen_for(self._selected()) or ResultDetailScreen(selected))

    @on(DataTable.RowSelected, "#results-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_mark(self) -> None:
        selected = self.selected_id()
        if selected is None:
            return
        if selected in self.marked:
            self.marked.remove(selected)
        else:
            self.marked = [*self.marked, selected][-2:]
        self._build_table(force=True)
        self._show_status()

    def action_compare(self) -> None:
        selected = self.selected_id()
        pair: list[int] = list(self.marked)
        if len(pair) < 2 and selected is not None and selected not in pair:
            pair.append(selected)
        if len(pair) < 2:
            self.notify(
                "Mark a result with space, then move to another and press c.",
                title="Compare",
                severity="warning",
            )
            return
        self.app.push_screen(CompareScreen(pair[0], pair[1]))

    def action_export(self) -> None:
        selected = self.selected_id()
        if selected is not None:
            start_export(self, selected)

    def action_copy_summary(self) -> None:
        selected = self.selected_id()
        store = _store(self)
        if selected is not None and store is not None:
            self._copy(store, selected)

    @work(group=ACTION_GROUP, exit_on_error=False)
    async def _copy(self, store: ResultStore, result_id: int) -> None:
        copy_summary(self, await store.summary_text(result_id), result_id)

    def action_delete(self) -> None:
        row = self._selected()
        if row is None:
            return

        def answered(yes: bool | None) -> None:
            store = _store(self)
            if yes and store is not None:
                self._delete(store, row.id)

        self.app.push_screen(
            ConfirmScreen(
                f"Delete result #{row.id} ({row.title}, {row.bets:,} bets) and its ledger?",
                title="Delete result",
                yes="Delete",
            ),
            callback=answered,
        )

    @work(group=ACTION_GROUP, exit_on_error=False)
    async def _delete(self, store: ResultStore, result_id: int) -> None:
        await store.delete(result_id)
        self.post_message(ResultDeleted(result_id))

    @on(ResultDeleted)
    def _deleted(self, message: ResultDeleted) -> None:
        self.marked = [i for i in self.marked if i != message.result_id]
        self.notify(f"Deleted result #{message.result_id}.", title="Results")
        self.reload()


# Shared actions ------------------------------------------------------------------------


def copy_summary(screen: Screen[Any], text: str, result_id: int) -> None:
    screen.app.copy_to_clipboard(text)
    lines = text.count("\n") + 1
    screen.notify(
        f"Summary of result #{result_id} copied ({lines} lines, via the terminal).",
        title="Clipboard",
    )


def start_export(screen: Screen[Any], result_id: int) -> None:
    """Ask for a file, then export in a worker of the screen's ACTION_GROUP."""

    def chosen(request: ExportRequest | None) -> None:
        store = _store(screen)
        if request is not None and store is not None:
            screen.run_worker(
                _export(screen, store, result_id, request),
                group=ACTION_GROUP,
                exit_on_error=False,
                name="export",
            )

    screen.app.push_screen(ExportPrompt(result_id), callback=chosen)


async def _export(
    screen: Screen[Any], store: ResultStore, result_id: int, request: ExportRequest
) -> None:
    written = await store.export(result_id, request.path, request.fmt, overwrite=request.overwrite)
    paths = "\n".join(str(path) for path in written.paths)
    screen.notify(
        f"{written.bets:,} bets and the metrics written to:\n{paths}",
        title=f"Exported result #{result_id}",
        timeout=15,
    )


# The detail ----------------------------------------------------------------------------


def split_label(name: str, key: Any) -> str:
    if name == "month" and isinstance(key, int) and 1 <= key <= 12:
        return MONTHS[key]
    return str(key)


@dataclass(frozen=True)
class LedgerColumn:
    key: LedgerSort | str
    label: str
    width: int
    numeric: bool = False


# The footer shows each group as one item ("mepb Tabs", "[] Page") so that at 80 columns
# there is room left for ? Help and q Quit.
_TABS_GROUP = Binding.Group("Tabs", compact=True)
_PAGES_GROUP = Binding.Group("Page", compact=True)


class ResultDetailScreen(Screen[None]):
    """One result: metrics, equity curve, splits and the bet ledger, one tab each."""

    TITLE = "FilterBets · Result"
    HELP_SCOPE: ClassVar[str] = "Result detail"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="result.back"),
        Binding("m", "show_tab('metrics')", "Metrics", id="result.tab_metrics", group=_TABS_GROUP),
        Binding("e", "show_tab('chart')", "Equity", id="result.tab_chart", group=_TABS_GROUP),
        Binding("p", "show_tab('splits')", "Splits", id="result.tab_splits", group=_TABS_GROUP),
        Binding("b", "show_tab('ledger')", "Bets", id="result.tab_ledger", group=_TABS_GROUP),
        Binding(
            "left_square_bracket",
            "page(-1)",
            "Prev page",
            key_display="[",
            id="result.prev_page",
            group=_PAGES_GROUP,
        ),
        Binding(
            "right_square_bracket",
            "page(1)",
            "Next page",
            key_display="]",
            id="result.next_page",
            group=_PAGES_GROUP,
        ),
        Binding("o", "ledger_sort", "Sort", id="result.ledger_sort"),
        Binding("O", "ledger_reverse", "Reverse bets", show=False, id="result.ledger_reverse"),
        Binding("x", "export", "Export", id="result.export"),
        Binding("y", "copy_summary", "Copy", id="result.copy"),
    ]

    def __init__(self, result_id: int) -> None:
        super().__init__()
        self.result_id = result_id
        self.detail: ResultDetail | None = None
        self.page: LedgerPage | None = None
        self.ledger_sort: LedgerSort = "seq"
        self.ledger_desc = False
        self.ledger_offset = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Loading…", id="result-title", classes="bar")
        with TabbedContent(initial="metrics", id="result-tabs"):
            with TabPane("Metrics", id="metrics"), VerticalScroll(id="result-metrics-scroll"):
                yield MetricsPanel(id="result-metrics")
                yield Static("", id="result-rules", classes="hint")
                overview = EquityChart(id="result-overview-chart")
                overview.display = False
                yield overview
            with TabPane("Equity", id="chart"):
                yield Static("", id="result-chart-legend", classes="hint")
                yield EquityChart(id="result-chart")
            with (
                TabPane("Splits", id="splits"),
                VerticalScroll(id="result-splits"),
                Grid(id="result-split-grid"),
            ):
                for name, title in SPLITS:
                    with Vertical(classes="split"):
                        yield Static(Text(f"By {title.lower()}", style="bold"))
                        yield VimDataTable(
                            id=f"split-{name}",
                            cursor_type="row",
                            zebra_stripes=True,
                            classes="split-table",
                        )
            with TabPane("Bets", id="ledger"):
                yield Static("", id="ledger-status", classes="bar")
                yield VimDataTable(id="ledger-table", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        store = _store(self)
        if store is not None:
            self._load(store)

    @work(exclusive=True, group=LOAD_GROUP, exit_on_error=False)
    async def _load(self, store: ResultStore) -> None:
        detail = await store.get(self.result_id)
        page = await store.ledger_page(self.result_id, 0, LEDGER_PAGE_SIZE)
        self.post_message(ResultLoaded(detail, page))

    @on(ResultLoaded)
    def _loaded(self, message: ResultLoaded) -> None:
        if message.detail.summary.kind == "sweep":  # however it was opened
            from tui.screens.sweep_result import SweepResultScreen

            self.app.switch_screen(SweepResultScreen(self.result_id))
            return
        self.show_detail(message.detail)
        self.show_page(message.page)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        _report_failures(
            self,
            event,
            {
                LOAD_GROUP: "loading the result",
                LEDGER_GROUP: "loading the bets",
                ACTION_GROUP: "with the result",
            },
        )

    # Showing ---------------------------------------------------------------------------

    def show_detail(self, detail: ResultDetail) -> None:
        self.detail = detail
        summary, metrics = detail.summary, detail.metrics
        staking = metrics.get("staking") or {"kind": summary.staking}
        title = Text.assemble(
            (f"#{summary.id} {summary.title}", "bold"),
            f" · {summary.market} @ {summary.odds_source} · {staking_label(staking)} · ",
            (f"{summary.bets:,} bets ", ""),
            (fmt_pct(summary.yield_), _signed_style(summary.yield_)),
            (f" · {_when(summary.created_at, with_time=True)}", "dim"),
        )
        self.query_one("#result-title", Static).update(title)
        panel = self.query_one(MetricsPanel)
        panel.trials = detail.trials
        panel.metrics = metrics
        rules = detail.rules
        self.query_one("#result-rules", Static).update(
            Text.assemble(("Rules as run: ", "bold"), describe_rules(rules))
        )
        data = chart_data(metrics.get("curve") or [], _float(metrics.get("starting_bank")))
        self.query_one("#result-chart", EquityChart).data = data
        overview = self.query_one("#result-overview-chart", EquityChart)
        overview.data = data
        overview.border_title = "Equity (e for the full chart)"
        overview.display = self.size.height >= OVERVIEW_FROM_HEIGHT
        self.query_one("#result-chart-legend", Static).update(chart_legend(data, metrics))
        self._fill_splits(metrics.get("splits") or {})

    def _fill_splits(self, splits: dict[str, Any]) -> None:
        for name, title in SPLITS:
            table = self.query_one(f"#split-{name}", VimDataTable)
            table.clear(columns=True)
            table.add_column(Text(title), key="key")
            table.add_column(Text("Bets", justify="right"), key="bets")
            table.add_column(Text("Profit", justify="right"), key="profit")
            table.add_column(Text("Yield", justify="right"), key="yield")
            for row in splits.get(name) or ():
                yld = row.get("yield")
                table.add_row(
                    Text(clip(split_label(name, row.get("key")), 9)),
                    Text(f"{int(row.get('bets', 0)):,}", justify="right"),
                    Text(
                        fmt_units(row.get("profit")),
                        style=_signed_style(_float(row.get("profit"))),
                        justify="right",
                    ),
                    Text(fmt_pct(yld, 1), style=_signed_style(_float(yld)), justify="right"),
                )
            if not table.row_count:
                table.add_row(Text("no bets", style="dim"), "", "", "")

    def _ledger_columns(self) -> list[LedgerColumn]:
        bank = bool(self.page and any(row.bank_after is not None for row in self.page.rows))
        available = max(0, self.size.width - SCROLLBAR_WIDTH - 2)
        wide = available >= WIDE_FROM
        columns = [
            LedgerColumn("seq", "#", 5, numeric=True),
            LedgerColumn("date", "Date", 10),
            *([LedgerColumn("league", "Lg", 4)] if wide else []),
            LedgerColumn("fixture" if wide else "league_fixture", "Fixture", 0),
            LedgerColumn("odds", "Odds", 5, numeric=True),
            LedgerColumn("stake", "Stake", 6, numeric=True),
            LedgerColumn("outcome", "Result", 6),
            LedgerColumn("profit", "Profit", 7, numeric=True),
        ]
        if bank and wide:
            columns.append(LedgerColumn("bank", "Bank", 9, numeric=True))
        fixed = sum(c.width + CELL_PADDING for c in columns if c.width) + CELL_PADDING
        flexible = max(14, available - fixed)
        return [LedgerColumn(c.key, c.label, c.width or flexible, c.numeric) for c in columns]

    def show_page(self, page: LedgerPage) -> None:
        self.page = page
        self.ledger_offset = page.offset
        table = self.query_one("#ledger-table", VimDataTable)
        table.clear(columns=True)
        columns = self._ledger_columns()
        for column in columns:
            label = Text(column.label, justify="right" if column.numeric else "left")
            if _sort_key_of(column.key) == page.sort_by:
                label.stylize("bold underline")
            table.add_column(label, key=str(column.key), width=column.width)
        for row in page.rows:
            table.add_row(*(ledger_cell(row, c) for c in columns), key=str(row.seq))
        first = page.offset + 1 if page.rows else 0
        arrow = "▼" if page.desc else "▲"
        status = (
            f"bets {first:,}-{page.offset + len(page.rows):,} of {page.total:,}"
            f" · page {page.page}/{page.pages}"
            f" · sort: {LEDGER_SORT_LABELS[page.sort_by]} {arrow}"
        )
        self.query_one("#ledger-status", Static).update(Text(status))
        self.refresh_bindings()

    def on_resize(self, event: Resize) -> None:
        if self.page is not None:
            self.show_page(self.page)
        if self.detail is not None:
            overview = self.query_one("#result-overview-chart")
            overview.display = event.size.height >= OVERVIEW_FROM_HEIGHT

    # Actions ---------------------------------------------------------------------------

    def _on_ledger(self) -> bool:
        tabs = next(self.query(TabbedContent).results(TabbedContent), None)
        return tabs is not None and tabs.active == "ledger"  # none while the app closes

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "page":
            page = self.page
            if page is None or not self._on_ledger():
                return False
            step = cast(int, parameters[0])
            if step > 0:
                return True if page.offset + page.limit < page.total else None
            return True if page.offset > 0 else None
        if action in ("ledger_sort", "ledger_reverse"):
            return self._on_ledger()
        return True

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        pane = self.query_one(f"#{tab}", TabPane)
        focus = next(iter(pane.query(VimDataTable)), None)
        if focus is not None:
            focus.focus()
        else:
            self.query_one(TabbedContent).query_one("Tabs").focus()

    def action_close(self) -> None:
        self.dismiss()

    def load_page(self, offset: int, sort_by: LedgerSort, desc: bool) -> None:
        store = _store(self)
        if store is not None:
            self._load_page(store, offset, sort_by, desc)

    @work(exclusive=True, group=LEDGER_GROUP, exit_on_error=False)
    async def _load_page(
        self, store: ResultStore, offset: int, sort_by: LedgerSort, desc: bool
    ) -> None:
        page = await store.ledger_page(self.result_id, offset, LEDGER_PAGE_SIZE, sort_by, desc)
        self.post_message(LedgerPageLoaded(page))

    @on(LedgerPageLoaded)
    def _page_loaded(self, message: LedgerPageLoaded) -> None:
        self.show_page(message.page)

    def action_page(self, step: int) -> None:
        page = self.page
        if page is None:
            return
        offset = max(0, page.offset + step * page.limit)
        if offset >= page.total:
            return
        self.load_page(offset, page.sort_by, page.desc)

    def sort_ledger(self, sort_by: LedgerSort, desc: bool) -> None:
        self.ledger_sort, self.ledger_desc = sort_by, desc
        self.load_page(0, sort_by, desc)

    def action_ledger_sort(self) -> None:
        position = LEDGER_SORTS.index(self.ledger_sort)
        self.sort_ledger(LEDGER_SORTS[(position + 1) % len(LEDGER_SORTS)], False)

    def action_ledger_reverse(self) -> None:
        self.sort_ledger(self.ledger_sort, not self.ledger_desc)

    @on(DataTable.HeaderSelected, "#ledger-table")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = _sort_key_of(str(event.column_key.value))
        for known in LEDGER_SORTS:
            if known == key:
                same = known == self.ledger_sort
                self.sort_ledger(known, same and not self.ledger_desc)

    def action_export(self) -> None:
        start_export(self, self.result_id)

    def action_copy_summary(self) -> None:
        store = _store(self)
        if store is not None:
            self._copy(store)

    @work(group=ACTION_GROUP, exit_on_error=False)
    async def _copy(self, store: ResultStore) -> None:
        copy_summary(self, await store.summary_text(self.result_id), self.result_id)


def _sort_key_of(column_key: str) -> str:
    return "fixture" if column_key == "league_fixture" else column_key


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def ledger_cell(row: LedgerRow, column: LedgerColumn) -> Text:
    key = column.key
    if key == "seq":
        return Text(f"{row.seq:,}", justify="right", style="dim")
    if key == "date":
        return Text(row.kickoff_date.isoformat())
    if key == "league":
        return Text(row.league)
    if key == "fixture":
        return Text(clip(row.fixture, column.width))
    if key == "league_fixture":
        text = Text.assemble((row.league, "dim"), " ", row.fixture)
        text.truncate(column.width, overflow="ellipsis")
        return text
    if key == "odds":
        return Text(f"{row.odds:.2f}", justify="right")
    if key == "stake":
        return Text(f"{row.stake:,.2f}", justify="right")
    if key == "outcome":
        style = GOOD if "win" in row.outcome else BAD if "loss" in row.outcome else "dim"
        return Text(OUTCOME_TEXT.get(row.outcome, row.outcome), style=style)
    if key == "profit":
        profit = float(row.profit)
        return Text(fmt_units(profit), justify="right", style=_signed_style(profit))
    bank = row.bank_after
    return Text("-" if bank is None else f"{bank:,.2f}", justify="right")


def chart_legend(data: ChartData, metrics: dict[str, Any]) -> Text:
    axis = "bank" if data.unit == "bank" else "units won"
    drawdown = fmt_units(metrics.get("max_drawdown"), sign=False)
    under = int(metrics.get("drawdown_duration_bets") or 0)
    return Text.assemble(
        ("⣿ ", "bold"),
        f"{axis} by bet  ",
        ("░", BAD),
        f" drawdown from peak: max {drawdown}, {under:,} bets under water",
    )


def describe_rules(rules: Any) -> str:
    """Rules as one readable line (the Filters screen uses the same summary)."""
    return summarize_rules(rules)


# Compare -------------------------------------------------------------------------------


class CompareScreen(Screen[None]):
    """Two results side by side: every headline metric, the better one marked, and both curves."""

    TITLE = "FilterBets · Compare"
    HELP_SCOPE: ClassVar[str] = "Compare"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="compare.back"),
        Binding("w", "swap", "Swap sides", id="compare.swap"),
    ]

    def __init__(self, left: int, right: int) -> None:
        super().__init__()
        self.ids = (left, right)
        self.details: tuple[ResultDetail, ResultDetail] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Loading…", id="compare-title", classes="bar")
        with VerticalScroll(id="compare-body"):
            yield Static("", id="compare-warnings")
            yield VimDataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="compare-charts"):
                yield EquityChart(id="compare-chart-a")
                yield EquityChart(id="compare-chart-b")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        store = _store(self)
        if store is not None:
            self._load(store)

    @work(exclusive=True, group=LOAD_GROUP, exit_on_error=False)
    async def _load(self, store: ResultStore) -> None:
        left = await store.get(self.ids[0])
        right = await store.get(self.ids[1])
        self.post_message(ComparisonLoaded(left, right))

    @on(ComparisonLoaded)
    def _compared(self, message: ComparisonLoaded) -> None:
        self.show(message.left, message.right)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        _report_failures(self, event, {LOAD_GROUP: "loading the results to compare"})

    def show(self, left: ResultDetail, right: ResultDetail) -> None:
        self.details = (left, right)
        a, b = left.summary, right.summary
        self.query_one("#compare-title", Static).update(
            Text.assemble(
                ("A ", "bold reverse"),
                f" #{a.id} {a.title}   ",
                ("B ", "bold reverse"),
                f" #{b.id} {b.title}",
            )
        )
        warnings: list[Text] = []
        for side, detail in (("A", left), ("B", right)):
            for text in warning_texts(detail.metrics):
                warnings.append(Text.assemble((f"{side}: ", "bold"), text))
        box = self.query_one("#compare-warnings", Static)
        box.update(Text("\n").join(warnings))
        box.display = bool(warnings)
        self._fill_table(left, right)
        for chart_id, detail in (("#compare-chart-a", left), ("#compare-chart-b", right)):
            metrics = detail.metrics
            chart = self.query_one(chart_id, EquityChart)
            chart.data = chart_data(
                metrics.get("curve") or [], _float(metrics.get("starting_bank"))
            )
            chart.border_title = f"#{detail.summary.id} {detail.summary.title}"
        self.query_one("#compare-table").focus()

    def _fill_table(self, left: ResultDetail, right: ResultDetail) -> None:
        table = self.query_one("#compare-table", VimDataTable)
        table.clear(columns=True)
        width = max(14, (self.size.width - 20 - 8) // 2)
        table.add_column(Text("Metric"), key="metric", width=14)
        table.add_column(Text(f"A #{left.summary.id}", justify="right"), key="a", width=width)
        table.add_column(Text(f"B #{right.summary.id}", justify="right"), key="b", width=width)
        context = [
            ("Filter", left.summary.title, right.summary.title),
            ("Market", left.summary.market, right.summary.market),
            ("Odds", left.summary.odds_source, right.summary.odds_source),
            (
                "Staking",
                staking_label(left.metrics.get("staking") or {}),
                staking_label(right.metrics.get("staking") or {}),
            ),
        ]
        for label, x, y in context:
            table.add_row(
                Text(label, style="dim"),
                Text(clip(x, width), justify="right"),
                Text(clip(y, width), justify="right"),
                key=f"ctx-{label}",
            )
        for a_line, b_line in compare_lines(left.metrics, right.metrics):
            better = better_side(a_line, b_line)
            table.add_row(
                Text(a_line.label, style="dim"),
                Text(
                    a_line.text + (" ◀" if better == "a" else "  "),
                    justify="right",
                    style="bold" if better == "a" else "",
                ),
                Text(
                    b_line.text + (" ◀" if better == "b" else "  "),
                    justify="right",
                    style="bold" if better == "b" else "",
                ),
                key=a_line.key,
            )

    def on_resize(self, event: Resize) -> None:
        self.query_one("#compare-charts").display = event.size.height >= 34
        if self.details is not None:
            self._fill_table(*self.details)

    def action_swap(self) -> None:
        if self.details is not None:
            self.ids = (self.ids[1], self.ids[0])
            self.show(self.details[1], self.details[0])

    def action_close(self) -> None:
        self.dismiss()


def compare_lines(
    left: dict[str, Any], right: dict[str, Any]
) -> list[tuple[MetricLine, MetricLine]]:
    """The two results' metric lines paired by key, in the left one's order."""
    rights = {line.key: line for line in metric_lines(right)}
    pairs = []
    for line in metric_lines(left):
        other = rights.get(line.key)
        if other is not None:
            pairs.append((line, other))
    return pairs


def better_side(a: MetricLine, b: MetricLine) -> str | None:
    """ "a", "b" or None (not comparable, or equal)."""
    if a.value is None or b.value is None or a.value == b.value:
        return None
    a_wins = a.value > b.value if a.higher_is_better else a.value < b.value
    return "a" if a_wins else "b"


__all__ = [
    "CompareScreen",
    "ResultDetailScreen",
    "ResultsScreen",
    "better_side",
    "compare_lines",
    "split_label",
]
