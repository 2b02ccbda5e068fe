"""The Filters screen: saved filters with a one-line summary of their rules and their last
result; search, create and edit (in the rule editor), duplicate, delete, and run.

`r` starts a backtest through `launch_backtest`: it queues a job when the app runs a
`core.jobs` runner (`app.job_runner`), else it runs the backtest in an app-level worker.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Horizontal, Middle
from textual.events import Resize
from textual.message import Message
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import Worker, WorkerState

from core.backtest.engine import BacktestEngine
from core.backtest.request import BacktestRequest
from core.filters import FilterInfo, FilterStore
from core.results import ResultStore
from core.services import FilterBetsService
from tui.keymap import key_for
from tui.screens.rule_editor import EditorResult, RuleEditorScreen, RunSettings
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.metrics_panel import fmt_pct
from tui.widgets.rule_text import summarize_rules
from tui.widgets.styles import BAD, GOOD
from tui.widgets.sweep_params import template_params
from tui.widgets.text import clip, clip_middle
from tui.widgets.vim_table import VimDataTable

if TYPE_CHECKING:
    from tui.app import FilterBetsApp

LOAD_GROUP = "filters-load"
ACTION_GROUP = "filters-action"
RUN_GROUP = "backtest-run"
SCROLLBAR_WIDTH = 1
CELL_PADDING = 2
WIDE_FROM = 100

EMPTY_MESSAGE = """\
[b]No saved filters yet.[/b]

Press [b]{new}[/b] to write one in the rule editor: pick fields,
operators and values, and watch the live preview count
the matching fixtures as you type."""


def updated_text(moment: dt.datetime, now: dt.datetime | None = None) -> str:
    """ "just now", "5 min ago", "3 h ago", "yesterday", else the date."""
    now = now or dt.datetime.now(dt.UTC)
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 2 * 86400:
        return "yesterday"
    return moment.astimezone().strftime("%Y-%m-%d")


def matches(info: FilterInfo, query: str) -> bool:
    """Case-insensitive: every word of the query is in the name, description or rules."""
    haystack = " ".join((info.name, info.description, summarize_rules(info.rules))).lower()
    return all(word in haystack for word in query.lower().split())


# Starting backtests --------------------------------------------------------------------


class JobSubmitter(Protocol):
    """What `launch_backtest` needs from a core.jobs runner (JobRunner has it)."""

    async def submit(self, user_id: int, request: BacktestRequest) -> Any: ...


class BacktestFinished(Message):
    """Posted to the screen that started a backtest (if still there) once its result is stored."""

    def __init__(self, result_id: int, label: str, metrics: dict[str, Any]) -> None:
        super().__init__()
        self.result_id = result_id
        self.label = label
        self.metrics = metrics


def launch_backtest(
    app: App[Any],
    service: FilterBetsService,
    request: BacktestRequest,
    label: str,
    reply_to: MessagePump | None = None,
) -> None:
    """Start a backtest and say so in a toast; the caller's screen stays as it is.

    With a job runner on the app (`app.job_runner`, a core.jobs JobRunner) the request is
    queued and the Jobs screen follows it; without one it runs here, in an app worker.
    """
    runner = cast("JobSubmitter | None", getattr(app, "job_runner", None))
    if runner is not None:
        app.run_worker(
            _queue(app, runner, service, request, label),
            group=RUN_GROUP,
            exit_on_error=False,
            name=f"queue {label}",
        )
        return
    app.run_worker(
        _run_now(app, service, request, label, reply_to),
        group=RUN_GROUP,
        exit_on_error=False,
        name=f"backtest {label}",
    )
    app.notify(f"Backtest of {label} started.", title="Backtest")


def run_filter(
    app: App[Any],
    service: FilterBetsService,
    info: FilterInfo,
    settings: RunSettings,
    reply_to: MessagePump | None = None,
) -> None:
    """Backtest a saved filter with its run settings (`r` on the Filters screen)."""
    params = template_params(info.rules)
    if params:  # a backtest needs values: a template is swept from the editor
        names = ", ".join(f"${name}" for name in params)
        app.notify(
            f"{info.name!r} is a sweep template ({names}): e opens it, w there sweeps it.",
            title="Run",
            severity="warning",
        )
        return
    request = settings.request(filter_ref=str(info.id))
    label = f"{info.name!r} ({settings.describe()})"
    launch_backtest(app, service, request, label, reply_to=reply_to)


async def _queue(
    app: App[Any],
    runner: JobSubmitter,
    service: FilterBetsService,
    request: BacktestRequest,
    label: str,
) -> None:
    fb = cast("FilterBetsApp", app)
    try:
        info = await runner.submit(service.user_id, request)
    except Exception as error:
        fb.report_error(error, doing=f"queueing {label}")
        return
    short = getattr(info, "short_id", "")
    app.notify(f"Backtest of {label} queued{f' as job {short}' if short else ''}.", title="Jobs")


async def _run_now(
    app: App[Any],
    service: FilterBetsService,
    request: BacktestRequest,
    label: str,
    reply_to: MessagePump | None,
) -> None:
    fb = cast("FilterBetsApp", app)
    fb.running_jobs += 1
    try:
        run = await BacktestEngine(service.db, service.user_id).run(request)
    except Exception as error:
        fb.report_error(error, doing=f"running {label}")
        return
    finally:
        fb.running_jobs -= 1
    metrics = run.metrics
    warnings = "".join(f"\n⚠ {warning}" for warning in metrics.get("warnings") or ())
    app.notify(
        f"{label}: {int(metrics.get('bets') or 0):,} bets, yield {fmt_pct(metrics.get('yield'))}."
        f" Result #{run.result_id} is on the Results screen (3).{warnings}",
        title="Backtest done",
        severity="warning" if warnings else "information",
        timeout=15 if warnings else 10,
    )
    if reply_to is not None and reply_to.is_attached:
        reply_to.post_message(BacktestFinished(run.result_id, label, metrics))


# The screen ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FiltersLoaded:
    filters: list[FilterInfo]
    settings: dict[int, RunSettings]


async def load_filters(service: FilterBetsService) -> FiltersLoaded:
    """The user's filters, newest first, and how `r` runs each: its saved settings, else
    its last run's, else the defaults."""
    filters = await FilterStore(service.db, service.user_id).list()
    last_requests: dict[int, dict[str, Any]] = {}
    if any(info.backtest_settings is None for info in filters):
        results = await ResultStore(service.db, service.user_id).list_results("date")
        for result in results:  # newest first: the first one seen per filter wins
            if result.filter_id is not None:
                last_requests.setdefault(result.filter_id, result.request)
    settings = {
        info.id: RunSettings.for_filter(info, last_requests.get(info.id)) for info in filters
    }
    return FiltersLoaded(filters, settings)


class FiltersReady(Message):
    def __init__(self, loaded: FiltersLoaded) -> None:
        super().__init__()
        self.loaded = loaded


class FilterDuplicated(Message):
    def __init__(self, source: FilterInfo, copy: FilterInfo) -> None:
        super().__init__()
        self.source = source
        self.copy = copy


class FilterDeleted(Message):
    def __init__(self, info: FilterInfo) -> None:
        super().__init__()
        self.info = info


class FiltersScreen(Screen[None]):
    """Saved filters. n new, e edit, c duplicate, d delete, r run, / search."""

    TITLE = "FilterBets · Filters"
    HELP_SCOPE: ClassVar[str] = "Filters screen"
    AUTO_FOCUS = ""
    """The table takes focus once loaded (the first focusable widget is the hidden search)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "New", id="filters.new"),
        Binding("e", "edit", "Edit", id="filters.edit"),
        Binding("r", "run", "Run", id="filters.run"),
        Binding("slash", "search", "Search", key_display="/", id="filters.search"),
        Binding("c", "duplicate", "Duplicate", id="filters.duplicate"),
        Binding("d", "delete", "Delete", id="filters.delete"),
        Binding("escape", "clear_search", "Clear search", show=False, id="filters.clear"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filters: list[FilterInfo] | None = None
        self.run_settings: dict[int, RunSettings] = {}
        """Per filter: how `r` runs it (its saved settings, else its last run's, else the
        defaults); read with the list."""
        self.query_text = ""
        self._layout: tuple[int, ...] = ()
        self._select_after_load: int | None = None

    @property
    def filterbets(self) -> FilterBetsApp:
        return cast("FilterBetsApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        # Hidden until there is something to show (the search box until / is pressed).
        search = Input(placeholder="search names and rules; esc clears", id="filters-search")
        search.display = False
        yield search
        with Horizontal(id="filters-bar", classes="bar"):
            yield Static("", id="filters-summary", classes="bar-summary")
            yield Static("", id="filters-status", classes="bar-status")
        table = VimDataTable(id="filters-table", cursor_type="row", zebra_stripes=True)
        table.display = False
        yield table
        with Middle(id="filters-empty") as empty, Center():
            empty.display = False
            yield Static("", id="filters-empty-message", classes="empty-message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._set_summary("Connecting…")
        self.watch(self.app, "service", self._service_changed, init=True)
        # A job ending here may be a new last result for a filter in the list.
        self.watch(self.app, "running_jobs", self._jobs_changed, init=False)
        self.watch(self.app, "jobs_done", self._jobs_changed, init=False)

    def _service_changed(self, service: FilterBetsService | None) -> None:
        if service is not None:
            self.reload()

    def _jobs_changed(self, _count: int) -> None:
        if self.filters is not None and self.is_current:
            self.reload()

    def on_screen_resume(self) -> None:
        if self.filters is not None:
            self.reload()
            if not self.filters:
                # "No filters yet" may no longer be true (one saved from the CLI, say):
                # say nothing until the list arrives.
                self._show_loading()

    def _show_loading(self) -> None:
        self.query_one("#filters-empty").display = False
        self._set_summary("Loading…")

    # Loading ---------------------------------------------------------------------------

    def reload(self, *, select: int | None = None) -> None:
        service = self.filterbets.service
        if service is None:
            return
        if self.filters is None:
            self._set_summary("Loading…")
        if select is not None:
            # Kept until a load lands: a newer reload (exclusive) may replace this one.
            self._select_after_load = select
        self._load(service)

    @work(exclusive=True, group=LOAD_GROUP, exit_on_error=False)
    async def _load(self, service: FilterBetsService) -> None:
        self.post_message(FiltersReady(await load_filters(service)))

    @on(FiltersReady)
    def _loaded(self, message: FiltersReady) -> None:
        loaded = message.loaded
        self.filters = loaded.filters
        self.run_settings = dict(loaded.settings)
        select, self._select_after_load = self._select_after_load, None
        self._show(select=select)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        error = event.worker.error
        if event.state is not WorkerState.ERROR or error is None:
            return
        if event.worker.group == LOAD_GROUP:
            if self.filters is None:
                self._set_summary("Could not load the filters; switch screens to retry.")
            self.filterbets.report_error(error, doing="loading the filters")
        elif event.worker.group == ACTION_GROUP:
            self.filterbets.report_error(error, doing=event.worker.name or "")

    # Showing ---------------------------------------------------------------------------

    def _set_summary(self, text: str) -> None:
        self.query_one("#filters-summary", Static).update(Text(text))

    def shown_filters(self) -> list[FilterInfo]:
        return [f for f in self.filters or () if matches(f, self.query_text)]

    def _show(self, *, select: int | None = None) -> None:
        filters = self.filters or []
        table = self.query_one("#filters-table", VimDataTable)
        empty = not filters
        table.display = not empty
        self.query_one("#filters-empty").display = empty
        shown = self.shown_filters()
        if empty:
            self._set_summary("No filters yet")
            new = escape(key_for(self, "filters.new", "n"))
            self.query_one("#filters-empty-message", Static).update(EMPTY_MESSAGE.format(new=new))
        elif self.query_text:
            self._set_summary(f"{len(shown):,} of {len(filters):,} filters match")
        else:
            self._set_summary(f"{len(filters):,} filter{'s' if len(filters) != 1 else ''}")
        status = self.query_one("#filters-status", Static)
        status.update(Text(f"search: {self.query_text}" if self.query_text else ""))
        self._build_table(select=select, force=True)
        if not empty and (self.focused is None or self.focused is self.screen):
            table.focus()
        self.refresh_bindings()

    def _widths(self) -> tuple[int, ...]:
        available = max(0, self.size.width - SCROLLBAR_WIDTH)
        wide = available >= WIDE_FROM
        name = 26 if wide else 18
        fixed = (8, 6, 10)  # yield, bets, updated
        rules = available - name - sum(fixed) - CELL_PADDING * 5
        return (name, max(12, rules), *fixed)

    def _build_table(self, *, select: int | None = None, force: bool = False) -> None:
        if self.filters is None:
            return
        widths = self._widths()
        if not force and widths == self._layout:
            return
        self._layout = widths
        table = self.query_one("#filters-table", VimDataTable)
        selected = select if select is not None else self.selected_id()
        table.clear(columns=True)
        name_w, rules_w, yield_w, bets_w, when_w = widths
        table.add_column(Text("Name"), key="name", width=name_w)
        table.add_column(Text("Rules"), key="rules", width=rules_w)
        table.add_column(Text("Yield", justify="right"), key="yield", width=yield_w)
        table.add_column(Text("Bets", justify="right"), key="bets", width=bets_w)
        table.add_column(Text("Updated"), key="updated", width=when_w)
        now = dt.datetime.now(dt.UTC)
        for info in self.shown_filters():
            yld = info.last_yield
            table.add_row(
                Text(clip_middle(info.name, name_w), style="bold"),
                Text(clip(summarize_rules(info.rules), rules_w)),
                Text(
                    fmt_pct(yld) if info.last_result_id else "-",
                    justify="right",
                    style="dim" if yld is None else GOOD if yld > 0 else BAD if yld < 0 else "",
                ),
                Text(
                    f"{info.last_bets:,}" if info.last_bets is not None else "-",
                    justify="right",
                    style="" if info.last_bets is not None else "dim",
                ),
                Text(updated_text(info.updated_at, now), style="dim"),
                key=str(info.id),
            )
        if selected is not None and str(selected) in table.rows:
            table.move_cursor(row=table.get_row_index(str(selected)), animate=False)

    def on_resize(self, _event: Resize) -> None:
        self._build_table()

    def selected_id(self) -> int | None:
        table = self.query_one("#filters-table", VimDataTable)
        if not self.filters or not table.row_count:
            return None
        if not table.is_valid_row_index(table.cursor_row):
            return None
        return int(str(table.ordered_rows[table.cursor_row].key.value))

    def selected(self) -> FilterInfo | None:
        wanted = self.selected_id()
        return next((f for f in self.filters or () if f.id == wanted), None)

    # Search ----------------------------------------------------------------------------

    def action_search(self) -> None:
        search = self.query_one("#filters-search", Input)
        search.display = True
        search.focus()

    @on(Input.Changed, "#filters-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value.strip()
        self._show()

    @on(Input.Submitted, "#filters-search")
    def _search_done(self) -> None:
        if not self.query_text:
            self.query_one("#filters-search").display = False
        self.query_one("#filters-table").focus()

    def action_clear_search(self) -> None:
        search = self.query_one("#filters-search", Input)
        if not search.display and not self.query_text:
            return
        search.value = ""
        search.display = False
        self.query_text = ""
        self._show()
        self.query_one("#filters-table").focus()

    # Actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("edit", "run", "duplicate", "delete"):
            return True if self.shown_filters() else None
        if action in ("new", "search"):
            return True if self.filterbets.service is not None else None
        return True

    def _open_editor(self, info: FilterInfo | None) -> None:
        service = self.filterbets.service
        if service is None:
            return
        settings = self.run_settings.get(info.id) if info else None
        self.app.push_screen(RuleEditorScreen(service, info, settings), callback=self._edited)

    def _edited(self, result: EditorResult | None) -> None:
        if result is not None and result.saved is not None:
            saved = result.saved
            self.run_settings[saved.id] = result.settings  # until the reload lands
            if self.filters is not None:
                # Listed at once, first (the list is newest first): the reload that brings
                # its last result may take a while, and the old list may say "No filters".
                self.filters = [saved, *(f for f in self.filters if f.id != saved.id)]
                self._show(select=saved.id)
            self.reload(select=saved.id)

    def edit_filter(self, info: FilterInfo | None) -> None:
        """Open `info` (None: a new filter) in the rule editor."""
        self._open_editor(info)

    def action_new(self) -> None:
        self._open_editor(None)

    def action_edit(self) -> None:
        info = self.selected()
        if info is not None:
            self._open_editor(info)

    @on(DataTable.RowSelected, "#filters-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_edit()

    def action_run(self) -> None:
        info = self.selected()
        service = self.filterbets.service
        if info is None or service is None:
            return
        settings = self.run_settings.get(info.id) or RunSettings.for_filter(info)
        run_filter(self.app, service, info, settings, reply_to=self)

    @on(BacktestFinished)
    def _backtest_finished(self) -> None:
        self.reload()  # the filter's last yield and bets

    def action_duplicate(self) -> None:
        info = self.selected()
        service = self.filterbets.service
        if info is not None and service is not None:
            self._duplicate(service, info, self.run_settings.get(info.id))

    @work(group=ACTION_GROUP, exit_on_error=False, name="duplicating the filter")
    async def _duplicate(
        self, service: FilterBetsService, info: FilterInfo, settings: RunSettings | None
    ) -> None:
        store = FilterStore(service.db, service.user_id)
        copy = await store.duplicate(info.id)
        if copy.backtest_settings is None and settings is not None:
            # The source runs as its last run did: so does the copy, from now on saved.
            copy = await store.update(copy.id, backtest_settings=settings.to_saved())
        self.post_message(FilterDuplicated(info, copy))

    @on(FilterDuplicated)
    def _duplicated(self, message: FilterDuplicated) -> None:
        source, copy = message.source, message.copy
        self.notify(f"Duplicated {source.name!r} as {copy.name!r}.", title="Filters")
        self.reload(select=copy.id)

    def action_delete(self) -> None:
        info = self.selected()
        service = self.filterbets.service
        if info is None or service is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(service, info)

        self.app.push_screen(
            ConfirmScreen(
                f"Delete the filter {info.name!r}? Its results stay on the Results screen.",
                title="Delete filter",
                yes="Delete",
            ),
            callback=answered,
        )

    @work(group=ACTION_GROUP, exit_on_error=False, name="deleting the filter")
    async def _delete(self, service: FilterBetsService, info: FilterInfo) -> None:
        await FilterStore(service.db, service.user_id).delete(info.id)
        self.post_message(FilterDeleted(info))

    @on(FilterDeleted)
    def _deleted(self, message: FilterDeleted) -> None:
        self.run_settings.pop(message.info.id, None)
        self.notify(f"Deleted filter {message.info.name!r}.", title="Filters")
        self.reload()
